/* thread.c: musl's thread primitives on green threads: clone, thread exit, futex, tids. */
#include <errno.h>
#include <sched.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_sched.h"
#include "runtime/rt_proc.h"

#define FUTEX_BUCKETS 64

/* Linux's futex ABI (musl ships no <linux/futex.h>). */
#define FUTEX_WAIT             0
#define FUTEX_WAKE             1
#define FUTEX_REQUEUE          3
#define FUTEX_CMP_REQUEUE      4
#define FUTEX_WAIT_BITSET      9
#define FUTEX_WAKE_BITSET      10
#define FUTEX_PRIVATE_FLAG     128
#define FUTEX_CLOCK_REALTIME   256
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu

static struct rt_waitq futex_queues[FUTEX_BUCKETS];

static struct rt_waitq *futex_queue(volatile int *addr)
{
	uintptr_t a = (uintptr_t)addr;
	return &futex_queues[((a >> 2) ^ (a >> 9)) % FUTEX_BUCKETS];
}

struct vfork_call {
	int (*fn)(void *);
	void *arg;
};

static void vfork_child(void *arg)
{
	struct vfork_call *c = arg;
	rt_exit_capsule(c->fn(c->arg));
}

/*
 * musl's __clone lands here: threads, and posix_spawn's clone(CLONE_VM |
 * CLONE_VFORK), which is done as a fork whose child runs fn on the given
 * stack (in its own copy of memory: musl's child tells its parent how the
 * execve went through a close-on-exec pipe, not through shared memory).
 */
int __capsule_clone(int (*fn)(void *), void *stack, int flags, void *arg,
                    int *ptid, unsigned long tls, int *ctid)
{
	if ((flags & (CLONE_VM | CLONE_VFORK | CLONE_THREAD)) == (CLONE_VM | CLONE_VFORK) && stack) {
		struct vfork_call call = { fn, arg };
		long pid = rt_sys_fork();
		if (pid == 0)
			rt_run_on_stack(vfork_child, &call, stack);
		return (int)pid;
	}
	const int need = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;
	if ((flags & need) != need || (flags & CLONE_VFORK) || !stack)
		return -ENOSYS;
	struct rt_thread *t = rt_thread_new(fn, arg, (uint64_t)(uintptr_t)stack,
	                                    (flags & CLONE_SETTLS) ? tls : rt_self()->fs);
	if (!t)
		return -EAGAIN;
	if (flags & CLONE_PARENT_SETTID)
		*ptid = t->tid;
	if (flags & CLONE_CHILD_SETTID)
		*ctid = t->tid;
	if (flags & CLONE_CHILD_CLEARTID)
		t->clear_tid = ctid;
	return t->tid;
}

/* A detached thread frees its own stack: done by the next thread, after the switch. */
_Noreturn void __capsule_unmapself(void *base, size_t size)
{
	struct rt_thread *t = rt_self();
	t->unmap_base = (uintptr_t)base;
	t->unmap_size = size;
	rt_thread_exit_current();
}

_Noreturn void rt_thread_syscall_exit(int code)
{
	if (rt_thread_count() <= 1)
		rt_exit_capsule(code);
	rt_thread_exit_current();
}

static uint64_t futex_deadline(int op, int flags, const void *timeout)
{
	if (!timeout)
		return 0;
	uint64_t ns = rt_timespec_ns(timeout);
	if (op == FUTEX_WAIT_BITSET) {
		if (flags & FUTEX_CLOCK_REALTIME)
			ns = rt_realtime_to_virtual(ns);
		return ns ? ns : 1;
	}
	return rt_now_ns() + ns;
}

static int futex_wake(volatile int *uaddr, int n, uint32_t bitset)
{
	struct rt_waitq *q = futex_queue(uaddr);
	struct rt_thread *t = q->head, *next;
	int woken = 0;
	for (; t && woken < n; t = next) {
		next = t->wq_next;
		if (t->futex_addr == uaddr && (t->futex_bitset & bitset)) {
			rt_wake_thread(t);
			woken++;
		}
	}
	return woken;
}

/* Move waiters of uaddr to uaddr2's queue (their wait continues there). */
static int futex_requeue(volatile int *uaddr, volatile int *uaddr2, int n)
{
	struct rt_waitq *from = futex_queue(uaddr), *to = futex_queue(uaddr2);
	struct rt_thread *t = from->head, *next;
	int moved = 0;
	for (; t && moved < n; t = next) {
		next = t->wq_next;
		if (t->futex_addr != uaddr)
			continue;
		/* unlink from `from` */
		if (t->wq_prev) t->wq_prev->wq_next = t->wq_next; else from->head = t->wq_next;
		if (t->wq_next) t->wq_next->wq_prev = t->wq_prev; else from->tail = t->wq_prev;
		/* append to `to` */
		t->wq = to;
		t->wq_next = 0;
		t->wq_prev = to->tail;
		if (to->tail) to->tail->wq_next = t; else to->head = t;
		to->tail = t;
		t->futex_addr = uaddr2;
		moved++;
	}
	return moved;
}

long rt_futex(volatile int *uaddr, int op, int val, const void *timeout, volatile int *uaddr2, int val3)
{
	int flags = op & (FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
	int cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
	long n2 = (long)(uintptr_t)timeout;   /* REQUEUE: 4th argument is a count */

	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		uint32_t bitset = cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : (uint32_t)val3;
		if (!bitset)
			return -EINVAL;
		if (timeout && !rt_timespec_valid(timeout))
			return -EINVAL;
		if (*uaddr != val)
			return -EAGAIN;
		struct rt_thread *self = rt_self();
		uint64_t deadline = futex_deadline(cmd, flags, timeout);
		self->futex_addr = uaddr;
		self->futex_bitset = bitset;
		int r = rt_wait(futex_queue(uaddr), deadline, "futex");
		self->futex_addr = 0;
		return r;
	}
	case FUTEX_WAKE:
		return futex_wake(uaddr, val, FUTEX_BITSET_MATCH_ANY);
	case FUTEX_WAKE_BITSET:
		if (!val3)
			return -EINVAL;
		return futex_wake(uaddr, val, (uint32_t)val3);
	case FUTEX_CMP_REQUEUE:
		if (*uaddr != val3)
			return -EAGAIN;
		/* fall through */
	case FUTEX_REQUEUE: {
		int woken = futex_wake(uaddr, val, FUTEX_BITSET_MATCH_ANY);
		return woken + futex_requeue(uaddr, uaddr2, (int)n2);
	}
	default:
		return -ENOSYS;
	}
}

long rt_set_tid_address(int *tidptr)
{
	rt_self()->clear_tid = tidptr;
	return rt_tid();
}
