/* relaythread.c: pid 1's side of the sockets its processes share: when it forks, each of its TCP connections and listeners is shared (sockrelay.c's kinds) and each UDP socket (udprelay.c), and its relay thread moves every shared connection's bytes between the stack and the window's rings, accepts for shared listeners and serves UDP sockets (docs/PROCESSES.md, section 4). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_shared.h"

#define RELAY_CHUNK 65536        /* bytes the relay moves at a time, each way */

/* One stack socket the relay thread serves. */
struct relay {
	struct relay *next;
	struct rt_file *sock;            /* the stack's socket, used without blocking */
	struct relay_listen *l;          /* a listener's queue, or 0 for a connection */
	struct rt_pipe *rx, *tx;         /* a connection: we write rx and read tx */
	int rx_over, tx_over;            /* rx: end of file passed on; tx: every writer gone */
	size_t pend_off, pend_len;       /* bytes read from tx, not yet taken by the stack */
	unsigned char *pending;
};

static struct relay *relays;
static uint64_t turn_deadline;   /* the earliest end of a connection's turn (end_turns), 0: none */
static int relay_thread_started;
static unsigned char relay_buf[RELAY_CHUNK];

/* ---- pid 1's relay thread ---- */

/* The stack's socket -> rx: what the peer sent, for whichever process reads. */
static int pump_in(struct relay *r)
{
	if (r->rx_over)
		return 0;
	int state = rt_pipe_poll(r->rx, 1, POLLOUT);   /* asks to be woken by a reader's change */
	if (state & POLLERR) {   /* every reader closed: nobody will read what comes */
		rt_pipe_close(r->rx, 1);
		r->rx_over = 1;
		return 1;
	}
	long room = rt_pipe_room(r->rx);
	if (!(state & POLLOUT) || room <= 0)
		return 0;
	struct rt_iovec v = { relay_buf, (size_t)room < sizeof relay_buf ? (size_t)room : sizeof relay_buf };
	int mflags = 0;
	long n = r->sock->ops->sock->recvmsg(r->sock, &v, 1, 0, 0, 0, 1, &mflags);
	if (n == -EAGAIN)
		return 0;
	if (n > 0) {
		rt_pipe_write(r->rx, relay_buf, (size_t)n, 1);   /* fits: only we write rx */
		return 1;
	}
	if (n == 0)
		rt_pipe_close(r->rx, 1);   /* the peer's FIN: readers see end of file */
	else   /* reset, or given up on (lp_socket_error's ETIMEDOUT): the readers see the same */
		rt_pipe_close_reset(r->rx, n == -ECONNRESET || n == -ECONNABORTED || n == -ETIMEDOUT
		                               ? (int)n : -ECONNRESET);
	r->rx_over = 1;
	return 1;
}

/* tx -> the stack's socket: what any process sent. */
static int pump_out(struct relay *r)
{
	if (r->tx_over)
		return 0;
	int moved = 0;
	if (!r->pend_len) {
		long n = rt_pipe_read(r->tx, r->pending, RELAY_CHUNK, 1);
		if (n > 0) {
			r->pend_off = 0;
			r->pend_len = (size_t)n;
			moved = 1;
		} else if (n == 0) {   /* every writer closed or shut down: our FIN */
			r->sock->ops->sock->shutdown(r->sock, SHUT_WR);
			rt_pipe_close(r->tx, 0);
			r->tx_over = 1;
			return 1;
		} else if (rt_pipe_poll(r->tx, 0, POLLIN)) {   /* asks to be woken; or it just came */
			return 1;
		}
	}
	if (r->pend_len) {
		struct rt_iovec v = { r->pending + r->pend_off, r->pend_len };
		long n = r->sock->ops->sock->sendmsg(r->sock, &v, 1, 0, 0, MSG_NOSIGNAL, 1);
		if (n > 0) {
			r->pend_off += (size_t)n;
			r->pend_len -= (size_t)n;
			moved = 1;
		} else if (n != -EAGAIN) {   /* the connection broke: writers get EPIPE */
			r->pend_len = 0;
			rt_pipe_close(r->tx, 0);
			r->tx_over = 1;
			return 1;
		}
	}
	return moved;
}

static void relay_free(struct relay *r)
{
	if (!r->rx_over)
		rt_pipe_close(r->rx, 1);
	if (!r->tx_over)
		rt_pipe_close(r->tx, 0);
	rt_file_unref(r->sock);   /* the stack closes it: a FIN after what it still has to send */
	free(r->pending);
	free(r);
}

static struct relay *relay_conn_new(struct rt_file *sock, struct rt_pipe *rx, struct rt_pipe *tx)
{
	struct relay *r = calloc(1, sizeof *r);
	unsigned char *pending = r ? malloc(RELAY_CHUNK) : 0;
	if (!pending) {
		free(r);
		return 0;
	}
	int one = 1;
	sock->ops->sock->setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	r->sock = sock;
	r->rx = rx;
	r->tx = tx;
	r->pending = pending;
	r->next = relays;
	relays = r;
	return r;
}

static int serve_conn(struct relay *r, int *done)
{
	int moved = pump_in(r) | pump_out(r);
	if (!r->rx_over && (rt_pipe_poll(r->rx, 1, 0) & POLLERR))
		moved |= pump_in(r);   /* the last reader went: pump_in closes our end */
	*done = r->rx_over && r->tx_over;
	return moved;
}

/* A new connection on a shared listener: relayed, then queued for a process's accept. */
static int accept_one(struct relay *r)
{
	struct relay_listen *l = r->l;
	struct rt_file *c;
	struct sockaddr_in peer;
	uint32_t len = sizeof peer;
	long n = r->sock->ops->sock->accept(r->sock, &peer, &len, 1, O_NONBLOCK, &c);
	if (n < 0)
		return n != -EAGAIN;
	struct rt_pipe *rx = rt_pipe_new_shared(1), *tx = rx ? rt_pipe_new_shared(0) : 0;
	if (!tx || !relay_conn_new(c, rx, tx)) {
		if (rx) {
			rt_pipe_drop(rt_pipe_ring_of(rx), 0, rt_proc_slot());
			rt_pipe_close(rx, 1);
		}
		if (tx) {
			rt_pipe_drop(rt_pipe_ring_of(tx), 1, rt_proc_slot());
			rt_pipe_close(tx, 0);
		}
		rt_file_unref(c);   /* no memory for it: the peer sees the connection closed */
		return 1;
	}
	struct relay_conn q = { rt_pipe_ring_of(rx), rt_pipe_ring_of(tx), { { 0 }, { 0 } }, RELAY_ANYONE,
	                        rt_now_ns() };
	rt_relay_names_of(c, &q.names);
	rt_spin_lock(&l->lock);
	uint64_t wake = 0;
	for (unsigned i = 0; i < CAP_PROC_MAX && l->waiters; i++) {   /* offered to one sleeper, in turn */
		unsigned s = (l->next_turn + i) % CAP_PROC_MAX;
		if (l->waiters & (1ULL << s)) {
			q.for_slot = s;
			wake = 1ULL << s;
			l->waiters &= ~wake;
			l->next_turn = s + 1;
			break;
		}
	}
	l->queue[(l->head + l->count) % RELAY_QUEUE] = q;
	l->count++;
	rt_spin_unlock(&l->lock);
	rt_relay_wake(wake);
	return 1;
}

/* Connections offered to a process that did not take them in its turn become anyone's. */
static void end_turns(struct relay_listen *l, uint64_t now)
{
	uint64_t wake = 0;
	rt_spin_lock(&l->lock);
	for (uint32_t i = 0; i < l->count; i++) {
		struct relay_conn *q = &l->queue[(l->head + i) % RELAY_QUEUE];
		if (q->for_slot == RELAY_ANYONE)
			continue;
		if (now - q->since_ns >= RELAY_TURN_NS) {
			q->for_slot = RELAY_ANYONE;
			wake = l->waiters;
		} else if (!turn_deadline || q->since_ns + RELAY_TURN_NS < turn_deadline) {
			turn_deadline = q->since_ns + RELAY_TURN_NS;
		}
	}
	if (wake)
		l->waiters = 0;
	rt_spin_unlock(&l->lock);
	if (wake)
		rt_relay_wake(wake);
}

static int serve_listener(struct relay *r, int *done)
{
	struct relay_listen *l = r->l;
	rt_spin_lock(&l->lock);
	int holders = l->holds.holders, room = l->count < RELAY_QUEUE;
	rt_spin_unlock(&l->lock);
	if (holders > 0) {
		*done = 0;
		int moved = room ? accept_one(r) : 0;
		end_turns(l, rt_now_ns());
		return moved;
	}
	/* The last holder closed it: close it and what nobody took. */
	for (; l->count; l->count--, l->head = (l->head + 1) % RELAY_QUEUE) {
		rt_pipe_drop(l->queue[l->head].rx, 0, l->holds.owner_slot);
		rt_pipe_drop(l->queue[l->head].tx, 1, l->holds.owner_slot);
	}
	rt_file_unref(r->sock);
	rt_shared_free(l);
	*done = 1;
	return 1;
}

static void *relay_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int moved = 0;
		turn_deadline = 0;
		for (struct relay **pp = &relays; *pp;) {
			struct relay *r = *pp;
			int done = 0;
			moved |= r->l ? serve_listener(r, &done) : serve_conn(r, &done);
			if (!done) {
				pp = &r->next;
				continue;
			}
			*pp = r->next;
			if (!r->l)
				relay_free(r);
			else
				free(r);
		}
		moved |= rt_ask_serve();
		moved |= rt_udp_serve();
		/* Nothing moved: every check above asked to be woken by the next change. */
		if (moved)
			rt_yield();
		else
			rt_wait(&rt_io_waitq, turn_deadline, "socket relay");
	}
	return 0;
}

/* ---- sharing pid 1's sockets before a fork ---- */

/* A copy of the stack's file, so the descriptor's own file can become the shared kind. */
static struct rt_file *stack_copy(struct rt_file *f)
{
	struct rt_file *s = rt_file_new(f->ops, f->flags | O_NONBLOCK);
	if (s) {
		s->handle = f->handle;
		s->priv = f->priv;
	}
	return s;
}

static void share_conn(struct rt_file *f)
{
	struct rt_pipe *rx = rt_pipe_new_shared(1), *tx = rx ? rt_pipe_new_shared(0) : 0;
	struct relay_names names;
	rt_relay_names_of(f, &names);
	unsigned me = rt_proc_slot();
	int nodelay = rt_relay_opt_int(f, IPPROTO_TCP, TCP_NODELAY) > 0;
	int keepalive = rt_relay_opt_int(f, SOL_SOCKET, SO_KEEPALIVE) > 0;
	struct rt_file *s = tx ? stack_copy(f) : 0;
	if (!s || rt_relay_become_end(f, rt_pipe_ring_of(rx), rt_pipe_ring_of(tx), me, &names,
	                              nodelay, keepalive) < 0) {
		free(s);   /* a copy: the stack's socket stays f's */
		if (tx)
			rt_pipe_close(tx, 0);
		else if (rx)
			rt_pipe_drop(rt_pipe_ring_of(rx), 0, me);
		if (rx)
			rt_pipe_close(rx, 1);
		return;   /* no memory: the child's copy will refuse I/O, as before */
	}
	rt_relay_add_conn(s, rx, tx);   /* f's ends are the rings' now: the relay must serve them */
}

int rt_relay_add_conn(struct rt_file *sock, struct rt_pipe *rx, struct rt_pipe *tx)
{
	if (relay_conn_new(sock, rx, tx))
		return 0;
	/* No memory for the relay: the processes' ends see the connection end at once. */
	rt_pipe_close(rx, 1);
	rt_pipe_close(tx, 0);
	rt_file_unref(sock);
	return -ENOMEM;
}

struct relay_listen *rt_relay_add_listener(struct rt_file *sock, unsigned holder_slot)
{
	struct relay_listen *l = rt_shared_alloc();
	struct relay *r = l ? calloc(1, sizeof *r) : 0;
	if (!r) {
		if (l)
			rt_shared_free(l);
		return 0;
	}
	uint32_t len = sizeof l->local;
	sock->ops->sock->getsockname(sock, &l->local, &len);
	l->kind = RT_SHARED_KIND_LISTENER;
	l->holds.holders = 1;
	l->holds.held_by[holder_slot] = 1;
	l->holds.owner_slot = rt_proc_slot();
	r->sock = sock;
	r->l = l;
	r->next = relays;
	relays = r;
	return l;
}

static void share_listener(struct rt_file *f)
{
	struct rt_file *s = stack_copy(f);
	struct relay_listen *l = s ? rt_relay_add_listener(s, rt_proc_slot()) : 0;
	if (l && rt_relay_become_listener(f, l) == 0)
		return;
	if (l) {   /* undo: the relay just added is the list's head, and nothing served it yet */
		struct relay *r = relays;
		relays = r->next;
		free(r);
		rt_shared_free(l);
	}
	free(s);   /* a copy: the stack's socket stays f's */
}

static void share_one(struct rt_file *f, void *arg)
{
	(void)arg;
	if (!rt_relay_is_stack_socket(f))
		return;   /* shared already, or a child's copy of a socket the stack never shared */
	long type = rt_relay_opt_int(f, SOL_SOCKET, SO_TYPE);
	if (type == SOCK_DGRAM) {
		struct rt_file *s = stack_copy(f);
		if (s && rt_udp_share(f, s) < 0)
			free(s);   /* no memory: a copy, the stack's socket stays f's (the child's refuses I/O) */
		return;
	}
	if (type != SOCK_STREAM)
		return;
	if (rt_relay_opt_int(f, SOL_SOCKET, SO_ACCEPTCONN) > 0) {
		share_listener(f);
		return;
	}
	struct sockaddr_in peer;
	uint32_t len = sizeof peer;
	if (f->ops->sock->getpeername(f, &peer, &len) == 0)
		share_conn(f);
	/* not connected yet (or connecting): stays pid 1's alone */
}

int rt_relay_share_now(struct rt_file *f)
{
	if (rt_proc_pid() != 1 || !rt_net())
		return -EOPNOTSUPP;
	share_one(f, 0);
	rt_ask_board_create();
	return rt_relay_start();
}

int rt_relay_active(void)
{
	return relays != 0 || rt_udp_active();
}

int rt_relay_start(void)
{
	if (relay_thread_started)
		return 0;
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	int r = pthread_create(&t, &a, relay_thread, 0);
	pthread_attr_destroy(&a);
	if (r)
		return -r;
	relay_thread_started = 1;
	return 0;
}

/*
 * pthread_atfork's prepare handler: it runs before musl's fork takes its
 * locks (malloc's among them), so it may allocate and start a thread.  A
 * fork that does not come through fork() (vfork, clone) shares nothing: the
 * child's copies of sockets then refuse I/O (proc.c).
 */
static void relay_before_fork(void)
{
	if (rt_proc_pid() != 1 || !rt_net())
		return;
	rt_fd_each_file(share_one, 0);
	rt_ask_board_create();   /* where children ask for sockets of their own (sockask.c) */
	rt_relay_start();
}

__attribute__((constructor)) static void relay_register(void)
{
	pthread_atfork(relay_before_fork, 0, 0);
}

/* ---- a process that ended without closing, and the freeze report ---- */

static void listener_lost(void *mem, void *arg)
{
	struct relay_listen *l = mem;
	unsigned slot = *(unsigned *)arg;
	if (l->kind != RT_SHARED_KIND_LISTENER)
		return;
	rt_relay_holds_lost(&l->lock, &l->holds, slot);
	rt_spin_lock(&l->lock);
	l->waiters &= ~(1ULL << slot);
	for (uint32_t i = 0; i < l->count; i++)   /* what was offered to it is anyone's */
		if (l->queue[(l->head + i) % RELAY_QUEUE].for_slot == slot)
			l->queue[(l->head + i) % RELAY_QUEUE].for_slot = RELAY_ANYONE;
	uint64_t wake = l->waiters;
	rt_spin_unlock(&l->lock);
	rt_relay_wake(wake);
}

void rt_relay_lost(unsigned slot)
{
	if (slot >= CAP_PROC_MAX)
		return;
	rt_shared_each_ring(listener_lost, &slot);
	rt_udp_lost(slot);
	rt_ask_lost(slot);
	rt_io_changed();   /* the relay thread closes what nobody holds now */
}

void rt_relay_each_stack_socket(void (*fn)(struct rt_file *sock, void *arg), void *arg)
{
	for (struct relay *r = relays; r; r = r->next)
		fn(r->sock, arg);
	rt_udp_each_stack_socket(fn, arg);
}
