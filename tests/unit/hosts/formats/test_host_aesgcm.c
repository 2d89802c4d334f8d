/* test_host_aesgcm.c: the migration stream's AES-256-GCM (hosts/formats/aesgcm.h) against a published test vector, in pieces and in place, and its refusals. */
#include "hosts/formats/aesgcm.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* The GCM specification's test case 16 (McGrew and Viega): AES-256, 96-bit IV, 20 bytes of AAD. */
static const char *const K  = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char *const IV = "cafebabefacedbaddecaf888";
static const char *const A  = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
static const char *const P  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                              "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
static const char *const C  = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
static const char *const T  = "76fc6ece0f4e1768cddf8853bb2d551b";

struct vec {
	uint8_t key[AESGCM_KEY_LEN], iv[AESGCM_NONCE_LEN], aad[20], plain[60], cipher[60], tag[AESGCM_TAG_LEN];
};

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
}

static struct vec load(void)
{
	struct vec v;
	unhex(K, v.key, sizeof v.key);
	unhex(IV, v.iv, sizeof v.iv);
	unhex(A, v.aad, sizeof v.aad);
	unhex(P, v.plain, sizeof v.plain);
	unhex(C, v.cipher, sizeof v.cipher);
	unhex(T, v.tag, sizeof v.tag);
	return v;
}

static void seals_the_published_vector(void **state)
{
	(void)state;
	struct vec v = load();
	struct aesgcm *g = aesgcm_new(v.key);
	assert_non_null(g);
	uint8_t out[60], tag[AESGCM_TAG_LEN];
	assert_int_equal(aesgcm_begin(g, v.iv), 0);
	assert_int_equal(aesgcm_aad(g, v.aad, sizeof v.aad), 0);
	assert_int_equal(aesgcm_encrypt(g, out, v.plain, sizeof v.plain), 0);
	assert_int_equal(aesgcm_tag(g, tag), 0);
	assert_memory_equal(out, v.cipher, sizeof out);
	assert_memory_equal(tag, v.tag, sizeof tag);
	aesgcm_free(g);
}

/* The stream seals a record where its pieces lie: additional data in two calls, text in several. */
static void pieces_and_in_place_give_the_same_record(void **state)
{
	(void)state;
	struct vec v = load();
	struct aesgcm *g = aesgcm_new(v.key);
	assert_non_null(g);
	static const size_t cuts[] = { 1, 4, 15, 17, 23 };   /* sums to 60: crosses block edges */
	for (int in_place = 0; in_place < 2; in_place++) {
		uint8_t out[60], tag[AESGCM_TAG_LEN];
		memcpy(out, v.plain, sizeof out);
		assert_int_equal(aesgcm_begin(g, v.iv), 0);
		assert_int_equal(aesgcm_aad(g, v.aad, 3), 0);
		assert_int_equal(aesgcm_aad(g, v.aad + 3, sizeof v.aad - 3), 0);
		size_t at = 0;
		for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; at += cuts[i], i++)
			assert_int_equal(aesgcm_encrypt(g, out + at, in_place ? out + at : v.plain + at, cuts[i]), 0);
		assert_int_equal(at, sizeof v.plain);
		assert_int_equal(aesgcm_tag(g, tag), 0);
		assert_memory_equal(out, v.cipher, sizeof out);
		assert_memory_equal(tag, v.tag, sizeof tag);
	}
	aesgcm_free(g);
}

/* Opening: the vector is authentic; any changed bit of text, tag or additional data is not. */
static void opens_only_what_is_authentic(void **state)
{
	(void)state;
	struct vec v = load();
	struct aesgcm *g = aesgcm_new(v.key);
	assert_non_null(g);
	uint8_t out[60];
	assert_int_equal(aesgcm_begin(g, v.iv), 0);
	assert_int_equal(aesgcm_aad(g, v.aad, sizeof v.aad), 0);
	assert_int_equal(aesgcm_decrypt(g, out, v.cipher, 30), 0);
	assert_int_equal(aesgcm_decrypt(g, out + 30, v.cipher + 30, 30), 0);
	assert_int_equal(aesgcm_check(g, v.tag), 0);
	assert_memory_equal(out, v.plain, sizeof out);

	for (int what = 0; what < 3; what++) {
		struct vec w = v;
		if (what == 0)
			w.cipher[59] ^= 0x01;
		else if (what == 1)
			w.tag[0] ^= 0x80;
		else
			w.aad[19] ^= 0x10;
		assert_int_equal(aesgcm_begin(g, w.iv), 0);
		assert_int_equal(aesgcm_aad(g, w.aad, sizeof w.aad), 0);
		assert_int_equal(aesgcm_decrypt(g, w.cipher, w.cipher, sizeof w.cipher), 0);
		assert_int_equal(aesgcm_check(g, w.tag), -1);
	}
	aesgcm_free(g);
}

/* A new nonce starts a new record on the same key: the second equals a fresh cipher's. */
static void begin_starts_a_fresh_record(void **state)
{
	(void)state;
	struct vec v = load();
	struct aesgcm *a = aesgcm_new(v.key), *b = aesgcm_new(v.key);
	assert_non_null(a);
	assert_non_null(b);
	uint8_t junk[7] = { 0 }, nonce2[AESGCM_NONCE_LEN] = { 9 }, x[60], y[60], tx[16], ty[16];
	assert_int_equal(aesgcm_begin(a, v.iv), 0);
	assert_int_equal(aesgcm_encrypt(a, junk, junk, sizeof junk), 0);   /* a record left unfinished */
	assert_int_equal(aesgcm_begin(a, nonce2), 0);
	assert_int_equal(aesgcm_aad(a, v.aad, 4), 0);
	assert_int_equal(aesgcm_encrypt(a, x, v.plain, sizeof x), 0);
	assert_int_equal(aesgcm_tag(a, tx), 0);
	assert_int_equal(aesgcm_begin(b, nonce2), 0);
	assert_int_equal(aesgcm_aad(b, v.aad, 4), 0);
	assert_int_equal(aesgcm_encrypt(b, y, v.plain, sizeof y), 0);
	assert_int_equal(aesgcm_tag(b, ty), 0);
	assert_memory_equal(x, y, sizeof x);
	assert_memory_equal(tx, ty, sizeof tx);
	assert_memory_not_equal(x, v.cipher, sizeof x);   /* another nonce, another keystream */
	aesgcm_free(a);
	aesgcm_free(b);
	aesgcm_free(NULL);   /* as free() */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seals_the_published_vector),
		cmocka_unit_test(pieces_and_in_place_give_the_same_record),
		cmocka_unit_test(opens_only_what_is_authentic),
		cmocka_unit_test(begin_starts_a_fresh_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
