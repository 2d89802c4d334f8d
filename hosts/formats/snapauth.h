/* snapauth.h: snapshot authentication: the cluster and host snapshot keys, their fingerprints, the MAC over a snapshot's header page. */
#ifndef HOST_SNAPAUTH_H
#define HOST_SNAPAUTH_H

#include "capsule-abi/cap_snapshot.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Which key a snapshot is MACed with (docs/FORMAT-SNAPSHOT.md, section 2):
 *
 *   cluster key  $CAPSULE_RUN_DIR/snapshot.key, written by caphostd at start:
 *                crypto_kdf_derive_from_key(32, 1, "capsnap1", the cluster's
 *                data key), so every host of a cluster has the same one and
 *                the data key itself never lands in a second file;
 *   host key     $CAPSULE_HOST_KEY, else /var/lib/capsule/host.key: 32
 *                random bytes made on first need, for a host in no cluster.
 *
 * A writer uses the cluster key if there is one, else the host key; the
 * header names the key by its fingerprint (key id), and a reader verifies
 * with whichever of its keys has that id.  Key files are 32 raw bytes,
 * mode 0600, written with temp file + fsync + rename.
 */
#define SNAP_KEY_FILE         "snapshot.key"
#define SNAP_HOST_KEY_ENV     "CAPSULE_HOST_KEY"
#define SNAP_HOST_KEY_DEFAULT "/var/lib/capsule/host.key"

enum snap_key_kind { SNAP_KEY_CLUSTER = 1, SNAP_KEY_HOST = 2 };

struct snap_key {
	uint8_t key[CAP_SNAP_KEY_LEN];
	uint8_t id[CAP_SNAP_KEY_ID_LEN];
	int kind;                   /* enum snap_key_kind */
	char path[PATH_MAX];        /* where it was read from */
};

/* The keys this host has, at most one of each kind. */
struct snap_keyring {
	unsigned n;
	struct snap_key keys[2];
};

/* The cluster snapshot key from the cluster's data key (the key file's "data HEX64" line). */
void snapauth_derive_cluster(const uint8_t data_key[CAP_SNAP_KEY_LEN],
                             uint8_t out[CAP_SNAP_KEY_LEN]);

/* A key's fingerprint: the first 8 bytes of its unkeyed BLAKE2b-256. */
void snapauth_key_id(const uint8_t key[CAP_SNAP_KEY_LEN], uint8_t id[CAP_SNAP_KEY_ID_LEN]);

/* Lower-case hex of a fingerprint (17 bytes with the NUL). */
void snapauth_id_hex(const uint8_t id[CAP_SNAP_KEY_ID_LEN], char out[2 * CAP_SNAP_KEY_ID_LEN + 1]);

/* "cluster" or "host". */
const char *snapauth_kind_name(int kind);

/*
 * The MAC of a snapshot: keyed BLAKE2b-256 over its header page (4096
 * bytes) with the mac field taken as zero.  The page holds the checksum of
 * the whole file, so the MAC covers every byte.  verify: 0 if the page's
 * mac field is that MAC (constant-time compare), -1 if not.
 */
void snapauth_mac(const uint8_t key[CAP_SNAP_KEY_LEN], const uint8_t page[CAP_SNAP_HEADER_SIZE],
                  uint8_t mac[CAP_SNAP_MAC_LEN]);
int snapauth_verify(const uint8_t key[CAP_SNAP_KEY_LEN], const uint8_t page[CAP_SNAP_HEADER_SIZE]);

/*
 * caphostd at start: derive the cluster key from data_key and write it to
 * run_dir/snapshot.key (0600, temp file + fsync + rename).  0, or -1 with
 * "PATH: reason" in err.
 */
int snapauth_install_cluster(const char *run_dir, const uint8_t data_key[CAP_SNAP_KEY_LEN],
                             char *err, size_t errlen);

/*
 * The key a snapshot written now is MACed with: the cluster key if
 * $CAPSULE_RUN_DIR/snapshot.key exists, else the host key, made (and its
 * directory, 0700) if missing.  0, or -1 with "PATH: reason" in err.
 */
int snapauth_key_for_writing(struct snap_key *k, char *err, size_t errlen);

/*
 * Every key this host has, none made.  0 (r->n may be 0), or -1 with
 * "PATH: reason" in err when a key file exists but is unusable (not a
 * regular file, not 32 bytes).
 */
int snapauth_keyring_load(struct snap_keyring *r, char *err, size_t errlen);

/* The ring's key with this fingerprint, or NULL. */
const struct snap_key *snapauth_keyring_find(const struct snap_keyring *r,
                                             const uint8_t id[CAP_SNAP_KEY_ID_LEN]);

/* "cluster key 3f2a1b0c9d8e7f60 and host key ..." or "no snapshot key", for messages. */
void snapauth_keyring_describe(const struct snap_keyring *r, char *out, size_t len);

/* Forget the key bytes. */
void snapauth_keyring_wipe(struct snap_keyring *r);

#endif
