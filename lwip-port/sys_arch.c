/* sys_arch.c: lwIP's semaphores, mailboxes, mutexes, threads and clock on the runtime's green threads. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/sys.h"
#include "lwip/err.h"
#include "lwip/tcpip.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_sched.h"
#include "lwip-port/lp_internal.h"

/*
 * Threads are cooperative, so each operation below is atomic between its
 * blocking points: a waiter re-checks its condition after every wake-up
 * because another thread may have run first.  Waking never switches
 * threads, so the idle-time channel drain may post to mailboxes safely.
 */

struct lp_sem {
	unsigned count;
	struct rt_waitq waiters;
};

struct lp_mutex {
	int locked;
	struct rt_waitq waiters;
};

struct lp_mbox {
	unsigned head, count, size;
	struct rt_waitq not_empty, not_full;
	void **slots;
};

struct lp_thread {
	lwip_thread_fn fn;
	void *arg;
	int is_tcpip;
};

/* The tcpip thread, so sys_arch_mbox_fetch knows when lwIP finished a batch of work. */
static struct rt_thread *lp_tcpip_thread;
/* The mailbox it sleeps on: work queued there is work the tcpip thread still owes. */
static struct lp_mbox *lp_tcpip_mbox;

/* Set while the tcpip thread waits on its mailbox: packets the runtime drains then run on its
 * behalf (netif.c), and are not the tcpip thread's own work. */
static int lp_tcpip_waiting;

int lp_tcpip_thread_working(void)
{
	return lp_tcpip_thread && rt_self() == lp_tcpip_thread && !lp_tcpip_waiting;
}

int lp_tcpip_busy(void)
{
	return lp_tcpip_mbox && lp_tcpip_mbox->count > 0;
}

static uint64_t lp_deadline(u32_t timeout_ms)
{
	return timeout_ms ? rt_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
}

static u32_t lp_elapsed_ms(uint64_t start_ns)
{
	uint64_t ms = (rt_now_ns() - start_ns) / 1000000u;
	/* SYS_ARCH_TIMEOUT is 0xffffffff: never report it for a success. */
	return ms >= SYS_ARCH_TIMEOUT ? SYS_ARCH_TIMEOUT - 1 : (u32_t)ms;
}

void sys_init(void)
{
}

u32_t sys_now(void)
{
	return (u32_t)(rt_now_ns() / 1000000u);
}

u32_t sys_jiffies(void)
{
	return sys_now();
}

/* ---- semaphores ---- */

err_t sys_sem_new(sys_sem_t *sem, u8_t count)
{
	struct lp_sem *s = calloc(1, sizeof(*s));
	if (!s) {
		*sem = NULL;
		return ERR_MEM;
	}
	s->count = count;
	rt_waitq_init(&s->waiters);
	*sem = s;
	return ERR_OK;
}

void sys_sem_free(sys_sem_t *sem)
{
	free(*sem);
	*sem = NULL;
}

void sys_sem_signal(sys_sem_t *sem)
{
	(*sem)->count++;
	rt_wake_one(&(*sem)->waiters);
}

u32_t sys_arch_sem_wait(sys_sem_t *sem, u32_t timeout_ms)
{
	struct lp_sem *s = *sem;
	uint64_t start = rt_now_ns(), deadline = lp_deadline(timeout_ms);
	while (s->count == 0) {
		if (rt_wait(&s->waiters, deadline, "lwip sem") == -ETIMEDOUT && s->count == 0)
			return SYS_ARCH_TIMEOUT;
	}
	s->count--;
	return lp_elapsed_ms(start);
}

/* ---- mutexes (the tcpip core lock, lwIP's heap lock) ---- */

err_t sys_mutex_new(sys_mutex_t *mutex)
{
	struct lp_mutex *m = calloc(1, sizeof(*m));
	if (!m) {
		*mutex = NULL;
		return ERR_MEM;
	}
	rt_waitq_init(&m->waiters);
	*mutex = m;
	return ERR_OK;
}

void sys_mutex_free(sys_mutex_t *mutex)
{
	free(*mutex);
	*mutex = NULL;
}

void sys_mutex_lock(sys_mutex_t *mutex)
{
	struct lp_mutex *m = *mutex;
	while (m->locked)
		rt_wait(&m->waiters, 0, "lwip mutex");
	m->locked = 1;
}

void sys_mutex_unlock(sys_mutex_t *mutex)
{
	struct lp_mutex *m = *mutex;
	m->locked = 0;
	rt_wake_one(&m->waiters);
}

int lp_core_free(void)
{
	struct lp_mutex *m = lock_tcpip_core;
	return m && !m->locked;
}

/* ---- mailboxes: a fixed ring per mbox ---- */

err_t sys_mbox_new(sys_mbox_t *mbox, int size)
{
	struct lp_mbox *b = calloc(1, sizeof(*b));
	if (size <= 0)
		size = 128;
	if (b)
		b->slots = calloc((size_t)size, sizeof(void *));
	if (!b || !b->slots) {
		free(b);
		*mbox = NULL;
		return ERR_MEM;
	}
	b->size = (unsigned)size;
	rt_waitq_init(&b->not_empty);
	rt_waitq_init(&b->not_full);
	*mbox = b;
	return ERR_OK;
}

void sys_mbox_free(sys_mbox_t *mbox)
{
	struct lp_mbox *b = *mbox;
	if (!b)
		return;
	free(b->slots);
	free(b);
	*mbox = NULL;
}

static void lp_mbox_put(struct lp_mbox *b, void *msg)
{
	b->slots[(b->head + b->count) % b->size] = msg;
	b->count++;
	rt_wake_one(&b->not_empty);
}

static void *lp_mbox_get(struct lp_mbox *b)
{
	void *msg = b->slots[b->head];
	b->head = (b->head + 1) % b->size;
	b->count--;
	rt_wake_one(&b->not_full);
	return msg;
}

void sys_mbox_post(sys_mbox_t *mbox, void *msg)
{
	struct lp_mbox *b = *mbox;
	while (b->count == b->size)
		rt_wait(&b->not_full, 0, "lwip mbox post");
	lp_mbox_put(b, msg);
}

/* Messages waiting in a mailbox, or -1 for none (not made yet, or freed). */
int lp_mbox_count(sys_mbox_t *mbox)
{
	return mbox && *mbox ? (int)(*mbox)->count : -1;
}

err_t sys_mbox_trypost(sys_mbox_t *mbox, void *msg)
{
	struct lp_mbox *b = *mbox;
	if (b->count == b->size)
		return ERR_MEM;
	lp_mbox_put(b, msg);
	return ERR_OK;
}

err_t sys_mbox_trypost_fromisr(sys_mbox_t *mbox, void *msg)
{
	return sys_mbox_trypost(mbox, msg);
}

u32_t sys_arch_mbox_fetch(sys_mbox_t *mbox, void **msg, u32_t timeout_ms)
{
	struct lp_mbox *b = *mbox;
	uint64_t start = rt_now_ns(), deadline = lp_deadline(timeout_ms);
	while (b->count == 0) {
		/*
		 * The tcpip thread is about to sleep: it has finished a batch of
		 * input, timers or callbacks, so socket readiness may have changed.
		 */
		if (lp_tcpip_thread && rt_self() == lp_tcpip_thread) {
			lp_tcpip_mbox = b;
			rt_io_changed();
		}
		int tcpip = b == lp_tcpip_mbox;
		if (tcpip)
			lp_tcpip_waiting = 1;
		int r = rt_wait(&b->not_empty, deadline, "lwip mbox");
		if (tcpip)
			lp_tcpip_waiting = 0;
		if (r == -ETIMEDOUT && b->count == 0)
			return SYS_ARCH_TIMEOUT;
	}
	void *m = lp_mbox_get(b);
	if (msg)
		*msg = m;
	return lp_elapsed_ms(start);
}

u32_t sys_arch_mbox_tryfetch(sys_mbox_t *mbox, void **msg)
{
	struct lp_mbox *b = *mbox;
	if (b->count == 0)
		return SYS_MBOX_EMPTY;
	void *m = lp_mbox_get(b);
	if (msg)
		*msg = m;
	return 0;
}

/* ---- threads: musl pthreads, i.e. green threads with arena stacks ---- */

static void *lp_thread_start(void *p)
{
	struct lp_thread *t = p;
	/* The stack's threads take no app signals (a handler must never run inside lwIP). */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, 0);
	if (t->is_tcpip)
		lp_tcpip_thread = rt_self();
	t->fn(t->arg);
	return NULL;
}

sys_thread_t sys_thread_new(const char *name, lwip_thread_fn fn, void *arg, int stacksize, int prio)
{
	(void)prio;
	struct lp_thread *t = calloc(1, sizeof(*t));
	pthread_attr_t attr;
	pthread_t id;
	if (!t)
		LWIP_PLATFORM_ASSERT("sys_thread_new: out of memory");
	t->fn = fn;
	t->arg = arg;
	t->is_tcpip = name && strcmp(name, TCPIP_THREAD_NAME) == 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stacksize > 0)
		pthread_attr_setstacksize(&attr, (size_t)stacksize);
	if (pthread_create(&id, &attr, lp_thread_start, t) != 0)
		LWIP_PLATFORM_ASSERT("sys_thread_new: pthread_create failed");
	pthread_attr_destroy(&attr);
	return t;   /* kept for the thread's lifetime (lwIP's threads never exit) */
}

/* ---- randomness for ISNs and ephemeral ports: xorshift seeded from the host ---- */

static uint64_t lp_rand_state;

unsigned int lp_random32(void)
{
	if (lp_rand_state == 0) {
		const struct cap_control *ctl = (const struct cap_control *)CAP_CONTROL_ADDR;
		uint64_t seed;
		memcpy(&seed, ctl->random_seed + 8, sizeof(seed));
		lp_rand_state = seed ? seed : 0x9e3779b97f4a7c15ull;
	}
	uint64_t x = lp_rand_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	lp_rand_state = x;
	return (unsigned int)(x >> 32);
}
