/* pipe.c: pipes as 64 KiB ring buffers between green threads (no SIGPIPE: writers get EPIPE); unixsock.c pairs two of them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_sched.h"

#define PIPE_SIZE RT_PIPE_SIZE
#define PIPE_ATOMIC 4096   /* PIPE_BUF: writes up to this size are never split */

struct rt_pipe {
	unsigned char *buf;
	size_t head, len;          /* read position and bytes buffered */
	int readers, writers;
	struct rt_waitq rq, wq;
};

struct rt_pipe *rt_pipe_new(void)
{
	struct rt_pipe *p = calloc(1, sizeof *p);
	if (!p)
		return 0;
	p->buf = malloc(PIPE_SIZE);
	if (!p->buf) {
		free(p);
		return 0;
	}
	p->readers = p->writers = 1;
	return p;
}

long rt_pipe_nread(struct rt_pipe *p)
{
	return (long)p->len;
}

long rt_pipe_read(struct rt_pipe *p, void *buf, size_t len, int nonblock)
{
	while (!p->len) {
		if (!p->writers)
			return 0;
		if (nonblock)
			return -EAGAIN;
		rt_wait(&p->rq, 0, "pipe read");
	}
	size_t n = len < p->len ? len : p->len;
	size_t first = PIPE_SIZE - p->head;
	if (first > n)
		first = n;
	memcpy(buf, p->buf + p->head, first);
	memcpy((unsigned char *)buf + first, p->buf, n - first);
	p->head = (p->head + n) % PIPE_SIZE;
	p->len -= n;
	if (!p->len)
		p->head = 0;
	rt_wake_all(&p->wq);
	rt_io_changed();
	return (long)n;
}

long rt_pipe_write(struct rt_pipe *p, const void *buf, size_t len, int nonblock)
{
	const unsigned char *src = buf;
	size_t done = 0;
	while (done < len) {
		if (!p->readers)
			return done ? (long)done : -EPIPE;
		size_t room = PIPE_SIZE - p->len;
		size_t want = len - done;
		/* Small writes go in whole or not at all (POSIX PIPE_BUF atomicity). */
		if (!room || (want <= PIPE_ATOMIC && room < want)) {
			if (nonblock)
				return done ? (long)done : -EAGAIN;
			rt_wait(&p->wq, 0, "pipe write");
			continue;
		}
		size_t n = want < room ? want : room;
		size_t tail = (p->head + p->len) % PIPE_SIZE;
		size_t first = PIPE_SIZE - tail;
		if (first > n)
			first = n;
		memcpy(p->buf + tail, src + done, first);
		memcpy(p->buf, src + done + first, n - first);
		p->len += n;
		done += n;
		rt_wake_all(&p->rq);
		rt_io_changed();
	}
	return (long)done;
}

int rt_pipe_poll(struct rt_pipe *p, int writer, int events)
{
	int r = 0;
	if (writer) {
		if (!p->readers)
			return POLLERR | (events & POLLOUT);
		if (PIPE_SIZE - p->len >= PIPE_ATOMIC)
			r |= events & (POLLOUT | POLLWRNORM);
	} else {
		if (p->len)
			r |= events & (POLLIN | POLLRDNORM);
		if (!p->writers)
			r |= POLLHUP;
	}
	return r;
}

/* For the freeze report: fill level, size, and whether the other end is open. */
void rt_pipe_info(struct rt_pipe *p, int writer, uint32_t *buffered, uint32_t *capacity,
                      uint32_t *peer_open)
{
	*buffered = (uint32_t)p->len;
	*capacity = PIPE_SIZE;
	*peer_open = (writer ? p->readers : p->writers) > 0;
}

/* Is q one of p's wait queues?  1: its readers wait there, 2: its writers. */
int rt_pipe_owns_waitq(struct rt_pipe *p, const struct rt_waitq *q)
{
	return q == &p->rq ? 1 : q == &p->wq ? 2 : 0;
}

void rt_pipe_close(struct rt_pipe *p, int writer)
{
	if (writer)
		p->writers--;
	else
		p->readers--;
	rt_wake_all(&p->rq);
	rt_wake_all(&p->wq);
	rt_io_changed();
	if (!p->readers && !p->writers) {
		free(p->buf);
		free(p);
	}
}

/* ---- the two ends as files ---- */

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

static const struct rt_file_ops reader_ops = {
	.read = reader_read, .write = wrong_end, .poll = end_poll, .nread = reader_nread,
	.fstat = end_fstat, .release = end_release, .report = end_report, .wait_name = end_wait_name,
};

static const struct rt_file_ops writer_ops = {
	.read = wrong_end, .write = writer_write, .poll = end_poll,
	.fstat = end_fstat, .release = end_release, .report = end_report, .wait_name = end_wait_name,
};

static int is_writer(struct rt_file *f)
{
	return f->ops == &writer_ops;
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
	if (!r || !w) {
		free(r);
		free(w);
		free(p->buf);
		free(p);
		return -ENFILE;
	}
	r->priv = w->priv = p;
	int cloexec = (flags & O_CLOEXEC) != 0;
	int rfd = rt_fd_install(r, cloexec, 0);
	if (rfd < 0) {
		free(r);
		free(w);
		free(p->buf);
		free(p);
		return rfd;
	}
	int wfd = rt_fd_install(w, cloexec, 0);
	if (wfd < 0) {
		free(w);
		p->writers = 0;
		rt_sys_close(rfd);
		return wfd;
	}
	fds[0] = rfd;
	fds[1] = wfd;
	return 0;
}
