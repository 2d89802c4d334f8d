/* rt_internal.h: declarations shared by the runtime's own files (not for lwip-port or apps). */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_sched.h"

#define RT_CONTROL ((struct cap_control *)CAP_CONTROL_ADDR)

/* ---- green threads (sched.c, thread.c) ---- */
enum rt_thread_state { RT_T_FREE, RT_T_RUNNING, RT_T_RUNNABLE, RT_T_BLOCKED, RT_T_DEAD };

struct rt_thread {
	uint64_t rsp;               /* saved stack pointer while switched out */
	uint64_t fs;                /* thread pointer (FS base) */
	int tid;
	int state;
	const char *why;            /* what a blocked thread waits for */
	struct rt_waitq *wq;        /* queue it is blocked on */
	struct rt_thread *wq_prev, *wq_next;
	struct rt_thread *run_next;
	struct rt_thread *timed_prev, *timed_next;
	uint64_t deadline;          /* virtual ns; 0 = none */
	int timed_out;
	int *clear_tid;             /* CLONE_CHILD_CLEARTID / set_tid_address */
	volatile int *futex_addr;   /* futex word while waiting on a futex */
	uint32_t futex_bitset;
	uint64_t sigmask;
	uintptr_t unmap_base;       /* stack to free once switched away (__unmapself) */
	size_t unmap_size;
};

struct rt_thread *rt_thread_new(int (*fn)(void *), void *arg, uint64_t stack_top, uint64_t fs);
_Noreturn void rt_thread_exit_current(void);
void rt_wake_thread(struct rt_thread *t);
void rt_sched_set_fs(uint64_t fs);     /* arch_prctl(ARCH_SET_FS) for the calling thread */
int rt_thread_count(void);
/* Thread table slots, for the freeze report (state RT_T_FREE: unused). */
struct rt_thread *rt_thread_slot(int i);
int rt_thread_slots(void);
void rt_send_ready(void);
extern int rt_ready_hold;              /* > 0: idle is a wait for the host's file answer: no READY */              /* CAP_MSG_READY + state RUNNING */
void rt_sched_resumed(uint64_t fs);    /* a new process: forget per-process CPU facts */
void rt_sched_forked(void);            /* a forked child: only the calling thread lives on */
/* The idle wait must watch console input while this is > 0. */
extern int rt_console_watchers;
extern struct rt_waitq rt_console_waitq;

/* ---- syscall handlers: return value or -errno ---- */
long rt_futex(volatile int *uaddr, int op, int val, const void *timeout, volatile int *uaddr2, int val3);
_Noreturn void rt_thread_syscall_exit(int code);
long rt_set_tid_address(int *tidptr);

/* memory (mem.c) */
void rt_mem_init(void);
long rt_mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, long off);
long rt_munmap(uintptr_t addr, size_t len);
long rt_mremap(uintptr_t old, size_t oldlen, size_t newlen, int flags, uintptr_t newaddr);
long rt_brk(uintptr_t addr);
long rt_msync(uintptr_t addr, size_t len, int flags);
long rt_mem_total(void);
long rt_mem_free(void);
/*
 * The capsule's memory budget (mem.c): rt_mem_fork_budget, before a fork,
 * starts every process publishing what it maps (-ENOMEM: the copy would not
 * fit); rt_mem_forked_child, first thing in a child; rt_mem_exiting, as a
 * process ends.
 */
long rt_mem_fork_budget(void);
void rt_mem_forked_child(void);
void rt_mem_exiting(void);

/* clock.c */
long rt_clock_gettime(int clk, void *ts);
long rt_clock_getres(int clk, void *ts);
long rt_gettimeofday(void *tv);
long rt_time(long *t);
long rt_nanosleep(const void *req, void *rem);
long rt_clock_nanosleep(int clk, int flags, const void *req, void *rem);
uint64_t rt_timespec_ns(const void *ts);        /* struct timespec -> ns (saturating) */
int rt_timespec_valid(const void *ts);
uint64_t rt_realtime_to_virtual(uint64_t real_ns);

/* channel.c */
void rt_channel_drain(int all);        /* from the idle wait (all: read to the end): never blocks */
extern int rt_draining;                /* set while it runs: rt_wait refuses to block */
unsigned rt_channel_take_held(void *area, size_t size);  /* after a freeze: packets held for us */
void rt_channel_record(const unsigned char *rec, size_t n);  /* one record read earlier (a fork's stash) */
void rt_tun_drain(void);                /* from the idle wait when the TUN is readable: never blocks */
void rt_tun_failed(void);               /* the TUN failed: back to the channel, one console line */
void rt_tun_forget(void);               /* a resume: a new process, maybe without a TUN */

/* poll.c */
extern struct rt_waitq rt_io_waitq;

/* freeze.c: snapshot support (see the protocol in capsule-abi/cap_abi.h) */
extern int rt_freeze_pending;          /* CAP_MSG_FREEZE arrived; act at the safe point */
void rt_freeze_control(int type, unsigned seq);  /* a control record from the channel */
void rt_freeze(uint64_t fs_base);      /* at the safe point; returns when thawed or resumed */
_Noreturn void rt_host_gone(int frozen);

/* report.c: the freeze report (capsule-abi/cap_report.h) into dst; returns its size */
uint32_t rt_report_write(void *dst, size_t cap, int64_t now_ns);

/* ctx.S: like setjmp: 0 now, 1 when a loader resumes a snapshot from *c */
__attribute__((returns_twice)) int rt_ctx_save(struct cap_cpu_context *c, uint64_t fs_base);
/* execve (signal.c): the ignored and pending signals to hand over; the new program's start
 * takes them back with the blocked mask (handlers are not kept: they go back to default). */
void rt_signal_exec_save(uint64_t *ignored, uint64_t *pending);
void rt_signal_exec_restore(uint64_t ignored, uint64_t pending, uint64_t blocked);
void rt_run_on_stack(void (*fn)(void *), void *arg, void *stack_top);

/* start/exit */
_Noreturn void rt_exit_capsule(int code);
void rt_console_write(int fd, const char *s);   /* best effort, straight to the host */

#endif
