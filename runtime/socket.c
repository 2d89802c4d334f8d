/* socket.c: BSD socket calls on the fd table, through the socket file's operations (rt_net.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_sched.h"
#include "runtime/rt_sys.h"

static const struct rt_net_ops *net_ops;

void rt_net_register(const struct rt_net_ops *ops)
{
	net_ops = ops;
}

const struct rt_net_ops *rt_net(void)
{
	return net_ops;
}

static struct rt_file *sock_file(int fd, long *err)
{
	struct rt_file *f = rt_fd_get(fd);
	*err = !f ? -EBADF : !f->ops->sock ? -ENOTSOCK : 0;
	return *err ? 0 : f;
}

static int nonblocking(struct rt_file *f, int flags)
{
	return (f->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

static int file_flags(int type_flags)
{
	return (type_flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
}

/*
 * The stack lives in pid 1: another process's TCP socket is asked of it
 * (sockask.c), a UDP socket is served by it through the window (udprelay.c).
 * Other kinds fail as they do in pid 1 (musl asks for nscd's AF_UNIX socket,
 * and for an AF_INET6 one when a name server is IPv6).
 */
static long socket_elsewhere(int domain, int type, int protocol, int flags)
{
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	if (type == SOCK_STREAM)
		return protocol && protocol != IPPROTO_TCP ? -EPROTONOSUPPORT : rt_ask_socket(flags);
	if (type == SOCK_DGRAM)
		return protocol && protocol != IPPROTO_UDP ? -EPROTONOSUPPORT : rt_udp_socket(flags);
	return type == SOCK_RAW ? -EPERM : -ESOCKTNOSUPPORT;
}

long rt_sys_socket(int domain, int type, int protocol)
{
	int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct rt_file *f;
	if (!net_ops)
		return -EAFNOSUPPORT;   /* linked without a network stack */
	if (rt_proc_pid() != 1)
		return socket_elsewhere(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol, flags);
	long r = net_ops->socket(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol, file_flags(flags), &f);
	if (r < 0)
		return r;
	return rt_fd_install_new(f, (flags & SOCK_CLOEXEC) != 0);
}

long rt_sys_socketpair(int domain, int type, int protocol, int *sv)
{
	if (domain != AF_UNIX)
		return domain == AF_INET || domain == AF_INET6 ? -EOPNOTSUPP : -EAFNOSUPPORT;
	if (protocol && protocol != PF_UNIX)
		return -EPROTONOSUPPORT;
	return rt_unix_socketpair(type, sv);   /* unixsock.c: no stack involved */
}

long rt_sys_bind(int fd, const void *addr, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? f->ops->sock->bind(f, addr, len) : err;
}

long rt_sys_listen(int fd, int backlog)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	long r = f->ops->sock->listen(f, backlog);
	rt_io_changed();
	return r;
}

long rt_sys_accept4(int fd, void *addr, unsigned *len, int flags)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	struct rt_file *nf;
	long r = f->ops->sock->accept(f, addr, len, nonblocking(f, 0), file_flags(flags), &nf);
	if (r < 0)
		return r;
	rt_io_changed();
	return rt_fd_install_new(nf, (flags & SOCK_CLOEXEC) != 0);
}

long rt_sys_connect(int fd, const void *addr, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	long r = f->ops->sock->connect(f, addr, len, nonblocking(f, 0));
	rt_io_changed();
	return r;
}

long rt_sys_sendto(int fd, const void *buf, size_t len, int flags, const void *addr, unsigned alen)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	struct rt_iovec v = { (void *)buf, len };
	return f->ops->sock->sendmsg(f, &v, 1, addr, addr ? alen : 0, flags, nonblocking(f, flags));
}

long rt_sys_recvfrom(int fd, void *buf, size_t len, int flags, void *addr, unsigned *alen)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	struct rt_iovec v = { buf, len };
	int mflags = 0;
	return f->ops->sock->recvmsg(f, &v, 1, addr, addr ? alen : 0, flags, nonblocking(f, flags), &mflags);
}

long rt_sys_sendmsg(int fd, const void *msgp, int flags)
{
	long err;
	const struct msghdr *m = msgp;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	if (m->msg_controllen && rt_unix_is_pair_end(f)) {   /* SCM_RIGHTS (fdpass.c) */
		if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR | MSG_MORE))
			return -EOPNOTSUPP;
		return rt_fdpass_sendmsg(f, m, nonblocking(f, flags));
	}
	return f->ops->sock->sendmsg(f, m->msg_iov, (int)m->msg_iovlen, m->msg_name,
	                             m->msg_name ? m->msg_namelen : 0, flags, nonblocking(f, flags));
}

long rt_sys_recvmsg(int fd, void *msgp, int flags)
{
	long err;
	struct msghdr *m = msgp;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	if (rt_unix_is_pair_end(f) && !(flags & MSG_WAITALL))
		return rt_fdpass_recvmsg(f, m, flags, nonblocking(f, flags));   /* with descriptors passed */
	int mflags = 0;
	uint32_t nl = m->msg_name ? m->msg_namelen : 0;
	long r = f->ops->sock->recvmsg(f, m->msg_iov, (int)m->msg_iovlen, m->msg_name,
	                               m->msg_name ? &nl : 0, flags, nonblocking(f, flags), &mflags);
	if (r >= 0) {
		if (m->msg_name)
			m->msg_namelen = nl;
		m->msg_controllen = 0;
		m->msg_flags = mflags;
	}
	return r;
}

long rt_sys_sendmmsg(int fd, void *msgs, unsigned n, int flags)
{
	struct mmsghdr *v = msgs;
	unsigned i;
	for (i = 0; i < n; i++) {
		long r = rt_sys_sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0)
			return i ? (long)i : r;
		v[i].msg_len = (unsigned)r;
	}
	return (long)i;
}

long rt_sys_recvmmsg(int fd, void *msgs, unsigned n, int flags)
{
	struct mmsghdr *v = msgs;
	unsigned i;
	for (i = 0; i < n; i++) {
		long r = rt_sys_recvmsg(fd, &v[i].msg_hdr, i ? flags | MSG_DONTWAIT : flags);
		if (r < 0)
			return i ? (long)i : r;
		v[i].msg_len = (unsigned)r;
	}
	return (long)i;
}

long rt_sys_shutdown(int fd, int how)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	long r = f->ops->sock->shutdown(f, how);
	rt_io_changed();
	return r;
}

long rt_sys_getsockopt(int fd, int level, int name, void *val, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? f->ops->sock->getsockopt(f, level, name, val, len) : err;
}

long rt_sys_setsockopt(int fd, int level, int name, const void *val, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? f->ops->sock->setsockopt(f, level, name, val, len) : err;
}

long rt_sys_getsockname(int fd, void *addr, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? f->ops->sock->getsockname(f, addr, len) : err;
}

long rt_sys_getpeername(int fd, void *addr, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? f->ops->sock->getpeername(f, addr, len) : err;
}
