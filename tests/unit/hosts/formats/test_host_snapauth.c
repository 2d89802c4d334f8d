/* test_host_snapauth.c: unit tests for snapshot authentication (hosts/formats/snapauth.c): key derivation, fingerprints, MAC and verify, key files. */
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapauth.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/test_host_snapauth.XXXXXX";
static char run_dir[128], host_key[128], cluster_file[160];   /* short: under dir */

static void put(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static size_t get(const char *path, void *p, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = read(fd, p, max);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

/* Every test starts with an empty run directory and no host key. */
static int fresh(void **state)
{
	(void)state;
	unlink(cluster_file);
	unlink(host_key);
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s/new'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup_all(void **state)
{
	(void)state;
	if (!mkdtemp(dir) || sodium_init() < 0)
		return -1;
	snprintf(run_dir, sizeof run_dir, "%s/run", dir);
	snprintf(cluster_file, sizeof cluster_file, "%s/snapshot.key", run_dir);
	snprintf(host_key, sizeof host_key, "%s/host.key", dir);
	mkdir(run_dir, 0755);
	setenv("CAPSULE_RUN_DIR", run_dir, 1);
	setenv(SNAP_HOST_KEY_ENV, host_key, 1);
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The cluster key is crypto_kdf with subkey 1, context "capsnap1": keyed BLAKE2b, salt = id. */
static void test_derive(void **state)
{
	(void)state;
	uint8_t data_key[32], a[32], b[32], want[32], salt[16] = { 1 }, person[16] = "capsnap1";
	for (int i = 0; i < 32; i++)
		data_key[i] = (uint8_t)i;
	snapauth_derive_cluster(data_key, a);
	snapauth_derive_cluster(data_key, b);
	assert_memory_equal(a, b, 32);                 /* every host of the cluster gets it */
	assert_memory_not_equal(a, data_key, 32);      /* never the data key itself */
	crypto_generichash_blake2b_salt_personal(want, 32, NULL, 0, data_key, 32, salt, person);
	assert_memory_equal(a, want, 32);
	data_key[31] ^= 1;
	snapauth_derive_cluster(data_key, b);
	assert_memory_not_equal(a, b, 32);
}

static void test_key_id(void **state)
{
	(void)state;
	uint8_t key[32] = { 7 }, id[8], h[32];
	char hex[17];
	snapauth_key_id(key, id);
	crypto_generichash(h, 32, key, 32, NULL, 0);
	assert_memory_equal(id, h, 8);
	snapauth_id_hex(id, hex);
	assert_int_equal(strlen(hex), 16);
	char want[17];
	sodium_bin2hex(want, sizeof want, h, 8);
	assert_string_equal(hex, want);
}

/* A header page with a MAC: every byte but the MAC field's own is covered. */
static void test_mac_and_verify(void **state)
{
	(void)state;
	static uint8_t page[CAP_SNAP_HEADER_SIZE];
	uint8_t key[32], other[32], mac[32], mac2[32];
	const size_t at = offsetof(struct cap_snap_header, mac);
	randombytes_buf(key, sizeof key);
	randombytes_buf(other, sizeof other);
	randombytes_buf(page, sizeof page);
	snapauth_mac(key, page, mac);
	memset(page + at, 0xee, 32);                   /* the field's content is not an input */
	snapauth_mac(key, page, mac2);
	assert_memory_equal(mac, mac2, 32);
	assert_int_equal(snapauth_verify(key, page), -1);
	memcpy(page + at, mac, 32);
	assert_int_equal(snapauth_verify(key, page), 0);
	assert_int_equal(snapauth_verify(other, page), -1);
	for (size_t i = 0; i < sizeof page; i++) {
		page[i] ^= 0x20;
		if (snapauth_verify(key, page) != -1)
			fail_msg("a flip at byte %zu of the header page still verifies", i);
		page[i] ^= 0x20;
	}
	assert_int_equal(snapauth_verify(key, page), 0);
	/* keyed: the same page's unkeyed hash is not the MAC */
	uint8_t plain[32];
	memset(page + at, 0, 32);
	crypto_generichash(plain, 32, page, sizeof page, NULL, 0);
	assert_memory_not_equal(plain, mac, 32);
}

static void test_install_cluster(void **state)
{
	(void)state;
	uint8_t data_key[32] = { 9, 9, 9 }, want[32], got[64];
	char err[PATH_MAX + 64];
	struct stat st;
	snapauth_derive_cluster(data_key, want);
	assert_int_equal(snapauth_install_cluster(run_dir, data_key, err, sizeof err), 0);
	assert_int_equal(get(cluster_file, got, sizeof got), 32);
	assert_memory_equal(got, want, 32);
	assert_int_equal(stat(cluster_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	data_key[0] = 1;                              /* a new data key: the file follows */
	assert_int_equal(snapauth_install_cluster(run_dir, data_key, err, sizeof err), 0);
	snapauth_derive_cluster(data_key, want);
	assert_int_equal(get(cluster_file, got, sizeof got), 32);
	assert_memory_equal(got, want, 32);
	char cmd[PATH_MAX + 64];                      /* no temp file left beside it */
	snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = snapshot.key", run_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(snapauth_install_cluster("/nonexistent/dir", data_key, err, sizeof err), -1);
	assert_string_equal(err, "/nonexistent/dir/snapshot.key: No such file or directory");
}

static void test_key_for_writing(void **state)
{
	(void)state;
	struct snap_key k, k2;
	char err[PATH_MAX + 64], path[512];
	struct stat st;
	uint8_t got[64];
	/* No key anywhere: the host key is made, in directories made 0700. */
	snprintf(path, sizeof path, "%s/new/sub/host.key", dir);
	setenv(SNAP_HOST_KEY_ENV, path, 1);
	assert_int_equal(snapauth_key_for_writing(&k, err, sizeof err), 0);
	assert_int_equal(k.kind, SNAP_KEY_HOST);
	assert_string_equal(k.path, path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(get(path, got, sizeof got), 32);
	assert_memory_equal(got, k.key, 32);
	snprintf(path, sizeof path, "%s/new/sub", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	uint8_t id[8];
	snapauth_key_id(k.key, id);
	assert_memory_equal(id, k.id, 8);
	/* Made once: the next snapshot uses the same key. */
	assert_int_equal(snapauth_key_for_writing(&k2, err, sizeof err), 0);
	assert_memory_equal(k.key, k2.key, 32);
	setenv(SNAP_HOST_KEY_ENV, host_key, 1);
	/* A cluster key in the run directory wins. */
	uint8_t cluster[32] = { 5, 4, 3 };
	put(cluster_file, cluster, 32);
	assert_int_equal(snapauth_key_for_writing(&k, err, sizeof err), 0);
	assert_int_equal(k.kind, SNAP_KEY_CLUSTER);
	assert_memory_equal(k.key, cluster, 32);
	assert_string_equal(k.path, cluster_file);
	assert_int_equal(access(host_key, F_OK), -1);   /* and no host key was made */
	/* A broken key file is an error, not a reason to make another key. */
	put(cluster_file, cluster, 31);
	assert_int_equal(snapauth_key_for_writing(&k, err, sizeof err), -1);
	snprintf(path, sizeof path, "%s: not a snapshot key (want exactly 32 bytes)", cluster_file);
	assert_string_equal(err, path);
}

static void test_keyring(void **state)
{
	(void)state;
	struct snap_keyring r;
	char err[PATH_MAX + 64], text[128], want[256], a[17], b[17];
	uint8_t cluster[32] = { 1 }, host[32] = { 2 };
	assert_int_equal(snapauth_keyring_load(&r, err, sizeof err), 0);
	assert_int_equal(r.n, 0);
	snapauth_keyring_describe(&r, text, sizeof text);
	assert_string_equal(text, "no snapshot key");
	put(cluster_file, cluster, 32);
	put(host_key, host, 32);
	assert_int_equal(snapauth_keyring_load(&r, err, sizeof err), 0);
	assert_int_equal(r.n, 2);
	snapauth_id_hex(r.keys[0].id, a);
	snapauth_id_hex(r.keys[1].id, b);
	snapauth_keyring_describe(&r, text, sizeof text);
	snprintf(want, sizeof want, "cluster key %s and host key %s", a, b);
	assert_string_equal(text, want);
	assert_ptr_equal(snapauth_keyring_find(&r, r.keys[1].id), &r.keys[1]);
	uint8_t nobody[8] = { 0 };
	assert_null(snapauth_keyring_find(&r, nobody));
	snapauth_keyring_wipe(&r);
	assert_int_equal(r.n, 0);
	/* A key file that is a FIFO is refused at once (it would block the reader). */
	unlink(host_key);
	assert_int_equal(mkfifo(host_key, 0600), 0);
	assert_int_equal(snapauth_keyring_load(&r, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", host_key);
	assert_string_equal(err, want);
	unlink(host_key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_derive, fresh),
		cmocka_unit_test_setup(test_key_id, fresh),
		cmocka_unit_test_setup(test_mac_and_verify, fresh),
		cmocka_unit_test_setup(test_install_cluster, fresh),
		cmocka_unit_test_setup(test_key_for_writing, fresh),
		cmocka_unit_test_setup(test_keyring, fresh),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
