/* cryptoload.h: OpenSSL's AES-256-GCM functions, loaded from libcrypto (dlopen) at the first migration stream, not at every start. */
#ifndef HOST_CRYPTOLOAD_H
#define HOST_CRYPTOLOAD_H

#include <openssl/evp.h>

/*
 * The handful of EVP functions the migration stream uses (hosts/formats/migstream.c),
 * typed from OpenSSL's own declarations.  Why not link -lcrypto: the dynamic linker
 * would map and relocate all of libcrypto in every caprun at start (about 7 ms of a
 * 25 ms start here, and 400 KiB of private relocated pages per process), for the few
 * that ever migrate (docs/STARTUP.md).
 */
/* The major version of the OpenSSL headers: libcrypto.so.3 for OpenSSL 3.x. */
#define CRYPTOLOAD_STR2(x) #x
#define CRYPTOLOAD_STR(x) CRYPTOLOAD_STR2(x)
#define CRYPTOLOAD_SHLIB_VERSION CRYPTOLOAD_STR(OPENSSL_SHLIB_VERSION)

struct evp_gcm {
	__typeof__(EVP_CIPHER_CTX_new) *ctx_new;
	__typeof__(EVP_CIPHER_CTX_free) *ctx_free;
	__typeof__(EVP_CIPHER_CTX_ctrl) *ctx_ctrl;
	__typeof__(EVP_aes_256_gcm) *aes_256_gcm;
	__typeof__(EVP_EncryptInit_ex) *encrypt_init;
	__typeof__(EVP_EncryptUpdate) *encrypt_update;
	__typeof__(EVP_EncryptFinal_ex) *encrypt_final;
	__typeof__(EVP_DecryptInit_ex) *decrypt_init;
	__typeof__(EVP_DecryptUpdate) *decrypt_update;
	__typeof__(EVP_DecryptFinal_ex) *decrypt_final;
};

/* Filled by a successful cryptoload(); all NULL before. */
extern struct evp_gcm evp_gcm;

/*
 * Load libcrypto (the soname of the OpenSSL headers built against) and fill evp_gcm,
 * once per process (thread-safe; later calls return the first one's result).
 * 0, or -1 after printing one line to stderr saying what could not be loaded.
 */
int cryptoload(void);

#endif
