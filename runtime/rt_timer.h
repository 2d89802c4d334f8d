/* rt_timer.h: timers on the capsule's clocks (fired by the scheduler), and the calls built on them. */
#ifndef RT_TIMER_H
#define RT_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/rt_sched.h"

/*
 * A timer due at a time on the virtual monotonic clock (or on the wall
 * clock, realtime).  The scheduler fires due timers from its idle wait and
 * now and then between threads, and sleeps no longer than the earliest one,
 * so an armed timer fires although no thread waits for it.  Timers live in
 * capsule memory and count in virtual time: after a resume they go on
 * firing where they stopped, with nothing to re-establish.
 */
struct rt_timer {
	uint64_t due;                     /* ns on its clock */
	int realtime;                     /* due is wall-clock time */
	int armed;
	void (*fire)(struct rt_timer *t); /* runs in the scheduler: wake threads, never block */
	struct rt_timer *next;
};

void rt_timer_arm(struct rt_timer *t, uint64_t due, int realtime);
void rt_timer_disarm(struct rt_timer *t);
/* Fire every due timer; return the earliest virtual deadline still armed (0: none). */
uint64_t rt_timers_run(uint64_t now);
extern int rt_timers_armed;           /* how many are armed: the scheduler skips the list at 0 */
/* Now on a timer's clock: the virtual monotonic ns (vnow) or the host's wall clock. */
uint64_t rt_timer_clock_now(int realtime, uint64_t vnow);
/*
 * How many times a timer due at *due with interval (0: one-shot) expired by
 * now; moves *due to the next expiry, or to 0 when a one-shot timer is done.
 */
uint64_t rt_timer_expirations(uint64_t *due, uint64_t interval, uint64_t now);

/* signal.c: signals posted by timers and read by signalfd */
void rt_signal_post(int sig, int code);          /* pending + wake whoever can take it */
int rt_signal_take(uint64_t set, int *code);     /* dequeue the lowest pending in set; 0: none */
uint64_t rt_signal_pending_set(void);
int rt_signal_deliver_unblocked(void);           /* run handlers now; how many ran */
/* The same for a call signal(7) restarts (read and write of a pipe, wait4, accept, connect):
 * 1 if a handler without SA_RESTART ran (the call fails with EINTR), else 0 (it goes on). */
int rt_signal_interrupts(void);
int rt_signal_child_autoreap(void);             /* SIGCHLD is SIG_IGN or SA_NOCLDWAIT: keep no zombies */
void rt_signal_forked(void);                    /* a forked child: no signal pending (as Linux) */
extern uint64_t rt_signal_pending_bits;        /* nonzero: check at the next system call */
extern struct rt_waitq rt_signal_waitq;          /* sleeps a signal interrupts */
long rt_sys_pause(void);
long rt_sys_rt_sigtimedwait(const void *set, void *info, const void *timeout, size_t setsize);

/* eventfd.c, timerfd.c, signalfd.c, itimer.c */
long rt_sys_eventfd2(unsigned initval, int flags);
long rt_sys_timerfd_create(int clockid, int flags);
long rt_sys_timerfd_settime(int fd, int flags, const void *new_value, void *old_value);
long rt_sys_timerfd_gettime(int fd, void *cur);
long rt_sys_signalfd4(int fd, const void *mask, size_t masksize, int flags);
long rt_sys_setitimer(int which, const void *new_value, void *old_value);
long rt_sys_getitimer(int which, void *cur);
void rt_itimer_forked(void);   /* in a fork's child: no itimer armed */
long rt_sys_alarm(unsigned seconds);

#endif
