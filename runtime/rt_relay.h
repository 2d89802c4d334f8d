/* rt_relay.h: sockets several processes of a capsule share (docs/PROCESSES.md, section 4): the objects in the shared window, and what the processes' side (sockrelay.c), pid 1's side (relaythread.c), new sockets asked of pid 1 (sockask.c) and UDP sockets (udprelay.c) use of each other. */
#ifndef RT_RELAY_H
#define RT_RELAY_H

#include <netinet/in.h>
#include <stdint.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_shared.h"

#define RELAY_QUEUE 64           /* accepted connections waiting for a process's accept */

struct relay_names {
	struct sockaddr_in local, peer;
};

/*
 * Who holds an object of the window several processes share (a listener, a
 * UDP socket): open files for it in every process, counted per process slot
 * so that a lost process's go too (signed as a pipe ring's counts, pipe.c).
 * The last one's going wakes pid 1's relay thread (owner_slot), which closes
 * it.  Each function takes the object's lock.
 */
struct relay_holds {
	int holders;
	unsigned owner_slot;             /* pid 1's */
	int16_t held_by[CAP_PROC_MAX];
};
/* This process (or slot's) holds change by d. */
void rt_relay_holds_change(volatile int *lock, struct relay_holds *h, unsigned slot, int d);
/* In the parent, the fork answered: the child's hold moves to its slot (as rt_pipe_forked). */
void rt_relay_holds_forked(volatile int *lock, struct relay_holds *h, unsigned child_slot, int child_pid);
/* The process in slot ended without closing (pid 1, on CAP_MSG_LOST): its holds go. */
void rt_relay_holds_lost(volatile int *lock, struct relay_holds *h, unsigned slot);

/*
 * A connection the relay thread accepted, waiting in a listener's queue.
 * Like epoll's EPOLLEXCLUSIVE, each new one is offered to one process
 * sleeping in accept or poll, in turn (for_slot), so pre-forked workers
 * share the connections; after RELAY_TURN_NS of pid 1's clock it is
 * anyone's.
 */
#define RELAY_ANYONE CAP_PROC_MAX
#define RELAY_TURN_NS 5000000ull
struct relay_conn {
	struct rt_pipe_ring *rx, *tx;
	struct relay_names names;
	uint32_t for_slot;               /* RELAY_ANYONE, or the process it is offered to */
	uint64_t since_ns;               /* when it was offered (pid 1's clock) */
};

/* A listener several processes hold: one slot of the window. */
struct relay_listen {
	int lock;
	int kind;                        /* RT_SHARED_KIND_LISTENER */
	struct relay_holds holds;        /* owner_slot: queued connections' ends count there too */
	uint64_t waiters;                /* process slots sleeping in accept or poll */
	uint32_t head, count;
	uint32_t next_turn;              /* the process slot the next connection is offered from */
	struct sockaddr_in local;
	struct relay_conn queue[RELAY_QUEUE];
};
_Static_assert(sizeof(struct relay_listen) <= RT_SHARED_SLOT, "a shared listener fits a slot");

/* ---- sockrelay.c: the files processes hold ---- */

/*
 * f (any file) becomes a process's end of a relayed connection reading rx and
 * writing tx, taking over their counts kept on from_slot.  Without memory:
 * -ENOMEM, both ends given up (the connection closes) and f unchanged.
 */
long rt_relay_become_end(struct rt_file *f, struct rt_pipe_ring *rx, struct rt_pipe_ring *tx,
                         unsigned from_slot, const struct relay_names *names, int nodelay, int keepalive);
/* f becomes a handle on listener l (its hold, counted already); -ENOMEM: f unchanged. */
long rt_relay_become_listener(struct rt_file *f, struct relay_listen *l);
/* A process's hold on l changes by d (a last one wakes pid 1 to close it). */
void rt_relay_hold(struct relay_listen *l, unsigned slot, int d);
/* Wake the processes of mask and this one's threads: a window object changed. */
void rt_relay_wake(uint64_t mask);
/* A stack socket's names, and an int option of it (-errno if it has none). */
void rt_relay_names_of(struct rt_file *s, struct relay_names *n);
long rt_relay_opt_int(struct rt_file *s, int level, int name);
/* Is f a stack socket (not a socketpair's end, not shared already)? */
int rt_relay_is_stack_socket(const struct rt_file *f);
/* SOL_SOCKET's answers every shared TCP socket gives alike (SO_TYPE, SO_ERROR 0, ...). */
long rt_relay_socket_opt(int name, int listening, int keepalive, void *val, uint32_t *len);
/* Answers for an int socket option, and for a name. */
long rt_relay_give_int(int v, void *val, uint32_t *len);
long rt_relay_put_name(const struct sockaddr_in *in, void *addr, uint32_t *len);

/* ---- relaythread.c: pid 1's side ---- */

/* The stack's connection sock, relayed through the new shared rings rx (we write it) and tx. */
int rt_relay_add_conn(struct rt_file *sock, struct rt_pipe *rx, struct rt_pipe *tx);
/* The stack's listener sock shared, holders counted on holder_slot: its queue, or 0. */
struct relay_listen *rt_relay_add_listener(struct rt_file *sock, unsigned holder_slot);
/* pid 1: share one of its stack's sockets now (to pass it with SCM_RIGHTS); 0 or -errno. */
int rt_relay_share_now(struct rt_file *f);
/* pid 1: does it serve sockets other processes share (then it cannot execve)? */
int rt_relay_active(void);
/* Start pid 1's relay thread if it is not running (0, or -errno). */
int rt_relay_start(void);

/* ---- sockask.c: sockets made in a process other than pid 1 ---- */

/* pid 1, before a fork: the board its children post requests on. */
void rt_ask_board_create(void);
/* pid 1's relay thread: serve posted requests and connections in progress; did anything move? */
int rt_ask_serve(void);
/* pid 1: the process in slot ended: what it asked for and never took goes. */
void rt_ask_lost(unsigned slot);
/* socket(AF_INET, SOCK_STREAM | type_flags) in a process other than pid 1: a descriptor or -errno. */
long rt_ask_socket(int type_flags);
/* A process other than pid 1: ask pid 1 to make and serve the stack's socket behind UDP socket udp. */
long rt_ask_udp(void *udp);

/* ---- udprelay.c (the window and pid 1), udpsock.c (a process's file): UDP sockets in every process ---- */

/* socket(AF_INET, SOCK_DGRAM | type_flags) in a process other than pid 1: a descriptor or -errno. */
long rt_udp_socket(int type_flags);
/* pid 1 before a fork: its UDP socket f becomes shared in place, stack (a copy of f) served by the relay. */
int rt_udp_share(struct rt_file *f, struct rt_file *stack);
/* pid 1's relay thread: make the stack's socket for a process's new UDP socket (0 or -errno). */
int rt_udp_adopt(void *udp);
/* A process's holds on a UDP socket change by d (the last one's going closes it). */
void rt_udp_hold(void *udp, unsigned slot, int d);
/* A UDP socket pid 1 never adopted goes (its slots freed). */
void rt_udp_discard(void *udp);
/* pid 1's relay thread: requests, datagrams in and out; did anything move? */
int rt_udp_serve(void);
/* pid 1: does it serve UDP sockets for processes; the stack's sockets behind them; a lost process. */
int rt_udp_active(void);
void rt_udp_each_stack_socket(void (*fn)(struct rt_file *sock, void *arg), void *arg);
void rt_udp_lost(unsigned slot);

#endif
