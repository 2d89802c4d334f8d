/* tcphold.h: the gateway's holder: keeps ordinary peers' TCP connections (and UDP) open while a capsule is away. */
#ifndef HOST_TCPHOLD_H
#define HOST_TCPHOLD_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/formats/tcpconn.h"

/*
 * While a capsule is frozen, on disk or moving, the gateway answers its TCP
 * peers in its place (docs/NETWORK.md section 4):
 *   - in-order data from the peer is buffered (at most the buffer the caller
 *     gives, normally one window) and acknowledged, the advertised window
 *     shrinking to zero as the buffer fills; data beyond it is not acked;
 *   - window probes, keep-alives and anything out of window get a pure ACK:
 *     seq = the capsule's snd_nxt, ack = rcv_nxt, window = free buffer
 *     (zero once full) -- Linux then keeps the connection open indefinitely
 *     (RFC 1122 4.2.2.17) unless the peer app set TCP_USER_TIMEOUT;
 *   - timestamps: TSecr echoes the peer, TSval never goes backwards;
 *   - a FIN from the peer is acknowledged and remembered;
 *   - it NEVER sends a RST (nothing here can even build one).
 * On release the buffered bytes are turned back into ordinary segments from
 * the peer (tcphold_reinject_next) for the resumed capsule, and one
 * window-opening ACK goes to the peer at once (tcphold_release).
 *
 * Everything is pure: packets in, packets out (into caller buffers), no I/O,
 * no allocation, time passed in as now_ms (any monotonic millisecond clock).
 * Addresses are IPv4 in network order, ports in host order (as in
 * struct tcpconn).  Inputs are full IPv4 packets; every field is
 * bounds-checked, so arbitrary bytes are safe.
 */

/* Room for any packet tcphold_input / tcphold_release builds (IP 20 + TCP 20 + options 12). */
#define TCPHOLD_ACK_MAX 64

enum tcphold_ts_mode {
	/* TSval = capsule's last TSval + ms elapsed since: right if the capsule's TS clock keeps running while frozen. */
	TCPHOLD_TS_ELAPSED = 0,
	/* TSval = capsule's last TSval, constant: right if the capsule's clock pauses (resume never sends lower). */
	TCPHOLD_TS_FROZEN  = 1,
};

/*
 * What the holder starts from is one connection's struct tcpconn
 * (hosts/formats/tcpconn.h: the same state HOLD carries between hosts);
 * the holder's own parts of it are ts_mode (enum tcphold_ts_mode) and
 * ts_val_ms (now_ms when the capsule's TSval was ts_val).
 */

struct tcphold_counters {
	uint64_t segs_in;          /* segments of this connection seen */
	uint64_t bytes_held;       /* payload accepted into the buffer */
	uint64_t bytes_refused;    /* payload beyond the buffer / window, not acked */
	uint64_t bytes_dup;        /* payload already held (retransmissions) */
	uint64_t acks_out;         /* ACKs sent (the only thing we ever send) */
	uint64_t probes;           /* probes / keep-alives / out-of-window answered */
	uint64_t ooo;              /* out-of-order data (gap): not held, dup-ACKed */
	uint64_t bad_csum, malformed, bad_ack, rst_ignored;
};

enum tcphold_conn_state {
	TCPHOLD_HOLDING   = 0,
	TCPHOLD_PEER_FIN  = 1,   /* peer closed its direction; still holding */
	TCPHOLD_PEER_RST  = 2,   /* peer reset with an exact-sequence RST: the connection is gone */
	TCPHOLD_RELEASED  = 3,
};

struct tcphold_conn {
	struct tcpconn s;
	uint8_t *buf;            /* caller's buffer, cap bytes */
	uint32_t cap, used;
	uint32_t rcv_nxt;        /* advances as data is held (and by 1 for the FIN) */
	uint32_t peer_ack;       /* latest acceptable ack field from the peer */
	uint16_t peer_win;       /* latest window field from the peer (raw, unscaled) */
	uint8_t  state;          /* enum tcphold_conn_state */
	uint8_t  fin_held;       /* the held stream ends with the peer's FIN */
	uint32_t ts_sent;        /* last TSval we put on the wire (>= s.ts_val) */
	uint32_t ts_recent;      /* peer's TSval to echo */
	struct tcphold_counters c;
};

/*
 * Start holding.  buf/cap: where peer data goes while held (normally
 * cap >= seed->rcv_wnd, one window, so nothing the peer may already have
 * in flight is refused).  cap 0 is allowed: zero window from the start.
 */
void tcphold_init(struct tcphold_conn *c, const struct tcpconn *seed, uint8_t *buf, uint32_t cap);

enum tcphold_result {
	TCPHOLD_NOT_MINE = 0,   /* not IPv4/TCP from this peer to this capsule: try another holder */
	TCPHOLD_DONE     = 1,   /* handled; *out_len is 0 or the ACK to send to the peer */
	TCPHOLD_DROPPED  = 2,   /* malformed or bad checksum: dropped, counted, nothing to send */
	TCPHOLD_RESET    = 3,   /* peer reset the connection: stop holding it (nothing to send) */
};

/*
 * One packet from the peer (a whole IPv4 packet, len bytes).  When *out_len
 * > 0 after the call, out (out_cap >= TCPHOLD_ACK_MAX) holds one IPv4/TCP
 * packet to send back to the peer: always a pure ACK, never a RST.
 */
int tcphold_input(struct tcphold_conn *c, const uint8_t *pkt, size_t len, uint64_t now_ms,
                  uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * A connection held again before the capsule acknowledged everything an
 * earlier hold of it re-injected: c was just initialized from the new
 * freeze's seed with a buffer of at least old->used bytes (it may be the
 * very buffer old used); old is that earlier, released holder.  The bytes
 * old held beyond the capsule's rcv_nxt now (and old's FIN) move to the
 * front of c's buffer, as if c had taken them: the peer will never send
 * them again.  c's capacity becomes cap, or what was carried if more.
 * Returns the bytes carried.
 */
uint32_t tcphold_carry(struct tcphold_conn *c, const struct tcphold_conn *old, uint32_t cap);

/* Stop taking data (e.g. memory pressure): from now on the window is zero. */
void tcphold_close_window(struct tcphold_conn *c);

/*
 * Release: builds the window-opening ACK for the peer (seq = snd_nxt,
 * ack = rcv_nxt, window = open_window bytes, or the seed's rcv_wnd if 0)
 * into out, and yields the held bytes (*data, *n: the first *n bytes of the
 * caller's buffer; FIN held too if c->fin_held).  Send the re-injected
 * segments to the capsule first (tcphold_reinject_next), then this ACK.
 * Also returns in *ts_floor the last TSval we sent (0 if no timestamps):
 * the resumed capsule must never send a lower one.  Returns 0, or -1 if
 * out_cap < TCPHOLD_ACK_MAX (the data is yielded either way).  After a peer
 * RST there is no ACK (*out_len 0).  The conn then answers nothing more.
 */
int tcphold_release(struct tcphold_conn *c, uint64_t now_ms, uint32_t open_window,
                    uint8_t *out, size_t out_cap, size_t *out_len,
                    const uint8_t **data, size_t *n, uint32_t *ts_floor);

/*
 * Re-injection: build the next segment "from the peer" to the capsule
 * carrying held bytes from *offset (at most mss bytes; the FIN rides on the
 * last one, or alone if no data), seq = the freeze-time rcv_nxt + *offset,
 * ack = the peer's latest ack, window = the peer's latest window, with the
 * peer's timestamps if in use.  Advances *offset.  Returns 1 when a packet
 * was built into out (size *out_len), 0 when everything (FIN included) has
 * been built, -1 if out_cap is too small.  Start with *offset = 0.
 */
int tcphold_reinject_next(const struct tcphold_conn *c, size_t *offset, size_t mss,
                          uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- Packet parsing and building (also used by tests and fuzzers) ---- */

#define TCPHOLD_FIN 0x01
#define TCPHOLD_SYN 0x02
#define TCPHOLD_RST 0x04
#define TCPHOLD_PSH 0x08
#define TCPHOLD_ACK 0x10

/* A parsed IPv4/TCP segment; pointers into the caller's packet. */
struct tcphold_seg {
	uint32_t src, dst;           /* network order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t  flags;
	uint16_t win;                /* raw window field */
	uint8_t  has_ts, has_mss, has_ws, has_sackok;
	uint32_t ts_val, ts_ecr;
	uint16_t mss;
	uint8_t  ws;
	const uint8_t *data;         /* TCP payload */
	size_t   dlen;
	int      csum_ok;            /* TCP checksum (with pseudo-header) verified */
};

/*
 * Parse one IPv4 packet carrying TCP: version, IHL, total length <= len
 * (link padding beyond it is ignored), no fragments, header checksum, TCP
 * data offset, options (MSS, WS, TS, SACK-permitted understood, others
 * skipped, malformed lengths refused).  0 = parsed (see s->csum_ok), -1 =
 * not a well-formed IPv4/TCP packet.
 */
int tcphold_pkt_parse(const uint8_t *pkt, size_t len, struct tcphold_seg *s);

/*
 * Build an IPv4/TCP packet (DF, TTL 64, correct IP and TCP checksums) into
 * out.  Options: the 12-byte NOP NOP TS block if with_ts.  RST is masked
 * out of flags: this module cannot send one.  Returns the packet length, or
 * 0 if out_cap is too small or the result would exceed 65535 bytes.
 */
size_t tcphold_pkt_build(uint8_t *out, size_t out_cap, uint32_t src, uint32_t dst,
                     uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                     uint8_t flags, uint16_t win, int with_ts, uint32_t ts_val, uint32_t ts_ecr,
                     const uint8_t *data, size_t dlen);

/* ---- UDP (and any other non-TCP packet) for a held capsule: bounded, then drop; never ICMP ---- */

struct tcphold_udp {
	uint8_t *buf;            /* caller's buffer: records of [u16 length][packet] */
	size_t   cap, used;
	uint32_t max_pkts, npkts;
	uint64_t held_pkts, held_bytes, dropped_pkts, dropped_bytes, malformed;
};
void tcphold_udp_init(struct tcphold_udp *q, uint8_t *buf, size_t cap, uint32_t max_pkts);
/* Hold one IPv4 packet: 0, or -1 if dropped (full or not a valid IPv4 packet; counted). */
int tcphold_udp_push(struct tcphold_udp *q, const uint8_t *pkt, size_t len);
/* Iterate held packets in arrival order: *cursor starts at 0.  1 = one returned, 0 = end. */
int tcphold_udp_next(const struct tcphold_udp *q, size_t *cursor, const uint8_t **pkt, size_t *len);
/* Forget every held packet (after delivering them); counters stay. */
void tcphold_udp_clear(struct tcphold_udp *q);

#endif
