/* sched.c: cooperative green threads: run queue, wait queues with deadlines, the idle wait. */
#include <errno.h>
#include <string.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_host.h"
#include "runtime/rt_timer.h"

#define RT_MAX_THREADS 1024

void rt_switch(uint64_t *save_rsp, uint64_t new_rsp);
void rt_thread_entry(void);
void rt_sched_after_switch(void);

/* The main thread (tid 1) is slot 0, registered before its first instruction. */
static struct rt_thread threads[RT_MAX_THREADS] = { [0] = { .tid = 1, .state = RT_T_RUNNING } };
static struct rt_thread *current = &threads[0];
static struct rt_thread *run_head, *run_tail;
static struct rt_thread *timed_head;      /* blocked threads with a deadline */
static struct rt_thread *dead;            /* exited thread to reclaim after the switch */
static int next_tid = 2;
static int live_threads = 1;
static uint64_t current_fs;
static int ready_sent;
int rt_ready_hold;   /* > 0: a thread awaits a file answer, not work: no READY yet */
static unsigned sched_ticks;

int rt_console_watchers;
struct rt_waitq rt_console_waitq;

void rt_waitq_init(struct rt_waitq *q)
{
	q->head = q->tail = 0;
}

struct rt_thread *rt_self(void)
{
	return current;
}

int rt_tid(void)
{
	return current->tid;
}

int rt_thread_count(void)
{
	return live_threads;
}

uint64_t rt_now_ns(void)
{
	int64_t ns = 0;
	rt_host_clock(1 /* CLOCK_MONOTONIC */, &ns);
	/*
	 * Read the offset from the control page every time, never cached: a
	 * host moves it while the capsule is frozen (and picks a new one on
	 * resume) so that this clock neither jumps nor goes back.
	 */
	int64_t offset = *(volatile const int64_t *)&RT_CONTROL->mono_offset_ns;
	return (uint64_t)(ns - offset);
}

/*
 * wrfsbase costs a few cycles, arch_prctl a system call.  Whether the CPU
 * and kernel allow wrfsbase is a fact about the host we run on now, so it
 * is read from the control page (host_flags, set at every start and every
 * resume) rather than cached: a snapshot may wake up on another machine.
 */
static void load_fs(uint64_t fs)
{
	uint32_t host = *(volatile const uint32_t *)&RT_CONTROL->host_flags;
	if (host & CAP_HOST_FSGSBASE)
		__asm__ volatile ("wrfsbase %0" : : "r"(fs) : "memory");
	else
		rt_host_set_fs(fs);
	current_fs = fs;
}

void rt_sched_set_fs(uint64_t fs)
{
	current->fs = fs;
	load_fs(fs);
}

static void run_push(struct rt_thread *t)
{
	t->state = RT_T_RUNNABLE;
	t->run_next = 0;
	if (run_tail)
		run_tail->run_next = t;
	else
		run_head = t;
	run_tail = t;
}

static struct rt_thread *run_pop(void)
{
	struct rt_thread *t = run_head;
	if (t) {
		run_head = t->run_next;
		if (!run_head)
			run_tail = 0;
		t->run_next = 0;
	}
	return t;
}

static void timed_remove(struct rt_thread *t)
{
	if (!t->deadline)
		return;
	if (t->timed_prev)
		t->timed_prev->timed_next = t->timed_next;
	else
		timed_head = t->timed_next;
	if (t->timed_next)
		t->timed_next->timed_prev = t->timed_prev;
	t->timed_prev = t->timed_next = 0;
	t->deadline = 0;
}

static void waitq_remove(struct rt_thread *t)
{
	struct rt_waitq *q = t->wq;
	if (!q)
		return;
	if (t->wq_prev)
		t->wq_prev->wq_next = t->wq_next;
	else
		q->head = t->wq_next;
	if (t->wq_next)
		t->wq_next->wq_prev = t->wq_prev;
	else
		q->tail = t->wq_prev;
	t->wq_prev = t->wq_next = 0;
	t->wq = 0;
}

void rt_wake_thread(struct rt_thread *t)
{
	if (t->state != RT_T_BLOCKED)
		return;
	waitq_remove(t);
	timed_remove(t);
	run_push(t);
}

int rt_wake_one(struct rt_waitq *q)
{
	if (!q->head)
		return 0;
	rt_wake_thread(q->head);
	return 1;
}

int rt_wake_all(struct rt_waitq *q)
{
	int n = 0;
	while (q->head) {
		rt_wake_thread(q->head);
		n++;
	}
	return n;
}

/* Wake every thread whose deadline has passed; returns the earliest remaining one (0: none). */
static uint64_t expire_deadlines(uint64_t now)
{
	uint64_t earliest = 0;
	struct rt_thread *t = timed_head, *next;
	for (; t; t = next) {
		next = t->timed_next;
		if (t->deadline <= now) {
			t->timed_out = 1;
			rt_wake_thread(t);
		} else if (!earliest || t->deadline < earliest) {
			earliest = t->deadline;
		}
	}
	return earliest;
}

void rt_send_ready(void)
{
	struct cap_chan_hdr h = { CAP_MSG_READY, 0, 0 };
	struct rt_iovec iov = { &h, sizeof h };
	ready_sent = 1;
	RT_CONTROL->state = CAP_STATE_RUNNING;
	rt_host_channel_send(&iov, 1);
}

/* Poll the host once (timeout_ns 0) or block until input or the deadline. */
static void host_wait(int64_t timeout_ns)
{
	int cin = 0, cout = 0, con = 0, hup = 0, tin = 0;
	int tun = rt_tun_active();   /* our own TUN device: packets without the host's relay */
	long r = rt_host_wait(0, rt_console_watchers > 0, timeout_ns, &cin, &cout, &con, &hup,
	                      tun ? &tin : 0);
	if (r <= 0)
		return;
	if (cin || hup)
		rt_channel_drain(hup);
	/* A FREEZE acts before any later packet, as on the channel: what the device holds now
	 * stays there, and caprun puts it into a snapshot that stops us (held.c). */
	if (tin > 0 && !rt_freeze_pending)
		rt_tun_drain();
	else if (tin < 0)
		rt_tun_failed();
	if (hup)
		rt_host_gone(0);   /* nobody will ever send us a packet again: exit, don't spin */
	if (con) {
		rt_wake_all(&rt_console_waitq);
		rt_io_changed();
	}
}

/*
 * The safe point: called right after the channel drain, inside the
 * scheduler, so every other green thread is switched out (its registers on
 * its own stack) and lwIP is between operations.  Returns when thawed
 * (this process) or resumed (a new process started from the snapshot).
 */
static void safe_point(void)
{
	if (!rt_freeze_pending)
		return;
	rt_freeze(current_fs);
}

void rt_sched_resumed(uint64_t fs)
{
	/* The loader set FS to the freezing thread's TLS; load_fs reads host_flags afresh. */
	current_fs = fs;
}

void rt_sched_forked(void)
{
	/* Only the forking thread lives on in the child (POSIX); musl forgets the others too. */
	for (int i = 0; i < RT_MAX_THREADS; i++) {
		struct rt_thread *t = &threads[i];
		if (t == current || t->state == RT_T_FREE)
			continue;
		waitq_remove(t);
		timed_remove(t);
		memset(t, 0, sizeof *t);   /* RT_T_FREE; its stack stays allocated in this copy */
	}
	run_head = run_tail = 0;
	dead = 0;
	live_threads = 1;
}

struct rt_thread *rt_thread_slot(int i)
{
	return i >= 0 && i < RT_MAX_THREADS ? &threads[i] : 0;
}

int rt_thread_slots(void)
{
	return RT_MAX_THREADS;
}

/* Nothing is runnable: the capsule's one blocking point. */
static void idle_wait(void)
{
	while (!run_head) {
		if (!ready_sent && !rt_ready_hold)
			rt_send_ready();
		uint64_t now = rt_now_ns();
		uint64_t timer = rt_timers_armed ? rt_timers_run(now) : 0;   /* timerfds, itimers */
		uint64_t earliest = expire_deadlines(now);
		if (timer && (!earliest || timer < earliest))
			earliest = timer;
		if (run_head)
			return;
		/* A FREEZE that came while a fork waited for the host (proc.c stashed it) has
		 * no later record to wake us: act on it before sleeping. */
		if (!rt_freeze_pending)
			host_wait(earliest ? (int64_t)(earliest - now) : -1);
		safe_point();
	}
}

void rt_sched_after_switch(void)
{
	struct rt_thread *d = dead;
	if (!d)
		return;
	dead = 0;
	uintptr_t base = d->unmap_base;
	size_t size = d->unmap_size;
	memset(d, 0, sizeof *d);   /* state RT_T_FREE */
	if (size)
		rt_munmap(base, size);
}

/* Pick the next thread and switch to it; returns when the caller runs again. */
static void schedule(void)
{
	struct rt_thread *next;
	sched_ticks++;
	if ((timed_head && (!run_head || (sched_ticks & 31) == 0)))
		expire_deadlines(rt_now_ns());
	if (rt_timers_armed && run_head && (sched_ticks & 31) == 0)
		rt_timers_run(rt_now_ns());   /* busy threads must not hold timers back either */
	/* Busy threads must not starve the network: peek at the host now and then. */
	if (run_head && (sched_ticks & 63) == 0) {
		host_wait(0);
		safe_point();   /* a busy capsule must still freeze when asked */
	}
	while (!(next = run_pop()))
		idle_wait();
	if (next == current) {
		next->state = RT_T_RUNNING;
		return;
	}
	struct rt_thread *prev = current;
	current = next;
	next->state = RT_T_RUNNING;
	if (next->fs != current_fs)
		load_fs(next->fs);
	rt_switch(&prev->rsp, next->rsp);
	rt_sched_after_switch();
}

int rt_wait(struct rt_waitq *q, uint64_t deadline_ns, const char *why)
{
	struct rt_thread *t = current;
	if (rt_draining) {
		/* A packet sink that blocks would switch threads off the drain's one stack. */
		rt_console_write(2, "capsule: a green thread blocked inside the channel drain\n");
		rt_exit_capsule(134);
	}
	t->state = RT_T_BLOCKED;
	t->why = why;
	t->timed_out = 0;
	t->wq = q;
	t->wq_next = 0;
	t->wq_prev = q->tail;
	if (q->tail)
		q->tail->wq_next = t;
	else
		q->head = t;
	q->tail = t;
	if (deadline_ns) {
		t->deadline = deadline_ns;
		t->timed_prev = 0;
		t->timed_next = timed_head;
		if (timed_head)
			timed_head->timed_prev = t;
		timed_head = t;
	}
	schedule();
	t->why = 0;
	return t->timed_out ? -ETIMEDOUT : 0;
}

void rt_yield(void)
{
	run_push(current);
	schedule();
}

void rt_io_changed(void)
{
	rt_wake_all(&rt_io_waitq);
}

struct rt_thread *rt_thread_new(int (*fn)(void *), void *arg, uint64_t stack_top, uint64_t fs)
{
	struct rt_thread *t = 0;
	for (int i = 1; i < RT_MAX_THREADS; i++) {
		if (threads[i].state == RT_T_FREE && &threads[i] != dead) {
			t = &threads[i];
			break;
		}
	}
	if (!t)
		return 0;
	memset(t, 0, sizeof *t);
	t->tid = next_tid++;
	t->fs = fs;
	t->sigmask = current->sigmask;
	/* Initial frame popped by rt_switch: control words, r15..rbp, return address. */
	uint64_t *sp = (uint64_t *)(stack_top & ~(uint64_t)15);
	*--sp = (uint64_t)(uintptr_t)rt_thread_entry; /* ret leaves rsp 16-aligned */
	*--sp = 0;                                   /* rbp */
	*--sp = 0;                                   /* rbx */
	*--sp = (uint64_t)(uintptr_t)fn;             /* r12 */
	*--sp = (uint64_t)(uintptr_t)arg;            /* r13 */
	*--sp = 0;                                   /* r14 */
	*--sp = 0;                                   /* r15 */
	*--sp = 0x1f80 | ((uint64_t)0x37f << 32);    /* MXCSR, x87 control word */
	t->rsp = (uint64_t)(uintptr_t)sp;
	live_threads++;
	run_push(t);
	return t;
}

_Noreturn void rt_thread_exit_current(void)
{
	struct rt_thread *t = current;
	if (t->clear_tid) {
		*t->clear_tid = 0;
		rt_futex((volatile int *)t->clear_tid, 1 /* FUTEX_WAKE */, 1, 0, 0, 0);
	}
	live_threads--;
	t->state = RT_T_DEAD;
	dead = t;
	struct rt_thread *next;
	while (!(next = run_pop()))
		idle_wait();
	current = next;
	next->state = RT_T_RUNNING;
	if (next->fs != current_fs)
		load_fs(next->fs);
	uint64_t scratch;
	rt_switch(&scratch, next->rsp);
	__builtin_unreachable();
}
