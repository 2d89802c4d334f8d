/* aesgcm.h: AES-256-GCM for the migration stream (libgcrypt, linked statically), sealing and opening one record in pieces. */
#ifndef HOST_AESGCM_H
#define HOST_AESGCM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Why libgcrypt: caprun is linked statically (docs/STARTUP.md 12), and OpenSSL's
 * libcrypto, linked statically into a position-independent program, costs every
 * start 18,000 relocations (2.7 ms here) for the few caprun processes that ever
 * migrate; loading it with dlopen from a static program would tie caprun to the
 * exact glibc it was built with.  libgcrypt's static archive adds 18 page faults
 * (about 0.3 ms) and seals and opens as fast as OpenSSL on this CPU (AES-NI,
 * VAES, VPCLMULQDQ).  The records are standard AES-256-GCM either way
 * (tests/unit/hosts/formats/test_host_aesgcm.c checks a published test vector).
 */
#define AESGCM_KEY_LEN   32
#define AESGCM_NONCE_LEN 12
#define AESGCM_TAG_LEN   16

struct aesgcm;   /* a keyed cipher; one record at a time */

/*
 * A cipher keyed with key (copied; the expanded key is wiped by aesgcm_free).
 * NULL after printing one line to stderr naming what failed (libgcrypt's own
 * self-check or an allocation).  Thread-safe: libgcrypt is set up once.
 */
struct aesgcm *aesgcm_new(const uint8_t key[AESGCM_KEY_LEN]);
void aesgcm_free(struct aesgcm *g);

/*
 * One record: begin with its nonce, then any additional data (aesgcm_aad, in as
 * many pieces as wanted, all before the first byte of text), then the text in
 * pieces of any length (in and out may be the same buffer), then the tag:
 * aesgcm_tag on the sealing side, aesgcm_check on the opening side (0 if the
 * record is authentic, -1 if not).  0, or -1 if libgcrypt refused (it does not
 * for valid lengths; the caller treats it as a failed record).
 */
int aesgcm_begin(struct aesgcm *g, const uint8_t nonce[AESGCM_NONCE_LEN]);
int aesgcm_aad(struct aesgcm *g, const void *ad, size_t len);
int aesgcm_encrypt(struct aesgcm *g, void *out, const void *in, size_t len);
int aesgcm_decrypt(struct aesgcm *g, void *out, const void *in, size_t len);
int aesgcm_tag(struct aesgcm *g, uint8_t tag[AESGCM_TAG_LEN]);
int aesgcm_check(struct aesgcm *g, const uint8_t tag[AESGCM_TAG_LEN]);

#endif
