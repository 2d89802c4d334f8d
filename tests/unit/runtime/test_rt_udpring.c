/* test_rt_udpring.c: the ring of framed datagrams behind UDP sockets in other processes (runtime/udpring.c) on the host: boundaries, addresses, truncation, wrap-around, room. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/rt_udp.h"

/* A slot-sized buffer with a ring at its start (as a send ring's slot holds one). */
static struct udp_ring *new_ring(void)
{
	struct udp_ring *r = calloc(1, RT_SHARED_SLOT);
	assert_non_null(r);
	rt_udp_ring_init(r, r);
	return r;
}

static void put(struct udp_ring *r, const void *p, size_t n, uint32_t addr, uint16_t port)
{
	struct udp_frame h = { (uint32_t)n, addr, port, 0 };
	struct rt_iovec v = { (void *)p, n };
	rt_udp_ring_put(r, &h, &v, 1);
}

/* The oldest datagram into buf (cap bytes): its frame; it leaves the ring. */
static struct udp_frame take(struct udp_ring *r, void *buf, size_t cap, size_t *copied)
{
	struct udp_frame h;
	rt_udp_ring_first(r, &h);
	struct rt_iovec v = { buf, cap };
	*copied = rt_udp_ring_copy_first(r, &h, &v, 1);
	rt_udp_ring_pop(r, &h);
	return h;
}

static void empty_ring_has_the_slot(void **state)
{
	(void)state;
	struct udp_ring *r = new_ring();
	assert_int_equal(r->cap, RT_SHARED_SLOT - sizeof *r);
	assert_int_equal(rt_udp_ring_room(r), r->cap);
	free(r);
}

static void boundaries_and_addresses_kept(void **state)
{
	(void)state;
	struct udp_ring *r = new_ring();
	put(r, "one", 3, 0x0100007f, 7);
	put(r, "", 0, 0x0200007f, 8);
	put(r, "three!", 6, 0x0300007f, 9);
	assert_int_equal(r->count, 3);
	assert_int_equal(rt_udp_ring_room(r), r->cap - 3 * sizeof(struct udp_frame) - 9);
	char buf[64];
	size_t n;
	struct udp_frame h = take(r, buf, sizeof buf, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(h.addr, 0x0100007f);
	assert_int_equal(h.port, 7);
	h = take(r, buf, sizeof buf, &n);
	assert_int_equal(h.len, 0);
	assert_int_equal(n, 0);
	assert_int_equal(h.port, 8);
	h = take(r, buf, sizeof buf, &n);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "three!", 6);
	assert_int_equal(r->count, 0);
	assert_int_equal(rt_udp_ring_room(r), r->cap);
	free(r);
}

static void short_buffer_truncates_and_scatters(void **state)
{
	(void)state;
	struct udp_ring *r = new_ring();
	put(r, "abcdefghij", 10, 1, 1);
	put(r, "next", 4, 2, 2);
	struct udp_frame h;
	rt_udp_ring_first(r, &h);
	char a[3], b[4];
	struct rt_iovec v[2] = { { a, sizeof a }, { b, sizeof b } };
	assert_int_equal(rt_udp_ring_copy_first(r, &h, v, 2), 7);   /* 7 of 10: the rest is dropped */
	assert_memory_equal(a, "abc", 3);
	assert_memory_equal(b, "defg", 4);
	rt_udp_ring_pop(r, &h);
	char buf[16];
	size_t n;
	h = take(r, buf, sizeof buf, &n);   /* the next datagram whole: a boundary, not a stream */
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "next", 4);
	free(r);
}

/* Datagrams of odd sizes through many laps of the ring: every byte where it was put. */
static void wraps_around_byte_for_byte(void **state)
{
	(void)state;
	struct udp_ring *r = new_ring();
	static unsigned char in[70000], out[70000];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 131 + 7);
	uint32_t sent = 0, got = 0;
	size_t sizes[] = { 1, 999, 4097, 65507, 12345, 3 };
	for (int round = 0; round < 200; round++) {
		size_t n = sizes[round % 6];
		while (rt_udp_ring_room(r) < sizeof(struct udp_frame) + n) {   /* full: the oldest goes */
			size_t copied;
			struct udp_frame h = take(r, out, sizeof out, &copied);
			assert_int_equal(copied, h.len);
			assert_int_equal(h.port, got % 65536);
			assert_memory_equal(out, in + h.addr, h.len);
			got++;
		}
		put(r, in + round % 97, n, (uint32_t)(round % 97), (uint16_t)sent);
		sent++;
	}
	while (r->count) {
		size_t copied;
		struct udp_frame h = take(r, out, sizeof out, &copied);
		assert_memory_equal(out, in + h.addr, h.len);
		got++;
	}
	assert_int_equal(got, sent);
	assert_int_equal(r->used, 0);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_ring_has_the_slot),
		cmocka_unit_test(boundaries_and_addresses_kept),
		cmocka_unit_test(short_buffer_truncates_and_scatters),
		cmocka_unit_test(wraps_around_byte_for_byte),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
