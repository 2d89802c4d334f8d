/* sockets.c: the Linux-ABI socket calls of lp_sock.h on top of lwIP's socket API. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/api.h"
#include "lwip/sockets.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "lwip/udp.h"
#include "lwip/ip4.h"
#include "lwip/priv/sockets_priv.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_sched.h"
#include "lwip-port/lp_sock.h"
#include "lwip-port/sockabi.h"
#include "lwip-port/lp_internal.h"

/* Linux's limit on iovecs per call (UIO_MAXIOV). */
#define LP_IOV_MAX 1024
/* iovec arrays up to this size are filtered on the stack. */
#define LP_IOV_STACK 16

/*
 * errno belongs to the app: lwIP writes it even on success, so every entry
 * point saves it, turns a failure into -errno, and puts the caller's back.
 */
static long lp_finish(long r, int saved_errno)
{
	if (r < 0)
		r = errno > 0 ? -(long)errno : -EIO;
	errno = saved_errno;
	return r;
}

/*
 * After a call that may have changed socket state: Linux delivers loopback
 * traffic before send() returns, so let the tcpip thread run what this call
 * queued for it (lwIP loops packets back through its mailbox), then wake
 * poll/select/epoll waiters.
 */
static void lp_settle(void)
{
	if (lp_tcpip_busy())
		rt_yield();
	rt_io_changed();
}

static struct netconn *lp_conn(int s)
{
	struct lwip_sock *sock = lwip_socket_dbg_get_socket(s);
	return sock ? sock->conn : NULL;
}

static int lp_is_tcp(struct netconn *conn)
{
	return NETCONNTYPE_GROUP(netconn_type(conn)) == NETCONN_TCP;
}

/*
 * lwIP reports a refused connection (RST answering our SYN) as ECONNRESET,
 * and one whose SYNs all went unanswered (tcp_slowtmr gave up, ERR_ABRT) as
 * ECONNABORTED; Linux says ECONNREFUSED and ETIMEDOUT.  A blocking connect
 * knows; for a non-blocking one remember which sockets have a connect in
 * flight.  Past the handshake lwIP ends a connection on its own only when it
 * gives up on it in tcp_slowtmr (retransmissions, keepalive or zero-window
 * probes unanswered) or needs its PCB for a new one (tcp_kill_prio): also
 * ECONNABORTED to the app, where Linux says ETIMEDOUT for the first and has
 * no second.  (lp_close's tcp_abort is ours, on a socket already gone.)
 */
static unsigned char lp_connecting[MEMP_NUM_NETCONN];

/* lwIP's ERR_ABRT from tcp_slowtmr (or tcp_kill_prio): it gave up on the connection. */
static int lp_gave_up_error(int err)
{
	return err == ECONNABORTED ? ETIMEDOUT : err;
}

static int lp_connect_error(int err)
{
	return err == ECONNRESET ? ECONNREFUSED : lp_gave_up_error(err);
}

static int lp_socket_error(int s, int err)
{
	if (s >= 0 && s < MEMP_NUM_NETCONN && lp_connecting[s])
		return lp_connect_error(err);
	return lp_gave_up_error(err);
}

/*
 * One past the highest socket lwIP ever handed out (it takes the lowest free
 * slot).  Whoever scans the socket table stops here: merely reading a slot
 * never used would make its page of our memory real (a shared mapping has
 * no zero page), and the table is 1.5 MiB, which every snapshot would carry.
 */
static int lp_sock_high;

int lp_sock_limit(void)
{
	return lp_sock_high;
}

/* A new socket s: no connect in flight yet; the table's used part reaches it. */
static void lp_forget(int s)
{
	if (s >= 0 && s < MEMP_NUM_NETCONN)
		lp_connecting[s] = 0;
	if (s >= lp_sock_high)
		lp_sock_high = s + 1;
}

/*
 * lwIP's UDP receive callback (api_msg.c's recv_udp) drops a datagram without
 * a word when the socket's queue is full (its mailbox, or SO_RCVBUF bytes).
 * It either queues exactly one netbuf or drops, so wrap it: a queue that did
 * not grow by one is a datagram lost, counted in the control page as Linux
 * counts UdpRcvbufErrors.  No green thread runs inside the callback, so
 * nothing else can take from the queue meanwhile.
 */
static udp_recv_fn lp_lwip_recv_udp;

static void lp_recv_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                        u16_t port)
{
	struct netconn *conn = arg;
	int before = lp_mbox_count(&conn->recvmbox);
	lp_lwip_recv_udp(arg, pcb, p, addr, port);
	if (before < 0 || lp_mbox_count(&conn->recvmbox) != before + 1)
		lp_drops()->rx_socket_full++;
}

static void lp_count_udp_drops(int s)
{
	struct netconn *conn = lp_conn(s);
	LOCK_TCPIP_CORE();
	if (conn && conn->pcb.udp && conn->pcb.udp->recv_arg == conn) {
		lp_lwip_recv_udp = conn->pcb.udp->recv;
		udp_recv(conn->pcb.udp, lp_recv_udp, conn);
	}
	UNLOCK_TCPIP_CORE();
}

long lp_socket(int domain, int type, int protocol)
{
	int lwip_type;
	if (domain != LP_LINUX_AF_INET)
		return -EAFNOSUPPORT;
	switch (type) {
	case LP_LINUX_SOCK_STREAM:
		if (protocol != 0 && protocol != LP_LINUX_IPPROTO_TCP)
			return -EPROTONOSUPPORT;
		lwip_type = SOCK_STREAM;
		break;
	case LP_LINUX_SOCK_DGRAM:
		if (protocol != 0 && protocol != LP_LINUX_IPPROTO_UDP)
			return -EPROTONOSUPPORT;
		lwip_type = SOCK_DGRAM;
		break;
	case LP_LINUX_SOCK_RAW:
		return -EPERM;   /* as Linux without CAP_NET_RAW */
	default:
		return -ESOCKTNOSUPPORT;
	}
	int saved = errno;
	long r = lp_finish(lwip_socket(AF_INET, lwip_type, 0), saved);
	if (r >= 0)
		lp_forget((int)r);
	if (r >= 0 && lwip_type == SOCK_DGRAM)
		lp_count_udp_drops((int)r);
	return r;
}

long lp_bind(int s, const void *addr, uint32_t addrlen)
{
	unsigned char a[LP_LWIP_SOCKADDR_LEN];
	uint32_t alen;
	int e = lp_abi_addr_from_linux(addr, addrlen, 0, a, &alen);
	if (e)
		return e;
	int saved = errno;
	return lp_finish(lwip_bind(s, (const struct sockaddr *)a, alen), saved);
}

long lp_listen(int s, int backlog)
{
	int saved = errno;
	struct netconn *conn = lp_conn(s);
	if (conn && !lp_is_tcp(conn))
		return -EOPNOTSUPP;
	if (backlog < 0 || backlog > TCP_DEFAULT_LISTEN_BACKLOG)
		backlog = TCP_DEFAULT_LISTEN_BACKLOG;
	long r = lp_finish(lwip_listen(s, backlog), saved);
	lp_settle();
	return r;
}

/* Run one lwIP call with the netconn non-blocking just for it (the fd's O_NONBLOCK lives in the runtime). */
static void lp_set_nonblock(int s, int on)
{
	struct netconn *conn = lp_conn(s);
	if (conn)
		netconn_set_nonblocking(conn, on);
}

long lp_accept(int s, void *addr, uint32_t *addrlen, int nonblock)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int saved = errno;
	memset(&a, 0, sizeof(a));
	if (nonblock)
		lp_set_nonblock(s, 1);
	int r = lwip_accept(s, (struct sockaddr *)&a, &alen);
	int err = errno;
	if (nonblock)
		lp_set_nonblock(s, 0);
	errno = err;
	long ret = lp_finish(r, saved);
	if (ret >= 0) {
		lp_forget((int)ret);
		if (addr && addrlen)
			lp_abi_addr_to_linux(&a, alen, addr, addrlen);
	}
	lp_settle();
	return ret;
}

long lp_connect(int s, const void *addr, uint32_t addrlen, int nonblock)
{
	unsigned char a[LP_LWIP_SOCKADDR_LEN];
	uint32_t alen;
	int e = lp_abi_addr_from_linux(addr, addrlen, 1, a, &alen);
	if (e)
		return e;
	struct netconn *conn = lp_conn(s);
	int saved = errno;
	if (nonblock)
		lp_set_nonblock(s, 1);
	int r = lwip_connect(s, (const struct sockaddr *)a, alen);
	int err = errno;
	if (nonblock)
		lp_set_nonblock(s, 0);
	if (r < 0 && conn && lp_is_tcp(conn)) {
		if (err == EINPROGRESS && s < MEMP_NUM_NETCONN)
			lp_connecting[s] = 1;
		else
			err = lp_connect_error(err);   /* RST to our SYN, or no answer to seven */
	}
	errno = err;
	long ret = lp_finish(r, saved);
	lp_settle();
	return ret;
}

/*
 * lwIP rejects empty iovecs (and empty arrays), Linux does not: pass only
 * non-empty ones, or one empty vector when there is no data at all.
 */
struct lp_iov {
	struct iovec *v;
	int n;
	size_t total;
	struct iovec small[LP_IOV_STACK];
};

static int lp_iov_take(struct lp_iov *out, const void *iov, int iovcnt)
{
	static char lp_empty;
	const struct iovec *in = iov;
	if (iovcnt < 0 || iovcnt > LP_IOV_MAX)
		return -EMSGSIZE;
	if (iovcnt > 0 && !in)
		return -EFAULT;
	out->v = out->small;
	if (iovcnt > LP_IOV_STACK) {
		out->v = malloc(sizeof(struct iovec) * (size_t)iovcnt);
		if (!out->v)
			return -ENOMEM;
	}
	out->n = 0;
	out->total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (in[i].iov_len == 0)
			continue;
		if (!in[i].iov_base || in[i].iov_len > (size_t)INT32_MAX - out->total) {
			if (out->v != out->small)
				free(out->v);
			return in[i].iov_base ? -EINVAL : -EFAULT;
		}
		out->v[out->n++] = in[i];
		out->total += in[i].iov_len;
	}
	if (out->n == 0) {
		out->v[0].iov_base = &lp_empty;
		out->v[0].iov_len = 0;
		out->n = 1;
	}
	return 0;
}

static void lp_iov_release(struct lp_iov *v)
{
	if (v->v != v->small)
		free(v->v);
}

long lp_sendmsg(int s, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                int linux_flags, int nonblock)
{
	unsigned char a[LP_LWIP_SOCKADDR_LEN];
	uint32_t alen = 0;
	int flags, e;
	struct lp_iov v;
	struct netconn *conn = lp_conn(s);

	if (!conn)
		return -EBADF;
	if ((e = lp_abi_send_flags(linux_flags, &flags)) != 0)
		return e;
	if (nonblock)
		flags |= MSG_DONTWAIT;
	/* Linux ignores the address on a connected stream socket. */
	if (addr && !lp_is_tcp(conn) && (e = lp_abi_addr_from_linux(addr, addrlen, 0, a, &alen)) != 0)
		return e;
	if ((e = lp_iov_take(&v, iov, iovcnt)) != 0)
		return e;
	if (lp_is_tcp(conn) && v.total == 0) {
		lp_iov_release(&v);
		return 0;
	}

	struct msghdr msg;
	memset(&msg, 0, sizeof(msg));
	if (alen) {
		msg.msg_name = a;
		msg.msg_namelen = alen;
	}
	msg.msg_iov = v.v;
	msg.msg_iovlen = v.n;
	int saved = errno;
	ssize_t r = lwip_sendmsg(s, &msg, flags);
	if (r < 0)
		errno = lp_socket_error(s, errno);
	lp_iov_release(&v);
	long ret = lp_finish(r, saved);
	lp_settle();
	return ret;
}

/* MSG_WAITALL on a stream: keep receiving until full, EOF, an error or a signal-free timeout. */
static ssize_t lp_recv_all(int s, struct msghdr *msg, int flags, size_t total)
{
	size_t done = 0;
	int idx = 0;
	size_t off = 0;
	while (done < total) {
		struct iovec rest[LP_IOV_STACK];
		int n = 0;
		for (int i = idx; i < (int)msg->msg_iovlen && n < LP_IOV_STACK; i++) {
			size_t skip = i == idx ? off : 0;
			rest[n].iov_base = (char *)msg->msg_iov[i].iov_base + skip;
			rest[n].iov_len = msg->msg_iov[i].iov_len - skip;
			n++;
		}
		struct msghdr part = { .msg_iov = rest, .msg_iovlen = n };
		ssize_t r = lwip_recvmsg(s, &part, flags);
		if (r <= 0)
			return done ? (ssize_t)done : r;
		done += (size_t)r;
		/* advance (idx, off) by r bytes */
		size_t left = (size_t)r;
		while (left) {
			size_t room = msg->msg_iov[idx].iov_len - off;
			if (left < room) {
				off += left;
				left = 0;
			} else {
				left -= room;
				idx++;
				off = 0;
			}
		}
	}
	return (ssize_t)done;
}

long lp_recvmsg(int s, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                int linux_flags, int nonblock, int *linux_msg_flags_out)
{
	struct sockaddr_in from;
	int flags, e;
	struct lp_iov v;
	struct netconn *conn = lp_conn(s);

	if (linux_msg_flags_out)
		*linux_msg_flags_out = 0;
	if (!conn)
		return -EBADF;
	if ((e = lp_abi_recv_flags(linux_flags, &flags)) != 0)
		return e;
	if (nonblock)
		flags |= MSG_DONTWAIT;
	if ((e = lp_iov_take(&v, iov, iovcnt)) != 0)
		return e;

	int tcp = lp_is_tcp(conn);
	char scratch;
	if (v.total == 0 && tcp) {
		lp_iov_release(&v);
		if (addrlen)
			*addrlen = 0;
		return 0;
	}

	struct msghdr msg;
	memset(&msg, 0, sizeof(msg));
	memset(&from, 0, sizeof(from));
	msg.msg_name = &from;
	msg.msg_namelen = sizeof(from);
	msg.msg_iov = v.v;
	msg.msg_iovlen = v.n;
	int saved = errno;
	ssize_t r;

	if (!tcp && v.total == 0) {
		/* lwIP refuses a zero-sized read: read into one scratch byte, report none. */
		v.v[0].iov_base = &scratch;
		v.v[0].iov_len = 1;
		r = lwip_recvmsg(s, &msg, flags);
		v.total = 0;
		if (r > 0)
			msg.msg_flags |= MSG_TRUNC;
	} else if (tcp && (linux_flags & LP_LINUX_MSG_WAITALL) && !(flags & (MSG_DONTWAIT | MSG_PEEK))) {
		r = lp_recv_all(s, &msg, flags, v.total);
	} else {
		r = lwip_recvmsg(s, &msg, flags);
	}
	if (r < 0 && tcp && errno == ENOTCONN && conn->state != NETCONN_LISTEN &&
	    !sys_mbox_valid(&conn->recvmbox))
		r = 0;   /* lwIP: ENOTCONN once EOF was read (or after SHUT_RD); Linux: EOF again */
	if (r < 0)
		errno = lp_socket_error(s, errno);
	lp_iov_release(&v);
	long ret = lp_finish(r, saved);
	if (ret >= 0) {
		/* lwIP returns a datagram's full length; Linux only with MSG_TRUNC. */
		if (!tcp && !(linux_flags & LP_LINUX_MSG_TRUNC) && (size_t)ret > v.total)
			ret = (long)v.total;
		if (linux_msg_flags_out)
			*linux_msg_flags_out = lp_abi_msg_flags_to_linux(msg.msg_flags);
		if (addr && addrlen) {
			if (tcp)
				*addrlen = 0;   /* Linux fills no address for a stream socket */
			else
				lp_abi_addr_to_linux(&from, msg.msg_namelen, addr, addrlen);
		}
	}
	lp_settle();
	return ret;
}

long lp_shutdown(int s, int how)
{
	int lwip_how = lp_abi_shutdown_how(how);
	if (lwip_how < 0)
		return lwip_how;
	int saved = errno;
	long r = lp_finish(lwip_shutdown(s, lwip_how), saved);
	lp_settle();
	return r;
}

long lp_close(int s)
{
	int saved = errno;
	struct netconn *conn = lp_conn(s);
	lp_forget(s);
	/*
	 * SO_LINGER {1, 0}: Linux resets the connection; lwIP only does when
	 * unsent data is left.  Abort it here so the peer sees the RST.
	 */
	if (conn && lp_is_tcp(conn) && conn->linger == 0) {
		LOCK_TCPIP_CORE();
		struct tcp_pcb *pcb = conn->pcb.tcp;
		if (pcb && pcb->state != CLOSED && pcb->state != LISTEN && pcb->state != TIME_WAIT)
			tcp_abort(pcb);
		UNLOCK_TCPIP_CORE();
	}
	long r = lp_finish(lwip_close(s), saved);
	lp_settle();
	return r;
}

long lp_getsockopt(int s, int level, int name, void *val, uint32_t *len)
{
	struct lp_abi_opt opt;
	struct netconn *conn = lp_conn(s);
	int e, saved = errno;
	if (!conn)
		return -EBADF;
	if (!len)
		return -EFAULT;
	if ((e = lp_abi_sockopt(level, name, &opt)) != 0)
		return e;
	int tcp = lp_is_tcp(conn);

	switch (opt.kind) {
	case LP_OPT_INT:
	case LP_OPT_BOOL: {
		int v = 0;
		socklen_t l = sizeof(v);
		if (lwip_getsockopt(s, opt.level, opt.name, &v, &l) < 0)
			return lp_finish(-1, saved);
		errno = saved;
		if (opt.kind == LP_OPT_BOOL)
			v = v != 0;
		if (level == LP_LINUX_SOL_SOCKET && name == LP_LINUX_SO_ERROR) {
			v = lp_socket_error(s, v);
			lp_forget(s);
		}
		return lp_abi_put_int(v, val, len);
	}
	case LP_OPT_TIMEVAL: {
		struct timeval tv;
		socklen_t l = sizeof(tv);
		memset(&tv, 0, sizeof(tv));
		if (lwip_getsockopt(s, opt.level, opt.name, &tv, &l) < 0)
			return lp_finish(-1, saved);
		errno = saved;
		lp_abi_timeout_to_linux(&tv, val, len);
		return 0;
	}
	case LP_OPT_LINGER: {
		struct linger lg;
		socklen_t l = sizeof(lg);
		memset(&lg, 0, sizeof(lg));
		if (lwip_getsockopt(s, opt.level, opt.name, &lg, &l) < 0)
			return lp_finish(-1, saved);
		errno = saved;
		lg.l_onoff = lg.l_onoff != 0;
		uint32_t n = *len < sizeof(lg) ? *len : (uint32_t)sizeof(lg);
		if (n && val)
			memcpy(val, &lg, n);
		*len = n;
		return 0;
	}
	case LP_OPT_IGNORED:
		return lp_abi_put_int(opt.value, val, len);
	case LP_OPT_SNDBUF:
		return lp_abi_put_int(tcp ? (int)TCP_SND_BUF : 0xffff, val, len);
	case LP_OPT_RCVBUF:
		return lp_abi_put_int(tcp ? (int)TCP_WND : RECV_BUFSIZE_DEFAULT, val, len);
	case LP_OPT_MAXSEG:
		if (!tcp)
			return -ENOPROTOOPT;
		return lp_abi_put_int(conn->pcb.tcp && conn->pcb.tcp->state != LISTEN ?
		                      (int)conn->pcb.tcp->mss : (int)TCP_MSS, val, len);
	case LP_OPT_PROTOCOL:
		return lp_abi_put_int(tcp ? LP_LINUX_IPPROTO_TCP : LP_LINUX_IPPROTO_UDP, val, len);
	case LP_OPT_DOMAIN:
		return lp_abi_put_int(LP_LINUX_AF_INET, val, len);
	}
	return -ENOPROTOOPT;
}

long lp_setsockopt(int s, int level, int name, const void *val, uint32_t len)
{
	struct lp_abi_opt opt;
	struct netconn *conn = lp_conn(s);
	int e, v, saved = errno;
	if (!conn)
		return -EBADF;
	if ((e = lp_abi_sockopt(level, name, &opt)) != 0)
		return e;
	if (opt.readonly)
		return -ENOPROTOOPT;
	if (level == LP_LINUX_IPPROTO_TCP && !lp_is_tcp(conn))
		return -ENOPROTOOPT;

	switch (opt.kind) {
	case LP_OPT_INT:
	case LP_OPT_BOOL:
		if ((e = lp_abi_get_int(level, val, len, &v)) != 0)
			return e;
		if (!lp_abi_sockopt_value_ok(level, name, v))
			return -EINVAL;
		if (level == LP_LINUX_IPPROTO_IP && name == LP_LINUX_IP_TTL && v == -1)
			v = IP_DEFAULT_TTL;   /* Linux: -1 restores the default */
		if (opt.kind == LP_OPT_BOOL)
			v = v != 0;
		return lp_finish(lwip_setsockopt(s, opt.level, opt.name, &v, sizeof(v)), saved);
	case LP_OPT_TIMEVAL: {
		struct timeval tv;
		if ((e = lp_abi_timeout_from_linux(val, len, &tv)) != 0)
			return e;
		return lp_finish(lwip_setsockopt(s, opt.level, opt.name, &tv, sizeof(tv)), saved);
	}
	case LP_OPT_LINGER: {
		struct linger lg;
		if (!val)
			return -EFAULT;
		if (len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		if (lg.l_linger < 0)
			lg.l_linger = 0;
		return lp_finish(lwip_setsockopt(s, opt.level, opt.name, &lg, sizeof(lg)), saved);
	}
	case LP_OPT_IGNORED:
	case LP_OPT_SNDBUF:
	case LP_OPT_RCVBUF:
	case LP_OPT_MAXSEG:
		/* Accepted for compatibility; buffer sizes are fixed by lwipopts.h. */
		return lp_abi_get_int(level, val, len, &v);
	}
	return -ENOPROTOOPT;
}

/*
 * lwIP leaves a connected-but-unbound UDP socket's local address at ANY;
 * Linux reports the source address the route to the peer would use, and
 * apps rely on that to learn their own address.  Do as Linux does.
 */
static void lp_fill_source(int s, struct sockaddr_in *a)
{
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int saved = errno;
	if (lwip_getpeername(s, (struct sockaddr *)&peer, &plen) != 0) {
		errno = saved;
		return;
	}
	ip4_addr_t dst;
	dst.addr = peer.sin_addr.s_addr;
	LOCK_TCPIP_CORE();
	struct netif *nif = ip4_route(&dst);
	if (nif)
		a->sin_addr.s_addr = ip4_addr_get_u32(netif_ip4_addr(nif));
	UNLOCK_TCPIP_CORE();
}

/* getsockname / getpeername: lwIP's answer in Linux's layout.  own: an
 * unbound address becomes the one a packet would leave from. */
static long lp_name(int s, void *addr, uint32_t *addrlen, int own,
                    int (*get)(int, struct sockaddr *, socklen_t *))
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int saved = errno;
	if (!addrlen)
		return -EFAULT;
	memset(&a, 0, sizeof(a));
	long r = lp_finish(get(s, (struct sockaddr *)&a, &alen), saved);
	if (r == 0 && own && a.sin_addr.s_addr == IPADDR_ANY)
		lp_fill_source(s, &a);
	if (r == 0)
		lp_abi_addr_to_linux(&a, alen, addr, addrlen);
	return r;
}

long lp_getsockname(int s, void *addr, uint32_t *addrlen)
{
	return lp_name(s, addr, addrlen, 1, lwip_getsockname);
}

long lp_getpeername(int s, void *addr, uint32_t *addrlen)
{
	return lp_name(s, addr, addrlen, 0, lwip_getpeername);
}

long lp_nread(int s)
{
	int n = 0, saved = errno;
	long r = lp_finish(lwip_ioctl(s, FIONREAD, &n), saved);
	return r < 0 ? r : n;
}

int lp_poll(int s, int events)
{
	struct netconn *conn = lp_conn(s);
	struct pollfd pfd = { .fd = s, .events = (short)lp_abi_poll_events_to_lwip(events), .revents = 0 };
	int saved = errno;
	if (!conn)
		return LP_LINUX_POLLNVAL;
	if (lwip_poll(&pfd, 1, 0) < 0) {
		errno = saved;
		return LP_LINUX_POLLNVAL;
	}
	errno = saved;
	int r = lp_abi_poll_revents_to_linux(pfd.revents);

	if (lp_is_tcp(conn) && conn->state != NETCONN_LISTEN) {
		struct tcp_pcb *pcb = conn->pcb.tcp;
		/*
		 * lwIP stops reporting readable once the app has read EOF, and never
		 * reports hang-up; Linux keeps both: the read side closed stays
		 * readable (read returns 0), a dead connection is POLLHUP.
		 */
		int rd_closed = !sys_mbox_valid(&conn->recvmbox);
		int dead = pcb == NULL || pcb->state == CLOSED || pcb->state == TIME_WAIT ||
		           pcb->state == LAST_ACK || pcb->state == CLOSING;
		int fresh = pcb != NULL && pcb->state == CLOSED && conn->state == NETCONN_NONE &&
		            !rd_closed && !(r & LP_LINUX_POLLERR);
		if (rd_closed || (pcb && pcb->state == CLOSE_WAIT))
			r |= LP_LINUX_POLLIN | LP_LINUX_POLLRDHUP;
		if (dead && !fresh)
			r |= LP_LINUX_POLLHUP;
		if (pcb && pcb->state == ESTABLISHED && s < MEMP_NUM_NETCONN)
			lp_connecting[s] = 0;
	}
	if (r & LP_LINUX_POLLIN)
		r |= events & LP_LINUX_POLLRDNORM;
	if (r & LP_LINUX_POLLOUT)
		r |= events & LP_LINUX_POLLWRNORM;
	return r & (events | LP_LINUX_POLLERR | LP_LINUX_POLLHUP | LP_LINUX_POLLNVAL);
}
