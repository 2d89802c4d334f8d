/* sockrelay.c: TCP sockets several processes of a capsule share, as the files each process holds: a connection's end reading and writing two rings in the shared window, a listener's handle on the queue pid 1 fills (docs/PROCESSES.md, section 4). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "capsule-abi/cap_proc.h"
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

/*
 * When pid 1 forks, each of its TCP sockets becomes shared (relaythread.c):
 * the stack's socket moves into a relay that pid 1's relay thread serves,
 * and the descriptor, in pid 1 and in the child alike, becomes
 *
 *  - for a connection, one end of a byte stream over two rings in the
 *    window (the same code as a socketpair's end, unixsock.c): `rx` carries
 *    what the stack received, `tx` what any process sent;
 *  - for a listener, a handle on a queue in the window, where the relay
 *    thread puts each connection it accepts, already relayed, for the first
 *    process that calls accept.
 *
 * Everything lives in capsule memory (the relays in pid 1's, the rings and
 * queues in the window), so snapshots and migrations take it as it is.
 */

/* A process's end of a relayed connection. */
struct relay_end {
	struct rt_unix_end e;    /* first: rt_unix_stream_ops work on it */
	struct relay_names names;
	int nodelay, keepalive;  /* what getsockopt answers (the relay always sends at once) */
};

/* A process's handle on a shared listener. */
struct relay_lfile {
	struct relay_listen *l;
};

static struct rt_file_ops relay_end_ops;
static struct rt_sock_ops relay_end_sock_ops;
static const struct rt_file_ops relay_listen_ops;

/* ---- small helpers ---- */

long rt_relay_opt_int(struct rt_file *s, int level, int name)
{
	int v = 0;
	uint32_t len = sizeof v;
	long r = s->ops->sock->getsockopt(s, level, name, &v, &len);
	return r < 0 ? r : v;
}

void rt_relay_names_of(struct rt_file *s, struct relay_names *n)
{
	uint32_t len = sizeof n->local;
	memset(n, 0, sizeof *n);
	s->ops->sock->getsockname(s, &n->local, &len);
	len = sizeof n->peer;
	s->ops->sock->getpeername(s, &n->peer, &len);
}

long rt_relay_put_name(const struct sockaddr_in *in, void *addr, uint32_t *len)
{
	memcpy(addr, in, *len < sizeof *in ? *len : sizeof *in);
	*len = sizeof *in;
	return 0;
}

static int int_opt(const void *val, uint32_t len)
{
	int v = 0;
	if (len >= sizeof v)
		memcpy(&v, val, sizeof v);
	return v;
}

long rt_relay_give_int(int v, void *val, uint32_t *len)
{
	if (*len < sizeof v)
		return -EINVAL;
	memcpy(val, &v, sizeof v);
	*len = sizeof v;
	return 0;
}

long rt_relay_socket_opt(int name, int listening, int keepalive, void *val, uint32_t *len)
{
	switch (name) {
	case SO_TYPE: return rt_relay_give_int(SOCK_STREAM, val, len);
	case SO_DOMAIN: return rt_relay_give_int(AF_INET, val, len);
	case SO_PROTOCOL: return rt_relay_give_int(IPPROTO_TCP, val, len);
	case SO_ACCEPTCONN: return rt_relay_give_int(listening, val, len);
	case SO_ERROR: return rt_relay_give_int(0, val, len);
	case SO_KEEPALIVE: return rt_relay_give_int(keepalive, val, len);
	case SO_SNDBUF: case SO_RCVBUF: return rt_relay_give_int(RT_PIPE_SIZE, val, len);
	default: return -ENOPROTOOPT;
	}
}

/* Another process (or this one's threads) may wait on the window object: wake them all. */
void rt_relay_wake(uint64_t mask)
{
	rt_wake_all(&rt_proc_waitq);
	rt_proc_wake(mask);
	rt_io_changed();
}

/* ---- a process's end of a relayed connection ---- */

static struct relay_end *rend(struct rt_file *f)
{
	return f->priv;
}

static long rend_bind(struct rt_file *f, const void *addr, uint32_t len)
{
	(void)f; (void)addr; (void)len;
	return -EINVAL;
}

static long rend_listen(struct rt_file *f, int backlog)
{
	(void)f; (void)backlog;
	return -EINVAL;
}

static long rend_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
                        struct rt_file **out)
{
	(void)f; (void)addr; (void)len; (void)nonblock; (void)flags; (void)out;
	return -EINVAL;
}

static long rend_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	(void)f; (void)addr; (void)len; (void)nonblock;
	return -EISCONN;
}

static long rend_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                         int flags, int nonblock, int *msg_flags_out)
{
	long r = rt_unix_stream_sock_ops.recvmsg(f, iov, iovcnt, 0, 0, flags, nonblock, msg_flags_out);
	if (r >= 0 && addr && addrlen)
		rt_relay_put_name(&rend(f)->names.peer, addr, addrlen);
	return r;
}

static long rend_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                         int flags, int nonblock)
{
	(void)addr; (void)addrlen;   /* a connected TCP socket ignores a destination */
	return rt_unix_stream_sock_ops.sendmsg(f, iov, iovcnt, 0, 0, flags & ~MSG_MORE, nonblock);
}

static long rend_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	struct relay_end *e = rend(f);
	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		return rt_relay_give_int(e->nodelay, val, len);
	if (level == IPPROTO_TCP && name == TCP_MAXSEG)
		return rt_relay_give_int(1460, val, len);
	if (level != SOL_SOCKET)
		return level == IPPROTO_TCP ? -ENOPROTOOPT : -EOPNOTSUPP;
	return rt_relay_socket_opt(name, 0, e->keepalive, val, len);
}

/* Options a server sets on its connections: remembered or accepted; the relay decides the rest. */
static long rend_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	struct relay_end *e = rend(f);
	if (len < sizeof(int))
		return -EINVAL;
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY: e->nodelay = int_opt(val, len) != 0; return 0;
		case TCP_CORK: case TCP_KEEPIDLE: case TCP_KEEPINTVL: case TCP_KEEPCNT:
		case TCP_QUICKACK: case TCP_DEFER_ACCEPT: case TCP_USER_TIMEOUT:
			return 0;
		default: return -ENOPROTOOPT;
		}
	}
	if (level != SOL_SOCKET)
		return -EOPNOTSUPP;
	switch (name) {
	case SO_KEEPALIVE: e->keepalive = int_opt(val, len) != 0; return 0;
	case SO_SNDBUF: case SO_RCVBUF: case SO_LINGER: case SO_REUSEADDR: case SO_REUSEPORT:
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

static long rend_getsockname(struct rt_file *f, void *addr, uint32_t *len)
{
	return rt_relay_put_name(&rend(f)->names.local, addr, len);
}

static long rend_getpeername(struct rt_file *f, void *addr, uint32_t *len)
{
	return rt_relay_put_name(&rend(f)->names.peer, addr, len);
}

static void rend_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct relay_end *e = rend(f);
	struct cap_report_fd pipe;
	memset(&pipe, 0, sizeof pipe);
	rt_unix_stream_ops.report(f, &pipe);
	r->kind = CAP_RFD_TCP_RELAY;
	r->u.sock.local_ip = e->names.local.sin_addr.s_addr;
	r->u.sock.remote_ip = e->names.peer.sin_addr.s_addr;
	r->u.sock.local_port = ntohs(e->names.local.sin_port);
	r->u.sock.remote_port = ntohs(e->names.peer.sin_port);
	r->u.sock.tcp_state = CAP_TCP_ESTABLISHED;
	r->u.sock.unread = pipe.u.pipe.buffered;
}

/* SCM_RIGHTS: a socket pair end's description, with the connection's names and options. */
static long rend_pass(struct rt_file *f, void *what)
{
	struct relay_end *e = rend(f);
	if (e->e.rd_shut || e->e.wr_shut)
		return -EOPNOTSUPP;   /* a half-shut relayed connection stays where it is */
	long r = rt_unix_end_pass(f, what);
	if (r < 0)
		return r;
	struct rt_passed_fd *d = what;
	_Static_assert(sizeof e->names <= sizeof d->names, "a connection's names fit a description");
	d->kind = RT_PASS_TCP;
	memcpy(d->names, &e->names, sizeof e->names);
	d->nodelay = e->nodelay;
	d->keepalive = e->keepalive;
	return 0;
}

struct rt_file *rt_relay_end_receive(const struct rt_passed_fd *d)
{
	struct relay_names names;
	memcpy(&names, d->names, sizeof names);
	struct rt_file *f = rt_file_new(&rt_unix_stream_ops, d->flags);
	if (!f) {
		rt_pipe_drop(d->in, 0, d->from_slot);
		rt_pipe_drop(d->out, 1, d->from_slot);
		return 0;
	}
	if (rt_relay_become_end(f, d->in, d->out, d->from_slot, &names, d->nodelay, d->keepalive) < 0) {
		free(f);   /* become_end gave both rings up */
		return 0;
	}
	return f;
}

/* The tables: a socketpair's end's, with TCP's names and options. */
static void relay_end_tables(void)
{
	if (relay_end_ops.read)
		return;
	relay_end_sock_ops = rt_unix_stream_sock_ops;
	relay_end_sock_ops.bind = rend_bind;
	relay_end_sock_ops.listen = rend_listen;
	relay_end_sock_ops.accept = rend_accept;
	relay_end_sock_ops.connect = rend_connect;
	relay_end_sock_ops.recvmsg = rend_recvmsg;
	relay_end_sock_ops.sendmsg = rend_sendmsg;
	relay_end_sock_ops.getsockopt = rend_getsockopt;
	relay_end_sock_ops.setsockopt = rend_setsockopt;
	relay_end_sock_ops.getsockname = rend_getsockname;
	relay_end_sock_ops.getpeername = rend_getpeername;
	relay_end_ops = rt_unix_stream_ops;
	relay_end_ops.report = rend_report;
	relay_end_ops.pass = rend_pass;
	relay_end_ops.sock = &relay_end_sock_ops;
}

/* The end a process reads rx and writes tx with, taking over counts kept on from_slot.
 * Without memory it gives both up (the connection closes) and returns 0. */
static struct relay_end *rend_new(struct rt_pipe_ring *rx, struct rt_pipe_ring *tx, unsigned from_slot,
                                  const struct relay_names *names)
{
	struct relay_end *e = calloc(1, sizeof *e);
	struct rt_pipe *in = e ? rt_pipe_adopt(rx, 0, from_slot) : 0;
	struct rt_pipe *out = in ? rt_pipe_adopt(tx, 1, from_slot) : 0;
	if (!out) {
		if (in)
			rt_pipe_close(in, 0);
		else
			rt_pipe_drop(rx, 0, from_slot);
		rt_pipe_drop(tx, 1, from_slot);
		free(e);
		return 0;
	}
	e->e.in = in;
	e->e.out = out;
	e->names = *names;
	return e;
}

/* A file for end e, or 0 (e's ends are then closed). */
static struct rt_file *rend_file(struct relay_end *e, int flags)
{
	struct rt_file *f = e ? rt_file_new(&relay_end_ops, O_RDWR | flags) : 0;
	if (f) {
		f->priv = e;
	} else if (e) {
		rt_pipe_close(e->e.in, 0);
		rt_pipe_close(e->e.out, 1);
		free(e);
	}
	return f;
}

/* ---- a process's handle on a shared listener ---- */

static struct relay_listen *lq(struct rt_file *f)
{
	return ((struct relay_lfile *)f->priv)->l;
}

static long lfile_bind(struct rt_file *f, const void *addr, uint32_t len)
{
	(void)f; (void)addr; (void)len;
	return -EINVAL;
}

static long lfile_listen(struct rt_file *f, int backlog)
{
	(void)f; (void)backlog;
	return 0;   /* listening already; the relay keeps its own backlog */
}

/* Take the oldest queued connection as a new file (-EAGAIN: none). */
/* Under l's lock: the queue position of the oldest connection this process may take, or -1. */
static int first_for_me(const struct relay_listen *l)
{
	unsigned me = rt_proc_slot();
	for (uint32_t i = 0; i < l->count; i++) {
		uint32_t s = l->queue[(l->head + i) % RELAY_QUEUE].for_slot;
		if (s == RELAY_ANYONE || s == me)
			return (int)i;
	}
	return -1;
}

static long take_conn(struct relay_listen *l, void *addr, uint32_t *len, int flags, struct rt_file **out)
{
	rt_spin_lock(&l->lock);
	int k = first_for_me(l);
	if (k < 0) {
		l->waiters |= 1ULL << rt_proc_slot();   /* the caller sleeps next */
		rt_spin_unlock(&l->lock);
		return -EAGAIN;
	}
	struct relay_conn c = l->queue[(l->head + (uint32_t)k) % RELAY_QUEUE];
	for (uint32_t i = (uint32_t)k; i + 1 < l->count; i++)   /* the later ones move up */
		l->queue[(l->head + i) % RELAY_QUEUE] = l->queue[(l->head + i + 1) % RELAY_QUEUE];
	l->count--;
	unsigned owner = l->holds.owner_slot;
	rt_spin_unlock(&l->lock);
	rt_relay_wake(1ULL << owner);   /* the relay thread may accept the next one */
	relay_end_tables();
	struct rt_file *nf = rend_file(rend_new(c.rx, c.tx, owner, &c.names), flags);
	if (!nf)
		return -ENOMEM;   /* the connection is closed, as a failed accept's would be */
	if (addr && len)
		rt_relay_put_name(&c.names.peer, addr, len);
	*out = nf;
	return 0;
}

static long lfile_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
                         struct rt_file **out)
{
	int signals_checked = 0;
	for (;;) {
		long r = take_conn(lq(f), addr, len, flags, out);
		if (r != -EAGAIN || nonblock)
			return r;
		if (!signals_checked) {   /* it would sleep: a signal interrupts it, as for a pipe */
			signals_checked = 1;
			if (rt_signal_interrupts())
				return -EINTR;
			continue;
		}
		rt_wait(&rt_proc_waitq, 0, "accept");
		signals_checked = 0;
	}
}

static long lfile_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	(void)f; (void)addr; (void)len; (void)nonblock;
	return -EISCONN;
}

static long lfile_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                          int flags, int nonblock)
{
	(void)f; (void)iov; (void)iovcnt; (void)addr; (void)addrlen; (void)flags; (void)nonblock;
	return -ENOTCONN;
}

static long lfile_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                          int flags, int nonblock, int *msg_flags_out)
{
	(void)f; (void)iov; (void)iovcnt; (void)addr; (void)addrlen; (void)flags; (void)nonblock;
	(void)msg_flags_out;
	return -ENOTCONN;
}

static long lfile_shutdown(struct rt_file *f, int how)
{
	(void)f; (void)how;
	return -ENOTCONN;
}

static long lfile_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	(void)f;
	if (level != SOL_SOCKET)
		return level == IPPROTO_TCP ? -ENOPROTOOPT : -EOPNOTSUPP;
	if (name == SO_REUSEADDR)
		return rt_relay_give_int(1, val, len);
	return rt_relay_socket_opt(name, 1, 0, val, len);
}

static long lfile_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	(void)f; (void)val;
	if (len < sizeof(int))
		return -EINVAL;
	if (level == SOL_SOCKET || level == IPPROTO_TCP)
		return 0;   /* what matters was set before the listener was shared */
	(void)name;
	return -EOPNOTSUPP;
}

static long lfile_getsockname(struct rt_file *f, void *addr, uint32_t *len)
{
	return rt_relay_put_name(&lq(f)->local, addr, len);
}

static long lfile_getpeername(struct rt_file *f, void *addr, uint32_t *len)
{
	(void)f; (void)addr; (void)len;
	return -ENOTCONN;
}

static int lfile_poll(struct rt_file *f, int events)
{
	struct relay_listen *l = lq(f);
	rt_spin_lock(&l->lock);
	int ready = first_for_me(l) >= 0 ? events & (POLLIN | POLLRDNORM) : 0;
	if (!ready)
		l->waiters |= 1ULL << rt_proc_slot();   /* a poller sleeps next */
	rt_spin_unlock(&l->lock);
	return ready;
}

static void lfile_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
}

void rt_relay_holds_change(volatile int *lock, struct relay_holds *h, unsigned slot, int d)
{
	rt_spin_lock(lock);
	h->holders += d;
	if (slot < CAP_PROC_MAX)
		h->held_by[slot] = (int16_t)(h->held_by[slot] + d);
	unsigned owner = h->owner_slot;
	rt_spin_unlock(lock);
	if (d < 0)
		rt_relay_wake(1ULL << owner);   /* the relay thread closes it after the last holder */
}

void rt_relay_holds_forked(volatile int *lock, struct relay_holds *h, unsigned child_slot, int child_pid)
{
	if (!child_slot || child_slot >= CAP_PROC_MAX)
		return;
	rt_spin_lock(lock);
	h->held_by[rt_proc_slot()]--;
	int gone = rt_shared_slot_lost(child_slot, child_pid);
	if (gone)
		h->holders--;   /* pid 1 already took the child's holds away: take this one too */
	else
		h->held_by[child_slot]++;
	unsigned owner = h->owner_slot;
	rt_spin_unlock(lock);
	if (gone)
		rt_relay_wake(1ULL << owner);
}

void rt_relay_holds_lost(volatile int *lock, struct relay_holds *h, unsigned slot)
{
	rt_spin_lock(lock);
	h->holders -= h->held_by[slot];
	h->held_by[slot] = 0;
	rt_spin_unlock(lock);
}

void rt_relay_hold(struct relay_listen *l, unsigned slot, int d)
{
	rt_relay_holds_change(&l->lock, &l->holds, slot, d);
}

static void lfile_release(struct rt_file *f)
{
	rt_relay_hold(lq(f), rt_proc_slot(), -1);
	free(f->priv);
}

static void lfile_fork(struct rt_file *f, int undo)
{
	rt_relay_hold(lq(f), rt_proc_slot(), undo ? -1 : 1);
}

static void lfile_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	rt_relay_holds_forked(&lq(f)->lock, &lq(f)->holds, child_slot, child_pid);
}

static void lfile_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct relay_listen *l = lq(f);
	r->kind = CAP_RFD_TCP_RELAY;
	r->u.sock.local_ip = l->local.sin_addr.s_addr;
	r->u.sock.local_port = ntohs(l->local.sin_port);
	r->u.sock.tcp_state = CAP_TCP_LISTEN;
	r->u.sock.unread = l->count;
}

static const char *lfile_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)f; (void)q; (void)why;
	return 0;
}

/* SCM_RIGHTS: the listener's hold counted on this process's slot, in flight. */
static long lfile_pass(struct rt_file *f, void *what)
{
	struct rt_passed_fd *d = what;
	rt_relay_hold(lq(f), rt_proc_slot(), 1);
	d->kind = RT_PASS_LISTENER;
	d->flags = f->flags;
	d->listener = lq(f);
	return 0;
}

struct rt_file *rt_relay_listener_receive(const struct rt_passed_fd *d)
{
	struct relay_listen *l = d->listener;
	struct rt_file *f = rt_file_new(&relay_listen_ops, d->flags);
	if (!f || rt_relay_become_listener(f, l) < 0) {
		free(f);
		rt_relay_hold(l, d->from_slot, -1);
		return 0;
	}
	if (d->from_slot != rt_proc_slot()) {   /* the hold moves to us */
		rt_spin_lock(&l->lock);
		l->holds.held_by[d->from_slot]--;
		l->holds.held_by[rt_proc_slot()]++;
		rt_spin_unlock(&l->lock);
	}
	return f;
}

void rt_relay_listener_drop(const struct rt_passed_fd *d)
{
	rt_relay_hold(d->listener, d->from_slot, -1);
}

static const struct rt_sock_ops relay_listen_sock_ops = {
	.bind = lfile_bind, .listen = lfile_listen, .accept = lfile_accept, .connect = lfile_connect,
	.sendmsg = lfile_sendmsg, .recvmsg = lfile_recvmsg, .shutdown = lfile_shutdown,
	.getsockopt = lfile_getsockopt, .setsockopt = lfile_setsockopt,
	.getsockname = lfile_getsockname, .getpeername = lfile_getpeername,
};

static const struct rt_file_ops relay_listen_ops = {
	.poll = lfile_poll, .fstat = lfile_fstat, .release = lfile_release, .report = lfile_report,
	.wait_name = lfile_wait_name, .fork = lfile_fork, .forked = lfile_forked, .pass = lfile_pass,
	.sock = &relay_listen_sock_ops,
};

/* ---- making them ---- */

long rt_relay_become_end(struct rt_file *f, struct rt_pipe_ring *rx, struct rt_pipe_ring *tx,
                         unsigned from_slot, const struct relay_names *names, int nodelay, int keepalive)
{
	relay_end_tables();
	struct relay_end *e = rend_new(rx, tx, from_slot, names);
	if (!e)
		return -ENOMEM;
	e->nodelay = nodelay;
	e->keepalive = keepalive;
	f->ops = &relay_end_ops;
	f->priv = e;
	f->handle = -1;
	return 0;
}

long rt_relay_become_listener(struct rt_file *f, struct relay_listen *l)
{
	struct relay_lfile *lf = calloc(1, sizeof *lf);
	if (!lf)
		return -ENOMEM;
	lf->l = l;
	f->ops = &relay_listen_ops;
	f->priv = lf;
	f->handle = -1;
	return 0;
}

int rt_relay_is_stack_socket(const struct rt_file *f)
{
	return f->ops->sock && !f->ops->fork;
}

