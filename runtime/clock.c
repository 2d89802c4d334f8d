/* clock.c: virtual monotonic clock, host wall clock, and sleeps that block only the green thread. */
#include <errno.h>
#include <time.h>
#include <sys/time.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_host.h"
#include "runtime/rt_timer.h"

#define NS 1000000000ULL

static uint64_t realtime_ns(void)
{
	int64_t ns = 0;
	rt_host_clock(CLOCK_REALTIME, &ns);
	return (uint64_t)ns;
}

static void to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / NS);
	ts->tv_nsec = (long)(ns % NS);
}

int rt_timespec_valid(const void *p)
{
	const struct timespec *ts = p;
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < (long)NS;
}

uint64_t rt_timespec_ns(const void *p)
{
	const struct timespec *ts = p;
	if (ts->tv_sec < 0)
		return 0;
	if ((uint64_t)ts->tv_sec >= (UINT64_MAX / 2) / NS)
		return UINT64_MAX / 2;
	return (uint64_t)ts->tv_sec * NS + (uint64_t)ts->tv_nsec;
}

/* An absolute wall-clock time as a virtual monotonic deadline (never 0). */
uint64_t rt_realtime_to_virtual(uint64_t real_ns)
{
	uint64_t now_real = realtime_ns(), now = rt_now_ns();
	if (real_ns <= now_real)
		return now ? now : 1;
	return now + (real_ns - now_real);
}

long rt_clock_gettime(int clk, void *p)
{
	struct timespec *ts = p;
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		to_timespec(realtime_ns(), ts);
		return 0;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
	case CLOCK_PROCESS_CPUTIME_ID:   /* approximated by the virtual clock */
	case CLOCK_THREAD_CPUTIME_ID:
		to_timespec(rt_now_ns(), ts);
		return 0;
	default:
		return -EINVAL;
	}
}

long rt_clock_getres(int clk, void *p)
{
	struct timespec ts = { 0, 1 };
	if (clk < 0 || clk > CLOCK_TAI)
		return -EINVAL;
	if (p)
		*(struct timespec *)p = ts;
	return 0;
}

long rt_gettimeofday(void *p)
{
	struct timeval *tv = p;
	if (tv) {
		uint64_t ns = realtime_ns();
		tv->tv_sec = (time_t)(ns / NS);
		tv->tv_usec = (suseconds_t)(ns % NS / 1000);
	}
	return 0;
}

long rt_time(long *t)
{
	long s = (long)(realtime_ns() / NS);
	if (t)
		*t = s;
	return s;
}

/* Block until the virtual deadline, or EINTR once a signal's handler ran (rem: the time left). */
static long sleep_until(uint64_t deadline, void *rem)
{
	if (!deadline)
		deadline = 1;
	uint64_t now;
	while ((now = rt_now_ns()) < deadline) {
		if (rt_signal_deliver_unblocked()) {
			if (rem)
				to_timespec(deadline - now, rem);
			return -EINTR;
		}
		rt_wait(&rt_signal_waitq, deadline, "sleep");
	}
	if (rem)
		to_timespec(0, rem);
	return 0;
}

long rt_nanosleep(const void *req, void *rem)
{
	if (!rt_timespec_valid(req))
		return -EINVAL;
	return sleep_until(rt_now_ns() + rt_timespec_ns(req), rem);
}

long rt_clock_nanosleep(int clk, int flags, const void *req, void *rem)
{
	if (!rt_timespec_valid(req))
		return -EINVAL;
	uint64_t ns = rt_timespec_ns(req);
	int realtime = clk == CLOCK_REALTIME || clk == CLOCK_TAI;
	if (!realtime && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME)
		return clk == CLOCK_THREAD_CPUTIME_ID ? -EINVAL : -ENOTSUP;
	if (!(flags & TIMER_ABSTIME))
		return rt_nanosleep(req, rem);
	return sleep_until(realtime ? rt_realtime_to_virtual(ns) : ns, 0);
}
