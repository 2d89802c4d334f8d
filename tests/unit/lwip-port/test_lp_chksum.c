/* test_lp_chksum.c: lwip-port's Internet checksum (chksum.c) against lwIP's own algorithm 2, byte for byte, at every length and alignment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lwip-port/chksum.h"

/* lwIP 2.1.3's lwip_standard_chksum, LWIP_CHKSUM_ALGORITHM 2 (core/inet_chksum.c), as the reference. */
static uint16_t reference(const void *dataptr, int len)
{
	const uint8_t *pb = dataptr;
	const uint16_t *ps;
	uint16_t t = 0;
	uint32_t sum = 0;
	int odd = (int)((uintptr_t)pb & 1);
	if (odd && len > 0) {
		((uint8_t *)&t)[1] = *pb++;
		len--;
	}
	ps = (const uint16_t *)(const void *)pb;
	while (len > 1) {
		sum += *ps++;
		len -= 2;
	}
	if (len > 0)
		((uint8_t *)&t)[0] = *(const uint8_t *)ps;
	sum += t;
	sum = (sum >> 16) + (sum & 0xffffu);
	sum = (sum >> 16) + (sum & 0xffffu);
	if (odd)
		sum = ((sum & 0xff) << 8) | ((sum & 0xff00) >> 8);
	return (uint16_t)sum;
}

static void test_same_as_lwip_everywhere(void **state)
{
	(void)state;
	static _Alignas(16) uint8_t buf[70000];
	srand(12);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rand();
	for (int start = 0; start < 8; start++)
		for (int len = 0; len < 300; len++)
			assert_int_equal(lp_chksum(buf + start, len), reference(buf + start, len));
	for (int start = 0; start < 4; start++)
		for (int len = 1400; len <= 65535; len += 3001)
			assert_int_equal(lp_chksum(buf + start, len), reference(buf + start, len));
	memset(buf, 0xff, sizeof buf);   /* the largest sums: every carry */
	for (int start = 0; start < 2; start++)
		assert_int_equal(lp_chksum(buf + start, 65535), reference(buf + start, 65535));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_lwip_everywhere),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
