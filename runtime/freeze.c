/* freeze.c: the capsule's side of snapshots: FREEZE at the safe point, FROZEN, then THAW or resume. */
#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_held.h"
#include "runtime/rt_host.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"

#define EAGAIN_ 11
#define EINTR_  4

/* Below the saved rsp on this stack: scratch for a resuming loader (64 KiB promised). */
#define RT_FREEZE_STACK (96 * 1024)

int rt_freeze_pending;
static uint16_t freeze_seq;   /* the pending FREEZE's number: FROZEN echoes it */
static _Alignas(16) unsigned char freeze_stack[RT_FREEZE_STACK];
/* Packets the host sent while we were frozen (it should send none): dropped, counted. */
static unsigned long frozen_dropped;
/* Host wall clock at the last freeze (the monotonic clock hides the pause by design). */
static int64_t frozen_real_ns;

/* Channel records other than packets, from the channel drain (never blocks). */
void rt_freeze_control(int type, unsigned seq)
{
	if (type == CAP_MSG_FREEZE) {
		rt_freeze_pending = 1;   /* acted on by the scheduler right after the drain */
		freeze_seq = (uint16_t)seq;
	}
	/* THAW outside a freeze, or anything unknown: nothing to do. */
}

static void send_msg(int type, uint16_t seq)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, seq };
	struct rt_iovec iov = { &h, sizeof h };
	rt_host_channel_send(&iov, 1);
}

_Noreturn void rt_host_gone(int frozen)
{
	/*
	 * While frozen the memfd may still be read by whoever holds it: leave
	 * the control page exactly as the snapshot saw it.
	 */
	if (frozen)
		rt_host_exit(0);
	rt_console_write(2, "capsule: host closed the packet channel; exiting\n");
	rt_exit_capsule(0);
}

/*
 * Frozen in this process: the host is copying the memfd, so touch nothing
 * in capsule memory but this stack (below the saved rsp, dead in the copy)
 * until CAP_MSG_THAW.  Returns the number of packets dropped meanwhile.
 */
static unsigned long wait_for_thaw(void)
{
	unsigned long dropped = 0;
	for (;;) {
		int cin = 0, cout = 0, con = 0, hup = 0;
		long r = rt_host_wait(0, 0, -1, &cin, &cout, &con, &hup, 0);
		if (r < 0 && r != -EINTR_)
			rt_host_gone(1);
		while (cin || hup) {
			/* SEQPACKET: a short read takes the record's header and discards the rest. */
			unsigned char rec[16];
			long n = rt_host_read(CAP_FD_CHANNEL, rec, sizeof rec);
			if (n == -EAGAIN_ || n == -EINTR_)
				break;
			if (n <= 0)
				rt_host_gone(1);   /* host gone (snapshot taken, capsule not kept running) */
			if (n < (long)sizeof(struct cap_chan_hdr))
				continue;
			if (rec[0] == CAP_MSG_THAW)
				return dropped;
			dropped++;
		}
	}
}

/* Packets the host held for us (cap_held.h) to the stack; then the area's pages go back. */
static void take_held(void)
{
	if (((const struct cap_held_header *)CAP_HELD_ADDR)->magic != CAP_HELD_MAGIC)
		return;
	rt_draining = 1;   /* the stack may take them right here: nothing may block meanwhile */
	rt_channel_take_held((void *)CAP_HELD_ADDR, CAP_HELD_SIZE);
	rt_draining = 0;
	rt_host_discard((void *)CAP_HELD_ADDR, CAP_HELD_SIZE);   /* later snapshots carry none */
}

/* How long peers went unanswered: host wall clock now minus at the freeze; -1 if unknown. */
static int64_t paused_ns(void)
{
	int64_t now = 0;
	if (!frozen_real_ns || rt_host_clock(0 /* CLOCK_REALTIME */, &now) < 0 || now < frozen_real_ns)
		return -1;
	return now - frozen_real_ns;
}

/* A new process started from a snapshot: redo what is per-process, then tell the host. */
static void after_resume(uint64_t fs_base)
{
	struct cap_control *c = RT_CONTROL;
	rt_sched_resumed(fs_base);
	rt_tun_forget();   /* a new process: its host says afresh whether fd 8 is its TUN */
	/*
	 * The host should have set mono_offset_ns so the clock continues at
	 * frozen_at_ns; if it did not, never let time go back (lwIP's timers
	 * and every app deadline assume a monotonic clock).
	 */
	if ((int64_t)rt_now_ns() < c->frozen_at_ns) {
		int64_t host = 0;
		rt_host_clock(1 /* CLOCK_MONOTONIC */, &host);
		c->mono_offset_ns = host - c->frozen_at_ns;
	}
	rt_hostfs_after_freeze(1);       /* open host files again by name, on this host */
	rt_send_ready();                 /* state RUNNING; the host prints "running" */
	take_held();                     /* what peers sent as we froze, before the nudge */
	/* The stack is pid 1's: a child's copy of it has no peers to tell. */
	if (rt_net() && rt_net()->after_resume && rt_proc_pid() == 1)
		rt_net()->after_resume(paused_ns());   /* tell TCP peers we are back, now */
}

/* Runs on freeze_stack: see rt_freeze. */
static void freeze_on_stack(void *arg)
{
	uint64_t fs_base = *(const uint64_t *)arg;
	struct cap_control *c = RT_CONTROL;
	/* Everything the snapshot must hold is written before the context is saved. */
	int64_t now = (int64_t)rt_now_ns();
	c->report_size = rt_report_write((void *)CAP_REPORT_ADDR, CAP_REPORT_SIZE, now);
	c->frozen_at_ns = now;
	if (rt_host_clock(0 /* CLOCK_REALTIME */, &frozen_real_ns) < 0)
		frozen_real_ns = 0;
	c->freeze_count++;
	/*
	 * The vDSO is this process's: a snapshot carries none, so a host whose
	 * loader does not publish one (an older one) leaves the capsule on the
	 * clock system call rather than on a stale address.
	 */
	uint64_t vdso = c->vdso_clock_gettime;
	c->vdso_clock_gettime = 0;
	if (rt_ctx_save(&c->resume_ctx, fs_base)) {
		after_resume(c->resume_ctx.fs_base);   /* vdso_clock_gettime: the new loader's */
		return;
	}
	send_msg(CAP_MSG_FROZEN, freeze_seq);
	unsigned long dropped = wait_for_thaw();
	c->vdso_clock_gettime = vdso;   /* thawed: the same process */
	frozen_dropped += dropped;
	take_held();                 /* a stop that failed: the host held packets for our resume */
	rt_hostfs_after_freeze(0);   /* the host dropped our file requests meanwhile: send them again */
	/*
	 * Peers may have lost packets to the freeze (a keep-running snapshot,
	 * a migration that aborted after a long transfer) and be backing off.
	 */
	if (rt_net() && rt_net()->after_resume && rt_proc_pid() == 1)
		rt_net()->after_resume(paused_ns());
}

void rt_freeze(uint64_t fs_base)
{
	rt_freeze_pending = 0;
	/*
	 * Freeze on a stack of our own, not the current green thread's (which
	 * may be small and deep): then everything below resume_ctx.rsp on it,
	 * 64 KiB at least, is dead at the safe point, and a resuming loader may
	 * use it as its scratch stack.
	 */
	rt_run_on_stack(freeze_on_stack, &fs_base, freeze_stack + sizeof freeze_stack);
}
