/* poll.c: poll/select/epoll over per-fd readiness; waiters sleep on the global io wait queue. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

struct rt_waitq rt_io_waitq;

struct ep_item {
	int fd;
	/*
	 * The serial of the file registered at fd (ep_file finds it): the fd may
	 * have been closed and reused since, even for a new file at the same
	 * address, so no pointer is kept.  As in Linux, a closed file's
	 * registration is gone: epoll_wait drops it, and EPOLL_CTL_ADD of the new
	 * file is a new one (nginx adds each connection it accepts, often at the
	 * number and the address of the one it just closed).
	 */
	uint64_t serial;
	uint32_t events;
	uint64_t data;
	int disabled;              /* EPOLLONESHOT fired */
	/* EPOLLET: what the last report saw, so the next one needs an edge (epoll_edge) */
	int last_ev;
	long last_nread;
	unsigned last_eagain_in, last_eagain_out;
};

struct rt_epoll {
	int n, cap;
	struct ep_item *items;
};

static uint64_t deadline_after(int64_t timeout_ns)
{
	return timeout_ns > 0 ? rt_now_ns() + (uint64_t)timeout_ns : 0;
}

/*
 * Block until scan() finds something or the timeout (ns; <0 forever, 0 poll once)
 * passes.  watch_console: a scanned fd is console input, so the idle wait watches it.
 */
static long wait_ready(long (*scan)(void *), void *ctx, int64_t timeout_ns, int watch_console)
{
	uint64_t deadline = deadline_after(timeout_ns);
	for (;;) {
		long n = scan(ctx);
		if (n != 0 || timeout_ns == 0)
			return n;
		if (watch_console)
			rt_console_watchers++;
		int r = rt_wait(&rt_io_waitq, deadline, "poll");
		if (watch_console)
			rt_console_watchers--;
		/* A handler ran (SIGALRM from an itimer): as Linux, ready files first, else EINTR. */
		int handled = rt_signal_deliver_unblocked();
		if (r == -ETIMEDOUT || handled) {
			n = scan(ctx);
			return n || !handled ? n : -EINTR;
		}
	}
}

struct poll_ctx { struct pollfd *fds; unsigned long n; };

static long poll_scan(void *p)
{
	struct poll_ctx *c = p;
	long ready = 0;
	for (unsigned long i = 0; i < c->n; i++) {
		struct pollfd *pf = &c->fds[i];
		pf->revents = 0;
		if (pf->fd < 0)
			continue;
		int ev = pf->events | POLLERR | POLLHUP;
		pf->revents = (short)(rt_fd_poll(pf->fd, ev) & (ev | POLLNVAL));
		if (pf->revents)
			ready++;
	}
	return ready;
}

static int watches_console(struct pollfd *fds, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		if ((fds[i].events & POLLIN) && rt_file_watches_console(rt_fd_get(fds[i].fd)))
			return 1;
	return 0;
}

long rt_sys_poll(void *fds, unsigned long nfds, int64_t timeout_ns)
{
	if (nfds > (unsigned long)rt_fd_limit())
		return -EINVAL;
	struct poll_ctx c = { fds, nfds };
	return wait_ready(poll_scan, &c, timeout_ns, watches_console(fds, nfds));
}

struct select_ctx { int n; fd_set *r, *w, *e; fd_set in_r, in_w, in_e; };

static long select_scan(void *p)
{
	struct select_ctx *c = p;
	long ready = 0;
	for (int fd = 0; fd < c->n; fd++) {
		int want = 0;
		if (c->r && FD_ISSET(fd, &c->in_r)) want |= POLLIN;
		if (c->w && FD_ISSET(fd, &c->in_w)) want |= POLLOUT;
		if (c->e && FD_ISSET(fd, &c->in_e)) want |= POLLPRI;
		if (!want)
			continue;
		int ev = rt_fd_poll(fd, want | POLLERR | POLLHUP);
		if (ev & POLLNVAL)
			return -EBADF;
		if (c->r) {
			if ((want & POLLIN) && (ev & (POLLIN | POLLHUP | POLLERR))) { FD_SET(fd, c->r); ready++; }
			else FD_CLR(fd, c->r);
		}
		if (c->w) {
			if ((want & POLLOUT) && (ev & (POLLOUT | POLLERR))) { FD_SET(fd, c->w); ready++; }
			else FD_CLR(fd, c->w);
		}
		if (c->e) {
			if ((want & POLLPRI) && (ev & POLLPRI)) { FD_SET(fd, c->e); ready++; }
			else FD_CLR(fd, c->e);
		}
	}
	return ready;
}

long rt_sys_select(int n, void *rfds, void *wfds, void *efds, int64_t timeout_ns)
{
	struct select_ctx c;
	if (n < 0 || n > FD_SETSIZE)
		return -EINVAL;
	memset(&c, 0, sizeof c);
	c.n = n;
	c.r = rfds; c.w = wfds; c.e = efds;
	if (c.r) c.in_r = *c.r;
	if (c.w) c.in_w = *c.w;
	if (c.e) c.in_e = *c.e;
	int console = c.r && n > 0 && FD_ISSET(0, &c.in_r) && rt_file_watches_console(rt_fd_get(0));
	return wait_ready(select_scan, &c, timeout_ns, console);
}

/* ---- epoll ---- */

static void epoll_release(struct rt_file *f)
{
	struct rt_epoll *ep = f->priv;
	free(ep->items);
	free(ep);
}

/* An epoll set as a descriptor: never ready itself (no nesting), no read or write. */
static int epoll_poll(struct rt_file *f, int events)
{
	(void)f;
	(void)events;
	return 0;
}

static void epoll_report(struct rt_file *f, struct cap_report_fd *r)
{
	(void)f;
	r->kind = CAP_RFD_EPOLL;
}

static const struct rt_file_ops epoll_ops = {
	.poll = epoll_poll,
	.release = epoll_release,
	.report = epoll_report,
};

long rt_sys_epoll_create1(int flags)
{
	if (flags & ~EPOLL_CLOEXEC)
		return -EINVAL;
	struct rt_epoll *ep = calloc(1, sizeof *ep);
	struct rt_file *f = rt_file_new(&epoll_ops, O_RDWR);
	if (!ep || !f) {
		free(ep);
		free(f);
		return -ENOMEM;
	}
	f->priv = ep;
	return rt_fd_install_new(f, (flags & EPOLL_CLOEXEC) != 0);
}

static struct rt_epoll *epoll_of(int epfd, long *err)
{
	struct rt_file *f = rt_fd_get(epfd);
	*err = !f ? -EBADF : f->ops != &epoll_ops ? -EINVAL : 0;
	return *err ? 0 : f->priv;
}

/* The file of registration it if it is still open at its fd, else 0. */
static struct rt_file *ep_file(const struct ep_item *it)
{
	struct rt_file *f = rt_fd_get(it->fd);
	return f && f->serial == it->serial ? f : 0;
}

/* file's registration at fd, or 0.  One of a file closed since (another holds fd now) is
 * dropped on the way, as Linux dropped it at the close. */
static struct ep_item *ep_find(struct rt_epoll *ep, int fd, struct rt_file *file)
{
	for (int i = 0; i < ep->n; i++) {
		struct ep_item *it = &ep->items[i];
		if (it->fd != fd)
			continue;
		if (it->serial == file->serial)
			return it;
		*it = ep->items[--ep->n];
		i--;
	}
	return 0;
}

long rt_sys_epoll_ctl(int epfd, int op, int fd, void *evp)
{
	long err;
	struct rt_epoll *ep = epoll_of(epfd, &err);
	if (!ep)
		return err;
	struct rt_file *file = rt_fd_get(fd);
	if (!file)
		return -EBADF;
	if (fd == epfd || !file->ops->poll)
		return -EPERM;   /* itself, or a file that is always ready (Linux: regular files) */
	struct epoll_event *ev = evp;
	struct ep_item *it = ep_find(ep, fd, file);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return -EEXIST;
		if (ep->n == ep->cap) {
			int cap = ep->cap ? ep->cap * 2 : 16;
			struct ep_item *ni = realloc(ep->items, (size_t)cap * sizeof *ni);
			if (!ni)
				return -ENOMEM;
			ep->items = ni;
			ep->cap = cap;
		}
		it = &ep->items[ep->n++];
		memset(it, 0, sizeof *it);
		it->fd = fd;
		it->serial = file->serial;
		/* fall through */
	case EPOLL_CTL_MOD:
		if (!it)
			return -ENOENT;
		it->events = ev->events;
		it->data = ev->data.u64;
		it->disabled = 0;
		it->last_ev = 0;   /* re-armed: what is ready now is reported once more, as Linux does */
		rt_io_changed();
		return 0;
	case EPOLL_CTL_DEL:
		if (!it)
			return -ENOENT;
		*it = ep->items[--ep->n];
		return 0;
	default:
		return -EINVAL;
	}
}

struct ep_ctx { struct rt_epoll *ep; struct epoll_event *out; int max; };

static long file_nread(struct rt_file *f)
{
	return f->ops->nread ? f->ops->nread(f) : 0;
}

/*
 * EPOLLET: report a ready file only on an edge since the last report: a
 * condition that was not ready then; readable with more bytes than then
 * (new data arrived) or readable after a read failed with EAGAIN (the app
 * drained it, so what is there now is new); writable after a write failed
 * with EAGAIN.  Without per-file wake-up callbacks, this is how the
 * runtime sees Linux's "new event".
 */
static int epoll_edge(struct ep_item *it, struct rt_file *f, int ev)
{
	long nread = (ev & POLLIN) ? file_nread(f) : 0;
	int edge = (ev & ~it->last_ev) ||
	           ((ev & POLLIN) && (nread > it->last_nread || f->eagain_in != it->last_eagain_in)) ||
	           ((ev & POLLOUT) && f->eagain_out != it->last_eagain_out);
	it->last_ev = ev;
	it->last_nread = nread;
	it->last_eagain_in = f->eagain_in;
	it->last_eagain_out = f->eagain_out;
	return edge;
}

static long epoll_scan(void *p)
{
	struct ep_ctx *c = p;
	struct rt_epoll *ep = c->ep;
	int n = 0;
	for (int i = 0; i < ep->n && n < c->max; i++) {
		struct ep_item *it = &ep->items[i];
		struct rt_file *f = ep_file(it);
		if (!f) {
			/* closed: the kernel drops such registrations too */
			*it = ep->items[--ep->n];
			i--;
			continue;
		}
		if (it->disabled)
			continue;
		int want = (int)(it->events & ~(uint32_t)(EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP));
		int ev = rt_file_poll(f, want | POLLERR | POLLHUP) & (want | POLLERR | POLLHUP);
		if ((it->events & EPOLLET) && !epoll_edge(it, f, ev))
			continue;
		if (!ev)
			continue;
		c->out[n].events = (uint32_t)ev;
		c->out[n].data.u64 = it->data;
		n++;
		if (it->events & EPOLLONESHOT)
			it->disabled = 1;
	}
	return n;
}

static int epoll_watches_console(struct rt_epoll *ep)
{
	for (int i = 0; i < ep->n; i++) {
		struct rt_file *f = ep_file(&ep->items[i]);
		if (f && rt_file_watches_console(f))
			return 1;
	}
	return 0;
}

long rt_sys_epoll_wait(int epfd, void *evs, int maxevents, int timeout_ms)
{
	long err;
	struct rt_epoll *ep = epoll_of(epfd, &err);
	if (!ep)
		return err;
	if (maxevents <= 0)
		return -EINVAL;
	struct ep_ctx c = { ep, evs, maxevents };
	int64_t t = timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000;
	return wait_ready(epoll_scan, &c, t, epoll_watches_console(ep));
}
