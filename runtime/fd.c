/* fd.c: the capsule's descriptor table and per-kind read/write/ioctl/fcntl/stat. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>
#include "lwip-port/lp_sock.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"

struct fd_slot { struct rt_file *f; int cloexec; };

static struct fd_slot fds[RT_MAX_FDS];
static struct rt_file console_files[3];
static int fds_ready;

/* Lazy: stdio may write before __wrap_main. */
void rt_fd_init(void)
{
	if (fds_ready)
		return;
	fds_ready = 1;
	for (int i = 0; i < 3; i++) {
		console_files[i].refs = 2;   /* never freed */
		console_files[i].kind = RT_F_CONSOLE;
		console_files[i].flags = i == 0 ? O_RDONLY : O_WRONLY;
		console_files[i].console_fd = i;
		fds[i].f = &console_files[i];
	}
}

struct rt_file *rt_file_new(int kind, int flags)
{
	struct rt_file *f = calloc(1, sizeof *f);
	if (!f)
		return 0;
	f->refs = 1;
	f->kind = kind;
	f->flags = flags;
	f->sock = -1;
	return f;
}

static void file_release(struct rt_file *f)
{
	switch (f->kind) {
	case RT_F_PIPE_R: rt_pipe_close(f->pipe, 0); break;
	case RT_F_PIPE_W: rt_pipe_close(f->pipe, 1); break;
	case RT_F_TMPFILE:
	case RT_F_DIR: rt_tmpfs_unref(f->node); break;
	case RT_F_SOCKET: rt_socket_release(f); break;
	case RT_F_EPOLL: rt_epoll_release(f->ep); break;
	default: break;
	}
	if (f->kind == RT_F_CONSOLE)
		return;
	free(f);
}

void rt_file_unref(struct rt_file *f)
{
	if (--f->refs == 0)
		file_release(f);
}

int rt_fd_install(struct rt_file *f, int cloexec, int minfd)
{
	rt_fd_init();
	for (int i = minfd < 0 ? 0 : minfd; i < RT_MAX_FDS; i++) {
		if (!fds[i].f) {
			fds[i].f = f;
			fds[i].cloexec = cloexec;
			return i;
		}
	}
	return -EMFILE;
}

struct rt_file *rt_fd_get(int fd)
{
	rt_fd_init();
	if (fd < 0 || fd >= RT_MAX_FDS)
		return 0;
	return fds[fd].f;
}

long rt_sys_close(int fd)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	fds[fd].f = 0;
	rt_file_unref(f);
	return 0;
}

static int console_readable(void)
{
	int cin = 0, cout = 0, con = 0, hup = 0;
	rt_host_wait(0, 1, 0, &cin, &cout, &con, &hup);
	return con;
}

static long console_read(void *buf, size_t len, int nonblock)
{
	for (;;) {
		if (console_readable()) {
			long r = rt_host_read(CAP_FD_CONSOLE_IN, buf, len);
			if (r == -EBADF)
				return 0;    /* no console input at all: end of file */
			if (r != -EAGAIN)
				return r;
		}
		if (nonblock)
			return -EAGAIN;
		rt_console_watchers++;
		rt_wait(&rt_console_waitq, 0, "console");
		rt_console_watchers--;
	}
}

static long console_writev(int cfd, const struct rt_iovec *iov, int iovcnt)
{
	int hostfd = cfd == 2 ? CAP_FD_CONSOLE_ERR : CAP_FD_CONSOLE_OUT;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].len;
	long r = rt_host_writev(hostfd, iov, iovcnt);
	if (r == -EAGAIN || r == -EPIPE || r == -EBADF)
		return (long)total;   /* the console is best effort: never stall the capsule */
	return r;
}

static int access_ok(struct rt_file *f, int write)
{
	int acc = f->flags & O_ACCMODE;
	return write ? acc != O_RDONLY : acc != O_WRONLY;
}

/* One read or write over an iovec array; pos < 0 uses and advances the file offset. */
static long file_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int write, int64_t pos)
{
	int nonblock = (f->flags & O_NONBLOCK) != 0;
	long total = 0;
	if (iovcnt < 0 || iovcnt > 1024)
		return -EINVAL;
	switch (f->kind) {
	case RT_F_CONSOLE:
		if (write)
			return console_writev(f->console_fd, iov, iovcnt);
		break;
	case RT_F_SOCKET:
		return rt_socket_rw(f, iov, iovcnt, write);
	case RT_F_DIR:
		return write ? -EBADF : -EISDIR;
	case RT_F_EPOLL:
		return -EINVAL;
	case RT_F_TMPFILE:
		if (!access_ok(f, write))
			return -EBADF;
		break;
	case RT_F_PIPE_R:
		if (write)
			return -EBADF;
		break;
	case RT_F_PIPE_W:
		if (!write)
			return -EBADF;
		break;
	default:
		break;
	}
	for (int i = 0; i < iovcnt; i++) {
		void *b = iov[i].base;
		size_t len = iov[i].len;
		long r = 0;
		if (!len)
			continue;
		switch (f->kind) {
		case RT_F_CONSOLE:
			r = console_read(b, len, nonblock || total > 0);
			break;
		case RT_F_PIPE_R:
			r = rt_pipe_read(f->pipe, b, len, nonblock || total > 0);
			break;
		case RT_F_PIPE_W:
			r = rt_pipe_write(f->pipe, b, len, nonblock);
			break;
		case RT_F_TMPFILE: {
			uint64_t at = pos >= 0 ? (uint64_t)pos + (uint64_t)total : f->off;
			if (write && pos < 0 && (f->flags & O_APPEND))
				at = rt_tmpfs_size(f->node);
			r = write ? rt_tmpfs_write(f->node, b, len, at) : rt_tmpfs_read(f->node, b, len, at);
			if (r > 0 && pos < 0)
				f->off = at + (uint64_t)r;
			break;
		}
		case RT_F_NULL:
			r = write ? (long)len : 0;
			break;
		case RT_F_ZERO:
			if (!write)
				memset(b, 0, len);
			r = (long)len;
			break;
		case RT_F_RANDOM:
			r = write ? (long)len : rt_host_getrandom(b, len);
			break;
		default:
			r = -EBADF;
		}
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((size_t)r < len)
			break;
	}
	return total;
}

static long sys_rw(int fd, const struct rt_iovec *iov, int iovcnt, int write, int64_t pos)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (pos >= 0 && f->kind != RT_F_TMPFILE && f->kind != RT_F_NULL && f->kind != RT_F_ZERO)
		return -ESPIPE;
	return file_rw(f, iov, iovcnt, write, pos);
}

long rt_sys_read(int fd, void *buf, size_t len)
{
	struct rt_iovec v = { buf, len };
	return sys_rw(fd, &v, 1, 0, -1);
}

long rt_sys_write(int fd, const void *buf, size_t len)
{
	struct rt_iovec v = { (void *)buf, len };
	return sys_rw(fd, &v, 1, 1, -1);
}

long rt_sys_rwv(int fd, const void *iov, int iovcnt, int write)
{
	return sys_rw(fd, iov, iovcnt, write, -1);
}

long rt_sys_prw(int fd, void *buf, size_t len, long off, int write)
{
	struct rt_iovec v = { buf, len };
	if (off < 0)
		return -EINVAL;
	return sys_rw(fd, &v, 1, write, off);
}

long rt_sys_prwv(int fd, const void *iov, int iovcnt, long off, int write)
{
	if (off < 0)
		return -EINVAL;
	return sys_rw(fd, iov, iovcnt, write, off);
}

long rt_sys_lseek(int fd, long off, int whence)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (f->kind == RT_F_NULL || f->kind == RT_F_ZERO || f->kind == RT_F_RANDOM)
		return 0;
	if (f->kind != RT_F_TMPFILE && f->kind != RT_F_DIR)
		return -ESPIPE;
	int64_t base;
	switch (whence) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)f->off; break;
	case SEEK_END: base = f->kind == RT_F_TMPFILE ? (int64_t)rt_tmpfs_size(f->node) : 0; break;
	default: return -EINVAL;
	}
	if (base + off < 0)
		return -EINVAL;
	f->off = (uint64_t)(base + off);
	return (long)f->off;
}

long rt_sys_dup3(int oldfd, int newfd, int flags, int allow_same)
{
	struct rt_file *f = rt_fd_get(oldfd);
	if (!f || newfd < 0 || newfd >= RT_MAX_FDS)
		return -EBADF;
	if (flags & ~O_CLOEXEC)
		return -EINVAL;
	if (oldfd == newfd)
		return allow_same ? newfd : -EINVAL;
	if (fds[newfd].f)
		rt_sys_close(newfd);
	f->refs++;
	fds[newfd].f = f;
	fds[newfd].cloexec = (flags & O_CLOEXEC) != 0;
	return newfd;
}

long rt_sys_dup(int fd, int minfd, int cloexec)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (minfd < 0 || minfd >= RT_MAX_FDS)
		return -EINVAL;
	int r = rt_fd_install(f, cloexec, minfd);
	if (r >= 0)
		f->refs++;
	return r;
}

long rt_sys_fcntl(int fd, int cmd, long arg)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD: return rt_sys_dup(fd, (int)arg, 0);
	case F_DUPFD_CLOEXEC: return rt_sys_dup(fd, (int)arg, 1);
	case F_GETFD: return fds[fd].cloexec ? FD_CLOEXEC : 0;
	case F_SETFD: fds[fd].cloexec = (arg & FD_CLOEXEC) != 0; return 0;
	case F_GETFL: return f->flags;
	case F_SETFL:
		f->flags = (f->flags & ~(O_NONBLOCK | O_APPEND)) | ((int)arg & (O_NONBLOCK | O_APPEND));
		return 0;
	case F_GETLK: {
		struct flock *l = (struct flock *)arg;
		l->l_type = F_UNLCK;
		return 0;
	}
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return 0;     /* one process: locks always succeed */
	default:
		return -EINVAL;
	}
}

static int console_is_tty(int cfd)
{
	uint32_t fl = RT_CONTROL->console_flags;
	uint32_t bit = cfd == 0 ? CAP_CONSOLE_IN_TTY : cfd == 1 ? CAP_CONSOLE_OUT_TTY : CAP_CONSOLE_ERR_TTY;
	return (fl & bit) != 0;
}

long rt_sys_ioctl(int fd, unsigned long req, long arg)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	switch (req) {
	case FIONBIO:
		if (*(int *)arg)
			f->flags |= O_NONBLOCK;
		else
			f->flags &= ~O_NONBLOCK;
		return 0;
	case FIOCLEX:
		fds[fd].cloexec = 1;
		return 0;
	case FIONCLEX:
		fds[fd].cloexec = 0;
		return 0;
	case FIONREAD: {
		long n = 0;
		if (f->kind == RT_F_PIPE_R)
			n = rt_pipe_nread(f->pipe);
		else if (f->kind == RT_F_SOCKET)
			n = lp_nread(f->sock);
		else if (f->kind == RT_F_TMPFILE)
			n = rt_tmpfs_size(f->node) > f->off ? (long)(rt_tmpfs_size(f->node) - f->off) : 0;
		else if (f->kind != RT_F_CONSOLE)
			return -ENOTTY;
		if (n < 0)
			return n;
		*(int *)arg = (int)n;
		return 0;
	}
	case TIOCGWINSZ:
		if (f->kind != RT_F_CONSOLE || !console_is_tty(f->console_fd))
			return -ENOTTY;
		memset((void *)arg, 0, sizeof(struct winsize));
		((struct winsize *)arg)->ws_row = 24;
		((struct winsize *)arg)->ws_col = 80;
		return 0;
	case TCGETS:
		if (f->kind != RT_F_CONSOLE || !console_is_tty(f->console_fd))
			return -ENOTTY;
		memset((void *)arg, 0, sizeof(struct termios));
		return 0;
	default:
		return -ENOTTY;
	}
}

void rt_file_stat(struct rt_file *f, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 0x100;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	switch (f->kind) {
	case RT_F_TMPFILE:
	case RT_F_DIR:
		rt_tmpfs_fstat(f->node, st);
		return;
	case RT_F_CONSOLE:
		st->st_mode = S_IFCHR | 0620;
		st->st_rdev = makedev(136, 0);
		break;
	case RT_F_PIPE_R:
	case RT_F_PIPE_W:
		st->st_mode = S_IFIFO | 0600;
		st->st_blksize = 65536;
		break;
	case RT_F_SOCKET:
		st->st_mode = S_IFSOCK | 0777;
		break;
	case RT_F_NULL: st->st_mode = S_IFCHR | 0666; st->st_rdev = makedev(1, 3); break;
	case RT_F_ZERO: st->st_mode = S_IFCHR | 0666; st->st_rdev = makedev(1, 5); break;
	case RT_F_RANDOM: st->st_mode = S_IFCHR | 0666; st->st_rdev = makedev(1, 9); break;
	default: st->st_mode = 0600; break;
	}
	st->st_ino = (ino_t)(uintptr_t)f;
}

long rt_sys_fstat(int fd, struct stat *st)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	rt_file_stat(f, st);
	return 0;
}

long rt_sys_ftruncate(int fd, long len)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (f->kind != RT_F_TMPFILE || !access_ok(f, 1))
		return -EINVAL;
	if (len < 0)
		return -EINVAL;
	return rt_tmpfs_truncate(f->node, (uint64_t)len);
}

long rt_sys_getdents64(int fd, void *buf, size_t len)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (f->kind != RT_F_DIR)
		return -ENOTDIR;
	return rt_tmpfs_getdents(f->node, &f->off, buf, len);
}

/* Readiness now: the Linux POLL* bits of events, plus POLLERR/POLLHUP. */
int rt_file_poll(struct rt_file *f, int events)
{
	switch (f->kind) {
	case RT_F_CONSOLE:
		if (f->console_fd == 0)
			return (events & POLLIN) && console_readable() ? POLLIN : 0;
		return events & POLLOUT;
	case RT_F_PIPE_R: return rt_pipe_poll(f->pipe, 0, events);
	case RT_F_PIPE_W: return rt_pipe_poll(f->pipe, 1, events);
	case RT_F_SOCKET: return lp_poll(f->sock, events);
	case RT_F_EPOLL: return 0;
	default: return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
	}
}

int rt_fd_poll(int fd, int events)
{
	struct rt_file *f = rt_fd_get(fd);
	return f ? rt_file_poll(f, events) : POLLNVAL;
}
