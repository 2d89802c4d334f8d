/* signal.c: signal dispositions and masks kept in memory; signals to self run handlers synchronously. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

#define NSIG_ 65

/* The kernel's struct sigaction (what musl passes to rt_sigaction). */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static struct k_sigaction actions[NSIG_];
static stack_t altstack = { .ss_flags = SS_DISABLE };
/* Process-wide pending signals; syscall.c checks the word at every call (see rt_timer.h). */
uint64_t rt_signal_pending_bits;
static int pending_code[NSIG_];        /* si_code of each pending signal, for signalfd */
struct rt_waitq rt_signal_waitq;       /* pause, sigsuspend, sigtimedwait and sleeps */

#define SIGBIT(s) (1ULL << ((s) - 1))

static int deliver(int sig);
static int ran_without_restart;   /* deliver ran a handler without SA_RESTART */

/*
 * A signal raised while blocked runs as soon as the mask lets it (raise() blocks around tkill).
 * Returns how many handlers ran: an ignored signal (SIGCHLD's default) interrupts no wait.
 */
static int deliver_pending(void)
{
	uint64_t mask = rt_self()->sigmask;
	int n = 0;
	while (rt_signal_pending_bits & ~mask) {
		int sig = __builtin_ctzll(rt_signal_pending_bits & ~mask) + 1;
		rt_signal_pending_bits &= ~SIGBIT(sig);
		n += deliver(sig);
		mask = rt_self()->sigmask;
	}
	return n;
}

int rt_signal_deliver_unblocked(void)
{
	return deliver_pending();
}

int rt_signal_interrupts(void)
{
	ran_without_restart = 0;
	deliver_pending();
	return ran_without_restart;
}

/*
 * A signal from a timer (SIGALRM) or any other asynchronous source: it is
 * pending until a thread that does not block it makes a system call or
 * sleeps in an interruptible wait (which then fails with EINTR), or a
 * signalfd reads it.  Nothing preempts a running green thread.
 */
void rt_signal_post(int sig, int code)
{
	if (sig < 1 || sig >= NSIG_)
		return;
	rt_signal_pending_bits |= SIGBIT(sig);
	pending_code[sig] = code;
	rt_wake_all(&rt_signal_waitq);
	rt_io_changed();
}

int rt_signal_take(uint64_t set, int *code)
{
	uint64_t ready = rt_signal_pending_bits & set;
	if (!ready)
		return 0;
	int sig = __builtin_ctzll(ready) + 1;
	rt_signal_pending_bits &= ~SIGBIT(sig);
	if (code)
		*code = pending_code[sig];
	return sig;
}

uint64_t rt_signal_pending_set(void)
{
	return rt_signal_pending_bits;
}

int rt_signal_child_autoreap(void)
{
	return actions[SIGCHLD].handler == SIG_IGN || (actions[SIGCHLD].flags & SA_NOCLDWAIT);
}

void rt_signal_forked(void)
{
	rt_signal_pending_bits = 0;
	rt_waitq_init(&rt_signal_waitq);   /* its threads stayed with the parent */
}

void rt_signal_exec_save(uint64_t *ignored, uint64_t *pending)
{
	*ignored = 0;
	for (int s = 1; s < NSIG_; s++)
		if (actions[s].handler == SIG_IGN)
			*ignored |= SIGBIT(s);
	*pending = rt_signal_pending_bits;
}

void rt_signal_exec_restore(uint64_t ignored, uint64_t pending, uint64_t blocked)
{
	for (int s = 1; s < NSIG_; s++)
		if ((ignored & SIGBIT(s)) && s != SIGKILL && s != SIGSTOP)
			actions[s].handler = SIG_IGN;
	rt_self()->sigmask = blocked & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	for (int s = 1; s < NSIG_; s++)
		if (pending & SIGBIT(s))
			pending_code[s] = SI_USER;
	rt_signal_pending_bits = pending;   /* at start: nobody waits yet */
}

long rt_sys_rt_sigaction(int sig, const void *act, void *old, size_t setsize)
{
	if (sig < 1 || sig >= NSIG_ || setsize != 8)
		return -EINVAL;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (old)
		memcpy(old, &actions[sig], sizeof actions[sig]);
	if (act)
		memcpy(&actions[sig], act, sizeof actions[sig]);
	return 0;
}

long rt_sys_rt_sigprocmask(int how, const void *set, void *old, size_t setsize)
{
	struct rt_thread *t = rt_self();
	if (setsize != 8)
		return -EINVAL;
	if (old)
		memcpy(old, &t->sigmask, 8);
	if (set) {
		uint64_t s;
		memcpy(&s, set, 8);
		switch (how) {
		case SIG_BLOCK: t->sigmask |= s; break;
		case SIG_UNBLOCK: t->sigmask &= ~s; break;
		case SIG_SETMASK: t->sigmask = s; break;
		default: return -EINVAL;
		}
		t->sigmask &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
		deliver_pending();
	}
	return 0;
}

long rt_sys_rt_sigpending(void *set, size_t setsize)
{
	if (setsize != 8)
		return -EINVAL;
	memcpy(set, &rt_signal_pending_bits, 8);
	return 0;
}

long rt_sys_sigaltstack(const void *ss, void *old)
{
	if (old)
		memcpy(old, &altstack, sizeof altstack);
	if (ss)
		memcpy(&altstack, ss, sizeof altstack);
	return 0;
}

static int default_ignores(int sig)
{
	return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}

/* Act on sig: 1 if its handler ran, 0 if it was ignored (a default action that ends us never returns). */
static int deliver(int sig)
{
	struct k_sigaction *a = &actions[sig];
	void (*h)(int) = a->handler;
	if (h == SIG_IGN)
		return 0;
	if (h == SIG_DFL) {
		if (default_ignores(sig))
			return 0;
		char msg[48] = "capsule: terminated by signal ";
		size_t l = strlen(msg);
		if (sig >= 10)
			msg[l++] = (char)('0' + sig / 10);
		msg[l++] = (char)('0' + sig % 10);
		msg[l++] = '\n';
		msg[l] = 0;
		if (sig != SIGPIPE)   /* a pipeline's writer ending so is routine: shells say nothing either */
			rt_console_write(2, msg);
		RT_CONTROL->exit_signal = (uint32_t)sig;   /* a parent process sees WIFSIGNALED */
		rt_exit_capsule(128 + sig);
	}
	/* Run the handler now, on this thread's stack, with its mask applied. */
	if (!(a->flags & SA_RESTART))
		ran_without_restart = 1;
	struct rt_thread *t = rt_self();
	uint64_t saved = t->sigmask;
	t->sigmask |= a->mask;
	if (!(a->flags & SA_NODEFER))
		t->sigmask |= SIGBIT(sig);
	if (a->flags & SA_RESETHAND)
		a->handler = SIG_DFL;
	if (a->flags & SA_SIGINFO) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_signo = sig;
		si.si_code = SI_TKILL;
		si.si_pid = 1;
		void (*sa)(int, siginfo_t *, void *);
		memcpy(&sa, &h, sizeof sa);   /* the kernel's union of handler and sigaction */
		sa(sig, &si, 0);
	} else {
		h(sig);
	}
	t->sigmask = saved;
	return 1;
}

long rt_sys_kill_self(int sig)
{
	if (sig < 0 || sig >= NSIG_)
		return -EINVAL;
	if (sig == 0)
		return 0;
	if (sig == SIGKILL || sig == SIGSTOP) {
		actions[sig].handler = SIG_DFL;
		deliver(sig);
	}
	if (rt_self()->sigmask & SIGBIT(sig)) {
		rt_signal_pending_bits |= SIGBIT(sig);
		pending_code[sig] = SI_TKILL;
		rt_wake_all(&rt_signal_waitq);   /* another thread may take it */
		rt_io_changed();                 /* a signalfd may read it */
		return 0;
	}
	deliver(sig);
	return 0;
}

/* Sleep until a signal the mask lets through arrives; run its handler; EINTR. */
static long wait_for_signal(uint64_t mask)
{
	struct rt_thread *t = rt_self();
	uint64_t saved = t->sigmask;
	t->sigmask = mask & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	while (!deliver_pending())
		rt_wait(&rt_signal_waitq, 0, "sigsuspend");
	t->sigmask = saved;
	return -EINTR;
}

long rt_sys_rt_sigsuspend(const void *set, size_t setsize)
{
	uint64_t m;
	if (setsize != 8)
		return -EINVAL;
	memcpy(&m, set, 8);
	return wait_for_signal(m);
}

long rt_sys_pause(void)
{
	return wait_for_signal(rt_self()->sigmask);
}

/* sigwaitinfo/sigtimedwait: take a pending signal of set, waiting at most timeout (0: forever). */
long rt_sys_rt_sigtimedwait(const void *setp, void *info, const void *timeout, size_t setsize)
{
	uint64_t set;
	if (setsize != 8)
		return -EINVAL;
	if (timeout && !rt_timespec_valid(timeout))
		return -EINVAL;
	memcpy(&set, setp, 8);
	set &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	uint64_t deadline = timeout ? rt_now_ns() + rt_timespec_ns(timeout) : 0;
	for (;;) {
		int code = 0;
		int sig = rt_signal_take(set, &code);
		if (sig) {
			if (info) {
				siginfo_t *si = info;
				memset(si, 0, sizeof *si);
				si->si_signo = sig;
				si->si_code = code;
				si->si_pid = code == SI_KERNEL ? 0 : 1;
			}
			return sig;
		}
		if (deliver_pending())
			return -EINTR;
		if (timeout && rt_now_ns() >= deadline)
			return -EAGAIN;
		rt_wait(&rt_signal_waitq, deadline ? deadline : 0, "sigtimedwait");
	}
}
