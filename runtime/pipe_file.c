/* pipe_file.c: a pipe's two ends as files (their operations tables), pipe2(2), SCM_RIGHTS of an end, and a FIFO's open; the rings themselves are pipe.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_internal.h"

static long pipe_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)pos;
	return rt_pipe_read(f->priv, buf, len, nonblock);
}

static long pipe_write_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)pos;
	return rt_pipe_write(f->priv, buf, len, nonblock);
}

static long reader_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, pipe_read_one);
}

static long writer_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 1, pipe_write_one);
}

/* The wrong end of a pipe. */
static long wrong_end(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	return -EBADF;
}

static int is_writer(struct rt_file *f);

static int end_poll(struct rt_file *f, int events)
{
	return rt_pipe_poll(f->priv, is_writer(f), events);
}

static long reader_nread(struct rt_file *f)
{
	return rt_pipe_nread(f->priv);
}

static void end_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFIFO | 0600;
	st->st_blksize = 65536;
}

static void end_release(struct rt_file *f)
{
	rt_pipe_close(f->priv, is_writer(f));
}

static void end_report(struct rt_file *f, struct cap_report_fd *r)
{
	int writer = is_writer(f);
	r->kind = writer ? CAP_RFD_PIPE_W : CAP_RFD_PIPE_R;
	rt_pipe_info(f->priv, writer, &r->u.pipe.buffered, &r->u.pipe.capacity, &r->u.pipe.peer_open);
}

static const char *end_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)why;
	int side = rt_pipe_owns_waitq(f->priv, q);
	if (!side || (side == 2) != is_writer(f))
		return 0;
	return side == 1 ? "pipe read" : "pipe write";
}

static void end_fork(struct rt_file *f, int undo);
static void end_forked(struct rt_file *f, unsigned child_slot, int child_pid);

static long end_pass(struct rt_file *f, void *what);

static const struct rt_file_ops reader_ops = {
	.read = reader_read, .write = wrong_end, .poll = end_poll, .nread = reader_nread,
	.fstat = end_fstat, .release = end_release, .report = end_report, .wait_name = end_wait_name,
	.fork = end_fork, .forked = end_forked, .pass = end_pass,
};

static const struct rt_file_ops writer_ops = {
	.read = wrong_end, .write = writer_write, .poll = end_poll,
	.fstat = end_fstat, .release = end_release, .report = end_report, .wait_name = end_wait_name,
	.fork = end_fork, .forked = end_forked, .pass = end_pass,
};

static int is_writer(struct rt_file *f)
{
	return f->ops == &writer_ops;
}

static void end_fork(struct rt_file *f, int undo)
{
	rt_pipe_fork(f->priv, is_writer(f), undo);
}

static void end_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	rt_pipe_forked(f->priv, is_writer(f), child_slot, child_pid);
}

/* SCM_RIGHTS: the ring moves into the window (as at a fork) and counts the copy in flight. */
static long end_pass(struct rt_file *f, void *what)
{
	int writer = is_writer(f);
	rt_pipe_fork(f->priv, writer, 0);
	if (!rt_pipe_is_shared(f->priv)) {
		rt_pipe_fork(f->priv, writer, 1);
		return -ENOMEM;   /* the shared window is full */
	}
	struct rt_passed_fd *d = what;
	d->kind = writer ? RT_PASS_PIPE_W : RT_PASS_PIPE_R;
	d->flags = f->flags;
	*(writer ? &d->out : &d->in) = rt_pipe_ring_of(f->priv);
	return 0;
}

struct rt_file *rt_pipe_end_receive(const struct rt_passed_fd *d)
{
	int writer = d->kind == RT_PASS_PIPE_W;
	struct rt_pipe_ring *ring = writer ? d->out : d->in;
	struct rt_file *f = rt_file_new(writer ? &writer_ops : &reader_ops, d->flags);
	struct rt_pipe *p = f ? rt_pipe_adopt(ring, writer, d->from_slot) : 0;
	if (!p) {   /* no memory: the descriptor is closed */
		free(f);
		rt_pipe_drop(ring, writer, d->from_slot);
		return 0;
	}
	f->priv = p;
	return f;
}

/*
 * open(2) of a FIFO, as Linux: a reader waits for a writer and a writer for
 * a reader unless O_NONBLOCK (then a writer without a reader gets ENXIO);
 * O_RDWR is one end of each and never waits.
 */
long rt_fifo_open(struct rt_pipe_ring *r, int flags, struct rt_file **out)
{
	int acc = flags & O_ACCMODE, nonblock = (flags & O_NONBLOCK) != 0;
	if (acc == O_RDWR)
		return -EINVAL;   /* not yet: docs/PROCESSES.md, section 10 */
	int writer = acc == O_WRONLY;
	struct rt_file *f = rt_file_new(writer ? &writer_ops : &reader_ops, flags & (O_ACCMODE | O_NONBLOCK));
	if (!f)
		return -ENFILE;
	struct rt_pipe *p;
	long e = rt_fifo_join(r, writer, nonblock, &p);
	if (e) {
		free(f);
		return e;
	}
	f->priv = p;
	*out = f;
	return 0;
}

int rt_pipe_end_of(struct rt_file *f, void **shared_ring)
{
	if (f->ops != &reader_ops && f->ops != &writer_ops)
		return -1;
	struct rt_pipe *p = f->priv;
	*shared_ring = rt_pipe_is_shared(p) ? rt_pipe_ring_of(p) : 0;
	return is_writer(f);
}

long rt_sys_pipe2(int *fds, int flags)
{
	if (flags & ~(O_NONBLOCK | O_CLOEXEC | O_DIRECT))
		return -EINVAL;
	struct rt_pipe *p = rt_pipe_new();
	if (!p)
		return -ENFILE;
	int nb = flags & O_NONBLOCK;
	struct rt_file *r = rt_file_new(&reader_ops, O_RDONLY | nb);
	struct rt_file *w = rt_file_new(&writer_ops, O_WRONLY | nb);
	int cloexec = (flags & O_CLOEXEC) != 0;
	int rfd = r && w ? rt_fd_install(r, cloexec, 0) : -ENFILE;
	if (rfd < 0) {
		free(r);
		free(w);
		rt_pipe_close(p, 1);
		rt_pipe_close(p, 0);   /* the last end: the ring and p are freed */
		return rfd;
	}
	r->priv = w->priv = p;
	int wfd = rt_fd_install(w, cloexec, 0);
	if (wfd < 0) {
		free(w);
		rt_pipe_close(p, 1);   /* the write end never was; closing the read end frees the rest */
		rt_sys_close(rfd);
		return wfd;
	}
	fds[0] = rfd;
	fds[1] = wfd;
	return 0;
}
