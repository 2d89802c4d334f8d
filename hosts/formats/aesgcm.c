/* aesgcm.c: AES-256-GCM for the migration stream on libgcrypt (aesgcm.h). */
#include "hosts/formats/aesgcm.h"

#include <errno.h>
#include <gcrypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct aesgcm {
	gcry_cipher_hd_t h;
};

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int setup_result = -1;

/*
 * libgcrypt wants its version checked before first use, and told whether it may
 * keep a pool of locked "secure" memory: not here (we never ask for it, and its
 * set-up would lock pages and warn), so it is switched off before anything else.
 */
static void setup(void)
{
	if (!gcry_check_version(GCRYPT_VERSION)) {
		fprintf(stderr, "%s: libgcrypt %s is older than the %s it was built for\n",
		        program_invocation_short_name, gcry_check_version(NULL), GCRYPT_VERSION);
		return;
	}
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	setup_result = 0;
}

struct aesgcm *aesgcm_new(const uint8_t key[AESGCM_KEY_LEN])
{
	pthread_once(&setup_once, setup);
	if (setup_result)
		return NULL;
	struct aesgcm *g = malloc(sizeof *g);
	if (!g) {
		fprintf(stderr, "%s: AES-256-GCM: out of memory\n", program_invocation_short_name);
		return NULL;
	}
	gcry_error_t e = gcry_cipher_open(&g->h, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0);
	if (!e) {
		e = gcry_cipher_setkey(g->h, key, AESGCM_KEY_LEN);
		if (e)
			gcry_cipher_close(g->h);
	}
	if (e) {
		fprintf(stderr, "%s: AES-256-GCM: %s\n", program_invocation_short_name, gcry_strerror(e));
		free(g);
		return NULL;
	}
	return g;
}

void aesgcm_free(struct aesgcm *g)
{
	if (!g)
		return;
	gcry_cipher_close(g->h);   /* wipes the expanded key */
	free(g);
}

int aesgcm_begin(struct aesgcm *g, const uint8_t nonce[AESGCM_NONCE_LEN])
{
	/*
	 * A new IV alone does not start a fresh record in libgcrypt: a record left
	 * unfinished (no tag taken) leaves its GHASH state behind, and the next tag
	 * comes out wrong (test_host_aesgcm checks).  Reset keeps the expanded key.
	 */
	if (gcry_cipher_reset(g->h))
		return -1;
	return gcry_cipher_setiv(g->h, nonce, AESGCM_NONCE_LEN) ? -1 : 0;
}

int aesgcm_aad(struct aesgcm *g, const void *ad, size_t len)
{
	return gcry_cipher_authenticate(g->h, ad, len) ? -1 : 0;
}

int aesgcm_encrypt(struct aesgcm *g, void *out, const void *in, size_t len)
{
	/* in == out: libgcrypt's in-place form is a NULL input. */
	return gcry_cipher_encrypt(g->h, out, len, in == out ? NULL : in, in == out ? 0 : len) ? -1 : 0;
}

int aesgcm_decrypt(struct aesgcm *g, void *out, const void *in, size_t len)
{
	return gcry_cipher_decrypt(g->h, out, len, in == out ? NULL : in, in == out ? 0 : len) ? -1 : 0;
}

int aesgcm_tag(struct aesgcm *g, uint8_t tag[AESGCM_TAG_LEN])
{
	return gcry_cipher_gettag(g->h, tag, AESGCM_TAG_LEN) ? -1 : 0;
}

int aesgcm_check(struct aesgcm *g, const uint8_t tag[AESGCM_TAG_LEN])
{
	/* Constant-time comparison inside libgcrypt; GPG_ERR_CHECKSUM when it differs. */
	return gcry_cipher_checktag(g->h, tag, AESGCM_TAG_LEN) ? -1 : 0;
}
