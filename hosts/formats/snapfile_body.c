/* snapfile_body.c: a snapshot's data written by n workers (two for a stopped capsule), each reading, tagging and writing every n-th chunk, while the disk writes behind them. */
#include "hosts/formats/snapfile_body.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

#define WRITEBACK_CHUNKS 32u        /* a worker starts the disk's writeback every 8 MiB of its own */

/*
 * Chunk c is the data bytes [c * CHUNK, (c + 1) * CHUNK) of the extents laid end
 * to end, whichever extents they come from; its table entry depends on those bytes
 * and c alone.  So chunks are independent: worker w of n takes w, w + n, ...,
 * reads its pieces from the memfd, makes its entry and writes it at its place.
 * The tag costs about as much as the two copies, and two CPUs nearly halve the sum.
 */
struct body_worker {
	int memfd, out;
	const struct cap_snap_header *h;
	const struct cap_snap_extent *ext;
	const struct snapchunk_keying *keying;
	uint8_t *table;
	uint64_t nchunks;
	unsigned first, stride;
	int err;                        /* errno of the first failure, 0 if none */
	pthread_t thread;
};

/* Data bytes [at, at + len) out of the extents into buf; *ei, *ei_start: where the last call was. */
static int gather(const struct body_worker *w, uint64_t at, size_t len, uint8_t *buf,
                  uint32_t *ei, uint64_t *ei_start)
{
	while (len) {
		const struct cap_snap_extent *e = &w->ext[*ei];
		if (at >= *ei_start + e->length) {   /* past this extent: the next (data only grows) */
			*ei_start += e->length;
			if (++*ei >= w->h->nextents) {
				errno = EINVAL;
				return -1;
			}
			continue;
		}
		uint64_t in = at - *ei_start;
		size_t take = e->length - in < len ? (size_t)(e->length - in) : len;
		if (fileio_pread_full(w->memfd, buf, take, e->offset + in))
			return -1;
		buf += take;
		at += take;
		len -= take;
	}
	return 0;
}

static void *body_work(void *arg)
{
	struct body_worker *w = arg;
	size_t entry_len = cap_snap_chunk_entry_len(w->keying->version);
	uint8_t *buf = malloc(CAP_SNAP_CHUNK_SIZE);
	uint32_t ei = 0;
	uint64_t ei_start = 0, done = 0;
	if (!buf) {
		w->err = ENOMEM;
		return NULL;
	}
	for (uint64_t c = w->first; c < w->nchunks; c += w->stride) {
		uint64_t at = c * CAP_SNAP_CHUNK_SIZE;
		size_t len = w->h->data_size - at < CAP_SNAP_CHUNK_SIZE ? (size_t)(w->h->data_size - at)
		                                                       : CAP_SNAP_CHUNK_SIZE;
		if (gather(w, at, len, buf, &ei, &ei_start) ||
		    fileio_pwrite_full(w->out, buf, len, w->h->data_offset + at)) {
			w->err = errno ? errno : EIO;
			break;
		}
		snapchunk_entry(w->keying, c, buf, len, w->table + c * entry_len);
		/* The disk writes what is written while the rest is tagged: the final fsync
		 * (which alone makes the file durable) then waits for the tail, not for all. */
		if (++done % WRITEBACK_CHUNKS == 0)
			sync_file_range(w->out, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	free(buf);
	return NULL;
}

int snapfile_write_body(int memfd, int out, const struct cap_snap_header *h,
                        const struct cap_snap_extent *ext, const struct snapchunk_keying *keying,
                        int workers, uint8_t *table)
{
	struct body_worker w[SNAPFILE_BODY_MAX_WORKERS];
	uint64_t nchunks = cap_snap_chunk_count(h->format_version, h->data_size);
	unsigned n = workers < 1 ? 1 : workers > SNAPFILE_BODY_MAX_WORKERS ? SNAPFILE_BODY_MAX_WORKERS
	                                                                   : (unsigned)workers;
	int started[SNAPFILE_BODY_MAX_WORKERS] = { 0 };
	if (h->data_size && !nchunks) {
		errno = EINVAL;   /* a version without chunks (2): its data would go unwritten */
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct body_worker){ .memfd = memfd, .out = out, .h = h, .ext = ext,
		                             .keying = keying, .table = table, .nchunks = nchunks,
		                             .first = i, .stride = n };
		/* Worker 0 is this thread; a worker that cannot be started leaves its chunks to it. */
		if (i > 0 && (uint64_t)i < nchunks)
			started[i] = pthread_create(&w[i].thread, NULL, body_work, &w[i]) == 0;
	}
	body_work(&w[0]);
	int err = w[0].err;
	for (unsigned i = 1; i < n; i++) {
		if (started[i]) {
			pthread_join(w[i].thread, NULL);
			if (!err)
				err = w[i].err;
		} else if ((uint64_t)i < nchunks && !err) {
			body_work(&w[i]);
			err = w[i].err;
		}
	}
	errno = err;
	return err ? -1 : 0;
}
