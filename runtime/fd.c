/* fd.c: the capsule's descriptor table; each call goes through the file's operations table (rt_fd.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_sys.h"

#define RT_MAX_IOV 1024

struct fd_slot { struct rt_file *f; int cloexec; };

/* Untouched slots cost nothing: .bss pages never written stay holes in the memfd. */
static struct fd_slot fds[RT_MAX_FDS];
static int fds_ready;
static int fd_capacity = RT_DEFAULT_FDS;
static int fd_soft = RT_DEFAULT_FDS, fd_hard = RT_DEFAULT_FDS;
static int fd_high = 3;

void rt_fd_set_capacity(int n)
{
	if (n <= 0)
		n = RT_DEFAULT_FDS;
	if (n > RT_MAX_FDS)
		n = RT_MAX_FDS;
	fd_capacity = fd_soft = fd_hard = n;
}

int rt_fd_capacity(void)
{
	return fd_capacity;
}

int rt_fd_limit(void)
{
	return fd_soft;
}

int rt_fd_high_water(void)
{
	return fd_high;
}

long rt_fd_getrlimit(uint64_t *cur, uint64_t *max)
{
	*cur = (uint64_t)fd_soft;
	*max = (uint64_t)fd_hard;
	return 0;
}

long rt_fd_setrlimit(uint64_t cur, uint64_t max)
{
	if (cur > max)
		return -EINVAL;
	if (max > (uint64_t)fd_capacity)
		return -EPERM;   /* as Linux above fs.nr_open: the capsule has no more to give */
	fd_soft = (int)cur;
	fd_hard = (int)max;
	return 0;
}

static void note_used(int fd)
{
	if (fd >= fd_high)
		fd_high = fd + 1;
}

/* Lazy: stdio may write before __wrap_main. */
void rt_fd_init(void)
{
	if (fds_ready)
		return;
	fds_ready = 1;
	for (int i = 0; i < 3; i++)
		fds[i].f = rt_console_file(i);
}

struct rt_file *rt_file_new(const struct rt_file_ops *ops, int flags)
{
	static uint64_t last_serial;
	struct rt_file *f = calloc(1, sizeof *f);
	if (!f)
		return 0;
	f->serial = ++last_serial;
	f->refs = 1;
	f->ops = ops;
	f->flags = flags;
	f->handle = -1;
	return f;
}

void rt_file_unref(struct rt_file *f)
{
	if (--f->refs)
		return;
	if (f->ops->release)
		f->ops->release(f);
	free(f);
}

int rt_fd_install(struct rt_file *f, int cloexec, int minfd)
{
	rt_fd_init();
	for (int i = minfd < 0 ? 0 : minfd; i < fd_soft; i++) {
		if (!fds[i].f) {
			fds[i].f = f;
			fds[i].cloexec = cloexec;
			note_used(i);
			return i;
		}
	}
	return -EMFILE;
}

long rt_fd_install_new(struct rt_file *f, int cloexec)
{
	int fd = rt_fd_install(f, cloexec, 0);
	if (fd < 0)
		rt_file_unref(f);
	return fd;
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

void rt_fd_each_file(void (*fn)(struct rt_file *f, void *arg), void *arg)
{
	static unsigned visit;
	if (++visit == 0)
		visit = 1;
	for (int i = 0; i < fd_high; i++) {
		struct rt_file *f = fds[i].f;
		if (f && f->visit != visit) {
			f->visit = visit;
			fn(f, arg);
		}
	}
}

void rt_fd_each_fd(void (*fn)(int fd, struct rt_file *f, int cloexec, void *arg), void *arg)
{
	for (int i = 0; i < fd_high; i++)
		if (fds[i].f)
			fn(i, fds[i].f, fds[i].cloexec, arg);
}

void rt_fd_exec_reset(void)
{
	rt_fd_init();
	for (int i = 0; i < 3; i++)
		fds[i].f = 0;   /* the console's files are static: nothing to release */
}

int rt_fd_install_at(struct rt_file *f, int fd, int cloexec)
{
	if (fd < 0 || fd >= fd_capacity || fds[fd].f)
		return -EBADF;
	fds[fd].f = f;
	fds[fd].cloexec = cloexec;
	note_used(fd);
	return fd;
}

void rt_fd_close_all(void)
{
	for (int i = 0; i < fd_high; i++)
		if (fds[i].f)
			rt_sys_close(i);
}

int rt_file_may(const struct rt_file *f, int write)
{
	int acc = f->flags & O_ACCMODE;
	return write ? acc != O_RDONLY : acc != O_WRONLY;
}

long rt_file_rw_each(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos, int write,
                     long (*one)(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock))
{
	int nonblock = (f->flags & O_NONBLOCK) != 0;
	long total = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t len = iov[i].len;
		if (!len)
			continue;
		/* Once a read has data, it returns what there is rather than wait for more. */
		long r = one(f, iov[i].base, len, pos >= 0 ? pos + total : -1, nonblock || (!write && total > 0));
		if (r < 0)
			return total ? total : r;
		total += r;
		if ((size_t)r < len)
			break;
	}
	return total;
}

long rt_file_dir_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	return -EISDIR;
}

long rt_file_dir_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	return -EBADF;
}

long rt_file_seek(struct rt_file *f, long off, int whence, uint64_t end)
{
	int64_t base;
	switch (whence) {
	case SEEK_SET: base = 0; break;
	case SEEK_CUR: base = (int64_t)f->off; break;
	case SEEK_END: base = (int64_t)end; break;
	default: return -EINVAL;
	}
	if (base + off < 0)
		return -EINVAL;
	f->off = (uint64_t)(base + off);
	return (long)f->off;
}

static long sys_rw(int fd, const struct rt_iovec *iov, int iovcnt, int write, int64_t pos)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (pos >= 0 && !f->ops->positional)
		return -ESPIPE;
	if (iovcnt < 0 || iovcnt > RT_MAX_IOV)
		return -EINVAL;
	long (*rw)(struct rt_file *, const struct rt_iovec *, int, int64_t) =
		write ? f->ops->write : f->ops->read;
	return rw ? rw(f, iov, iovcnt, pos) : -EINVAL;
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
	return f->ops->llseek ? f->ops->llseek(f, off, whence) : -ESPIPE;
}

long rt_sys_dup3(int oldfd, int newfd, int flags, int allow_same)
{
	struct rt_file *f = rt_fd_get(oldfd);
	if (!f || newfd < 0 || newfd >= fd_soft)
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
	note_used(newfd);
	return newfd;
}

long rt_sys_dup(int fd, int minfd, int cloexec)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	if (minfd < 0 || minfd >= fd_soft)
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
		f->flags = (f->flags & ~(O_NONBLOCK | O_APPEND | O_ASYNC)) |
		           ((int)arg & (O_NONBLOCK | O_APPEND | O_ASYNC));
		return 0;
	/*
	 * Signal-driven I/O: the owner and O_ASYNC are kept, as nginx's master sets
	 * them on its channels to its workers, but no SIGIO is sent (docs/RUNNING.md).
	 */
	case F_SETOWN: f->owner = (int)arg; return 0;
	case F_GETOWN: return f->owner;
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
	case FIOASYNC:   /* O_ASYNC, as F_SETFL (no SIGIO is sent) */
		if (*(int *)arg)
			f->flags |= O_ASYNC;
		else
			f->flags &= ~O_ASYNC;
		return 0;
	case FIOCLEX:
		fds[fd].cloexec = 1;
		return 0;
	case FIONCLEX:
		fds[fd].cloexec = 0;
		return 0;
	case FIONREAD: {
		long n = f->ops->nread ? f->ops->nread(f) : -ENOTTY;
		if (n < 0)
			return n;
		*(int *)arg = (int)n;
		return 0;
	}
	default:
		return f->ops->ioctl ? f->ops->ioctl(f, req, arg) : -ENOTTY;
	}
}

void rt_file_stat(struct rt_file *f, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 0x100;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	st->st_mode = 0600;
	st->st_ino = (ino_t)(uintptr_t)f;
	if (f->ops->fstat)
		f->ops->fstat(f, st);
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
	if (!f->ops->truncate || len < 0)
		return -EINVAL;
	return f->ops->truncate(f, (uint64_t)len);
}

long rt_sys_fsync(int fd, int datasync)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	return f->ops->fsync ? f->ops->fsync(f, datasync) : 0;
}

#define SENDFILE_CHUNK (60 * 1024)

/*
 * Read at a position from in (so a short write to out, a full socket, puts
 * back nothing), write all of it to out; in's offset (or *offset) moves by
 * what out took.  Blocks as out's write blocks; a non-blocking out gives
 * what fit, or EAGAIN if nothing did.
 */
long rt_sys_sendfile(int out_fd, int in_fd, long *offset, size_t count)
{
	struct rt_file *in = rt_fd_get(in_fd), *out = rt_fd_get(out_fd);
	if (!in || !out)
		return -EBADF;
	if (!in->ops->positional || !in->ops->read || !rt_file_may(in, 0))
		return -EINVAL;
	if (!out->ops->write || !rt_file_may(out, 1) || (out->flags & O_APPEND))
		return out->ops->write && rt_file_may(out, 1) ? -EINVAL : -EBADF;
	if (offset && *offset < 0)
		return -EINVAL;
	uint64_t pos = offset ? (uint64_t)*offset : in->off;
	char *buf = malloc(SENDFILE_CHUNK);
	if (!buf)
		return -ENOMEM;
	long total = 0, err = 0;
	while ((size_t)total < count) {
		size_t want = count - (size_t)total < SENDFILE_CHUNK ? count - (size_t)total : SENDFILE_CHUNK;
		struct rt_iovec v = { buf, want };
		long n = in->ops->read(in, &v, 1, (int64_t)(pos + (uint64_t)total));
		if (n <= 0) {
			err = n;
			break;
		}
		long sent = 0;
		while (sent < n) {
			struct rt_iovec w = { buf + sent, (size_t)(n - sent) };
			long m = out->ops->write(out, &w, 1, -1);
			if (m <= 0) {
				err = m ? m : -EIO;
				break;
			}
			sent += m;
		}
		total += sent;
		if (sent < n)
			break;
	}
	free(buf);
	if (offset)
		*offset = (long)(pos + (uint64_t)total);
	else
		in->off = pos + (uint64_t)total;
	return total ? total : err;
}

long rt_sys_getdents64(int fd, void *buf, size_t len)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	return f->ops->getdents ? f->ops->getdents(f, buf, len) : -ENOTDIR;
}

int rt_file_poll(struct rt_file *f, int events)
{
	if (!f->ops->poll)
		return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
	return f->ops->poll(f, events);
}

int rt_fd_poll(int fd, int events)
{
	struct rt_file *f = rt_fd_get(fd);
	return f ? rt_file_poll(f, events) : POLLNVAL;
}

int rt_file_watches_console(struct rt_file *f)
{
	return f && f->ops->watches_console && f->ops->watches_console(f);
}

const char *rt_file_dir_path(struct rt_file *f)
{
	return f->ops->dir_path ? f->ops->dir_path(f) : 0;
}
