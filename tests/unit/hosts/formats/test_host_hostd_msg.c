/* test_host_hostd_msg.c: unit tests for the uplink records (uplink.h), the TCP connection record (tcpconn.h) and the HOLD/FLUSH/SYNC/ACK payloads (hostd_msg.h). */
#include "hosts/formats/hostd_msg.h"
#include "hosts/formats/uplink.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));

/* One ATTACH record into buf; its length. */
static size_t attach_rec(const char *name, uint32_t ip, uint32_t flags, uint32_t epoch,
                         uint32_t source, uint32_t st)
{
	struct uplink_attach a = { .ip = ip, .flags = flags, .epoch = epoch, .source_host = source,
	                           .state = st };
	return uplink_encode_attach(buf, sizeof buf, name, &a);
}

static void attach_round_trip(void **state)
{
	(void)state;
	struct uplink_msg m;
	uint32_t ip = htonl(0xc6120009u);
	size_t n = attach_rec("web_1.a-b", ip, UPLINK_ATTACH_RESUME, 0, 0, 0);
	assert_int_equal(n, UPLINK_HDR_LEN + sizeof(struct uplink_attach));
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.type, UPLINK_ATTACH);
	assert_int_equal(m.u.attach.ip, ip);
	assert_int_equal(m.u.attach.flags, UPLINK_ATTACH_RESUME);
	assert_string_equal(m.u.attach.name, "web_1.a-b");
	/* every truncation and one extra byte are refused */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(uplink_decode(buf, k, &m), -1);
	assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
}

static void attach_refusals(void **state)
{
	(void)state;
	struct uplink_msg m;
	size_t n = attach_rec("ok", 0, 0, 0, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	/* resume without an address */
	n = attach_rec("ok", 0, UPLINK_ATTACH_RESUME, 0, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* unknown flag, bad names, garbage in the padding, header flags */
	n = attach_rec("ok", 0, 2, 0, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	const char *bad[] = { "", ".dot", "-dash", "sp ace", "sl/ash" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		n = attach_rec(bad[i], 0, 0, 0, 0, 0);
		assert_int_equal(uplink_decode(buf, n, &m), -1);
	}
	n = attach_rec("ok", 0, 0, 0, 0, 0);
	buf[UPLINK_HDR_LEN + 24 + 40] = 'x';
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* the link's MTU: 0 (a caprun before it) or 576..65535 */
	static const struct { uint32_t mtu; int rc; } mtus[] = {
		{ 0, 0 }, { 576, 0 }, { 65000, 0 }, { 65535, 0 }, { 575, -1 }, { 65536, -1 }, { 1, -1 } };
	for (size_t i = 0; i < sizeof mtus / sizeof *mtus; i++) {
		struct uplink_attach a = { .mtu = mtus[i].mtu };
		n = uplink_encode_attach(buf, sizeof buf, "ok", &a);
		assert_int_equal(uplink_decode(buf, n, &m), mtus[i].rc);
		if (!mtus[i].rc)
			assert_int_equal(m.u.attach.mtu, mtus[i].mtu);
	}
	n = attach_rec("ok", 0, 0, 0, 0, 0);
	buf[1] = 1;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	buf[1] = 0;
	buf[0] = 0;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	buf[0] = UPLINK_TYPE_MAX + 1;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
}

static void other_records(void **state)
{
	(void)state;
	struct uplink_msg m;
	size_t n = uplink_encode_attached(buf, sizeof buf, htonl(0xc6120002u), 3);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.attached.epoch, 3);
	n = uplink_encode_attached(buf, sizeof buf, htonl(0xc6120002u), 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);   /* epochs start at 1 */
	n = uplink_encode_error(buf, sizeof buf, "address already in use");
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_string_equal(m.u.error, "address already in use");
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_THAWED);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
	n = uplink_encode_detach(buf, sizeof buf, UPLINK_DETACH_SAVED);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.detach_reason, UPLINK_DETACH_SAVED);
	n = uplink_encode_detach(buf, sizeof buf, 9);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_PACKET);
	assert_int_equal(uplink_decode(buf, n, &m), -1);   /* an empty packet */
	assert_int_equal(uplink_encode_attached(buf, 5, 1, 1), 0);   /* does not fit */
}

/* An established connection of the capsule 198.18.0.5:port to 198.19.0.100. */
static struct cap_report_sock report_sock(uint16_t port)
{
	struct cap_report_sock r = { .local_ip = htonl(0xc6120005u), .remote_ip = htonl(0xc6130064u),
	                             .local_port = port, .remote_port = 40000,
	                             .tcp_state = CAP_TCP_ESTABLISHED, .snd_una = 5, .snd_nxt = 9,
	                             .rcv_nxt = 77, .snd_wnd = 1000, .rcv_wnd = 2000, .snd_scale = 7,
	                             .rcv_scale = 4, .mss = 1460 };
	return r;
}

/* The one conversion from the capsule's record: what it keeps, what it refuses. */
static void tcpconn_from_report_states(void **state)
{
	(void)state;
	struct cap_report_sock r = report_sock(9000);
	struct tcpconn c;
	assert_int_equal(tcpconn_from_report(&r, &c), 0);
	assert_true(c.capsule_ip == r.local_ip && c.peer_ip == r.remote_ip && c.capsule_port == 9000 &&
	            c.peer_port == 40000 && c.snd_una == 5 && c.snd_nxt == 9 && c.rcv_nxt == 77 &&
	            c.snd_wnd == 1000 && c.rcv_wnd == 2000);
	/* window scales: ours is the one the capsule applies to what it advertises (rcv_scale) */
	assert_true(c.wscale_ours == 4 && c.wscale_peer == 7);
	assert_true(!c.ts_ok && !c.ts_val && !c.ts_recent && !c.ts_mode && !c.ts_val_ms);
	r.tcp_state = CAP_TCP_LISTEN;
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r.tcp_state = CAP_TCP_TIME_WAIT;
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r.tcp_state = CAP_TCP_CLOSE_WAIT;
	assert_int_equal(tcpconn_from_report(&r, &c), 0);
	r.tcp_state = CAP_TCP_LAST_ACK;
	assert_int_equal(tcpconn_from_report(&r, &c), 0);
	r = report_sock(9000);
	r.remote_port = 0;
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r = report_sock(0);
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r = report_sock(9000);
	r.remote_ip = 0;
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r = report_sock(9000);
	r.snd_scale = 15;   /* the capsule wrote it: a scale nobody could decode is refused here */
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
	r = report_sock(9000);
	r.rcv_scale = 15;
	assert_int_equal(tcpconn_from_report(&r, &c), -1);
}

/* The 44-byte record, byte by byte, and every check of its decoder. */
static void tcpconn_record(void **state)
{
	(void)state;
	struct tcpconn a = { .capsule_ip = htonl(0xc6120005u), .peer_ip = htonl(0xc6130064u),
	                     .capsule_port = 0x2328, .peer_port = 0x9c40, .snd_nxt = 0x01020304,
	                     .snd_una = 0x05060708, .rcv_nxt = 0x090a0b0c, .snd_wnd = 0x0d0e0f10,
	                     .rcv_wnd = 0x11121314, .wscale_ours = 4, .wscale_peer = 7, .ts_ok = 1,
	                     .ts_mode = 1, .ts_val = 0x15161718, .ts_recent = 0x191a1b1c,
	                     .ts_val_ms = 99 }, b;
	uint8_t p[TCPCONN_WIRE_LEN];
	tcpconn_encode(&a, p);
	static const uint8_t want[TCPCONN_WIRE_LEN] = {
		198, 18, 0, 5, 198, 19, 0, 100, 0x23, 0x28, 0x9c, 0x40,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
		4, 7, 1, 0, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c };
	assert_memory_equal(p, want, sizeof want);
	assert_int_equal(tcpconn_decode(p, &b), 0);
	/* the holder's own fields do not travel */
	a.ts_mode = 0;
	a.ts_val_ms = 0;
	assert_memory_equal(&a, &b, sizeof a);
	static const struct { size_t off; uint8_t v; } bad[] = {
		{ 4, 0 }, { 5, 0 }, { 6, 0 }, { 7, 0 },   /* no peer address (all four bytes zeroed below) */
		{ 8, 0 }, { 10, 0 },                      /* a zero port */
		{ 32, 15 }, { 33, 15 },                   /* window scale beyond 14 */
		{ 34, 2 },                                /* ts_ok neither 0 nor 1 */
		{ 35, 1 },                                /* reserved */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tcpconn_encode(&a, p);
		if (bad[i].off < 8)
			memset(p + 4, 0, 4);
		else if (bad[i].off == 8 || bad[i].off == 10)
			memset(p + bad[i].off, 0, 2);
		else
			p[bad[i].off] = bad[i].v;
		assert_int_equal(tcpconn_decode(p, &b), -1);
	}
	tcpconn_encode(&a, p);
	p[32] = 14;   /* the largest scale is fine */
	assert_int_equal(tcpconn_decode(p, &b), 0);
}

/* A freeze report with threads and a mix of descriptors: FROZEN keeps exactly the holdable TCP ones. */
static void frozen_from_report(void **state)
{
	(void)state;
	static uint8_t rep[4096] __attribute__((aligned(8)));
	struct cap_report_header h = { .magic = CAP_REPORT_MAGIC, .version = 1, .nthreads = 2, .nfds = 4 };
	struct cap_report_fd fds[4];
	memset(rep, 0, sizeof rep);
	memset(fds, 0, sizeof fds);
	fds[0].kind = CAP_RFD_TCP;
	fds[0].u.sock = report_sock(9000);
	fds[1].kind = CAP_RFD_CONSOLE;
	fds[2].kind = CAP_RFD_TCP;
	fds[2].u.sock = report_sock(80);
	fds[2].u.sock.tcp_state = CAP_TCP_LISTEN;   /* a listener has no peer to hold */
	fds[3].kind = CAP_RFD_TCP;
	fds[3].u.sock = report_sock(9001);
	memcpy(rep, &h, sizeof h);
	size_t off = sizeof h + 2 * sizeof(struct cap_report_thread);
	memcpy(rep + off, fds, sizeof fds);
	size_t len = off + sizeof fds;
	struct uplink_msg m;
	size_t n = uplink_encode_frozen(buf, sizeof buf, rep, len);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 2);
	struct tcpconn c, want;
	assert_int_equal(tcpconn_decode(m.u.frozen.recs, &c), 0);
	struct cap_report_sock r = report_sock(9000);
	assert_int_equal(tcpconn_from_report(&r, &want), 0);
	assert_memory_equal(&c, &want, sizeof c);
	assert_int_equal(tcpconn_decode(m.u.frozen.recs + TCPCONN_WIRE_LEN, &c), 0);
	assert_int_equal(c.capsule_port, 9001);
	/* a report that claims more descriptors than its bytes hold: only what is there */
	n = uplink_encode_frozen(buf, sizeof buf, rep, len - 1);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 1);
	/* no report at all: FROZEN with no sockets */
	n = uplink_encode_frozen(buf, sizeof buf, rep, 3);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 0);
	/* the count must match the length */
	n = uplink_encode_frozen(buf, sizeof buf, rep, len);
	assert_int_equal(uplink_decode(buf, n - 1, &m), -1);
	/* every record must be valid */
	buf[n - 9] = 1;   /* the last record's reserved byte */
	assert_int_equal(uplink_decode(buf, n, &m), -1);
}

static void hold_round_trip(void **state)
{
	(void)state;
	static struct hostd_hold_msg a, b;
	static uint8_t p[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	memset(&a, 0, sizeof a);
	a.capsule_ip = htonl(0xc6120005u);
	a.epoch = 7;
	a.id = 0x0102030405060708ull;
	a.n = 3;
	for (uint32_t i = 0; i < a.n; i++) {
		struct tcpconn *s = &a.conns[i];
		s->capsule_ip = a.capsule_ip;
		s->peer_ip = htonl(0xc6130064u);
		s->capsule_port = 9000;
		s->peer_port = (uint16_t)(40000 + i);
		s->snd_una = 0xfffffff0u + i;
		s->snd_nxt = 0xfffffff8u;
		s->rcv_nxt = 12345 * i;
		s->snd_wnd = 65535;
		s->rcv_wnd = 1 << 20;
		s->wscale_peer = 7;
		s->wscale_ours = 4;
		s->ts_ok = i == 1;
		s->ts_val = 1000 * i;
	}
	size_t n = hostd_msg_hold_encode(&a, p, sizeof p);
	assert_int_equal(n, hostd_msg_hold_len(3));
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), 0);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.epoch, 7);
	assert_true(b.id == a.id);
	assert_memory_equal(b.conns, a.conns, 3 * sizeof a.conns[0]);
	/* the header, byte by byte (rec_len 44), then the records as tcpconn_encode writes them */
	static const uint8_t head[HOSTD_HOLD_HDR] = { 198, 18, 0, 5, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8,
	                                              0, 3, 0, 44 };
	uint8_t rec[TCPCONN_WIRE_LEN];
	tcpconn_encode(&a.conns[2], rec);
	assert_memory_equal(p + HOSTD_HOLD_HDR + 2 * HOSTD_HOLD_REC, rec, sizeof rec);
	assert_memory_equal(p, head, sizeof head);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(hostd_msg_hold_decode(p, k, &b), -1);
	assert_int_equal(hostd_msg_hold_decode(p, n + 1, &b), -1);
	/* a connection of another capsule, a bad scale, a reserved byte, zero epoch */
	p[HOSTD_HOLD_HDR + HOSTD_HOLD_REC + 3] ^= 1;
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	n = hostd_msg_hold_encode(&a, p, sizeof p);
	p[HOSTD_HOLD_HDR + 33] = 15;
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	n = hostd_msg_hold_encode(&a, p, sizeof p);
	p[19] = 40;   /* the old 40-byte report records (rec_len was a reserved 0) */
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	p[19] = 0;
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	a.id = 0;   /* every HOLD has an id: its ACK names it */
	n = hostd_msg_hold_encode(&a, p, sizeof p);
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	a.id = 1;
	a.epoch = 0;
	n = hostd_msg_hold_encode(&a, p, sizeof p);
	assert_int_equal(hostd_msg_hold_decode(p, n, &b), -1);
	a.n = HOSTD_HOLD_MAX + 1;
	assert_int_equal(hostd_msg_hold_encode(&a, p, sizeof p), 0);
}

static void flush_round_trip(void **state)
{
	(void)state;
	uint8_t p[HOSTD_FLUSH_LEN];
	struct hostd_flush_msg a = { htonl(0xc6120005u), 9, 0x1122334455667788ull }, b;
	hostd_msg_flush_encode(&a, p);
	static const uint8_t want[HOSTD_FLUSH_LEN] = { 198, 18, 0, 5, 0, 0, 0, 9,
	                                               0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	assert_memory_equal(p, want, sizeof want);
	assert_int_equal(hostd_msg_flush_decode(p, sizeof p, &b), 0);
	assert_int_equal(b.capsule_ip, htonl(0xc6120005u));
	assert_int_equal(b.epoch, 9);
	assert_true(b.id == a.id);
	for (size_t k = 0; k < sizeof p; k++)
		assert_int_equal(hostd_msg_flush_decode(p, k, &b), -1);
	struct hostd_flush_msg zero[] = { { 0, 9, 1 }, { a.capsule_ip, 0, 1 }, { a.capsule_ip, 9, 0 } };
	for (size_t i = 0; i < 3; i++) {
		hostd_msg_flush_encode(&zero[i], p);
		assert_int_equal(hostd_msg_flush_decode(p, sizeof p, &b), -1);
	}
}

static void ack_round_trip(void **state)
{
	(void)state;
	uint8_t p[HOSTD_ACK_LEN + 1];
	struct hostd_ack_msg b;
	for (uint8_t kind = HOSTD_CTL_HOLD; kind <= HOSTD_CTL_FLUSH_TO; kind++) {
		struct hostd_ack_msg a = { kind, htonl(0xc6120005u), 4, 0xa1a2a3a4a5a6a7a8ull };
		hostd_msg_ack_encode(&a, p);
		static const uint8_t tail[16] = { 198, 18, 0, 5, 0, 0, 0, 4,
		                                  0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
		assert_int_equal(p[0], kind);
		assert_memory_equal(p + 4, tail, sizeof tail);
		assert_int_equal(hostd_msg_ack_decode(p, HOSTD_ACK_LEN, &b), 0);
		assert_int_equal(b.kind, kind);
		assert_int_equal(b.capsule_ip, a.capsule_ip);
		assert_int_equal(b.epoch, 4);
		assert_true(b.id == a.id);
		for (size_t k = 0; k < HOSTD_ACK_LEN; k++)
			assert_int_equal(hostd_msg_ack_decode(p, k, &b), -1);
		assert_int_equal(hostd_msg_ack_decode(p, HOSTD_ACK_LEN + 1, &b), -1);
		for (int r = 1; r < 4; r++) {   /* reserved bytes */
			hostd_msg_ack_encode(&a, p);
			p[r] = 1;
			assert_int_equal(hostd_msg_ack_decode(p, HOSTD_ACK_LEN, &b), -1);
		}
	}
	struct hostd_ack_msg bad[] = { { 0, 1, 1, 1 }, { 4, 1, 1, 1 }, { 1, 0, 1, 1 }, { 1, 1, 0, 1 },
	                               { 1, 1, 1, 0 } };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		hostd_msg_ack_encode(&bad[i], p);
		assert_int_equal(hostd_msg_ack_decode(p, HOSTD_ACK_LEN, &b), -1);
	}
}

/* GAPS: an ASK and a REPORT of two records, byte by byte; every truncation, an extra byte,
 * reserved bytes, unknown flags and empty fields refused; n beyond the maximum not encoded. */
static void gaps_round_trip(void **state)
{
	(void)state;
	static uint8_t p[HOSTD_GAPS_HDR + HOSTD_GAPS_MAX * HOSTD_GAPS_REC + 1];
	static struct hostd_gaps_msg a, b;
	a = (struct hostd_gaps_msg){ .kind = HOSTD_GAPS_ASK, .capsule_ip = htonl(0xc6120005u),
	                             .epoch = 4, .query_id = 0xa1a2a3a4a5a6a7a8ull };
	assert_int_equal(hostd_msg_gaps_encode(&a, p, sizeof p), HOSTD_GAPS_ASK_LEN);
	static const uint8_t ask[HOSTD_GAPS_ASK_LEN] = { 1, 0, 0, 0, 198, 18, 0, 5, 0, 0, 0, 4, 0xa1,
	                                                 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
	assert_memory_equal(p, ask, sizeof ask);
	assert_int_equal(hostd_msg_gaps_decode(p, HOSTD_GAPS_ASK_LEN, &b), 0);
	assert_true(b.kind == HOSTD_GAPS_ASK && b.capsule_ip == a.capsule_ip && b.epoch == 4 &&
	            b.query_id == a.query_id && b.n == 0);
	assert_int_equal(hostd_msg_gaps_decode(p, HOSTD_GAPS_ASK_LEN + 1, &b), -1);

	a.kind = HOSTD_GAPS_REPORT;
	a.n = 2, a.more = 7, a.held_ms = 0x01020304;
	a.recs[0] = (struct hostd_gap_rec){ htonl(0xc6130064u), 40000, 9000, 12, 345, HOSTD_GAP_RESUMED };
	a.recs[1] = (struct hostd_gap_rec){ htonl(0xc6120009u), 49152, 9000, 0, 70000,
	                                    HOSTD_GAP_FROM_SYNC };
	size_t len = hostd_msg_gaps_encode(&a, p, sizeof p);
	assert_int_equal(len, HOSTD_GAPS_HDR + 2 * HOSTD_GAPS_REC);
	static const uint8_t head[12] = { 0, 2, 0, 20, 0, 0, 0, 7, 1, 2, 3, 4 };
	static const uint8_t rec0[20] = { 198, 19, 0, 100, 0x9c, 0x40, 0x23, 0x28, 0, 0, 0, 12,
	                                  0, 0, 1, 0x59, 0, 1, 0, 0 };
	assert_int_equal(p[0], HOSTD_GAPS_REPORT);
	assert_memory_equal(p + 20, head, sizeof head);
	assert_memory_equal(p + HOSTD_GAPS_HDR, rec0, sizeof rec0);
	assert_int_equal(hostd_msg_gaps_decode(p, len, &b), 0);
	assert_true(b.n == 2 && b.more == 7 && b.held_ms == a.held_ms && b.query_id == a.query_id);
	assert_memory_equal(b.recs, a.recs, 2 * sizeof a.recs[0]);
	for (size_t k = 0; k < len; k++)
		assert_int_equal(hostd_msg_gaps_decode(p, k, &b), -1);
	assert_int_equal(hostd_msg_gaps_decode(p, len + 1, &b), -1);
	static const size_t zero_one[] = { 1, 2, 3, HOSTD_GAPS_HDR + HOSTD_GAPS_REC + 18 };
	for (size_t i = 0; i < sizeof zero_one / sizeof *zero_one; i++) {
		hostd_msg_gaps_encode(&a, p, sizeof p);
		p[zero_one[i]] = 1;   /* a reserved byte set */
		assert_int_equal(hostd_msg_gaps_decode(p, len, &b), -1);
	}
	hostd_msg_gaps_encode(&a, p, sizeof p);
	p[23] = 21;               /* another record length */
	assert_int_equal(hostd_msg_gaps_decode(p, len, &b), -1);
	hostd_msg_gaps_encode(&a, p, sizeof p);
	p[0] = 3;                 /* an unknown kind */
	assert_int_equal(hostd_msg_gaps_decode(p, len, &b), -1);

	/* Empty fields, a flag nobody defined, too many records. */
	for (int f = 0; f < 7; f++) {
		b = a;
		if (f == 0) b.capsule_ip = 0;
		if (f == 1) b.epoch = 0;
		if (f == 2) b.query_id = 0;
		if (f == 3) b.recs[1].peer_ip = 0;
		if (f == 4) b.recs[1].peer_port = 0;
		if (f == 5) b.recs[0].capsule_port = 0;
		if (f == 6) b.recs[0].flags = 4;
		assert_int_equal(hostd_msg_gaps_encode(&b, p, sizeof p), len);
		assert_int_equal(hostd_msg_gaps_decode(p, len, &b), -1);
	}
	a.n = HOSTD_GAPS_MAX;
	assert_int_equal(hostd_msg_gaps_encode(&a, p, sizeof p), HOSTD_GAPS_HDR + HOSTD_GAPS_MAX * HOSTD_GAPS_REC);
	assert_int_equal(hostd_msg_gaps_encode(&a, p, HOSTD_GAPS_HDR), 0);
	a.n = HOSTD_GAPS_MAX + 1;
	assert_int_equal(hostd_msg_gaps_encode(&a, p, sizeof p), 0);
}

/* Every migration record: round trip, each truncation and one extra byte refused. */
static void mig_round_trips(void **state)
{
	(void)state;
	struct uplink_msg m;
	struct uplink_mig_prepare prep = { .target_host = 2, .migration_id = 0x0123456789abcdefull };
	struct uplink_mig_ready ready = { .target_addr = htonl(0xc6130002u), .target_port = 7472,
	                                  .epoch = 4, .peers_asked = 3, .peers_acked = 2,
	                                  .source_host = 1 };
	struct uplink_mig_dir dir = { .op = UPLINK_MIG_FENCE, .target_host = 2, .epoch = 4 };
	struct uplink_mig_result res = { .result = UPLINK_MIG_KEPT, .holder = 1, .epoch = 5 };
	struct uplink_mig_done done = { .outcome = UPLINK_MIG_COMMITTED, .target_host = 2, .epoch = 5 };
	memset(ready.key, 0xa5, sizeof ready.key);
	const struct { int type; const void *body; size_t len; } recs[] = {
		{ UPLINK_MIG_PREPARE, &prep, sizeof prep }, { UPLINK_MIG_READY, &ready, sizeof ready },
		{ UPLINK_MIG_DIR, &dir, sizeof dir }, { UPLINK_MIG_DIR_RESULT, &res, sizeof res },
		{ UPLINK_MIG_DONE, &done, sizeof done },
	};
	for (size_t i = 0; i < sizeof recs / sizeof *recs; i++) {
		size_t n = uplink_encode_body(buf, sizeof buf, recs[i].type, recs[i].body, recs[i].len);
		assert_int_equal(n, UPLINK_HDR_LEN + recs[i].len);
		assert_int_equal(uplink_decode(buf, n, &m), 0);
		assert_int_equal(m.type, recs[i].type);
		assert_memory_equal(&m.u, recs[i].body, recs[i].len);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(uplink_decode(buf, k, &m), -1);
		assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
		assert_int_equal(uplink_encode_body(buf, n - 1, recs[i].type, recs[i].body, recs[i].len), 0);
	}
	/* ATTACH of a migrated capsule: RESUME + MIGRATED + the epoch it started at */
	size_t n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_RESUME | UPLINK_ATTACH_MIGRATED, 4, 2, 0);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.attach.epoch, 4);
	n = uplink_encode_detach(buf, sizeof buf, UPLINK_DETACH_MIGRATED);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.detach_reason, UPLINK_DETACH_MIGRATED);
}

/* Encode body with one field changed; the decoder's answer. */
#define DECODE_WITH(type, var, field, value) __extension__ ({ \
	__typeof__(var) t_ = (var); t_.field = (value); struct uplink_msg m_; \
	uplink_decode(buf, uplink_encode_body(buf, sizeof buf, (type), &t_, sizeof t_), &m_); })

static void mig_refusals(void **state)
{
	(void)state;
	struct uplink_msg m;
	struct uplink_mig_prepare prep = { .target_host = 2, .migration_id = 9 };
	assert_int_equal(DECODE_WITH(UPLINK_MIG_PREPARE, prep, target_host, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_PREPARE, prep, migration_id, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_PREPARE, prep, flags, 2), -1);

	struct uplink_mig_ready ready = { .target_addr = 1, .target_port = 7472, .epoch = 4,
	                                  .peers_asked = 2, .peers_acked = 2, .source_host = 1 };
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, target_addr, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, target_port, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, epoch, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, peers_acked, 3), -1);   /* more than asked */
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, reserved, 1), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_READY, ready, source_host, 0), -1);

	struct uplink_mig_dir dir = { .op = UPLINK_MIG_FENCE, .target_host = 2, .epoch = 4 };
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, op, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, op, 1), -1);   /* the source never moves it */
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, op, 5), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, op, UPLINK_MIG_LOOKUP), 0);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, op, UPLINK_MIG_CHECK), 0);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, target_host, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, epoch, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR, dir, reserved, 1), -1);

	struct uplink_mig_result res = { .result = UPLINK_MIG_NO_ANSWER };
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR_RESULT, res, result, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR_RESULT, res, result, UPLINK_MIG_GONE), 0);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR_RESULT, res, result, UPLINK_MIG_GONE + 1), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DIR_RESULT, res, reserved, 1), -1);

	struct uplink_mig_done done = { .outcome = UPLINK_MIG_ABORTED, .target_host = 2, .epoch = 4 };
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DONE, done, outcome, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DONE, done, outcome, 3), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DONE, done, target_host, 0), -1);
	assert_int_equal(DECODE_WITH(UPLINK_MIG_DONE, done, frozen_drops, 7), 0);   /* a count, any value */

	/* MIGRATED needs RESUME and an epoch; a plain ATTACH must not carry one */
	size_t n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_MIGRATED, 4, 2, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_RESUME | UPLINK_ATTACH_MIGRATED, 0, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_RESUME, 4, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* ... and the host it comes from */
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_RESUME | UPLINK_ATTACH_MIGRATED, 4, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* INCOMING: ip, epoch and source, nothing else; REATTACH: ip, epoch and a known state */
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_INCOMING, 4, 2, 0);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_INCOMING, 4, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_INCOMING | UPLINK_ATTACH_RESUME, 4, 2, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	for (uint32_t st = 0; st <= UPLINK_STATE_MIGRATING + 1; st++) {
		n = attach_rec("m", htonl(0xc6120007u), UPLINK_ATTACH_REATTACH, 4, 0, st);
		assert_int_equal(uplink_decode(buf, n, &m),
		                 st >= UPLINK_STATE_RUNNING && st <= UPLINK_STATE_MIGRATING ? 0 : -1);
	}
	n = attach_rec("m", 0, UPLINK_ATTACH_REATTACH, 4, 0, UPLINK_STATE_RUNNING);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* the new simple records carry nothing */
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_STARTING);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_MIG_END);
	assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
	/* header flags on a migration record */
	n = uplink_encode_body(buf, sizeof buf, UPLINK_MIG_DONE, &done, sizeof done);
	buf[1] = 1;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
}

static void sync_round_trip(void **state)
{
	(void)state;
	uint8_t p[HOSTD_SYNC_LEN + 1];
	struct hostd_sync_msg b;
	const struct hostd_sync_msg msgs[] = {
		{ HOSTD_SYNC, htonl(0xc6120005u), 7, 0xfedcba9876543210ull, 2, 0, 0 },
		{ HOSTD_SYNC_ACK, htonl(0xc6120005u), 7, 0xfedcba9876543210ull, 3, 0, 0 },
		{ HOSTD_FLUSH_TO, htonl(0xc6120005u), 8, 1, 2, htonl(0xc6130002u), 7471 },
		{ HOSTD_FLUSH_TO, htonl(0xc6120005u), 8, 0xfedcba9876543210ull, 2, htonl(0xc6130002u), 1 },
	};
	for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
		hostd_msg_sync_encode(&msgs[i], p);
		assert_int_equal(hostd_msg_sync_decode(p, HOSTD_SYNC_LEN, &b), 0);
		assert_int_equal(b.kind, msgs[i].kind);
		assert_int_equal(b.capsule_ip, msgs[i].capsule_ip);
		assert_int_equal(b.epoch, msgs[i].epoch);
		assert_true(b.migration_id == msgs[i].migration_id);
		assert_int_equal(b.host_id, msgs[i].host_id);
		assert_int_equal(b.locator_ip, msgs[i].locator_ip);
		assert_int_equal(b.port, msgs[i].port);
		for (size_t k = 0; k < HOSTD_SYNC_LEN; k++)
			assert_int_equal(hostd_msg_sync_decode(p, k, &b), -1);
		assert_int_equal(hostd_msg_sync_decode(p, HOSTD_SYNC_LEN + 1, &b), -1);
	}
	/* the byte layout of the brief: big-endian fields at fixed offsets */
	hostd_msg_sync_encode(&msgs[2], p);
	static const uint8_t want[HOSTD_SYNC_LEN] = {
		3, 0, 0, 0, 198, 18, 0, 5, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 2, 198, 19, 0, 2, 0x1d, 0x2f, 0, 0 };
	assert_memory_equal(p, want, sizeof want);
}

/* Encode m with one field changed; the decoder's answer. */
static int sync_with(struct hostd_sync_msg m, int field, uint64_t v)
{
	uint8_t p[HOSTD_SYNC_LEN];
	struct hostd_sync_msg out;
	switch (field) {
	case 0: m.kind = (uint8_t)v; break;
	case 1: m.capsule_ip = (uint32_t)v; break;
	case 2: m.epoch = (uint32_t)v; break;
	case 3: m.migration_id = v; break;
	case 4: m.host_id = (uint32_t)v; break;
	case 5: m.locator_ip = (uint32_t)v; break;
	case 6: m.port = (uint16_t)v; break;
	}
	hostd_msg_sync_encode(&m, p);
	return hostd_msg_sync_decode(p, sizeof p, &out);
}

static void sync_refusals(void **state)
{
	(void)state;
	const struct hostd_sync_msg sync = { HOSTD_SYNC, htonl(0xc6120005u), 7, 99, 2, 0, 0 };
	const struct hostd_sync_msg ack = { HOSTD_SYNC_ACK, htonl(0xc6120005u), 7, 99, 3, 0, 0 };
	const struct hostd_sync_msg flush = { HOSTD_FLUSH_TO, htonl(0xc6120005u), 8, 5, 2, 1, 7471 };
	const struct hostd_sync_msg *all[] = { &sync, &ack, &flush };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sync_with(*all[i], -1, 0), 0);
		assert_int_equal(sync_with(*all[i], 0, 0), -1);   /* unknown kinds */
		assert_int_equal(sync_with(*all[i], 0, 4), -1);
		assert_int_equal(sync_with(*all[i], 0, 255), -1);
		assert_int_equal(sync_with(*all[i], 1, 0), -1);   /* no capsule */
		assert_int_equal(sync_with(*all[i], 2, 0), -1);   /* epochs start at 1 */
		assert_int_equal(sync_with(*all[i], 4, 0), -1);   /* host ids too */
	}
	/* SYNC / SYNC_ACK: a migration id, never a locator */
	assert_int_equal(sync_with(sync, 3, 0), -1);
	assert_int_equal(sync_with(ack, 3, 0), -1);
	assert_int_equal(sync_with(sync, 5, 1), -1);
	assert_int_equal(sync_with(ack, 6, 1), -1);
	/* FLUSH_TO: a message id (its ACK echoes it) and a locator */
	assert_int_equal(sync_with(flush, 3, 0), -1);
	assert_int_equal(sync_with(flush, 3, 5), 0);
	assert_int_equal(sync_with(flush, 5, 0), -1);
	assert_int_equal(sync_with(flush, 6, 0), -1);
	/* reserved bytes */
	uint8_t p[HOSTD_SYNC_LEN];
	struct hostd_sync_msg out;
	size_t reserved[] = { 1, 2, 3, 30, 31 };
	for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
		hostd_msg_sync_encode(&flush, p);
		p[reserved[i]] = 1;
		assert_int_equal(hostd_msg_sync_decode(p, sizeof p, &out), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attach_round_trip),
		cmocka_unit_test(attach_refusals),
		cmocka_unit_test(other_records),
		cmocka_unit_test(tcpconn_from_report_states),
		cmocka_unit_test(tcpconn_record),
		cmocka_unit_test(frozen_from_report),
		cmocka_unit_test(hold_round_trip),
		cmocka_unit_test(flush_round_trip),
		cmocka_unit_test(ack_round_trip),
		cmocka_unit_test(gaps_round_trip),
		cmocka_unit_test(mig_round_trips),
		cmocka_unit_test(mig_refusals),
		cmocka_unit_test(sync_round_trip),
		cmocka_unit_test(sync_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
