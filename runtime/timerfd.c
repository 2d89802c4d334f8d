/* timerfd.c: timerfd descriptors on the virtual monotonic clock or the wall clock, with interval timers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_timer.h"

#define NS 1000000000ULL

/*
 * Expirations are counted lazily from the clock (on read, poll, gettime)
 * and by the scheduler when the timer fires, so a timer counts right even
 * if nobody looked at it for a while; due is a time on the timer's clock,
 * which for CLOCK_MONOTONIC is the capsule's virtual clock: it continues
 * after a snapshot is resumed, exactly where the freeze left it.
 */
struct rt_timerfd {
	struct rt_timer timer;     /* first: the fire callback gets it back as the timerfd */
	int clockid;
	uint64_t interval;         /* ns; 0: one-shot */
	uint64_t ticks;            /* expirations not yet read */
	struct rt_waitq rq;
};

static int is_realtime(int clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM;
}

/* Count what expired by now; keep the scheduler's timer on the next expiry. */
static void timerfd_update(struct rt_timerfd *t)
{
	if (!t->timer.due)
		return;
	int real = is_realtime(t->clockid);
	uint64_t due = t->timer.due;
	uint64_t n = rt_timer_expirations(&due, t->interval, rt_timer_clock_now(real, rt_now_ns()));
	if (!n)
		return;
	t->ticks += n;
	if (due)
		rt_timer_arm(&t->timer, due, real);
	else {
		rt_timer_disarm(&t->timer);
		t->timer.due = 0;
	}
}

static void timerfd_fire(struct rt_timer *tm)
{
	struct rt_timerfd *t = (struct rt_timerfd *)tm;
	/* rt_timers_run disarmed it; the update counts the expiry and re-arms an interval timer. */
	if (!t->timer.due)
		return;
	timerfd_update(t);
	rt_wake_all(&t->rq);
	rt_io_changed();
}

static long timerfd_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	struct rt_timerfd *t = f->priv;
	(void)pos;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].len;
	if (total < sizeof t->ticks)
		return -EINVAL;
	for (;;) {
		timerfd_update(t);
		if (t->ticks)
			break;
		if (f->flags & O_NONBLOCK)
			return -EAGAIN;
		rt_wait(&t->rq, 0, "timerfd read");
	}
	uint64_t v = t->ticks;
	t->ticks = 0;
	unsigned char *src = (unsigned char *)&v;
	size_t left = sizeof v;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t n = iov[i].len < left ? iov[i].len : left;
		memcpy(iov[i].base, src, n);
		src += n;
		left -= n;
	}
	return sizeof v;
}

static int timerfd_poll(struct rt_file *f, int events)
{
	struct rt_timerfd *t = f->priv;
	timerfd_update(t);
	return t->ticks ? events & (POLLIN | POLLRDNORM) : 0;
}

static void timerfd_release(struct rt_file *f)
{
	struct rt_timerfd *t = f->priv;
	rt_timer_disarm(&t->timer);
	free(t);
}

/* Time left to the next expiry on the timer's clock (0: disarmed). */
static uint64_t timerfd_left(struct rt_timerfd *t)
{
	if (!t->timer.due)
		return 0;
	uint64_t now = rt_timer_clock_now(is_realtime(t->clockid), rt_now_ns());
	return t->timer.due > now ? t->timer.due - now : 1;
}

static void timerfd_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct rt_timerfd *t = f->priv;
	timerfd_update(t);
	r->kind = CAP_RFD_TIMERFD;
	r->u.timer.next_ns = (int64_t)timerfd_left(t);
	r->u.timer.interval_ns = t->interval;
	r->u.timer.expirations = t->ticks;
	r->u.timer.clock = (uint32_t)t->clockid;
}

static const char *timerfd_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	struct rt_timerfd *t = f->priv;
	(void)why;
	return q == &t->rq ? "timerfd read" : 0;
}

static const struct rt_file_ops timerfd_ops = {
	.read = timerfd_read, .poll = timerfd_poll, .release = timerfd_release,
	.report = timerfd_report, .wait_name = timerfd_wait_name,
};

long rt_sys_timerfd_create(int clockid, int flags)
{
	switch (clockid) {
	case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_BOOTTIME:
	case CLOCK_REALTIME_ALARM: case CLOCK_BOOTTIME_ALARM:
		break;
	default:
		return -EINVAL;
	}
	if (flags & ~(TFD_CLOEXEC | TFD_NONBLOCK))
		return -EINVAL;
	struct rt_timerfd *t = calloc(1, sizeof *t);
	struct rt_file *f = t ? rt_file_new(&timerfd_ops, O_RDWR | (flags & TFD_NONBLOCK)) : 0;
	if (!f) {
		free(t);
		return -ENOMEM;
	}
	t->clockid = clockid;
	t->timer.fire = timerfd_fire;
	f->priv = t;
	return rt_fd_install_new(f, (flags & TFD_CLOEXEC) != 0);
}

static struct rt_timerfd *timerfd_of(int fd, long *err)
{
	struct rt_file *f = rt_fd_get(fd);
	*err = !f ? -EBADF : f->ops != &timerfd_ops ? -EINVAL : 0;
	return *err ? 0 : f->priv;
}

static void to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / NS);
	ts->tv_nsec = (long)(ns % NS);
}

static void timerfd_current(struct rt_timerfd *t, struct itimerspec *cur)
{
	timerfd_update(t);
	to_timespec(timerfd_left(t), &cur->it_value);
	to_timespec(t->interval, &cur->it_interval);
}

long rt_sys_timerfd_gettime(int fd, void *cur)
{
	long err;
	struct rt_timerfd *t = timerfd_of(fd, &err);
	if (!t)
		return err;
	timerfd_current(t, cur);
	return 0;
}

long rt_sys_timerfd_settime(int fd, int flags, const void *new_value, void *old_value)
{
	long err;
	struct rt_timerfd *t = timerfd_of(fd, &err);
	if (!t)
		return err;
	const struct itimerspec *nv = new_value;
	if (flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
		return -EINVAL;
	if (!rt_timespec_valid(&nv->it_value) || !rt_timespec_valid(&nv->it_interval))
		return -EINVAL;
	if (old_value)
		timerfd_current(t, old_value);
	int real = is_realtime(t->clockid);
	uint64_t value = rt_timespec_ns(&nv->it_value);
	rt_timer_disarm(&t->timer);
	t->timer.due = 0;
	t->ticks = 0;
	t->interval = rt_timespec_ns(&nv->it_interval);
	if (value) {
		uint64_t due = (flags & TFD_TIMER_ABSTIME) ? value : rt_timer_clock_now(real, rt_now_ns()) + value;
		rt_timer_arm(&t->timer, due, real);
	}
	rt_io_changed();
	return 0;
}
