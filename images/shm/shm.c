/* shm.c: POSIX named shared memory between processes: shm_open, ftruncate, fstat, mmap MAP_SHARED, pread/pwrite, shm_unlink, with Linux's errors, an object freed when its last holder is killed; the output equals the same program's on Linux; "hold" keeps an object mapped by two processes across a snapshot. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE 100000
#define ADDS 100000
#define PATTERN_AT 4096

/* The object's first bytes, as both processes see them. */
struct head {
	uint64_t counter;
	char message[64];
};

static char name[64];

static const char *err_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EBADF: return "EBADF";
	default: return strerror(e);
	}
}

static void say_result(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, err_name(errno));
	else
		printf("%s: %ld\n", what, r);
}

static pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

static size_t pattern_wrong(const unsigned char *p, size_t size)
{
	size_t wrong = 0;
	for (size_t i = PATTERN_AT; i < size; i++)
		wrong += p[i] != pattern(i);
	return wrong;
}

static void say_stat(const char *what, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		printf("%s: fstat: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: size %lld, regular %s, mode %o, links %d\n", what, (long long)st.st_size,
	       S_ISREG(st.st_mode) ? "yes" : "no", (unsigned)(st.st_mode & 0777), (int)st.st_nlink);
}

static void *map(int fd, size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("mmap: %s\n", strerror(errno));
		exit(1);
	}
	return p;
}

/* A child opens the object by its name (it does not use what it inherited) and adds. */
static int child_by_name(struct head *inherited)
{
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0) {
		printf("child: shm_open: %s\n", strerror(errno));
		return 1;
	}
	unsigned char *q = map(fd, SIZE, PROT_READ | PROT_WRITE);
	close(fd);
	struct head *h = (struct head *)q;
	for (int i = 0; i < ADDS; i++)
		__atomic_fetch_add(&h->counter, 1, __ATOMIC_SEQ_CST);
	q[SIZE - 1] = 0x5a;
	printf("child: pattern %zu wrong, its own mapping and the inherited one the same bytes: %s\n",
	       pattern_wrong(q, SIZE - 1), ((unsigned char *)inherited)[SIZE - 1] == 0x5a ? "yes" : "no");
	snprintf(h->message, sizeof h->message, "hello from the child");
	munmap(q, SIZE);
	fflush(stdout);
	return 0;
}

static void errors_and_sizes(int fd, struct head *h)
{
	errno = 0;
	say_result("open again with O_CREAT|O_EXCL", shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600));
	/* pread and pwrite see the mapping's bytes. */
	if (pwrite(fd, "abc", 3, 50000) != 3)
		printf("pwrite: %s\n", strerror(errno));
	printf("pwrite, then the mapping: %.3s\n", (char *)h + 50000);
	char buf[16];
	say_result("pread at the end", pread(fd, buf, sizeof buf, SIZE - 5));
	int ro = shm_open(name, O_RDONLY, 0);
	say_result("ftruncate of a read-only descriptor", ftruncate(ro, 10));
	void *w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
	printf("writable MAP_SHARED of a read-only descriptor: %s\n",
	       w == MAP_FAILED ? err_name(errno) : "mapped");
	struct head *r = map(ro, SIZE, PROT_READ);
	printf("read-only mapping: counter %llu\n", (unsigned long long)r->counter);
	munmap(r, SIZE);
	close(ro);
}

static void after_unlink(int fd, struct head *h)
{
	say_result("shm_unlink", shm_unlink(name));
	say_result("open after unlink", shm_open(name, O_RDWR, 0));
	say_result("shm_unlink again", shm_unlink(name));
	say_stat("still open", fd);
	pid_t c = fork_flushed();
	if (c == 0) {
		snprintf(h->message, sizeof h->message, "after unlink");
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("a child writes the unlinked object's pages: %s\n", h->message);
}

/* The name again: a new, empty object; shrinking then growing reads zeros. */
static void the_name_again(void)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0640);
	if (fd < 0) {
		printf("the name again: %s\n", strerror(errno));
		return;
	}
	say_stat("the name again", fd);
	if (ftruncate(fd, 8192) < 0)
		printf("ftruncate: %s\n", strerror(errno));
	unsigned char *m = map(fd, 8192, PROT_READ | PROT_WRITE);
	memset(m, 0xff, 8192);
	if (ftruncate(fd, 100) < 0 || ftruncate(fd, 8192) < 0)
		printf("ftruncate: %s\n", strerror(errno));
	size_t ones = 0, zeros = 0;
	for (size_t i = 0; i < 8192; i++) {
		ones += i < 100 && m[i] == 0xff;
		zeros += i >= 100 && m[i] == 0;
	}
	printf("shrunk to 100, grown to 8192: %zu bytes kept, %zu zeros\n", ones, zeros);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", name);
	struct stat st;
	say_result("stat by path", stat(path, &st));
	printf("stat by path: size %lld\n", (long long)st.st_size);
	munmap(m, 8192);
	close(fd);
	say_result("shm_unlink", shm_unlink(name));
	say_result("stat by path after unlink", stat(path, &st));
}

/*
 * An unlinked 40 MiB object whose last holder is killed (SIGKILL: it closes
 * nothing itself) is gone: another one of 40 MiB fits, where two could not.
 */
static void killed_holder(void)
{
	const off_t big = 40 << 20;
	int ready[2];
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, big) < 0 || pipe(ready) < 0) {
		printf("killed holder: %s\n", strerror(errno));
		return;
	}
	pid_t c = fork_flushed();
	if (c == 0) {
		unsigned char *m = map(fd, (size_t)big, PROT_READ | PROT_WRITE);
		m[big - 1] = 1;
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	char b;
	if (read(ready[0], &b, 1) != 1)
		return;
	shm_unlink(name);
	close(fd);
	kill(c, SIGKILL);
	int st = 0;
	waitpid(c, &st, 0);
	printf("the last holder of an unlinked object: killed by signal %d\n", WTERMSIG(st));
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	say_result("another object as large: ftruncate", ftruncate(fd, big));
	void *m = mmap(NULL, (size_t)big, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	printf("another object as large: mapped %s\n", m == MAP_FAILED ? strerror(errno) : "yes");
	if (m != MAP_FAILED)
		munmap(m, (size_t)big);
	close(fd);
	shm_unlink(name);
	close(ready[0]);
	close(ready[1]);
}

static int everything(void)
{
	say_result("open a name that does not exist", shm_open(name, O_RDWR, 0));
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		printf("create: %s\n", strerror(errno));
		return 1;
	}
	say_stat("new", fd);
	say_result("ftruncate", ftruncate(fd, SIZE));
	say_stat("sized", fd);
	unsigned char *p = map(fd, SIZE, PROT_READ | PROT_WRITE);
	struct head *h = (struct head *)p;
	for (size_t i = PATTERN_AT; i < SIZE; i++)
		p[i] = pattern(i);
	pid_t c = fork_flushed();
	if (c == 0)
		_exit(child_by_name(h));
	for (int i = 0; i < ADDS; i++)
		__atomic_fetch_add(&h->counter, 1, __ATOMIC_SEQ_CST);
	int st = 0;
	waitpid(c, &st, 0);
	printf("parent: child exited %d; counter %llu; message \"%s\"\n", WEXITSTATUS(st),
	       (unsigned long long)h->counter, h->message);
	errors_and_sizes(fd, h);
	after_unlink(fd, h);
	munmap(p, SIZE);
	close(fd);
	the_name_again();
	killed_holder();
	printf("done\n");
	return 0;
}

/*
 * "hold": pid 1 and a child (which opened the object by name) map it; a
 * connection on 9100 (a snapshot or migration may come before it) has pid 1
 * write into it, the child check both writes and answer through it, and a
 * process made after that open it by name.  Then pid 1 answers and exits 11.
 */
static int hold(void)
{
	int go[2], ready[2];
	if (pipe(go) < 0 || pipe(ready) < 0)
		return 1;
	shm_unlink(name);
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 2 * SIZE) < 0)
		return 1;
	unsigned char *p = map(fd, 2 * SIZE, PROT_READ | PROT_WRITE);
	struct head *h = (struct head *)p;
	snprintf(h->message, sizeof h->message, "before the snapshot");
	for (size_t i = PATTERN_AT; i < 2 * SIZE; i++)
		p[i] = pattern(i);
	munmap(p, 2 * SIZE);   /* mapped again below: pid 1's mapping is made after the fork */
	close(fd);
	pid_t c = fork_flushed();
	if (c == 0) {
		int cfd = shm_open(name, O_RDWR, 0);
		unsigned char *q = map(cfd, 2 * SIZE, PROT_READ | PROT_WRITE);
		close(cfd);
		char b = 'r';
		if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(2);
		char saw[200];
		snprintf(saw, sizeof saw, "the child saw \"%s\" and \"%s\", pattern %zu wrong",
		         ((struct head *)q)->message, (char *)q + 500, pattern_wrong(q, 2 * SIZE));
		memcpy(q + 1000, saw, sizeof saw);
		_exit(0);
	}
	char b;
	if (read(ready[0], &b, 1) != 1)
		return 1;
	fd = shm_open(name, O_RDWR, 0);
	p = map(fd, 2 * SIZE, PROT_READ | PROT_WRITE);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(9100) };
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0)
		return 1;
	printf("shm hold: child %d maps it, listening on 9100\n", (int)c);
	fflush(stdout);
	int conn = accept(s, NULL, NULL);
	if (conn < 0)
		return 1;
	snprintf((char *)p + 500, 100, "after the resume");
	if (write(go[1], "g", 1) != 1)
		return 1;
	int st;
	waitpid(c, &st, 0);
	char line[512];
	int n = snprintf(line, sizeof line, "%s; it exited %d\n", (char *)p + 1000, WEXITSTATUS(st));
	pid_t late = fork_flushed();
	if (late == 0) {
		struct stat lst;
		int lfd = shm_open(name, O_RDWR, 0);
		_exit(lfd >= 0 && fstat(lfd, &lst) == 0 && lst.st_size == 2 * SIZE ? 0 : 1);
	}
	waitpid(late, &st, 0);
	n += snprintf(line + n, sizeof line - (size_t)n, "a process made now opens it by name: %s\n",
	              WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes, its size" : "no");
	shm_unlink(name);
	if (write(conn, line, (size_t)n) != n)
		return 1;
	shutdown(conn, SHUT_WR);
	while (read(conn, &b, 1) > 0)
		;
	close(conn);
	return 11;
}

int main(int argc, char **argv)
{
	/* Natively, runs at the same time must not meet; the name is never printed. */
	snprintf(name, sizeof name, "/capsule-shm-test.%d", (int)getpid());
	if (argc > 1 && strcmp(argv[1], "hold") == 0)
		return hold();
	return everything();
}
