/* test_host_cryptoload.c: libcrypto is mapped only once a migration stream starts, and a missing one fails that stream with one line (hosts/formats/cryptoload.h). */
#include "hosts/formats/cryptoload.h"
#include "hosts/formats/migstream.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static const struct mig_head_info info = { .source_host = 1, .target_host = 2,
                                           .migration_id = 7, .epoch = 1 };

/* Whether a mapping of this process names libcrypto. */
static int libcrypto_mapped(void)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (strstr(line, "libcrypto"))
			found = 1;
	fclose(f);
	return found;
}

/* A child process: the path libcrypto is loaded from (dlopen, then where a symbol lies). */
static void libcrypto_path(char *out, size_t len)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		Dl_info di;
		void *lib = dlopen("libcrypto.so." CRYPTOLOAD_SHLIB_VERSION, RTLD_NOW | RTLD_LOCAL);
		void *sym = lib ? dlsym(lib, "EVP_aes_256_gcm") : NULL;
		if (sym && dladdr(sym, &di) && di.dli_fname)
			(void)!write(p[1], di.dli_fname, strlen(di.dli_fname));
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], out, len - 1);
	close(p[0]);
	waitpid(pid, NULL, 0);
	assert_true(n > 0);
	out[n] = 0;
}

static void loaded_by_the_first_stream_only(void **state)
{
	(void)state;
	uint8_t key[MIG_KEY_LEN] = { 1 }, head[MIG_HEAD_LEN];
	struct mig_tx tx;
	assert_false(libcrypto_mapped());   /* not linked: nothing maps it at start */
	assert_null(evp_gcm.ctx_new);
	assert_int_equal(migstream_tx_init_keyed(&tx, key, &info, head), MIG_OK);
	assert_true(libcrypto_mapped());
	assert_non_null(evp_gcm.ctx_new);
	migstream_tx_free(&tx);
	assert_int_equal(cryptoload(), 0);   /* once: later calls say the same */
}

/*
 * In a child with a mount namespace of its own, the library file is hidden under an
 * empty one (a bind mount of /dev/null): the stream fails with MIG_E_NO_CRYPTO and
 * stderr gets one line naming the library.  Needs root (tests run as root: unshare -n).
 */
static void missing_library_fails_the_stream(void **state)
{
	(void)state;
	char path[4096], err[4096];
	libcrypto_path(path, sizeof path);
	int e[2];
	assert_int_equal(pipe(e), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t key[MIG_KEY_LEN] = { 1 }, head[MIG_HEAD_LEN];
		struct mig_tx tx;
		dup2(e[1], 2);
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("/dev/null", path, NULL, MS_BIND, NULL))
			_exit(2);
		int rc = migstream_tx_init_keyed(&tx, key, &info, head);
		migstream_tx_free(&tx);
		int again = cryptoload();
		_exit(rc == MIG_E_NO_CRYPTO && again == -1 ? 0 : 1);
	}
	close(e[1]);
	ssize_t n = read(e[0], err, sizeof err - 1);
	close(e[0]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);   /* 2: could not hide the file (not root?) */
	assert_true(n > 0);
	err[n] = 0;
	assert_non_null(strstr(err, "cannot load libcrypto.so." CRYPTOLOAD_SHLIB_VERSION));
	assert_non_null(strchr(err, '\n'));
	assert_string_equal(strchr(err, '\n'), "\n");   /* one line, printed once */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: its child must start from a process that has not loaded libcrypto yet. */
		cmocka_unit_test(missing_library_fails_the_stream),
		cmocka_unit_test(loaded_by_the_first_stream_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
