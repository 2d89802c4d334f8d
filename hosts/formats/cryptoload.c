/* cryptoload.c: loads libcrypto's AES-256-GCM functions on first use (dlopen), for the migration stream. */
#include "hosts/formats/cryptoload.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

/* The library the headers describe. */
#define CRYPTOLOAD_SONAME "libcrypto.so." CRYPTOLOAD_SHLIB_VERSION

struct evp_gcm evp_gcm;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_result = -1;

/* dlsym into *slot (a function pointer's storage); 0, or -1 naming what is missing. */
static int bind_symbol(void *lib, const char *name, void *slot)
{
	void *f = dlsym(lib, name);
	if (!f) {
		fprintf(stderr, "%s: %s has no %s: %s\n", program_invocation_short_name,
		        CRYPTOLOAD_SONAME, name, dlerror());
		return -1;
	}
	*(void **)slot = f;   /* POSIX: function and object pointers convert (dlsym's contract) */
	return 0;
}

static void load(void)
{
	/* RTLD_LOCAL: its symbols stay out of the global scope; never closed (cheap to keep). */
	void *lib = dlopen(CRYPTOLOAD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "%s: cannot load %s (AES-256-GCM for the migration stream): %s\n",
		        program_invocation_short_name, CRYPTOLOAD_SONAME, dlerror());
		return;
	}
	struct evp_gcm f;
	if (bind_symbol(lib, "EVP_CIPHER_CTX_new", &f.ctx_new) ||
	    bind_symbol(lib, "EVP_CIPHER_CTX_free", &f.ctx_free) ||
	    bind_symbol(lib, "EVP_CIPHER_CTX_ctrl", &f.ctx_ctrl) ||
	    bind_symbol(lib, "EVP_aes_256_gcm", &f.aes_256_gcm) ||
	    bind_symbol(lib, "EVP_EncryptInit_ex", &f.encrypt_init) ||
	    bind_symbol(lib, "EVP_EncryptUpdate", &f.encrypt_update) ||
	    bind_symbol(lib, "EVP_EncryptFinal_ex", &f.encrypt_final) ||
	    bind_symbol(lib, "EVP_DecryptInit_ex", &f.decrypt_init) ||
	    bind_symbol(lib, "EVP_DecryptUpdate", &f.decrypt_update) ||
	    bind_symbol(lib, "EVP_DecryptFinal_ex", &f.decrypt_final))
		return;
	evp_gcm = f;
	load_result = 0;
}

int cryptoload(void)
{
	pthread_once(&load_once, load);
	return load_result;
}
