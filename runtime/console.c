/* console.c: descriptors 0, 1 and 2 as files: the host's console, best effort and never a stall. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"

static const struct rt_file_ops console_ops;
static struct rt_file console_files[3];

struct rt_file *rt_console_file(int fd)
{
	struct rt_file *f = &console_files[fd];
	f->refs = 2;   /* never freed */
	f->ops = &console_ops;
	f->flags = fd == 0 ? O_RDONLY : O_WRONLY;
	f->handle = fd;
	return f;
}

int rt_console_number(const struct rt_file *f)
{
	return f >= console_files && f < console_files + 3 ? (int)(f - console_files) : -1;
}

static int console_readable(void)
{
	int cin = 0, cout = 0, con = 0, hup = 0;
	rt_host_wait(0, 1, 0, &cin, &cout, &con, &hup, 0);
	return con;
}

static long console_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)f;
	(void)pos;
	for (;;) {
		if (console_readable()) {
			long r = rt_host_read(CAP_FD_CONSOLE_IN, buf, len);
			if (r == -EBADF)
				return 0;    /* no console input at all: end of file */
			if (r != -EAGAIN)
				return r;
		}
		if (nonblock)
			return -EAGAIN;
		rt_console_watchers++;
		rt_wait(&rt_console_waitq, 0, "console");
		rt_console_watchers--;
	}
}

static long console_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, console_read_one);
}

static long console_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)pos;
	int hostfd = f->handle == 2 ? CAP_FD_CONSOLE_ERR : CAP_FD_CONSOLE_OUT;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].len;
	long r = rt_host_writev(hostfd, iov, iovcnt);
	if (r == -EAGAIN || r == -EPIPE || r == -EBADF)
		return (long)total;   /* the console is best effort: never stall the capsule */
	return r;
}

static int console_poll(struct rt_file *f, int events)
{
	if (f->handle == 0)
		return (events & POLLIN) && console_readable() ? POLLIN : 0;
	return events & POLLOUT;
}

static int console_watches(struct rt_file *f)
{
	return f->handle == 0;
}

static long console_nread(struct rt_file *f)
{
	(void)f;
	return 0;
}

static int console_is_tty(int cfd)
{
	uint32_t fl = RT_CONTROL->console_flags;
	uint32_t bit = cfd == 0 ? CAP_CONSOLE_IN_TTY : cfd == 1 ? CAP_CONSOLE_OUT_TTY : CAP_CONSOLE_ERR_TTY;
	return (fl & bit) != 0;
}

static long console_ioctl(struct rt_file *f, unsigned long req, long arg)
{
	if ((req != TIOCGWINSZ && req != TCGETS) || !console_is_tty(f->handle))
		return -ENOTTY;
	if (req == TCGETS) {
		memset((void *)arg, 0, sizeof(struct termios));
		return 0;
	}
	memset((void *)arg, 0, sizeof(struct winsize));
	((struct winsize *)arg)->ws_row = 24;
	((struct winsize *)arg)->ws_col = 80;
	return 0;
}

static void console_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFCHR | 0620;
	st->st_rdev = makedev(136, 0);
}

static void console_report(struct rt_file *f, struct cap_report_fd *r)
{
	(void)f;
	r->kind = CAP_RFD_CONSOLE;
}

static const struct rt_file_ops console_ops = {
	.read = console_read,
	.write = console_write,
	.poll = console_poll,
	.watches_console = console_watches,
	.nread = console_nread,
	.ioctl = console_ioctl,
	.fstat = console_fstat,
	.report = console_report,
};
