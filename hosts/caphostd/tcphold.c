/* tcphold.c: answers a held capsule's TCP peers (buffer, ACK, zero window, never RST) and buffers its UDP. */
#include "hosts/caphostd/tcphold.h"
#include "hosts/common/ipv4.h"

#include <string.h>

/* Sequence-space comparisons (RFC 1982 style, 32-bit wrap). */
static int seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static int seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

void tcphold_init(struct tcphold_conn *c, const struct tcpconn *seed, uint8_t *buf, uint32_t cap)
{
	memset(c, 0, sizeof *c);
	c->s = *seed;
	c->buf = buf;
	c->cap = buf ? cap : 0;
	c->rcv_nxt = seed->rcv_nxt;
	c->peer_ack = seed->snd_una;
	uint32_t w = seed->snd_wnd >> seed->wscale_peer;
	c->peer_win = w > 0xffff ? 0xffff : (uint16_t)w;
	c->ts_sent = seed->ts_val;
	c->ts_recent = seed->ts_recent;
	c->state = TCPHOLD_HOLDING;
}

uint32_t tcphold_carry(struct tcphold_conn *c, const struct tcphold_conn *old, uint32_t cap)
{
	uint32_t room = c->cap, carried = 0;
	uint32_t skip = c->rcv_nxt - old->s.rcv_nxt;   /* what the capsule took of old's bytes */
	if (seq_leq(old->s.rcv_nxt, c->rcv_nxt) && skip <= old->used) {
		carried = old->used - skip;
		if (carried > room)
			carried = room;   /* cannot happen with the buffer the contract asks for */
		if (carried)
			memmove(c->buf, old->buf + skip, carried);
		c->used = carried;
		c->rcv_nxt += carried;
		c->c.bytes_held += carried;
		if (old->fin_held && carried == old->used - skip) {
			c->rcv_nxt++;
			c->fin_held = 1;
			c->state = TCPHOLD_PEER_FIN;
		}
	}
	c->cap = cap > carried ? cap : carried;
	if (c->cap > room)
		c->cap = room;
	return carried;
}

void tcphold_close_window(struct tcphold_conn *c)
{
	c->cap = c->used;
}

/* The window field for `bytes` of room, in the capsule's negotiated scale. */
static uint16_t window_field(const struct tcphold_conn *c, uint32_t bytes)
{
	uint32_t w = bytes >> (c->s.wscale_ours > 14 ? 14 : c->s.wscale_ours);
	return w > 0xffff ? 0xffff : (uint16_t)w;
}

/*
 * Our TSval: never below anything the capsule or we sent (the peer's PAWS
 * check would drop a lower one), and in ELAPSED mode advancing with time
 * like the capsule's own 1 ms clock would.
 */
static uint32_t next_tsval(struct tcphold_conn *c, uint64_t now_ms)
{
	uint32_t v = c->s.ts_val;
	if (c->s.ts_mode == TCPHOLD_TS_ELAPSED && now_ms > c->s.ts_val_ms)
		v += (uint32_t)(now_ms - c->s.ts_val_ms);
	if (seq_lt(v, c->ts_sent))
		v = c->ts_sent;
	c->ts_sent = v;
	return v;
}

/* The only packet we ever send: a pure ACK from the capsule's address. */
static void send_ack(struct tcphold_conn *c, uint16_t win, uint64_t now_ms,
                     uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint32_t tsval = c->s.ts_ok ? next_tsval(c, now_ms) : 0;
	*out_len = tcphold_pkt_build(out, out_cap, c->s.capsule_ip, c->s.peer_ip, c->s.capsule_port,
	                         c->s.peer_port, c->s.snd_nxt, c->rcv_nxt, TCPHOLD_ACK, win,
	                         c->s.ts_ok, tsval, c->ts_recent, NULL, 0);
	if (*out_len)
		c->c.acks_out++;
}

static void ack_now(struct tcphold_conn *c, uint64_t now_ms, uint8_t *out, size_t out_cap,
                    size_t *out_len)
{
	send_ack(c, window_field(c, c->cap - c->used), now_ms, out, out_cap, out_len);
}

/* Is the 4-tuple peer -> capsule?  Peeks only at what a failed full parse still has. */
static int tuple_matches(const struct tcphold_conn *c, const uint8_t *pkt, size_t len)
{
	if (len < 20 || pkt[0] >> 4 != 4 || pkt[9] != 6)
		return 0;
	uint32_t src, dst;
	memcpy(&src, pkt + 12, 4);
	memcpy(&dst, pkt + 16, 4);
	return src == c->s.peer_ip && dst == c->s.capsule_ip;
}

/* Take the in-order part of the segment that fits; FIN only once all its data is held. */
static void take_data(struct tcphold_conn *c, const uint8_t *data, size_t dlen, int fin)
{
	uint32_t room = c->cap - c->used;
	if (c->fin_held)
		room = 0;   /* nothing can follow a FIN; a peer sending it is confused */
	uint32_t take = dlen < room ? (uint32_t)dlen : room;
	if (take) {
		memcpy(c->buf + c->used, data, take);
		c->used += take;
		c->rcv_nxt += take;
		c->c.bytes_held += take;
	}
	c->c.bytes_refused += dlen - take;
	if (take == 0 && dlen > 0)
		c->c.probes++;   /* a byte pushed into a closed window is how old stacks probe */
	if (fin && take == dlen && !c->fin_held) {
		c->rcv_nxt++;
		c->fin_held = 1;
		c->state = TCPHOLD_PEER_FIN;
	}
}

int tcphold_input(struct tcphold_conn *c, const uint8_t *pkt, size_t len, uint64_t now_ms,
                  uint8_t *out, size_t out_cap, size_t *out_len)
{
	*out_len = 0;
	struct tcphold_seg g;
	if (tcphold_pkt_parse(pkt, len, &g) != 0) {
		if (!tuple_matches(c, pkt, len))
			return TCPHOLD_NOT_MINE;
		c->c.malformed++;
		return TCPHOLD_DROPPED;
	}
	if (g.src != c->s.peer_ip || g.dst != c->s.capsule_ip || g.sport != c->s.peer_port ||
	    g.dport != c->s.capsule_port)
		return TCPHOLD_NOT_MINE;
	c->c.segs_in++;
	if (!g.csum_ok) {
		c->c.bad_csum++;
		return TCPHOLD_DROPPED;
	}
	if (c->state == TCPHOLD_PEER_RST || c->state == TCPHOLD_RELEASED)
		return TCPHOLD_DROPPED;

	uint32_t room = c->cap - c->used;
	if (g.flags & TCPHOLD_RST) {
		/* RFC 5961 3.2: only an exact RST kills; an in-window one gets a challenge ACK. */
		if (g.seq == c->rcv_nxt) {
			c->state = TCPHOLD_PEER_RST;
			return TCPHOLD_RESET;
		}
		if (seq_leq(c->rcv_nxt, g.seq) && seq_lt(g.seq, c->rcv_nxt + (room ? room : 1))) {
			ack_now(c, now_ms, out, out_cap, out_len);
			return TCPHOLD_DONE;
		}
		c->c.rst_ignored++;
		return TCPHOLD_DROPPED;
	}
	if (g.flags & TCPHOLD_SYN) {
		/* RFC 5961 4.2: a SYN on a synchronized connection gets a challenge ACK, never a RST. */
		c->c.probes++;
		ack_now(c, now_ms, out, out_cap, out_len);
		return TCPHOLD_DONE;
	}
	if (!(g.flags & TCPHOLD_ACK)) {
		c->c.malformed++;   /* RFC 793: segments without ACK are dropped once synchronized */
		return TCPHOLD_DROPPED;
	}
	if (seq_lt(c->s.snd_nxt, g.ack)) {
		/* Acks bytes the capsule never sent: answer with where we are (RFC 793), ignore the rest. */
		c->c.bad_ack++;
		ack_now(c, now_ms, out, out_cap, out_len);
		return TCPHOLD_DONE;
	}
	if (seq_leq(c->peer_ack, g.ack)) {
		c->peer_ack = g.ack;
		c->peer_win = g.win;
	}
	/* RFC 7323 4.3: remember the TSval of segments that do not lie beyond what we acked. */
	if (c->s.ts_ok && g.has_ts && seq_leq(g.seq, c->rcv_nxt) && seq_leq(c->ts_recent, g.ts_val))
		c->ts_recent = g.ts_val;

	int fin = (g.flags & TCPHOLD_FIN) != 0;
	if (g.dlen == 0 && !fin) {
		if (g.seq == c->rcv_nxt)
			return TCPHOLD_DONE;   /* plain ACK / window update: answering would start an ACK storm */
		c->c.probes++;             /* rcv_nxt - 1: window probe or keep-alive; else out of window */
		ack_now(c, now_ms, out, out_cap, out_len);
		return TCPHOLD_DONE;
	}

	const uint8_t *data = g.data;
	size_t dlen = g.dlen;
	uint32_t seq = g.seq;
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t old = c->rcv_nxt - seq;
		if (old >= dlen) {
			/* All already held (retransmission, keep-alive with a garbage byte, repeated FIN). */
			c->c.bytes_dup += dlen;
			c->c.probes++;
			ack_now(c, now_ms, out, out_cap, out_len);
			return TCPHOLD_DONE;
		}
		c->c.bytes_dup += old;
		data += old;
		dlen -= old;
		seq = c->rcv_nxt;
	}
	if (seq != c->rcv_nxt) {
		/* A gap: we keep only in-order bytes; a duplicate ACK makes the peer fill it. */
		c->c.ooo++;
		c->c.bytes_refused += dlen;
		ack_now(c, now_ms, out, out_cap, out_len);
		return TCPHOLD_DONE;
	}
	take_data(c, data, dlen, fin);
	ack_now(c, now_ms, out, out_cap, out_len);
	return TCPHOLD_DONE;
}

int tcphold_release(struct tcphold_conn *c, uint64_t now_ms, uint32_t open_window,
                    uint8_t *out, size_t out_cap, size_t *out_len,
                    const uint8_t **data, size_t *n, uint32_t *ts_floor)
{
	*out_len = 0;
	*data = c->buf;
	*n = c->used;
	*ts_floor = 0;
	int was = c->state;
	c->state = TCPHOLD_RELEASED;
	if (was == TCPHOLD_PEER_RST)
		return 0;   /* nobody to open a window to */
	uint32_t w = open_window ? open_window : c->s.rcv_wnd;
	send_ack(c, window_field(c, w), now_ms, out, out_cap, out_len);
	if (c->s.ts_ok)
		*ts_floor = c->ts_sent;
	return *out_len ? 0 : -1;
}

int tcphold_reinject_next(const struct tcphold_conn *c, size_t *offset, size_t mss,
                          uint8_t *out, size_t out_cap, size_t *out_len)
{
	*out_len = 0;
	size_t end = (size_t)c->used + c->fin_held;   /* the FIN takes one sequence number */
	if (*offset >= end)
		return 0;
	if (mss == 0)
		mss = 536;   /* RFC 879 default */
	size_t take = 0;
	if (*offset < c->used) {
		take = c->used - *offset;
		if (take > mss)
			take = mss;
	}
	int fin = c->fin_held && *offset + take == c->used;
	uint8_t flags = TCPHOLD_ACK | (take ? TCPHOLD_PSH : 0) | (fin ? TCPHOLD_FIN : 0);
	/* As if from the peer: its latest ack and window, its TSval; TSecr echoes the capsule. */
	size_t n = tcphold_pkt_build(out, out_cap, c->s.peer_ip, c->s.capsule_ip, c->s.peer_port,
	                         c->s.capsule_port, c->s.rcv_nxt + (uint32_t)*offset, c->peer_ack,
	                         flags, c->peer_win, c->s.ts_ok, c->ts_recent, c->s.ts_val,
	                         c->buf + *offset, take);
	if (n == 0)
		return -1;
	*out_len = n;
	*offset += take + (size_t)fin;
	return 1;
}

/* ---- UDP / other protocols for a held capsule ---- */

void tcphold_udp_init(struct tcphold_udp *q, uint8_t *buf, size_t cap, uint32_t max_pkts)
{
	memset(q, 0, sizeof *q);
	q->buf = buf;
	q->cap = buf ? cap : 0;
	q->max_pkts = max_pkts;
}

int tcphold_udp_push(struct tcphold_udp *q, const uint8_t *pkt, size_t len)
{
	/* Only sane IPv4 goes in: it will be handed to the capsule later without another look. */
	if (ipv4_check(pkt, len, 0) != IPV4_OK) {
		q->malformed++;
		return -1;
	}
	if (q->npkts >= q->max_pkts || q->used + 2 + len > q->cap) {
		/* Full: drop silently, as a congested link would; an ICMP error would end the peer's flow. */
		q->dropped_pkts++;
		q->dropped_bytes += len;
		return -1;
	}
	q->buf[q->used] = (uint8_t)(len >> 8);
	q->buf[q->used + 1] = (uint8_t)len;
	memcpy(q->buf + q->used + 2, pkt, len);
	q->used += 2 + len;
	q->npkts++;
	q->held_pkts++;
	q->held_bytes += len;
	return 0;
}

int tcphold_udp_next(const struct tcphold_udp *q, size_t *cursor, const uint8_t **pkt, size_t *len)
{
	if (*cursor + 2 > q->used)
		return 0;
	size_t n = (size_t)(q->buf[*cursor] << 8 | q->buf[*cursor + 1]);
	if (*cursor + 2 + n > q->used)
		return 0;   /* cannot happen with records written by push; stop rather than overrun */
	*pkt = q->buf + *cursor + 2;
	*len = n;
	*cursor += 2 + n;
	return 1;
}

void tcphold_udp_clear(struct tcphold_udp *q)
{
	q->used = 0;
	q->npkts = 0;
}
