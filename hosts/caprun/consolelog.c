/* consolelog.c: a detached capsule's console kept in RUN_DIR/NAME.log and NAME.log.1, bounded: the keeper process that writes them. */
#include "hosts/caprun/consolelog.h"
#include "hosts/formats/ctlproto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEPER_WAIT_MS 5000   /* at caprun's end: for the keeper to write the last of the pipe */

struct logfiles {
	char cur[PATH_MAX], old[PATH_MAX], fresh[PATH_MAX];   /* NAME.log, NAME.log.1, NAME.log.new */
};

static pid_t keeper_pid = -1;

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
static _Noreturn void keep(const struct logfiles *f, size_t size)
{
	static char buf[65536];
	size_t used = 0;   /* bytes in the current NAME.log */
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
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "caprun: -d: fork: %s\n", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		/* Nothing else stays open here: a control socket or TUN device held by the keeper
		 * would outlive caprun.  (fds 0-2 are open, so p[0] and fd are above them.) */
		if (dup2(p[0], 0) < 0 || dup2(fd, 1) < 0)
			_exit(1);
		close_range(2, ~0U, 0);
		keep(&f, size);
	}
	close(p[0]);
	close(fd);
	p[0] = fd = -1;
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

void consolelog_finish(void)
{
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
