/* snapchunk.c: a snapshot's chunk table entries: BLAKE2b-256 (versions 3, 4) or a Poly1305 tag under a per-chunk ChaCha20 key (version 5). */
#include "hosts/formats/snapchunk.h"

#include <string.h>

void snapchunk_derive_key(const uint8_t key[CAP_SNAP_KEY_LEN],
                          const uint8_t salt[CAP_SNAP_SALT_LEN], uint8_t out[32])
{
	static const char personal[crypto_generichash_blake2b_PERSONALBYTES] = CAP_SNAP_CHUNK_PERSONAL;
	_Static_assert(CAP_SNAP_SALT_LEN == crypto_generichash_blake2b_SALTBYTES, "the salt is BLAKE2b's");
	crypto_generichash_blake2b_salt_personal(out, 32, NULL, 0, key, CAP_SNAP_KEY_LEN, salt,
	                                         (const unsigned char *)personal);
}

void snapchunk_begin(struct snapchunk_state *st, const struct snapchunk_keying *k, uint64_t index)
{
	st->tagged = k->version >= CAP_SNAP_FORMAT_TAGS;
	if (!st->tagged) {
		crypto_generichash_init(&st->hash, NULL, 0, CAP_SNAP_CHUNK_HASH_LEN);
		return;
	}
	/*
	 * RFC 8439 section 2.6: the one-time key is the first 32 bytes of ChaCha20's block 0
	 * at a nonce used for nothing else, here the chunk's index under a key of this file
	 * alone; so no two chunks anywhere share a Poly1305 key.
	 */
	_Static_assert(CAP_SNAP_CHUNK_TAG_LEN == crypto_onetimeauth_BYTES, "a tag is one Poly1305 tag");
	uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = { 0 };
	uint8_t otk[crypto_onetimeauth_KEYBYTES];
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(index >> (8 * i));
	crypto_stream_chacha20_ietf(otk, sizeof otk, nonce, k->key);
	crypto_onetimeauth_init(&st->tag, otk);
	sodium_memzero(otk, sizeof otk);
}

void snapchunk_update(struct snapchunk_state *st, const uint8_t *p, size_t len)
{
	if (st->tagged)
		crypto_onetimeauth_update(&st->tag, p, len);
	else
		crypto_generichash_update(&st->hash, p, len);
}

void snapchunk_end(struct snapchunk_state *st, uint8_t *out)
{
	if (st->tagged)
		crypto_onetimeauth_final(&st->tag, out);
	else
		crypto_generichash_final(&st->hash, out, CAP_SNAP_CHUNK_HASH_LEN);
}

void snapchunk_entry(const struct snapchunk_keying *k, uint64_t index, const uint8_t *p,
                     size_t len, uint8_t *out)
{
	struct snapchunk_state st;
	snapchunk_begin(&st, k, index);
	snapchunk_update(&st, p, len);
	snapchunk_end(&st, out);
}

int snapchunk_matches(const struct snapchunk_keying *k, uint64_t index, const uint8_t *p,
                      size_t len, const uint8_t *entry)
{
	uint8_t sum[CAP_SNAP_CHUNK_HASH_LEN];
	size_t n = cap_snap_chunk_entry_len(k->version);
	snapchunk_entry(k, index, p, len, sum);
	return sodium_memcmp(sum, entry, n) == 0;
}
