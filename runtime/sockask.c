/* sockask.c: sockets made in a process other than pid 1: a TCP socket's connect and listen are asked of pid 1's relay thread on a board in the shared window, and the socket becomes a relayed connection or a shared listener; a UDP socket's stack socket is asked for there too (docs/PROCESSES.md, section 4). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_timer.h"

#define ASK_MAX 64

/*
 * An entry's life: a process posts it (POSTED) and wakes pid 1; the relay
 * thread takes it (WORKING), and answers (DONE) and wakes the asker, who
 * takes the answer and frees the entry.  An asker that closes its socket or
 * ends first leaves it ABANDONED (or FREE if pid 1 never saw it); pid 1 then
 * gives up what it made for it.
 */
enum { ASK_FREE, ASK_POSTED, ASK_WORKING, ASK_DONE, ASK_ABANDONED };
enum { ASK_CONNECT = 1, ASK_LISTEN = 2, ASK_UDP = 3 };

struct ask {
	uint32_t state, op, slot;        /* slot: the asking process's */
	int32_t result;                  /* 0 or -errno */
	int32_t backlog, has_bound;
	struct sockaddr_in bound, addr;  /* bind's address; connect's peer */
	/* the answer: a connection's rings (their processes' ends counted on pid 1's slot) or a
	 * listener (its hold counted on the asker's slot) */
	struct rt_pipe_ring *rx, *tx;
	struct relay_listen *l;
	struct relay_names names;
	void *udp;                       /* ASK_UDP: the socket's object in the window (udprelay.c) */
};

struct ask_board {
	int lock;
	int kind;                        /* RT_SHARED_KIND_BOARD */
	unsigned owner_slot;             /* pid 1's */
	struct ask ask[ASK_MAX];
};
_Static_assert(sizeof(struct ask_board) <= RT_SHARED_SLOT, "the board fits a slot");

/* pid 1 makes it at its first fork; every process after that inherits the pointer. */
static struct ask_board *board;

/* ---- pid 1's side, run by the relay thread ---- */

/* A connect the stack has in progress for an entry. */
struct connecting {
	struct connecting *next;
	int ask;
	struct rt_file *sock;
};
static struct connecting *connecting;

static void board_found(void *slot, void *arg)
{
	if (((struct ask_board *)slot)->kind == RT_SHARED_KIND_BOARD)
		*(struct ask_board **)arg = slot;
}

/*
 * The capsule's board: inherited at a fork, or found in the window by a
 * program an execve started (its memory is new, the window is not); 0 while
 * pid 1 has not made one.
 */
static struct ask_board *capsule_board(void)
{
	if (!board)
		rt_shared_each_ring(board_found, &board);
	return board;
}

void rt_ask_board_create(void)
{
	if (capsule_board()) {   /* one made before pid 1's own execve: its new relay thread serves it */
		board->owner_slot = rt_proc_slot();
		return;
	}
	board = rt_shared_alloc();
	if (!board)
		return;   /* the window is full: children's socket() fails as before */
	board->kind = RT_SHARED_KIND_BOARD;
	board->owner_slot = rt_proc_slot();
}

/* What pid 1 made for an entry nobody will take. */
static void give_up(struct ask *a)
{
	if (a->op == ASK_CONNECT && a->rx) {
		rt_pipe_drop(a->rx, 0, board->owner_slot);
		rt_pipe_drop(a->tx, 1, board->owner_slot);
	} else if (a->op == ASK_LISTEN && a->l) {
		rt_relay_hold(a->l, a->slot, -1);
	} else if (a->op == ASK_UDP && a->udp && (a->state == ASK_POSTED || a->result < 0)) {
		rt_udp_discard(a->udp);   /* never served; a served one closes once rt_udp_lost took its hold */
	}
	a->rx = a->tx = 0;
	a->l = 0;
	a->udp = 0;
}

static void answer(int i, long result)
{
	struct ask *a = &board->ask[i];
	rt_spin_lock(&board->lock);
	int abandoned = a->state == ASK_ABANDONED;
	a->result = (int32_t)result;
	a->state = abandoned ? ASK_FREE : ASK_DONE;
	unsigned slot = a->slot;
	if (abandoned)
		give_up(a);
	rt_spin_unlock(&board->lock);
	if (!abandoned)
		rt_relay_wake(1ULL << slot);
}

static long new_stack_socket(struct ask *a, struct rt_file **out)
{
	long r = rt_net()->socket(AF_INET, SOCK_STREAM, 0, O_NONBLOCK, out);
	if (r < 0)
		return r;
	struct rt_file *s = *out;
	int one = 1;
	s->ops->sock->setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in any = { .sin_family = AF_INET };
	if (a->has_bound || a->op == ASK_LISTEN)
		r = s->ops->sock->bind(s, a->has_bound ? &a->bound : &any, sizeof any);
	if (r < 0)
		rt_file_unref(s);
	return r;
}

static void start_listen(int i, struct ask *a)
{
	struct rt_file *s;
	long r = new_stack_socket(a, &s);
	if (r == 0) {
		r = s->ops->sock->listen(s, a->backlog);
		a->l = r < 0 ? 0 : rt_relay_add_listener(s, a->slot);
		if (r < 0 || !a->l) {
			rt_file_unref(s);
			r = r < 0 ? r : -ENOMEM;
		}
	}
	answer(i, r);
}

static void start_connect(int i, struct ask *a)
{
	struct rt_file *s;
	long r = new_stack_socket(a, &s);
	if (r == 0) {
		r = s->ops->sock->connect(s, &a->addr, sizeof a->addr, 1);
		struct connecting *c = (r == 0 || r == -EINPROGRESS) ? calloc(1, sizeof *c) : 0;
		if (c) {
			*c = (struct connecting){ connecting, i, s };
			connecting = c;
			return;   /* connected_or_not() answers */
		}
		rt_file_unref(s);
		if (r == 0 || r == -EINPROGRESS)
			r = -ENOMEM;
	}
	answer(i, r);
}

/* A connect in progress: still going (0), or answered (1). */
static int connected_or_not(struct connecting *c)
{
	struct ask *a = &board->ask[c->ask];
	struct rt_file *s = c->sock;
	if (__atomic_load_n(&a->state, __ATOMIC_ACQUIRE) == ASK_WORKING &&
	    !(s->ops->poll(s, POLLOUT) & (POLLOUT | POLLERR | POLLHUP)))
		return 0;
	long err = rt_relay_opt_int(s, SOL_SOCKET, SO_ERROR);
	struct rt_pipe *rx = err == 0 ? rt_pipe_new_shared(1) : 0, *tx = rx ? rt_pipe_new_shared(0) : 0;
	if (err == 0 && !tx) {
		err = -ENOMEM;
		if (rx) {
			rt_pipe_drop(rt_pipe_ring_of(rx), 0, rt_proc_slot());
			rt_pipe_close(rx, 1);
		}
	}
	if (err) {
		rt_file_unref(s);
		answer(c->ask, err > 0 ? -err : err);
		return 1;
	}
	rt_relay_names_of(s, &a->names);
	a->rx = rt_pipe_ring_of(rx);
	a->tx = rt_pipe_ring_of(tx);
	rt_relay_add_conn(s, rx, tx);
	answer(c->ask, 0);
	return 1;
}

int rt_ask_serve(void)
{
	if (!board)
		return 0;
	int moved = 0;
	for (int i = 0; i < ASK_MAX; i++) {
		struct ask *a = &board->ask[i];
		if (__atomic_load_n(&a->state, __ATOMIC_ACQUIRE) != ASK_POSTED)
			continue;
		rt_spin_lock(&board->lock);
		int mine = a->state == ASK_POSTED;
		if (mine)
			a->state = ASK_WORKING;
		rt_spin_unlock(&board->lock);
		if (!mine)
			continue;
		moved = 1;
		if (a->op == ASK_LISTEN)
			start_listen(i, a);
		else if (a->op == ASK_UDP)
			answer(i, rt_udp_adopt(a->udp));
		else
			start_connect(i, a);
	}
	for (struct connecting **pp = &connecting; *pp;) {
		struct connecting *c = *pp;
		if (!connected_or_not(c)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c);
		moved = 1;
	}
	return moved;
}

void rt_ask_lost(unsigned slot)
{
	if (!board)
		return;
	rt_spin_lock(&board->lock);
	for (int i = 0; i < ASK_MAX; i++) {
		struct ask *a = &board->ask[i];
		if (a->slot != slot || a->state == ASK_FREE)
			continue;
		if (a->state == ASK_WORKING)
			a->state = ASK_ABANDONED;
		else if (a->state != ASK_ABANDONED) {   /* posted, or answered and never taken */
			if ((a->state == ASK_DONE && a->result == 0) || a->op == ASK_UDP)
				give_up(a);
			a->state = ASK_FREE;
		}
	}
	rt_spin_unlock(&board->lock);
}

/* ---- the asking process's socket until it is connected or listening ---- */

struct asock {
	int ask;                         /* a connect in progress: its entry; else -1 */
	int err;                         /* SO_ERROR: a failed connect's, told once */
	int has_bound;
	struct sockaddr_in bound;
	int nodelay, keepalive;
};

static const struct rt_file_ops asock_ops;

static struct asock *as(struct rt_file *f)
{
	return f->priv;
}

static long post(const struct asock *s, int op, const struct sockaddr_in *addr, int backlog, void *udp)
{
	rt_spin_lock(&board->lock);
	int i = 0;
	while (i < ASK_MAX && board->ask[i].state != ASK_FREE)
		i++;
	if (i == ASK_MAX) {
		rt_spin_unlock(&board->lock);
		return -EAGAIN;   /* 64 sockets being set up at once in the capsule */
	}
	struct ask *a = &board->ask[i];
	memset(a, 0, sizeof *a);
	a->op = (uint32_t)op;
	a->slot = rt_proc_slot();
	a->backlog = backlog;
	a->udp = udp;
	if (s) {
		a->has_bound = s->has_bound;
		a->bound = s->bound;
	}
	if (addr)
		a->addr = *addr;
	__atomic_store_n(&a->state, ASK_POSTED, __ATOMIC_RELEASE);
	unsigned owner = board->owner_slot;
	rt_spin_unlock(&board->lock);
	rt_proc_wake(1ULL << owner);
	return i;
}

/* Sleep until entry i is answered; -EINTR if a signal's handler ran first. */
static long await_answer(int i, const char *why)
{
	while (__atomic_load_n(&board->ask[i].state, __ATOMIC_ACQUIRE) != ASK_DONE) {
		if (rt_signal_interrupts())
			return -EINTR;
		rt_wait(&rt_proc_waitq, 0, why);
	}
	return 0;
}

/*
 * A connect's answer, if it came: f becomes the relayed connection (1), or
 * keeps the error for SO_ERROR (1); 0 while it is still in progress.
 */
static int settle(struct rt_file *f)
{
	struct asock *s = as(f);
	if (s->ask < 0)
		return 0;
	struct ask *a = &board->ask[s->ask];
	if (__atomic_load_n(&a->state, __ATOMIC_ACQUIRE) != ASK_DONE)
		return 0;
	long r = a->result;
	struct ask got = *a;
	rt_spin_lock(&board->lock);
	a->state = ASK_FREE;
	rt_spin_unlock(&board->lock);
	s->ask = -1;
	if (r == 0)
		r = rt_relay_become_end(f, got.rx, got.tx, board->owner_slot, &got.names, s->nodelay,
		                        s->keepalive);
	if (r == 0) {
		free(s);   /* f is the connection's end now */
		rt_io_changed();
	} else {
		s->err = (int)r;
	}
	return 1;
}

static long asock_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos, int write)
{
	if (settle(f) && f->ops != &asock_ops)
		return write ? f->ops->write(f, iov, iovcnt, pos) : f->ops->read(f, iov, iovcnt, pos);
	return as(f)->ask >= 0 ? -EAGAIN : write ? -EPIPE : -ENOTCONN;
}

static long asock_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return asock_rw(f, iov, iovcnt, pos, 0);
}

static long asock_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return asock_rw(f, iov, iovcnt, pos, 1);
}

static int asock_poll(struct rt_file *f, int events)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->poll(f, events);
	struct asock *s = as(f);
	if (s->ask >= 0)
		return 0;   /* connecting: pid 1's answer wakes us */
	return (events & POLLOUT) | POLLHUP | (s->err ? POLLERR : 0);   /* as Linux's unconnected socket */
}

static void asock_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
}

static void asock_release(struct rt_file *f)
{
	struct asock *s = as(f);
	if (s->ask >= 0) {
		struct ask *a = &board->ask[s->ask];
		rt_spin_lock(&board->lock);
		if (a->state == ASK_POSTED)
			a->state = ASK_FREE;
		else if (a->state == ASK_WORKING)
			a->state = ASK_ABANDONED;
		else if (a->state == ASK_DONE) {
			if (a->result == 0)
				give_up(a);
			a->state = ASK_FREE;
		}
		rt_spin_unlock(&board->lock);
	}
	free(s);
}

static void asock_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct asock *s = as(f);
	r->kind = CAP_RFD_TCP_RELAY;
	r->u.sock.local_ip = s->bound.sin_addr.s_addr;
	r->u.sock.local_port = ntohs(s->bound.sin_port);
	r->u.sock.tcp_state = s->ask >= 0 ? CAP_TCP_SYN_SENT : CAP_TCP_CLOSED;
}

static long check_addr(const void *addr, uint32_t len)
{
	if (len < sizeof(struct sockaddr_in))
		return -EINVAL;
	return ((const struct sockaddr_in *)addr)->sin_family == AF_INET ? 0 : -EAFNOSUPPORT;
}

static long asock_bind(struct rt_file *f, const void *addr, uint32_t len)
{
	struct asock *s = as(f);
	long r = check_addr(addr, len);
	if (r < 0)
		return r;
	if (s->has_bound || s->ask >= 0)
		return -EINVAL;
	memcpy(&s->bound, addr, sizeof s->bound);
	s->has_bound = 1;   /* the stack checks the address when pid 1 listens or connects */
	return 0;
}

/* Not interrupted: pid 1 answers a listen or a UDP socket at once, and the answer must be taken. */
static long take_answer(int i, const char *why, struct relay_listen **l)
{
	while (__atomic_load_n(&board->ask[i].state, __ATOMIC_ACQUIRE) != ASK_DONE)
		rt_wait(&rt_proc_waitq, 0, why);
	struct ask *a = &board->ask[i];
	long r = a->result;
	if (l)
		*l = a->l;
	rt_spin_lock(&board->lock);
	a->state = ASK_FREE;
	rt_spin_unlock(&board->lock);
	return r;
}

static long asock_listen(struct rt_file *f, int backlog)
{
	struct asock *s = as(f);
	if (s->ask >= 0)
		return -EINVAL;
	long i = post(s, ASK_LISTEN, 0, backlog > 0 ? backlog : 1, 0);
	if (i < 0)
		return i;
	struct relay_listen *l;
	long r = take_answer((int)i, "listen", &l);
	if (r == 0) {
		r = rt_relay_become_listener(f, l);
		if (r == 0)
			free(s);
		else
			rt_relay_hold(l, rt_proc_slot(), -1);
	}
	return r;
}

static long asock_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
                         struct rt_file **out)
{
	(void)f; (void)addr; (void)len; (void)nonblock; (void)flags; (void)out;
	return -EINVAL;
}

static long asock_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	struct asock *s = as(f);
	long r = check_addr(addr, len);
	if (r < 0)
		return r;
	if (settle(f) && f->ops != &asock_ops)
		return -EISCONN;
	if (s->ask >= 0)
		return -EALREADY;
	long i = post(s, ASK_CONNECT, addr, 0, 0);
	if (i < 0)
		return i;
	s->ask = (int)i;
	s->err = 0;
	if (nonblock)
		return -EINPROGRESS;
	r = await_answer((int)i, "connect");
	if (r < 0)
		return r;   /* it goes on: poll says when */
	settle(f);
	if (f->ops != &asock_ops)
		return 0;
	r = s->err;
	s->err = 0;
	return r;
}

static long asock_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                          int flags, int nonblock)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->sendmsg(f, iov, iovcnt, addr, addrlen, flags, nonblock);
	return as(f)->ask >= 0 ? -EAGAIN : -EPIPE;
}

static long asock_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                          int flags, int nonblock, int *msg_flags_out)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->recvmsg(f, iov, iovcnt, addr, addrlen, flags, nonblock, msg_flags_out);
	return as(f)->ask >= 0 ? -EAGAIN : -ENOTCONN;
}

static long asock_shutdown(struct rt_file *f, int how)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->shutdown(f, how);
	return -ENOTCONN;
}

static long asock_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->getsockopt(f, level, name, val, len);
	struct asock *s = as(f);
	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		return rt_relay_give_int(s->nodelay, val, len);
	if (level != SOL_SOCKET)
		return level == IPPROTO_TCP ? -ENOPROTOOPT : -EOPNOTSUPP;
	if (name == SO_ERROR) {   /* a failed connect's, once */
		int err = -s->err;
		s->err = 0;
		return rt_relay_give_int(err, val, len);
	}
	return rt_relay_socket_opt(name, 0, s->keepalive, val, len);
}

static long asock_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->setsockopt(f, level, name, val, len);
	struct asock *s = as(f);
	if (len < sizeof(int))
		return -EINVAL;
	int v;
	memcpy(&v, val, sizeof v);
	if (level == IPPROTO_TCP && name == TCP_NODELAY)
		s->nodelay = v != 0;
	else if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		s->keepalive = v != 0;
	else if (!(level == SOL_SOCKET && (name == SO_REUSEADDR || name == SO_REUSEPORT ||
	                                    name == SO_SNDBUF || name == SO_RCVBUF || name == SO_LINGER)))
		return level == SOL_SOCKET || level == IPPROTO_TCP ? -ENOPROTOOPT : -EOPNOTSUPP;
	return 0;   /* the address is always reusable: pid 1 binds with SO_REUSEADDR */
}

static long asock_getsockname(struct rt_file *f, void *addr, uint32_t *len)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->getsockname(f, addr, len);
	struct sockaddr_in any = { .sin_family = AF_INET };
	return rt_relay_put_name(as(f)->has_bound ? &as(f)->bound : &any, addr, len);
}

static long asock_getpeername(struct rt_file *f, void *addr, uint32_t *len)
{
	if (settle(f) && f->ops != &asock_ops)
		return f->ops->sock->getpeername(f, addr, len);
	return -ENOTCONN;
}

static const struct rt_sock_ops asock_sock_ops = {
	.bind = asock_bind, .listen = asock_listen, .accept = asock_accept, .connect = asock_connect,
	.sendmsg = asock_sendmsg, .recvmsg = asock_recvmsg, .shutdown = asock_shutdown,
	.getsockopt = asock_getsockopt, .setsockopt = asock_setsockopt,
	.getsockname = asock_getsockname, .getpeername = asock_getpeername,
};

/* No .fork: a socket being set up at a fork stays the forking process's (proc.c refuses the copy). */
static const struct rt_file_ops asock_ops = {
	.read = asock_read, .write = asock_write, .poll = asock_poll, .fstat = asock_fstat,
	.release = asock_release, .report = asock_report, .sock = &asock_sock_ops,
};

long rt_ask_socket(int type_flags)
{
	if (!capsule_board())
		return -EAFNOSUPPORT;
	struct asock *s = calloc(1, sizeof *s);
	struct rt_file *f = s ? rt_file_new(&asock_ops, O_RDWR | ((type_flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0)) : 0;
	if (!f) {
		free(s);
		return -ENOMEM;
	}
	s->ask = -1;
	f->priv = s;
	return rt_fd_install_new(f, (type_flags & SOCK_CLOEXEC) != 0);
}

long rt_ask_udp(void *udp)
{
	if (!capsule_board())
		return -EAFNOSUPPORT;
	long i = post(0, ASK_UDP, 0, 0, udp);
	return i < 0 ? i : take_answer((int)i, "socket", 0);
}
