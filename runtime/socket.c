/* socket.c: BSD socket calls on the fd table, served by lwIP through lp_sock.h (Linux ABI both ways). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "lwip-port/lp_sock.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"

static struct rt_file *sock_file(int fd, long *err)
{
	struct rt_file *f = rt_fd_get(fd);
	*err = !f ? -EBADF : f->kind != RT_F_SOCKET ? -ENOTSOCK : 0;
	return *err ? 0 : f;
}

static int nonblocking(struct rt_file *f, int flags)
{
	return (f->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

static long install_socket(int s, int type_flags)
{
	struct rt_file *f = rt_file_new(RT_F_SOCKET, O_RDWR | ((type_flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0));
	if (!f) {
		lp_close(s);
		return -ENFILE;
	}
	f->sock = s;
	int fd = rt_fd_install(f, (type_flags & SOCK_CLOEXEC) != 0, 0);
	if (fd < 0)
		rt_file_unref(f);   /* closes s */
	return fd;
}

void rt_socket_release(struct rt_file *f)
{
	if (f->sock >= 0)
		lp_close(f->sock);
	f->sock = -1;
	rt_io_changed();
}

long rt_socket_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int write)
{
	int nb = (f->flags & O_NONBLOCK) != 0;
	long r;
	if (write) {
		r = lp_sendmsg(f->sock, iov, iovcnt, 0, 0, 0, nb);
	} else {
		int mflags = 0;
		r = lp_recvmsg(f->sock, iov, iovcnt, 0, 0, 0, nb, &mflags);
	}
	return r;
}

long rt_sys_socket(int domain, int type, int protocol)
{
	int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
	long s = lp_socket(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol);
	if (s < 0)
		return s;
	return install_socket((int)s, flags);
}

long rt_sys_socketpair(int domain, int type, int protocol, int *sv)
{
	(void)domain; (void)type; (void)protocol; (void)sv;
	return -EOPNOTSUPP;   /* no AF_UNIX in a capsule */
}

long rt_sys_bind(int fd, const void *addr, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? lp_bind(f->sock, addr, len) : err;
}

long rt_sys_listen(int fd, int backlog)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	long r = lp_listen(f->sock, backlog);
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
	long s = lp_accept(f->sock, addr, len, nonblocking(f, 0));
	if (s < 0)
		return s;
	rt_io_changed();
	return install_socket((int)s, flags);
}

long rt_sys_connect(int fd, const void *addr, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	long r = lp_connect(f->sock, addr, len, nonblocking(f, 0));
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
	return lp_sendmsg(f->sock, &v, 1, addr, addr ? alen : 0, flags, nonblocking(f, flags));
}

long rt_sys_recvfrom(int fd, void *buf, size_t len, int flags, void *addr, unsigned *alen)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	struct rt_iovec v = { buf, len };
	int mflags = 0;
	return lp_recvmsg(f->sock, &v, 1, addr, addr ? alen : 0, flags, nonblocking(f, flags), &mflags);
}

long rt_sys_sendmsg(int fd, const void *msgp, int flags)
{
	long err;
	const struct msghdr *m = msgp;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	return lp_sendmsg(f->sock, m->msg_iov, (int)m->msg_iovlen, m->msg_name,
	                  m->msg_name ? m->msg_namelen : 0, flags, nonblocking(f, flags));
}

long rt_sys_recvmsg(int fd, void *msgp, int flags)
{
	long err;
	struct msghdr *m = msgp;
	struct rt_file *f = sock_file(fd, &err);
	if (!f)
		return err;
	int mflags = 0;
	uint32_t nl = m->msg_name ? m->msg_namelen : 0;
	long r = lp_recvmsg(f->sock, m->msg_iov, (int)m->msg_iovlen, m->msg_name,
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
	long r = lp_shutdown(f->sock, how);
	rt_io_changed();
	return r;
}

long rt_sys_getsockopt(int fd, int level, int name, void *val, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? lp_getsockopt(f->sock, level, name, val, len) : err;
}

long rt_sys_setsockopt(int fd, int level, int name, const void *val, unsigned len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? lp_setsockopt(f->sock, level, name, val, len) : err;
}

long rt_sys_getsockname(int fd, void *addr, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? lp_getsockname(f->sock, addr, len) : err;
}

long rt_sys_getpeername(int fd, void *addr, unsigned *len)
{
	long err;
	struct rt_file *f = sock_file(fd, &err);
	return f ? lp_getpeername(f->sock, addr, len) : err;
}
