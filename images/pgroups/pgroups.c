/* pgroups.c: process groups and sessions, and signals between any two processes: setpgid, setsid, getpgid/getsid, kill to a group, to a sibling, to no one, waitpid(0 / -pgid), waitid(P_PGID); "hold" keeps a group alive across snapshots. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Run as a capsule's pid 1 or natively as a session leader (the test starts
 * it with setsid), it prints the same lines: no pid is printed, only how
 * pids relate, so the output can be compared with Linux's byte for byte.
 */

static const char *err_name(int e)
{
	return e == EPERM ? "EPERM" : e == ESRCH ? "ESRCH" : e == ECHILD ? "ECHILD" :
	       e == EINVAL ? "EINVAL" : strerror(e);
}

/* "what: 0" or "what: -1 ENAME". */
static void say(const char *what, int r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, err_name(errno));
	else
		printf("%s: %d\n", what, r);
	fflush(stdout);
}

static void yes(const char *what, int ok)
{
	printf("%s: %s\n", what, ok ? "yes" : "no");
	fflush(stdout);
}

static pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

static void status_of(const char *who, int st)
{
	if (WIFEXITED(st))
		printf("%s exited with %d\n", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s killed by signal %d\n", who, WTERMSIG(st));
	fflush(stdout);
}

/* A child that waits for any signal's default action (or a byte on fd, then exits 0). */
static void wait_forever(int fd)
{
	char b;
	while (read(fd, &b, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

static volatile sig_atomic_t usr1;
static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

/* Two groups: a child that starts its own session; B leading a group that C joins. */
static void sessions_and_groups(void)
{
	pid_t me = getpid();
	yes("leads its group and session", getpgrp() == me && getsid(0) == me && getpgid(0) == me);
	errno = 0;
	say("setsid in a group leader", setsid());
	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		exit(1);
	pid_t a = fork_flushed();
	if (a == 0) {
		yes("A: in its parent's group and session", getpgrp() == getppid() && getsid(0) == getsid(getppid()));
		pid_t s = setsid();
		yes("A: setsid made a session and group of its own",
		    s == getpid() && getsid(0) == getpid() && getpgrp() == getpid());
		if (write(done[1], "a", 1) != 1)
			_exit(2);
		wait_forever(go[0]);
	}
	char b;
	if (read(done[0], &b, 1) != 1)
		exit(1);
	yes("A seen from its parent: its own group and session", getpgid(a) == a && getsid(a) == a);
	say("setpgid(A, my group): A leads a session", setpgid(a, me));
	if (write(go[1], "g", 1) != 1)
		exit(1);
	int st;
	if (waitpid(a, &st, 0) == a)
		status_of("A", st);

	pid_t bb = fork_flushed();
	if (bb == 0)
		wait_forever(go[0]);   /* nobody writes again: only a signal ends it */
	say("setpgid(B, 0)", setpgid(bb, 0));
	pid_t c = fork_flushed();
	if (c == 0)
		wait_forever(go[0]);
	say("setpgid(C, B)", setpgid(c, bb));
	yes("C is in B's group", getpgid(c) == bb && getpgid(bb) == bb);
	say("setpgid(C, a group that does not exist)", setpgid(c, 4242));
	say("setpgid of a process that is not my child", setpgid(4243, 0));
	say("kill(-B, 0)", kill(-bb, 0));
	say("kill(-4242, SIGTERM)", kill(-4242, SIGTERM));
	say("kill(4242, 0)", kill(4242, 0));
	say("waitpid(-B, WNOHANG) with both alive", waitpid(-bb, &st, WNOHANG));
	say("kill(-B, SIGTERM)", kill(-bb, SIGTERM));
	int seen_b = 0, seen_c = 0;
	for (int k = 0; k < 2; k++) {
		pid_t w = waitpid(-bb, &st, 0);
		seen_b += w == bb;
		seen_c += w == c;
		status_of("a child of group B", st);
	}
	yes("both B and C reaped through waitpid(-B)", seen_b == 1 && seen_c == 1);
	errno = 0;
	say("waitpid(-B) once the group is gone", waitpid(-bb, &st, 0));
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

/* D waits for SIGUSR1; its sibling E sends it: neither is the other's parent or child. */
static void siblings(void)
{
	sigset_t usr, old;
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr, &old);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	pid_t d = fork_flushed();
	if (d == 0) {
		sigset_t none;
		sigemptyset(&none);
		while (!usr1)
			sigsuspend(&none);
		printf("D: SIGUSR1 from a sibling\n");
		fflush(stdout);
		_exit(5);
	}
	pid_t e = fork_flushed();
	if (e == 0)
		_exit(kill(d, SIGUSR1) == 0 ? 0 : 1);   /* says how it went in its exit code */
	int st;
	if (waitpid(d, &st, 0) == d)
		status_of("D", st);
	if (waitpid(e, &st, 0) == e)
		status_of("E, after kill(D, SIGUSR1),", st);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* waitpid(0): children of my own group; waitid(P_PGID) of a group of one. */
static void group_waits(void)
{
	pid_t f = fork_flushed();
	if (f == 0)
		_exit(3);
	int st;
	pid_t w = waitpid(0, &st, 0);
	yes("waitpid(0) reaped F", w == f);
	status_of("F", st);
	int go[2];
	if (pipe(go) < 0)
		exit(1);
	pid_t g = fork_flushed();
	if (g == 0) {
		close(go[1]);
		wait_forever(go[0]);
	}
	setpgid(g, g);
	errno = 0;
	say("waitpid(0) with G in a group of its own", waitpid(0, &st, WNOHANG));
	close(go[1]);   /* G reads EOF and exits 0 */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int r = waitid(P_PGID, (id_t)g, &si, WEXITED);
	yes("waitid(P_PGID, G) reaped G", r == 0 && si.si_pid == g && si.si_code == CLD_EXITED);
	printf("G exited with %d\n", si.si_status);
	close(go[0]);
}

/*
 * "hold": group B (B, C) and pid 1 wait for a connection on 9100 (a snapshot
 * or migration may come meanwhile); then kill(-B, SIGTERM), reap both with
 * waitpid(-B), read end of file from the pipe whose only writer was B, answer
 * and exit 11.
 */
static int hold(void)
{
	int go[2], eof[2], started[2];
	if (pipe(go) < 0 || pipe(eof) < 0 || pipe(started) < 0)
		return 1;
	pid_t bb = fork_flushed();
	if (bb == 0) {
		close(eof[0]);   /* B holds the only write end of eof */
		close(started[0]);
		if (write(started[1], "b", 1) != 1)
			_exit(2);
		close(started[1]);
		wait_forever(go[0]);
	}
	pid_t c = fork_flushed();
	if (c == 0) {
		close(eof[0]);
		close(eof[1]);
		close(started[0]);
		if (write(started[1], "c", 1) != 1)
			_exit(2);
		close(started[1]);
		wait_forever(go[0]);
	}
	close(eof[1]);
	close(started[1]);
	/* Both children run (docs/PROCESSES.md section 10: one killed before it ever ran keeps its ends). */
	char ran[2];
	for (size_t got = 0; got < sizeof ran;) {
		ssize_t r = read(started[0], ran + got, sizeof ran - got);
		if (r <= 0)
			return 1;
		got += (size_t)r;
	}
	close(started[0]);
	if (setpgid(bb, bb) < 0 || setpgid(c, bb) < 0) {
		printf("setpgid: %s\n", strerror(errno));
		return 1;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("hold: group %d of 2, listening on 9100\n", (int)bb);
	fflush(stdout);
	int fd = accept(s, NULL, NULL);
	if (fd < 0)
		return 1;
	char line[128];
	int group_b = (int)getpgid(bb), group_c = (int)getpgid(c);   /* before the kill, in turn */
	int n = snprintf(line, sizeof line, "groups: B %d C %d; kill(-B): %d\n", group_b, group_c,
	                 kill(-bb, SIGTERM));
	int st, reaped = 0;
	while (waitpid(-bb, &st, 0) > 0)
		reaped += WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
	char b;
	ssize_t got = read(eof[0], &b, 1);   /* B is gone, however it ended: end of file */
	n += snprintf(line + n, sizeof line - (size_t)n, "reaped by SIGTERM: %d; B's pipe: %s\n",
	              reaped, got == 0 ? "end of file" : "not ended");
	if (write(fd, line, (size_t)n) != n)
		return 1;
	shutdown(fd, SHUT_WR);
	while (read(fd, &b, 1) > 0)
		;
	close(fd);
	return 11;
}

/* What a fork does not copy: a pending alarm (POSIX: the child's is cleared). */
static void alarm_not_inherited(void)
{
	alarm(100);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		printf("the child's alarm(0) after fork: %u\n", alarm(0));
		fflush(stdout);
		_exit(0);
	}
	waitpid(c, 0, 0);
	printf("the parent's alarm(0): %u\n", alarm(0));
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "hold") == 0)
		return hold();
	sessions_and_groups();
	siblings();
	group_waits();
	alarm_not_inherited();
	printf("done\n");
	return 0;
}
