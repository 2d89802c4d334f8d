/* procs.c: processes in a capsule: fork, getpid/getppid, exit and waitpid statuses, SIGCHLD, copies of memory, a pipe, a socket pair and MAP_SHARED memory across fork; "hold" keeps a child alive; "tree" waits with a tree of processes for a snapshot; "stream" keeps a pipe between two processes busy through snapshots; "memkid MIB" keeps a child rewriting its memory and checks it on demand; "unran DEPTH" reads a pipe whose other end a child held that never ran; "orphan" re-parents a grandchild; "bench N" measures. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_seen;
static int copied = 1;   /* the child changes its copy; the parent's must not move */

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_seen++;
}

static void say_status(const char *what, pid_t pid, int st)
{
	if (WIFEXITED(st))
		printf("%s: child %d exited with %d\n", what, (int)pid, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: child %d killed by signal %d\n", what, (int)pid, WTERMSIG(st));
	else
		printf("%s: child %d status 0x%x\n", what, (int)pid, st);
	fflush(stdout);
}

static pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

/* A child exits with 7 after changing its copy of memory; the parent sees 7 and its own copy. */
static void exit_and_wait(void)
{
	pid_t c = fork_flushed();
	if (c < 0) {
		printf("fork: %s\n", strerror(errno));
		exit(1);
	}
	if (c == 0) {
		copied = 42;
		printf("child: pid %d ppid %d copied %d\n", (int)getpid(), (int)getppid(), copied);
		exit(7);
	}
	int st = 0;
	pid_t got = waitpid(c, &st, 0);
	say_status("waitpid", got, st);
	printf("parent: pid %d copied %d\n", (int)getpid(), copied);
	/* SIGCHLD runs at the next system call after the child's end arrived. */
	getpid();
	printf("parent: SIGCHLD seen %d\n", (int)sigchld_seen);
}

/* A child killed by a signal's default action; a grandchild waited for by its own parent. */
static void signal_and_grandchild(void)
{
	pid_t c = fork_flushed();
	if (c == 0) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM);
		_exit(99);   /* never */
	}
	int st = 0;
	pid_t got = waitpid(-1, &st, 0);
	say_status("wait any", got, st);

	c = fork_flushed();
	if (c == 0) {
		pid_t g = fork_flushed();
		if (g == 0) {
			printf("grandchild: pid %d ppid %d\n", (int)getpid(), (int)getppid());
			fflush(stdout);
			_exit(3);
		}
		int gs = 0;
		pid_t gg = waitpid(g, &gs, 0);
		say_status("child waits", gg, gs);
		_exit(WEXITSTATUS(gs) + 1);
	}
	got = waitpid(c, &st, 0);
	say_status("parent waits", got, st);
	errno = 0;
	got = waitpid(-1, &st, WNOHANG);
	printf("no children left: %d %s\n", (int)got, errno == ECHILD ? "ECHILD" : strerror(errno));
}

/* Byte i of a block a child sends across fork: no short period a lost or repeated run could hide in. */
static unsigned char pattern_byte(size_t i, unsigned mul, unsigned add)
{
	return (unsigned char)(i * mul + add);
}

/* Write n pattern bytes to fd, waiting while it is full: 0, or -1. */
static int write_pattern(int fd, size_t n, unsigned mul, unsigned add)
{
	static unsigned char block[300000];
	if (n > sizeof block)
		return -1;
	for (size_t i = 0; i < n; i++)
		block[i] = pattern_byte(i, mul, add);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, block + done, n - done);
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Read fd to its end against the pattern; say "what: N bytes, M wrong, then EOF". */
static void read_pattern(int fd, const char *what, unsigned mul, unsigned add)
{
	unsigned long total = 0, wrong = 0;
	unsigned char buf[8192];
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			wrong += buf[i] != pattern_byte(total + (size_t)i, mul, add);
		total += (unsigned long)r;
	}
	printf("%s: %lu bytes, %lu wrong, then %s\n", what, total, wrong, r == 0 ? "EOF" : strerror(errno));
}

/*
 * A socket pair made before fork: a question and its answer both ways, then
 * 200,000 bytes from the child (more than a ring holds), then end of file.
 */
static void socketpair_across_fork(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		printf("socketpair: %s\n", strerror(errno));
		return;
	}
	pid_t c = fork_flushed();
	if (c == 0) {
		close(sv[0]);
		char q[8] = { 0 };
		if (write(sv[1], "ping", 4) != 4 || read(sv[1], q, 4) != 4 || strcmp(q, "pong") != 0)
			_exit(2);
		_exit(write_pattern(sv[1], 200000, 13, 5) ? 3 : 0);
	}
	close(sv[1]);
	char q[8] = { 0 };
	ssize_t n = read(sv[0], q, 4);
	printf("socketpair: parent read %zd bytes \"%s\"\n", n, q);
	if (write(sv[0], "pong", 4) != 4)
		printf("socketpair: write: %s\n", strerror(errno));
	read_pattern(sv[0], "socketpair", 13, 5);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	say_status("socketpair", w, st);
	close(sv[0]);
}

/*
 * Anonymous MAP_SHARED memory made before fork: parent and child both add
 * to one counter and see each other's bytes; a MAP_PRIVATE one stays apart.
 */
static void shared_memory_across_fork(void)
{
	const size_t len = 1 << 20;
	unsigned char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || private == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		return;
	}
	long *counter = (long *)shared;
	pid_t c = fork_flushed();
	if (c == 0) {
		for (int i = 0; i < 100000; i++)
			__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
		memset(shared + len - 4096, 0xab, 4096);   /* its last page, for the parent to see */
		private[0] = 1;
		_exit(0);
	}
	for (int i = 0; i < 100000; i++)
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	say_status("shared memory", w, st);
	int seen = 1;
	for (size_t i = len - 4096; i < len; i++)
		seen &= shared[i] == 0xab;
	printf("shared memory: counter %ld, the child's page %s, private page %d\n",
	       __atomic_load_n(counter, __ATOMIC_RELAXED), seen ? "seen" : "not seen", private[0]);
	munmap(shared, len);
	munmap(private, 4096);
}

/* A pipe made before fork: the child writes lines and a block, the parent reads to EOF. */
static void pipe_across_fork(void)
{
	int p[2];
	if (pipe(p) < 0) {
		printf("pipe: %s\n", strerror(errno));
		return;
	}
	pid_t c = fork_flushed();
	if (c == 0) {
		close(p[0]);
		char line[64];
		int n = snprintf(line, sizeof line, "hello from pid %d\n", (int)getpid());
		if (write(p[1], line, (size_t)n) != n)
			_exit(2);
		/* More than the pipe holds: the child blocks until the parent reads. */
		_exit(write_pattern(p[1], 300000, 7, 1) ? 3 : 0);   /* closes the write end: EOF */
	}
	close(p[1]);
	char first[64];
	size_t got = 0;
	while (got < sizeof first - 1) {   /* the line, byte by byte */
		ssize_t r = read(p[0], first + got, 1);
		if (r != 1)
			break;
		if (first[got++] == '\n')
			break;
	}
	first[got] = 0;
	printf("pipe: %s", first);
	read_pattern(p[0], "pipe", 7, 1);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	say_status("pipe writer", w, st);
	close(p[0]);
}

/* Serve TCP port 9100: the first connection ends the held child (the pipe closes), the parent
 * reports its end and then answers each later connection with one line. */
static int hold(void)
{
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t c = fork_flushed();
	if (c == 0) {
		close(p[1]);
		char b;
		ssize_t r = read(p[0], &b, 1);   /* blocks until the parent closes its end */
		_exit(r == 0 ? 5 : 6);
	}
	close(p[0]);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("hold: child %d waits, listening on 9100\n", (int)c);
	fflush(stdout);
	for (int n = 0;; n++) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			continue;
		if (n == 0) {
			close(p[1]);
			int st = 0;
			pid_t w = waitpid(c, &st, 0);
			say_status("hold", w, st);
		}
		char line[64];
		int len = snprintf(line, sizeof line, "processes of pid %d: 1\n", (int)getpid());
		if (write(fd, line, (size_t)len) < 0)
			printf("write: %s\n", strerror(errno));
		close(fd);
	}
}

/* The bytes pid 1 sends the reader in "tree": byte i of the stream. */
static unsigned char tree_byte(size_t i)
{
	return (unsigned char)(i * 13 + 5);
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

#define TREE_BEFORE 5000    /* bytes in the data pipe, unread, while the tree waits */
#define TREE_AFTER  70000   /* bytes after the go: more than a pipe holds */

/* "tree", the reader (pid 4): blocked reading the go pipe, SIGUSR1 pending, bytes waiting. */
static void tree_reader(int go, int data)
{
	char g;
	ssize_t n = read(go, &g, 1);
	printf("reader: pid %d ppid %d, go %d\n", (int)getpid(), (int)getppid(), (int)n);
	unsigned long total = 0, wrong = 0;
	unsigned char buf[4096];
	ssize_t r;
	while ((r = read(data, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != tree_byte(total + (size_t)i))
				wrong++;
		total += (unsigned long)r;
	}
	printf("reader: %lu bytes, %lu wrong, then %s\n", total, wrong, r == 0 ? "EOF" : strerror(errno));
	sigset_t pending, usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigpending(&pending);
	printf("reader: SIGUSR1 pending %d\n", sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	getpid();   /* a pending signal runs at the next system call */
	printf("reader: SIGUSR1 handled %d\n", (int)usr1_seen);
	fflush(stdout);
	_exit(44);
}

/* "tree", the middle (pid 2): a zombie (pid 3) it has not reaped, blocked in waitpid for the reader. */
static void tree_middle(int go, int data, int ready)
{
	pid_t z = fork_flushed();
	if (z == 0)
		_exit(3);
	siginfo_t si;
	waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT);   /* it ended; its zombie stays */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);   /* the reader inherits the mask and the handler */
	signal(SIGUSR1, on_usr1);
	pid_t rd = fork_flushed();
	if (rd == 0)
		tree_reader(go, data);
	kill(rd, SIGUSR1);   /* pending in the reader until it unblocks it */
	if (write(ready, "m", 1) != 1)
		_exit(9);
	int st = 0;
	pid_t w = waitpid(rd, &st, 0);
	say_status("middle", w, st);
	w = waitpid(-1, &st, 0);
	say_status("middle, the zombie", w, st);
	errno = 0;
	w = waitpid(-1, &st, WNOHANG);
	printf("middle: pid %d ppid %d, then %d %s\n", (int)getpid(), (int)getppid(), (int)w,
	       errno == ECHILD ? "ECHILD" : strerror(errno));
	fflush(stdout);
	_exit(2);
}

static int write_tree_bytes(int fd, size_t from, size_t n)
{
	unsigned char buf[4096];
	for (size_t done = 0; done < n;) {
		size_t len = n - done < sizeof buf ? n - done : sizeof buf;
		for (size_t i = 0; i < len; i++)
			buf[i] = tree_byte(from + done + i);
		ssize_t w = write(fd, buf, len);
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/*
 * "tree": pid 1 waits for a connection on port 9100 while its tree waits: pid 2
 * blocked in waitpid for pid 4, pid 3 its zombie, pid 4 blocked reading an
 * empty pipe with SIGUSR1 pending and 5000 bytes unread in another.  The
 * connection sets it going: the rest of the bytes, EOF, every status.
 */
static int tree(void)
{
	int data[2], go[2], ready[2];
	if (pipe(data) < 0 || pipe(go) < 0 || pipe(ready) < 0)
		return 1;
	pid_t middle = fork_flushed();
	if (middle == 0) {
		close(data[1]);
		close(go[1]);
		close(ready[0]);
		tree_middle(go[0], data[0], ready[1]);
	}
	close(data[0]);
	close(go[0]);
	close(ready[1]);
	char m;
	if (write_tree_bytes(data[1], 0, TREE_BEFORE) || read(ready[0], &m, 1) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("tree: pid %d, middle %d ready, listening on 9100\n", (int)getpid(), (int)middle);
	fflush(stdout);
	int fd = accept(s, NULL, NULL);
	if (fd < 0 || write(go[1], "g", 1) != 1 || write_tree_bytes(data[1], TREE_BEFORE, TREE_AFTER))
		return 1;
	close(data[1]);
	int st = 0;
	pid_t w = waitpid(middle, &st, 0);
	say_status("tree", w, st);
	const char line[] = "tree done\n";
	if (write(fd, line, sizeof line - 1) < 0)
		printf("write: %s\n", strerror(errno));
	/* Our FIN must reach the client before the capsule ends: wait for its own. */
	shutdown(fd, SHUT_WR);
	while (read(fd, &m, 1) > 0)
		;
	close(fd);
	printf("tree: done\n");
	return 12;
}

/* Byte i of the "stream" pattern: no period a pipe's ring could hide a lost or repeated block in. */
static unsigned char stream_byte(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ i >> 17);
}

/*
 * "stream": a child writes the pattern into a pipe without end, pid 1 reads
 * and checks every byte while it waits for a connection on port 9100; the
 * connection ends it: pid 1 closes the pipe, the child's write fails with
 * EPIPE, and pid 1 reports what it saw.  Wake-ups cross between the two
 * processes all the time, so a snapshot freezes them with some in flight.
 */
static int stream(void)
{
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t c = fork_flushed();
	if (c == 0) {
		signal(SIGPIPE, SIG_IGN);
		close(p[0]);
		unsigned char buf[3000];   /* not a divisor of the ring: writes straddle its end */
		for (uint64_t at = 0;;) {
			for (size_t i = 0; i < sizeof buf; i++)
				buf[i] = stream_byte(at + i);
			ssize_t w = write(p[1], buf, sizeof buf);
			if (w < 0)
				_exit(errno == EPIPE ? 32 : 33);
			at += (uint64_t)w;
			if ((size_t)w < sizeof buf)   /* a short write: the rest next time, at its offset */
				continue;
		}
	}
	close(p[1]);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	uint64_t got = 0, wrong = 0;
	int said = 0;
	unsigned char buf[8192];
	for (;;) {
		struct pollfd fds[2] = { { p[0], POLLIN, 0 }, { s, POLLIN, 0 } };
		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[1].revents & POLLIN)
			break;
		ssize_t r = read(p[0], buf, sizeof buf);
		if (r <= 0) {
			printf("stream: read %d at byte %llu: %s\n", (int)r, (unsigned long long)got,
			       r ? strerror(errno) : "EOF");
			return 1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != stream_byte(got + (uint64_t)i))
				wrong++;
		got += (uint64_t)r;
		if (!said && got >= (1u << 20)) {
			printf("stream: flowing\n");
			fflush(stdout);
			said = 1;
		}
	}
	int fd = accept(s, NULL, NULL);
	close(p[0]);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	printf("stream: %s, %llu wrong\n", got >= (1u << 20) ? "more than 1 MiB" : "less than 1 MiB",
	       (unsigned long long)wrong);
	say_status("stream", w, st);
	const char line[] = "stream done\n";
	if (fd < 0 || write(fd, line, sizeof line - 1) < 0)
		printf("write: %s\n", strerror(errno));
	shutdown(fd, SHUT_WR);
	char m;
	while (read(fd, &m, 1) > 0)
		;
	close(fd);
	return 13;
}

/* A page's bytes in "memkid": its index and generation, then a pattern of both. */
static void kid_fill(unsigned char *page, uint64_t index, uint64_t gen)
{
	memcpy(page, &index, 8);
	memcpy(page + 8, &gen, 8);
	for (size_t i = 16; i < 4096; i++)
		page[i] = (unsigned char)(index * 31 + gen * 7 + i);
}

static int kid_ok(const unsigned char *page, uint64_t index, uint64_t gen)
{
	unsigned char want[4096];
	kid_fill(want, index, gen);
	return memcmp(page, want, sizeof want) == 0;
}

/*
 * "memkid MIB": a child fills MIB MiB and keeps rewriting 40 of its pages
 * every 10 ms (each with its generation, kept in an array of its own
 * memory); pid 1 listens on 9100.  A connection makes pid 1 ask the child
 * to check every page, and report; so the child's memory must come through
 * migrations whole, pre-copied while it changes.
 */
static int memkid(int mib)
{
	int ctl[2], res[2];
	if (mib < 1 || pipe(ctl) < 0 || pipe(res) < 0)
		return 1;
	size_t npages = (size_t)mib << 8;
	pid_t c = fork_flushed();
	if (c == 0) {
		unsigned char *mem = malloc(npages * 4096);
		uint64_t *gen = calloc(npages, sizeof *gen);
		if (!mem || !gen)
			_exit(2);
		for (size_t i = 0; i < npages; i++)
			kid_fill(mem + i * 4096, i, 0);
		if (write(res[1], "r", 1) != 1)
			_exit(3);
		for (size_t next = 0;;) {
			struct pollfd pf = { ctl[0], POLLIN, 0 };
			if (poll(&pf, 1, 10) > 0)
				break;
			for (int k = 0; k < 40; k++, next = (next + 1) % npages)
				kid_fill(mem + next * 4096, next, ++gen[next]);
		}
		size_t wrong = 0;
		for (size_t i = 0; i < npages; i++)
			wrong += !kid_ok(mem + i * 4096, i, gen[i]);
		char line[96];
		int n = snprintf(line, sizeof line, "memkid: %zu pages, %zu wrong\n", npages, wrong);
		_exit(write(res[1], line, (size_t)n) == n && wrong == 0 ? 0 : 1);
	}
	char r;
	if (read(res[0], &r, 1) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0) {
		printf("listen: %s\n", strerror(errno));
		return 1;
	}
	printf("memkid: child %d touched %d MiB, listening on 9100\n", (int)c, mib);
	fflush(stdout);
	int fd = accept(s, NULL, NULL);
	char line[96];
	ssize_t n = write(ctl[1], "c", 1) == 1 ? read(res[0], line, sizeof line - 1) : -1;
	line[n > 0 ? n : 0] = 0;
	printf("%s", line);
	int st = 0;
	pid_t w = waitpid(c, &st, 0);
	say_status("memkid", w, st);
	const char done[] = "memkid done\n";
	if (fd < 0 || write(fd, done, sizeof done - 1) < 0)
		printf("write: %s\n", strerror(errno));
	shutdown(fd, SHUT_WR);
	while (read(fd, &r, 1) > 0)
		;
	close(fd);
	return 14;
}

/* "bench N": N times fork + _exit + waitpid, then 64 MiB through a pipe from a child; the averages. */
static int bench(int n)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(0);
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
	int p[2];
	if (pipe(p) < 0)
		return 1;
	const size_t total = 64u << 20;
	static char buf[65536];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t c = fork();
	if (c == 0) {
		close(p[0]);
		for (size_t done = 0; done < total; done += sizeof buf)
			if (write(p[1], buf, sizeof buf) != (ssize_t)sizeof buf)
				_exit(1);
		_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], buf, sizeof buf)) > 0)
		got += (size_t)r;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int st;
	waitpid(c, &st, 0);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("bench: fork+exit+wait %.0f us (%d rounds); pipe %.0f MiB/s (%zu bytes)\n", us, n,
	       (double)got / s / (1 << 20), got);
	return 0;
}

/*
 * "unran DEPTH": a pipe and a socket pair whose only other ends a child holds
 * that never runs (the test starts caprun with CAPSULE_TEST_FORK_HELD and
 * kills that child from outside): both must read end of file.  DEPTH 2 does
 * it in a child of pid 1, so pid 1 handles the loss, not the reader.
 */
static int unran(int depth)
{
	if (depth > 1) {
		pid_t c = fork_flushed();
		if (c == 0)
			_exit(unran(depth - 1));
		int st = 0;
		pid_t got = waitpid(c, &st, 0);
		say_status("unran", got, st);
		return 0;
	}
	int p[2], sp[2];
	if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		return 1;
	pid_t c = fork_flushed();
	if (c == 0) {
		static const char never[] = "unran: the held child ran\n";
		if (write(1, never, sizeof never - 1) < 0)
			_exit(2);
		_exit(1);
	}
	close(p[1]);
	close(sp[1]);
	printf("unran: forked, reading\n");
	fflush(stdout);
	char b;
	ssize_t n = read(p[0], &b, 1);
	printf("unran: pipe: %s\n", n == 0 ? "end of file" : "not the end");
	n = read(sp[0], &b, 1);
	printf("unran: socketpair: %s\n", n == 0 ? "end of file" : "not the end");
	int st = 0;
	pid_t got = waitpid(c, &st, 0);
	say_status("unran", got, st);
	return 0;
}

/* "orphan": a grandchild whose parent exits first is re-parented to pid 1 (getppid says so). */
static int orphan(void)
{
	pid_t a = fork_flushed();
	if (a == 0) {
		pid_t g = fork_flushed();
		if (g == 0) {
			pid_t was = getppid();
			for (int i = 0; i < 1000 && getppid() == was; i++)
				usleep(10000);   /* until its parent is gone (Linux: the same) */
			printf("orphan: parent gone, ppid now %d\n", (int)getppid());
			fflush(stdout);
			_exit(0);
		}
		_exit(0);
	}
	int st;
	waitpid(a, &st, 0);
	pid_t o = waitpid(-1, &st, 0);   /* the orphan is ours now, as init's */
	printf("pid 1 reaped the orphan: %s, exit %d\n", o > 0 ? "yes" : strerror(errno), WEXITSTATUS(st));
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, NULL);
	if (argc > 1 && strcmp(argv[1], "hold") == 0)
		return hold();
	if (argc > 1 && strcmp(argv[1], "tree") == 0)
		return tree();
	if (argc > 1 && strcmp(argv[1], "stream") == 0)
		return stream();
	if (argc > 2 && strcmp(argv[1], "bench") == 0)
		return bench(atoi(argv[2]));
	if (argc > 2 && strcmp(argv[1], "memkid") == 0)
		return memkid(atoi(argv[2]));
	if (argc > 2 && strcmp(argv[1], "unran") == 0)
		return unran(atoi(argv[2]));
	if (argc > 1 && strcmp(argv[1], "orphan") == 0)
		return orphan();
	printf("start: pid %d ppid %d\n", (int)getpid(), (int)getppid());
	exit_and_wait();
	signal_and_grandchild();
	if (argc > 1 && strcmp(argv[1], "pipe") == 0) {
		pipe_across_fork();
		fflush(stdout);
		pid_t v = vfork();   /* a capsule makes it a fork: the same for a child that only exits */
		if (v == 0)
			_exit(9);
		int st = 0;
		pid_t w = waitpid(v, &st, 0);
		say_status("vfork", w, st);
		/* kill() to a child: SIGTERM's default action there, and SIGKILL from the host. */
		int q[2];
		if (pipe(q) < 0)
			return 1;
		for (int k = 0; k < 2; k++) {
			pid_t c = fork_flushed();
			if (c == 0) {
				char b;
				close(q[1]);
				ssize_t n = read(q[0], &b, 1);   /* never returns: nobody writes or closes */
				_exit(n == 0 ? 20 : 21);
			}
			printf("kill %s: %d\n", k ? "SIGKILL" : "SIGTERM", kill(c, k ? SIGKILL : SIGTERM));
			w = waitpid(c, &st, 0);
			say_status("kill", w, st);
		}
		close(q[0]);
		close(q[1]);
		errno = 0;
		int k = kill(4242, SIGTERM);
		printf("kill a stranger: %d %s\n", k, errno == ESRCH ? "ESRCH" : strerror(errno));
		socketpair_across_fork();
		shared_memory_across_fork();
	}
	printf("done\n");
	return 0;
}
