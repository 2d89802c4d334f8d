/* test_host_route.c: caphostd's routing and translation decisions without sockets: the wire sender, the uplinks and capgw are capturing fakes (struct hostd_ops). */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

/*
 * One caphostd (host 1, capsule network 198.18.0.0/16) with its tables set
 * by hand.  Every way out is recorded instead of sent: the sealed datagrams
 * (decoded again here with the cluster key, so the test sees what a peer
 * would), the records to each capsule's caprun, and what goes to capgw.
 */

#define SELF      1u
#define NET_ID    7u
#define MAX_OUT   64

struct sent_wire {
	struct wire_hdr h;
	uint8_t payload[2048];
	size_t plen;
	uint32_t addr;
	uint16_t port;
};
struct sent_uplink {
	int cap;                  /* index into d.caps */
	uint8_t rec[UPLINK_MAX];
	size_t len;
};

static struct hostd d;
static struct sent_wire wires[MAX_OUT];
static int nwires;
static struct sent_uplink ups[MAX_OUT];
static int nups, uplink_full;
static uint8_t gw_pkts[MAX_OUT][65535];
static size_t gw_lens[MAX_OUT];
static int ngw;

static int fake_wire_out(struct hostd *hd, const struct iovec *iov, int iovcnt, uint32_t addr,
                         uint16_t port)
{
	uint8_t dgram[4096];
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++) {
		assert_true(n + iov[i].iov_len <= sizeof dgram);
		memcpy(dgram + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	assert_true(nwires < MAX_OUT);
	struct sent_wire *w = &wires[nwires++];
	const uint8_t *pl;
	/* what a peer holding the cluster key reads: it must be a valid wire message from us */
	assert_int_equal(wire_decode(dgram, n, hd->data_key, NET_ID, &w->h, &pl, &w->plen), WIRE_OK);
	memcpy(w->payload, pl, w->plen);
	w->addr = addr;
	w->port = port;
	return 0;
}

static int fake_uplink_out(struct hostd *hd, const struct hostd_cap *c, const struct iovec *iov,
                           int iovcnt)
{
	if (uplink_full)
		return -1;
	assert_true(nups < MAX_OUT);
	struct sent_uplink *u = &ups[nups++];
	u->cap = (int)(c - hd->caps);
	u->len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(u->rec + u->len, iov[i].iov_base, iov[i].iov_len);
		u->len += iov[i].iov_len;
	}
	return 0;
}

static void fake_gw_write(struct hostd *hd, const uint8_t *pkt, size_t len)
{
	(void)hd;
	assert_true(ngw < MAX_OUT && len <= sizeof gw_pkts[0]);
	gw_lens[ngw] = len;
	memcpy(gw_pkts[ngw++], pkt, len);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* A minimal valid IPv4/UDP packet src -> dst (checksummed header, 8 bytes of payload). */
/* A checksummed IPv4 header src -> dst for len bytes of protocol proto; the rest of the header zeroed. */
static void ip_header(uint8_t *p, const char *src, const char *dst, uint8_t proto, size_t len)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = proto;
	uint32_t s = ip(src), t = ip(dst);
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &t, 4);
	uint16_t sum = ipv4_csum_field(ipv4_sum(0, p, 20));
	p[10] = (uint8_t)(sum >> 8);
	p[11] = (uint8_t)sum;
}

static size_t make_pkt(uint8_t *p, const char *src, const char *dst)
{
	const size_t len = 20 + 8 + 8;
	memset(p, 0, len);
	ip_header(p, src, dst, IPPROTO_UDP, len);
	memcpy(p + 28, "payload!", 8);
	assert_int_equal(ipv4_check(p, len, IPV4_CHECK_CSUM), IPV4_OK);
	return len;
}

static void set_entry(const char *capsule, int state, uint32_t host, const char *locator,
                      uint16_t port, uint32_t epoch)
{
	struct xlate_entry x = { .capsule_ip = ip(capsule), .host_id = host, .state = (uint8_t)state,
	                         .epoch = epoch, .port = port,
	                         .locator_ip = locator ? ip(locator) : 0 };
	assert_int_equal(xlate_update(&d.xt, &x), XLATE_OK);
}

static struct hostd_cap *attach_cap(int idx, const char *capsule, int state, uint32_t epoch)
{
	struct hostd_cap *c = &d.caps[idx];
	c->state = state;
	c->ip = ip(capsule);
	c->epoch = epoch;
	c->fd = -1;   /* never used: the fake uplink records instead */
	if (idx >= d.caps_hw)
		d.caps_hw = idx + 1;   /* as hostd_uplink_accept does */
	set_entry(capsule, state == HCAP_FROZEN ? XLATE_FROZEN : XLATE_LOCAL, 0, NULL, 0, epoch);
	return c;
}

static int setup(void **state)
{
	(void)state;
	memset(&d, 0, sizeof d);
	d.host_id = SELF;
	d.network_id = NET_ID;
	d.net = 0xc6120000u;   /* 198.18.0.0/16, host order */
	d.mask = 0xffff0000u;
	d.listen_addr = ip("10.0.0.1");
	d.listen_port = 7471;
	d.udp_fd = d.up_fd = d.ctl_fd = d.sig_fd = d.tun_fd = d.ep = d.mig_fd = -1;
	randombytes_buf(d.data_key, sizeof d.data_key);
	assert_int_equal(xlate_init(&d.xt, 64, SELF), XLATE_OK);
	d.ops.wire_out = fake_wire_out;
	d.ops.uplink_out = fake_uplink_out;
	d.ops.gw_write = fake_gw_write;
	d.ops.reroute = hostd_route_packet;   /* as caphostd.c wires it */
	d.ops.notify = hostd_fwd_notify;
	nwires = nups = ngw = uplink_full = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hostd_sync_free_all(&d);
	xlate_free(&d.xt);
	return 0;
}

/* The wire message i must be DATA at epoch to addr:port carrying exactly pkt. */
static void assert_data(int i, uint32_t epoch, const char *addr, uint16_t port, const uint8_t *pkt,
                        size_t len)
{
	assert_true(i < nwires);
	assert_int_equal(wires[i].h.type, WIRE_DATA);
	assert_int_equal(wires[i].h.sender, SELF);
	assert_int_equal(wires[i].h.epoch, epoch);
	assert_int_equal(wires[i].addr, ip(addr));
	assert_int_equal(wires[i].port, port);
	assert_int_equal(wires[i].plen, len);
	assert_memory_equal(wires[i].payload, pkt, len);
}

static void test_to_local_capsule(void **state)
{
	(void)state;
	uint8_t pkt[64];
	attach_cap(3, "198.18.0.20", HCAP_RUNNING, 4);
	size_t len = make_pkt(pkt, "198.18.0.10", "198.18.0.20");
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nwires, 0);
	assert_int_equal(nups, 1);
	assert_int_equal(ups[0].cap, 3);
	assert_int_equal(ups[0].len, UPLINK_HDR_LEN + len);
	assert_int_equal(ups[0].rec[0], UPLINK_PACKET);
	assert_memory_equal(ups[0].rec + UPLINK_HDR_LEN, pkt, len);
	assert_int_equal(d.cnt.up_pkts_in, 1);
	assert_int_equal(d.caps[3].pkts_in, 1);
	/* its caprun's queue full: dropped as a congested link would, counted */
	uplink_full = 1;
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(d.cnt.deliver_full, 1);
	assert_int_equal(d.cnt.up_pkts_in, 1);
	assert_int_equal(nwires, 0);
}

static void test_frozen_and_bad_destinations(void **state)
{
	(void)state;
	uint8_t pkt[64];
	attach_cap(0, "198.18.0.21", HCAP_FROZEN, 2);
	hostd_route_packet(&d, pkt, make_pkt(pkt, "198.18.0.10", "198.18.0.21"));
	assert_int_equal(d.cnt.drop_held, 1);
	/* the network address, the capsules' gateway .1 and broadcast are nobody */
	hostd_route_packet(&d, pkt, make_pkt(pkt, "198.18.0.10", "198.18.0.0"));
	hostd_route_packet(&d, pkt, make_pkt(pkt, "198.18.0.10", "198.18.0.1"));
	hostd_route_packet(&d, pkt, make_pkt(pkt, "198.18.0.10", "198.18.255.255"));
	assert_int_equal(d.cnt.drop_bad_dst, 3);
	assert_int_equal(nwires + nups + ngw, 0);
}

static void test_to_peer_host(void **state)
{
	(void)state;
	uint8_t pkt[64];
	set_entry("198.18.0.30", XLATE_REMOTE, 2, "10.0.0.2", 7471, 9);
	set_entry("198.18.0.31", XLATE_REMOTE, 3, "10.0.0.3", 7000, 1);
	size_t len = make_pkt(pkt, "198.18.0.10", "198.18.0.30");
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nwires, 1);
	assert_data(0, 9, "10.0.0.2", 7471, pkt, len);   /* our epoch for it, to its holder */
	len = make_pkt(pkt, "198.18.0.10", "198.18.0.31");
	hostd_route_packet(&d, pkt, len);
	assert_data(1, 1, "10.0.0.3", 7000, pkt, len);
	assert_int_equal(d.cnt.data_out, 2);
	assert_int_equal(nups, 0);
	/* consecutive sequence numbers: a peer's replay window accepts both */
	assert_int_equal(wires[1].h.seq, wires[0].h.seq + 1);
}

static void test_queued_during_sync(void **state)
{
	(void)state;
	uint8_t pkt[64], pkt2[64];
	/* host 2 migrates 198.18.0.40 (SYNC): its packets wait here, whatever the table says */
	set_entry("198.18.0.40", XLATE_REMOTE, 2, "10.0.0.2", 7471, 5);
	assert_int_equal(hostd_sync_open(&d, ip("198.18.0.40"), 5, 77, 2), 0);
	assert_true(hostd_sync_pending(&d, ip("198.18.0.40")));
	size_t len = make_pkt(pkt, "198.18.0.10", "198.18.0.40");
	size_t len2 = make_pkt(pkt2, "198.18.0.11", "198.18.0.40");
	hostd_route_packet(&d, pkt, len);
	hostd_route_packet(&d, pkt2, len2);
	assert_int_equal(nwires, 0);
	assert_int_equal(d.cnt.data_out, 0);
	/* it runs on host 3 now (epoch 6): the queue goes there, in order, and only there */
	set_entry("198.18.0.40", XLATE_REMOTE, 3, "10.0.0.3", 7471, 6);
	hostd_sync_release(&d, ip("198.18.0.40"));
	assert_false(hostd_sync_pending(&d, ip("198.18.0.40")));
	assert_int_equal(nwires, 2);
	assert_data(0, 6, "10.0.0.3", 7471, pkt, len);
	assert_data(1, 6, "10.0.0.3", 7471, pkt2, len2);
	assert_int_equal(d.cnt.data_out, 2);
	assert_int_equal(d.cnt.sync_released_pkts, 2);
	/* no queue any more: the next packet goes straight there */
	hostd_route_packet(&d, pkt, len);
	assert_data(2, 6, "10.0.0.3", 7471, pkt, len);
}

/* A DATA from host 2 (at its epoch for the capsule), sealed as host 2 would. */
static void receive_data(uint32_t epoch, const uint8_t *pkt, size_t len, const char *from_addr,
                         uint16_t from_port)
{
	static uint64_t seq = 1000;
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_DATA, .network_id = NET_ID,
	                      .sender = 2, .epoch = epoch, .seq = ++seq };
	uint8_t dgram[4096];
	size_t n;
	assert_int_equal(wire_encode(&h, pkt, len, d.data_key, dgram, sizeof dgram, &n), WIRE_OK);
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(from_port),
	                            .sin_addr.s_addr = ip(from_addr) };
	hostd_fwd_datagram(&d, dgram, n, &from);
}

/* Pieces [first, first + count) of pkt cut at payload bytes, each its own DATA datagram. */
static void receive_pieces(uint32_t epoch, const uint8_t *pkt, size_t len, size_t payload,
                           unsigned first, unsigned count)
{
	static uint8_t piece[65535];
	for (unsigned i = first; i < first + count; i++)
		receive_data(epoch, piece, tcpseg_piece(pkt, len, payload, i, piece), "10.0.0.2", 7471);
}

static void test_received_data_and_redirect(void **state)
{
	(void)state;
	uint8_t pkt[64];
	attach_cap(1, "198.18.0.50", HCAP_RUNNING, 3);
	/* at our epoch: delivered to the capsule here */
	size_t len = make_pkt(pkt, "198.18.0.60", "198.18.0.50");
	receive_data(3, pkt, len, "10.0.0.2", 7471);
	assert_int_equal(d.cnt.data_in, 1);
	assert_int_equal(nups, 1);
	assert_int_equal(ups[0].cap, 1);
	assert_int_equal(nwires, 0);
	/* a capsule that moved on to host 4 at epoch 8: the stale sender (epoch 5) gets a
	 * REDIRECT naming host 4, back to where its datagram came from; the packet is dropped */
	set_entry("198.18.0.51", XLATE_REMOTE, 4, "10.0.0.4", 7471, 8);
	len = make_pkt(pkt, "198.18.0.60", "198.18.0.51");
	receive_data(5, pkt, len, "10.0.0.2", 7471);
	assert_int_equal(nups, 1);
	assert_int_equal(nwires, 1);
	assert_int_equal(wires[0].h.type, WIRE_REDIRECT);
	assert_int_equal(wires[0].addr, ip("10.0.0.2"));
	assert_int_equal(wires[0].port, 7471);
	struct wire_redirect r;
	assert_int_equal(wire_redirect_decode(wires[0].payload, wires[0].plen, &r), WIRE_OK);
	assert_int_equal(r.capsule_ip, ip("198.18.0.51"));
	assert_int_equal(r.host_id, 4);
	assert_int_equal(r.locator_ip, ip("10.0.0.4"));
	assert_int_equal(r.port, 7471);
	assert_int_equal(r.epoch, 8);
	assert_int_equal(d.cnt.redirect_out, 1);
	assert_int_equal(d.cnt.drop_epoch, 1);   /* a drop with a redirect is still a drop */
	assert_int_equal(d.cnt.data_in, 2);
	/* a sender ahead of us for a capsule here (epoch 4 > 3): not ours to deliver */
	len = make_pkt(pkt, "198.18.0.60", "198.18.0.50");
	receive_data(4, pkt, len, "10.0.0.2", 7471);
	assert_int_equal(nups, 1);
	assert_int_equal(nwires, 1);   /* and no redirect: we may be the stale copy */
	assert_int_equal(d.cnt.drop_epoch, 2);
	/* the peer table learned host 2's locator from its authenticated datagrams */
	struct hostd_peer *p = hostd_core_peer(&d, 2, 0);
	assert_non_null(p);
	assert_int_equal(p->addr, ip("10.0.0.2"));
	assert_int_equal(p->port, 7471);
	assert_int_equal(d.wc.n[WIRE_OK], 3);
}

/* A TCP data segment (ACK, PSH) src:40000 -> dst:7 with data bytes of a pattern; checksummed. */
static size_t make_tcp(uint8_t *p, const char *src, const char *dst, size_t data)
{
	size_t len = 40 + data;
	memset(p, 0, 40);
	ip_header(p, src, dst, IPPROTO_TCP, len);
	p[20] = 0x9c, p[21] = 0x40, p[23] = 7;   /* ports 40000 -> 7 */
	p[27] = 1;                               /* seq 1 */
	p[32] = 0x50;
	p[33] = 0x18;
	p[34] = 0xff, p[35] = 0xff;
	for (size_t i = 0; i < data; i++)
		p[40 + i] = (uint8_t)(i * 13 + i / 256);
	uint8_t pseudo[12] = { 0 };
	memcpy(pseudo, p + 12, 8);
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)((len - 20) >> 8);
	pseudo[11] = (uint8_t)(len - 20);
	uint16_t sum = ipv4_csum_field(ipv4_sum(ipv4_sum(0, pseudo, sizeof pseudo), p + 20, len - 20));
	p[36] = (uint8_t)(sum >> 8);
	p[37] = (uint8_t)sum;
	return len;
}

/* A segment larger than the wire leaves in pieces that fit, each a DATA of its own. */
static void test_cut_for_the_wire(void **state)
{
	(void)state;
	static uint8_t pkt[20040];
	d.wire_inner_max = 1428;   /* --wire-mtu 1500 */
	set_entry("198.18.0.70", XLATE_REMOTE, 2, "10.0.0.2", 7471, 9);
	size_t len = make_tcp(pkt, "198.18.0.10", "198.18.0.70", 20000);
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nwires, 15);   /* 20,000 bytes in pieces of 1,388 */
	assert_int_equal(d.cnt.wire_cut, 1);
	assert_int_equal(d.cnt.wire_pieces, 15);
	assert_int_equal(d.cnt.data_out, 1);
	size_t off = 0;
	for (int i = 0; i < nwires; i++) {
		assert_int_equal(wires[i].h.type, WIRE_DATA);
		assert_int_equal(wires[i].h.epoch, 9);
		assert_true(wires[i].plen <= 1428);
		assert_int_equal(ipv4_check(wires[i].payload, wires[i].plen, IPV4_CHECK_CSUM), IPV4_OK);
		assert_memory_equal(wires[i].payload + 40, pkt + 40 + off, wires[i].plen - 40);
		off += wires[i].plen - 40;
		if (i)
			assert_int_equal(wires[i].h.seq, wires[i - 1].h.seq + 1);
	}
	assert_int_equal(off, 20000);
	/* a small one, or one not TCP, goes whole as before */
	uint8_t small[64];
	len = make_pkt(small, "198.18.0.10", "198.18.0.70");
	hostd_route_packet(&d, small, len);
	assert_int_equal(nwires, 16);
	assert_data(15, 9, "10.0.0.2", 7471, small, len);
}

static size_t counted_bytes;
static int counting_wire_out(struct hostd *hd, const struct iovec *iov, int iovcnt, uint32_t addr,
                             uint16_t port)
{
	(void)hd, (void)addr, (void)port;
	for (int i = 0; i < iovcnt; i++)
		counted_bytes += iov[i].iov_len;
	nwires++;
	return 0;
}

/* The most pieces (256) of the largest headers (TCP with 40 bytes of options) on the smallest
 * wire: every piece leaves, and nothing overflows (ASan watches the batch buffer). */
static void test_cut_most_pieces(void **state)
{
	(void)state;
	static uint8_t pkt[65535];
	d.wire_inner_max = 20 + 60 + 256;
	d.ops.wire_out = counting_wire_out;
	set_entry("198.18.0.71", XLATE_REMOTE, 2, "10.0.0.2", 7471, 1);
	size_t data = 65535 - 80;
	size_t len = make_tcp(pkt, "198.18.0.10", "198.18.0.71", data + 40);
	/* the data offset says 60 bytes of header: the first 40 data bytes become options (NOPs) */
	pkt[32] = 0xf0;
	memset(pkt + 40, 1, 40);
	assert_int_equal(tcpseg_piece_payload(pkt, len, d.wire_inner_max), 256);
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nwires, 256);
	assert_int_equal(d.cnt.wire_pieces, 256);
	assert_int_equal(counted_bytes, data + 256 * (80 + WIRE_OVERHEAD));
}

/* The pieces one read brings are joined for a capsule that said its MTU, and only then. */
static void test_pieces_joined(void **state)
{
	(void)state;
	static uint8_t pkt[20040];
	struct hostd_cap *c = attach_cap(2, "198.18.0.80", HCAP_RUNNING, 3);
	c->mtu = 65000;
	size_t len = make_tcp(pkt, "198.18.0.60", "198.18.0.80", 20000);
	size_t payload = tcpseg_piece_payload(pkt, len, 1428);
	unsigned n = tcpseg_pieces(pkt, len, payload);
	hostd_batch_read_begin(&d);
	receive_pieces(3, pkt, len, payload, 0, n);
	assert_int_equal(nups, 0);   /* held until the read ends */
	hostd_batch_read_end(&d);
	assert_int_equal(nups, 1);
	assert_int_equal(ups[0].len, UPLINK_HDR_LEN + len);
	assert_memory_equal(ups[0].rec + UPLINK_HDR_LEN, pkt, len);   /* byte for byte */
	assert_int_equal(d.cnt.join_segments, 1);
	assert_int_equal(d.cnt.join_pieces, n);
	/* a capsule that did not say its MTU gets every piece as it came */
	c->mtu = 0;
	hostd_batch_read_begin(&d);
	receive_pieces(3, pkt, len, payload, 0, n);
	hostd_batch_read_end(&d);
	assert_int_equal(nups, 1 + (int)n);
	/* a control message in between: what was joined before it goes up first */
	c->mtu = 65000;
	hostd_batch_read_begin(&d);
	receive_pieces(3, pkt, len, payload, 0, 2);
	struct wire_redirect r = { .capsule_ip = ip("198.18.0.99") };
	uint8_t pl[WIRE_REDIRECT_LEN], dgram[256];
	wire_redirect_encode(&r, pl);
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_REDIRECT, .network_id = NET_ID,
	                      .sender = 2, .seq = 5000 };
	size_t dn;
	assert_int_equal(wire_encode(&h, pl, sizeof pl, d.data_key, dgram, sizeof dgram, &dn), WIRE_OK);
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(7471),
	                            .sin_addr.s_addr = ip("10.0.0.2") };
	hostd_fwd_datagram(&d, dgram, dn, &from);
	assert_int_equal(nups, 2 + (int)n);
	assert_int_equal(ups[nups - 1].len, UPLINK_HDR_LEN + 40 + 2 * payload);
	hostd_batch_read_end(&d);
	assert_int_equal(nups, 2 + (int)n);
}

/* The gateway joins the pieces of a cut segment for an ordinary peer, and only those: a read
 * that brought shorter segments together (a peer whose MSS is below the wire's) hands them
 * to capgw as they came, never joined into something capgw would cut at the wire's size. */
static void test_gateway_joins_wire_pieces_only(void **state)
{
	(void)state;
	static uint8_t pkt[20040];
	d.gateway = 1;
	d.gw_host = SELF;
	d.wire_inner_max = 1428;
	size_t len = make_tcp(pkt, "198.18.0.10", "192.0.2.7", 20000);
	size_t payload = tcpseg_piece_payload(pkt, len, 1428);
	unsigned n = tcpseg_pieces(pkt, len, payload);
	hostd_batch_read_begin(&d);
	receive_pieces(0, pkt, len, payload, 0, n);
	hostd_batch_read_end(&d);
	assert_int_equal(ngw, 1);
	assert_int_equal(gw_lens[0], len);
	assert_memory_equal(gw_pkts[0], pkt, len);
	/* the same bytes as segments of 1,000 (a peer of MSS 1000): three writes, as they came */
	payload = tcpseg_piece_payload(pkt, len, 1040);
	hostd_batch_read_begin(&d);
	receive_pieces(0, pkt, len, payload, 0, 3);
	hostd_batch_read_end(&d);
	assert_int_equal(ngw, 4);
	for (int i = 1; i < 4; i++)
		assert_int_equal(gw_lens[i], 1040);
}

/* capgw's 64 KiB segment for a capsule here on a 1,500-byte link: cut to fit it. */
static void test_whole_cut_to_the_capsule_link(void **state)
{
	(void)state;
	static uint8_t pkt[20040];
	struct hostd_cap *c = attach_cap(4, "198.18.0.90", HCAP_RUNNING, 1);
	c->mtu = 1500;
	size_t len = make_tcp(pkt, "198.18.0.10", "198.18.0.90", 20000);
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nups, 14);   /* 1,460 bytes each */
	for (int i = 0; i < nups; i++)
		assert_true(ups[i].len - UPLINK_HDR_LEN <= 1500);
	c->mtu = 65000;
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nups, 15);
	assert_memory_equal(ups[14].rec + UPLINK_HDR_LEN, pkt, len);
}

static void test_ordinary_peer_via_gateway(void **state)
{
	(void)state;
	uint8_t pkt[64];
	size_t len = make_pkt(pkt, "198.18.0.10", "192.0.2.7");
	/* no gateway in this network: dropped, counted */
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(d.cnt.drop_no_gateway, 1);
	assert_int_equal(nwires + ngw, 0);
	/* a non-gateway host: wrapped to the gateway host's locator at epoch 0 */
	d.gw_host = 9;
	struct hostd_peer *g = hostd_core_peer(&d, 9, 1);
	g->addr = ip("10.0.0.9");
	g->port = 7471;
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(nwires, 1);
	assert_data(0, 0, "10.0.0.9", 7471, pkt, len);
	assert_int_equal(ngw, 0);
	/* the gateway itself: straight to capgw, nothing on the wire */
	d.gateway = 1;
	d.gw_host = SELF;
	hostd_route_packet(&d, pkt, len);
	assert_int_equal(ngw, 1);
	assert_memory_equal(gw_pkts[0], pkt, len);
	assert_int_equal(nwires, 1);
	/* and a DATA for an ordinary peer from another host's capsule goes out there too */
	receive_data(0, pkt, len, "10.0.0.2", 7471);
	assert_int_equal(ngw, 2);
	/* ... but not one whose source is an ordinary address */
	len = make_pkt(pkt, "192.0.2.8", "192.0.2.7");
	receive_data(0, pkt, len, "10.0.0.2", 7471);
	assert_int_equal(ngw, 2);
	assert_int_equal(d.cnt.gw_src_not_capsule, 1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_to_local_capsule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frozen_and_bad_destinations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_to_peer_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queued_during_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_data_and_redirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordinary_peer_via_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_for_the_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_most_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pieces_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway_joins_wire_pieces_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_cut_to_the_capsule_link, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
