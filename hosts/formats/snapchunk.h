/* snapchunk.h: a snapshot's data chunks: the table entry each must match (BLAKE2b-256, or version 5's keyed Poly1305 tag), made and checked. */
#ifndef HOST_SNAPCHUNK_H
#define HOST_SNAPCHUNK_H

#include "capsule-abi/cap_snapshot.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

/* How a file's chunk entries are made (capsule-abi/cap_snapshot.h): by version, and for
 * version 5 under the file's chunk key. */
struct snapchunk_keying {
	uint32_t version;
	uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];   /* version 5: snapchunk_derive_key */
};

/* Version 5's chunk key from the snapshot key and the file's salt (keyed BLAKE2b-256 with
 * salt and personalization CAP_SNAP_CHUNK_PERSONAL, empty message). */
void snapchunk_derive_key(const uint8_t key[CAP_SNAP_KEY_LEN],
                          const uint8_t salt[CAP_SNAP_SALT_LEN], uint8_t out[32]);

/* One chunk's entry, fed in pieces of any size (the writer's data comes extent by extent). */
struct snapchunk_state {
	int tagged;                       /* version 5 */
	crypto_generichash_state hash;
	crypto_onetimeauth_state tag;
};
void snapchunk_begin(struct snapchunk_state *st, const struct snapchunk_keying *k, uint64_t index);
void snapchunk_update(struct snapchunk_state *st, const uint8_t *p, size_t len);
/* cap_snap_chunk_entry_len(version) bytes into out. */
void snapchunk_end(struct snapchunk_state *st, uint8_t *out);

/* The entry of chunk index (len bytes at p), in one call. */
void snapchunk_entry(const struct snapchunk_keying *k, uint64_t index, const uint8_t *p,
                     size_t len, uint8_t *out);

/* 1 if chunk index (len bytes at p) matches entry (constant-time compare), else 0. */
int snapchunk_matches(const struct snapchunk_keying *k, uint64_t index, const uint8_t *p,
                      size_t len, const uint8_t *entry);

#endif
