/* fileio.c: file helpers for host tools: opening given files safely, whole-buffer pread/pwrite, prefaulted read buffers, sibling executables, a message carrying a descriptor. */
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind_of(mode_t mode)
{
	return S_ISFIFO(mode) ? "a FIFO" : S_ISCHR(mode) ? "a character device"
	       : S_ISBLK(mode) ? "a block device" : S_ISDIR(mode) ? "a directory"
	       : S_ISSOCK(mode) ? "a socket" : "not a file";
}

int fileio_open_regular(const char *path, char *err, size_t errlen)
{
	struct stat st;
	/* O_PATH opens nothing: no FIFO rendezvous, no device driver's open, works on sockets. */
	int probe = open(path, O_PATH | O_CLOEXEC);
	if (probe < 0 || fstat(probe, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (probe >= 0)
			close(probe);
		return -1;
	}
	close(probe);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file (%s)", kind_of(st.st_mode));
		return -1;
	}
	/* O_NONBLOCK: should the path have become a FIFO meanwhile, this open still returns. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file (%s)", kind_of(st.st_mode));
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, 0);   /* an ordinary blocking descriptor from here on */
	return fd;
}

int fileio_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;   /* shorter than it said: changed under us */
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int fileio_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int fileio_copy_range(int in, uint64_t in_off, int out, uint64_t out_off, uint64_t len)
{
	uint8_t buf[16384];
	while (len) {
		size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
		if (fileio_pread_full(in, buf, n, in_off) || fileio_pwrite_full(out, buf, n, out_off))
			return -1;
		in_off += n;
		out_off += n;
		len -= n;
	}
	return 0;
}

int fileio_sibling_exe(const char *name, char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -1;
	self[n] = 0;
	if ((size_t)snprintf(out, len, "%s/%s", dirname(self), name) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return access(out, X_OK);
}

#ifndef MADV_POPULATE_WRITE   /* Linux 5.14; musl 1.2.3's headers are older */
#define MADV_POPULATE_WRITE 23
#endif

void fileio_prefault(void *buf, size_t len)
{
	/* The whole pages around it: they are all the caller's (its malloc's) to touch, and a
	 * page already there is left as it is. */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t from = (uintptr_t)buf & ~(page - 1);
	uintptr_t to = ((uintptr_t)buf + len + page - 1) & ~(page - 1);
	if (buf && len)
		(void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
}

long fileio_send_with_fd(int sock, const void *buf, size_t len, int pass_fd)
{
	struct iovec iov = { (void *)buf, len };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof ctl.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof pass_fd);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL);
}
