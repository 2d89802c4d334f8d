/* migstream.h: the live-migration transfer stream: a frozen capsule sent over TCP, sealed with AES-256-GCM records. */
#ifndef HOST_MIGSTREAM_H
#define HOST_MIGSTREAM_H

#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/aesgcm.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One migration = one TCP connection source -> target carrying (byte
 * diagram in docs/MIGRATION.md section 4):
 *
 *   head (56 bytes, in clear)
 *     0  magic "CAPMIG\r\n"     8  version u16 (3)   10 flags u16 (0)
 *     12 source host_id u32     16 target host_id u32 20 epoch u32 (the capsule's
 *                                                        directory epoch e, nonzero)
 *     24 migration_id u64 (random, nonzero)
 *     32 nonce base (12 random bytes)  44 reserved (12 bytes, 0)
 *   then records, each:  length u32 (ciphertext bytes, tag included) |
 *                         ciphertext | 16-byte GCM tag
 *
 * Every record is one AES-256-GCM message (libgcrypt, hosts/formats/aesgcm.h:
 * AES-NI and carry-less multiply where the CPU has them) whose plaintext is
 * type u8 | body.  The stream key is derived per migration:
 * crypto_kdf_derive_from_key(subkey_id = migration_id, ctx "capmig01",
 * cluster data key), so a key never serves two migrations and the id alone
 * (public) says which key.  Record i (0, 1, ...) uses the nonce
 * nonce base XOR i (big-endian, in the last 8 bytes), as TLS 1.3 does, and
 * its 4-byte length as additional data; the PREAMBLE (record 0) also the
 * first 32 head bytes, so forged host ids or a changed version fail there.
 *
 * The nonce chains the records: a reordered, repeated, dropped or altered
 * record fails to authenticate (MIG_E_BAD_TAG), and only END may close the
 * stream.  On top of that the decoder checks the record SEQUENCE (an
 * honest but buggy sender):
 *
 *   PREAMBLE  name[64] (NUL padded) | struct cap_snap_header (832 bytes,
 *             little-endian exactly as in a snapshot file; checksum, key_id
 *             and mac 0)
 *   EXTENTS   n u32 (1..MIG_EXTENTS_PER_REC) | n x {offset u64, length u64}
 *             until hdr.nextents have come, in table order
 *   DATA      offset u64 (memfd offset) | 1..MIG_CHUNK_MAX bytes; chunks
 *             tile the extents exactly, in order, never crossing one
 *   END       total_data u64 | records u64 (count before END); nothing may
 *             follow
 *
 * Pre-copy (version 4) puts records BEFORE the PREAMBLE, sent while the
 * capsule still runs, and then the DATA part carries only what changed:
 *
 *   PRECOPY   memfd_size u64 (page multiple) | name[64] | struct cap_snap_header
 *             (832 bytes, as in the PREAMBLE): who is coming, so the target
 *             checks its image while the capsule still runs (version 5);
 *             only as record 0
 *   PAGES     offset u64 | whole pages (1..MIG_CHUNK_MAX bytes), anywhere in
 *             [0, memfd_size), any order, any number of times (later wins)
 *   ROUND     round u32 (1, 2, ...) | 0 u32 | bytes u64 (PAGES bytes since
 *             the last ROUND): the end of one pass over what was dirty
 *
 * After a PRECOPY the PREAMBLE's memfd_size and identity (name, image name,
 * path and build-id, address, MTU, arena size) must equal its; DATA chunks are
 * whole pages, ascending, each inside one extent, but need not tile them;
 * END's total_data counts the DATA bytes; and END is refused unless every
 * page of every extent arrived at least once, in PAGES or DATA.  The
 * receiver punches every range outside the extents (pages sent early that
 * the capsule gave back since).  Record 0, whatever its type, also
 * authenticates the head.
 *
 * Several processes (version 6, docs/PROCESSES.md section 7).  The other
 * processes' memory is pre-copied with pid 1's, in the same rounds:
 *
 *   PROC_PAGES pid i32 (2..) | 0 u32 | offset u64 | whole pages (1..MIG_CHUNK_MAX
 *             bytes) of that process's memfd (as large as pid 1's), any order,
 *             any number of times (later wins); counted in the ROUND's bytes
 *
 * and, frozen, after pid 1's last DATA (where END could come), the process
 * table exactly as a snapshot file's process section begins (cap_snapshot.h,
 * version 4: the table, the records held for each process, each other
 * process's extents; up to its data):
 *
 *   PROCS     size u64 (a page multiple, 1..MIG_PROCS_MAX) | hash[32] (the
 *             table's BLAKE2b-256); once
 *   PROCDATA  offset u64 (in the table) | 1..MIG_CHUNK_MAX bytes; chunks
 *             tile [0, size) in order
 *
 * then PROC_PAGES again: what changed since it was pre-copied (or all of a
 * process's extents, without pre-copy).  END needs the whole table; its
 * total_data still counts pid 1's DATA bytes only.  This decoder checks the
 * framing and records which pages of which pid arrived; the target checks
 * the table with the snapshot's reader (snapprocs_read_table: the hash,
 * then the table) and that every page of every process's extents arrived
 * (migstream_rx_proc_covered), before anything of it is made.
 *
 * Our own integers are big-endian.  Everything here but the mig_*_fd
 * helpers is pure: no I/O, no global state; the decoder allocates its
 * extent table and one record buffer.  Call sodium_init() first.
 */

#define MIG_MAGIC           "CAPMIG\r\n"
#define MIG_VERSION         7         /* 7: the target acknowledges each ROUND (migctl.h ROUND_DONE); 6: PROCS, PROCDATA (several processes); 5: PRECOPY names the capsule; 4: pre-copy records; 3: AES-256-GCM (2: secretstream) */
#define MIG_PORT            7472      /* default TCP port a host accepts migrations on */
#define MIG_HEAD_LEN        56
#define MIG_HEAD_AD_LEN     32        /* head bytes authenticated as the PREAMBLE's additional data */
#define MIG_KEY_LEN         32
#define MIG_KDF_CONTEXT     "capmig01"
#define MIG_NAME_LEN        64
#define MIG_CHUNK_MAX       65536u
#define MIG_EXTENTS_PER_REC 4096u
#define MIG_NONCE_LEN       12
#define MIG_TAG_LEN         16        /* the GCM tag after each record's ciphertext */
#define MIG_PLAIN_MAX       (1u + 16u + MIG_CHUNK_MAX)  /* largest plaintext: a full PROC_PAGES record */
#define MIG_REC_MAX         (4u + MIG_PLAIN_MAX + MIG_TAG_LEN)
#define MIG_PREAMBLE_LEN    (MIG_NAME_LEN + sizeof(struct cap_snap_header))
#define MIG_PAGE            4096u     /* pre-copy moves whole pages */
/* Largest memfd a PRECOPY may announce: the fixed windows below the arena plus the largest arena. */
#define MIG_PRECOPY_MAX     (CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + CAP_ARENA_MAX)
/* Largest process table: 64 entries, their held records and at most CAP_SNAP_MAX_EXTENTS
 * extents each. */
#define MIG_PROCS_MAX       ((uint64_t)CAP_SNAP_PROCS_MAX * (CAP_SNAP_MAX_EXTENTS + 512u) * 16u)
#define MIG_PROCS_HASH_LEN  32

/*
 * ---- wire layouts (documentation + size checks; the codec reads and
 * writes bytes at these offsets, big-endian, u64 as two u32 words) ----
 */
struct mig_wire_head {
	char     magic[8];            /*  0: MIG_MAGIC */
	uint16_t version;             /*  8: MIG_VERSION */
	uint16_t flags;               /* 10: 0 */
	uint32_t source_host;         /* 12 */
	uint32_t target_host;         /* 16 */
	uint32_t epoch;               /* 20: nonzero */
	uint32_t migration_id[2];     /* 24: nonzero */
	uint8_t  nonce_base[MIG_NONCE_LEN];   /* 32: random */
	uint8_t  reserved[12];        /* 44: 0 */
};
_Static_assert(sizeof(struct mig_wire_head) == MIG_HEAD_LEN, "stream head is 56 bytes");
_Static_assert(offsetof(struct mig_wire_head, source_host) == 12 &&
               offsetof(struct mig_wire_head, migration_id) == 24 &&
               offsetof(struct mig_wire_head, nonce_base) == MIG_HEAD_AD_LEN, "stream head offsets");
/* Record bodies after the type byte. */
struct mig_wire_preamble { char name[MIG_NAME_LEN]; struct cap_snap_header hdr; };
struct mig_wire_extent   { uint32_t offset[2], length[2]; };   /* EXTENTS: n u32, then n of these */
struct mig_wire_data     { uint32_t offset[2]; };              /* DATA: then 1..MIG_CHUNK_MAX bytes */
struct mig_wire_end      { uint32_t total_data[2], records[2]; };
_Static_assert(sizeof(struct mig_wire_preamble) == MIG_PREAMBLE_LEN &&
               offsetof(struct mig_wire_preamble, hdr) == MIG_NAME_LEN, "PREAMBLE body");
_Static_assert(sizeof(struct cap_snap_header) == 832, "PREAMBLE carries the 832-byte snapshot header");
_Static_assert(sizeof(struct mig_wire_extent) == 16, "EXTENTS entry");
_Static_assert(sizeof(struct mig_wire_data) == 8, "DATA offset");
_Static_assert(sizeof(struct mig_wire_end) == 16, "END body");

enum mig_rec_type {
	MIG_REC_HEAD     = 0,   /* decoder only: the clear head was read */
	MIG_REC_PREAMBLE = 1,
	MIG_REC_EXTENTS  = 2,
	MIG_REC_DATA     = 3,
	MIG_REC_END      = 4,
	MIG_REC_PRECOPY  = 5,
	MIG_REC_PAGES    = 6,
	MIG_REC_ROUND    = 7,
	MIG_REC_PROCS    = 8,
	MIG_REC_PROCDATA = 9,
	MIG_REC_PROC_PAGES = 10,
};

enum mig_status {
	MIG_OK = 0,           /* a record (decoder) / the bytes (encoder) are ready */
	MIG_NEED_MORE,        /* decoder: no complete record in the buffer yet */
	MIG_E_TRUNCATED,      /* the stream ended before its END record */
	MIG_E_BAD_MAGIC,
	MIG_E_BAD_VERSION,
	MIG_E_BAD_HEAD,       /* flags/reserved set, migration id 0, host id 0 */
	MIG_E_WRONG_HOST,     /* the head names another target host */
	MIG_E_BAD_LENGTH,     /* record length field out of range */
	MIG_E_BAD_TAG,        /* authentication failed: corrupt, forged, wrong key, reordered, repeated, dropped */
	MIG_E_OUT_OF_ORDER,   /* authentic, but not the record expected here */
	MIG_E_BAD_RECORD,     /* authentic, but its contents are inconsistent (or final tag misplaced) */
	MIG_E_AFTER_END,      /* bytes after the END record */
	MIG_E_NOSPACE,        /* encoder: caller's buffer too small */
	MIG_E_NOMEM,
	MIG_E_IO,             /* fd helpers: read/write failed, peer closed, timeout (errno kept) */
	MIG_E_NO_CRYPTO,      /* the cipher could not be set up (aesgcm.h; it printed why) */
	MIG_E_COUNT
};

/* What travels in clear: who sends, to whom, which migration. */
struct mig_head_info {
	uint32_t source_host;
	uint32_t target_host;
	uint64_t migration_id;
	uint32_t epoch;          /* directory epoch at the start: a pulling target MOVEs at exactly it */
};

/* A fresh random nonzero migration id. */
uint64_t migstream_new_id(void);
/* The stream key of one migration (crypto_kdf, see above). */
void migstream_derive_key(const uint8_t data_key[MIG_KEY_LEN], uint64_t migration_id,
                    uint8_t out[MIG_KEY_LEN]);
/* The cluster data key comes from the key file: dirproto_data_key_load (hosts/formats/dirproto.h). */
/* Bytes a record with a body of blen bytes takes on the wire. */
static inline size_t mig_rec_size(size_t blen) { return 4 + 1 + blen + MIG_TAG_LEN; }
/* "truncated", "bad_tag", ...: stable names for counters and logs. */
const char *migstream_strerror(int status);

/* ---- encoder (source) ---- */

struct mig_tx {
	struct aesgcm *aead;                    /* keyed AES-256-GCM (migstream_tx_free) */
	uint8_t head[MIG_HEAD_LEN];
	int phase;                              /* private: which record comes next */
	const struct cap_snap_header *hdr;      /* caller's, kept alive until END */
	const struct cap_snap_extent *ext;      /* caller's, hdr->nextents entries */
	uint32_t ext_sent;                      /* extents already in EXTENTS records */
	uint32_t cur_ext;                       /* DATA cursor: extent index ... */
	uint64_t cur_off;                       /* ... and the memfd offset expected next */
	uint64_t data_sent;
	uint64_t records;                       /* records sealed so far */
	uint64_t precopy_size;                  /* PRECOPY sent: the memfd size; 0: no pre-copy */
	struct cap_snap_header who;             /* PRECOPY sent: the identity the PREAMBLE must repeat */
	uint64_t round_bytes;                   /* PAGES bytes since the last ROUND */
	uint32_t rounds;                        /* ROUND records sent */
	uint64_t procs_size, procs_sent;        /* PROCS sent: the table's size; PROCDATA bytes */
	uint64_t proc_pages_frozen;             /* PROC_PAGES bytes after the table */
};

/*
 * Start: key from data_key + info->migration_id; writes the 56-byte head.  MIG_OK,
 * MIG_E_BAD_HEAD, MIG_E_NOMEM or MIG_E_NO_CRYPTO.  Whatever it returns, migstream_tx_free(tx) after.
 */
int migstream_tx_init(struct mig_tx *tx, const uint8_t data_key[MIG_KEY_LEN],
                const struct mig_head_info *info, uint8_t head_out[MIG_HEAD_LEN]);
/* The same with the stream key already derived (a source caprun only ever gets that one). */
int migstream_tx_init_keyed(struct mig_tx *tx, const uint8_t stream_key[MIG_KEY_LEN],
                      const struct mig_head_info *info, uint8_t head_out[MIG_HEAD_LEN]);
/*
 * The record encoders each write one whole record (length + ciphertext)
 * into out (cap bytes), *out_len its size.  They refuse what the decoder
 * would refuse (MIG_E_OUT_OF_ORDER, MIG_E_BAD_RECORD), so a bug shows at
 * the source.  hdr and ext must stay valid until mig_tx_end.
 */
/*
 * Pre-copy: PRECOPY (only first; who: the capsule's identity, memfd_size a page multiple,
 * the frozen-time fields ignored), PAGES (whole pages inside memfd_size), ROUND (closes a pass).
 */
int migstream_tx_precopy(struct mig_tx *tx, const struct cap_snap_header *who, uint8_t *out,
                   size_t cap, size_t *out_len);
int migstream_tx_pages(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                 uint8_t *out, size_t cap, size_t *out_len);
int migstream_tx_round(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len);
int migstream_tx_preamble(struct mig_tx *tx, const struct cap_snap_header *hdr,
                    const struct cap_snap_extent *ext, uint8_t *out, size_t cap, size_t *out_len);
/* The next EXTENTS record (up to MIG_EXTENTS_PER_REC); call while mig_tx_extents_left() > 0. */
int migstream_tx_extents(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len);
static inline uint32_t mig_tx_extents_left(const struct mig_tx *tx)
{
	return tx->hdr ? tx->hdr->nextents - tx->ext_sent : 0;
}
/* One DATA chunk at memfd offset off: must be where the cursor is, within one extent
 * (after pre-copy: whole pages, ascending, within one extent). */
int migstream_tx_data(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                uint8_t *out, size_t cap, size_t *out_len);
/* Where the next DATA chunk must start and how many bytes the current extent has left (0 = all sent). */
uint64_t migstream_tx_next_chunk(const struct mig_tx *tx, uint64_t *off);
/*
 * Several processes: PROCS (after pid 1's DATA: where END could come; size a page multiple,
 * hash the section's), then PROCDATA chunks tiling the section in order.
 */
int migstream_tx_procs(struct mig_tx *tx, uint64_t size, const uint8_t hash[MIG_PROCS_HASH_LEN],
                       uint8_t *out, size_t cap, size_t *out_len);
int migstream_tx_procdata(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                          uint8_t *out, size_t cap, size_t *out_len);
/* Pages of process pid: during pre-copy, or after the whole table (PROCS, PROCDATA). */
int migstream_tx_proc_pages(struct mig_tx *tx, int32_t pid, uint64_t off, const uint8_t *bytes,
                            size_t len, uint8_t *out, size_t cap, size_t *out_len);
int migstream_tx_end(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len);
/* The cipher state goes (keys wiped); tx may be initialised again. */
void migstream_tx_free(struct mig_tx *tx);
/*
 * Seal any record, unchecked: type and body (the body in two pieces, either
 * may be empty: a DATA record's offset and bytes are sealed where they lie).
 * For tests and the fuzz corpus, to build streams an honest encoder never
 * makes.
 */
int migstream_tx_raw(struct mig_tx *tx, uint8_t type, const uint8_t *body, size_t blen,
               const uint8_t *body2, size_t blen2, uint8_t *out, size_t cap, size_t *out_len);

/* ---- decoder (target) ---- */

struct mig_rx {
	struct aesgcm *aead;             /* keyed once the head is read */
	uint8_t data_key[MIG_KEY_LEN];
	uint32_t my_host;                /* 0 = accept any target host id */
	int phase;                       /* private */
	int error;                       /* sticky: once failed, every call returns it */
	struct mig_head_info info;       /* valid after MIG_REC_HEAD */
	uint8_t head[MIG_HEAD_LEN];
	char name[MIG_NAME_LEN];         /* valid after MIG_REC_PREAMBLE */
	struct cap_snap_header hdr;      /* valid after MIG_REC_PREAMBLE */
	struct cap_snap_extent *ext;     /* hdr.nextents entries (malloc'd), filled by EXTENTS */
	uint32_t ext_have;
	uint32_t cur_ext;
	uint64_t cur_off;
	uint64_t data_have;
	uint64_t records;
	uint8_t *plain;                  /* MIG_PLAIN_MAX bytes (malloc'd) */
	uint8_t *inbuf;                  /* migstream_recv_fd's, MIG_INBUF_LEN bytes (malloc'd) */
	uint64_t precopy_size;           /* PRECOPY received: the memfd size; 0: none */
	struct cap_snap_header who;      /* valid after MIG_REC_PRECOPY: who is coming (identity only) */
	uint8_t *have;                   /* pre-copy: a bit per page that arrived (malloc'd) */
	uint64_t round_bytes, precopy_bytes;
	uint32_t rounds;
	uint64_t procs_size, procs_have; /* PROCS received: the table's size; PROCDATA bytes */
	uint8_t procs_hash[MIG_PROCS_HASH_LEN];   /* valid after MIG_REC_PROCS */
	uint32_t nproc_have;             /* PROC_PAGES: the pids seen, a page bitmap each (malloc'd) */
	int32_t proc_pid[CAP_SNAP_PROCS_MAX];
	uint8_t *proc_have[CAP_SNAP_PROCS_MAX];
};

/* One decoded record.  data points into the decoder's buffer: valid until the next call. */
struct mig_rec {
	int type;                        /* enum mig_rec_type */
	uint64_t offset;                 /* DATA, PAGES: memfd offset */
	const uint8_t *data;             /* DATA, PAGES, PROCDATA: the bytes (PROCDATA: offset in the section) */
	size_t len;                      /* ROUND: the round's PAGES bytes */
	uint32_t first_ext, n_ext;       /* EXTENTS: rx->ext[first_ext .. +n_ext) just arrived */
	int32_t pid;                     /* PROC_PAGES: whose pages */
};

/* MIG_OK or MIG_E_NOMEM.  my_host: the target's own host id, checked against the head (0 = any). */
int migstream_rx_init(struct mig_rx *rx, const uint8_t data_key[MIG_KEY_LEN], uint32_t my_host);
void migstream_rx_free(struct mig_rx *rx);
/*
 * Decode the next record from buf (len bytes; the caller keeps unconsumed
 * bytes and appends more).  MIG_OK: *rec filled, *used bytes consumed.
 * MIG_NEED_MORE: nothing consumed.  Anything else: the stream is bad and
 * the decoder stays failed.  After END, any byte is MIG_E_AFTER_END.
 */
int migstream_rx_next(struct mig_rx *rx, const uint8_t *buf, size_t len, size_t *used,
                struct mig_rec *rec);
/* The stream has ended (EOF): MIG_OK if END was decoded, else MIG_E_TRUNCATED (or the sticky error). */
int migstream_rx_finish(struct mig_rx *rx);
static inline int mig_rx_done(const struct mig_rx *rx) { return rx->phase == MIG_REC_END + 1; }
/* The size of every other process's memfd (pid 1's): for PROC_PAGES. */
static inline uint64_t mig_rx_memfd_size(const struct mig_rx *rx)
{
	return rx->precopy_size ? rx->precopy_size : rx->hdr.memfd_size;
}
/* After END: every page of ext[0..n) of process pid arrived in PROC_PAGES.  1 or 0. */
int migstream_rx_proc_covered(const struct mig_rx *rx, int32_t pid, const struct cap_snap_extent *ext,
                              uint32_t n);

/* ---- fd helpers: blocking, on a connected stream socket (set SO_SNDTIMEO / SO_RCVTIMEO for deadlines) ---- */

/* Called after each chunk: bytes of data sent/received so far of total. */
typedef void (*mig_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * After pre-copy (or any copy made while the capsule ran): punch every range
 * of memfd outside hdr's extents, pages copied early that the capsule gave
 * back since.  0, or -1 with errno (fallocate).
 */
int migstream_punch_outside(int memfd, const struct cap_snap_header *hdr,
                            const struct cap_snap_extent *ext);
/* Write all n bytes to a blocking stream socket (EINTR retried): MIG_OK, or MIG_E_IO with errno. */
int migstream_send_all(int sock, const uint8_t *p, size_t n);

/* A capsule's other processes to send, frozen: their table and their memory. */
struct mig_procs_src {
	int fd;                              /* the table at offset 0 (snapprocs_table_write) */
	uint64_t size;                       /* a page multiple, > 0 */
	uint8_t hash[MIG_PROCS_HASH_LEN];
	uint32_t n;                          /* the other processes */
	struct mig_proc_mem {
		int32_t pid;
		int memfd;
		const struct cap_snap_extent *ext;   /* its extents, as in the table */
		uint32_t nextents;
	} p[CAP_SNAP_PROCS_MAX];
};
/* PROCS and the table in PROCDATA records (chunk: MIG_CHUNK_MAX bytes, rec: MIG_REC_MAX). */
int migstream_send_procs(int sock, struct mig_tx *tx, const struct mig_procs_src *procs,
                         uint8_t *chunk, uint8_t *rec);
/* All of one process's extents as PROC_PAGES (one not pre-copied), after the table. */
int migstream_send_proc_mem(int sock, struct mig_tx *tx, const struct mig_proc_mem *p,
                            uint8_t *chunk, uint8_t *rec);
/*
 * Send a frozen capsule: head, PREAMBLE, EXTENTS, the extents' bytes read
 * from memfd (pread), the process section if procs is not NULL, END,
 * sealed with stream_key (migstream_derive_key).  MIG_OK, MIG_E_IO (errno
 * kept) or an encoder error.
 */
int migstream_send_fd(int sock, const uint8_t stream_key[MIG_KEY_LEN], const struct mig_head_info *info,
                const struct cap_snap_header *hdr, const struct cap_snap_extent *ext, int memfd,
                const struct mig_procs_src *procs, mig_progress_fn progress, void *arg);
/* Where a stream's other processes go (the caller closes what it holds). */
struct mig_procs_dst {
	int table_fd;                        /* the table, written at offset 0 */
	uint32_t n;
	int32_t pid[CAP_SNAP_PROCS_MAX];
	int memfd[CAP_SNAP_PROCS_MAX];       /* made at the pid's first PROC_PAGES, pid 1's size */
};
/*
 * Receive one stream into memfd (sized to hdr.memfd_size here, extents
 * written with pwrite) and its other processes, if it has any, into procs
 * (NULL: a stream of one process; PROCS is then refused) up to and
 * including END; rx (initialised by the caller) then holds the head,
 * header and extent table.  MIG_OK only if the whole stream was authentic
 * and complete.  A stream that fails leaves memfd half-written: the caller
 * discards it.
 */
int migstream_recv_fd(int sock, struct mig_rx *rx, int memfd, struct mig_procs_dst *procs,
                      mig_progress_fn progress, void *arg);
/* Its receive buffer: one record always fits twice.  It stays in rx until migstream_rx_free:
 * giving its 512 KiB back to the kernel at END took 0.2-0.9 ms here, which the target then
 * spent between the source's END and its own CONFIRM (docs/DOWNTIME.md, the fifth pass). */
#define MIG_INBUF_LEN (2 * (size_t)MIG_REC_MAX)

#endif
