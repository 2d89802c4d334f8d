/* test_lp_vnet.c: lwip-port's offload headers (vnet.c): open checksums the kernel finishes right, and which TCP segments may be joined into one GSO packet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lwip-port/vnet.h"

/* RFC 1071 over big-endian words, written apart from chksum.c: folded, not inverted. */
static uint32_t sum_be(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

/* The TCP checksum a receiver computes over pkt: 0xffff when the field is right. */
static uint32_t tcp_verify(const uint8_t *pkt, size_t len)
{
	uint8_t ph[12] = { 0 };
	memcpy(ph, pkt + 12, 8);
	ph[9] = 6;
	ph[10] = (uint8_t)((len - 20) >> 8);
	ph[11] = (uint8_t)(len - 20);
	return sum_be(sum_be(0, ph, 12), pkt + 20, len - 20);
}

/* What the kernel does with NEEDS_CSUM: sum from csum_start to the end, field included. */
static void kernel_finish(const struct cap_vnet_hdr *vh, uint8_t *pkt, size_t len)
{
	uint16_t v = (uint16_t)~sum_be(0, pkt + vh->csum_start, len - vh->csum_start);
	pkt[vh->csum_start + vh->csum_offset] = (uint8_t)(v >> 8);
	pkt[vh->csum_start + vh->csum_offset + 1] = (uint8_t)v;
}

/* An lwIP-built segment 198.18.0.2:7 -> 198.18.0.1:40000, checksum field left 0. */
static size_t segment(uint8_t *pkt, uint32_t seq, uint8_t flags, size_t payload, uint8_t fill)
{
	memset(pkt, 0, 40);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)((40 + payload) >> 8);
	pkt[3] = (uint8_t)(40 + payload);
	pkt[4] = fill;   /* IP ID: differs per packet */
	pkt[8] = 255;
	pkt[9] = 6;
	memcpy(pkt + 12, "\xc6\x12\x00\x02\xc6\x12\x00\x01", 8);
	uint8_t *t = pkt + 20;
	t[1] = 7;
	t[2] = 0x9c;
	t[3] = 0x40;
	t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16); t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
	memcpy(t + 8, "\x01\x02\x03\x04", 4);
	t[12] = 0x50;
	t[13] = flags;
	t[14] = 0x20;
	for (size_t i = 0; i < payload; i++)
		pkt[40 + i] = (uint8_t)(fill + i);
	return 40 + payload;
}

static uint8_t a[2000], b[2000], c[2000], joined[8000];

static void test_one_segment_checksum_left_to_the_kernel(void **state)
{
	(void)state;
	size_t n = segment(a, 1000, 0x18, 333, 7);   /* odd length, PSH|ACK */
	struct lp_seg s;
	assert_int_equal(lp_vnet_parse(a, n, n, &s), 0);
	assert_int_equal(s.hdrs, 40);
	assert_int_equal(s.payload, 333);
	struct cap_vnet_hdr vh;
	lp_vnet_finish(a, &s, (uint32_t)n, 1, s.flags, &vh);
	assert_int_equal(vh.flags, CAP_VNET_F_NEEDS_CSUM);
	assert_int_equal(vh.gso_type, CAP_VNET_GSO_NONE);
	assert_int_equal(vh.csum_start, 20);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(sum_be(0, a, 20), 0xffff);   /* the IP header's checksum */
	assert_int_not_equal(tcp_verify(a, n), 0xffff); /* only the pseudo-header's sum so far */
	kernel_finish(&vh, a, n);
	assert_int_equal(tcp_verify(a, n), 0xffff);
}

/* Three segments of one write: one GSO packet, cut back by the kernel into the same three. */
static void test_segments_join_into_one_gso_packet(void **state)
{
	(void)state;
	size_t na = segment(a, 5000, 0x10, 1000, 1), nb = segment(b, 6000, 0x10, 1000, 2),
	       nc = segment(c, 7000, 0x18, 500, 3);
	struct lp_seg sa, sb, sc;
	assert_int_equal(lp_vnet_parse(a, na, na, &sa), 0);
	assert_int_equal(lp_vnet_parse(b, nb, nb, &sb), 0);
	assert_int_equal(lp_vnet_parse(c, nc, nc, &sc), 0);
	assert_true(lp_vnet_open_ended(&sa));
	assert_true(lp_vnet_can_follow(a, &sa, 1040, 6000, b, &sb));
	assert_true(lp_vnet_can_follow(a, &sa, 2040, 7000, c, &sc));
	memcpy(joined, a, 40);
	memcpy(joined + 40, a + 40, 1000);
	memcpy(joined + 1040, b + 40, 1000);
	memcpy(joined + 2040, c + 40, 500);
	struct cap_vnet_hdr vh;
	lp_vnet_finish(joined, &sa, 2540, 3, sc.flags, &vh);
	assert_int_equal(vh.gso_type, CAP_VNET_GSO_TCPV4);
	assert_int_equal(vh.gso_size, 1000);
	assert_int_equal(vh.hdr_len, 40);
	assert_int_equal(joined[2] << 8 | joined[3], 2540);
	assert_int_equal(joined[33], 0x18);            /* the last one's PSH */
	assert_int_equal(sum_be(0, joined, 20), 0xffff);
	kernel_finish(&vh, joined, 2540);              /* delivered whole, as after GRO */
	assert_int_equal(tcp_verify(joined, 2540), 0xffff);
}

static void test_what_may_not_follow(void **state)
{
	(void)state;
	size_t na = segment(a, 5000, 0x10, 1000, 1);
	struct lp_seg sa, sb;
	assert_int_equal(lp_vnet_parse(a, na, na, &sa), 0);
	size_t nb;
#define REFUSED(seq, flags, len, edit)                                                   \
	do {                                                                             \
		nb = segment(b, (seq), (flags), (len), 2);                               \
		edit;                                                                    \
		assert_int_equal(lp_vnet_parse(b, nb, nb, &sb), 0);                      \
		assert_false(lp_vnet_can_follow(a, &sa, 1040, 6000, b, &sb));            \
	} while (0)
	REFUSED(6001, 0x10, 1000, (void)0);           /* a gap */
	REFUSED(6000, 0x11, 1000, (void)0);           /* FIN */
	REFUSED(6000, 0x12, 1000, (void)0);           /* SYN */
	REFUSED(6000, 0x14, 1000, (void)0);           /* RST */
	REFUSED(6000, 0x90, 1000, (void)0);           /* CWR */
	REFUSED(6000, 0x10, 1001, (void)0);           /* longer than the first */
	REFUSED(6000, 0x10, 0, (void)0);              /* a pure ACK */
	REFUSED(6000, 0x10, 1000, b[28] = 9);         /* another ack number */
	REFUSED(6000, 0x10, 1000, b[34] = 0x21);      /* another window */
	REFUSED(6000, 0x10, 1000, b[21] = 8);         /* another source port */
	REFUSED(6000, 0x10, 1000, b[15] = 3);         /* another source address */
	REFUSED(6000, 0x10, 1000, b[8] = 64);         /* another TTL */
	nb = segment(b, 6000, 0x10, 1000, 2);
	assert_int_equal(lp_vnet_parse(b, nb, nb, &sb), 0);
	assert_true(lp_vnet_can_follow(a, &sa, 1040, 6000, b, &sb));
	assert_false(lp_vnet_can_follow(a, &sa, 65000, 6000, b, &sb));   /* past 65535 bytes */
	/* a first segment with PSH (or none of data) ends its batch */
	na = segment(a, 5000, 0x18, 1000, 1);
	assert_int_equal(lp_vnet_parse(a, na, na, &sa), 0);
	assert_false(lp_vnet_open_ended(&sa));
	assert_false(lp_vnet_can_follow(a, &sa, 1040, 6000, b, &sb));
}

static void test_parse_refuses_what_is_not_tcp_ipv4(void **state)
{
	(void)state;
	struct lp_seg s;
	size_t n = segment(a, 1, 0x10, 10, 1);
	assert_int_equal(lp_vnet_parse(a, n, n + 1, &s), -1);   /* length disagrees */
	assert_int_equal(lp_vnet_parse(a, 30, n, &s), -1);      /* headers not all there */
	a[9] = 17;
	assert_int_equal(lp_vnet_parse(a, n, n, &s), -1);       /* UDP */
	a[9] = 6;
	a[6] = 0x20;
	assert_int_equal(lp_vnet_parse(a, n, n, &s), -1);       /* a fragment (MF) */
	a[6] = 0x40;
	assert_int_equal(lp_vnet_parse(a, n, n, &s), 0);        /* DF is fine */
	a[0] = 0x65;
	assert_int_equal(lp_vnet_parse(a, n, n, &s), -1);       /* not IPv4 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_segment_checksum_left_to_the_kernel),
		cmocka_unit_test(test_segments_join_into_one_gso_packet),
		cmocka_unit_test(test_what_may_not_follow),
		cmocka_unit_test(test_parse_refuses_what_is_not_tcp_ipv4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
