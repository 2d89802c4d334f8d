/* test_host_ipv4.c: unit tests for the hosts' IPv4 primitives: checksum vectors, every header-check verdict, the capsule network. */
#include "hosts/common/ipv4.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* RFC 1071 section 3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
static void test_sum_rfc1071(void **st)
{
	(void)st;
	const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(ipv4_sum(0, b, sizeof b), 0xddf2);
	assert_int_equal(ipv4_csum_field(ipv4_sum(0, b, sizeof b)), 0x220d);
	/* Summed in pieces (even lengths but the last), the same. */
	assert_int_equal(ipv4_sum(ipv4_sum(0, b, 2), b + 2, 6), 0xddf2);
	assert_int_equal(ipv4_sum(ipv4_sum(ipv4_sum(0, b, 4), b + 4, 2), b + 6, 2), 0xddf2);
}

/* A real header (the textbook one): its stored checksum b861 is right, so it sums to ffff. */
static const uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };

static void test_sum_header(void **st)
{
	(void)st;
	uint8_t h[20];
	memcpy(h, hdr, sizeof h);
	assert_int_equal(ipv4_sum(0, h, sizeof h), 0xffff);
	h[10] = h[11] = 0;
	assert_int_equal(ipv4_csum_field(ipv4_sum(0, h, sizeof h)), 0xb861);
}

static void test_sum_odd_and_long(void **st)
{
	(void)st;
	const uint8_t odd[] = { 0x01, 0x02, 0x03 };   /* 0102 + 0300 (padded) */
	assert_int_equal(ipv4_sum(0, odd, sizeof odd), 0x0402);
	assert_int_equal(ipv4_sum(0x1234, NULL, 0), 0x1234);
	/* 64 KiB of ff: must not overflow; the one's-complement sum of ffff words is ffff. */
	uint8_t *big = malloc(65536);
	assert_non_null(big);
	memset(big, 0xff, 65536);
	assert_int_equal(ipv4_sum(0, big, 65536), 0xffff);
	memset(big, 0x80, 65536);   /* 32768 words of 8080: 8080 * 32768 mod ffff */
	assert_int_equal(ipv4_sum(0, big, 65536), (uint32_t)((0x8080ull * 32768) % 0xffff));
	free(big);
}

/* A checked packet of len bytes: the header above with total length len, checksum fixed. */
static size_t packet(uint8_t *p, size_t len)
{
	memset(p, 0, len);
	memcpy(p, hdr, sizeof hdr);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[10] = p[11] = 0;
	uint16_t c = ipv4_csum_field(ipv4_sum(0, p, 20));
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	return len;
}

static void test_check_ok(void **st)
{
	(void)st;
	uint8_t p[64];
	size_t n = packet(p, 40);
	assert_int_equal(ipv4_check(p, n, 0), IPV4_OK);
	assert_int_equal(ipv4_check(p, n, IPV4_CHECK_CSUM), IPV4_OK);
	assert_int_equal(ipv4_check(p, n, IPV4_CHECK_CSUM | IPV4_CHECK_PADDED), IPV4_OK);
	/* Link padding after the packet: only with IPV4_CHECK_PADDED. */
	assert_int_equal(ipv4_check(p, 46, IPV4_CHECK_PADDED | IPV4_CHECK_CSUM), IPV4_OK);
	assert_int_equal(ipv4_check(p, 46, IPV4_CHECK_CSUM), IPV4_E_LENGTH);
	uint32_t s, d;
	ipv4_addrs(p, &s, &d);
	const uint8_t *sb = (const uint8_t *)&s, *db = (const uint8_t *)&d;
	assert_int_equal(sb[0], 192);
	assert_int_equal(sb[3], 1);
	assert_int_equal(db[3], 0xc7);
}

static void test_check_failures(void **st)
{
	(void)st;
	uint8_t p[64];
	/* short */
	packet(p, 40);
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(ipv4_check(p, n, IPV4_CHECK_PADDED), IPV4_E_SHORT);
	/* version */
	packet(p, 40);
	p[0] = 0x65;
	assert_int_equal(ipv4_check(p, 40, 0), IPV4_E_VERSION);
	/* header length below 20 bytes, or beyond the packet */
	packet(p, 40);
	p[0] = 0x44;
	assert_int_equal(ipv4_check(p, 40, 0), IPV4_E_IHL);
	packet(p, 40);
	p[0] = 0x4f;   /* 60 bytes of header in a 40-byte packet */
	assert_int_equal(ipv4_check(p, 40, IPV4_CHECK_PADDED), IPV4_E_IHL);
	/* total length: not len; padded: below the header or beyond len */
	packet(p, 40);
	assert_int_equal(ipv4_check(p, 39, 0), IPV4_E_LENGTH);
	assert_int_equal(ipv4_check(p, 41, 0), IPV4_E_LENGTH);
	assert_int_equal(ipv4_check(p, 39, IPV4_CHECK_PADDED), IPV4_E_LENGTH);
	p[2] = 0;
	p[3] = 19;
	assert_int_equal(ipv4_check(p, 40, IPV4_CHECK_PADDED), IPV4_E_LENGTH);
	/* checksum: only checked when asked */
	packet(p, 40);
	p[8] ^= 1;   /* TTL */
	assert_int_equal(ipv4_check(p, 40, 0), IPV4_OK);
	assert_int_equal(ipv4_check(p, 40, IPV4_CHECK_CSUM), IPV4_E_CSUM);
	/* The first failure wins: a wrong version is reported before a wrong length. */
	p[0] = 0x55;
	assert_int_equal(ipv4_check(p, 41, IPV4_CHECK_CSUM), IPV4_E_VERSION);
}

/* Every byte string, every length: no reads beyond len (ASan watches), a verdict in range. */
static void test_check_any_bytes(void **st)
{
	(void)st;
	uint32_t rng = 12345;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(i % 70);
		uint8_t *p = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++) {
			rng = rng * 1103515245u + 12345u;
			p[k] = (uint8_t)(rng >> 16);
		}
		if (len)
			p[0] = (uint8_t)(0x40 | (p[0] & 0x0f));
		int v = ipv4_check(p, len, (unsigned)i & 3u);
		assert_true(v >= IPV4_OK && v <= IPV4_E_CSUM);
		free(p);
	}
}

static void test_capnet(void **st)
{
	(void)st;
	assert_true(ipv4_in_capnet(IPV4_CAPNET_BASE, 16));
	assert_true(ipv4_in_capnet(IPV4_CAPNET_BASE, 15));
	assert_true(ipv4_in_capnet(0xc6130000u, 16));    /* 198.19.0.0/16: the second half */
	assert_false(ipv4_in_capnet(IPV4_CAPNET_BASE, 14));
	assert_false(ipv4_in_capnet(0xc6140000u, 16));   /* 198.20.0.0 */
	assert_false(ipv4_in_capnet(0x0a000000u, 24));   /* 10.0.0.0 */
	assert_int_equal(IPV4_CAPNET_GATEWAY & IPV4_CAPNET_DEFAULT_MASK, IPV4_CAPNET_BASE);
	assert_int_equal(IPV4_CAPNET_DEFAULT_MASK, 0xffffffffu << (32 - IPV4_CAPNET_DEFAULT_BITS));
	assert_int_equal(IPV4_CAPNET_MASK, 0xffffffffu << (32 - IPV4_CAPNET_BITS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_rfc1071),
		cmocka_unit_test(test_sum_header),
		cmocka_unit_test(test_sum_odd_and_long),
		cmocka_unit_test(test_check_ok),
		cmocka_unit_test(test_check_failures),
		cmocka_unit_test(test_check_any_bytes),
		cmocka_unit_test(test_capnet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
