/* capcc.c: the capsule compiler driver: gcc against the capsule sysroot, linking straight into a .cap image. */
/*
 *   capcc -c foo.c                 compile (also -S, -E, -M..., .s/.S): gcc with the sysroot's headers
 *   capcc -o app foo.o bar.o -lz   link: app is a .cap image named "app" (default output a.out)
 *   capcc --cap-mem=64M ...        arena size of the image (default 1G)
 *   capcc --cap-no-net ...         link without a network stack (no lwIP: no sockets)
 *   capcc -g ... -o app ...        keep debug information in the image (default: dropped)
 *   CAPCC_KEEP_ELF=1               also keep the linked ELF as OUT.elf (debugging)
 *   CAPCC_SYSROOT, CAPCC_CC        another sysroot or gcc (default: ../sysroot next to capcc,
 *                                  else ../lib/capsule/sysroot as installed; gcc)
 *
 * Every argument is scanned once (no getopt: gcc's options are not getopt's)
 * and handed on unchanged, except ours, -o OUT (we link to a temporary ELF and
 * pack that into OUT) and -lNAME, which becomes the path of the archive found
 * in the sysroot: the linker must never find a glibc-built library in /usr/lib.
 */
#include "hosts/common/cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IMAGE_BASE   "0x20000000"   /* CAP_IMAGE_BASE: where every capsule's text starts */
#define NAME_MAX_LEN 40             /* caprun's limit for a capsule name */
#define SEE_DOCS     "; see docs/RUNNING.md"

/* gcc options whose value may be the next argument (not an input file); -o -l -L -x are parsed apart. */
static const char *const takes_value[] = {
	"-I", "-D", "-U", "-L", "-l", "-include", "-imacros", "-isystem", "-iquote",
	"-idirafter", "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-imultilib",
	"-MF", "-MT", "-MQ", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-aux-info", "-T", "-u",
	"-z", "-e", "--param", "-A", "-wrapper", NULL,
};

struct cmd {
	char **argv;
	int argc, cap;
};

static char tmp_elf[PATH_MAX];   /* removed on every exit, signals included */

/* At every exit (atexit, once the file exists): a failed link, a library not found, die(). */
static void remove_tmp(void)
{
	if (tmp_elf[0])
		unlink(tmp_elf);
}

static void die(const char *fmt, const char *what)
{
	fprintf(stderr, "capcc: ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
	exit(1);
}

static void push(struct cmd *c, const char *arg)
{
	if (c->argc + 2 > c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->argv = realloc(c->argv, (size_t)c->cap * sizeof *c->argv);
		if (!c->argv)
			die("%s", "out of memory");
	}
	c->argv[c->argc++] = (char *)arg;
	c->argv[c->argc] = NULL;
}

static char *join(const char *a, const char *b)
{
	char *s;
	if (asprintf(&s, "%s%s", a, b) < 0)
		die("%s", "out of memory");
	return s;
}

/* Run argv, wait; its exit status (1 if it could not run or died). */
static int run(struct cmd *c)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(c->argv[0], c->argv);
		fprintf(stderr, "capcc: %s: %s\n", c->argv[0], strerror(errno));
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
}

/* One line of gcc's answer to a query such as -print-file-name=crtbegin.o. */
static char *gcc_says(const char *cc, const char *query)
{
	int fd[2];
	char buf[PATH_MAX];
	if (pipe(fd) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execlp(cc, cc, query, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd[0], buf + n, sizeof buf - 1 - n)) != 0)
		if (r > 0)
			n += (size_t)r;
		else if (errno != EINTR)
			break;
	close(fd[0]);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (!buf[0])
		die("cannot ask %s where its files are (is gcc installed?)", cc);
	return strdup(buf);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_cxx_source(const char *path)
{
	static const char *const ext[] = { ".cc", ".cpp", ".cxx", ".c++", ".C", ".cp", ".CPP",
	                                   ".ii", ".hh", ".hpp", ".hxx", ".mm", ".M", NULL };
	for (int i = 0; ext[i]; i++)
		if (ends_with(path, ext[i]))
			return 1;
	return 0;
}

/* The value of option flag ("-oFILE" or "-o FILE", advancing *i), or NULL if argv[*i] is not flag. */
static const char *opt_value(const char *flag, int argc, char **argv, int *i)
{
	size_t n = strlen(flag);
	if (strncmp(argv[*i], flag, n) != 0)
		return NULL;
	if (argv[*i][n])
		return argv[*i] + n;
	if (*i + 1 >= argc)
		die("%s: missing its argument", flag);
	return argv[++*i];
}

static int needs_value(const char *a)
{
	for (int i = 0; takes_value[i]; i++)
		if (strcmp(a, takes_value[i]) == 0)
			return 1;
	return 0;
}

/* Directories whose libraries were built for glibc: never searched, even when named by -L. */
static int is_host_libdir(const char *dir)
{
	static const char *const host[] = { "/lib", "/usr/lib", "/usr/local/lib", "/lib64", "/usr/lib64",
	                                    "/lib32", "/usr/lib32", NULL };
	for (int i = 0; host[i]; i++) {
		size_t n = strlen(host[i]);
		if (strncmp(dir, host[i], n) == 0 && (dir[n] == 0 || dir[n] == '/'))
			return 1;
	}
	return 0;
}

/*
 * -lNAME as the path of its static archive: the user's own -L directories
 * first (a project's in-tree libraries), then the sysroot.  -l:FILE names
 * the file itself.
 */
static char *find_lib(const char *name, struct cmd *libdirs, const char *sysroot_lib)
{
	char *file = name[0] == ':' ? strdup(name + 1) : join(join("lib", name), ".a");
	for (int i = 0; i <= libdirs->argc; i++) {
		const char *dir = i < libdirs->argc ? libdirs->argv[i] : sysroot_lib;
		char *path = join(join(dir, "/"), file);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	fprintf(stderr, "capcc: library -l%s is not in the capsule sysroot (%s)" SEE_DOCS "\n", name,
	        sysroot_lib);
	exit(1);
}

/* The image's name: OUT's file name without ".cap", in caprun's alphabet. */
static char *image_name(const char *out)
{
	const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	char *name = strndup(base, NAME_MAX_LEN);
	if (!name)
		die("%s", "out of memory");
	if (ends_with(name, ".cap") && strlen(name) > 4)
		name[strlen(name) - 4] = 0;
	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			*p = '_';
	return name[0] ? name : strdup("a.out");
}

static void on_signal(int sig)
{
	if (tmp_elf[0])
		unlink(tmp_elf);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Our own directory (capctl and the sysroot are found relative to it). */
static char *self_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		die("/proc/self/exe: %s", strerror(errno));
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	return strdup(exe);
}

static void version(FILE *f, const char *sysroot)
{
	fprintf(f, "capcc: compiler driver for compute capsules (static .cap images, musl libc), "
	        "version %s\nsysroot: %s\n", cli_version_string, sysroot);
	fflush(f);
}

/* --help: our own options, then gcc's answer (every other option is gcc's). */
static void help(void)
{
	printf("usage: capcc [GCC OPTIONS] [--cap-mem=SIZE] [--cap-no-net] FILE... [-o OUT]\n"
	       "  links a .cap image (default a.out); -c, -S, -E compile as gcc does\n"
	       "  --cap-mem=SIZE   the image's arena (default 1G)\n"
	       "  --cap-no-net     no network stack (no lwIP: no sockets)\n"
	       "  CAPCC_SYSROOT, CAPCC_CC, CAPCC_KEEP_ELF=1: another sysroot or gcc; keep OUT.elf\n"
	       "Exit status: gcc's; 1 when capcc refuses (C++, -shared, no input).\n"
	       "gcc's own options follow.\n\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *me = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strstr(me, "++") || strstr(me, "cxx"))
		die("C++ is not supported (invoked as %s): capsules are built from C" SEE_DOCS, me);

	char *bindir = self_dir();
	const char *env_sysroot = getenv("CAPCC_SYSROOT");
	char *sysroot = env_sysroot && *env_sysroot ? strdup(env_sysroot) : join(bindir, "/../sysroot");
	struct stat st;
	if (!(env_sysroot && *env_sysroot) && stat(sysroot, &st) != 0)
		sysroot = join(bindir, "/../lib/capsule/sysroot");   /* make install's layout */
	char resolved[PATH_MAX];
	if (realpath(sysroot, resolved))
		sysroot = strdup(resolved);
	char *lib = join(sysroot, "/lib");
	const char *cc = getenv("CAPCC_CC") && *getenv("CAPCC_CC") ? getenv("CAPCC_CC") : "gcc";

	/* One pass: classify every argument, and build gcc's argument list from the user's. */
	struct cmd user = { 0 }, libdirs = { 0 };
	const char *out = NULL, *mem = NULL;
	int link = 1, net = 1, inputs = 0, query = 0, verbose = 0, show_version = 0, show_help = 0;
	int lang_given = 0;   /* -x LANG (not "none"): file names no longer say the language */
	int debug = 0;        /* the link asked for debug information (-g, -ggdb, -gdwarf-5 ...) */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--cap-mem=", 10) == 0) {
			mem = a + 10;
			continue;
		}
		if (strcmp(a, "--cap-no-net") == 0) {
			net = 0;
			continue;
		}
		const char *v;
		if ((v = opt_value("-o", argc, argv, &i))) {
			out = v;   /* linking writes OUT itself; compiling gets it back below */
			continue;
		}
		if ((v = opt_value("-l", argc, argv, &i))) {
			push(&user, join("-l", v));   /* kept in its place: link order matters */
			continue;
		}
		if ((v = opt_value("-L", argc, argv, &i))) {
			if (!is_host_libdir(v))
				push(&libdirs, v);   /* searched by find_lib only */
			continue;
		}
		if ((v = opt_value("-x", argc, argv, &i))) {
			if (strncmp(v, "c++", 3) == 0 || strncmp(v, "objective-c", 11) == 0)
				die("-x %s: C++ and Objective-C are not supported: capsules are built from C"
				    SEE_DOCS, v);
			lang_given = strcmp(v, "none") != 0;
			push(&user, "-x");
			push(&user, v);
			continue;
		}
		if (a[0] != '-' || strcmp(a, "-") == 0) {   /* an input file (or stdin) */
			if (!lang_given && is_cxx_source(a))
				die("%s: C++ is not supported: capsules are built from C" SEE_DOCS, a);
			inputs++;
			push(&user, a);
			continue;
		}
		if (strncmp(a, "-g", 2) == 0 && strncmp(a, "-gno-", 5) && strncmp(a, "-gz", 3) &&
		    strcmp(a, "-gsplit-dwarf"))
			debug = strcmp(a, "-g0") != 0;   /* as gcc: the last one counts */
		if (strcmp(a, "-shared") == 0)
			die("%s: shared libraries are not supported: a capsule is one static image" SEE_DOCS, a);
		if (strcmp(a, "-c") == 0 || strcmp(a, "-S") == 0 || strcmp(a, "-E") == 0 ||
		    strcmp(a, "-M") == 0 || strcmp(a, "-MM") == 0 || strcmp(a, "-fsyntax-only") == 0)
			link = 0;
		else if (strcmp(a, "--version") == 0)
			query = show_version = 1;
		else if (strcmp(a, "--help") == 0)
			query = show_help = 1;
		else if (strncmp(a, "-print-", 7) == 0 || strncmp(a, "-dump", 5) == 0)
			query = 1;
		else if (strcmp(a, "-v") == 0)
			verbose = 1;
		push(&user, a);
		if (needs_value(a)) {
			if (i + 1 >= argc)
				die("%s: missing its argument", a);
			push(&user, argv[++i]);
		}
	}

	if (query || (verbose && !inputs)) {   /* a question for gcc, after our own answer */
		if (show_version)
			version(stdout, sysroot);
		else if (show_help)
			help();
		else if (verbose)
			version(stderr, sysroot);
		struct cmd g = { 0 };
		push(&g, cc);
		for (int i = 0; i < user.argc; i++)
			push(&g, user.argv[i]);
		execvp(cc, g.argv);
		die("gcc: %s", strerror(errno));
	}
	if (!inputs)
		die("%s", "no input files");

	struct cmd g = { 0 };
	push(&g, cc);
	push(&g, "-nostdinc");
	push(&g, "-isystem");
	push(&g, join(sysroot, "/include"));
	push(&g, "-isystem");
	push(&g, gcc_says(cc, "-print-file-name=include"));
	push(&g, "-fno-pie");

	if (!link) {
		for (int i = 0; i < user.argc; i++)
			push(&g, user.argv[i]);
		if (out) {
			push(&g, "-o");
			push(&g, out);
		}
		execvp(cc, g.argv);
		die("gcc: %s", strerror(errno));
	}

	if (!out)
		out = "a.out";   /* as gcc: build systems (autoconf) look for it */
	snprintf(tmp_elf, sizeof tmp_elf, "%s/capcc.XXXXXX",
	         getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int tfd = mkstemp(tmp_elf);
	if (tfd < 0) {
		tmp_elf[0] = 0;
		die("temporary file: %s", strerror(errno));
	}
	close(tfd);
	atexit(remove_tmp);   /* find_lib's exit too: configure scripts probe for missing libraries */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	push(&g, "-nostdlib");
	push(&g, "-static");
	push(&g, "-no-pie");
	push(&g, "-Wl,-Ttext-segment=" IMAGE_BASE);
	push(&g, "-Wl,--build-id=sha1");
	push(&g, "-Wl,--wrap=main");
	push(&g, "-Wl,-z,noexecstack");
	/* The sysroot's libraries (libc, runtime, lwIP) carry debug information: 1.1 of echo's
	 * 1.6 MB.  caprun hashes every byte of an image at every start, and nothing in a capsule
	 * reads it, so an image keeps it only when the link asks for it, as gcc does
	 * (docs/STARTUP.md section 5).  Symbols stay: profiles and objdump still name code. */
	if (!debug)
		push(&g, "-Wl,--strip-debug");
	push(&g, join("-L", lib));
	push(&g, join(lib, "/crt1.o"));
	push(&g, join(lib, "/crti.o"));
	push(&g, gcc_says(cc, "-print-file-name=crtbegin.o"));
	for (int i = 0; i < user.argc; i++) {
		const char *a = user.argv[i];
		push(&g, strncmp(a, "-l", 2) == 0 ? find_lib(a + 2, &libdirs, lib) : a);
	}
	/* Each library needs only those after it (docs/ARCHITECTURE.md): the network stack
	 * (lwip-port registers itself with the runtime, so it is pulled in by name; then lwIP),
	 * the runtime whole (the capsule's kernel: libc's system calls land in it), libc. */
	if (net) {
		push(&g, "-Wl,--undefined=lp_net_ops");
		push(&g, join(lib, "/liblp.a"));
		push(&g, join(lib, "/liblwip.a"));
	}
	push(&g, "-Wl,--whole-archive");
	push(&g, join(lib, "/libcaprt.a"));
	push(&g, "-Wl,--no-whole-archive");
	push(&g, join(lib, "/libc.a"));
	push(&g, gcc_says(cc, "-print-libgcc-file-name"));
	push(&g, gcc_says(cc, "-print-file-name=crtend.o"));
	push(&g, join(lib, "/crtn.o"));
	push(&g, "-o");
	push(&g, tmp_elf);
	int rc = run(&g);

	if (rc == 0) {
		struct cmd pack = { 0 };
		push(&pack, join(bindir, "/capctl"));
		push(&pack, "pack");
		push(&pack, "--name");
		push(&pack, image_name(out));
		if (mem) {
			push(&pack, "--mem");
			push(&pack, mem);
		}
		push(&pack, tmp_elf);
		push(&pack, out);
		rc = run(&pack);
	}
	if (rc == 0) {
		/* Executable as a linker's output is, so a binfmt handler can run it (docs/RUNNING.md). */
		mode_t mask = umask(0);
		umask(mask);
		if (chmod(out, 0777 & ~mask) < 0)
			die("chmod: %s", strerror(errno));
		if (getenv("CAPCC_KEEP_ELF") && *getenv("CAPCC_KEEP_ELF")) {
			struct cmd cp = { 0 };
			push(&cp, "cp");
			push(&cp, tmp_elf);
			push(&cp, join(out, ".elf"));
			rc = run(&cp);
		}
	}
	return rc;   /* remove_tmp at exit */
}
