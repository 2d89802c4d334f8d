/* test_host_tcphold.c: unit tests for the gateway's TCP holder (zero window, probes, timestamps, FIN, release) and UDP holding. */
#include "hosts/caphostd/tcphold.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Test addresses: capsule 198.18.0.2:8080, peer 198.19.0.5:40000. */
#define CAP_IP  htonl(0xc6120002u)
#define PEER_IP htonl(0xc6130005u)
#define CAP_PORT  8080
#define PEER_PORT 40000
#define SND_NXT 0x10000000u
#define RCV_NXT 0xffffffe0u    /* 32 bytes below the wrap: sequence arithmetic must wrap */

/* ---- An independent checksum and packet builder/reader, so the tests do not trust the module's ---- */

static uint16_t ref_csum(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < an + bn; i++) {
		uint8_t byte = i < an ? a[i] : b[i - an];
		sum += ((i - (i < an ? 0 : an)) % 2 == 0) ? (uint64_t)byte << 8 : byte;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }
static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Both checksums of an IPv4/TCP packet are right (TCP over an even-length pseudo-header + segment). */
static void assert_checksums(const uint8_t *p, size_t len)
{
	assert_true(len >= 40);
	size_t ihl = (p[0] & 15u) * 4;
	assert_int_equal(rd16(p + 2), len);
	assert_int_equal(ref_csum(p, ihl, NULL, 0), 0);
	uint8_t ph[12];
	memcpy(ph, p + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	wr16(ph + 10, (uint16_t)(len - ihl));
	assert_int_equal(ref_csum(ph, 12, p + ihl, len - ihl), 0);
}

struct out_seg {
	uint32_t src, dst, seq, ack;
	uint16_t sport, dport, win;
	uint8_t flags;
	int has_ts;
	uint32_t tsval, tsecr;
	size_t dlen;
	const uint8_t *data;
};

static struct out_seg read_out(const uint8_t *p, size_t len)
{
	assert_checksums(p, len);
	struct out_seg o = { 0 };
	const uint8_t *t = p + 20;
	memcpy(&o.src, p + 12, 4);
	memcpy(&o.dst, p + 16, 4);
	o.sport = rd16(t);
	o.dport = rd16(t + 2);
	o.seq = rd32(t + 4);
	o.ack = rd32(t + 8);
	o.flags = t[13];
	o.win = rd16(t + 14);
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff == 32 && t[22] == 8 && t[23] == 10) {
		o.has_ts = 1;
		o.tsval = rd32(t + 24);
		o.tsecr = rd32(t + 28);
	}
	o.data = t + doff;
	o.dlen = len - 20 - doff;
	assert_false(o.flags & TCPHOLD_RST);
	return o;
}

/* A segment from the peer to the capsule; ts < 0 means no timestamp option. */
static size_t peer_seg(uint8_t *p, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
                       long long ts, const void *data, size_t dlen)
{
	size_t thl = ts >= 0 ? 32 : 20, len = 20 + thl + dlen;
	memset(p, 0, 20 + thl);
	p[0] = 0x45;
	wr16(p + 2, (uint16_t)len);
	p[8] = 64;
	p[9] = 6;
	uint32_t s = PEER_IP, d = CAP_IP;
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
	wr16(p + 10, ref_csum(p, 20, NULL, 0));
	uint8_t *t = p + 20;
	wr16(t, PEER_PORT);
	wr16(t + 2, CAP_PORT);
	wr32(t + 4, seq);
	wr32(t + 8, ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	wr16(t + 14, win);
	if (ts >= 0) {
		t[20] = 1; t[21] = 1; t[22] = 8; t[23] = 10;
		wr32(t + 24, (uint32_t)ts);
		wr32(t + 28, 0);
	}
	if (dlen)
		memcpy(t + thl, data, dlen);
	uint8_t ph[12];
	memcpy(ph, p + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	wr16(ph + 10, (uint16_t)(thl + dlen));
	wr16(t + 16, ref_csum(ph, 12, t, thl + dlen));
	return len;
}

static struct tcpconn seed(void)
{
	struct tcpconn s = {
		.capsule_ip = CAP_IP, .peer_ip = PEER_IP, .capsule_port = CAP_PORT, .peer_port = PEER_PORT,
		.snd_nxt = SND_NXT, .snd_una = SND_NXT - 10, .rcv_nxt = RCV_NXT, .snd_wnd = 29200,
		.rcv_wnd = 100,
	};
	return s;
}

static uint8_t hold_buf[100];
static uint8_t pkt[2000], out[TCPHOLD_ACK_MAX];
static size_t out_len;

static int feed(struct tcphold_conn *c, size_t len, uint64_t now)
{
	return tcphold_input(c, pkt, len, now, out, sizeof out, &out_len);
}

/* Send data from the peer and expect an ACK for ack with window win. */
static void expect_ack(struct tcphold_conn *c, size_t len, uint32_t ack, uint16_t win)
{
	assert_int_equal(feed(c, len, 10), TCPHOLD_DONE);
	assert_true(out_len > 0);
	struct out_seg o = read_out(out, out_len);
	assert_int_equal(o.src, CAP_IP);
	assert_int_equal(o.dst, PEER_IP);
	assert_int_equal(o.sport, CAP_PORT);
	assert_int_equal(o.dport, PEER_PORT);
	assert_int_equal(o.flags, TCPHOLD_ACK);
	assert_int_equal(o.seq, SND_NXT);
	assert_int_equal(o.ack, ack);
	assert_int_equal(o.win, win);
	assert_int_equal(o.dlen, 0);
}

static uint8_t msg[256];

static void test_data_buffered_window_shrinks(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK | TCPHOLD_PSH, 500, -1, msg, 40);
	expect_ack(&c, n, RCV_NXT + 40, 60);   /* crosses the 2^32 wrap */
	n = peer_seg(pkt, RCV_NXT + 40, SND_NXT, TCPHOLD_ACK, 500, -1, msg + 40, 40);
	expect_ack(&c, n, RCV_NXT + 80, 20);
	/* 40 more, only 20 fit: the rest is not acknowledged and the window is zero. */
	n = peer_seg(pkt, RCV_NXT + 80, SND_NXT, TCPHOLD_ACK, 500, -1, msg + 80, 40);
	expect_ack(&c, n, RCV_NXT + 100, 0);
	assert_int_equal(c.used, 100);
	assert_memory_equal(hold_buf, msg, 100);
	assert_int_equal(c.c.bytes_held, 100);
	assert_int_equal(c.c.bytes_refused, 20);
	/* The peer retransmits the refused part: still zero window, nothing more held. */
	n = peer_seg(pkt, RCV_NXT + 80, SND_NXT, TCPHOLD_ACK, 500, -1, msg + 80, 40);
	expect_ack(&c, n, RCV_NXT + 100, 0);
	assert_int_equal(c.used, 100);
	/* A plain ACK (no data, at rcv_nxt) gets no answer: no ACK storms. */
	n = peer_seg(pkt, RCV_NXT + 100, SND_NXT, TCPHOLD_ACK, 600, -1, NULL, 0);
	assert_int_equal(feed(&c, n, 10), TCPHOLD_DONE);
	assert_int_equal(out_len, 0);
	assert_int_equal(c.peer_win, 600);
}

static void test_probes_and_keepalives(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	memset(msg, 'x', 100);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 100);
	expect_ack(&c, n, RCV_NXT + 100, 0);
	uint32_t r = RCV_NXT + 100;
	/* Linux zero-window probe and keep-alive: seq = rcv_nxt - 1, no data. */
	for (int i = 0; i < 50; i++) {
		n = peer_seg(pkt, r - 1, SND_NXT, TCPHOLD_ACK, 500, -1, NULL, 0);
		expect_ack(&c, n, r, 0);
	}
	/* Keep-alive with one garbage byte (BSD style). */
	n = peer_seg(pkt, r - 1, SND_NXT, TCPHOLD_ACK, 500, -1, "g", 1);
	expect_ack(&c, n, r, 0);
	/* Probe with one new byte beyond the zero window: answered, not held. */
	n = peer_seg(pkt, r, SND_NXT, TCPHOLD_ACK, 500, -1, "n", 1);
	expect_ack(&c, n, r, 0);
	assert_int_equal(c.used, 100);
	assert_true(c.c.probes >= 52);
	/* A keep-alive while there is room: answered with the room left (no window shrink). */
	struct tcphold_conn d;
	tcphold_init(&d, &s, hold_buf, sizeof hold_buf);
	n = peer_seg(pkt, RCV_NXT - 1, SND_NXT, TCPHOLD_ACK, 500, -1, NULL, 0);
	expect_ack(&d, n, RCV_NXT, 100);
	/* ... and zero once the daemon closes the window. */
	tcphold_close_window(&d);
	expect_ack(&d, n, RCV_NXT, 0);
}

static void test_window_scale(void **st)
{
	(void)st;
	static uint8_t big[4000];
	struct tcphold_conn c;
	struct tcpconn s = seed();
	s.wscale_ours = 2;
	s.rcv_wnd = 4000;
	tcphold_init(&c, &s, big, sizeof big);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 200);
	expect_ack(&c, n, RCV_NXT + 200, 3800 / 4);
}

static void test_timestamps_monotonic(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	s.ts_ok = 1;
	s.ts_val = 0xfffffff0u;   /* capsule's TSval near the wrap */
	s.ts_recent = 555;
	s.ts_val_ms = 1000;
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	size_t n = peer_seg(pkt, RCV_NXT - 1, SND_NXT, TCPHOLD_ACK, 500, 777, NULL, 0);
	assert_int_equal(tcphold_input(&c, pkt, n, 1500, out, sizeof out, &out_len), TCPHOLD_DONE);
	struct out_seg o = read_out(out, out_len);
	assert_true(o.has_ts);
	assert_int_equal(o.tsval, 0xfffffff0u + 500);   /* last seen from the capsule + elapsed, wrapped */
	assert_int_equal(o.tsecr, 777);                 /* echoes the peer */
	uint32_t prev = o.tsval;
	/* Our clock going backwards never makes TSval go backwards. */
	uint64_t times[] = { 1200, 900, 1500, 1501, 5000, 4000 };
	for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
		n = peer_seg(pkt, RCV_NXT - 1, SND_NXT, TCPHOLD_ACK, 500, 778 + (long long)i, NULL, 0);
		assert_int_equal(tcphold_input(&c, pkt, n, times[i], out, sizeof out, &out_len), TCPHOLD_DONE);
		o = read_out(out, out_len);
		assert_true((int32_t)(o.tsval - prev) >= 0);
		assert_true((int32_t)(o.tsval - s.ts_val) >= 0);
		assert_int_equal(o.tsecr, 778 + i);
		prev = o.tsval;
	}
	assert_int_equal(prev, 0xfffffff0u + 4000);
	/* A peer TSval older than the one we hold is not echoed (RFC 7323 ts_recent rule). */
	n = peer_seg(pkt, RCV_NXT - 1, SND_NXT, TCPHOLD_ACK, 500, 100, NULL, 0);
	assert_int_equal(tcphold_input(&c, pkt, n, 6000, out, sizeof out, &out_len), TCPHOLD_DONE);
	assert_int_equal(read_out(out, out_len).tsecr, 783);

	/* FROZEN mode: constant TSval, never below the capsule's. */
	s.ts_mode = TCPHOLD_TS_FROZEN;
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	n = peer_seg(pkt, RCV_NXT - 1, SND_NXT, TCPHOLD_ACK, 500, 900, NULL, 0);
	assert_int_equal(tcphold_input(&c, pkt, n, 99999, out, sizeof out, &out_len), TCPHOLD_DONE);
	assert_int_equal(read_out(out, out_len).tsval, 0xfffffff0u);
	/* Release tells the resume side the floor for the capsule's TSval. */
	const uint8_t *data;
	size_t dn;
	uint32_t floor;
	assert_int_equal(tcphold_release(&c, 100000, 0, out, sizeof out, &out_len, &data, &dn, &floor), 0);
	assert_int_equal(floor, 0xfffffff0u);
}

static void test_fin_and_release(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	s.wscale_ours = 1;
	s.rcv_wnd = 50000;
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	for (int i = 0; i < 100; i++)
		msg[i] = (uint8_t)(i * 13 + 1);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK, 700, -1, msg, 60);
	expect_ack(&c, n, RCV_NXT + 60, 20);
	/* Data + FIN: both taken, FIN counts one. */
	n = peer_seg(pkt, RCV_NXT + 60, SND_NXT, TCPHOLD_ACK | TCPHOLD_FIN, 700, -1, msg + 60, 10);
	expect_ack(&c, n, RCV_NXT + 71, 15);
	assert_int_equal(c.state, TCPHOLD_PEER_FIN);
	/* Retransmitted FIN: same ACK. */
	expect_ack(&c, n, RCV_NXT + 71, 15);
	assert_int_equal(c.used, 70);

	const uint8_t *data;
	size_t dn;
	uint32_t floor;
	assert_int_equal(tcphold_release(&c, 50, 0, out, sizeof out, &out_len, &data, &dn, &floor), 0);
	assert_int_equal(dn, 70);
	assert_memory_equal(data, msg, 70);
	struct out_seg o = read_out(out, out_len);
	assert_int_equal(o.flags, TCPHOLD_ACK);
	assert_int_equal(o.seq, SND_NXT);
	assert_int_equal(o.ack, RCV_NXT + 71);
	assert_int_equal(o.win, 25000);   /* window-opening: the capsule's window again */
	assert_int_equal(floor, 0);

	/* Re-injection: exact bytes, contiguous seqs from the freeze rcv_nxt, FIN on the last. */
	uint8_t seg[200], got[100];
	size_t off = 0, total = 0, len;
	uint32_t expect_seq = RCV_NXT;
	int fin_seen = 0, r;
	while ((r = tcphold_reinject_next(&c, &off, 30, seg, sizeof seg, &len)) == 1) {
		o = read_out(seg, len);
		assert_int_equal(o.src, PEER_IP);
		assert_int_equal(o.dst, CAP_IP);
		assert_int_equal(o.sport, PEER_PORT);
		assert_int_equal(o.dport, CAP_PORT);
		assert_int_equal(o.seq, expect_seq);
		assert_int_equal(o.ack, SND_NXT);   /* the peer's latest ack */
		assert_int_equal(o.win, 700);
		assert_false(fin_seen);
		assert_true(o.dlen <= 30);
		memcpy(got + total, o.data, o.dlen);
		total += o.dlen;
		expect_seq += (uint32_t)o.dlen;
		if (o.flags & TCPHOLD_FIN) {
			fin_seen = 1;
			expect_seq++;
		}
	}
	assert_int_equal(r, 0);
	assert_int_equal(total, 70);
	assert_memory_equal(got, msg, 70);
	assert_true(fin_seen);
	assert_int_equal(expect_seq, RCV_NXT + 71);
	/* Released: further packets are not answered. */
	assert_int_equal(feed(&c, n, 60), TCPHOLD_DROPPED);
	assert_int_equal(tcphold_reinject_next(&c, &off, 30, seg, 10, &len), 0);
}

static void test_fin_alone_reinjected(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK | TCPHOLD_FIN, 700, -1, NULL, 0);
	expect_ack(&c, n, RCV_NXT + 1, 100);
	/* Data after a FIN is never taken. */
	n = peer_seg(pkt, RCV_NXT + 1, SND_NXT, TCPHOLD_ACK, 700, -1, msg, 5);
	expect_ack(&c, n, RCV_NXT + 1, 100);
	assert_int_equal(c.used, 0);
	uint8_t seg[100];
	size_t off = 0, len;
	assert_int_equal(tcphold_reinject_next(&c, &off, 0, seg, sizeof seg, &len), 1);
	struct out_seg o = read_out(seg, len);
	assert_int_equal(o.flags, TCPHOLD_ACK | TCPHOLD_FIN);
	assert_int_equal(o.seq, RCV_NXT);
	assert_int_equal(o.dlen, 0);
	assert_int_equal(tcphold_reinject_next(&c, &off, 0, seg, sizeof seg, &len), 0);
}

static void test_gaps_overlaps_rst_syn(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	/* Out of order (gap): not held, duplicate ACK. */
	size_t n = peer_seg(pkt, RCV_NXT + 10, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 10);
	expect_ack(&c, n, RCV_NXT, 100);
	assert_int_equal(c.used, 0);
	assert_int_equal(c.c.ooo, 1);
	/* Overlapping retransmission: only the new part is held. */
	for (int i = 0; i < 30; i++)
		msg[i] = (uint8_t)i;
	n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 20);
	expect_ack(&c, n, RCV_NXT + 20, 80);
	n = peer_seg(pkt, RCV_NXT + 10, SND_NXT, TCPHOLD_ACK, 500, -1, msg + 10, 20);
	expect_ack(&c, n, RCV_NXT + 30, 70);
	assert_memory_equal(hold_buf, msg, 30);
	assert_int_equal(c.c.bytes_dup, 10);
	/* Ack of data the capsule never sent: an ACK back, nothing held. */
	n = peer_seg(pkt, RCV_NXT + 30, SND_NXT + 5, TCPHOLD_ACK, 500, -1, msg, 5);
	expect_ack(&c, n, RCV_NXT + 30, 70);
	assert_int_equal(c.used, 30);
	/* No ACK flag: dropped silently. */
	n = peer_seg(pkt, RCV_NXT + 30, 0, TCPHOLD_PSH, 500, -1, msg, 5);
	assert_int_equal(feed(&c, n, 1), TCPHOLD_DROPPED);
	assert_int_equal(out_len, 0);
	/* SYN on the held connection: challenge ACK, never RST. */
	n = peer_seg(pkt, 12345, 0, TCPHOLD_SYN, 500, -1, NULL, 0);
	expect_ack(&c, n, RCV_NXT + 30, 70);
	/* In-window RST that is not exact: challenge ACK.  Out of window: ignored. */
	n = peer_seg(pkt, RCV_NXT + 31, 0, TCPHOLD_RST, 0, -1, NULL, 0);
	expect_ack(&c, n, RCV_NXT + 30, 70);
	n = peer_seg(pkt, RCV_NXT + 5000, 0, TCPHOLD_RST, 0, -1, NULL, 0);
	assert_int_equal(feed(&c, n, 1), TCPHOLD_DROPPED);
	assert_int_equal(out_len, 0);
	/* Bad TCP checksum: dropped, counted, no answer. */
	n = peer_seg(pkt, RCV_NXT + 30, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 5);
	pkt[n - 1] ^= 0xff;
	assert_int_equal(feed(&c, n, 1), TCPHOLD_DROPPED);
	assert_int_equal(c.c.bad_csum, 1);
	/* Someone else's packet. */
	n = peer_seg(pkt, RCV_NXT + 30, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 5);
	pkt[20 + 1] ^= 1;   /* source port */
	assert_int_equal(feed(&c, n, 1), TCPHOLD_NOT_MINE);
	/* Exact RST: the connection is gone; nothing is sent, now or on release. */
	n = peer_seg(pkt, RCV_NXT + 30, 0, TCPHOLD_RST, 0, -1, NULL, 0);
	assert_int_equal(feed(&c, n, 1), TCPHOLD_RESET);
	assert_int_equal(out_len, 0);
	const uint8_t *data;
	size_t dn;
	uint32_t floor;
	assert_int_equal(tcphold_release(&c, 5, 0, out, sizeof out, &out_len, &data, &dn, &floor), 0);
	assert_int_equal(out_len, 0);
}

/* Thousands of mutated segments: never a crash, never a RST, every output a valid pure ACK. */
static void test_never_rst(void **st)
{
	(void)st;
	struct tcphold_conn c;
	struct tcpconn s = seed();
	s.ts_ok = 1;
	tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
	uint32_t rng = 99;
	for (int i = 0; i < 20000; i++) {
		rng = rng * 1664525u + 1013904223u;
		uint8_t flags = (uint8_t)(rng >> 24) & 0x3f;
		uint32_t seq = RCV_NXT + ((rng >> 8) % 300) - 150;
		size_t dl = (rng >> 4) % 64;
		size_t n = peer_seg(pkt, seq, SND_NXT - (rng % 3), flags, 500, (rng & 1) ? (long long)i : -1,
		                    msg, dl);
		if (i % 7 == 0)
			pkt[(rng >> 3) % n] ^= (uint8_t)(1u << (rng % 8));   /* some corruption */
		int r = tcphold_input(&c, pkt, n, (uint64_t)i, out, sizeof out, &out_len);
		if (r == TCPHOLD_RESET) {
			tcphold_init(&c, &s, hold_buf, sizeof hold_buf);
			continue;
		}
		if (out_len) {
			struct out_seg o = read_out(out, out_len);
			assert_int_equal(o.flags, TCPHOLD_ACK);
			assert_int_equal(o.seq, SND_NXT);
			assert_int_equal(o.dlen, 0);
		}
		assert_true(c.used <= c.cap);
	}
	/* The builder itself refuses to make one. */
	size_t n = tcphold_pkt_build(out, sizeof out, CAP_IP, PEER_IP, 1, 2, 3, 4, TCPHOLD_RST | TCPHOLD_ACK,
	                         0, 0, 0, 0, NULL, 0);
	assert_int_equal(read_out(out, n).flags, TCPHOLD_ACK);
}

static void test_parse_options_and_bounds(void **st)
{
	(void)st;
	struct tcphold_seg g;
	size_t n = peer_seg(pkt, 1, 2, TCPHOLD_ACK, 3, 42, "abc", 3);
	assert_int_equal(tcphold_pkt_parse(pkt, n, &g), 0);
	assert_true(g.csum_ok && g.has_ts && g.ts_val == 42 && g.dlen == 3);
	/* Every truncation is refused (exact-size copies so ASan sees overreads). */
	for (size_t l = 0; l < n; l++) {
		uint8_t *cp = malloc(l ? l : 1);
		memcpy(cp, pkt, l);
		assert_int_equal(tcphold_pkt_parse(cp, l, &g), -1);
		free(cp);
	}
	/* Link padding past the IP total length is ignored. */
	assert_int_equal(tcphold_pkt_parse(pkt, n + 6, &g), 0);
	/* Options: MSS, WS, SACK-permitted, TS; then a malformed length. */
	n = peer_seg(pkt, 1, 2, TCPHOLD_ACK, 3, 42, NULL, 0);
	uint8_t *o = pkt + 40;
	uint8_t opts[12] = { 2, 4, 0x05, 0xb4, 3, 3, 7, 4, 2, 1, 0, 0 };
	memcpy(o, opts, 12);
	uint8_t ph[12];
	memcpy(ph, pkt + 12, 8);
	ph[8] = 0; ph[9] = 6; wr16(ph + 10, 32);
	pkt[36] = pkt[37] = 0;
	wr16(pkt + 36, ref_csum(ph, 12, pkt + 20, 32));
	assert_int_equal(tcphold_pkt_parse(pkt, n, &g), 0);
	assert_true(g.csum_ok && g.has_mss && g.mss == 1460 && g.has_ws && g.ws == 7 && g.has_sackok);
	o[1] = 40;   /* MSS option longer than the header */
	assert_int_equal(tcphold_pkt_parse(pkt, n, &g), -1);
	o[1] = 1;    /* impossible length */
	assert_int_equal(tcphold_pkt_parse(pkt, n, &g), -1);
	/* Fragments and non-TCP are refused. */
	n = peer_seg(pkt, 1, 2, TCPHOLD_ACK, 3, -1, NULL, 0);
	pkt[6] = 0x20;   /* MF */
	assert_int_equal(tcphold_pkt_parse(pkt, n, &g), -1);
}

static size_t udp_pkt(uint8_t *p, size_t n)
{
	size_t len = 28 + n;
	memset(p, 0, len);
	p[0] = 0x45;
	wr16(p + 2, (uint16_t)len);
	p[9] = 17;
	for (size_t i = 0; i < n; i++)
		p[28 + i] = (uint8_t)(n + i);
	return len;
}

/*
 * A second hold of a connection whose first hold's bytes the capsule has
 * not all acknowledged: the rest (and the FIN) carry over, in the same
 * buffer, in front of anything new; then the peer's next byte is taken.
 */
static void test_carry_over(void **st)
{
	(void)st;
	static uint8_t buf[100];
	struct tcphold_conn first, second;
	struct tcpconn s = seed();
	for (int i = 0; i < 60; i++)
		msg[i] = (uint8_t)('a' + i % 26);
	tcphold_init(&first, &s, buf, sizeof buf);
	size_t n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK | TCPHOLD_FIN, 500, -1, msg, 60);
	expect_ack(&first, n, RCV_NXT + 61, 40);   /* 60 bytes and the FIN */
	const uint8_t *data;
	size_t held, ack_len;
	uint32_t ts_floor;
	tcphold_release(&first, 20, 0, out, sizeof out, &ack_len, &data, &held, &ts_floor);
	assert_int_equal(held, 60);

	/* the capsule took 25 of them before it froze again */
	struct tcpconn s2 = seed();
	s2.rcv_nxt = RCV_NXT + 25;
	s2.rcv_wnd = 10;
	tcphold_init(&second, &s2, buf, sizeof buf);
	assert_int_equal(tcphold_carry(&second, &first, s2.rcv_wnd), 35);
	assert_int_equal(second.used, 35);
	assert_memory_equal(buf, msg + 25, 35);
	assert_int_equal(second.fin_held, 1);
	assert_int_equal(second.rcv_nxt, RCV_NXT + 61);
	assert_int_equal(second.cap, 35);   /* at least what it carries, even past the new window */
	size_t off = 0, len;
	static uint8_t seg[200];
	assert_int_equal(tcphold_reinject_next(&second, &off, 100, seg, sizeof seg, &len), 1);
	struct out_seg o = read_out(seg, len);
	assert_int_equal(o.seq, RCV_NXT + 25);
	assert_int_equal(o.dlen, 35);
	assert_true(o.flags & TCPHOLD_FIN);
	assert_memory_equal(o.data, msg + 25, 35);
	/* the peer's retransmission of the FIN is a duplicate now: acked, nothing taken */
	n = peer_seg(pkt, RCV_NXT + 60, SND_NXT, TCPHOLD_ACK | TCPHOLD_FIN, 500, -1, NULL, 0);
	expect_ack(&second, n, RCV_NXT + 61, 0);

	/* it took every byte but not the FIN: the FIN alone carries over */
	struct tcpconn s3 = seed();
	s3.rcv_nxt = RCV_NXT + 60;
	tcphold_init(&second, &s3, buf, sizeof buf);
	assert_int_equal(tcphold_carry(&second, &first, 100), 0);
	assert_int_equal(second.fin_held, 1);
	assert_int_equal(second.rcv_nxt, RCV_NXT + 61);
	/* it took everything: nothing carries; or it is somewhere else entirely: nothing either */
	s3.rcv_nxt = RCV_NXT + 61;
	tcphold_init(&second, &s3, buf, sizeof buf);
	assert_int_equal(tcphold_carry(&second, &first, 100), 0);
	assert_int_equal(second.fin_held, 0);
	assert_int_equal(second.rcv_nxt, RCV_NXT + 61);
	s3.rcv_nxt = RCV_NXT - 5;
	tcphold_init(&second, &s3, buf, sizeof buf);
	assert_int_equal(tcphold_carry(&second, &first, 100), 0);
	assert_int_equal(second.used, 0);
	assert_int_equal(second.cap, 100);

	/* without a FIN, and new data after the carried bytes lands behind them */
	tcphold_init(&first, &s, buf, sizeof buf);
	n = peer_seg(pkt, RCV_NXT, SND_NXT, TCPHOLD_ACK, 500, -1, msg, 30);
	expect_ack(&first, n, RCV_NXT + 30, 70);
	tcphold_release(&first, 20, 0, out, sizeof out, &ack_len, &data, &held, &ts_floor);
	s2.rcv_nxt = RCV_NXT + 10;
	tcphold_init(&second, &s2, buf, sizeof buf);
	assert_int_equal(tcphold_carry(&second, &first, 50), 20);
	n = peer_seg(pkt, RCV_NXT + 30, SND_NXT, TCPHOLD_ACK, 500, -1, msg + 30, 5);
	expect_ack(&second, n, RCV_NXT + 35, 25);
	assert_memory_equal(buf, msg + 10, 25);
}

static void test_udp_holding(void **st)
{
	(void)st;
	uint8_t qb[300];
	struct tcphold_udp q;
	tcphold_udp_init(&q, qb, sizeof qb, 4);
	size_t n = udp_pkt(pkt, 50);   /* 78 bytes + 2 per record: 3 fit in 300 bytes */
	assert_int_equal(tcphold_udp_push(&q, pkt, n), 0);
	assert_int_equal(tcphold_udp_push(&q, pkt, n), 0);
	n = udp_pkt(pkt, 51);
	assert_int_equal(tcphold_udp_push(&q, pkt, n), 0);
	assert_int_equal(tcphold_udp_push(&q, pkt, n), -1);   /* bytes full */
	n = udp_pkt(pkt, 1);
	assert_int_equal(tcphold_udp_push(&q, pkt, n), 0);
	assert_int_equal(tcphold_udp_push(&q, pkt, n), -1);   /* packet count full */
	assert_true(q.held_pkts == 4 && q.dropped_pkts == 2 && q.dropped_bytes == 79 + 29);
	pkt[3] ^= 1;
	assert_int_equal(tcphold_udp_push(&q, pkt, n), -1);
	assert_int_equal(q.malformed, 1);
	size_t cur = 0, len, count = 0;
	const uint8_t *p;
	size_t sizes[] = { 78, 78, 79, 29 };
	while (tcphold_udp_next(&q, &cur, &p, &len) == 1) {
		assert_int_equal(len, sizes[count]);
		assert_int_equal(p[28], (uint8_t)(len - 28));
		count++;
	}
	assert_int_equal(count, 4);
	tcphold_udp_clear(&q);
	cur = 0;
	assert_int_equal(tcphold_udp_next(&q, &cur, &p, &len), 0);
	assert_int_equal(tcphold_udp_push(&q, pkt, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_buffered_window_shrinks),
		cmocka_unit_test(test_probes_and_keepalives),
		cmocka_unit_test(test_window_scale),
		cmocka_unit_test(test_timestamps_monotonic),
		cmocka_unit_test(test_fin_and_release),
		cmocka_unit_test(test_fin_alone_reinjected),
		cmocka_unit_test(test_gaps_overlaps_rst_syn),
		cmocka_unit_test(test_never_rst),
		cmocka_unit_test(test_parse_options_and_bounds),
		cmocka_unit_test(test_carry_over),
		cmocka_unit_test(test_udp_holding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
