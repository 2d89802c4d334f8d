/* test_host_wire.c: unit tests for the host-to-host wrapped packet format and its replay window. */
#include "hosts/formats/wire.h"
#include "hosts/common/ipv4.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <cmocka.h>

static uint8_t key[WIRE_KEY_LEN];
#define NET 0x00c0ffee

/* A valid inner IPv4 packet 198.18.0.2 -> 198.18.0.3 with n payload bytes. */
static size_t make_inner(uint8_t *p, size_t n)
{
	size_t len = 20 + n;
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	uint8_t src[4] = { 198, 18, 0, 2 }, dst[4] = { 198, 18, 0, 3 };
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	for (size_t i = 0; i < n; i++)
		p[20 + i] = (uint8_t)(i * 7);
	uint16_t c = ipv4_csum_field(ipv4_sum(0, p, 20));
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	return len;
}

static struct wire_hdr data_hdr(void)
{
	struct wire_hdr h = { .type = WIRE_DATA, .network_id = NET, .sender = 7, .epoch = 3,
	                      .seq = 0x123456789abcdef0ull };
	return h;
}

static size_t make_data(uint8_t *out, size_t cap)
{
	uint8_t inner[120];
	size_t n = make_inner(inner, 100);
	struct wire_hdr h = data_hdr();
	size_t len;
	assert_int_equal(wire_encode(&h, inner, n, key, out, cap, &len), WIRE_OK);
	return len;
}

static void test_round_trip(void **st)
{
	(void)st;
	uint8_t buf[256];
	size_t len = make_data(buf, sizeof buf);
	assert_int_equal(len, 120 + WIRE_OVERHEAD);
	struct wire_hdr h;
	const uint8_t *p;
	size_t n;
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &p, &n), WIRE_OK);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.type, WIRE_DATA);
	assert_int_equal(h.network_id, NET);
	assert_int_equal(h.sender, 7);
	assert_int_equal(h.epoch, 3);
	assert_true(h.seq == 0x123456789abcdef0ull);
	assert_int_equal(n, 120);
	assert_ptr_equal(p, buf + WIRE_HDR_LEN);
	/* Big-endian on the wire, where the doc says. */
	assert_int_equal(buf[0], 2);
	assert_int_equal(buf[1], WIRE_DATA);
	assert_int_equal(buf[7], 0xee);
	assert_int_equal(buf[16], 0x12);
	assert_int_equal(buf[24], 0);
	assert_int_equal(buf[25], 120);
}

static void test_seal_matches_encode(void **st)
{
	(void)st;
	uint8_t buf[256], inner[120], hdr[WIRE_HDR_LEN], tag[WIRE_TAG_LEN];
	size_t len = make_data(buf, sizeof buf);
	size_t n = make_inner(inner, 100);
	struct wire_hdr h = data_hdr();
	assert_int_equal(wire_seal(&h, inner, n, key, hdr, tag), WIRE_OK);
	assert_memory_equal(hdr, buf, WIRE_HDR_LEN);
	assert_memory_equal(tag, buf + len - WIRE_TAG_LEN, WIRE_TAG_LEN);
}

/*
 * The tag of one datagram under the key 00 01 .. 1f, computed apart from this
 * code: tests/integration/wirelib.py's wire_tag, ChaCha20 and Poly1305 written
 * in Python from RFC 8439 (and checked there against its vectors 2.5.2, 2.6.2).
 */
static void test_known_tag(void **st)
{
	(void)st;
	static const uint8_t want[WIRE_TAG_LEN] = {
		0xb9, 0x6c, 0x01, 0xe6, 0x1c, 0xd8, 0x1d, 0xcf,
		0x15, 0xe8, 0x8f, 0xbb, 0xb4, 0xe3, 0x9d, 0x5c };
	uint8_t k[WIRE_KEY_LEN], inner[120], hdr[WIRE_HDR_LEN], tag[WIRE_TAG_LEN];
	for (size_t i = 0; i < sizeof k; i++)
		k[i] = (uint8_t)i;
	size_t n = make_inner(inner, 100);
	struct wire_hdr h = data_hdr();
	assert_int_equal(wire_seal(&h, inner, n, k, hdr, tag), WIRE_OK);
	assert_memory_equal(tag, want, sizeof want);
	/* another seq (the nonce), the same bytes otherwise: another tag */
	h.seq++;
	assert_int_equal(wire_seal(&h, inner, n, k, hdr, tag), WIRE_OK);
	assert_memory_not_equal(tag, want, sizeof want);
}

static void test_every_truncation(void **st)
{
	(void)st;
	uint8_t buf[256];
	size_t len = make_data(buf, sizeof buf);
	struct wire_hdr h;
	const uint8_t *p;
	size_t n;
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = malloc(l ? l : 1);   /* exact size: ASan sees any overread */
		memcpy(copy, buf, l);
		int err = wire_decode(copy, l, key, NET, &h, &p, &n);
		assert_int_equal(err, WIRE_E_TRUNCATED);
		free(copy);
	}
	/* Trailing bytes are refused too (not covered by the tag). */
	uint8_t big[300];
	memcpy(big, buf, len);
	big[len] = 0;
	assert_int_equal(wire_decode(big, len + 1, key, NET, &h, &p, &n), WIRE_E_BAD_LENGTH);
}

static void test_bit_flips(void **st)
{
	(void)st;
	uint8_t buf[256];
	size_t len = make_data(buf, sizeof buf);
	struct wire_hdr h;
	const uint8_t *p;
	size_t n;
	for (size_t i = 0; i < len; i++) {
		for (int b = 0; b < 8; b++) {
			buf[i] ^= (uint8_t)(1 << b);
			int err = wire_decode(buf, len, key, NET, &h, &p, &n);
			if (i == 0)
				assert_int_equal(err, WIRE_E_BAD_VERSION);
			else if (i == 24 || i == 25)
				assert_true(err == WIRE_E_TRUNCATED || err == WIRE_E_BAD_LENGTH);
			else
				assert_int_equal(err, WIRE_E_BAD_TAG);
			buf[i] ^= (uint8_t)(1 << b);
		}
	}
	uint8_t other[WIRE_KEY_LEN];
	memcpy(other, key, sizeof other);
	other[5] ^= 1;
	assert_int_equal(wire_decode(buf, len, other, NET, &h, &p, &n), WIRE_E_BAD_TAG);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &p, &n), WIRE_OK);
}

static void test_wrong_network_and_fields(void **st)
{
	(void)st;
	uint8_t buf[256], inner[120];
	size_t len = make_data(buf, sizeof buf), n, plen = make_inner(inner, 100);
	struct wire_hdr h;
	const uint8_t *p;
	assert_int_equal(wire_decode(buf, len, key, NET + 1, &h, &p, &n), WIRE_E_WRONG_NETWORK);

	struct wire_hdr bad = data_hdr();
	bad.sender = 0;
	assert_int_equal(wire_encode(&bad, inner, plen, key, buf, sizeof buf, &len), WIRE_OK);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &p, &n), WIRE_E_BAD_SENDER);

	bad = data_hdr();
	bad.flags = 0x8000;
	assert_int_equal(wire_encode(&bad, inner, plen, key, buf, sizeof buf, &len), WIRE_OK);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &p, &n), WIRE_E_BAD_FLAGS);

	bad = data_hdr();
	bad.type = 9;
	assert_int_equal(wire_encode(&bad, inner, plen, key, buf, sizeof buf, &len), WIRE_E_BAD_TYPE);

	/* A correctly tagged packet with an unknown type (as a newer peer might send). */
	bad = data_hdr();
	assert_int_equal(wire_encode(&bad, inner, plen, key, buf, sizeof buf, &len), WIRE_OK);
	buf[1] = 9;
	uint8_t tag[WIRE_TAG_LEN];
	uint8_t nonce[12], otk[32];
	memcpy(nonce, buf + 8, 4);
	memcpy(nonce + 4, buf + 16, 8);
	crypto_stream_chacha20_ietf(otk, sizeof otk, nonce, key);
	crypto_onetimeauth(tag, buf, len - WIRE_TAG_LEN, otk);   /* in one piece, not as wire.c */
	memcpy(buf + len - WIRE_TAG_LEN, tag, sizeof tag);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &p, &n), WIRE_E_BAD_TYPE);

	assert_int_equal(wire_encode(&bad, inner, plen, key, buf, 10, &len), WIRE_E_NOSPACE);
	assert_int_equal(wire_encode(&bad, inner, WIRE_MAX_PAYLOAD + 1, key, buf, sizeof buf, &len),
	                 WIRE_E_BAD_LENGTH);
}

/* Encode an inner packet that was damaged before sealing: the tag is fine, the inner check is not. */
static int decode_inner(const uint8_t *inner, size_t n)
{
	uint8_t buf[256];
	size_t len, plen;
	struct wire_hdr h = data_hdr(), out;
	const uint8_t *p;
	assert_int_equal(wire_encode(&h, inner, n, key, buf, sizeof buf, &len), WIRE_OK);
	return wire_decode(buf, len, key, NET, &out, &p, &plen);
}

static void test_inner_ipv4(void **st)
{
	(void)st;
	uint8_t in[120];
	size_t n = make_inner(in, 100);
	assert_int_equal(decode_inner(in, n), WIRE_OK);
	in[0] = 0x65;   /* version 6 */
	assert_int_equal(decode_inner(in, n), WIRE_E_BAD_INNER);
	make_inner(in, 100);
	in[0] = 0x44;   /* IHL 4 */
	assert_int_equal(decode_inner(in, n), WIRE_E_BAD_INNER);
	make_inner(in, 100);
	in[3]++;        /* total length != payload length */
	assert_int_equal(decode_inner(in, n), WIRE_E_BAD_INNER);
	make_inner(in, 100);
	in[10] ^= 0x40; /* header checksum */
	assert_int_equal(decode_inner(in, n), WIRE_E_BAD_INNER);
	assert_int_equal(decode_inner(in, 10), WIRE_E_BAD_INNER);
	assert_int_equal(decode_inner(in, 0), WIRE_E_BAD_INNER);
	make_inner(in, 100);
	uint32_t s, d;
	ipv4_addrs(in, &s, &d);
	uint8_t *sb = (uint8_t *)&s;
	assert_int_equal(sb[0], 198);
	assert_int_equal(sb[3], 2);
}

static void test_redirect(void **st)
{
	(void)st;
	struct wire_redirect r = { .host_id = 2, .port = 7471, .epoch = 9 }, back;
	uint8_t ip[4] = { 198, 18, 0, 9 }, loc[4] = { 198, 19, 0, 2 };
	memcpy(&r.capsule_ip, ip, 4);
	memcpy(&r.locator_ip, loc, 4);
	uint8_t p[WIRE_REDIRECT_LEN], buf[128];
	wire_redirect_encode(&r, p);
	assert_int_equal(p[0], 198);
	assert_int_equal(p[12] << 8 | p[13], 7471);
	struct wire_hdr h = { .type = WIRE_REDIRECT, .network_id = NET, .sender = 2, .epoch = 9, .seq = 5 };
	size_t len, n;
	const uint8_t *pl;
	assert_int_equal(wire_encode(&h, p, sizeof p, key, buf, sizeof buf, &len), WIRE_OK);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &pl, &n), WIRE_OK);
	assert_int_equal(wire_redirect_decode(pl, n, &back), WIRE_OK);
	assert_memory_equal(&back, &r, sizeof r);

	/* "Unknown" must carry nothing else; "known" must carry a locator; size exact. */
	struct wire_redirect u = { .capsule_ip = r.capsule_ip };
	wire_redirect_encode(&u, p);
	assert_int_equal(wire_redirect_decode(p, sizeof p, &back), WIRE_OK);
	u.epoch = 3;
	wire_redirect_encode(&u, p);
	assert_int_equal(wire_redirect_decode(p, sizeof p, &back), WIRE_E_BAD_PAYLOAD);
	r.port = 0;
	wire_redirect_encode(&r, p);
	assert_int_equal(wire_redirect_decode(p, sizeof p, &back), WIRE_E_BAD_PAYLOAD);
	assert_int_equal(wire_redirect_decode(p, sizeof p - 1, &back), WIRE_E_BAD_LENGTH);
	assert_int_equal(wire_encode(&h, p, 19, key, buf, sizeof buf, &len), WIRE_OK);
	assert_int_equal(wire_decode(buf, len, key, NET, &h, &pl, &n), WIRE_E_BAD_LENGTH);
}

static void test_replay_window(void **st)
{
	(void)st;
	struct wire_replay r;
	wire_replay_init(&r);
	assert_int_equal(wire_replay_check(&r, 0), WIRE_E_TOO_OLD);
	assert_int_equal(wire_replay_check(&r, 5000), WIRE_OK);
	wire_replay_commit(&r, 5000);
	assert_int_equal(wire_replay_check(&r, 5000), WIRE_E_REPLAY);      /* duplicate */
	assert_int_equal(wire_replay_check(&r, 4999), WIRE_OK);            /* reordered, in window */
	wire_replay_commit(&r, 4999);
	assert_int_equal(wire_replay_check(&r, 4999), WIRE_E_REPLAY);
	/* Window edge: top - 1023 is the oldest acceptable, top - 1024 too old. */
	assert_int_equal(wire_replay_check(&r, 5000 - 1023), WIRE_OK);
	assert_int_equal(wire_replay_check(&r, 5000 - 1024), WIRE_E_TOO_OLD);
	wire_replay_commit(&r, 5000 - 1023);
	assert_int_equal(wire_replay_check(&r, 5000 - 1023), WIRE_E_REPLAY);

	/* Check alone changes nothing (check-then-commit). */
	assert_int_equal(wire_replay_check(&r, 6000), WIRE_OK);
	assert_int_equal(wire_replay_check(&r, 4990), WIRE_OK);
	assert_true(r.top == 5000);

	/* Shift by less than a window: old marks survive where still in range, new slots are clear. */
	wire_replay_commit(&r, 5500);
	assert_int_equal(wire_replay_check(&r, 5000), WIRE_E_REPLAY);
	assert_int_equal(wire_replay_check(&r, 4999), WIRE_E_REPLAY);
	assert_int_equal(wire_replay_check(&r, 5000 - 1023), WIRE_E_TOO_OLD);
	for (uint64_t s = 5001; s < 5500; s++)
		assert_int_equal(wire_replay_check(&r, s), WIRE_OK);
	/* Slot reuse: 5000 + 1024 maps to 5000's bit, which must have been cleared by the slide. */
	wire_replay_commit(&r, 5000 + 1024);
	assert_int_equal(wire_replay_check(&r, 5000), WIRE_E_TOO_OLD);
	assert_int_equal(wire_replay_check(&r, 5000 + 1024), WIRE_E_REPLAY);
	assert_int_equal(wire_replay_check(&r, 5001), WIRE_OK);
	assert_int_equal(wire_replay_check(&r, 5500), WIRE_E_REPLAY);

	/* Far ahead: everything older forgotten; only the new top is marked. */
	uint64_t far = (uint64_t)1 << 40;
	wire_replay_commit(&r, far);
	assert_int_equal(wire_replay_check(&r, far), WIRE_E_REPLAY);
	assert_int_equal(wire_replay_check(&r, far - 1), WIRE_OK);
	assert_int_equal(wire_replay_check(&r, far - 1023), WIRE_OK);
	assert_int_equal(wire_replay_check(&r, 6024), WIRE_E_TOO_OLD);
	int marked = 0;
	for (unsigned i = 0; i < WIRE_REPLAY_WINDOW / 64; i++)
		marked += __builtin_popcountll(r.bits[i]);
	assert_int_equal(marked, 1);
	/* Every number in a full window, in reverse, exactly once. */
	for (uint64_t s = far + 1024; s > far; s--) {
		assert_int_equal(wire_replay_check(&r, s), WIRE_OK);
		wire_replay_commit(&r, s);
		assert_int_equal(wire_replay_check(&r, s), WIRE_E_REPLAY);
	}
	assert_int_equal(wire_replay_check(&r, far), WIRE_E_TOO_OLD);
}

static void test_seq_next(void **st)
{
	(void)st;
	uint64_t last = 0;
	uint64_t a = wire_seq_next(&last, 1000);
	uint64_t b = wire_seq_next(&last, 1000);
	uint64_t c = wire_seq_next(&last, 999);   /* clock stepped back */
	uint64_t d = wire_seq_next(&last, 2000);  /* or forward: still consecutive */
	assert_true(a == (uint64_t)1000 << 20);
	assert_true(b == a + 1 && c == b + 1 && d == c + 1);
	/* a restart (a fresh generator) a millisecond later starts above all of them */
	uint64_t again = 0;
	assert_true(wire_seq_next(&again, 1001) > d);
	/* so a datagram sent a millisecond before 1023 others is still inside the window */
	struct wire_replay r;
	wire_replay_init(&r);
	uint64_t early = wire_seq_next(&last, 3000), late = 0;
	for (int i = 0; i < 1023; i++)
		late = wire_seq_next(&last, 3001 + (uint64_t)i);
	assert_int_equal(wire_replay_check(&r, late), WIRE_OK);
	wire_replay_commit(&r, late);
	assert_int_equal(wire_replay_check(&r, early), WIRE_OK);
}

static void test_counters_and_names(void **st)
{
	(void)st;
	struct wire_counters c = { { 0 } };
	wire_count(&c, WIRE_E_BAD_TAG);
	wire_count(&c, WIRE_E_BAD_TAG);
	wire_count(&c, WIRE_OK);
	wire_count(&c, 99);
	assert_true(c.n[WIRE_E_BAD_TAG] == 2 && c.n[WIRE_OK] == 1);
	for (int e = 0; e < WIRE_E_COUNT; e++)
		assert_non_null(wire_strerror(e));
	assert_string_equal(wire_strerror(WIRE_E_WRONG_NETWORK), "wrong_network");
	assert_string_equal(wire_strerror(-1), "unknown");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(0x40 + i);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_seal_matches_encode),
		cmocka_unit_test(test_known_tag),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_wrong_network_and_fields),
		cmocka_unit_test(test_inner_ipv4),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_seq_next),
		cmocka_unit_test(test_counters_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
