/* envinfo.c: prints what a program sees of its environment and identity (env, users, hosts, /etc) and drops root like a daemon. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define PORT 7000

extern char **environ;

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	default: return strerror(e);
	}
}

static const char *result(int r)
{
	return err_name(r == 0 ? 0 : errno);
}

static void print_ids(FILE *out, const char *label)
{
	uid_t r, e, s;
	gid_t gr, ge, gs, groups[16];
	getresuid(&r, &e, &s);
	getresgid(&gr, &ge, &gs);
	int n = getgroups(16, groups);
	fprintf(out, "%s: uid=%u euid=%u suid=%u gid=%u egid=%u sgid=%u groups=", label, r, e, s, gr,
	        ge, gs);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%u", i ? "," : "", groups[i]);
	fprintf(out, " getuid=%u geteuid=%u getgid=%u getegid=%u\n", getuid(), geteuid(), getgid(),
	        getegid());
}

static void print_file(FILE *out, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(out, "file %s: %s\n", path, err_name(errno));
		return;
	}
	struct stat st;
	fstat(fileno(f), &st);
	fprintf(out, "file %s: %s %04o %lld bytes\n", path, S_ISREG(st.st_mode) ? "regular" : "other",
	        (unsigned)(st.st_mode & 07777), (long long)st.st_size);
	char line[512];
	while (fgets(line, sizeof line, f))
		fprintf(out, "| %s", line);
	fclose(f);
}

static void print_users(FILE *out)
{
	const char *users[] = { "root", "nobody", "nosuchuser" };
	for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
		struct passwd *pw = getpwnam(users[i]);
		if (pw)
			fprintf(out, "getpwnam %s: %s:%u:%u:%s:%s\n", users[i], pw->pw_name, pw->pw_uid,
			        pw->pw_gid, pw->pw_dir, pw->pw_shell);
		else
			fprintf(out, "getpwnam %s: none\n", users[i]);
	}
	struct passwd *pw = getpwuid(65534);
	fprintf(out, "getpwuid 65534: %s\n", pw ? pw->pw_name : "none");
	const char *groups[] = { "root", "nogroup", "nobody" };
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		struct group *gr = getgrnam(groups[i]);
		if (gr)
			fprintf(out, "getgrnam %s: %s:%u\n", groups[i], gr->gr_name, gr->gr_gid);
		else
			fprintf(out, "getgrnam %s: none\n", groups[i]);
	}
	struct group *gr = getgrgid(0);
	fprintf(out, "getgrgid 0: %s\n", gr ? gr->gr_name : "none");
}

static void print_lookup(FILE *out, const char *name, int family)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM }, *res, *p;
	int r = getaddrinfo(name, NULL, &hints, &res);
	fprintf(out, "getaddrinfo %s %s:", name, family == AF_INET ? "AF_INET" : "AF_UNSPEC");
	if (r) {
		fprintf(out, " %s\n", gai_strerror(r));
		return;
	}
	for (p = res; p; p = p->ai_next) {
		char a[INET6_ADDRSTRLEN];
		const void *where = p->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
		fprintf(out, " %s", inet_ntop(p->ai_family, where, a, sizeof a));
	}
	fprintf(out, "\n");
	freeaddrinfo(res);
}

static void print_hosts(FILE *out)
{
	char host[256] = "";
	struct utsname u;
	gethostname(host, sizeof host);
	uname(&u);
	fprintf(out, "gethostname: %s\nuname nodename: %s\n", host, u.nodename);
	fprintf(out, "sethostname: %s\n", result(sethostname("other", 5)));
	print_lookup(out, "localhost", AF_INET);
	print_lookup(out, "localhost", AF_UNSPEC);
	struct hostent *h = gethostbyname(host);
	if (h && h->h_addrtype == AF_INET && h->h_addr_list[0]) {
		char a[INET_ADDRSTRLEN];
		fprintf(out, "gethostbyname %s: %s %s\n", host, h->h_name,
		        inet_ntop(AF_INET, h->h_addr_list[0], a, sizeof a));
	} else {
		fprintf(out, "gethostbyname %s: none\n", host);
	}
}

static void print_etc(FILE *out)
{
	DIR *d = opendir("/etc");
	fprintf(out, "ls /etc:");
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			fprintf(out, " %s", e->d_name);
	fprintf(out, "\n");
	if (d)
		closedir(d);
	struct stat st;
	fprintf(out, "stat /etc: %s\n", stat("/etc", &st) == 0 && S_ISDIR(st.st_mode) ? "directory"
	                                                                               : "missing");
	const char *files[] = { "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname",
	                        "/etc/resolv.conf" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		print_file(out, files[i]);
	int fd = open("/etc/passwd", O_WRONLY);
	fprintf(out, "open /etc/passwd for writing: %s\n", fd < 0 ? err_name(errno) : "ok");
	if (fd >= 0)
		close(fd);
}

static void report(FILE *out)
{
	for (char **e = environ; *e; e++)
		fprintf(out, "env %s\n", *e);
	print_ids(out, "ids");
	print_users(out);
	print_hosts(out);
	print_etc(out);
}

/* A root process dropping privileges step by step, each result printed. */
static int identity_steps(void)
{
	gid_t two[2] = { 65534, 0 }, got[4];
	print_ids(stdout, "start");
	printf("setgroups(65534,0): %s\n", result(setgroups(2, two)));
	int n = getgroups(4, got);
	printf("getgroups: %d %u %u\n", n, got[0], got[1]);
	printf("seteuid(65534): %s\n", result(seteuid(65534)));
	print_ids(stdout, "now");
	printf("setgroups(none) as euid 65534: %s\n", result(setgroups(0, NULL)));
	printf("seteuid(0) back through the saved uid: %s\n", result(seteuid(0)));
	printf("setresgid(65534,65534,65534): %s\n", result(setresgid(65534, 65534, 65534)));
	printf("setgroups(none): %s\n", result(setgroups(0, NULL)));
	printf("setuid(65534): %s\n", result(setuid(65534)));
	print_ids(stdout, "now");
	printf("setuid(0): %s\n", result(setuid(0)));
	printf("seteuid(0): %s\n", result(seteuid(0)));
	printf("setresuid(-1,-1,0): %s\n", result(setresuid(-1, -1, 0)));
	printf("setgid(0): %s\n", result(setgid(0)));
	printf("setuid(65534) again: %s\n", result(setuid(65534)));
	print_ids(stdout, "end");
	return 0;
}

/* The pattern of a daemon that will not run as root: needs -u USER, looks it up, drops to it. */
static int serve(const char *user)
{
	if (getuid() == 0 && !user) {
		fprintf(stderr, "envinfo: can't run as root without the -u switch\n");
		return 1;
	}
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			fprintf(stderr, "envinfo: unknown user - '%s'\n", user);
			return 1;
		}
		if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
			perror("envinfo: dropping privileges");
			return 1;
		}
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "envinfo: could become root again\n");
		return 1;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 8)) {
		perror("envinfo: listen");
		return 1;
	}
	printf("envinfo: listening on %d as uid %u\n", PORT, getuid());
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		FILE *out = fdopen(c, "w");
		if (!out) {
			close(c);
			continue;
		}
		report(out);
		fprintf(out, "setuid(0): %s\n", result(setuid(0)));
		fclose(out);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "report";
	if (!strcmp(mode, "report")) {
		report(stdout);
		return 0;
	}
	if (!strcmp(mode, "ids"))
		return identity_steps();
	if (!strcmp(mode, "lookup") && argc > 2) {
		print_lookup(stdout, argv[2], AF_INET);
		return 0;
	}
	if (!strcmp(mode, "serve"))
		return serve(argc > 3 && !strcmp(argv[2], "-u") ? argv[3] : NULL);
	fprintf(stderr, "usage: envinfo [report | ids | lookup NAME | serve [-u USER]]\n");
	return 2;
}
