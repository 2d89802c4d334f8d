/* snapfile_chunks.c: an opened snapshot's data a chunk at a time, each checked against its table entry before a byte of it is used. */
#include "hosts/formats/snapfile.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COPY_CHUNK (1u << 20)   /* as snapfile.c: the eager check reads this much at a time */

int snapfile_chunks_checkable(const struct host_snap *s)
{
	return s->hdr.format_version < CAP_SNAP_FORMAT_TAGS || s->chunk_keyed;
}

void snapfile_chunks_key(struct host_snap *s, const struct snap_key *key)
{
	if (snapfile_chunks_checkable(s))
		return;   /* hashes need no key; a keyed one is keyed */
	snapchunk_derive_key(key->key, s->hext.chunk_salt, s->keying.key);
	s->chunk_keyed = 1;
}

static const uint8_t *entry_of(const struct host_snap *s, uint64_t chunk)
{
	return s->chunk_hash + chunk * cap_snap_chunk_entry_len(s->hdr.format_version);
}

void snapfile_chunk_span(const struct host_snap *s, uint64_t chunk, uint64_t *data_pos, size_t *len)
{
	uint64_t at = chunk * CAP_SNAP_CHUNK_SIZE;
	uint64_t left = s->hdr.data_size - at;
	*data_pos = at;
	*len = left < CAP_SNAP_CHUNK_SIZE ? (size_t)left : CAP_SNAP_CHUNK_SIZE;
}

int snapfile_read_chunk(const struct host_snap *s, uint64_t chunk, uint8_t *buf, size_t *len,
                        char *err, size_t errlen)
{
	uint64_t at;
	snapfile_chunk_span(s, chunk, &at, len);
	uint64_t from = s->hdr.data_offset + at;
	ssize_t n = 0;
	for (size_t got = 0; got < *len; got += (size_t)n) {
		n = pread(s->fd, buf + got, *len - got, (off_t)(from + got));
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			snprintf(err, errlen, "chunk %llu (file bytes %llu-%llu): read error: %s",
			         (unsigned long long)chunk, (unsigned long long)from,
			         (unsigned long long)(from + *len), strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(err, errlen, "chunk %llu (file bytes %llu-%llu): truncated: the file "
			         "ends at %llu", (unsigned long long)chunk, (unsigned long long)from,
			         (unsigned long long)(from + *len), (unsigned long long)(from + got));
			return -1;
		}
	}
	if (!snapfile_chunks_checkable(s)) {
		snprintf(err, errlen, "chunk %llu (file bytes %llu-%llu): not checked: its tag needs "
		         "the snapshot key, and it was opened without one", (unsigned long long)chunk,
		         (unsigned long long)from, (unsigned long long)(from + *len));
		return -1;
	}
	if (!snapchunk_matches(&s->keying, chunk, buf, *len, entry_of(s, chunk))) {
		snprintf(err, errlen, "chunk %llu (file bytes %llu-%llu): checksum mismatch: snapshot "
		         "is corrupt", (unsigned long long)chunk, (unsigned long long)from,
		         (unsigned long long)(from + *len));
		return -1;
	}
	return 0;
}

/* Chunks [first, first + n), one read into buf: 1 if all of them match their entries. */
static int span_verified(const struct host_snap *s, uint64_t first, uint64_t n, uint8_t *buf)
{
	uint64_t at, last_at;
	size_t len, last_len;
	snapfile_chunk_span(s, first, &at, &len);
	snapfile_chunk_span(s, first + n - 1, &last_at, &last_len);
	if (fileio_pread_full(s->fd, buf, (size_t)(last_at + last_len - at), s->hdr.data_offset + at))
		return 0;
	for (uint64_t k = 0; k < n; k++) {
		len = k + 1 < n ? CAP_SNAP_CHUNK_SIZE : last_len;
		if (!snapchunk_matches(&s->keying, first + k, buf + k * CAP_SNAP_CHUNK_SIZE, len,
		                       entry_of(s, first + k)))
			return 0;
	}
	return 1;
}

/*
 * Every chunk against its hash (version 3; version 2's checksum already
 * covered the data), read COPY_CHUNK at a time: as few reads as version 2.
 */
int snapfile_verify_chunks(const struct host_snap *s, char *err, size_t errlen)
{
	const uint64_t per_read = COPY_CHUNK / CAP_SNAP_CHUNK_SIZE;
	if (s->nchunks == 0)
		return 0;
	if (!snapfile_chunks_checkable(s)) {
		snprintf(err, errlen, "chunks not checked: their tags need the snapshot key");
		return -1;
	}
	uint8_t *buf = malloc(COPY_CHUNK);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fileio_prefault(buf, COPY_CHUNK);
	for (uint64_t i = 0; i < s->nchunks; i += per_read) {
		uint64_t n = s->nchunks - i < per_read ? s->nchunks - i : per_read;
		if (span_verified(s, i, n, buf))
			continue;
		/* A short read or a mismatch in this span: chunk by chunk says which and why. */
		size_t len;
		for (uint64_t k = i; k < i + n; k++)
			if (snapfile_read_chunk(s, k, buf, &len, err, errlen)) {
				free(buf);
				return -1;
			}
	}
	free(buf);
	return 0;
}

int snapfile_mem_chunks(const struct host_snap *s, uint64_t off, uint64_t len, uint64_t *first,
                        uint64_t *last)
{
	uint64_t data_pos = 0, lo = UINT64_MAX, hi = 0;
	for (uint32_t i = 0; i < s->hdr.nextents && len; i++) {
		const struct cap_snap_extent *e = &s->ext[i];
		uint64_t a = off > e->offset ? off : e->offset;
		uint64_t b = off + len < e->offset + e->length ? off + len : e->offset + e->length;
		if (a < b) {
			if (data_pos + (a - e->offset) < lo)
				lo = data_pos + (a - e->offset);
			hi = data_pos + (b - e->offset);
		}
		data_pos += e->length;
	}
	if (lo == UINT64_MAX || s->nchunks == 0)
		return 0;
	*first = lo / CAP_SNAP_CHUNK_SIZE;
	*last = (hi - 1) / CAP_SNAP_CHUNK_SIZE;
	return 1;
}

/* The chunks holding memfd bytes [off, off + len), each against its hash. */
int snapfile_verify_mem_chunks(struct host_snap *s, uint64_t off, uint64_t len, char *err,
                               size_t errlen)
{
	uint64_t first, last;
	if (!snapfile_mem_chunks(s, off, len, &first, &last))
		return 0;
	uint8_t *buf = malloc(CAP_SNAP_CHUNK_SIZE);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fileio_prefault(buf, CAP_SNAP_CHUNK_SIZE);
	size_t n = 0;
	for (uint64_t i = first; i <= last; i++)
		if (snapfile_read_chunk(s, i, buf, &n, err, errlen)) {
			free(buf);
			return -1;
		}
	s->held = buf;   /* checked: the lazy load places it as it is (snapfile_take_held) */
	s->held_chunk = last;
	return 0;
}

uint8_t *snapfile_take_held(struct host_snap *s, uint64_t *chunk)
{
	uint8_t *held = s->held;
	*chunk = s->held_chunk;
	s->held = NULL;
	return held;
}
