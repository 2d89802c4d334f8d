/* cap_snapshot.h: the snapshot file format: a frozen capsule's memory, sparse, bound to its image. */
#ifndef CAP_SNAPSHOT_H
#define CAP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A snapshot is a sparse copy of the capsule's memfd (see cap_abi.h: the
 * memfd holds everything the capsule can write), taken at the safe point.
 *
 *   offset 0             struct cap_snap_header, zero-padded to 4096 bytes
 *   offset 4096          nextents struct cap_snap_extent, zero-padded to a page
 *   chunk table          (version 3) one BLAKE2b-256 per CAP_SNAP_CHUNK_SIZE
 *                        bytes of the data (the last chunk may be shorter),
 *                        zero-padded to a page
 *   offset data_offset   the extents' bytes, back to back, in table order
 *
 * Only pages holding data are stored (SEEK_DATA/SEEK_HOLE on the memfd), so
 * the file's size follows memory touched, not arena size.  Integers are
 * little-endian.
 *
 *   chunk[i] = BLAKE2b-256 of data bytes [i * CHUNK, (i + 1) * CHUNK);
 *   checksum = BLAKE2b-256 over the header page, the extent table and the
 *              chunk table (not the data: the chunk hashes stand for it),
 *              with the checksum and mac fields zeroed: catches accidents,
 *              anyone can recompute it;
 *   mac      = BLAKE2b-256 keyed with a snapshot key over the header page
 *              with the mac field zeroed (so over the checksum, so over
 *              the chunk hashes, so over every byte): only a holder of the
 *              key can make it;
 *   key_id   = the first 8 bytes of BLAKE2b-256(key), naming the key.
 *
 * So a reader authenticates the whole file from its first pages, and can
 * load the data later, a chunk at a time, checking each against its hash
 * before using a byte of it (lazy resume).  Version 2 (no chunk table, the
 * checksum over the whole file) is still read; version 1 (no key_id, no
 * mac) is refused.  See docs/FORMAT-SNAPSHOT.md.
 */
#define CAP_SNAP_MAGIC          "CAPSNP\r\n"
#define CAP_SNAP_MAGIC_LEN      8
#define CAP_SNAP_FORMAT_VERSION 3u
#define CAP_SNAP_FORMAT_OLDEST  2u          /* still read: the whole-file checksum, no chunks */
#define CAP_SNAP_CHUNK_SIZE     (256u << 10) /* data bytes per chunk hash (version 3) */
#define CAP_SNAP_CHUNK_HASH_LEN 32
#define CAP_SNAP_HEADER_SIZE    4096u
#define CAP_SNAP_MAX_EXTENTS    (1u << 20)
#define CAP_SNAP_KEY_LEN        32
#define CAP_SNAP_KEY_ID_LEN     8
#define CAP_SNAP_MAC_LEN        32
#define CAP_SNAP_KDF_CONTEXT    "capsnap1"   /* crypto_kdf context of the cluster snapshot key */
#define CAP_SNAP_KDF_SUBKEY     1u

struct cap_snap_header {
	uint8_t  magic[CAP_SNAP_MAGIC_LEN];   /* CAP_SNAP_MAGIC */
	uint32_t format_version;              /* CAP_SNAP_FORMAT_VERSION */
	uint32_t abi_version;                 /* CAP_ABI_VERSION of the frozen capsule */
	uint32_t header_size;                 /* CAP_SNAP_HEADER_SIZE */
	uint32_t flags;                       /* 0 */
	uint32_t nextents;
	uint32_t build_id_len;
	uint8_t  build_id[32];                /* the image's build-id: resume needs that image */
	char     image_name[64];              /* NUL-terminated */
	char     image_path[512];             /* where the image was (a hint), NUL-terminated */
	char     capsule_name[64];            /* NUL-terminated */
	uint32_t ip;                          /* capsule IPv4 address, network order */
	uint32_t mtu;
	uint64_t arena_size;
	uint64_t memfd_size;                  /* size of the memfd the extents belong to */
	int64_t  frozen_at_ns;                /* capsule monotonic time at the freeze */
	int64_t  taken_at_unix_ns;            /* host wall-clock time of the snapshot */
	uint64_t data_offset;                 /* page aligned */
	uint64_t data_size;                   /* sum of extent lengths */
	uint8_t  checksum[32];
	uint8_t  key_id[CAP_SNAP_KEY_ID_LEN]; /* fingerprint of the key that made mac */
	uint8_t  mac[CAP_SNAP_MAC_LEN];
};
_Static_assert(sizeof(struct cap_snap_header) == 832, "cap_snap_header layout");
_Static_assert(sizeof(struct cap_snap_header) <= CAP_SNAP_HEADER_SIZE, "header fits");

struct cap_snap_extent {
	uint64_t offset;   /* memfd offset, page aligned */
	uint64_t length;   /* bytes, page multiple, > 0 */
};
_Static_assert(sizeof(struct cap_snap_extent) == 16, "cap_snap_extent layout");

/* Where the chunk table starts: after the header page and the extent table's pages. */
uint64_t cap_snap_chunk_table_offset(uint32_t nextents);

/* Chunks of data_size bytes of data (0 for version 2, which has none). */
uint64_t cap_snap_chunk_count(uint32_t format_version, uint64_t data_size);

/* Where the data starts: after the header page, the extent table and (version 3) the chunk table. */
uint64_t cap_snap_data_offset(uint32_t format_version, uint32_t nextents, uint64_t data_size);

/* data_offset + data_size as the header's version, nextents and data_size make them. */
uint64_t cap_snap_file_size(const struct cap_snap_header *h);

/*
 * Checks that need no hashing.  Return 0, or -1 with a short reason in err.
 * check_header: magic, versions, sizes against the real file size, strings.
 * check_extents: sorted, page aligned, non-overlapping, inside memfd_size,
 * lengths adding up to data_size.
 */
int cap_snap_check_header(const struct cap_snap_header *h, uint64_t file_size,
                          char *err, size_t errlen);
int cap_snap_check_extents(const struct cap_snap_header *h,
                           const struct cap_snap_extent *ext, char *err, size_t errlen);

/*
 * The control page stored in a snapshot (the first memfd page) must be a
 * frozen one of this ABI, with a resume context pointing into the image's
 * code and the capsule's stack or arena: resume jumps there.  ctl is
 * struct cap_control (cap_abi.h).  0, or -1 with "the snapshot holds no
 * frozen control page" in err.
 */
struct cap_control;
int cap_snap_check_control(const struct cap_control *ctl, const struct cap_snap_header *h,
                           char *err, size_t errlen);

#endif
