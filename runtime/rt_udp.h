/* rt_udp.h: a UDP socket in the shared window (docs/PROCESSES.md, section 4, "UDP sockets"): its object and rings of datagrams, between the processes' side (udpsock.c) and pid 1's relay thread (udprelay.c). */
#ifndef RT_UDP_H
#define RT_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_shared.h"

#define UDP_MAX_PAYLOAD 65507    /* IPv4's largest datagram, as Linux answers EMSGSIZE above it */
#define UDP_POLLOUT_ROOM 2048    /* free bytes in the send ring for poll to say POLLOUT */

/*
 * A ring of datagrams: each is a struct udp_frame then its payload, wrapping
 * around the end of data; data follows the ring's header to the end of its slot.
 */
struct udp_frame {
	uint32_t len;                /* payload bytes */
	uint32_t addr;               /* the peer: the source of a received datagram, the destination of one sent */
	uint16_t port;               /* (both network order) */
	uint16_t zero;
};

struct udp_ring {
	uint32_t head;               /* where the oldest frame starts */
	uint32_t used;               /* bytes of frames */
	uint32_t count;              /* frames */
	uint32_t cap;                /* bytes of data */
};

/* The send ring's slot. */
struct udp_txslot {
	int lock;                    /* unused: the socket's lock guards both rings */
	int kind;                    /* RT_SHARED_KIND_UDP_TX */
	struct udp_ring tx;          /* last: its data fills the rest of the slot */
};

enum { REQ_NONE, REQ_POSTED, REQ_DONE, REQ_ABANDONED };   /* ABANDONED: posted by a process that ended */
enum { REQ_BIND = 1, REQ_CONNECT };

/* A UDP socket every process may hold: one slot of the window (and its send ring's). */
struct udp_shared {
	int lock;
	int kind;                        /* RT_SHARED_KIND_UDP */
	struct relay_holds holds;        /* owner_slot: pid 1's, whose relay thread serves the stack's socket */
	uint64_t readers, writers;       /* process slots waiting for a datagram, for room to send */
	uint64_t askers;                 /* process slots waiting to post a request */
	struct sockaddr_in local, peer;  /* peer.sin_family AF_INET: connected */
	int32_t rd_shut, wr_shut;
	int32_t broadcast, reuseaddr;    /* what getsockopt answers (the stack's socket broadcasts) */
	uint64_t rcvtimeo_ns, sndtimeo_ns;   /* SO_RCVTIMEO, SO_SNDTIMEO of a blocking call; 0: none */
	/* One request at a time to the relay thread: bind or connect, which only the stack can do. */
	uint32_t req_state, req_op, req_slot, req_addrlen;
	int32_t req_result;
	struct sockaddr_in req_addr;
	struct udp_txslot *txs;
	struct udp_ring rx;              /* last: its data fills the rest of the slot */
};
_Static_assert(sizeof(struct udp_shared) + 1024 < RT_SHARED_SLOT, "a UDP socket's header leaves room for its ring");

/* Rings of frames (udpring.c), under the socket's lock: free bytes; append a datagram gathered from iov (the
 * caller checked the room); the oldest one's frame; scatter its first bytes into iov (how many);
 * drop it. */
/* A ring whose data fills the rest of slot (RT_SHARED_SLOT bytes from slot) after r. */
void rt_udp_ring_init(struct udp_ring *r, void *slot);
uint32_t rt_udp_ring_room(const struct udp_ring *r);
void rt_udp_ring_put(struct udp_ring *r, const struct udp_frame *h, const struct rt_iovec *iov, int iovcnt);
void rt_udp_ring_first(struct udp_ring *r, struct udp_frame *h);
size_t rt_udp_ring_copy_first(struct udp_ring *r, const struct udp_frame *h, const struct rt_iovec *iov,
                              int iovcnt);
void rt_udp_ring_pop(struct udp_ring *r, const struct udp_frame *h);

/* A new socket held once by this process, or 0 (the window is full); its end. */
struct udp_shared *rt_udp_new_shared(void);
void rt_udp_free_shared(struct udp_shared *u);
/* pid 1: the relay thread serves u through the stack's socket sock from now on (0 or -ENOMEM). */
int rt_udp_relay_new(struct udp_shared *u, struct rt_file *sock);

#endif
