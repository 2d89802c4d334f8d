/* dirty.h: which pages of a running capsule changed since the last look: PAGEMAP_SCAN over its write-protected windows, and its discard journal. */
#ifndef HOST_DIRTY_H
#define HOST_DIRTY_H

#include "capsule-abi/cap_abi.h"

#include <stdint.h>
#include <sys/types.h>

/*
 * The capsule's loader made a userfaultfd in asynchronous write-protect
 * mode (CAP_FD_DIRTY); the first dirty_open registers every writable memfd
 * window with it (a lazy resume's loader did already): a write to a
 * protected page just unprotects it.  PAGEMAP_SCAN on the capsule
 * process's /proc/PID/pagemap lists the unprotected ("written") pages and
 * protects them again in one call.  Discards are not writes; the capsule
 * journals them in its control page (struct cap_discard).  Pages are
 * marked in a bitmap indexed by memfd page number (offset / CAP_PAGE_SIZE).
 *
 * The arena (gigabytes, mostly never used) is scanned only below the
 * capsule's cap_control.arena_high: a scan costs for every page of its
 * range, a hole included (protecting a hole installs a marker), and 2 GiB
 * of them took 1.3 ms of each look, all of the final one downtime.  Pages
 * above were never handed out; when the mark rises, the range below it
 * that was never protected reads as written in full at the next look, so
 * nothing written there is missed.
 */
struct dirty {
	int pagemap_fd;              /* -1: no tracking */
	int memfd;
	uint64_t npages;             /* memfd size in pages: the bitmap's length in bits */
	unsigned nwin;
	struct { uint64_t start, end; } win[CAP_MAX_MAPS];   /* writable memfd windows, addresses */
	int arena_win;               /* the window that is the arena (scanned below arena_high), or -1 */
	uint64_t journal_seq;        /* discards already taken */
	void *vec;                   /* PAGEMAP_SCAN's output buffer */
};

/* Bitmap helpers: one bit per memfd page. */
static inline void dirty_bit_set(uint8_t *bm, uint64_t p) { bm[p / 8] |= (uint8_t)(1u << (p % 8)); }
static inline void dirty_bit_clear(uint8_t *bm, uint64_t p) { bm[p / 8] &= (uint8_t)~(1u << (p % 8)); }
static inline int dirty_bit(const uint8_t *bm, uint64_t p) { return (bm[p / 8] >> (p % 8)) & 1; }
void dirty_mark_range(uint8_t *bm, uint64_t npages, uint64_t off, uint64_t len);

/*
 * Find the capsule's tracked windows (from its control page in memfd) and
 * open its pagemap; check that the kernel tracks writes there.  0, or -1
 * with err (no tracking: the caller copies the memory frozen instead).
 */
int dirty_open(struct dirty *d, pid_t pid, int memfd, uint64_t memfd_size, char *err, size_t errlen);
/* Protect every page and take the journal from its current end: the start of round 0.  0 or -1. */
int dirty_start(struct dirty *d);
/* Mark the pages written since the last call (or dirty_start) and protect them again.  0 or -1. */
int dirty_take_written(struct dirty *d, uint8_t *bm);
/* Mark the pages discarded since the last call.  0; 1 if the journal overflowed (anything
 * may have been discarded: the caller treats every page as changed); -1 on a read error. */
int dirty_take_discards(struct dirty *d, uint8_t *bm);
void dirty_close(struct dirty *d);

#endif
