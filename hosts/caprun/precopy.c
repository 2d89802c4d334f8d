/* precopy.c: live migration's pre-copy: the capsule's memory sent in rounds while it runs, then, frozen, only what changed. */
#include "hosts/caprun/precopy.h"
#include "hosts/common/clock.h"
#include "hosts/common/fileio.h"
#include "capsule-abi/cap_held.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_PAGES (PRECOPY_CHUNK / CAP_PAGE_SIZE)

int precopy_init(struct precopy *p, pid_t pid, int memfd, uint64_t memfd_size,
                 long max_downtime_ms, char *err, size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->memfd = memfd;
	p->memfd_size = memfd_size;
	p->npages = memfd_size / CAP_PAGE_SIZE;
	p->max_downtime_ms = max_downtime_ms;
	if (dirty_open(&p->d, pid, memfd, memfd_size, err, errlen))
		return -1;
	size_t bytes = p->npages / 8 + 1;
	p->sent = calloc(bytes, 1);
	p->todo = calloc(bytes, 1);
	p->chunk = malloc(PRECOPY_CHUNK);
	if (!p->sent || !p->todo || !p->chunk) {
		snprintf(err, errlen, "out of memory");
		precopy_free(p);
		return -1;
	}
	return 0;
}

void precopy_free(struct precopy *p)
{
	dirty_close(&p->d);
	free(p->sent);
	free(p->todo);
	free(p->chunk);
	free(p->fext);
	p->sent = p->todo = p->chunk = NULL;
	p->fext = NULL;
	p->nfext = 0;
	p->fext_known = 0;
}

static uint64_t count_bits(const uint8_t *bm, uint64_t npages)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < npages / 8; i++)
		n += (uint64_t)__builtin_popcount(bm[i]);
	for (uint64_t p = npages / 8 * 8; p < npages; p++)
		n += (uint64_t)dirty_bit(bm, p);
	return n;
}

/* Written and discarded since the last look, into todo; an overflowed journal: everything. */
static int take_changes(struct precopy *p)
{
	if (dirty_take_written(&p->d, p->todo))
		return -1;
	int rc = dirty_take_discards(&p->d, p->todo);
	if (rc < 0)
		return -1;
	p->journal_overflowed = rc == 1;
	if (rc == 1)
		dirty_mark_range(p->todo, p->npages, 0, p->memfd_size);
	return 0;
}

int precopy_look(struct precopy *p)
{
	p->cursor = 0;
	p->data_start = p->data_end = 0;
	p->round_t0_us = (clock_now_ns(CLOCK_MONOTONIC) / 1000);
	if (p->rounds == 0) {
		if (dirty_start(&p->d))
			return -1;
		dirty_mark_range(p->todo, p->npages, 0, p->memfd_size);
		p->pending_pages = p->npages;
		return 1;
	}
	if (take_changes(p))
		return -1;
	p->pending_pages = count_bits(p->todo, p->npages);
	/* What the final round would send now, at the rate the rounds so far went. */
	double rate = p->total_us > 0 ? (double)p->total_bytes / (double)p->total_us : 0;   /* bytes/us */
	double est_ms = rate > 0 ? (double)(p->pending_pages * CAP_PAGE_SIZE) / rate / 1000.0 : 1e9;
	if (est_ms * 2 <= (double)p->max_downtime_ms) {
		p->stop = PRECOPY_CONVERGED;
		return 0;
	}
	if (p->rounds >= PRECOPY_MAX_ROUNDS) {
		p->stop = PRECOPY_OUT_OF_ROUNDS;
		return 0;
	}
	/* Two rounds running that did not shrink: it writes as fast as we send. */
	if (p->rounds >= 3 && p->pending_pages >= p->r[p->rounds - 1].pages &&
	    p->r[p->rounds - 1].pages >= p->r[p->rounds - 2].pages) {
		p->stop = PRECOPY_NOT_SHRINKING;
		return 0;
	}
	return 1;
}

/*
 * Is page pg data?  Then *run_end is where that data ends (exclusive, pages);
 * else *run_end is where the next data starts.  Cached: lseek is called once
 * per data segment and hole, not once per page.
 */
static int page_is_data(struct precopy *p, uint64_t pg, uint64_t *run_end)
{
	uint64_t off = pg * CAP_PAGE_SIZE;
	if (off >= p->data_start && off < p->data_end) {
		*run_end = p->data_end / CAP_PAGE_SIZE;
		return 1;
	}
	if (off < p->data_start) {
		*run_end = p->data_start / CAP_PAGE_SIZE;
		return 0;
	}
	off_t d = lseek(p->memfd, (off_t)off, SEEK_DATA);
	if (d < 0) {   /* ENXIO: nothing but hole up to the end */
		p->data_start = p->data_end = p->memfd_size;
		*run_end = p->npages;
		return 0;
	}
	off_t h = lseek(p->memfd, d, SEEK_HOLE);
	p->data_start = (uint64_t)d;
	p->data_end = h < 0 ? p->memfd_size : (uint64_t)h;
	return page_is_data(p, pg, run_end);
}

/* The next run of todo pages from cursor, at most max pages, below limit: its first page, or limit. */
static uint64_t next_todo(struct precopy *p, uint64_t limit, uint64_t max, uint64_t *npages)
{
	uint64_t pg = p->cursor;
	while (pg < limit) {
		if (pg % 8 == 0 && p->todo[pg / 8] == 0) {
			pg += 8;
			continue;
		}
		if (dirty_bit(p->todo, pg))
			break;
		pg++;
	}
	if (pg >= limit) {
		p->cursor = limit;
		return limit;
	}
	uint64_t n = 0;
	while (pg + n < limit && n < max && dirty_bit(p->todo, pg + n))
		n++;
	*npages = n;
	return pg;
}

/* A run of pages into p->chunk (inside the memfd's size, so a short read means it shrank). */
static int read_pages(struct precopy *p, uint64_t pg, uint64_t n)
{
	return fileio_pread_full(p->memfd, p->chunk, (size_t)(n * CAP_PAGE_SIZE), pg * CAP_PAGE_SIZE);
}

int precopy_next(struct precopy *p, uint64_t *off, size_t *len)
{
	for (;;) {
		uint64_t n = 0, pg = next_todo(p, p->npages, CHUNK_PAGES, &n);
		if (pg >= p->npages)
			return 0;
		uint64_t run_end;
		if (!page_is_data(p, pg, &run_end)) {
			/* A hole now: nothing to send; the target's copy (if any) is stale. */
			uint64_t end = run_end < pg + n ? run_end : pg + n;
			for (uint64_t q = pg; q < end; q++) {
				dirty_bit_clear(p->todo, q);
				dirty_bit_clear(p->sent, q);
			}
			p->cursor = end;
			continue;
		}
		if (pg + n > run_end)
			n = run_end - pg;
		if (read_pages(p, pg, n))
			return -1;
		*off = pg * CAP_PAGE_SIZE;
		*len = (size_t)(n * CAP_PAGE_SIZE);
		for (uint64_t q = pg; q < pg + n; q++) {
			dirty_bit_clear(p->todo, q);
			dirty_bit_set(p->sent, q);
		}
		p->cursor = pg + n;
		return 1;
	}
}

void precopy_round_done(struct precopy *p, uint64_t bytes)
{
	int64_t us = (clock_now_ns(CLOCK_MONOTONIC) / 1000) - p->round_t0_us;
	if (p->rounds < PRECOPY_MAX_ROUNDS) {
		p->r[p->rounds].pages = bytes / CAP_PAGE_SIZE;
		p->r[p->rounds].bytes = bytes;
		p->r[p->rounds].ms = (long)(us / 1000);
	}
	p->rounds++;
	p->total_bytes += bytes;
	p->total_us += us > 0 ? us : 1;
}

/* p->fext = the runs of pages set in sent or todo (precopy_final_extents says why). */
static void known_extents(struct precopy *p)
{
	uint32_t n = 0, cap = 0;
	struct cap_snap_extent *ext = NULL;
	uint64_t pg = 0;
	p->fext_known = 0;
	while (pg < p->npages) {
		uint64_t byte = pg / 8;
		if (pg % 8 == 0 && (p->sent[byte] | p->todo[byte]) == 0) {
			pg += 8;
			continue;
		}
		if (!dirty_bit(p->sent, pg) && !dirty_bit(p->todo, pg)) {
			pg++;
			continue;
		}
		uint64_t end = pg + 1;
		while (end < p->npages) {
			if (end % 8 == 0 && end + 8 <= p->npages && (p->sent[end / 8] | p->todo[end / 8]) == 0xff)
				end += 8;   /* a whole byte of pages at once */
			else if (dirty_bit(p->sent, end) || dirty_bit(p->todo, end))
				end++;
			else
				break;
		}
		if (n == cap) {
			if (cap >= CAP_SNAP_MAX_EXTENTS) {
				free(ext);
				return;   /* too scattered for a snapshot's table: scan instead */
			}
			cap = cap ? cap * 2 : 64;
			void *q = realloc(ext, cap * sizeof *ext);
			if (!q) {
				free(ext);
				return;
			}
			ext = q;
		}
		ext[n].offset = pg * CAP_PAGE_SIZE;
		ext[n].length = (end - pg) * CAP_PAGE_SIZE;
		n++;
		pg = end;
	}
	free(p->fext);
	p->fext = ext;
	p->nfext = n;
	p->fext_known = 1;
}

int precopy_final_extents(struct precopy *p, const struct cap_snap_extent **ext, uint32_t *n)
{
	if (!p->fext_known)
		return 0;
	*ext = p->fext;
	*n = p->nfext;
	return 1;
}

int precopy_mark_data(struct precopy *p, uint64_t off, uint64_t len)
{
	uint64_t end = off + len < p->memfd_size ? off + len : p->memfd_size;
	while (off < end) {
		off_t data = lseek(p->memfd, (off_t)off, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -1;   /* no data from here on */
		if ((uint64_t)data >= end)
			return 0;
		off_t hole = lseek(p->memfd, data, SEEK_HOLE);
		if (hole < 0)
			return -1;
		uint64_t stop = (uint64_t)hole < end ? (uint64_t)hole : end;
		dirty_mark_range(p->todo, p->npages, (uint64_t)data, stop - (uint64_t)data);
		off = stop;
	}
	return 0;
}

int precopy_final_look(struct precopy *p)
{
	if (take_changes(p))
		return -1;
	/* caprun's own writes: the control window and the held packets (held.c); the pages
	 * holding data only: marking the holes too sent 960 KiB of zeros in every final part
	 * (and made them pages on the target), as the final extents come from these bits. */
	if (precopy_mark_data(p, 0, CAP_MEMFD_OFFSET(CAP_HELD_ADDR) + CAP_HELD_SIZE))
		return -1;
	if (!p->journal_overflowed)
		known_extents(p);   /* sent | todo, before todo takes every page never sent */
	for (uint64_t i = 0; i < p->npages / 8 + 1; i++)
		p->todo[i] |= (uint8_t)~p->sent[i];
	p->cursor = 0;
	p->ext_i = 0;
	return 0;
}

int precopy_final_next(struct precopy *p, const struct cap_snap_extent *ext, uint32_t n,
                       uint64_t *off, size_t *len)
{
	while (p->ext_i < n) {
		uint64_t first = ext[p->ext_i].offset / CAP_PAGE_SIZE;
		uint64_t limit = (ext[p->ext_i].offset + ext[p->ext_i].length) / CAP_PAGE_SIZE;
		if (limit > p->npages)
			limit = p->npages;
		if (p->cursor < first)
			p->cursor = first;
		uint64_t cnt = 0, pg = next_todo(p, limit, CHUNK_PAGES, &cnt);
		if (pg >= limit) {
			p->ext_i++;
			continue;
		}
		if (read_pages(p, pg, cnt))
			return -1;
		*off = pg * CAP_PAGE_SIZE;
		*len = (size_t)(cnt * CAP_PAGE_SIZE);
		for (uint64_t q = pg; q < pg + cnt; q++)
			dirty_bit_clear(p->todo, q);
		p->cursor = pg + cnt;
		return 1;
	}
	return 0;
}
