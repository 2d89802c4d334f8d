/* test_host_tcpmss.c: unit tests for lowering a SYN's MSS: a real Linux SYN, checksums computed independently, and every packet left alone. */
#include "hosts/common/tcpmss.h"
#include "hosts/common/ipv4.h"
#include "hosts/formats/wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/*
 * A SYN Linux 6.x sent from 198.18.5.1:58204 to 198.18.5.1:7000 (tcpdump on
 * lo), options MSS 65495, SACK permitted, timestamps, NOP, window scale 10;
 * its TCP checksum (offloaded on lo) set to the full value, 849b, by an
 * independent computation (Python), as is 7f07 for the same SYN with MSS 1388.
 */
static const uint8_t syn[60] = {
	0x45, 0x00, 0x00, 0x3c, 0x9f, 0x21, 0x40, 0x00, 0x40, 0x06, 0x05, 0x74, 0xc6, 0x12, 0x05, 0x01,
	0xc6, 0x12, 0x05, 0x01, 0xe3, 0x5c, 0x1b, 0x58, 0xd3, 0x54, 0xaa, 0xac, 0x00, 0x00, 0x00, 0x00,
	0xa0, 0x02, 0xff, 0xd7, 0x84, 0x9b, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a,
	0x42, 0xb7, 0x73, 0xd1, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a };

static void test_clamps_real_syn(void **st)
{
	(void)st;
	assert_int_equal(ipv4_check(syn, sizeof syn, IPV4_CHECK_CSUM), IPV4_OK);
	uint8_t out[TCPMSS_SYN_MAX];
	assert_int_equal(tcpmss_clamp(syn, sizeof syn, 1388, out, sizeof out), 1);
	/* Only the MSS value and the TCP checksum differ; the IP header is untouched. */
	uint8_t want[60];
	memcpy(want, syn, sizeof want);
	want[42] = 1388 >> 8, want[43] = 1388 & 0xff;
	want[36] = 0x7f, want[37] = 0x07;
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(ipv4_check(out, sizeof syn, IPV4_CHECK_CSUM), IPV4_OK);
}

static void test_leaves_alone(void **st)
{
	(void)st;
	uint8_t p[60], out[TCPMSS_SYN_MAX];
	memset(out, 0xee, sizeof out);
	/* small enough already */
	assert_int_equal(tcpmss_clamp(syn, sizeof syn, 65495, out, sizeof out), 0);
	/* no room for the copy */
	assert_int_equal(tcpmss_clamp(syn, sizeof syn, 1388, out, 59), 0);
	/* not a SYN (ACK only) */
	memcpy(p, syn, sizeof p);
	p[33] = 0x10;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* not TCP */
	memcpy(p, syn, sizeof p);
	p[9] = 17;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* a fragment: more-fragments set, or an offset */
	memcpy(p, syn, sizeof p);
	p[6] = 0x20;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	p[6] = 0x00, p[7] = 0x01;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* no MSS option: the first option made a NOP pair and an end */
	memcpy(p, syn, sizeof p);
	p[40] = p[41] = p[42] = p[43] = 0x01;
	p[44] = 0x00;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* malformed: an option of length 0 before the MSS, one running past the header */
	memcpy(p, syn, sizeof p);
	p[40] = 0x04, p[41] = 0x00;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	p[41] = 40;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* an MSS option of the wrong length */
	memcpy(p, syn, sizeof p);
	p[41] = 3;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* a data offset past the segment */
	memcpy(p, syn, sizeof p);
	p[32] = 0xf0;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1388, out, sizeof out), 0);
	/* out was never written */
	for (size_t i = 0; i < sizeof out; i++)
		assert_int_equal(out[i], 0xee);
}

/* A SYN-ACK (SYN and ACK set) is clamped like a SYN: it announces the other side's MSS. */
static void test_clamps_syn_ack(void **st)
{
	(void)st;
	uint8_t p[60], out[TCPMSS_SYN_MAX];
	memcpy(p, syn, sizeof p);
	p[33] = 0x12;
	assert_int_equal(tcpmss_clamp(p, sizeof p, 1000, out, sizeof out), 1);
	assert_int_equal(out[42] << 8 | out[43], 1000);
	/* The checksum is right: pseudo-header + segment sum to ffff. */
	uint8_t pseudo[12] = { 0xc6, 0x12, 0x05, 0x01, 0xc6, 0x12, 0x05, 0x01, 0, 6, 0, 40 };
	assert_int_equal(ipv4_sum(ipv4_sum(0, pseudo, sizeof pseudo), out + 20, 40), 0xffff);
}

/* Set to any value, raised too (the gateway's ordinary peers): value and checksum right. */
static void test_set_and_read(void **st)
{
	(void)st;
	uint8_t out[TCPMSS_SYN_MAX], back[TCPMSS_SYN_MAX];
	assert_int_equal(tcpmss_of(syn, sizeof syn), 65495);
	assert_int_equal(tcpmss_set(syn, sizeof syn, 1388, out, sizeof out), 1);
	assert_int_equal(tcpmss_of(out, sizeof syn), 1388);
	assert_int_equal(out[36], 0x7f);   /* the same checksum as lowering (Python's 7f07) */
	assert_int_equal(out[37], 0x07);
	/* raised from 1388 to 64960: back to the right checksum for that value */
	assert_int_equal(tcpmss_set(out, sizeof syn, 64960, back, sizeof back), 1);
	assert_int_equal(tcpmss_of(back, sizeof syn), 64960);
	uint8_t pseudo[12] = { 0 };
	memcpy(pseudo, back + 12, 8);
	pseudo[9] = 6;
	pseudo[11] = (uint8_t)(sizeof syn - 20);
	assert_int_equal(ipv4_sum(ipv4_sum(0, pseudo, sizeof pseudo), back + 20, sizeof syn - 20),
	                 0xffff);
	/* the same value: nothing written; not a SYN: no MSS to read */
	assert_int_equal(tcpmss_set(back, sizeof syn, 64960, out, sizeof out), 0);
	memcpy(out, syn, sizeof syn);
	out[33] = 0x10;
	assert_int_equal(tcpmss_of(out, sizeof syn), 0);
	assert_int_equal(tcpmss_set(out, sizeof syn, 1000, back, sizeof back), 0);
}

static void test_mss_for_wire(void **st)
{
	(void)st;
	/* 1500 - 20 - 8 - 44 - 20 - 20 */
	assert_int_equal(tcpmss_for_wire(1500, WIRE_OVERHEAD), 1388);
	assert_int_equal(tcpmss_for_wire(9000, WIRE_OVERHEAD), 8888);
	assert_int_equal(tcpmss_for_wire(576, WIRE_OVERHEAD), 536);   /* never below the minimum */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clamps_real_syn),
		cmocka_unit_test(test_leaves_alone),
		cmocka_unit_test(test_clamps_syn_ack),
		cmocka_unit_test(test_mss_for_wire),
		cmocka_unit_test(test_set_and_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
