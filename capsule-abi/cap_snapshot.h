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
 *
 * Version 4: a capsule of several processes (docs/PROCESSES.md section 7).
 * Everything above describes pid 1 (its memory holds the shared window);
 * a process section follows pid 1's data, at data_offset + data_size:
 *
 *   struct cap_snap_procs                   the table's header
 *   nprocs x struct cap_snap_proc           entry 0 is pid 1 (its memory is above)
 *   for each entry in order: nheld x struct cap_snap_held
 *   for each entry in order: nextents x struct cap_snap_extent
 *   nprograms x struct cap_snap_program     programs other than the capsule's own
 *   zero padding to a page
 *   for each entry in order: its extents' bytes, back to back
 *
 * procs_size is the section's length (a page multiple), procs_hash its
 * BLAKE2b-256 (struct cap_snap_header_ext); both are in the header page,
 * so the checksum and the MAC cover every byte of it.  Before version 5 a
 * capsule of one process was written as version 3 (no section).
 *
 * Version 5, what every file is written as now: versions 3 and 4 with a
 * keyed tag per chunk instead of an unkeyed hash, so a chunk costs a
 * fraction of a BLAKE2b to check (docs/STARTUP.md 7):
 *
 *   chunk_key = BLAKE2b-256 keyed with the snapshot key, salt = chunk_salt
 *               (16 random bytes, fresh for every file written, in the
 *               header page), personal = CAP_SNAP_CHUNK_PERSONAL, empty message;
 *   otk[i]    = the first 32 bytes of ChaCha20 (RFC 8439, block 0) under
 *               chunk_key at nonce 0x00000000 || le64(i);
 *   chunk[i]  = Poly1305 of data bytes [i * CHUNK, (i + 1) * CHUNK) under otk[i]
 *               (RFC 8439 section 2.6: one one-time key per chunk), 16 bytes.
 *
 * The chunk table's tags are 16 bytes each; the checksum and MAC are as
 * before.  A tag binds its chunk to its place (i) and its file (the salt,
 * under the MAC) for a holder of the key only: an editor of the file can
 * neither make a tag nor move one.  procs_size is 0 for a capsule of one
 * process (no section), else as in version 4.
 */
#define CAP_SNAP_MAGIC          "CAPSNP\r\n"
#define CAP_SNAP_MAGIC_LEN      8
#define CAP_SNAP_FORMAT_VERSION 5u           /* the newest read, and what files are written as */
#define CAP_SNAP_FORMAT_ONE_PROC 3u          /* a migration stream's header (it has no chunks) */
#define CAP_SNAP_FORMAT_PROCS   4u           /* the first with a process section (still read) */
#define CAP_SNAP_FORMAT_TAGS    5u           /* the first with keyed chunk tags */
#define CAP_SNAP_FORMAT_OLDEST  2u          /* still read: the whole-file checksum, no chunks */
#define CAP_SNAP_CHUNK_SIZE     (256u << 10) /* data bytes per chunk hash (version 3) */
#define CAP_SNAP_CHUNK_HASH_LEN 32           /* versions 3 and 4: BLAKE2b-256 */
#define CAP_SNAP_CHUNK_TAG_LEN  16           /* version 5: Poly1305 */
#define CAP_SNAP_SALT_LEN       16
#define CAP_SNAP_CHUNK_PERSONAL "capsnap5-chunks"   /* 15 characters + NUL: BLAKE2b's 16 */
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

/*
 * Versions 4 and 5, right after struct cap_snap_header in the header page
 * (zero before: that page's padding; chunk_salt is read in version 5 only).
 * Not part of struct cap_snap_header, whose 832 bytes a migration stream
 * carries as they are.
 */
#define CAP_SNAP_EXT_OFFSET 832u
struct cap_snap_header_ext {
	uint64_t procs_size;                  /* bytes of the process section, a page multiple
	                                       * (version 5: 0 for none) */
	uint8_t  procs_hash[32];              /* BLAKE2b-256 of the process section */
	uint8_t  chunk_salt[CAP_SNAP_SALT_LEN];   /* version 5: random, fresh for every file */
};
_Static_assert(sizeof(struct cap_snap_header_ext) == 56, "cap_snap_header_ext layout");
_Static_assert(CAP_SNAP_EXT_OFFSET + sizeof(struct cap_snap_header_ext) <= CAP_SNAP_HEADER_SIZE,
               "the extension fits in the header page");
_Static_assert(sizeof(struct cap_snap_header) <= CAP_SNAP_HEADER_SIZE, "header fits");

struct cap_snap_extent {
	uint64_t offset;   /* memfd offset, page aligned */
	uint64_t length;   /* bytes, page multiple, > 0 */
};
_Static_assert(sizeof(struct cap_snap_extent) == 16, "cap_snap_extent layout");

/* ---- version 4: the process section ---- */

#define CAP_SNAP_PROCS_MAGIC     "CAPPROC\n"
#define CAP_SNAP_PROCS_MAX       64          /* CAP_PROC_MAX (cap_proc.h) */
#define CAP_SNAP_HELD_MAX        256         /* records held for one process */

struct cap_snap_procs {
	uint8_t  magic[8];        /* CAP_SNAP_PROCS_MAGIC */
	uint32_t nprocs;          /* entries, 1..CAP_SNAP_PROCS_MAX (1: pid 1 alone, with records held for it) */
	uint32_t entry_size;      /* sizeof(struct cap_snap_proc) */
	uint32_t next_pid;        /* the pid the next fork gets (pids are never reused) */
	uint32_t nprograms;       /* struct cap_snap_program entries, 0..CAP_SNAP_PROGRAMS_MAX
	                           * (0 in files of caprun before it; they then checked it was 0) */
};
_Static_assert(sizeof(struct cap_snap_procs) == 24, "cap_snap_procs layout");

struct cap_snap_proc {
	int32_t  pid;             /* as the capsule sees it: 1 for entry 0, else 2..next_pid-1 */
	int32_t  ppid;            /* 0 for pid 1, else a pid of this table */
	uint32_t slot;            /* caprun's table index (bit of a wake mask): 0 for pid 1 */
	uint32_t nextents;        /* its memory's extents; 0 for pid 1 (the file's own) */
	uint32_t nheld;           /* records on their way to it when it froze */
	uint32_t program;         /* 0: the capsule's own (the header's build-id); k: the table's
	                           * program k-1, which an execve started (pid 1's too) */
	uint64_t data_size;       /* sum of its extents' lengths */
};
_Static_assert(sizeof(struct cap_snap_proc) == 32, "cap_snap_proc layout");

/* A channel record caprun held for a process while the capsule froze (cap_proc.h). */
struct cap_snap_held {
	uint8_t  type;            /* CAP_MSG_CHILD, WAKE, SIGNAL, PGID or LOST (cap_proc.h) */
	uint8_t  reserved[7];     /* 0 */
	uint8_t  payload[8];      /* its struct cap_proc_* */
};
_Static_assert(sizeof(struct cap_snap_held) == 16, "cap_snap_held layout");

/*
 * A program a process runs since an execve of a .cap on a volume
 * (docs/PROCESSES.md section 7).  Its code is not in the snapshot, as the
 * capsule's own is not: resume opens path on the host and refuses another
 * build-id.  Every process's memory is laid out for the capsule's arena
 * size (the header's), whatever program it runs.  The header still names
 * the capsule's own program when pid 1 runs another: a later execve by the
 * capsule's name needs it.
 */
#define CAP_SNAP_PROGRAMS_MAX    16
struct cap_snap_program {
	uint32_t build_id_len;    /* 1..32 */
	uint32_t reserved;        /* 0 */
	uint8_t  build_id[32];
	char     name[64];        /* the image's name, NUL-terminated */
	char     path[512];       /* the .cap file on the host (absolute), NUL-terminated */
};
_Static_assert(sizeof(struct cap_snap_program) == 616, "cap_snap_program layout");

/* Bytes of the section before the data: table, held records, extent tables, up to a page. */
uint64_t cap_snap_procs_meta_size(const struct cap_snap_procs *t, const struct cap_snap_proc *e);

/*
 * The process table (t, entries e, then the held records and extent tables
 * at meta, meta_len bytes from the section's start) against the header:
 * magic, counts, pid 1 first, unique pids and slots, parents in the table,
 * held record types, each process's extents sorted inside memfd_size and
 * adding up to its data_size, programs named by a process each and well
 * formed, and the section's size.  Call with e NULL
 * to check t alone (then nothing else is read).  0, or -1 with "entry N
 * (pid P): reason" or a reason in err.
 */
int cap_snap_check_procs(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                         const struct cap_snap_procs *t,
                         const struct cap_snap_proc *e, const uint8_t *meta, uint64_t meta_len,
                         char *err, size_t errlen);

/* Where the chunk table starts: after the header page and the extent table's pages. */
uint64_t cap_snap_chunk_table_offset(uint32_t nextents);

/* Chunks of data_size bytes of data (0 for version 2, which has none). */
uint64_t cap_snap_chunk_count(uint32_t format_version, uint64_t data_size);

/* Bytes of one chunk table entry: a BLAKE2b-256 (versions 3, 4) or a Poly1305 tag (5). */
size_t cap_snap_chunk_entry_len(uint32_t format_version);

/* 1 if the file has a process section: always in version 4, in 5 if procs_size says so. */
int cap_snap_has_procs(const struct cap_snap_header *h, const struct cap_snap_header_ext *x);

/* Where the data starts: after the header page, the extent table and (version 3) the chunk table. */
uint64_t cap_snap_data_offset(uint32_t format_version, uint32_t nextents, uint64_t data_size);

/* data_offset + data_size as the header's version, nextents and data_size make them
 * (version 4: and the process section's size, x; NULL: none). */
uint64_t cap_snap_file_size(const struct cap_snap_header *h);
uint64_t cap_snap_file_size_ext(const struct cap_snap_header *h, const struct cap_snap_header_ext *x);

/*
 * Checks that need no hashing.  Return 0, or -1 with a short reason in err.
 * check_header: magic, versions, sizes against the real file size, strings.
 * check_extents: sorted, page aligned, non-overlapping, inside memfd_size,
 * lengths adding up to data_size.
 */
int cap_snap_check_header(const struct cap_snap_header *h, uint64_t file_size,
                          char *err, size_t errlen);
/* The same with the header page's extension x (ignored before version 4; check_header: x
 * all zeros, so a version 4 header, or a version 5 one (its salt is never all zero), is
 * refused where no file's header page is, as in a migration stream). */
int cap_snap_check_header_ext(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                              uint64_t file_size, char *err, size_t errlen);
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
