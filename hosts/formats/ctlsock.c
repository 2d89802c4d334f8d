/* ctlsock.c: the control socket's plumbing, shared by caprun (listen) and capctl (request). */
#include "hosts/formats/ctlproto.h"
#include "hosts/common/clock.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * 1 if we are in pid 1's network namespace, 0 if not, -1 if we cannot tell.  Its
 * /proc/1/ns/net needs ptrace access to pid 1, which root lacks in some containers;
 * /proc/1/net does not, and each namespace has its own /proc/net/dev entry (its inode
 * is per namespace, like the namespace's own), so comparing those tells the same.
 */
static int in_first_netns(void)
{
	struct stat self, init;
	if (stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0)
		return self.st_ino == init.st_ino;
	if (stat("/proc/self/net/dev", &self) == 0 && stat("/proc/1/net/dev", &init) == 0)
		return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
	return -1;
}

const char *ctlsock_run_dir(void)
{
	static char per_netns[64];
	const char *d = getenv(HOST_RUN_DIR_ENV);
	if (d && *d)
		return d;
	/* Names are per network namespace, as the capsules' devices and addresses are: outside the
	 * first namespace, RUN_DIR/net-INODE (INODE: our namespace's); where we cannot tell, the
	 * shared directory. */
	if (!per_netns[0]) {
		struct stat self;
		snprintf(per_netns, sizeof per_netns, "%s", HOST_RUN_DIR_DEFAULT);
		if (in_first_netns() == 0 && stat("/proc/self/ns/net", &self) == 0)
			snprintf(per_netns, sizeof per_netns, "%s/net-%llu", HOST_RUN_DIR_DEFAULT,
			         (unsigned long long)self.st_ino);
	}
	return per_netns;
}

void ctlsock_release_dir(void)
{
	const char *d = ctlsock_run_dir();
	if (strncmp(d, HOST_RUN_DIR_DEFAULT "/net-", strlen(HOST_RUN_DIR_DEFAULT "/net-")) == 0)
		rmdir(d);   /* ENOTEMPTY while anything else is there: then it stays */
}

int ctlsock_path(const char *name, char *out, size_t len)
{
	struct sockaddr_un sa;
	size_t max = len < sizeof sa.sun_path ? len : sizeof sa.sun_path;
	int n = snprintf(out, len, "%s/%s%s", ctlsock_run_dir(), name, HOST_CTL_SUFFIX);
	return n < 0 || (size_t)n >= max ? -1 : 0;
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa->sun_path)
		return -1;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* mkdir -p, each new level 0755 (the sockets themselves are 0600). */
static int make_dirs(const char *dir)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -1;
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* 0 if something accepts connections at path, else -1. */
static int probe(const char *path)
{
	struct sockaddr_un sa;
	if (make_addr(path, &sa))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int r = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? -1 : 0;
	close(fd);
	return r;
}

int ctlsock_name_live(const char *name)
{
	char path[PATH_MAX];
	return ctlsock_path(name, path, sizeof path) == 0 && probe(path) == 0;
}

int ctlsock_listen(const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct sockaddr_un sa;
	if (ctlsock_path(name, path, sizeof path) || make_addr(path, &sa)) {
		snprintf(err, errlen, "%s/%s%s: path too long for a socket", ctlsock_run_dir(), name,
		         HOST_CTL_SUFFIX);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* umask-independent 0600: bind creates the file with the process's fchmod'able mode. */
	mode_t old = umask(0177);
	int r = -1;
	errno = ENOENT;
	/* A per-namespace directory may vanish between our mkdir and bind (the last caprun in
	 * it leaving, ctlsock_release_dir): make it again. */
	for (int tries = 0; r < 0 && errno == ENOENT && tries < 3; tries++) {
		if (make_dirs(ctlsock_run_dir())) {
			umask(old);
			close(fd);
			snprintf(err, errlen, "%s: %s", ctlsock_run_dir(), strerror(errno));
			return -1;
		}
		r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	}
	if (r < 0 && errno == EADDRINUSE) {
		if (probe(path) == 0) {
			umask(old);
			close(fd);
			snprintf(err, errlen, "capsule name %s in use (%s)", name, path);
			return -2;
		}
		unlink(path);   /* stale: its caprun died without removing it */
		r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	}
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait for fd to be ready for events, until deadline (0: forever).  0, or -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int t = -1;
		if (deadline) {
			int64_t left = deadline - clock_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			t = (int)left;
		}
		struct pollfd p = { fd, events, 0 };
		int n = poll(&p, 1, t);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Send the request; the first byte carries pass_fd (SCM_RIGHTS) if >= 0. */
static int send_request(int fd, const char *req, int pass_fd)
{
	size_t n = strlen(req);
	for (size_t done = 0; done < n;) {
		long w = fileio_send_with_fd(fd, req + done, n - done, done == 0 ? pass_fd : -1);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

int ctlsock_request(const char *path, const char *req, int pass_fd, char *reply, size_t len,
                     int timeout_ms)
{
	struct sockaddr_un sa;
	if (make_addr(path, &sa)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int64_t deadline = timeout_ms ? clock_now_ms() + timeout_ms : 0;
	int r = 0;
	size_t got = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		r = -1;
		goto out;
	}
	if ((r = send_request(fd, req, pass_fd)))
		goto out;
	while (got + 1 < len) {
		if ((r = wait_fd(fd, POLLIN, deadline)))
			goto out;
		ssize_t m = recv(fd, reply + got, len - 1 - got, 0);
		if (m < 0 && errno == EINTR)
			continue;
		if (m < 0) {
			r = -1;
			goto out;
		}
		if (m == 0)
			break;
		got += (size_t)m;
		if (memchr(reply, '\n', got))
			break;
	}
	reply[got] = 0;
	char *nl = strchr(reply, '\n');
	if (nl)
		*nl = 0;
	else if (got == 0) {
		errno = ECONNRESET;   /* closed without a word */
		r = -1;
	}
out:;
	int e = errno;   /* close must not hide why the request failed */
	close(fd);
	errno = e;
	return r;
}
