/* rt_sched.h: green-thread scheduler API used inside the capsule (runtime and lwip-port). */
#ifndef RT_SCHED_H
#define RT_SCHED_H

#include <stdint.h>

/*
 * Threads are cooperative: a thread runs until it blocks (rt_wait) or
 * yields.  Nothing preempts, so code between two blocking points is atomic
 * with respect to every other green thread.  Waking never switches threads:
 * rt_wake_* only moves threads to the run queue.
 *
 * When every thread is blocked, the scheduler waits on the host (ppoll on
 * the packet channel and console) until input arrives or the earliest
 * deadline passes: that idle wait is the capsule's only blocking point,
 * and the safe point used by snapshots.
 */

struct rt_thread;

struct rt_waitq {
	struct rt_thread *head, *tail;
};
#define RT_WAITQ_INIT { 0, 0 }

void rt_waitq_init(struct rt_waitq *q);

/*
 * Block the calling thread on q until woken or until the virtual monotonic
 * time reaches deadline_ns (0: no deadline).  why names what the thread
 * waits for ("accept", "futex", "sem", ...) for inspection.
 * Returns 0 when woken, -ETIMEDOUT when the deadline passed.
 */
int rt_wait(struct rt_waitq *q, uint64_t deadline_ns, const char *why);

/* Make waiters runnable; return how many were woken. */
int rt_wake_one(struct rt_waitq *q);
int rt_wake_all(struct rt_waitq *q);

/* Let other runnable threads run first. */
void rt_yield(void);

/* Virtual monotonic clock in ns: stops while the capsule is frozen. */
uint64_t rt_now_ns(void);

/* The calling green thread (opaque), and its small integer id. */
struct rt_thread *rt_self(void);
int rt_tid(void);

/*
 * Readiness of some descriptor may have changed: wake every thread blocked
 * in poll/select/epoll_wait so it re-scans.  Called by pipes, the console,
 * and lwip-port whenever lwIP has processed input or timers.
 */
void rt_io_changed(void);

#endif
