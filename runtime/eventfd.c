/* eventfd.c: eventfd2 descriptors: a 64-bit counter, read and written 8 bytes at a time, as Linux. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_sched.h"
#include "runtime/rt_timer.h"

#define EVENTFD_MAX 0xfffffffffffffffeULL   /* the largest value the counter may hold */

struct rt_eventfd {
	uint64_t count;
	int semaphore;             /* EFD_SEMAPHORE: each read takes 1 */
	struct rt_waitq rq, wq;    /* readers wait for count > 0, writers for room */
};

static size_t iov_total(const struct rt_iovec *iov, int iovcnt)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].len;
	return n;
}

/* The 8 bytes of v scattered over the buffers (Linux copies across iovecs too). */
static void iov_put(const struct rt_iovec *iov, int iovcnt, const void *src, size_t len)
{
	for (int i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].len < len ? iov[i].len : len;
		memcpy(iov[i].base, src, n);
		src = (const unsigned char *)src + n;
		len -= n;
	}
}

static void iov_get(const struct rt_iovec *iov, int iovcnt, void *dst, size_t len)
{
	for (int i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].len < len ? iov[i].len : len;
		memcpy(dst, iov[i].base, n);
		dst = (unsigned char *)dst + n;
		len -= n;
	}
}

static void changed(struct rt_eventfd *e)
{
	rt_wake_all(&e->rq);
	rt_wake_all(&e->wq);
	rt_io_changed();
}

static long efd_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	struct rt_eventfd *e = f->priv;
	(void)pos;
	if (iov_total(iov, iovcnt) < sizeof(uint64_t))
		return -EINVAL;
	while (!e->count) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		rt_wait(&e->rq, 0, "eventfd read");
	}
	uint64_t v = e->semaphore ? 1 : e->count;
	e->count -= v;
	iov_put(iov, iovcnt, &v, sizeof v);
	changed(e);
	return sizeof v;
}

static long efd_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	struct rt_eventfd *e = f->priv;
	uint64_t v;
	(void)pos;
	if (iov_total(iov, iovcnt) < sizeof v)
		return -EINVAL;
	iov_get(iov, iovcnt, &v, sizeof v);
	if (v == UINT64_MAX)
		return -EINVAL;
	while (EVENTFD_MAX - e->count < v) {
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		rt_wait(&e->wq, 0, "eventfd write");
	}
	e->count += v;
	if (v)
		changed(e);
	return sizeof v;
}

static int eventfd_poll(struct rt_file *f, int events)
{
	struct rt_eventfd *e = f->priv;
	int r = 0;
	if (e->count)
		r |= POLLIN | POLLRDNORM;
	if (e->count < EVENTFD_MAX)
		r |= POLLOUT | POLLWRNORM;
	return r & events;
}

static void eventfd_release(struct rt_file *f)
{
	free(f->priv);
}

static void eventfd_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct rt_eventfd *e = f->priv;
	r->kind = CAP_RFD_EVENTFD;
	r->u.eventfd.count = e->count;
	r->u.eventfd.semaphore = (uint32_t)e->semaphore;
}

static const char *eventfd_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	struct rt_eventfd *e = f->priv;
	(void)why;
	return q == &e->rq ? "eventfd read" : q == &e->wq ? "eventfd write" : 0;
}

static const struct rt_file_ops eventfd_ops = {
	.read = efd_read, .write = efd_write, .poll = eventfd_poll,
	.release = eventfd_release, .report = eventfd_report, .wait_name = eventfd_wait_name,
};

long rt_sys_eventfd2(unsigned initval, int flags)
{
	if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
		return -EINVAL;
	struct rt_eventfd *e = calloc(1, sizeof *e);
	struct rt_file *f = e ? rt_file_new(&eventfd_ops, O_RDWR | (flags & EFD_NONBLOCK)) : 0;
	if (!f) {
		free(e);
		return -ENOMEM;
	}
	e->count = initval;
	e->semaphore = (flags & EFD_SEMAPHORE) != 0;
	f->priv = e;
	return rt_fd_install_new(f, (flags & EFD_CLOEXEC) != 0);
}
