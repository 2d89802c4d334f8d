/* snapfile.c: the snapshot writer (sparse memfd -> file, atomically) and the validating reader. */
#include "hosts/formats/snapfile.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/snapauth.h"
#include "hosts/formats/snapfile_body.h"
#include "hosts/formats/snapprocs.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)

/* A copy buffer for n bytes: at most COPY_CHUNK, no bigger than needed (most snapshots are small). */
static size_t chunk_for(uint64_t n)
{
	return n < COPY_CHUNK ? (n ? (size_t)n : 1) : COPY_CHUNK;
}
#define PAGE_DOWN(x) ((x) & ~(uint64_t)(CAP_PAGE_SIZE - 1))
#define PAGE_UP(x)   (((x) + CAP_PAGE_SIZE - 1) & ~(uint64_t)(CAP_PAGE_SIZE - 1))

void snapfile_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

/*
 * The memfd's data extents, page aligned and merged.  tmpfs allocates whole
 * pages, so SEEK_DATA/SEEK_HOLE already land on page boundaries; rounding
 * only makes that a guarantee.
 */
static int scan_extents(int memfd, uint64_t size, struct cap_snap_extent **out, uint32_t *count)
{
	struct cap_snap_extent *ext = NULL;
	uint32_t n = 0, cap = 0;
	uint64_t pos = 0;
	while (pos < size) {
		off_t data = lseek(memfd, (off_t)pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)
			goto fail;
		off_t hole = lseek(memfd, data, SEEK_HOLE);
		if (hole < 0)
			goto fail;
		uint64_t start = PAGE_DOWN((uint64_t)data);
		uint64_t end = PAGE_UP((uint64_t)hole);
		if (end > size)
			end = size;
		if (end <= start)
			break;
		if (n && ext[n - 1].offset + ext[n - 1].length >= start) {
			uint64_t e = ext[n - 1].offset + ext[n - 1].length;
			if (end > e)
				ext[n - 1].length = end - ext[n - 1].offset;
		} else {
			if (n == cap) {
				if (cap >= CAP_SNAP_MAX_EXTENTS) {
					errno = E2BIG;
					goto fail;
				}
				cap = cap ? cap * 2 : 64;
				void *p = realloc(ext, cap * sizeof *ext);
				if (!p)
					goto fail;
				ext = p;
			}
			ext[n].offset = start;
			ext[n].length = end - start;
			n++;
		}
		pos = end;
	}
	*out = ext;
	*count = n;
	return 0;
fail:
	free(ext);
	return -1;
}

int snapfile_scan(int memfd, uint64_t size, struct cap_snap_extent **ext, uint32_t *count)
{
	return scan_extents(memfd, size, ext, count);
}

/* Header page with the checksum and mac fields zeroed: the first thing hashed (x: its
 * extension). */
static void header_page(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                        uint8_t page[CAP_SNAP_HEADER_SIZE])
{
	memset(page, 0, CAP_SNAP_HEADER_SIZE);
	memcpy(page, h, sizeof *h);
	memcpy(page + CAP_SNAP_EXT_OFFSET, x, sizeof *x);
	memset(page + offsetof(struct cap_snap_header, checksum), 0, sizeof h->checksum);
	memset(page + offsetof(struct cap_snap_header, mac), 0, sizeof h->mac);
}

/*
 * Extent table, data and chunk table into the temp file.  The checksum (st,
 * the header page already in it) covers the two tables, so the chunk table
 * is written and hashed last, once the data has made it.
 */
static int write_body(int memfd, int out, const struct cap_snap_header *h,
                      const struct cap_snap_extent *ext, const struct snapchunk_keying *keying,
                      int workers, crypto_generichash_state *st)
{
	uint64_t table_at = cap_snap_chunk_table_offset(h->nextents);
	size_t ext_len = (size_t)(table_at - CAP_SNAP_HEADER_SIZE);
	size_t chunks_len = (size_t)(h->data_offset - table_at);
	uint8_t *table = calloc(1, chunks_len ? chunks_len : 1);
	uint8_t *buf = calloc(1, ext_len ? ext_len : 1);
	int r = -1;
	if (!buf || !table)
		goto out;
	memcpy(buf, ext, (size_t)h->nextents * sizeof *ext);
	crypto_generichash_update(st, buf, ext_len);
	r = fileio_pwrite_full(out, buf, ext_len, CAP_SNAP_HEADER_SIZE);
	if (r == 0)
		r = snapfile_write_body(memfd, out, h, ext, keying, workers, table);
	if (r == 0) {
		crypto_generichash_update(st, table, chunks_len);
		r = fileio_pwrite_full(out, table, chunks_len, table_at);
	}
out:
	free(table);
	free(buf);
	return r;
}

/* mkstemp inside dirfd: "<name>.tmpXXXXXX", created exclusively, mode 0600 until complete. */
static int make_temp(int dirfd, const char *name, char *tmp, size_t len)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	if (snprintf(tmp, len, "%s.tmpXXXXXX", name) >= (int)len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *x = tmp + strlen(tmp) - 6;
	for (int tries = 0; tries < 100; tries++) {
		for (int i = 0; i < 6; i++)
			x[i] = chars[randombytes_uniform(sizeof chars - 1)];
		int fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int snapfile_prepare(int memfd, struct cap_snap_header *h, struct cap_snap_extent **ext_out,
                      char *err, size_t errlen)
{
	struct cap_snap_extent *ext = NULL;
	uint32_t n = 0;
	if (scan_extents(memfd, h->memfd_size, &ext, &n)) {
		snprintf(err, errlen, "scanning the capsule's memory: %s", strerror(errno));
		return -1;
	}
	if (snapfile_prepare_known(h, ext, n, err, errlen)) {
		free(ext);
		return -1;
	}
	*ext_out = ext;
	return 0;
}

int snapfile_prepare_known(struct cap_snap_header *h, const struct cap_snap_extent *ext, uint32_t n,
                           char *err, size_t errlen)
{
	h->nextents = n;
	memcpy(h->magic, CAP_SNAP_MAGIC, CAP_SNAP_MAGIC_LEN);
	h->format_version = CAP_SNAP_FORMAT_ONE_PROC;   /* a process section makes it 4 (snapfile_write_procs) */
	h->abi_version = CAP_ABI_VERSION;
	h->header_size = CAP_SNAP_HEADER_SIZE;
	h->flags = 0;
	h->data_size = 0;
	for (uint32_t i = 0; i < h->nextents; i++)
		h->data_size += ext[i].length;
	h->data_offset = cap_snap_data_offset(h->format_version, h->nextents, h->data_size);
	memset(h->checksum, 0, sizeof h->checksum);
	memset(h->key_id, 0, sizeof h->key_id);   /* a migration stream is sealed instead */
	memset(h->mac, 0, sizeof h->mac);
	/* Never produce what a reader would refuse. */
	if (cap_snap_check_header(h, cap_snap_file_size(h), err, errlen) ||
	    cap_snap_check_extents(h, ext, err, errlen)) {
		char why[200];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "refusing to write a bad snapshot: %s", why);
		return -1;
	}
	return 0;
}

int snapfile_write(int memfd, struct cap_snap_header *h, int dirfd, const char *path,
                    const struct snap_key *key, uint64_t *file_bytes, char *err, size_t errlen)
{
	return snapfile_write_procs(memfd, NULL, h, dirfd, path, key, SNAPFILE_WORKERS, file_bytes, err,
	                            errlen);
}

int snapfile_write_procs(int memfd, const struct snapprocs_set *procs, struct cap_snap_header *h,
                         int dirfd, const char *path, const struct snap_key *key, int workers,
                         uint64_t *file_bytes, char *err, size_t errlen)
{
	struct cap_snap_extent *ext = NULL;
	char tmp[NAME_MAX + 1], dir[PATH_MAX];
	int out = -1, own_dir = -1, saved_errno;
	const char *step = NULL;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	if (sodium_init() < 0)
		abort();   /* only fails without a usable entropy source */
	if (!*name || strlen(name) + 10 > NAME_MAX) {
		snprintf(err, errlen, "%s: %s", path, *name ? strerror(ENAMETOOLONG) : "not a file name");
		return -1;
	}
	if (dirfd < 0) {
		snprintf(dir, sizeof dir, "%s", path);
		own_dir = dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (snapfile_prepare(memfd, h, &ext, err, errlen)) {
		char why[PATH_MAX + 256];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}

	/* Files are version 5 (snapfile_prepare fills what a migration stream's header says):
	 * chunk tags under a key of this file alone, from the snapshot key and a fresh salt. */
	struct cap_snap_header_ext x = { 0 };
	struct snapchunk_keying keying = { .version = CAP_SNAP_FORMAT_VERSION };
	h->format_version = CAP_SNAP_FORMAT_VERSION;
	h->data_offset = cap_snap_data_offset(h->format_version, h->nextents, h->data_size);
	randombytes_buf(x.chunk_salt, sizeof x.chunk_salt);
	snapchunk_derive_key(key->key, x.chunk_salt, keying.key);
	memcpy(h->key_id, key->id, sizeof h->key_id);
	out = make_temp(dirfd, name, tmp, sizeof tmp);
	if (out < 0) {
		step = NULL;
		goto fail;
	}
	if (procs) {
		/* The process section first: its size and hash are in the header page. */
		char why[PATH_MAX];
		if (snapprocs_write(out, h->data_offset + h->data_size, h, &x, procs, why, sizeof why)) {
			saved_errno = errno;
			close(out);
			unlinkat(dirfd, tmp, 0);
			snprintf(err, errlen, "%s: %s", path, why);
			errno = saved_errno;
			goto out;
		}
	}
	uint8_t page[CAP_SNAP_HEADER_SIZE];
	crypto_generichash_state st;
	header_page(h, &x, page);
	crypto_generichash_init(&st, NULL, 0, sizeof h->checksum);
	crypto_generichash_update(&st, page, sizeof page);
	int wrote = write_body(memfd, out, h, ext, &keying, workers, &st);
	sodium_memzero(keying.key, sizeof keying.key);
	if (wrote) {
		step = "";   /* created: remove it */
		goto fail;
	}
	crypto_generichash_final(&st, h->checksum, sizeof h->checksum);
	memcpy(page + offsetof(struct cap_snap_header, checksum), h->checksum, sizeof h->checksum);
	snapauth_mac(key->key, page, h->mac);   /* over the page holding the checksum of it all */
	memcpy(page + offsetof(struct cap_snap_header, mac), h->mac, sizeof h->mac);
	if (fileio_pwrite_full(out, page, sizeof page, 0) || fchmod(out, 0644)) {
		step = "";
		goto fail;
	}
	if (fsync(out)) {
		step = "fsync: ";
		goto fail;
	}
	if (close(out)) {
		out = -1;
		step = "close: ";
		goto fail;
	}
	out = -1;
	if (renameat(dirfd, tmp, dirfd, name)) {
		step = "rename: ";
		goto fail;
	}
	if (fsync(dirfd)) {
		/* The file is complete and in place; only its durability is in doubt. */
		snprintf(err, errlen, "%s: fsync of the directory: %s", path, strerror(errno));
		unlinkat(dirfd, name, 0);
		goto out;
	}
	*file_bytes = cap_snap_file_size_ext(h, &x);
	free(ext);
	if (own_dir >= 0)
		close(own_dir);
	return 0;
fail:
	/* step NULL: the temp file was never created; otherwise it goes. */
	saved_errno = errno;
	if (out >= 0)
		close(out);
	if (step)
		unlinkat(dirfd, tmp, 0);
	snprintf(err, errlen, "%s: %s%s", path, step ? step : "", strerror(saved_errno));
out:
	free(ext);
	if (own_dir >= 0)
		close(own_dir);
	return -1;
}

int snapfile_is_snapshot(const char *path)
{
	char magic[CAP_SNAP_MAGIC_LEN], err[128];
	int fd = fileio_open_regular(path, err, sizeof err);
	if (fd < 0)
		return 0;   /* not a snapshot; opening it as an image says why */
	int yes = pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
	          memcmp(magic, CAP_SNAP_MAGIC, sizeof magic) == 0;
	close(fd);
	return yes;
}

/*
 * The checksum: BLAKE2b-256 with the checksum and mac fields zeroed over the
 * header page and the tables (version 3: the chunk hashes stand for the
 * data), or over the whole file (version 2).
 */
static int verify_checksum(const struct host_snap *s, char *err, size_t errlen)
{
	/* Read through one small buffer: on this kind of virtual machine each fresh page costs
	 * more than the bytes (docs/STARTUP.md section 13); 4 pages stay warm. */
	uint8_t page[CAP_SNAP_HEADER_SIZE], sum[32], buf[4 * CAP_PAGE_SIZE];
	crypto_generichash_state st;
	uint64_t end = s->hdr.format_version >= 3 ? s->hdr.data_offset : s->file_size;
	if (fileio_pread_full(s->fd, page, sizeof page, 0))
		goto ioerr;
	memset(page + offsetof(struct cap_snap_header, checksum), 0, sizeof sum);
	memset(page + offsetof(struct cap_snap_header, mac), 0, CAP_SNAP_MAC_LEN);
	crypto_generichash_init(&st, NULL, 0, sizeof sum);
	crypto_generichash_update(&st, page, sizeof page);
	for (uint64_t pos = CAP_SNAP_HEADER_SIZE; pos < end;) {
		size_t len = end - pos > sizeof buf ? sizeof buf : (size_t)(end - pos);
		if (fileio_pread_full(s->fd, buf, len, pos))
			goto ioerr;
		crypto_generichash_update(&st, buf, len);
		pos += len;
	}
	crypto_generichash_final(&st, sum, sizeof sum);
	if (memcmp(sum, s->hdr.checksum, sizeof sum) != 0) {
		snprintf(err, errlen, "checksum mismatch: snapshot is corrupt");
		return -1;
	}
	return 0;
ioerr:
	snprintf(err, errlen, "read error: %s", strerror(errno));
	return -1;
}

int snapfile_open(const char *path, struct host_snap *s, char *err, size_t errlen)
{
	return snapfile_open_ex(path, s, 1, err, errlen);
}

int snapfile_open_ex(const char *path, struct host_snap *s, int verify_data, char *err,
                     size_t errlen)
{
	struct snap_keyring ring;
	memset(s, 0, sizeof *s);
	s->fd = -1;
	if (snapauth_keyring_load(&ring, err, errlen))
		return -1;
	int fd = fileio_open_regular(path, err, errlen);
	int r = fd < 0 ? -1 : snapfile_open_fd_ex(fd, s, &ring, verify_data, err, errlen);
	snapauth_keyring_wipe(&ring);
	return r;
}

int snapfile_open_fd(int fd, struct host_snap *s, const struct snap_keyring *ring, char *err,
                      size_t errlen)
{
	return snapfile_open_fd_ex(fd, s, ring, 1, err, errlen);
}

int snapfile_open_fd_ex(int fd, struct host_snap *s, const struct snap_keyring *ring,
                        int verify_data, char *err, size_t errlen)
{
	struct stat st;
	memset(s, 0, sizeof *s);
	if (sodium_init() < 0)
		abort();
	s->fd = fd;
	if (fstat(s->fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {   /* fileio_open_regular said so already; a caller's fd may not be */
		snprintf(err, errlen, "not a regular file");
		goto fail;
	}
	s->file_size = (uint64_t)st.st_size;
	s->data_verified = verify_data;
	size_t head = s->file_size < sizeof s->hdr ? (size_t)s->file_size : sizeof s->hdr;
	if (fileio_pread_full(s->fd, &s->hdr, head, 0)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (s->file_size >= CAP_SNAP_HEADER_SIZE &&
	    fileio_pread_full(s->fd, &s->hext, sizeof s->hext, CAP_SNAP_EXT_OFFSET)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (s->hdr.format_version < CAP_SNAP_FORMAT_PROCS)
		memset(&s->hext, 0, sizeof s->hext);   /* padding before version 4 */
	else if (s->hdr.format_version < CAP_SNAP_FORMAT_TAGS)
		memset(s->hext.chunk_salt, 0, sizeof s->hext.chunk_salt);   /* padding in version 4 */
	s->keying.version = s->hdr.format_version;
	if (cap_snap_check_header_ext(&s->hdr, &s->hext, s->file_size, err, errlen))
		goto fail;
	s->ext = malloc((size_t)s->hdr.nextents * sizeof *s->ext);
	if (!s->ext) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (fileio_pread_full(s->fd, s->ext, (size_t)s->hdr.nextents * sizeof *s->ext, CAP_SNAP_HEADER_SIZE)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (cap_snap_check_extents(&s->hdr, s->ext, err, errlen))
		goto fail;
	s->nchunks = cap_snap_chunk_count(s->hdr.format_version, s->hdr.data_size);
	uint64_t table_at = cap_snap_chunk_table_offset(s->hdr.nextents);
	size_t table_len = (size_t)s->nchunks * cap_snap_chunk_entry_len(s->hdr.format_version);
	s->chunk_hash = malloc(s->nchunks ? table_len : 1);
	if (!s->chunk_hash) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fileio_prefault(s->chunk_hash, table_len);   /* 64 KiB a GiB (version 5), 128 before */
	if (fileio_pread_full(s->fd, s->chunk_hash, table_len, table_at)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (verify_checksum(s, err, errlen))
		goto fail;
	/* Integrity, then authenticity, and only then is any of its memory interpreted. */
	const struct snap_key *key = NULL;
	if (ring && snapfile_authenticate(s, ring, &key, err, errlen))
		goto fail;
	/* Version 5's chunk tags: checkable with the key that made the file, and only with it. */
	if (key)
		snapfile_chunks_key(s, key);
	int checkable = snapfile_chunks_checkable(s);
	/* The data against the (now authenticated) chunk hashes; lazy resume checks each as it loads it. */
	if (s->hdr.format_version < 3)
		s->data_verified = 1;   /* version 2: its checksum covered the data already */
	/* Several processes: their section whole, and everything is loaded before they run
	 * (children map the shared window from pid 1's memory, which a lazy load would not
	 * fill for them). */
	if (cap_snap_has_procs(&s->hdr, &s->hext)) {
		s->data_verified = 1;
		if (snapprocs_read(s, &s->procs, err, errlen))
			goto fail;
	}
	if (!checkable)
		s->data_verified = 0;   /* no key, no chunk checked (capctl inspect: snapfile_key_chunks) */
	if (s->data_verified && snapfile_verify_chunks(s, err, errlen))
		goto fail;
	/* Resume jumps into what the control page says: refuse a bad one before anything is made. */
	struct cap_control ctl;
	if (checkable && !s->data_verified && snapfile_verify_mem_chunks(s, 0, sizeof ctl, err, errlen))
		goto fail;
	if (snapfile_read_mem(s, 0, &ctl, sizeof ctl)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		goto fail;
	}
	if (cap_snap_check_control(&ctl, &s->hdr, err, errlen))
		goto fail;
	return 0;
fail:
	snapfile_close(s);
	return -1;
}

int snapfile_authenticate(const struct host_snap *s, const struct snap_keyring *ring,
                           const struct snap_key **used, char *err, size_t errlen)
{
	uint8_t page[CAP_SNAP_HEADER_SIZE];
	char id[2 * CAP_SNAP_KEY_ID_LEN + 1], have[128];
	const struct snap_key *k = snapauth_keyring_find(ring, s->hdr.key_id);
	snapauth_id_hex(s->hdr.key_id, id);
	if (used)
		*used = k;
	if (!k) {
		snapauth_keyring_describe(ring, have, sizeof have);
		snprintf(err, errlen, "authentication failed: snapshot was made with key %s, this host "
		         "has no such key (it has %s)", id, have);
		return -1;
	}
	if (fileio_pread_full(s->fd, page, sizeof page, 0)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		return -1;
	}
	if (snapauth_verify(k->key, page)) {
		snprintf(err, errlen, "authentication failed (contents changed since it was made with "
		         "%s key %s)", snapauth_kind_name(k->kind), id);
		return -1;
	}
	return 0;
}

int snapfile_key_chunks(struct host_snap *s, const struct snap_key *key, char *err, size_t errlen)
{
	if (snapfile_chunks_checkable(s))
		return 0;   /* the open checked them */
	snapfile_chunks_key(s, key);
	if (snapfile_verify_chunks(s, err, errlen))
		return -1;
	s->data_verified = 1;
	return 0;
}

void snapfile_close(struct host_snap *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->ext);
	free(s->chunk_hash);
	free(s->held);
	s->held = NULL;
	snapprocs_free(s->procs);
	s->procs = NULL;
	s->ext = NULL;
	s->chunk_hash = NULL;
	sodium_memzero(&s->keying, sizeof s->keying);
	s->chunk_keyed = 0;
	s->fd = -1;
}

int snapfile_read_mem(const struct host_snap *s, uint64_t off, void *buf, size_t len)
{
	memset(buf, 0, len);
	uint64_t file_pos = s->hdr.data_offset;
	for (uint32_t i = 0; i < s->hdr.nextents; i++) {
		const struct cap_snap_extent *e = &s->ext[i];
		uint64_t lo = off > e->offset ? off : e->offset;
		uint64_t hi = off + len < e->offset + e->length ? off + len : e->offset + e->length;
		if (lo < hi &&
		    fileio_pread_full(s->fd, (char *)buf + (lo - off), (size_t)(hi - lo), file_pos + (lo - e->offset)))
			return -1;
		file_pos += e->length;
	}
	return 0;
}

int snapfile_restore(const struct host_snap *s, int memfd, char *err, size_t errlen)
{
	size_t chunk = chunk_for(s->hdr.data_size);
	uint8_t *buf = malloc(chunk);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fileio_prefault(buf, chunk);
	uint64_t pos = s->hdr.data_offset;
	for (uint32_t i = 0; i < s->hdr.nextents; i++) {
		for (uint64_t done = 0; done < s->ext[i].length;) {
			uint64_t left = s->ext[i].length - done;
			size_t len = left > chunk ? chunk : (size_t)left;
			if (fileio_pread_full(s->fd, buf, len, pos)) {
				snprintf(err, errlen, "reading the snapshot: %s", strerror(errno));
				goto fail;
			}
			if (fileio_pwrite_full(memfd, buf, len, s->ext[i].offset + done)) {
				snprintf(err, errlen, "filling the capsule memfd: %s", strerror(errno));
				goto fail;
			}
			done += len;
			pos += len;
		}
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

int snapfile_check_image(const struct host_snap *s, const struct cap_image_header *img,
                          const char *image_path, char *err, size_t errlen)
{
	if (img->build_id_len == s->hdr.build_id_len &&
	    memcmp(img->build_id, s->hdr.build_id, img->build_id_len) == 0)
		return 0;
	char want[2 * sizeof s->hdr.build_id + 1], have[2 * CAP_IMAGE_BUILD_ID_MAX + 1];
	snapfile_hex(want, s->hdr.build_id, s->hdr.build_id_len);
	snapfile_hex(have, img->build_id,
	         img->build_id_len <= CAP_IMAGE_BUILD_ID_MAX ? img->build_id_len : 0);
	snprintf(err, errlen, "snapshot belongs to image %s (build-id %s), %s has build-id %s",
	         s->hdr.image_name, want, image_path, have);
	return -1;
}
