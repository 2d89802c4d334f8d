/* signalfd.c: signalfd4 descriptors: read pending signals of a mask as struct signalfd_siginfo. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_sched.h"
#include "runtime/rt_timer.h"

#define SIGBIT(s) (1ULL << ((s) - 1))

/*
 * The mask is all a signalfd holds; the signals themselves stay in the
 * runtime's pending set (signal.c), where raise(), kill() and the itimer
 * put them: as on Linux, a signal must be blocked to wait for a signalfd
 * rather than run its handler.
 */
struct rt_signalfd {
	uint64_t mask;
};

static long signalfd_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	struct rt_signalfd *s = f->priv;
	(void)pos;
	/* Linux reads into one buffer: only the first one counts. */
	size_t room = iovcnt > 0 ? iov[0].len : 0;
	size_t n = room / sizeof(struct signalfd_siginfo);
	if (!n)
		return -EINVAL;
	size_t got = 0;
	while (got < n) {
		int code = 0;
		int sig = rt_signal_take(s->mask, &code);
		if (!sig) {
			if (got)
				break;
			if (f->flags & O_NONBLOCK)
				return -EAGAIN;
			rt_wait(&rt_signal_waitq, 0, "signalfd read");
			continue;
		}
		struct signalfd_siginfo si;
		memset(&si, 0, sizeof si);
		si.ssi_signo = (uint32_t)sig;
		si.ssi_code = code;
		si.ssi_pid = code == SI_KERNEL ? 0 : 1;
		memcpy((char *)iov[0].base + got * sizeof si, &si, sizeof si);
		got++;
	}
	rt_io_changed();
	return (long)(got * sizeof(struct signalfd_siginfo));
}

static int signalfd_poll(struct rt_file *f, int events)
{
	struct rt_signalfd *s = f->priv;
	return (rt_signal_pending_set() & s->mask) ? events & (POLLIN | POLLRDNORM) : 0;
}

static void signalfd_release(struct rt_file *f)
{
	free(f->priv);
}

static void signalfd_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct rt_signalfd *s = f->priv;
	r->kind = CAP_RFD_SIGNALFD;
	r->u.signalfd.mask = s->mask;
	r->u.signalfd.pending = rt_signal_pending_set() & s->mask;
}

static const struct rt_file_ops signalfd_ops = {
	.read = signalfd_read, .poll = signalfd_poll, .release = signalfd_release,
	.report = signalfd_report,
};

long rt_sys_signalfd4(int fd, const void *maskp, size_t masksize, int flags)
{
	uint64_t mask;
	if (masksize != sizeof mask || (flags & ~(SFD_CLOEXEC | SFD_NONBLOCK)))
		return -EINVAL;
	memcpy(&mask, maskp, sizeof mask);
	mask &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	if (fd != -1) {
		struct rt_file *f = rt_fd_get(fd);
		if (!f)
			return -EBADF;
		if (f->ops != &signalfd_ops)
			return -EINVAL;
		((struct rt_signalfd *)f->priv)->mask = mask;
		rt_io_changed();
		return fd;
	}
	struct rt_signalfd *s = calloc(1, sizeof *s);
	struct rt_file *f = s ? rt_file_new(&signalfd_ops, O_RDWR | (flags & SFD_NONBLOCK)) : 0;
	if (!f) {
		free(s);
		return -ENOMEM;
	}
	s->mask = mask;
	f->priv = s;
	return rt_fd_install_new(f, (flags & SFD_CLOEXEC) != 0);
}
