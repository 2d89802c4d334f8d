/* execs.c: execve and posix_spawn of the program itself (a multi-call program, as busybox is): argv and envp, a pipeline of exec'd programs, FD_CLOEXEC, a socket pair, /dev/null and a file across execve, signal state, exit statuses, ENOENT; the same output on Linux (docs/PROCESSES.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SELF "/proc/self/exe"

extern char **environ;

static void say_status(const char *what, int ws)
{
	if (WIFEXITED(ws))
		printf("%s: exited with %d\n", what, WEXITSTATUS(ws));
	else if (WIFSIGNALED(ws))
		printf("%s: killed by signal %d\n", what, WTERMSIG(ws));
	else
		printf("%s: status %#x\n", what, ws);
	fflush(stdout);
}

static void wait_for(pid_t pid, const char *what)
{
	int ws = 0;
	if (waitpid(pid, &ws, 0) != pid) {
		printf("%s: waitpid: %s\n", what, strerror(errno));
		return;
	}
	say_status(what, ws);
}

/* ---- the programs an execve starts (argv[1] names them) ---- */

/* Its arguments and its whole environment; whether it is still the same process. */
static int show(int argc, char **argv)
{
	printf("show: argc %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("show: argv[%d] = \"%s\"\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PID=", 4) && strncmp(*e, "PPID=", 5))   /* numbers differ from Linux's */
			printf("show: env %s\n", *e);
	const char *pid = getenv("PID"), *ppid = getenv("PPID");
	printf("show: same pid: %s, same parent: %s\n",
	       pid && atoi(pid) == getpid() ? "yes" : "no", ppid && atoi(ppid) == getppid() ? "yes" : "no");
	fflush(stdout);
	return 7;
}

static int gen(int n)
{
	for (int i = 1; i <= n; i++)
		printf("line %d\n", i);
	return 0;
}

/* stdin to stdout upper-cased, until end of file. */
static int upper(int with_ids)
{
	char line[256];
	if (with_ids)
		printf("upper: pid %d ppid %d\n", getpid(), getppid());
	fflush(stdout);
	while (fgets(line, sizeof line, stdin)) {
		for (char *c = line; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		printf("upper: %s", line);
		fflush(stdout);
	}
	printf("upper: end of file\n");
	return 6;
}

static int fdcheck(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		int fd = atoi(argv[i]);
		printf("fdcheck: fd %d %s\n", fd, fcntl(fd, F_GETFD) >= 0 ? "open" : "closed");
	}
	return 0;
}

/* What execve kept of the signal state: then the pending SIGUSR2 is let in (its default: death). */
static int sigs(void)
{
	struct sigaction sa;
	sigset_t mask, pending;
	sigaction(SIGUSR1, NULL, &sa);
	printf("sigs: SIGUSR1 %s\n", sa.sa_handler == SIG_IGN ? "ignored" : "not ignored");
	sigaction(SIGUSR2, NULL, &sa);
	printf("sigs: SIGUSR2 %s\n", sa.sa_handler == SIG_DFL ? "default" : "not default");
	sigprocmask(SIG_BLOCK, NULL, &mask);
	sigpending(&pending);
	printf("sigs: SIGUSR2 blocked %d, pending %d\n", sigismember(&mask, SIGUSR2),
	       sigismember(&pending, SIGUSR2));
	fflush(stdout);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	printf("sigs: still here\n");
	return 0;
}

/* bench N: N times fork + _exit + waitpid, then N times fork + execve + exit + waitpid (us each). */
static int bench(int n)
{
	struct timespec a, b;
	for (int round = 0; round < 2; round++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				char *argv[] = { "execs", "gen", "0", NULL };
				if (round)
					execve(SELF, argv, environ);
				_exit(0);
			}
			waitpid(pid, NULL, 0);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		long us = (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
		printf("bench: %s: %ld us each\n", round ? "fork + execve + exit + wait" : "fork + exit + wait",
		       us / n);
	}
	return 0;
}

/* After execve: the children forked before it are still ours to wait for. */
static int reap(void)
{
	int ws = 0;
	pid_t pid = waitpid(-1, &ws, 0);
	printf("reap: a child from before the exec: %s, exited with %d\n", pid > 0 ? "found" : "none",
	       WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	errno = 0;
	pid = waitpid(-1, &ws, 0);
	printf("reap: then %d %s\n", (int)pid, errno == ECHILD ? "ECHILD" : strerror(errno));
	return 0;
}

/* ---- the driver ---- */

static void on_usr2(int sig)
{
	(void)sig;
}

static void exec_argv_envp(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char p[32], pp[32];
		snprintf(p, sizeof p, "PID=%d", getpid());
		snprintf(pp, sizeof pp, "PPID=%d", getppid());
		char *argv[] = { "execs", "show", "two words", "", "last", NULL };
		char *envp[] = { "FOO=bar", "EMPTY=", p, pp, NULL };
		execve(SELF, argv, envp);
		printf("execve: %s\n", strerror(errno));
		_exit(1);
	}
	wait_for(pid, "show");
}

/* gen 4 | upper, each side a fork, dup2 and execve, as a shell builds it. */
static void pipeline(void)
{
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return;
	}
	pid_t a = fork();
	if (a == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		char *argv[] = { "gen", "gen", "4", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	pid_t b = fork();
	if (b == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		char *argv[] = { "upper", "upper", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	close(p[0]);
	close(p[1]);
	wait_for(b, "pipeline: upper");   /* first: all of its output comes before the statuses */
	wait_for(a, "pipeline: gen");
}

/* A close-on-exec pipe end goes at execve (its reader sees end of file), a plain one stays. */
static void cloexec(void)
{
	int keep[2], gone[2];
	if (pipe(keep) || pipe2(gone, O_CLOEXEC)) {
		perror("pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(keep[0]);
		close(gone[0]);
		char a[16], b[16];
		snprintf(a, sizeof a, "%d", keep[1]);
		snprintf(b, sizeof b, "%d", gone[1]);
		dup2(keep[1], 9);   /* dup'ed: the same open file under two numbers */
		char *argv[] = { "execs", "fdcheck", a, b, "9", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	close(keep[1]);
	close(gone[1]);
	char c;
	ssize_t at_exec = read(gone[0], &c, 1);   /* returns as the child's execve closes it */
	wait_for(pid, "cloexec: fdcheck");
	printf("cloexec: the close-on-exec pipe's reader: %zd (end of file)\n", at_exec);
	printf("cloexec: the kept pipe's reader once it exited: %zd\n", read(keep[0], &c, 1));
	fflush(stdout);
	close(keep[0]);
	close(gone[0]);
}

static void signals(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGUSR1, SIG_IGN);
		signal(SIGUSR2, on_usr2);
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGUSR2);
		sigprocmask(SIG_BLOCK, &m, NULL);
		raise(SIGUSR2);
		char *argv[] = { "execs", "sigs", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	wait_for(pid, "sigs");
}

/* A socket pair end and /dev/null across execve: "upper" talks back through the pair. */
static void sockpair(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		perror("socketpair");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		close(sv[1]);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		close(null);
		char *argv[] = { "execs", "upper", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	close(sv[1]);
	(void)!write(sv[0], "ping\npong\n", 10);
	shutdown(sv[0], SHUT_WR);
	char buf[256];
	size_t got = 0;
	ssize_t n;
	while ((n = read(sv[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(sv[0]);
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = '|';
	printf("socketpair: \"%s\"\n", buf);
	fflush(stdout);
	wait_for(pid, "socketpair: upper");
}

/* A file opened before execve keeps its offset: the exec'd program writes after the bytes its
 * process wrote before (a fork's child has its own offset in a capsule: all in the child). */
static int files(const char *dir)
{
	char path[512], buf[256];
	snprintf(path, sizeof path, "%s/exec-file.txt", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	(void)!write(fd, "written by pid 1\n", 17);
	pid_t pid = fork();
	if (pid == 0) {
		(void)!write(fd, "written before the exec\n", 24);
		dup2(fd, 1);
		close(fd);
		char *argv[] = { "execs", "gen", "2", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	wait_for(pid, "files: gen");
	close(fd);
	fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("files: %s", buf);
	close(fd);
	return 0;
}

/* A child forks a grandchild, then execs "reap", which waits for it. */
static void children_kept(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (fork() == 0)
			_exit(5);
		char *argv[] = { "execs", "reap", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	wait_for(pid, "reap");
}

static void enoent(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "nothing", NULL };
		int r = execve("/no/such/program", argv, environ);
		printf("execve /no/such/program: %d %s\n", r, strerror(errno));
		fflush(stdout);
		_exit(3);
	}
	wait_for(pid, "enoent");
}

/* posix_spawn with its stdout on a pipe; posix_spawnp by name; one that cannot be found. */
static void spawn(void)
{
	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	char *argv[] = { "execs", "gen", "3", NULL };
	pid_t pid;
	int r = posix_spawn(&pid, SELF, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	printf("posix_spawn: %d\n", r);
	char buf[256];
	size_t got = 0;
	ssize_t n;
	while ((n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(p[0]);
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = '|';
	printf("posix_spawn: its output \"%s\"\n", buf);
	fflush(stdout);
	if (r == 0)
		wait_for(pid, "posix_spawn: gen");
	char *argv2[] = { "execs", "gen", "0", NULL };
	r = posix_spawnp(&pid, "execs", NULL, NULL, argv2, environ);
	printf("posix_spawnp execs: %d\n", r);
	fflush(stdout);
	if (r == 0)
		wait_for(pid, "posix_spawnp: gen");
	r = posix_spawn(&pid, "/no/such/program", NULL, NULL, argv2, environ);
	printf("posix_spawn /no/such/program: %s\n", strerror(r));
	fflush(stdout);
}

/*
 * For a snapshot after an exec: a child execs "upper" reading a pipe from
 * us; once the test connected (after the snapshot and resume), more lines
 * go through it, the pipe closes, and we reap it.
 */
static int hold(void)
{
	int p[2], one = 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9100) };
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4) || pipe(p)) {
		perror("hold: setup");
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(s);
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		char *argv[] = { "execs", "upper", "ids", NULL };
		execve(SELF, argv, environ);
		_exit(1);
	}
	close(p[0]);
	dprintf(p[1], "written before the snapshot\n");
	printf("hold: child %d, listening on 9100\n", pid);
	fflush(stdout);
	int c = accept(s, NULL, NULL);
	dprintf(p[1], "written after the resume\n");
	close(p[1]);
	wait_for(pid, "hold: upper");
	if (c >= 0) {
		/* until the peer closes: a capsule that ends at once may lose its last packets */
		char b;
		(void)!write(c, "hold done\n", 10);
		shutdown(c, SHUT_WR);
		while (read(c, &b, 1) > 0)
			;
		close(c);
	}
	return 4;   /* not 0: caphostd reports only an incoming capsule's non-zero status */
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "show"))
		return show(argc, argv);
	if (!strcmp(mode, "gen"))
		return gen(argc > 2 ? atoi(argv[2]) : 1);
	if (!strcmp(mode, "upper"))
		return upper(argc > 2);
	if (!strcmp(mode, "fdcheck"))
		return fdcheck(argc, argv);
	if (!strcmp(mode, "sigs"))
		return sigs();
	if (!strcmp(mode, "reap"))
		return reap();
	if (!strcmp(mode, "hold"))
		return hold();
	if (!strcmp(mode, "bench"))
		return bench(argc > 2 ? atoi(argv[2]) : 20);
	if (!strcmp(mode, "files"))
		return files(argc > 2 ? argv[2] : ".");
	if (!strcmp(mode, "relaunch-gen")) {
		char *args[] = { "execs", "gen", "2", NULL };
		execve(SELF, args, environ);
		printf("execve: %s\n", strerror(errno));
		return 1;
	}
	if (!strcmp(mode, "relaunch")) {   /* execve in the process itself: "hold" (a capsule's pid 1) */
		char *args[] = { "execs", "hold", NULL };
		execve(SELF, args, environ);
		printf("execve: %s\n", strerror(errno));
		return 1;
	}
	exec_argv_envp();
	pipeline();
	cloexec();
	signals();
	sockpair();
	children_kept();
	enoent();
	spawn();
	printf("done\n");
	return 0;
}
