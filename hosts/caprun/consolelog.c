/* consolelog.c: a detached capsule's console kept in RUN_DIR/NAME.log and NAME.log.1, bounded: the keeper process that writes them. */
#include "hosts/caprun/consolelog.h"
#include "hosts/formats/ctlproto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEPER_WAIT_MS 5000   /* at caprun's end: for the keeper to write the last of the pipe */
#define KEEPER_QUICK_MS 1000  /* a keeper that dies sooner than this after its start ... */
#define KEEPER_QUICK_MAX 5    /* ... this many times running is not started again */

struct logfiles {
	char cur[PATH_MAX], old[PATH_MAX], fresh[PATH_MAX];   /* NAME.log, NAME.log.1, NAME.log.new */
};

static pid_t keeper_pid = -1;
static int spare_reader = -1;        /* caprun's own read end of the console pipe (never read) */
static const struct logfiles *keeper_files;
static size_t keeper_size;
static struct timespec keeper_started;
static int keeper_quick_deaths;

/*
 * A new NAME.log, empty and locked before anyone can find it under that name; the one
 * it replaces becomes NAME.log.1 (rotate) or goes with the old NAME.log.1 (a fresh
 * start).  Its descriptor, or -1 with errno.
 */
static int fresh_file(const struct logfiles *f, int rotate)
{
	int fd = open(f->fresh, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0 ||
	    (rotate ? rename(f->cur, f->old) < 0 : (unlink(f->old) < 0 && errno != ENOENT)) ||
	    rename(f->fresh, f->cur) < 0) {
		int e = errno;
		close(fd);
		unlink(f->fresh);
		errno = e;
		return -1;
	}
	return fd;
}

/* All of it to fd 1 (the current NAME.log); what cannot be written (a full disk) is dropped. */
static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* The keeper: the console's pipe on fd 0, the current NAME.log on fd 1, until every writer is gone. */
static _Noreturn void keep(const struct logfiles *f, size_t size, size_t used)
{
	static char buf[65536];   /* used: bytes already in the current NAME.log */
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		const char *p = buf;
		size_t left = (size_t)n;
		while (left) {
			size_t room = size - used, take = left;
			if (left > room) {
				/* Whole lines where they fit; a line longer than a file is cut at its size. */
				const char *nl = room ? memrchr(p, '\n', room) : NULL;
				take = nl ? (size_t)(nl - p) + 1 : used ? 0 : room;
			}
			write_all(p, take);
			used += take;
			p += take;
			left -= take;
			if (left) {
				int fd = fresh_file(f, 1);
				if (fd >= 0) {
					dup2(fd, 1);   /* lets go of the old file, and its lock, only now */
					close(fd);
				} else if (ftruncate(1, 0) < 0) {
					/* cannot rotate: start this file over, so the bound holds */
				}
				used = 0;
			}
		}
	}
}

/* A keeper reading the console from in, appending to file (used bytes in it already). */
static pid_t fork_keeper(int in, int file, const struct logfiles *f, size_t size, size_t used)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* Nothing else stays open here: a control socket or TUN device held by the keeper
		 * would outlive caprun.  (fds 0-2 are open, so in and file are above them.) */
		if (dup2(in, 0) < 0 || dup2(file, 1) < 0)
			_exit(1);
		syscall(SYS_close_range, 2, ~0U, 0);   /* musl 1.2.3 has no wrapper */
		keep(f, size, used);
	}
	return pid;
}

int consolelog_start(const char *name, size_t size)
{
	static struct logfiles f;
	const char *dir = ctlsock_run_dir();
	if (snprintf(f.cur, sizeof f.cur, "%s/%s%s", dir, name, HOST_LOG_SUFFIX) >= (int)sizeof f.cur ||
	    snprintf(f.old, sizeof f.old, "%s/%s%s", dir, name, HOST_LOG_OLD_SUFFIX) >= (int)sizeof f.old ||
	    snprintf(f.fresh, sizeof f.fresh, "%s/%s%s", dir, name, HOST_LOG_NEW_SUFFIX) >=
	            (int)sizeof f.fresh) {
		fprintf(stderr, "caprun: -d: %s/%s%s: %s\n", dir, name, HOST_LOG_SUFFIX,
		        strerror(ENAMETOOLONG));
		return -1;
	}
	int p[2] = { -1, -1 };
	int fd = fresh_file(&f, 0);
	int null = fd < 0 ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || null < 0 || pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "caprun: -d: %s: %s\n", fd < 0 ? f.cur : null < 0 ? "/dev/null" : "pipe",
		        strerror(errno));
		goto fail;
	}
	fflush(NULL);
	pid_t pid = fork_keeper(p[0], fd, &f, size, 0);
	if (pid < 0) {
		fprintf(stderr, "caprun: -d: fork: %s\n", strerror(errno));
		goto fail;
	}
	/* caprun keeps a read end too, which it never reads: while it lives the pipe always
	 * has a reader, so a keeper killed from outside costs no writer an EPIPE (only the
	 * bytes it had read and not written); consolelog_reaped starts a new keeper. */
	spare_reader = p[0];
	close(fd);
	p[0] = fd = -1;
	keeper_files = &f;
	keeper_size = size;
	clock_gettime(CLOCK_MONOTONIC, &keeper_started);
	if (dup2(null, 0) < 0 || dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0) {
		fprintf(stderr, "caprun: -d: console: %s\n", strerror(errno));
		goto fail;
	}
	close(null);
	close(p[1]);
	keeper_pid = pid;
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	if (fd >= 0)
		close(fd);
	if (null >= 0)
		close(null);
	return -1;
}

/* A new keeper on the console pipe, appending to the current NAME.log (0, or -1). */
static int keeper_respawn(void)
{
	const struct logfiles *f = keeper_files;
	int fd = open(f->cur, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	struct stat st;
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t used = (size_t)st.st_size < keeper_size ? (size_t)st.st_size : keeper_size;
	pid_t pid = fork_keeper(spare_reader, fd, f, keeper_size, used);
	close(fd);
	if (pid < 0)
		return -1;
	keeper_pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &keeper_started);
	return 0;
}

int consolelog_reaped(pid_t pid)
{
	if (pid <= 0 || pid != keeper_pid)
		return 0;
	keeper_pid = -1;
	if (spare_reader < 0)
		return 1;   /* caprun is finishing: nothing to keep any more */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long lived_ms = (now.tv_sec - keeper_started.tv_sec) * 1000 +
	                (now.tv_nsec - keeper_started.tv_nsec) / 1000000;
	keeper_quick_deaths = lived_ms < KEEPER_QUICK_MS ? keeper_quick_deaths + 1 : 0;
	if (keeper_quick_deaths >= KEEPER_QUICK_MAX || keeper_respawn() < 0) {
		/* Give the console up: without a reader its writes fail with EPIPE, which the
		 * capsule (SIGPIPE ignored) and caprun (SIGPIPE blocked) both shrug off. */
		close(spare_reader);
		spare_reader = -1;
	}
	return 1;
}

void consolelog_finish(void)
{
	if (spare_reader >= 0) {
		close(spare_reader);
		spare_reader = -1;
	}
	if (keeper_pid < 0)
		return;
	fflush(NULL);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 1);
		dup2(null, 2);
		close(null);
	}
	/* The keeper reads the end of the pipe now: the capsule, its other writer, was reaped. */
	int pidfd = (int)syscall(SYS_pidfd_open, keeper_pid, 0);
	if (pidfd >= 0) {
		struct pollfd pf = { .fd = pidfd, .events = POLLIN };
		while (poll(&pf, 1, KEEPER_WAIT_MS) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	waitpid(keeper_pid, NULL, WNOHANG);
	keeper_pid = -1;
}
