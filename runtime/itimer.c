/* itimer.c: setitimer/getitimer/alarm: ITIMER_REAL sends SIGALRM on the virtual clock; the CPU-time timers are not available. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_timer.h"

#define US 1000ULL
#define NS_PER_S 1000000000ULL

/*
 * ITIMER_REAL counts on the capsule's virtual monotonic clock, like Linux's
 * (which counts on CLOCK_MONOTONIC): its state is two numbers in capsule
 * memory, so an armed itimer keeps firing after a snapshot is resumed.
 */
static struct rt_timer real_timer;
static uint64_t real_interval;    /* ns; 0: one-shot */

static void real_fire(struct rt_timer *t)
{
	uint64_t due = t->due;
	/* Expiries missed while nobody ran coalesce into one pending SIGALRM, as on Linux. */
	rt_timer_expirations(&due, real_interval, rt_now_ns());
	if (due)
		rt_timer_arm(t, due, 0);
	else
		t->due = 0;
	rt_signal_post(SIGALRM, SI_KERNEL);
}

static int timeval_ok(const struct timeval *tv)
{
	return tv->tv_sec >= 0 && tv->tv_usec >= 0 && tv->tv_usec < 1000000;
}

static uint64_t timeval_ns(const struct timeval *tv)
{
	if ((uint64_t)tv->tv_sec >= (UINT64_MAX / 4) / NS_PER_S)
		return UINT64_MAX / 4;
	return (uint64_t)tv->tv_sec * NS_PER_S + (uint64_t)tv->tv_usec * US;
}

/* Rounded up to whole microseconds, so an armed timer never reads as disarmed. */
static void to_timeval(uint64_t ns, struct timeval *tv)
{
	uint64_t us = (ns + US - 1) / US;
	tv->tv_sec = (time_t)(us / 1000000);
	tv->tv_usec = (suseconds_t)(us % 1000000);
}

static void real_current(struct itimerval *cur)
{
	uint64_t now = rt_now_ns();
	uint64_t left = real_timer.armed && real_timer.due > now ? real_timer.due - now :
	                real_timer.armed ? 1 : 0;
	to_timeval(left, &cur->it_value);
	to_timeval(real_interval, &cur->it_interval);
}

long rt_sys_getitimer(int which, void *cur)
{
	switch (which) {
	case ITIMER_REAL:
		real_current(cur);
		return 0;
	case ITIMER_VIRTUAL:
	case ITIMER_PROF:
		memset(cur, 0, sizeof(struct itimerval));   /* never armed: see setitimer */
		return 0;
	default:
		return -EINVAL;
	}
}

long rt_sys_setitimer(int which, const void *new_value, void *old_value)
{
	const struct itimerval *nv = new_value;
	if (which != ITIMER_REAL && which != ITIMER_VIRTUAL && which != ITIMER_PROF)
		return -EINVAL;
	if (nv && (!timeval_ok(&nv->it_value) || !timeval_ok(&nv->it_interval)))
		return -EINVAL;
	if (which != ITIMER_REAL) {
		/* CPU-time timers need a CPU-time clock per process, which a capsule does not keep. */
		if (nv && (nv->it_value.tv_sec || nv->it_value.tv_usec))
			return -ENOSYS;
		if (old_value)
			memset(old_value, 0, sizeof(struct itimerval));
		return 0;
	}
	if (old_value)
		real_current(old_value);
	if (!nv)
		return 0;
	real_timer.fire = real_fire;
	rt_timer_disarm(&real_timer);
	real_timer.due = 0;
	real_interval = timeval_ns(&nv->it_interval);
	uint64_t value = timeval_ns(&nv->it_value);
	if (value)
		rt_timer_arm(&real_timer, rt_now_ns() + value, 0);
	return 0;
}

void rt_itimer_forked(void)
{
	rt_timer_disarm(&real_timer);   /* POSIX: a child's itimers are cleared */
	real_timer.due = 0;
	real_interval = 0;
}

long rt_sys_alarm(unsigned seconds)
{
	struct itimerval nv = { .it_value = { .tv_sec = seconds } }, old;
	rt_sys_setitimer(ITIMER_REAL, &nv, &old);
	return old.it_value.tv_sec + (old.it_value.tv_usec >= 500000 ||
	                              (!old.it_value.tv_sec && old.it_value.tv_usec));
}
