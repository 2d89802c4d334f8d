/* snapfile.h: writing and reading snapshot files (capsule-abi/cap_snapshot.h) on the host. */
#ifndef HOST_SNAPFILE_H
#define HOST_SNAPFILE_H

#include "capsule-abi/cap_image.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapauth.h"
#include "hosts/formats/snapchunk.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Write a snapshot of memfd to path, atomically: a temp file
 * "<path>.tmpXXXXXX" in the same directory, fsync, rename, fsync the
 * directory.  dirfd, if >= 0, is that directory already opened (by the
 * client, so the file lands where it sees path); -1: open path's directory.
 * hdr carries the descriptive fields (build-id, names, ip, mtu, arena_size,
 * memfd_size, frozen_at_ns, taken_at_unix_ns); the writer fills magic,
 * versions, extents, sizes, the checksum, and key_id + mac made with key
 * (snapauth_key_for_writing).  On success returns 0 and the file's size in
 * *file_bytes.  On failure returns -1, leaves no file behind and puts
 * "PATH: reason" in err.
 */
int snapfile_write(int memfd, struct cap_snap_header *hdr, int dirfd, const char *path,
                    const struct snap_key *key, uint64_t *file_bytes, char *err, size_t errlen);

/*
 * The same for a capsule of several processes (procs: pid 1 first, its
 * memory memfd; NULL: one process): the process section follows pid 1's
 * data (hosts/formats/snapprocs.h).  Either way the file is format version
 * 5: its chunk tags made under key with a salt of its own.  workers: how
 * many threads write the data (snapfile_body.h): SNAPFILE_WORKERS while
 * the capsule is stopped, 1 behind a capsule that runs meanwhile.
 */
#define SNAPFILE_WORKERS 2
struct snapprocs_set;
int snapfile_write_procs(int memfd, const struct snapprocs_set *procs, struct cap_snap_header *hdr,
                         int dirfd, const char *path, const struct snap_key *key, int workers,
                         uint64_t *file_bytes, char *err, size_t errlen);

/* The data extents of memfd's first size bytes, page aligned and merged (malloc'd).  0 or -1. */
int snapfile_scan(int memfd, uint64_t size, struct cap_snap_extent **ext, uint32_t *count);

/*
 * What snapfile_write does before writing, for a frozen memfd going
 * elsewhere (a live migration): scan its data extents and fill hdr's
 * format fields (magic, versions, nextents, data_offset, data_size;
 * checksum, key_id and mac zero), checked as a reader would.  0 with *ext (malloc'd,
 * hdr->nextents entries), or -1 with err.
 */
int snapfile_prepare(int memfd, struct cap_snap_header *hdr, struct cap_snap_extent **ext,
                      char *err, size_t errlen);
/* The same with the extents already known (ext[0..n), ascending, page-aligned, inside
 * memfd_size): fills and checks hdr's format fields.  0, or -1 with err. */
int snapfile_prepare_known(struct cap_snap_header *hdr, const struct cap_snap_extent *ext, uint32_t n,
                           char *err, size_t errlen);

/* An opened, fully validated snapshot. */
struct host_snap {
	struct cap_snap_header hdr;
	struct cap_snap_header_ext hext;   /* versions 4, 5: the process section's size and hash
	                                    * (5: and the chunk salt); else zeros */
	struct cap_snap_extent *ext;   /* hdr.nextents entries (malloc'd) */
	uint64_t file_size;
	uint8_t *chunk_hash;           /* versions 3-5: nchunks table entries, authenticated (malloc'd) */
	uint64_t nchunks;              /* 0 for version 2 */
	struct snapchunk_keying keying;   /* how the entries are made (version 5: the chunk key) */
	int chunk_keyed;               /* version 5: keying.key derived (opened with the key) */
	int data_verified;             /* every chunk was checked at open */
	uint8_t *held;                 /* the last chunk a lazy open checked, or NULL (malloc'd,
	                                * CAP_SNAP_CHUNK_SIZE bytes) */
	uint64_t held_chunk;           /* its index */
	struct snap_procs *procs;      /* version 4: the other processes (snapprocs.h), else NULL */
	int fd;                        /* read-only, close-on-exec */
};

/*
 * Open path and check all of it before anyone acts on it: a regular file,
 * header, extent table, the checksum (version 3: over the header page and
 * the tables; version 2: over the whole file), the MAC with this host's
 * keys (snapauth_keyring_load), every chunk of data against its hash
 * (version 3), and only then the frozen control page.  Returns 0, or -1 with a short reason in err (no
 * path prefix): "authentication failed: ..." if the MAC does not verify.
 */
int snapfile_open(const char *path, struct host_snap *s, char *err, size_t errlen);

/*
 * The same on a descriptor already open for reading (s owns fd), with the
 * keys to authenticate against; ring NULL: every check but authentication
 * (capctl inspect, which then says whether it verifies), which in version 5
 * includes the chunk tags: then no chunk is checked (data_verified 0, and
 * snapfile_read_chunk refuses) until snapfile_key_chunks.
 */
int snapfile_open_fd(int fd, struct host_snap *s, const struct snap_keyring *ring, char *err,
                      size_t errlen);

/*
 * The same, choosing whether the data is checked now: verify_data 0 checks
 * only the chunks holding the control page (a lazy resume, which checks
 * every other chunk with snapfile_read_chunk as it loads it).  A version 2
 * file is always checked whole; data_verified says which it was.
 */
int snapfile_open_ex(const char *path, struct host_snap *s, int verify_data, char *err,
                     size_t errlen);
int snapfile_open_fd_ex(int fd, struct host_snap *s, const struct snap_keyring *ring,
                        int verify_data, char *err, size_t errlen);

/*
 * Version 5, opened without a ring: with the key the MAC verified with
 * (snapfile_authenticate's *used), derive the chunk key and check every
 * chunk.  0 (also for older versions, whose chunks the open checked), or -1
 * with the first bad chunk's line in err.
 */
int snapfile_key_chunks(struct host_snap *s, const struct snap_key *key, char *err, size_t errlen);

/* 1 if the chunks can be checked: hashes (versions 3, 4), or version 5's tags keyed. */
int snapfile_chunks_checkable(const struct host_snap *s);
/* Version 5: the chunk key from the key the MAC verified with and the file's salt (a no-op
 * when the chunks are checkable already). */
void snapfile_chunks_key(struct host_snap *s, const struct snap_key *key);

/* For the open (snapfile_chunks.c): every chunk, or those holding memfd bytes [off, off +
 * len) (the last kept: snapfile_take_held), against their entries.  0 or -1 with err. */
int snapfile_verify_chunks(const struct host_snap *s, char *err, size_t errlen);
int snapfile_verify_mem_chunks(struct host_snap *s, uint64_t off, uint64_t len, char *err,
                               size_t errlen);

/* Where chunk lies in the data (data_pos: offset from data_offset) and its length. */
void snapfile_chunk_span(const struct host_snap *s, uint64_t chunk, uint64_t *data_pos, size_t *len);

/*
 * Read chunk (versions 3-5) into buf (CAP_SNAP_CHUNK_SIZE bytes) and check it
 * against its table entry.  0 with its length in *len, or -1 with "chunk N (file
 * bytes A-B): checksum mismatch: snapshot is corrupt", "...: truncated: the
 * file ends at X", "...: read error: ..." or (version 5 opened without the
 * key) "...: not checked: ..." in err.
 */
int snapfile_read_chunk(const struct host_snap *s, uint64_t chunk, uint8_t *buf, size_t *len,
                        char *err, size_t errlen);

/*
 * A lazy open checks the chunk holding the control page and keeps it, so that
 * the lazy load places it without reading and hashing it a second time: its
 * buffer (CAP_SNAP_CHUNK_SIZE bytes, malloc'd, now the caller's) and its index
 * in *chunk, or NULL if none is kept (snapfile_close frees one never taken).
 */
uint8_t *snapfile_take_held(struct host_snap *s, uint64_t *chunk);

/*
 * The chunks holding memfd bytes [off, off + len): 1 with the first and last
 * chunk index, 0 if no stored byte is in the range (or version 2).
 */
int snapfile_mem_chunks(const struct host_snap *s, uint64_t off, uint64_t len, uint64_t *first,
                        uint64_t *last);

/*
 * The MAC of an opened snapshot under the ring's key that the header
 * names.  0 (with that key in *used if used), or -1 with "authentication
 * failed: snapshot was made with key ID, this host has no such key (it has
 * ...)" or "authentication failed (contents changed since it was made with
 * host key ID)" in err (*used: the key found, or NULL).
 */
int snapfile_authenticate(const struct host_snap *s, const struct snap_keyring *ring,
                           const struct snap_key **used, char *err, size_t errlen);
void snapfile_close(struct host_snap *s);

/* 1 if the file at path starts with the snapshot magic. */
int snapfile_is_snapshot(const char *path);

/* Copy len bytes of the frozen memfd at off out of the snapshot (holes read as zeros).  0 or -1. */
int snapfile_read_mem(const struct host_snap *s, uint64_t off, void *buf, size_t len);

/* Write every extent into memfd (already sized hdr.memfd_size).  0 or -1 with err. */
int snapfile_restore(const struct host_snap *s, int memfd, char *err, size_t errlen);

/*
 * A snapshot only holds the capsule's writable memory; its code comes from
 * the image, so the image must be the very one it froze with (same
 * build-id).  Returns 0, or -1 with "snapshot belongs to image NAME
 * (build-id HEX), IMAGE_PATH has build-id HEX" in err.
 */
int snapfile_check_image(const struct host_snap *s, const struct cap_image_header *img,
                          const char *image_path, char *err, size_t errlen);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void snapfile_hex(char *out, const uint8_t *p, size_t n);

#endif
