/* udpsock.c: UDP sockets in every process of a capsule, as the file a process holds: its calls read and write the rings of the socket's object in the shared window, and ask pid 1's relay thread for bind and connect (docs/PROCESSES.md, section 4, "UDP sockets"). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_timer.h"
#include "runtime/rt_udp.h"

/* Linux's time64 names of SO_RCVTIMEO and SO_SNDTIMEO: the same struct timeval on x86_64. */
#define SO_RCVTIMEO_NEW 66
#define SO_SNDTIMEO_NEW 67


static const struct rt_file_ops udp_ops;

static struct udp_shared *udp_of(struct rt_file *f)
{
	return f->priv;
}

/* When a blocking call that starts now gives up (SO_RCVTIMEO, SO_SNDTIMEO); 0: never. */
static uint64_t deadline_of(uint64_t timeout_ns)
{
	return timeout_ns ? rt_now_ns() + timeout_ns : 0;
}

/* Sleep on the window's wake-ups; -EINTR if a signal's handler is due, -EAGAIN past the deadline. */
static long udp_sleep(const char *why, uint64_t deadline)
{
	if (rt_signal_interrupts())
		return -EINTR;
	return rt_wait(&rt_proc_waitq, deadline, why) == -ETIMEDOUT ? -EAGAIN : 0;
}

/* Ask pid 1's relay thread for a bind or connect on the stack's socket; its result. */
static long ask_relay(struct udp_shared *u, uint32_t op, const void *addr, uint32_t len)
{
	uint64_t me = 1ULL << rt_proc_slot();
	for (;;) {   /* one request at a time per socket */
		rt_spin_lock(&u->lock);
		if (u->req_state == REQ_NONE)
			break;
		u->askers |= me;
		rt_spin_unlock(&u->lock);
		rt_wait(&rt_proc_waitq, 0, "udp request");
	}
	u->req_op = op;
	u->req_slot = rt_proc_slot();
	u->req_addrlen = len < sizeof u->req_addr ? len : sizeof u->req_addr;
	memset(&u->req_addr, 0, sizeof u->req_addr);
	memcpy(&u->req_addr, addr, u->req_addrlen);
	__atomic_store_n(&u->req_state, REQ_POSTED, __ATOMIC_RELEASE);
	unsigned owner = u->holds.owner_slot;
	rt_spin_unlock(&u->lock);
	rt_relay_wake(1ULL << owner);
	/* Not interrupted: the relay answers at once (a UDP connect does not wait for a peer). */
	while (__atomic_load_n(&u->req_state, __ATOMIC_ACQUIRE) != REQ_DONE)
		rt_wait(&rt_proc_waitq, 0, op == REQ_BIND ? "bind" : "connect");
	rt_spin_lock(&u->lock);
	long r = u->req_result;
	u->req_state = REQ_NONE;
	uint64_t wake = u->askers;
	u->askers = 0;
	rt_spin_unlock(&u->lock);
	if (wake)
		rt_relay_wake(wake);
	return r;
}

static long udp_bind(struct rt_file *f, const void *addr, uint32_t len)
{
	struct udp_shared *u = udp_of(f);
	if (len < sizeof(struct sockaddr_in))
		return -EINVAL;
	if (((const struct sockaddr_in *)addr)->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	if (__atomic_load_n(&u->local.sin_port, __ATOMIC_ACQUIRE))
		return -EINVAL;   /* bound already */
	return ask_relay(u, REQ_BIND, addr, len);
}

/* An unbound socket that sends gets an ephemeral port first, as on Linux (getsockname shows it). */
static long autobind(struct udp_shared *u)
{
	if (__atomic_load_n(&u->local.sin_port, __ATOMIC_ACQUIRE))
		return 0;
	struct sockaddr_in any = { .sin_family = AF_INET };
	long r = ask_relay(u, REQ_BIND, &any, sizeof any);
	return r == -EINVAL ? 0 : r;   /* another process bound it meanwhile */
}

static long udp_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	(void)nonblock;   /* a UDP connect only records the peer */
	if (len < sizeof(sa_family_t))
		return -EINVAL;
	sa_family_t fam;
	memcpy(&fam, addr, sizeof fam);
	if (fam == AF_INET && len < sizeof(struct sockaddr_in))
		return -EINVAL;
	if (fam != AF_INET && fam != AF_UNSPEC)
		return -EAFNOSUPPORT;
	return ask_relay(udp_of(f), REQ_CONNECT, addr, len);   /* AF_UNSPEC: dissolves the association */
}

static long udp_listen(struct rt_file *f, int backlog)
{
	(void)f; (void)backlog;
	return -EOPNOTSUPP;
}

static long udp_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
                       struct rt_file **out)
{
	(void)f; (void)addr; (void)len; (void)nonblock; (void)flags; (void)out;
	return -EOPNOTSUPP;
}

static long udp_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                        int flags, int nonblock)
{
	struct udp_shared *u = udp_of(f);
	const struct rt_iovec *v = iov;
	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_CONFIRM | MSG_MORE | MSG_EOR))
		return -EOPNOTSUPP;
	struct sockaddr_in to;
	if (addr && addrlen) {
		if (addrlen < sizeof to)
			return -EINVAL;
		memcpy(&to, addr, sizeof to);
		if (to.sin_family != AF_INET)
			return -EAFNOSUPPORT;
		if (!to.sin_port)
			return -EINVAL;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += v[i].len;
	if (total > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (__atomic_load_n(&u->wr_shut, __ATOMIC_ACQUIRE))
		return -EPIPE;
	long r = autobind(u);
	if (r < 0)
		return r;
	struct udp_ring *tx = &u->txs->tx;
	uint64_t deadline = deadline_of(u->sndtimeo_ns);
	for (;;) {
		rt_spin_lock(&u->lock);
		if (!(addr && addrlen)) {
			if (u->peer.sin_family != AF_INET) {
				rt_spin_unlock(&u->lock);
				return -EDESTADDRREQ;
			}
			to = u->peer;
		}
		if (rt_udp_ring_room(tx) >= sizeof(struct udp_frame) + total) {
			struct udp_frame h = { (uint32_t)total, to.sin_addr.s_addr, to.sin_port, 0 };
			rt_udp_ring_put(tx, &h, v, iovcnt);
			unsigned owner = u->holds.owner_slot;
			rt_spin_unlock(&u->lock);
			rt_relay_wake(1ULL << owner);
			return (long)total;
		}
		if (!nonblock)
			u->writers |= 1ULL << rt_proc_slot();
		rt_spin_unlock(&u->lock);
		if (nonblock)
			return -EAGAIN;
		if ((r = udp_sleep("sendto", deadline)) < 0)
			return r;
	}
}

static long udp_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                        int flags, int nonblock, int *msg_flags_out)
{
	struct udp_shared *u = udp_of(f);
	if (flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_WAITALL | MSG_CMSG_CLOEXEC))
		return -EOPNOTSUPP;   /* MSG_OOB, MSG_ERRQUEUE, ... */
	*msg_flags_out = 0;
	uint64_t deadline = deadline_of(u->rcvtimeo_ns);
	for (;;) {
		rt_spin_lock(&u->lock);
		if (u->rx.count) {
			struct udp_frame h;
			rt_udp_ring_first(&u->rx, &h);
			size_t got = rt_udp_ring_copy_first(&u->rx, &h, iov, iovcnt);
			if (!(flags & MSG_PEEK))
				rt_udp_ring_pop(&u->rx, &h);
			rt_spin_unlock(&u->lock);
			if (got < h.len)
				*msg_flags_out = MSG_TRUNC;   /* the rest of the datagram is gone, as on Linux */
			if (addr && addrlen) {
				struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = h.port,
				                            .sin_addr = { h.addr } };
				rt_relay_put_name(&from, addr, addrlen);
			}
			return (flags & MSG_TRUNC) ? (long)h.len : (long)got;
		}
		int shut = u->rd_shut;
		if (!shut && !nonblock)
			u->readers |= 1ULL << rt_proc_slot();
		rt_spin_unlock(&u->lock);
		if (shut)
			return 0;
		if (nonblock)
			return -EAGAIN;
		long r = udp_sleep("recvfrom", deadline);
		if (r < 0)
			return r;
	}
}

static long udp_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int write)
{
	int nonblock = (f->flags & O_NONBLOCK) != 0, mflags;
	if (write)
		return udp_sendmsg(f, iov, iovcnt, 0, 0, 0, nonblock);
	return udp_recvmsg(f, iov, iovcnt, 0, 0, 0, nonblock, &mflags);
}

static long udp_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)pos;
	return udp_rw(f, iov, iovcnt, 0);
}

static long udp_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)pos;
	return udp_rw(f, iov, iovcnt, 1);
}

static long udp_shutdown(struct rt_file *f, int how)
{
	struct udp_shared *u = udp_of(f);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	rt_spin_lock(&u->lock);
	int connected = u->peer.sin_family == AF_INET;
	if (connected) {
		u->rd_shut |= how != SHUT_WR;
		u->wr_shut |= how != SHUT_RD;
	}
	uint64_t wake = u->readers | u->writers;
	u->readers = u->writers = 0;
	rt_spin_unlock(&u->lock);
	if (!connected)
		return -ENOTCONN;
	rt_relay_wake(wake);
	return 0;
}

static long give_timeval(uint64_t ns, void *val, uint32_t *len)
{
	struct timeval tv = { (time_t)(ns / 1000000000u), (suseconds_t)(ns % 1000000000u / 1000u) };
	if (*len < sizeof tv)
		return -EINVAL;
	memcpy(val, &tv, sizeof tv);
	*len = sizeof tv;
	return 0;
}

static long take_timeval(uint64_t *ns, const void *val, uint32_t len)
{
	struct timeval tv;
	if (len < sizeof tv)
		return -EINVAL;
	memcpy(&tv, val, sizeof tv);
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	*ns = tv.tv_sec < 0 ? 0 : (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
	return 0;   /* negative: no timeout, as Linux takes it */
}

static long udp_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	struct udp_shared *u = udp_of(f);
	if (level != SOL_SOCKET)
		return level == IPPROTO_IP || level == IPPROTO_UDP ? -ENOPROTOOPT : -EOPNOTSUPP;
	switch (name) {
	case SO_RCVTIMEO: case SO_RCVTIMEO_NEW: return give_timeval(u->rcvtimeo_ns, val, len);
	case SO_SNDTIMEO: case SO_SNDTIMEO_NEW: return give_timeval(u->sndtimeo_ns, val, len);
	case SO_TYPE: return rt_relay_give_int(SOCK_DGRAM, val, len);
	case SO_DOMAIN: return rt_relay_give_int(AF_INET, val, len);
	case SO_PROTOCOL: return rt_relay_give_int(IPPROTO_UDP, val, len);
	case SO_ACCEPTCONN: case SO_ERROR: return rt_relay_give_int(0, val, len);
	case SO_BROADCAST: return rt_relay_give_int(u->broadcast, val, len);
	case SO_REUSEADDR: return rt_relay_give_int(u->reuseaddr, val, len);
	case SO_RCVBUF: return rt_relay_give_int((int)u->rx.cap, val, len);
	case SO_SNDBUF: return rt_relay_give_int((int)u->txs->tx.cap, val, len);
	default: return -ENOPROTOOPT;
	}
}

static long udp_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	struct udp_shared *u = udp_of(f);
	if (level != SOL_SOCKET)
		return level == IPPROTO_IP || level == IPPROTO_UDP ? -ENOPROTOOPT : -EOPNOTSUPP;
	if (name == SO_RCVTIMEO || name == SO_RCVTIMEO_NEW)
		return take_timeval(&u->rcvtimeo_ns, val, len);
	if (name == SO_SNDTIMEO || name == SO_SNDTIMEO_NEW)
		return take_timeval(&u->sndtimeo_ns, val, len);
	if (len < sizeof(int))
		return -EINVAL;
	int v;
	memcpy(&v, val, sizeof v);
	switch (name) {
	case SO_BROADCAST: u->broadcast = v != 0; return 0;
	case SO_REUSEADDR: u->reuseaddr = v != 0; return 0;   /* the stack's socket has it at bind */
	case SO_RCVBUF: case SO_SNDBUF: case SO_RCVBUFFORCE: case SO_SNDBUFFORCE: case SO_REUSEPORT:
	case SO_PRIORITY:
		return 0;   /* the rings' sizes are fixed */
	default:
		return -ENOPROTOOPT;
	}
}

static long udp_getsockname(struct rt_file *f, void *addr, uint32_t *len)
{
	struct udp_shared *u = udp_of(f);
	rt_spin_lock(&u->lock);
	struct sockaddr_in local = u->local;
	rt_spin_unlock(&u->lock);
	return rt_relay_put_name(&local, addr, len);
}

static long udp_getpeername(struct rt_file *f, void *addr, uint32_t *len)
{
	struct udp_shared *u = udp_of(f);
	rt_spin_lock(&u->lock);
	struct sockaddr_in peer = u->peer;
	rt_spin_unlock(&u->lock);
	if (peer.sin_family != AF_INET)
		return -ENOTCONN;
	return rt_relay_put_name(&peer, addr, len);
}

static int udp_poll(struct rt_file *f, int events)
{
	struct udp_shared *u = udp_of(f);
	uint64_t me = 1ULL << rt_proc_slot();
	int r = 0;
	rt_spin_lock(&u->lock);
	if (u->rx.count || u->rd_shut)
		r |= POLLIN | POLLRDNORM;
	if (!u->wr_shut && rt_udp_ring_room(&u->txs->tx) >= UDP_POLLOUT_ROOM)
		r |= POLLOUT | POLLWRNORM;
	if (u->rd_shut && u->wr_shut)
		r |= POLLHUP;
	if ((events & (POLLIN | POLLRDNORM)) && !(r & POLLIN))
		u->readers |= me;   /* a poller sleeps next */
	if ((events & (POLLOUT | POLLWRNORM)) && !(r & POLLOUT))
		u->writers |= me;
	rt_spin_unlock(&u->lock);
	return r & (events | POLLHUP);
}

/* FIONREAD: the next datagram's size, as Linux answers for UDP. */
static long udp_nread(struct rt_file *f)
{
	struct udp_shared *u = udp_of(f);
	struct udp_frame h = { 0, 0, 0, 0 };
	rt_spin_lock(&u->lock);
	if (u->rx.count)
		rt_udp_ring_first(&u->rx, &h);
	rt_spin_unlock(&u->lock);
	return h.len;
}

static void udp_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
}

static void udp_release(struct rt_file *f)
{
	rt_udp_hold(udp_of(f), rt_proc_slot(), -1);
}

static void udp_fork(struct rt_file *f, int undo)
{
	rt_udp_hold(udp_of(f), rt_proc_slot(), undo ? -1 : 1);
}

static void udp_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	rt_relay_holds_forked(&udp_of(f)->lock, &udp_of(f)->holds, child_slot, child_pid);
}

static void udp_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct udp_shared *u = udp_of(f);
	r->kind = CAP_RFD_UDP_RELAY;
	r->u.sock.local_ip = u->local.sin_addr.s_addr;
	r->u.sock.local_port = ntohs(u->local.sin_port);
	if (u->peer.sin_family == AF_INET) {
		r->u.sock.remote_ip = u->peer.sin_addr.s_addr;
		r->u.sock.remote_port = ntohs(u->peer.sin_port);
	}
	r->u.sock.unread = u->rx.count;
	r->u.sock.unsent = u->txs->tx.count;
}

static const struct rt_sock_ops udp_sock_ops = {
	.bind = udp_bind, .listen = udp_listen, .accept = udp_accept, .connect = udp_connect,
	.sendmsg = udp_sendmsg, .recvmsg = udp_recvmsg, .shutdown = udp_shutdown,
	.getsockopt = udp_getsockopt, .setsockopt = udp_setsockopt,
	.getsockname = udp_getsockname, .getpeername = udp_getpeername,
};

/* No .pass: SCM_RIGHTS and execve do not carry a UDP socket yet (closed at an exec). */
static const struct rt_file_ops udp_ops = {
	.read = udp_read, .write = udp_write, .poll = udp_poll, .nread = udp_nread, .fstat = udp_fstat,
	.release = udp_release, .report = udp_report, .fork = udp_fork, .forked = udp_forked,
	.sock = &udp_sock_ops,
};

/* ---- making them ---- */

int rt_udp_share(struct rt_file *f, struct rt_file *stack)
{
	struct udp_shared *u = rt_udp_new_shared();
	if (!u)
		return -ENOMEM;
	u->holds.owner_slot = rt_proc_slot();
	u->broadcast = rt_relay_opt_int(stack, SOL_SOCKET, SO_BROADCAST) > 0;
	u->reuseaddr = rt_relay_opt_int(stack, SOL_SOCKET, SO_REUSEADDR) > 0;
	struct timeval tv;
	uint32_t len = sizeof tv;
	if (stack->ops->sock->getsockopt(stack, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0)
		take_timeval(&u->rcvtimeo_ns, &tv, len);
	len = sizeof tv;
	if (stack->ops->sock->getsockopt(stack, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0)
		take_timeval(&u->sndtimeo_ns, &tv, len);
	if (rt_udp_relay_new(u, stack) < 0) {
		rt_udp_free_shared(u);
		return -ENOMEM;
	}
	f->ops = &udp_ops;   /* in place: every descriptor, dup and epoll set naming it follows */
	f->priv = u;
	f->handle = -1;
	return 0;
}

long rt_udp_socket(int type_flags)
{
	struct udp_shared *u = rt_udp_new_shared();
	if (!u)
		return -ENOMEM;
	long r = rt_ask_udp(u);   /* pid 1 makes the stack's socket and serves it */
	if (r < 0) {
		rt_udp_free_shared(u);
		return r;
	}
	struct rt_file *f = rt_file_new(&udp_ops, O_RDWR | ((type_flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0));
	if (!f) {
		rt_udp_hold(u, rt_proc_slot(), -1);
		return -ENOMEM;
	}
	f->priv = u;
	f->handle = -1;
	return rt_fd_install_new(f, (type_flags & SOCK_CLOEXEC) != 0);
}
