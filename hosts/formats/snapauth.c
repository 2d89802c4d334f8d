/* snapauth.c: snapshot authentication: cluster and host snapshot keys (derived, made, stored), fingerprints, the header-page MAC. */
#include "hosts/formats/snapauth.h"
#include "hosts/formats/ctlproto.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(CAP_SNAP_KEY_LEN == crypto_kdf_KEYBYTES, "a data key is a kdf master key");
_Static_assert(sizeof CAP_SNAP_KDF_CONTEXT - 1 == crypto_kdf_CONTEXTBYTES, "kdf context size");

static void need_sodium(void)
{
	if (sodium_init() < 0)
		abort();   /* only fails without a usable entropy source */
}

void snapauth_derive_cluster(const uint8_t data_key[CAP_SNAP_KEY_LEN], uint8_t out[CAP_SNAP_KEY_LEN])
{
	need_sodium();
	crypto_kdf_derive_from_key(out, CAP_SNAP_KEY_LEN, CAP_SNAP_KDF_SUBKEY, CAP_SNAP_KDF_CONTEXT,
	                           data_key);
}

void snapauth_key_id(const uint8_t key[CAP_SNAP_KEY_LEN], uint8_t id[CAP_SNAP_KEY_ID_LEN])
{
	uint8_t h[32];
	need_sodium();
	crypto_generichash(h, sizeof h, key, CAP_SNAP_KEY_LEN, NULL, 0);
	memcpy(id, h, CAP_SNAP_KEY_ID_LEN);
}

void snapauth_id_hex(const uint8_t id[CAP_SNAP_KEY_ID_LEN], char out[2 * CAP_SNAP_KEY_ID_LEN + 1])
{
	sodium_bin2hex(out, 2 * CAP_SNAP_KEY_ID_LEN + 1, id, CAP_SNAP_KEY_ID_LEN);
}

const char *snapauth_kind_name(int kind)
{
	return kind == SNAP_KEY_CLUSTER ? "cluster" : "host";
}

void snapauth_mac(const uint8_t key[CAP_SNAP_KEY_LEN], const uint8_t page[CAP_SNAP_HEADER_SIZE],
                  uint8_t mac[CAP_SNAP_MAC_LEN])
{
	static const uint8_t zero[CAP_SNAP_MAC_LEN];
	const size_t at = offsetof(struct cap_snap_header, mac);
	crypto_generichash_state st;
	need_sodium();
	crypto_generichash_init(&st, key, CAP_SNAP_KEY_LEN, CAP_SNAP_MAC_LEN);
	crypto_generichash_update(&st, page, at);
	crypto_generichash_update(&st, zero, sizeof zero);
	crypto_generichash_update(&st, page + at + CAP_SNAP_MAC_LEN,
	                          CAP_SNAP_HEADER_SIZE - at - CAP_SNAP_MAC_LEN);
	crypto_generichash_final(&st, mac, CAP_SNAP_MAC_LEN);
}

int snapauth_verify(const uint8_t key[CAP_SNAP_KEY_LEN], const uint8_t page[CAP_SNAP_HEADER_SIZE])
{
	uint8_t mac[CAP_SNAP_MAC_LEN];
	_Static_assert(CAP_SNAP_MAC_LEN == 32, "crypto_verify_32");
	snapauth_mac(key, page, mac);
	return crypto_verify_32(mac, page + offsetof(struct cap_snap_header, mac));
}

/* 1 with the key read, 0 if there is no such file, -1 with "PATH: reason". */
static int read_key(const char *path, uint8_t key[CAP_SNAP_KEY_LEN], char *err, size_t errlen)
{
	struct stat st;
	char why[128];
	if (stat(path, &st) < 0 && errno == ENOENT)
		return 0;
	int fd = fileio_open_regular(path, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	int ok = fstat(fd, &st) == 0 && st.st_size == CAP_SNAP_KEY_LEN &&
	         fileio_pread_full(fd, key, CAP_SNAP_KEY_LEN, 0) == 0;
	close(fd);
	if (!ok) {
		snprintf(err, errlen, "%s: not a snapshot key (want exactly %d bytes)", path,
		         CAP_SNAP_KEY_LEN);
		return -1;
	}
	return 1;
}

/*
 * key into path: a temp file beside it (0600), fsync, then into place and
 * the directory fsync'd.  replace 0: link() instead of rename(), so a key
 * another process put there first wins (returns 1; read that one).
 */
static int write_key(const char *path, const uint8_t key[CAP_SNAP_KEY_LEN], int replace,
                     char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);   /* mode 0600 */
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int r = fileio_pwrite_full(fd, key, CAP_SNAP_KEY_LEN, 0) || fsync(fd) ? -1 : 0;
	if (close(fd) && !r)
		r = -1;
	int lost = 0;
	if (!r && replace)
		r = rename(tmp, path);
	else if (!r && link(tmp, path) < 0) {
		lost = errno == EEXIST;
		r = lost ? 0 : -1;
	}
	int saved = errno;
	if (r || !replace)
		unlink(tmp);
	if (r) {
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	snprintf(dir, sizeof dir, "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		snprintf(err, errlen, "%s: fsync of its directory: %s", path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return lost;
}

/* Every missing directory above path, mode 0700: nobody else reads what we keep there. */
static int make_parents(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *d = dirname(dir);
	for (char *p = d + 1; ; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			return 0;
	}
}

static void cluster_path(char *out, size_t len)
{
	snprintf(out, len, "%s/%s", ctlsock_run_dir(), SNAP_KEY_FILE);
}

static void host_path(char *out, size_t len)
{
	const char *p = getenv(SNAP_HOST_KEY_ENV);
	snprintf(out, len, "%s", p && *p ? p : SNAP_HOST_KEY_DEFAULT);
}

int snapauth_install_cluster(const char *run_dir, const uint8_t data_key[CAP_SNAP_KEY_LEN],
                             char *err, size_t errlen)
{
	char path[PATH_MAX];
	uint8_t key[CAP_SNAP_KEY_LEN];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", run_dir, SNAP_KEY_FILE) >= sizeof path) {
		snprintf(err, errlen, "%s: %s", run_dir, strerror(ENAMETOOLONG));
		return -1;
	}
	snapauth_derive_cluster(data_key, key);
	int r = write_key(path, key, 1, err, errlen);
	sodium_memzero(key, sizeof key);
	return r < 0 ? -1 : 0;
}

static void fill(struct snap_key *k, int kind, const char *path)
{
	k->kind = kind;
	snprintf(k->path, sizeof k->path, "%s", path);
	snapauth_key_id(k->key, k->id);
}

int snapauth_key_for_writing(struct snap_key *k, char *err, size_t errlen)
{
	char path[PATH_MAX];
	memset(k, 0, sizeof *k);
	cluster_path(path, sizeof path);
	int r = read_key(path, k->key, err, errlen);
	if (r)
		return r < 0 ? -1 : (fill(k, SNAP_KEY_CLUSTER, path), 0);
	host_path(path, sizeof path);
	r = read_key(path, k->key, err, errlen);
	if (r)
		return r < 0 ? -1 : (fill(k, SNAP_KEY_HOST, path), 0);
	/* First snapshot on a host in no cluster: its own key, from now on. */
	if (make_parents(path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	need_sodium();
	randombytes_buf(k->key, sizeof k->key);
	r = write_key(path, k->key, 0, err, errlen);
	if (r > 0) {   /* another caprun made it first: use that one */
		r = read_key(path, k->key, err, errlen);
		if (r == 0)
			snprintf(err, errlen, "%s: a link to nowhere", path);
		r = r == 1 ? 0 : -1;
	}
	if (r < 0) {
		sodium_memzero(k, sizeof *k);
		return -1;
	}
	fill(k, SNAP_KEY_HOST, path);
	return 0;
}

int snapauth_keyring_load(struct snap_keyring *r, char *err, size_t errlen)
{
	char path[PATH_MAX];
	memset(r, 0, sizeof *r);
	for (int kind = SNAP_KEY_CLUSTER; kind <= SNAP_KEY_HOST; kind++) {
		struct snap_key *k = &r->keys[r->n];
		if (kind == SNAP_KEY_CLUSTER)
			cluster_path(path, sizeof path);
		else
			host_path(path, sizeof path);
		int got = read_key(path, k->key, err, errlen);
		if (got < 0) {
			snapauth_keyring_wipe(r);
			return -1;
		}
		if (got) {
			fill(k, kind, path);
			r->n++;
		}
	}
	return 0;
}

const struct snap_key *snapauth_keyring_find(const struct snap_keyring *r,
                                             const uint8_t id[CAP_SNAP_KEY_ID_LEN])
{
	for (unsigned i = 0; r && i < r->n; i++)
		if (memcmp(r->keys[i].id, id, CAP_SNAP_KEY_ID_LEN) == 0)
			return &r->keys[i];
	return NULL;
}

void snapauth_keyring_describe(const struct snap_keyring *r, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (unsigned i = 0; r && i < r->n && o < len; i++) {
		char hex[2 * CAP_SNAP_KEY_ID_LEN + 1];
		snapauth_id_hex(r->keys[i].id, hex);
		o += (size_t)snprintf(out + o, len - o, "%s%s key %s", i ? " and " : "",
		                      snapauth_kind_name(r->keys[i].kind), hex);
	}
	if (!r || r->n == 0)
		snprintf(out, len, "no snapshot key");
}

void snapauth_keyring_wipe(struct snap_keyring *r)
{
	sodium_memzero(r, sizeof *r);
}
