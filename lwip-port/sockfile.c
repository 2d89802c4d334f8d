/* sockfile.c: lwIP sockets as capsule files: the operations lwip-port registers with the runtime (rt_net.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "capsule-abi/cap_report.h"
#include "lwip-port/lp_report.h"
#include "lwip-port/lp_sock.h"
#include "runtime/rt_net.h"

static const struct rt_file_ops lp_file_ops;

/* A file for lwIP socket s; closes s if there is no memory for one. */
static long lp_file_new(long s, int flags, struct rt_file **out)
{
	if (s < 0)
		return s;
	struct rt_file *f = rt_file_new(&lp_file_ops, O_RDWR | flags);
	if (!f) {
		lp_close((int)s);
		return -ENFILE;
	}
	f->handle = (int)s;
	*out = f;
	return 0;
}

static int lp_nonblock(struct rt_file *f)
{
	return (f->flags & O_NONBLOCK) != 0;
}

/* ---- the BSD socket calls ---- */

static long lp_file_socket(int domain, int type, int protocol, int flags, struct rt_file **out)
{
	return lp_file_new(lp_socket(domain, type, protocol), flags, out);
}

static long lp_file_bind(struct rt_file *f, const void *addr, uint32_t len)
{
	return lp_bind(f->handle, addr, len);
}

static long lp_file_listen(struct rt_file *f, int backlog)
{
	return lp_listen(f->handle, backlog);
}

static long lp_file_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
                           struct rt_file **out)
{
	return lp_file_new(lp_accept(f->handle, addr, len, nonblock), flags, out);
}

static long lp_file_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	return lp_connect(f->handle, addr, len, nonblock);
}

static long lp_file_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr,
                            uint32_t addrlen, int flags, int nonblock)
{
	return lp_sendmsg(f->handle, iov, iovcnt, addr, addrlen, flags, nonblock);
}

static long lp_file_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                            int flags, int nonblock, int *msg_flags_out)
{
	return lp_recvmsg(f->handle, iov, iovcnt, addr, addrlen, flags, nonblock, msg_flags_out);
}

static long lp_file_shutdown(struct rt_file *f, int how)
{
	return lp_shutdown(f->handle, how);
}

static long lp_file_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	return lp_getsockopt(f->handle, level, name, val, len);
}

static long lp_file_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	return lp_setsockopt(f->handle, level, name, val, len);
}

static long lp_file_getsockname(struct rt_file *f, void *addr, uint32_t *len)
{
	return lp_getsockname(f->handle, addr, len);
}

static long lp_file_getpeername(struct rt_file *f, void *addr, uint32_t *len)
{
	return lp_getpeername(f->handle, addr, len);
}

static const struct rt_sock_ops lp_sock_ops = {
	.bind = lp_file_bind,
	.listen = lp_file_listen,
	.accept = lp_file_accept,
	.connect = lp_file_connect,
	.sendmsg = lp_file_sendmsg,
	.recvmsg = lp_file_recvmsg,
	.shutdown = lp_file_shutdown,
	.getsockopt = lp_file_getsockopt,
	.setsockopt = lp_file_setsockopt,
	.getsockname = lp_file_getsockname,
	.getpeername = lp_file_getpeername,
};

/* ---- the file operations: read and write are recv and send without flags ---- */

static long lp_file_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)pos;
	int mflags = 0;
	return lp_recvmsg(f->handle, iov, iovcnt, 0, 0, 0, lp_nonblock(f), &mflags);
}

static long lp_file_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)pos;
	return lp_sendmsg(f->handle, iov, iovcnt, 0, 0, 0, lp_nonblock(f));
}

static int lp_file_poll(struct rt_file *f, int events)
{
	return lp_poll(f->handle, events);
}

static long lp_file_nread(struct rt_file *f)
{
	return lp_nread(f->handle);
}

static void lp_file_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
}

static void lp_file_release(struct rt_file *f)
{
	lp_close(f->handle);
	rt_io_changed();
}

static void lp_file_report(struct rt_file *f, struct cap_report_fd *r)
{
	int kind = lp_report_socket(f->handle, &r->u.sock);
	r->kind = kind ? (uint32_t)kind : CAP_RFD_TCP;
}

static const char *lp_file_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)why;
	return lp_report_socket_wait(f->handle, q);
}

static const struct rt_file_ops lp_file_ops = {
	.read = lp_file_read,
	.write = lp_file_write,
	.poll = lp_file_poll,
	.nread = lp_file_nread,
	.fstat = lp_file_fstat,
	.release = lp_file_release,
	.report = lp_file_report,
	.wait_name = lp_file_wait_name,
	.sock = &lp_sock_ops,
};

/* ---- registration ---- */


/*
 * Global, so that capcc can pull this file (and with it lwip-port and lwIP)
 * out of the archive with -Wl,--undefined=lp_net_ops: nothing in the app or
 * the runtime names it.
 */
const struct rt_net_ops lp_net_ops = {
	.start = lp_init,
	.socket = lp_file_socket,
	.after_resume = lp_after_resume,
	.wait_name = lp_report_wait,
};

/* Before main (musl runs constructors first): __wrap_main then starts the stack through lp_net_ops. */
__attribute__((constructor)) static void lp_register(void)
{
	rt_net_register(&lp_net_ops);
}
