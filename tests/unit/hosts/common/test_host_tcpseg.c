/* test_host_tcpseg.c: unit tests for cutting a TCP segment into wire-sized pieces and joining them: every piece a valid segment, the join byte for byte the original, and everything that must go whole. */
#include "hosts/common/tcpseg.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MAX_LEN 1428   /* a 1,500-byte wire: 1500 - 20 - 8 - 44 */

/* Does seg (after ip's 20-byte header) carry a right TCP checksum? */
static int tcp_csum_ok(const uint8_t *ip, size_t len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	host_put16(pseudo + 10, (uint16_t)(len - 20));
	return ipv4_sum(ipv4_sum(0, pseudo, sizeof pseudo), ip + 20, len - 20) == 0xffff;
}

/* An IPv4/TCP segment 198.18.0.5:40000 -> 198.18.1.7:7 with data bytes of a pattern and
 * topt bytes of TCP options; both checksums right.  Returns its length. */
static size_t segment(uint8_t *p, size_t data, uint8_t flags, size_t topt)
{
	size_t hlen = 20 + topt, len = 20 + hlen + data;
	memset(p, 0, 20 + hlen);
	p[0] = 0x45;
	host_put16(p + 2, (uint16_t)len);
	host_put16(p + 4, 0x1000);
	p[6] = 0x40;   /* DF */
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, (uint8_t[]){ 198, 18, 0, 5, 198, 18, 1, 7 }, 8);
	uint8_t *t = p + 20;
	host_put16(t, 40000);
	host_put16(t + 2, 7);
	host_put32(t + 4, 0xfffff000u);   /* wraps inside the segment */
	host_put32(t + 8, 0x12345678u);
	t[12] = (uint8_t)(hlen / 4 << 4);
	t[13] = flags;
	host_put16(t + 14, 0xffff);
	for (size_t i = 0; i < topt; i++)
		t[20 + i] = 1;   /* NOP */
	for (size_t i = 0; i < data; i++)
		p[20 + hlen + i] = (uint8_t)(i * 7 + i / 251);
	host_put16(p + 10, ipv4_csum_field(ipv4_sum(0, p, 20)));
	uint8_t pseudo[12];
	memcpy(pseudo, p + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	host_put16(pseudo + 10, (uint16_t)(len - 20));
	host_put16(t + 16, ipv4_csum_field(ipv4_sum(ipv4_sum(0, pseudo, sizeof pseudo), t, len - 20)));
	return len;
}

static uint8_t pkt[65535], piece[TCPSEG_MAX_PIECES][MAX_LEN], joined[65535];

static void test_cut_and_join_back(void **st)
{
	(void)st;
	size_t len = segment(pkt, 60000, 0x18 /* ACK PSH */, 12);
	assert_int_equal(ipv4_check(pkt, len, IPV4_CHECK_CSUM), IPV4_OK);
	size_t payload = tcpseg_piece_payload(pkt, len, MAX_LEN);
	assert_int_equal(payload, MAX_LEN - 20 - 32);
	unsigned n = tcpseg_pieces(pkt, len, payload);
	assert_int_equal(n, (60000 + payload - 1) / payload);
	struct tcpseg_join j = { .buf = joined, .cap = sizeof joined };
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t plen = tcpseg_piece(pkt, len, payload, i, piece[i]);
		size_t data = plen - 52;
		assert_true(plen <= MAX_LEN);
		assert_int_equal(data, i + 1 < n ? payload : 60000 - off);
		assert_int_equal(ipv4_check(piece[i], plen, IPV4_CHECK_CSUM), IPV4_OK);
		assert_true(tcp_csum_ok(piece[i], plen));
		assert_int_equal(host_get16(piece[i] + 4), 0x1000 + i);
		assert_int_equal(host_get32(piece[i] + 24), (uint32_t)(0xfffff000u + off));
		assert_int_equal(piece[i][33], i + 1 < n ? 0x10 : 0x18);   /* PSH on the last only */
		assert_memory_equal(piece[i] + 40, pkt + 40, 12);           /* the options */
		assert_memory_equal(piece[i] + 52, pkt + 52 + off, data);
		off += data;
		assert_int_equal(tcpseg_join_add(&j, piece[i], plen), 1);
	}
	assert_int_equal(off, 60000);
	assert_int_equal(j.pieces, n);
	assert_int_equal(tcpseg_join_take(&j), len);
	assert_memory_equal(joined, pkt, len);   /* byte for byte, checksums included */
	assert_int_equal(j.len, 0);
}

static void test_fin_and_cwr(void **st)
{
	(void)st;
	size_t len = segment(pkt, 5000, 0x91 /* CWR ACK FIN */, 0);
	size_t payload = tcpseg_piece_payload(pkt, len, MAX_LEN);
	unsigned n = tcpseg_pieces(pkt, len, payload);
	assert_int_equal(n, 4);
	for (unsigned i = 0; i < n; i++) {
		size_t plen = tcpseg_piece(pkt, len, payload, i, piece[i]);
		assert_int_equal(piece[i][33], i == 0 ? 0x90 : i + 1 < n ? 0x10 : 0x11);
		assert_true(tcp_csum_ok(piece[i], plen));
	}
}

static void test_goes_whole(void **st)
{
	(void)st;
	size_t len = segment(pkt, 3000, 0x10, 0);
	assert_int_equal(tcpseg_piece_payload(pkt, len, len), 0);           /* fits */
	assert_int_equal(tcpseg_piece_payload(pkt, len, 40 + 100), 0);      /* pieces too small */
	pkt[33] = 0x12;                                                      /* SYN */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	pkt[33] = 0x30;                                                      /* URG */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	pkt[33] = 0x08;                                                      /* no ACK */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	len = segment(pkt, 3000, 0x10, 0);
	pkt[9] = 17;                                                         /* UDP */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	len = segment(pkt, 3000, 0x10, 0);
	pkt[6] = 0x20;                                                       /* a fragment */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	len = segment(pkt, 3000, 0x10, 0);
	pkt[0] = 0x46;                                                       /* IP options */
	assert_int_equal(tcpseg_piece_payload(pkt, len, MAX_LEN), 0);
	len = segment(pkt, 65000, 0x10, 0);
	assert_int_equal(tcpseg_piece_payload(pkt, len, 40 + 256), 256);    /* 254 pieces */
	assert_int_equal(tcpseg_piece_payload(pkt, len, 40 + 255), 0);      /* too small a piece */
}

/* Cut a 3-piece segment into piece[]: their lengths in plen[]. */
static void three(size_t plen[3])
{
	size_t len = segment(pkt, 3000, 0x10, 0);
	size_t payload = tcpseg_piece_payload(pkt, len, 1040);   /* 1000 bytes each */
	assert_int_equal(tcpseg_pieces(pkt, len, payload), 3);
	for (unsigned i = 0; i < 3; i++)
		plen[i] = tcpseg_piece(pkt, len, payload, i, piece[i]);
}

static void test_join_refuses(void **st)
{
	(void)st;
	size_t plen[3];
	struct tcpseg_join j = { .buf = joined, .cap = sizeof joined };
	three(plen);
	/* out of order: the third does not continue the first */
	assert_int_equal(tcpseg_join_add(&j, piece[0], plen[0]), 1);
	assert_int_equal(tcpseg_join_add(&j, piece[2], plen[2]), 0);
	assert_int_equal(j.pieces, 1);
	/* a single piece is taken as it came */
	assert_int_equal(tcpseg_join_take(&j), plen[0]);
	assert_memory_equal(joined, piece[0], plen[0]);
	/* another acknowledgment, window, TTL, port: not the same stream of segments */
	static const size_t field[] = { 28, 34, 8, 22 };
	for (unsigned f = 0; f < 4; f++) {
		three(plen);
		assert_int_equal(tcpseg_join_add(&j, piece[0], plen[0]), 1);
		piece[1][field[f]] ^= 1;
		assert_int_equal(tcpseg_join_add(&j, piece[1], plen[1]), 0);
		tcpseg_join_take(&j);
	}
	/* the room ends it: a cap of two pieces */
	three(plen);
	j.cap = plen[0] + 1000;
	assert_int_equal(tcpseg_join_add(&j, piece[0], plen[0]), 1);
	assert_int_equal(tcpseg_join_add(&j, piece[1], plen[1]), 1);
	assert_int_equal(tcpseg_join_add(&j, piece[2], plen[2]), 0);
	assert_int_equal(tcpseg_join_take(&j), plen[0] + 1000);
	assert_int_equal(ipv4_check(joined, plen[0] + 1000, IPV4_CHECK_CSUM), IPV4_OK);
	assert_true(tcp_csum_ok(joined, plen[0] + 1000));
	j.cap = sizeof joined;
	/* a longer piece after a shorter one, and anything after PSH */
	size_t len = segment(pkt, 2500, 0x18, 0);
	size_t payload = tcpseg_piece_payload(pkt, len, 1040);
	for (unsigned i = 0; i < 3; i++)
		plen[i] = tcpseg_piece(pkt, len, payload, i, piece[i]);
	assert_int_equal(tcpseg_join_add(&j, piece[2], plen[2]), 1);   /* 500 bytes, PSH: closed */
	assert_int_equal(j.closed, 1);
	tcpseg_join_take(&j);
	assert_int_equal(tcpseg_join_add(&j, piece[0], plen[0]), 1);
	assert_int_equal(tcpseg_join_add(&j, piece[1], plen[1]), 1);
	assert_int_equal(tcpseg_join_add(&j, piece[2], plen[2]), 1);
	assert_int_equal(tcpseg_join_take(&j), len);
	assert_memory_equal(joined, pkt, len);
	/* a pure ACK (no payload) never joins */
	len = segment(pkt, 0, 0x10, 0);
	assert_int_equal(tcpseg_join_add(&j, pkt, len), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_and_join_back),
		cmocka_unit_test(test_fin_and_cwr),
		cmocka_unit_test(test_goes_whole),
		cmocka_unit_test(test_join_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
