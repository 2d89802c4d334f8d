/* tcpconn.h: the one host-side encoding of a TCP connection's state: the holder's seed, FROZEN's entries, HOLD's records. */
#ifndef HOST_TCPCONN_H
#define HOST_TCPCONN_H

#include "capsule-abi/cap_report.h"

#include <stddef.h>
#include <stdint.h>

/*
 * What the hosts know about one TCP connection of a frozen capsule: enough
 * for the gateway's holder (tcphold.h) to answer the peer in the capsule's
 * place.  The capsule writes its own record (struct cap_report_sock, the
 * freeze report); caprun converts each TCP entry once (tcpconn_from_report,
 * in uplink_encode_frozen), and from there on the hosts carry only this:
 * the uplink's FROZEN record (native layout, one machine), the HOLD
 * payload between hosts (the 44-byte big-endian record below, docs/NETWORK.md
 * section 6.7), the holder's seed and its state files (native, holdfile.h).
 */
struct tcpconn {
	uint32_t capsule_ip, peer_ip;       /* network order */
	uint16_t capsule_port, peer_port;   /* host order */
	uint32_t snd_nxt;       /* capsule's next sequence number: the seq of every ACK the holder sends */
	uint32_t snd_una;       /* highest ack the capsule got from the peer */
	uint32_t rcv_nxt;       /* next byte the capsule expects from the peer */
	uint32_t snd_wnd;       /* peer's window, bytes (for re-injected segments) */
	uint32_t rcv_wnd;       /* capsule's advertised window, bytes (window-opening ACK default) */
	uint8_t  wscale_ours;   /* shift for windows the capsule advertises (report: rcv_scale), 0 if none */
	uint8_t  wscale_peer;   /* shift the peer applies to its window field (report: snd_scale), 0 if none */
	uint8_t  ts_ok;         /* timestamps negotiated on this connection (0 or 1) */
	uint8_t  ts_mode;       /* the holder's choice, enum tcphold_ts_mode; not on the wire (0 there) */
	uint32_t ts_val;        /* last TSval the capsule sent */
	uint32_t ts_recent;     /* last TSval the capsule got from the peer */
	uint64_t ts_val_ms;     /* holder's clock_now_ms when the capsule sent ts_val (the hold's start);
	                         * a local clock, so not on the wire (0 there) */
};
_Static_assert(sizeof(struct tcpconn) == 56, "tcpconn layout (the holder's state files keep it)");
_Static_assert(offsetof(struct tcpconn, snd_nxt) == 12 && offsetof(struct tcpconn, wscale_ours) == 32 &&
               offsetof(struct tcpconn, ts_val) == 36 && offsetof(struct tcpconn, ts_val_ms) == 48,
               "tcpconn layout (the holder's state files keep it)");

/*
 * The record between hosts (inside HOLD), big-endian, 44 bytes.  This
 * struct documents the byte layout and pins it; the codec writes bytes at
 * these offsets, so host alignment never matters.
 */
struct tcpconn_wire {
	uint32_t capsule_ip, peer_ip;       /*  0,  4: network order, as on the wire */
	uint16_t capsule_port, peer_port;   /*  8, 10 */
	uint32_t snd_nxt, snd_una, rcv_nxt; /* 12, 16, 20 */
	uint32_t snd_wnd, rcv_wnd;          /* 24, 28 */
	uint8_t  wscale_ours, wscale_peer;  /* 32, 33: 0..14 */
	uint8_t  ts_ok;                     /* 34: 0 or 1 */
	uint8_t  reserved;                  /* 35: 0 */
	uint32_t ts_val, ts_recent;         /* 36, 40 */
};
#define TCPCONN_WIRE_LEN 44
_Static_assert(sizeof(struct tcpconn_wire) == TCPCONN_WIRE_LEN, "tcpconn record is 44 bytes");
_Static_assert(offsetof(struct tcpconn_wire, capsule_port) == 8 &&
               offsetof(struct tcpconn_wire, snd_nxt) == 12 &&
               offsetof(struct tcpconn_wire, rcv_wnd) == 28 &&
               offsetof(struct tcpconn_wire, wscale_ours) == 32 &&
               offsetof(struct tcpconn_wire, reserved) == 35 &&
               offsetof(struct tcpconn_wire, ts_recent) == 40, "tcpconn record offsets");

/* Largest window scale RFC 7323 allows. */
#define TCPCONN_WSCALE_MAX 14

/*
 * The one conversion from the capsule's record: a TCP entry of the freeze
 * report in a state with a live peer (ESTABLISHED..LAST_ACK; TIME_WAIT has
 * nothing left to say), a peer address, both ports and window scales of at
 * most TCPCONN_WSCALE_MAX.  The report has window scales but no timestamps
 * (lwIP runs without them): ts_* are 0.  0, or -1 if s is not such a
 * connection (nothing to hold), so what it makes always encodes to a record
 * tcpconn_decode accepts.
 */
int tcpconn_from_report(const struct cap_report_sock *s, struct tcpconn *c);

/* Write c's record (TCPCONN_WIRE_LEN bytes; ts_mode and ts_val_ms are not carried). */
void tcpconn_encode(const struct tcpconn *c, uint8_t out[TCPCONN_WIRE_LEN]);
/*
 * Read and check one record: peer address and both ports nonzero, window
 * scales <= TCPCONN_WSCALE_MAX, ts_ok 0 or 1, reserved 0; ts_mode and
 * ts_val_ms come out 0.  So a decoded record re-encodes to the same bytes.
 * 0 or -1.
 */
int tcpconn_decode(const uint8_t p[TCPCONN_WIRE_LEN], struct tcpconn *c);

#endif
