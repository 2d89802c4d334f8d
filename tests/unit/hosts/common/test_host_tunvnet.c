/* test_host_tunvnet.c: caprun's own reads and writes on a TUN with IFF_VNET_HDR (tunvnet.c): header stripped and added, an open checksum finished, bad offsets refused. */
#include "hosts/common/tunvnet.h"
#include "hosts/common/ipv4.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

/* A TCP/IPv4 packet 198.18.0.1 -> 198.18.0.2 with 7 payload bytes, its checksum field the pseudo-header's sum. */
static size_t open_packet(uint8_t *p)
{
	memset(p, 0, 47);
	p[0] = 0x45;
	p[3] = 47;
	p[8] = 64;
	p[9] = 6;
	memcpy(p + 12, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	p[32] = 0x50;
	p[33] = 0x18;
	memcpy(p + 40, "payload", 7);
	uint8_t ph[12] = { 0 };
	memcpy(ph, p + 12, 8);
	ph[9] = 6;
	ph[11] = 27;
	uint32_t s = ipv4_sum(0, ph, 12);
	p[36] = (uint8_t)(s >> 8);
	p[37] = (uint8_t)s;
	return 47;
}

static uint32_t tcp_verify(const uint8_t *p, size_t len)
{
	uint8_t ph[12] = { 0 };
	memcpy(ph, p + 12, 8);
	ph[9] = 6;
	ph[11] = (uint8_t)(len - 20);
	return ipv4_sum(ipv4_sum(0, ph, 12), p + 20, len - 20);
}

static void test_read_strips_the_header_and_finishes_the_sum(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	uint8_t pkt[64], got[128];
	size_t n = open_packet(pkt);
	struct cap_vnet_hdr h = { .flags = CAP_VNET_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 16 };
	struct iovec iov[2] = { { &h, sizeof h }, { pkt, n } };
	assert_int_equal(writev(sv[1], iov, 2), (ssize_t)(sizeof h + n));
	assert_int_equal(tunvnet_read(sv[0], 1, got, sizeof got), (ssize_t)n);
	assert_memory_equal(got, pkt, 36);
	assert_int_equal(tcp_verify(got, n), 0xffff);
	/* write: a zero header in front, the packet's length returned */
	assert_int_equal(tunvnet_write(sv[1], 1, "abc", 3), 3);
	assert_int_equal(read(sv[0], got, sizeof got), (ssize_t)sizeof h + 3);
	struct cap_vnet_hdr zero = { 0 };
	assert_memory_equal(got, &zero, sizeof zero);
	assert_memory_equal(got + sizeof zero, "abc", 3);
	/* without the flag: bytes as they are */
	assert_int_equal(tunvnet_write(sv[1], 0, "abc", 3), 3);
	assert_int_equal(tunvnet_read(sv[0], 0, got, sizeof got), 3);
	close(sv[0]);
	close(sv[1]);
}

static void test_offsets_past_the_packet_are_refused(void **state)
{
	(void)state;
	uint8_t pkt[64];
	size_t n = open_packet(pkt);
	struct cap_vnet_hdr h = { .flags = CAP_VNET_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 26 };
	assert_int_equal(tunvnet_finish_csum(&h, pkt, n), -1);
	h.csum_start = 47;
	h.csum_offset = 0;
	assert_int_equal(tunvnet_finish_csum(&h, pkt, n), -1);
	h.csum_start = 20;
	h.csum_offset = 16;
	assert_int_equal(tunvnet_finish_csum(&h, pkt, n), 0);
	assert_int_equal(tcp_verify(pkt, n), 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_strips_the_header_and_finishes_the_sum),
		cmocka_unit_test(test_offsets_past_the_packet_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
