/* tmpshare.c: one /tmp for every process: files written, renamed, unlinked, truncated and made by one process seen by the others, an inherited or passed (SCM_RIGHTS) descriptor's shared offset, O_APPEND from two processes, mkfifo and mkdir after a fork, an unlinked file freed when its last holder is killed, four processes at once; the output equals the same program's on Linux; "hold" keeps a file a child holds open across a snapshot. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINES 300   /* each of two appending processes */

static char dir[64];   /* this run's own directory in /tmp: runs on Linux at the same time must not meet */

static const char *at(const char *name)
{
	static char paths[4][128];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof paths[0], "%s/%s", dir, name);
	return p;
}

static pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

/* A child's exit code, or 100 + its signal. */
static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static long size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -errno;
}

/* The whole file, or "(errno text)". */
static const char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return strerror(errno);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* A child waits for its parent's word on the pipe go (made before the fork). */
static void await_go(int go[2])
{
	char b;
	close(go[1]);
	if (read(go[0], &b, 1) != 1)
		_exit(2);
}

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		_exit(90);
}

/* A child writes a file; the parent reads it, appends; the child's sibling reads both. */
static void written_by_a_child(void)
{
	pid_t c = fork_flushed();
	if (c == 0) {
		int fd = open(at("note"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		put(fd, "from the child\n");
		_exit(close(fd));
	}
	int code = reap(c);   /* before the read: arguments have no order */
	printf("child exited %d; parent reads: %s", code, slurp(at("note")));
	int fd = open(at("note"), O_WRONLY | O_APPEND);
	put(fd, "from the parent\n");
	close(fd);
	c = fork_flushed();
	if (c == 0) {
		printf("a second child reads:\n%s", slurp(at("note")));
		fflush(stdout);
		_exit(0);
	}
	reap(c);
}

/* sh's "cmd > file; other < file": the redirect is a child's, the reader a later sibling. */
static void redirect_then_sibling(void)
{
	pid_t c = fork_flushed();
	if (c == 0) {
		int fd = open(at("out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		close(fd);
		for (int i = 1; i <= 5; i++)
			printf("line %d\n", i);
		fflush(stdout);
		_exit(0);
	}
	reap(c);
	c = fork_flushed();
	if (c == 0) {
		int fd = open(at("out"), O_RDONLY);
		dup2(fd, 0);
		close(fd);
		int lines = 0, ch;
		while ((ch = getchar()) != EOF)
			lines += ch == '\n';
		printf("the sibling counts %d lines from stdin\n", lines);
		fflush(stdout);
		_exit(0);
	}
	reap(c);
}

/* A descriptor inherited across fork shares its offset: A, the child's B, then C follow. */
static void shared_offset(void)
{
	int fd = open(at("seq"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	put(fd, "A\n");
	pid_t c = fork_flushed();
	if (c == 0) {
		put(fd, "B\n");
		_exit(0);
	}
	reap(c);
	put(fd, "C\n");
	char buf[16] = { 0 };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	printf("inherited descriptor, offset after the child's write and ours: %ld; the file: %.*s",
	       (long)lseek(fd, 0, SEEK_CUR), (int)(n > 0 ? n : 0), buf);
	lseek(fd, 0, SEEK_SET);
	c = fork_flushed();
	if (c == 0)   /* the child reads 2 bytes: the parent's next read starts after them */
		_exit(read(fd, buf, 2) == 2 ? 0 : 1);
	reap(c);
	n = read(fd, buf, sizeof buf - 1);
	printf("after the child read 2 bytes, the parent reads %zd: %.*s", n, (int)(n > 0 ? n : 0), buf);
	close(fd);
}

/* Two processes append lines at once: none lost, none torn. */
static void append_from_two(void)
{
	int fd = open(at("log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	close(fd);
	pid_t c = fork_flushed();
	char line[32];
	int mine = c == 0 ? 'c' : 'p';
	fd = open(at("log"), O_WRONLY | O_APPEND);
	for (int i = 0; i < LINES; i++) {
		int n = snprintf(line, sizeof line, "%c %04d ........\n", mine, i);
		if (write(fd, line, (size_t)n) != n)
			_exit(3);
	}
	close(fd);
	if (c == 0)
		_exit(0);
	reap(c);
	FILE *f = fopen(at("log"), "r");
	int p = 0, ch = 0, torn = 0;
	while (fgets(line, sizeof line, f)) {
		if (strlen(line) != 16 || strcmp(line + 7, "........\n"))
			torn++;
		else if (line[0] == 'p')
			p++;
		else if (line[0] == 'c')
			ch++;
	}
	fclose(f);
	printf("O_APPEND from two processes: size %ld, parent %d lines, child %d, torn %d\n",
	       size_of(at("log")), p, ch, torn);
}

/* A /tmp descriptor passed with SCM_RIGHTS to a child made before it was opened: one offset. */
static void passed_to_a_child(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return;
	pid_t c = fork_flushed();
	if (c == 0) {
		char b, buf[16] = { 0 }, ctl[CMSG_SPACE(sizeof(int))];
		struct iovec v = { &b, 1 };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
		close(sv[0]);
		struct cmsghdr *cm = recvmsg(sv[1], &m, 0) == 1 ? CMSG_FIRSTHDR(&m) : 0;
		int fd = -1;
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof fd);
		ssize_t n = read(fd, buf, sizeof buf - 1);
		printf("the child got it with SCM_RIGHTS and read \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
		fflush(stdout);
		_exit(0);
	}
	close(sv[1]);
	int fd = open(at("passed"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	put(fd, "hello world");
	lseek(fd, 6, SEEK_SET);
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec v = { "f", 1 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(sv[0], &m, 0) != 1)
		printf("sendmsg: %s\n", strerror(errno));
	reap(c);
	printf("after the child's read, the sender's offset: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	close(fd);
	close(sv[0]);
	unlink(at("passed"));
}

/* rename, ftruncate and unlink by one process, seen by the other at once. */
static void rename_truncate_unlink(void)
{
	int fd = open(at("a"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	put(fd, "0123456789");
	pid_t c = fork_flushed();
	if (c == 0) {
		int r1 = rename(at("a"), at("b"));
		int fd2 = open(at("b"), O_WRONLY);
		int r2 = ftruncate(fd2, 4);
		_exit(r1 == 0 && r2 == 0 ? 0 : 1);
	}
	printf("child renamed a to b and truncated it: %d\n", reap(c));
	struct stat st, mine;
	const char *a_is = stat(at("a"), &st) < 0 ? strerror(errno) : "there";
	fstat(fd, &mine);
	printf("stat a: %s; b: size %ld; the parent's descriptor: size %ld, links %d\n",
	       a_is, size_of(at("b")), (long)mine.st_size, (int)mine.st_nlink);
	c = fork_flushed();
	if (c == 0)
		_exit(unlink(at("b")) == 0 ? 0 : 1);
	reap(c);
	fstat(fd, &st);
	char buf[16] = { 0 };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	printf("child unlinked b: open says %s; still open here: links %d, reads \"%.*s\"\n",
	       open(at("b"), O_RDONLY) < 0 ? strerror(errno) : "opened", (int)st.st_nlink,
	       (int)(n > 0 ? n : 0), buf);
	close(fd);
}

/* A file unlinked and closed by the parent stays readable by a child that holds it. */
static void unlinked_held_by_child(void)
{
	int go[2];
	if (pipe(go) < 0)
		return;
	int fd = open(at("held"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	put(fd, "kept for the child");
	pid_t c = fork_flushed();
	if (c == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) != 0)
			_exit(2);
		char buf[64] = { 0 };
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		printf("the child, after the parent unlinked and closed it: \"%.*s\"\n", (int)(n > 0 ? n : 0), buf);
		fflush(stdout);
		_exit(0);
	}
	close(go[0]);
	unlink(at("held"));
	close(fd);
	close(go[1]);   /* go */
	reap(c);
}

/* A FIFO made after the fork, by the parent: the child finds it by name. */
static void fifo_after_fork(void)
{
	int made[2];
	if (pipe(made) < 0)
		return;
	pid_t c = fork_flushed();
	if (c == 0) {
		char buf[64] = { 0 };
		await_go(made);
		int fd = open(at("fifo"), O_RDONLY);
		ssize_t n = read(fd, buf, sizeof buf - 1);
		printf("the child read from the FIFO: %.*s", (int)(n > 0 ? n : 0), buf);
		fflush(stdout);
		_exit(0);
	}
	close(made[0]);
	printf("mkfifo after the fork: %d\n", mkfifo(at("fifo"), 0600));
	fflush(stdout);
	put(made[1], "m");
	int fd = open(at("fifo"), O_WRONLY);
	put(fd, "through a FIFO made after fork\n");
	close(fd);
	reap(c);
	unlink(at("fifo"));
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in path, sorted, one line. */
static void list(const char *who, const char *path)
{
	char *names[32];
	int n = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 32)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof names[0], cmp);
	printf("%s lists:", who);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("%s\n", d ? "" : " (cannot open it)");
}

static void directories(void)
{
	pid_t c = fork_flushed();
	if (c == 0) {
		mkdir(at("d"), 0755);
		mkdir(at("d/sub"), 0755);
		close(open(at("d/x"), O_WRONLY | O_CREAT, 0644));
		close(open(at("d/y"), O_WRONLY | O_CREAT, 0644));
		_exit(0);
	}
	reap(c);
	list("after a child's mkdir, the parent", at("d"));
	c = fork_flushed();
	if (c == 0) {
		unlink(at("d/x"));
		rename(at("d/y"), at("d/sub/z"));
		_exit(0);
	}
	reap(c);
	list("after a child's unlink and rename, the parent", at("d"));
	list("and in sub", at("d/sub"));
	unlink(at("d/sub/z"));
	c = fork_flushed();
	if (c == 0)
		_exit(rmdir(at("d/sub")) == 0 && rmdir(at("d")) == 0 ? 0 : 1);
	int code = reap(c);
	printf("the child removes both directories: %d; the parent's stat: %s\n", code,
	       size_of(at("d")) == -ENOENT ? "gone" : "still there");
}

#define WORKERS 4
#define ROUNDS 1500

/* One of WORKERS processes at once: its own files made, written, renamed, read, some unlinked; a line to the shared log each round. */
static int worker(int id)
{
	char a[160], b[160], buf[256], want[256];
	int bad = 0;
	int log = open(at("st/log"), O_WRONLY | O_APPEND);
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(a, sizeof a, "%s/st/w%d-%d", dir, id, i);
		snprintf(b, sizeof b, "%s/st/d%d/r%d", dir, id, i % 7);
		int n = snprintf(want, sizeof want, "worker %d round %d %0*d\n", id, i, (i * 37) % 150, 0);
		int fd = open(a, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, want, (size_t)n) != n) {
			bad++;
			continue;
		}
		bad += rename(a, b) < 0;
		memset(buf, 0, sizeof buf);
		bad += pread(fd, buf, sizeof buf, 0) != n || memcmp(buf, want, (size_t)n);   /* renamed meanwhile */
		close(fd);
		fd = open(b, O_RDONLY);
		bad += fd < 0 || read(fd, buf, sizeof buf) != n || memcmp(buf, want, (size_t)n);
		close(fd);
		bad += i % 3 == 0 && unlink(b) < 0;
		bad += write(log, want, (size_t)n) != n;
	}
	close(log);
	return bad;
}

/* Processes that use /tmp at the same moment, on different CPUs: nothing lost, torn or mixed up. */
static void at_once(void)
{
	mkdir(at("st"), 0700);
	close(open(at("st/log"), O_WRONLY | O_CREAT | O_TRUNC, 0600));
	char d[160];
	for (int i = 0; i < WORKERS; i++) {
		snprintf(d, sizeof d, "%s/st/d%d", dir, i);
		mkdir(d, 0700);
	}
	pid_t kids[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		if ((kids[i] = fork_flushed()) == 0)
			_exit(worker(i) ? 1 : 0);
	int bad = 0;
	for (int i = 0; i < WORKERS; i++)
		bad += reap(kids[i]) != 0;
	FILE *f = fopen(at("st/log"), "r");
	char line[256];
	int lines = 0, torn = 0;
	while (f && fgets(line, sizeof line, f)) {
		lines++;
		torn += strncmp(line, "worker ", 7) || line[strlen(line) - 1] != '\n';
	}
	if (f)
		fclose(f);
	printf("%d processes at once: %d with errors; their log: %d lines of %d, %d torn\n", WORKERS, bad,
	       lines, WORKERS * ROUNDS, torn);
	for (int i = 0; i < WORKERS; i++)
		for (int k = 0; k < 7; k++) {
			snprintf(d, sizeof d, "%s/st/d%d/r%d", dir, i, k);
			unlink(d);
		}
	for (int i = 0; i < WORKERS; i++) {
		snprintf(d, sizeof d, "%s/st/d%d", dir, i);
		rmdir(d);
	}
	unlink(at("st/log"));
	rmdir(at("st"));
}

/* Writes size bytes of 'x' into a new file at path: the bytes written (short when full). */
static long fill(const char *path, long size)
{
	static char chunk[1 << 20];
	memset(chunk, 'x', sizeof chunk);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	long done = 0;
	while (fd >= 0 && done < size) {
		ssize_t n = write(fd, chunk, sizeof chunk);
		if (n <= 0)
			break;
		done += n;
	}
	close(fd);
	return done;
}

/*
 * An unlinked 40 MiB file whose last holder is killed (SIGKILL: it closes
 * nothing itself) is gone: another one of 40 MiB fits in the capsule's
 * 64 MiB window, where two could not.
 */
static void killed_holder(void)
{
	const long big = 40 << 20;
	int ready[2];
	if (pipe(ready) < 0)
		return;
	long written = fill(at("big"), big);
	int fd = open(at("big"), O_RDONLY);
	pid_t c = fork_flushed();
	if (c == 0) {
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	char b;
	if (read(ready[0], &b, 1) != 1)
		return;
	unlink(at("big"));
	close(fd);
	kill(c, SIGKILL);
	int st = 0;
	waitpid(c, &st, 0);
	printf("the last holder of an unlinked %ld MiB file: killed by signal %d\n", written >> 20, WTERMSIG(st));
	printf("another file as large: %ld MiB written\n", fill(at("big2"), big) >> 20);
	unlink(at("big2"));
}

/*
 * "hold": a child holds a /tmp file open (a descriptor it inherited) and
 * waits; the capsule is snapshotted and resumed; a connection then has pid 1
 * append to the file and unlink it, the child read it through its
 * descriptor and write what it saw into another file, which pid 1 sends.
 */
static int hold(void)
{
	int go[2];
	if (pipe(go) < 0)
		return 1;
	int fd = open(at("kept"), O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
	put(fd, "before the snapshot\n");
	pid_t c = fork_flushed();
	if (c == 0) {
		char buf[256] = { 0 };
		await_go(go);
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		int out = open(at("answer"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dprintf(out, "the child read %zd bytes:\n%s", n, buf);
		_exit(close(out));
	}
	close(go[0]);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0)
		return 1;
	printf("tmpshare hold: child %d holds it, listening on 9100\n", (int)c);
	fflush(stdout);
	int conn = accept(s, NULL, NULL);
	if (conn < 0)
		return 1;
	put(fd, "after the resume\n");
	unlink(at("kept"));
	close(fd);
	put(go[1], "g");
	char line[512];
	int code = reap(c);
	int n = snprintf(line, sizeof line, "child exited %d; ", code);
	n += snprintf(line + n, sizeof line - (size_t)n, "%s", slurp(at("answer")));
	unlink(at("answer"));
	rmdir(dir);
	if (write(conn, line, (size_t)n) != n)
		return 1;
	shutdown(conn, SHUT_WR);
	char b;
	while (read(conn, &b, 1) > 0)
		;
	close(conn);
	return 11;
}

int main(int argc, char **argv)
{
	snprintf(dir, sizeof dir, "/tmp/capsule-tmpshare.%d", (int)getpid());   /* never printed */
	if (mkdir(dir, 0700) < 0) {
		perror(dir);
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "hold") == 0)
		return hold();
	written_by_a_child();
	redirect_then_sibling();
	shared_offset();
	passed_to_a_child();
	append_from_two();
	rename_truncate_unlink();
	unlinked_held_by_child();
	fifo_after_fork();
	directories();
	killed_holder();
	at_once();
	unlink(at("note"));
	unlink(at("out"));
	unlink(at("seq"));
	unlink(at("log"));
	list("at the end, its directory", dir);
	printf("rmdir: %d\n", rmdir(dir));
	return 0;
}
