/* signal.c: signal dispositions and masks kept in memory; signals to self run handlers synchronously. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"

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
static uint64_t pending;

#define SIGBIT(s) (1ULL << ((s) - 1))

static void deliver(int sig);

/* A signal raised while blocked runs as soon as the mask lets it (raise() blocks around tkill). */
static void deliver_pending(void)
{
	uint64_t mask = rt_self()->sigmask;
	while (pending & ~mask) {
		int sig = __builtin_ctzll(pending & ~mask) + 1;
		pending &= ~SIGBIT(sig);
		deliver(sig);
		mask = rt_self()->sigmask;
	}
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
	memcpy(set, &pending, 8);
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

static void deliver(int sig)
{
	struct k_sigaction *a = &actions[sig];
	void (*h)(int) = a->handler;
	if (h == SIG_IGN)
		return;
	if (h == SIG_DFL) {
		if (default_ignores(sig))
			return;
		char msg[48] = "capsule: terminated by signal ";
		size_t l = strlen(msg);
		if (sig >= 10)
			msg[l++] = (char)('0' + sig / 10);
		msg[l++] = (char)('0' + sig % 10);
		msg[l++] = '\n';
		msg[l] = 0;
		rt_console_write(2, msg);
		rt_exit_capsule(128 + sig);
	}
	/* Run the handler now, on this thread's stack, with its mask applied. */
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
		pending |= SIGBIT(sig);
		return 0;
	}
	deliver(sig);
	return 0;
}

/* sigsuspend: deliver a pending signal unblocked by the new mask, else wait forever. */
long rt_sys_rt_sigsuspend(const void *set, size_t setsize)
{
	uint64_t m;
	if (setsize != 8)
		return -EINVAL;
	memcpy(&m, set, 8);
	for (int s = 1; s < NSIG_; s++) {
		if ((pending & SIGBIT(s)) && !(m & SIGBIT(s))) {
			pending &= ~SIGBIT(s);
			deliver(s);
			return -EINTR;
		}
	}
	struct rt_waitq never = RT_WAITQ_INIT;
	rt_wait(&never, 0, "sigsuspend");
	return -EINTR;
}
