/* udprelay.c: UDP sockets in every process of a capsule, the window's and pid 1's side: a socket is an object in the shared window with two rings of framed datagrams (udpring.c), and pid 1's relay thread moves datagrams between them and the stack's socket (docs/PROCESSES.md, section 4, "UDP sockets"). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_udp.h"

#define UDP_BATCH 32             /* datagrams the relay moves per socket and direction at a time */
#define UDP_SEND_RETRIES 100     /* the stack out of buffers: tries before a datagram is dropped */

/* ---- the object ---- */

struct udp_shared *rt_udp_new_shared(void)
{
	struct udp_shared *u = rt_shared_alloc();
	struct udp_txslot *t = u ? rt_shared_alloc() : 0;
	if (!t) {
		if (u)
			rt_shared_free(u);
		return 0;   /* the window is full */
	}
	t->kind = RT_SHARED_KIND_UDP_TX;
	rt_udp_ring_init(&t->tx, t);
	u->kind = RT_SHARED_KIND_UDP;
	u->txs = t;
	rt_udp_ring_init(&u->rx, u);
	u->holds.holders = 1;
	u->holds.held_by[rt_proc_slot()] = 1;
	u->local.sin_family = AF_INET;
	return u;
}

void rt_udp_free_shared(struct udp_shared *u)
{
	rt_shared_free(u->txs);
	rt_shared_free(u);
}

void rt_udp_hold(void *obj, unsigned slot, int d)
{
	struct udp_shared *u = obj;
	rt_relay_holds_change(&u->lock, &u->holds, slot, d);
}

void rt_udp_discard(void *obj)
{
	rt_udp_free_shared(obj);
}

/* ---- pid 1's relay thread ---- */

/* The stack's socket behind one shared UDP socket. */
struct udp_relay {
	struct udp_relay *next;
	struct udp_shared *u;
	struct rt_file *sock;            /* the stack's, used without blocking */
	unsigned send_tries;             /* the oldest outgoing datagram's, while the stack has no buffers */
};

static struct udp_relay *udp_relays;
static unsigned char udp_buf[65536];

static void names_update(struct udp_relay *r)
{
	struct relay_names n;
	rt_relay_names_of(r->sock, &n);
	rt_spin_lock(&r->u->lock);
	r->u->local = n.local;
	r->u->local.sin_family = AF_INET;
	r->u->peer = n.peer;   /* family 0 when not connected */
	rt_spin_unlock(&r->u->lock);
}

int rt_udp_relay_new(struct udp_shared *u, struct rt_file *sock)
{
	struct udp_relay *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	int one = 1;
	sock->ops->sock->setsockopt(sock, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
	r->u = u;
	r->sock = sock;
	r->next = udp_relays;
	udp_relays = r;
	names_update(r);
	return 0;
}

int rt_udp_adopt(void *obj)
{
	struct rt_file *s;
	long err = rt_net()->socket(AF_INET, SOCK_DGRAM, 0, O_NONBLOCK, &s);
	if (err < 0)
		return (int)err;
	struct udp_shared *u = obj;
	u->holds.owner_slot = rt_proc_slot();
	if (rt_udp_relay_new(u, s) < 0) {
		rt_file_unref(s);
		return -ENOMEM;
	}
	return 0;
}

/* A bind or connect a process asked for. */
static int serve_request(struct udp_relay *r)
{
	struct udp_shared *u = r->u;
	uint32_t state = __atomic_load_n(&u->req_state, __ATOMIC_ACQUIRE);
	if (state != REQ_POSTED && state != REQ_ABANDONED)
		return 0;
	struct rt_file *s = r->sock;
	long res;
	if (u->req_op == REQ_BIND && u->local.sin_port) {
		res = -EINVAL;   /* bound already (another process's bind came first), as Linux answers; lwIP would rebind */
	} else if (u->req_op == REQ_BIND) {
		int reuse = u->reuseaddr;
		s->ops->sock->setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
		res = s->ops->sock->bind(s, &u->req_addr, u->req_addrlen);
	} else {
		res = s->ops->sock->connect(s, &u->req_addr, u->req_addrlen, 1);
	}
	names_update(r);
	rt_spin_lock(&u->lock);
	u->req_result = (int32_t)res;
	int abandoned = u->req_state == REQ_ABANDONED;
	uint64_t wake = abandoned ? u->askers : 1ULL << u->req_slot;   /* the next asker, or the asker */
	if (abandoned)
		u->askers = 0;
	__atomic_store_n(&u->req_state, abandoned ? REQ_NONE : REQ_DONE, __ATOMIC_RELEASE);
	rt_spin_unlock(&u->lock);
	rt_relay_wake(wake);
	return 1;
}

/* The processes waiting in mask (readers or writers): the ring they wait on changed. */
static void wake_waiting(struct udp_shared *u, uint64_t *mask)
{
	rt_spin_lock(&u->lock);
	uint64_t wake = *mask;
	*mask = 0;
	rt_spin_unlock(&u->lock);
	rt_relay_wake(wake);
}

/* The stack's datagrams -> rx; one that does not fit is dropped and counted, as a full socket buffer's. */
static int pump_in(struct udp_relay *r)
{
	struct udp_shared *u = r->u;
	int moved = 0;
	for (int i = 0; i < UDP_BATCH; i++) {
		struct rt_iovec v = { udp_buf, sizeof udp_buf };
		struct sockaddr_in from;
		uint32_t fromlen = sizeof from;
		int mflags = 0;
		memset(&from, 0, sizeof from);
		long n = r->sock->ops->sock->recvmsg(r->sock, &v, 1, &from, &fromlen, 0, 1, &mflags);
		if (n < 0)
			break;   /* -EAGAIN: nothing more now */
		struct udp_frame h = { (uint32_t)n, from.sin_addr.s_addr, from.sin_port, 0 };
		v.len = (size_t)n;
		rt_spin_lock(&u->lock);
		if (rt_udp_ring_room(&u->rx) >= sizeof h + (size_t)n) {
			rt_udp_ring_put(&u->rx, &h, &v, 1);
			moved = 1;
		} else {
			RT_CONTROL->net_drops.rx_socket_full++;   /* as the stack counts its full queues */
		}
		rt_spin_unlock(&u->lock);
	}
	if (moved)
		wake_waiting(u, &u->readers);
	return moved;
}

/* tx -> the stack's socket: what any process sent. */
static int pump_out(struct udp_relay *r)
{
	struct udp_shared *u = r->u;
	struct udp_ring *tx = &u->txs->tx;
	int moved = 0, retry = 0;
	for (int i = 0; i < UDP_BATCH; i++) {
		struct udp_frame h;
		rt_spin_lock(&u->lock);
		if (!tx->count) {
			rt_spin_unlock(&u->lock);
			break;
		}
		rt_udp_ring_first(tx, &h);
		struct rt_iovec v = { udp_buf, h.len };
		rt_udp_ring_copy_first(tx, &h, &v, 1);
		rt_spin_unlock(&u->lock);
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = h.port, .sin_addr = { h.addr } };
		long n = r->sock->ops->sock->sendmsg(r->sock, &v, 1, &to, sizeof to, MSG_NOSIGNAL, 1);
		if ((n == -ENOMEM || n == -EAGAIN || n == -ENOBUFS) && ++r->send_tries < UDP_SEND_RETRIES) {
			retry = 1;   /* the stack is out of buffers: again after it ran */
			break;
		}
		r->send_tries = 0;   /* sent, or lost as an unroutable datagram is on Linux */
		rt_spin_lock(&u->lock);
		rt_udp_ring_pop(tx, &h);
		rt_spin_unlock(&u->lock);
		moved = 1;
	}
	if (moved)
		wake_waiting(u, &u->writers);
	return moved | retry;
}

int rt_udp_serve(void)
{
	int moved = 0;
	for (struct udp_relay **pp = &udp_relays; *pp;) {
		struct udp_relay *r = *pp;
		rt_spin_lock(&r->u->lock);
		int holders = r->u->holds.holders;
		rt_spin_unlock(&r->u->lock);
		moved |= pump_out(r);   /* what was sent before a close still goes, as on Linux */
		if (holders <= 0 && !__atomic_load_n(&r->u->txs->tx.count, __ATOMIC_ACQUIRE)) {
			*pp = r->next;   /* the last holder closed it, and it has nothing left to send */
			rt_file_unref(r->sock);
			rt_udp_free_shared(r->u);
			free(r);
			moved = 1;
			continue;
		}
		if (holders > 0) {
			moved |= serve_request(r);
			moved |= pump_in(r);
		}
		pp = &r->next;
	}
	return moved;
}

void rt_udp_flush(void)
{
	for (struct udp_relay *r = udp_relays; r; r = r->next)
		for (int tries = 0; tries < UDP_SEND_RETRIES && r->u->txs->tx.count; tries++)
			if (pump_out(r) && r->send_tries)
				rt_yield();   /* the stack out of buffers: let it send */
}

int rt_udp_active(void)
{
	return udp_relays != 0;
}

void rt_udp_each_stack_socket(void (*fn)(struct rt_file *sock, void *arg), void *arg)
{
	for (struct udp_relay *r = udp_relays; r; r = r->next)
		fn(r->sock, arg);
}

static void udp_lost_one(void *mem, void *arg)
{
	struct udp_shared *u = mem;
	unsigned slot = *(unsigned *)arg;
	if (u->kind != RT_SHARED_KIND_UDP)
		return;
	rt_relay_holds_lost(&u->lock, &u->holds, slot);
	rt_spin_lock(&u->lock);
	uint64_t bit = 1ULL << slot;
	u->readers &= ~bit;
	u->writers &= ~bit;
	u->askers &= ~bit;
	if (u->req_state == REQ_POSTED && u->req_slot == slot)
		u->req_state = REQ_ABANDONED;   /* the relay still answers it, to nobody */
	if (u->req_state == REQ_DONE && u->req_slot == slot) {   /* an answer nobody will take */
		u->req_state = REQ_NONE;
		uint64_t wake = u->askers;
		u->askers = 0;
		rt_spin_unlock(&u->lock);
		rt_relay_wake(wake);
		return;
	}
	rt_spin_unlock(&u->lock);
}

void rt_udp_lost(unsigned slot)
{
	rt_shared_each_ring(udp_lost_one, &slot);
}
