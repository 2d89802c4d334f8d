/* tcpseg.h: cutting a large TCP segment into wire-sized ones (software TSO) and joining consecutive ones again (software GRO), for caphostd's host-to-host wire. */
#ifndef HOST_TCPSEG_H
#define HOST_TCPSEG_H

#include <stddef.h>
#include <stdint.h>

/*
 * A capsule's link has a large MTU (65,000 by default), so its TCP sends
 * segments of up to 64 KiB, as Linux does over loopback.  Between hosts
 * each packet travels wrapped in one UDP datagram that must fit the wire's
 * MTU unfragmented (a lost fragment loses the whole datagram).  So caphostd
 * cuts a segment that does not fit into pieces that do, each a complete
 * TCP segment with its own headers and checksum (what a NIC's TCP
 * segmentation offload does), and sends them in one system call; the
 * receiving caphostd joins the pieces that one read brought back into one
 * segment before it hands them to the capsule (what GRO does).  Each piece
 * is authenticated and can be lost alone: TCP retransmits only that piece.
 *
 * Only plain data segments are cut or joined: IPv4 without options and not
 * a fragment, TCP with ACK (and PSH) only, a payload.  Everything else goes
 * whole, as before.
 */

#define TCPSEG_MIN_PIECE 256   /* smallest payload per piece: below it, a packet goes whole */
#define TCPSEG_MAX_PIECES 256  /* 64 KiB in pieces of TCPSEG_MIN_PIECE */

/*
 * The payload bytes per piece when pkt (len bytes, an IPv4 header already
 * checked by ipv4_check) is a data segment longer than max_len that can be
 * cut into packets of at most max_len bytes; 0 when it fits already or is
 * not one to cut (then it goes whole).
 */
size_t tcpseg_piece_payload(const uint8_t *pkt, size_t len, size_t max_len);
/* How many pieces pkt makes at payload bytes each (payload from tcpseg_piece_payload). */
unsigned tcpseg_pieces(const uint8_t *pkt, size_t len, size_t payload);
/*
 * Writes piece i of pkt into out (room for the headers + payload bytes) and
 * returns its length: pkt's headers with the total length, IP ID (+ i),
 * header checksum, sequence number, flags (FIN and PSH on the last piece
 * only, CWR on the first only) and TCP checksum made for the piece.
 */
size_t tcpseg_piece(const uint8_t *pkt, size_t len, size_t payload, unsigned i, uint8_t *out);

/* One segment being joined from consecutive ones of the same connection. */
struct tcpseg_join {
	uint8_t *buf;      /* the segment so far (caller's memory) ... */
	size_t cap;        /* ... of this many bytes: the receiver's MTU at most */
	size_t len;        /* 0: empty */
	size_t first;      /* payload bytes of the first piece: a later one is never longer */
	unsigned pieces;   /* how many were joined into it */
	int closed;        /* a shorter piece or PSH ended it: nothing more joins */
};

/*
 * Joins pkt (a checked IPv4 packet) onto j: starts j with it when j is
 * empty, appends its payload when it continues j's segment exactly (same
 * connection, addresses, TTL, TOS, acknowledgment, window, options and
 * flags; the next sequence number; no longer than the first piece; the
 * result within cap).  Returns 1 when pkt is now part of j, 0 when it is
 * not one to join or does not continue j (j unchanged: the caller
 * delivers j, then tries again on an empty one).
 */
int tcpseg_join_add(struct tcpseg_join *j, const uint8_t *pkt, size_t len);
/*
 * Makes j's headers right for what it holds (total length, header and TCP
 * checksums; nothing when it is a single piece), returns its length, and
 * empties j.
 */
size_t tcpseg_join_take(struct tcpseg_join *j);

#endif
