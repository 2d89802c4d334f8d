/* test_host_capture.c: unit tests for the capture format's pure parts (capture.h): pcap headers, which packets and datagrams are about a capsule, the outer headers of a wire record. */
#include "hosts/formats/capture.h"
#include "hosts/common/ipv4.h"
#include "hosts/formats/wire.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static uint32_t ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static void global_header(void **state)
{
	(void)state;
	struct capture_global g;
	capture_global_init(&g);
	uint8_t raw[CAPTURE_GLOBAL_LEN];
	memcpy(raw, &g, sizeof raw);
	/* what libpcap reads, in this machine's (little-endian) order */
	static const uint8_t want[CAPTURE_GLOBAL_LEN] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
	                                                  0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0 };
	assert_memory_equal(raw, want, sizeof want);
	assert_int_equal(capture_global_check(&g), 0);
	struct capture_global bad = g;
	bad.linktype = 1;
	assert_int_equal(capture_global_check(&bad), -1);
	bad = g;
	bad.magic = 0xa1b23c4du;   /* nanosecond pcap: not what caphostd sends */
	assert_int_equal(capture_global_check(&bad), -1);
	bad = g;
	bad.version_minor = 3;
	assert_int_equal(capture_global_check(&bad), -1);
}

/* A 20-byte IPv4 header from src to dst. */
static void inner(uint8_t *p, const char *src, const char *dst)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	p[3] = 20;
	uint32_t s = ip(src), d = ip(dst);
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
}

static void inner_match(void **state)
{
	(void)state;
	uint8_t p[20];
	inner(p, "198.18.0.2", "198.19.0.100");
	assert_true(capture_inner_match(p, sizeof p, ip("198.18.0.2")));
	assert_false(capture_inner_match(p, sizeof p, ip("198.18.0.3")));
	inner(p, "198.19.0.100", "198.18.0.2");
	assert_true(capture_inner_match(p, sizeof p, ip("198.18.0.2")));
	assert_false(capture_inner_match(p, 19, ip("198.18.0.2")));   /* a runt */
	p[0] = 0x65;                                                    /* IPv6 version */
	assert_false(capture_inner_match(p, sizeof p, ip("198.18.0.2")));
}

/* A datagram of type t with payload pl (plen bytes) into d; its length. */
static size_t dgram(uint8_t *d, int t, const uint8_t *pl, size_t plen)
{
	memset(d, 0, WIRE_HDR_LEN);
	d[0] = WIRE_VERSION;
	d[1] = (uint8_t)t;
	d[24] = (uint8_t)(plen >> 8);
	d[25] = (uint8_t)plen;
	memcpy(d + WIRE_HDR_LEN, pl, plen);
	memset(d + WIRE_HDR_LEN + plen, 0xaa, WIRE_TAG_LEN);
	return WIRE_HDR_LEN + plen + WIRE_TAG_LEN;
}

static void wire_match(void **state)
{
	(void)state;
	uint8_t d[256], pl[64] = { 0 };
	uint32_t x = ip("198.18.0.2"), other = ip("198.18.0.9");
	size_t n;
	inner(pl, "198.19.0.100", "198.18.0.2");
	n = dgram(d, WIRE_DATA, pl, 20);
	assert_true(capture_wire_match(d, n, x));
	assert_false(capture_wire_match(d, n, other));
	/* capsule_ip first: REDIRECT (20), FLUSH (16), HOLD (20 + 44 n) */
	int first[] = { WIRE_REDIRECT, WIRE_FLUSH, WIRE_HOLD };
	size_t lens[] = { 20, 16, 20 };
	for (int i = 0; i < 3; i++) {
		memset(pl, 0, sizeof pl);
		memcpy(pl, &x, 4);
		n = dgram(d, first[i], pl, lens[i]);
		assert_true(capture_wire_match(d, n, x));
		assert_false(capture_wire_match(d, n, other));
	}
	/* kind, reserved, then capsule_ip: SYNC (32), ACK (20), GAPS (an ASK: 20) */
	int second[] = { WIRE_SYNC, WIRE_ACK, WIRE_GAPS };
	size_t lens2[] = { 32, 20, 20 };
	for (int i = 0; i < 3; i++) {
		memset(pl, 0, sizeof pl);
		pl[0] = 1;
		memcpy(pl + 4, &x, 4);
		n = dgram(d, second[i], pl, lens2[i]);
		assert_true(capture_wire_match(d, n, x));
		assert_false(capture_wire_match(d, n, other));
		/* every truncation is refused, never read beyond */
		for (size_t k = 0; k < n; k++)
			assert_false(capture_wire_match(d, k, x) && k < WIRE_OVERHEAD);
	}
	/* a length field beyond the datagram, another version, an unknown type */
	n = dgram(d, WIRE_FLUSH, pl, 16);
	d[25] = 200;
	assert_false(capture_wire_match(d, n, x));
	n = dgram(d, WIRE_FLUSH, pl, 16);
	d[0] = 2;
	assert_false(capture_wire_match(d, n, x));
	n = dgram(d, 8, pl, 16);
	assert_false(capture_wire_match(d, n, x));
	/* a payload too short for the field */
	n = dgram(d, WIRE_ACK, pl, 6);
	assert_false(capture_wire_match(d, n, x));
}

static void outer_build(void **state)
{
	(void)state;
	uint8_t o[CAPTURE_OUTER_LEN];
	assert_int_equal(capture_outer_build(o, 60, ip("198.19.0.1"), 7471, ip("198.19.0.4"), 7471), 0);
	assert_int_equal(ipv4_sum(0, o, 20), 0xffff);   /* the header checksum is right */
	assert_int_equal(o[0], 0x45);
	assert_int_equal(o[2] << 8 | o[3], 60 + 28);   /* total length */
	assert_int_equal(o[6], 0x40);                   /* DF */
	assert_int_equal(o[8], 64);
	assert_int_equal(o[9], 17);
	uint32_t s, d;
	ipv4_addrs(o, &s, &d);
	assert_int_equal(s, ip("198.19.0.1"));
	assert_int_equal(d, ip("198.19.0.4"));
	assert_int_equal(o[20] << 8 | o[21], 7471);
	assert_int_equal(o[22] << 8 | o[23], 7471);
	assert_int_equal(o[24] << 8 | o[25], 60 + 8);   /* UDP length */
	assert_int_equal(o[26] << 8 | o[27], 0);        /* no UDP checksum */
	assert_int_equal(capture_outer_build(o, 65535 - 28, 1, 1, 2, 2), 0);
	assert_int_equal(capture_outer_build(o, 65535 - 27, 1, 1, 2, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(global_header),
		cmocka_unit_test(inner_match),
		cmocka_unit_test(wire_match),
		cmocka_unit_test(outer_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
