/* dirty.c: which pages of a running capsule changed since the last look: PAGEMAP_SCAN over its write-protected windows, and its discard journal. */
#include "hosts/caprun/dirty.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The PAGEMAP_SCAN interface (Linux 6.7, include/uapi/linux/fs.h).  Debian
 * 12's headers are 6.1's, so it is spelled out here; the kernel we run on
 * decides whether it exists (ENOTTY otherwise).
 */
struct dirty_pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct dirty_page_region {
	uint64_t start, end, categories;
};
#define DIRTY_PAGEMAP_SCAN      _IOWR('f', 16, struct dirty_pm_scan_arg)
#define DIRTY_PM_WP_MATCHING    (1ULL << 0)
#define DIRTY_PM_CHECK_WPASYNC  (1ULL << 1)
#define DIRTY_PAGE_IS_WRITTEN   (1ULL << 1)
#define DIRTY_VEC_LEN           4096

void dirty_mark_range(uint8_t *bm, uint64_t npages, uint64_t off, uint64_t len)
{
	uint64_t first = off / CAP_PAGE_SIZE, end = (off + len + CAP_PAGE_SIZE - 1) / CAP_PAGE_SIZE;
	if (end > npages)
		end = npages;
	for (uint64_t p = first; p < end; p++) {
		if (p % 8 == 0 && p + 8 <= end) {
			bm[p / 8] = 0xff;
			p += 7;
		} else {
			dirty_bit_set(bm, p);
		}
	}
}

/* One pass over [start, end): written pages into bm (if bm), protected again. */
static int scan(struct dirty *d, uint64_t start, uint64_t end, uint8_t *bm)
{
	while (start < end) {
		struct dirty_pm_scan_arg a = {
			.size = sizeof a, .flags = DIRTY_PM_WP_MATCHING | DIRTY_PM_CHECK_WPASYNC,
			.start = start, .end = end, .vec = (uint64_t)(uintptr_t)d->vec,
			.vec_len = DIRTY_VEC_LEN, .category_mask = DIRTY_PAGE_IS_WRITTEN,
			.return_mask = DIRTY_PAGE_IS_WRITTEN,
		};
		long n = ioctl(d->pagemap_fd, DIRTY_PAGEMAP_SCAN, &a);
		if (n < 0)
			return -1;
		const struct dirty_page_region *v = d->vec;
		for (long i = 0; bm && i < n; i++)
			dirty_mark_range(bm, d->npages, CAP_MEMFD_OFFSET(v[i].start), v[i].end - v[i].start);
		if (a.walk_end <= start)   /* cannot happen: the kernel always moves on */
			return errno = EIO, -1;
		start = a.walk_end;
	}
	return 0;
}

/*
 * The first look at a capsule: register its writable windows for
 * write-protection with its own userfaultfd (CAP_FD_DIRTY, taken from it
 * with pidfd_getfd).  Its loader made the descriptor but registered nothing
 * (a lazy resume's aside): a registered window maps a page read first
 * without write access, so its first write faults a second time, which
 * every capsule would pay for its whole life.  0, or -1 with errno set (the
 * EPERM of the look stays the caller's: no write-protection).
 */
static int track_windows(const struct dirty *d, pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int u = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, CAP_FD_DIRTY, 0);
	int ok = u >= 0;
	for (unsigned i = 0; ok && i < d->nwin; i++) {
		struct uffdio_register reg = {
			.range = { d->win[i].start, d->win[i].end - d->win[i].start },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};
		ok = ioctl(u, UFFDIO_REGISTER, &reg) == 0;
	}
	if (u >= 0)
		close(u);   /* the capsule's own copy keeps the registration */
	if (pidfd >= 0)
		close(pidfd);
	errno = EPERM;
	return ok ? 0 : -1;
}

int dirty_open(struct dirty *d, pid_t pid, int memfd, uint64_t memfd_size, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	d->pagemap_fd = -1;
	d->memfd = memfd;
	d->npages = memfd_size / CAP_PAGE_SIZE;
	struct cap_control ctl;
	if (pread(memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl || ctl.nmaps > CAP_MAX_MAPS) {
		snprintf(err, errlen, "reading the control page: %s", strerror(errno ? errno : EIO));
		return -1;
	}
	d->arena_win = -1;
	for (uint32_t i = 0; i < ctl.nmaps; i++)
		if (ctl.maps[i].source == CAP_MAP_MEMFD && (ctl.maps[i].prot & CAP_PROT_W)) {
			if (ctl.maps[i].vaddr == ctl.arena_base)
				d->arena_win = (int)d->nwin;
			d->win[d->nwin].start = ctl.maps[i].vaddr;
			d->win[d->nwin++].end = ctl.maps[i].vaddr + ctl.maps[i].size;
		}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	d->vec = malloc(DIRTY_VEC_LEN * sizeof(struct dirty_page_region));
	d->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (!d->vec || d->pagemap_fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		dirty_close(d);
		return -1;
	}
	/* A look without output: EPERM if a window is not tracked, ENOTTY on an older kernel. */
	struct dirty_pm_scan_arg a = { .size = sizeof a, .flags = DIRTY_PM_CHECK_WPASYNC,
	                               .start = d->win[0].start, .end = d->win[0].start + CAP_PAGE_SIZE,
	                               .category_mask = DIRTY_PAGE_IS_WRITTEN };
	int r = d->nwin ? (int)ioctl(d->pagemap_fd, DIRTY_PAGEMAP_SCAN, &a) : -1;
	if (r < 0 && d->nwin && errno == EPERM && track_windows(d, pid) == 0)
		r = (int)ioctl(d->pagemap_fd, DIRTY_PAGEMAP_SCAN, &a);
	if (r < 0) {
		snprintf(err, errlen, "this kernel does not track the capsule's writes (%s)",
		         d->nwin == 0 ? "no writable window" : errno == ENOTTY ? "no PAGEMAP_SCAN"
		         : errno == EPERM ? "no userfaultfd write-protection" : strerror(errno));
		dirty_close(d);
		return -1;
	}
	return 0;
}

/* Every window, the arena only below the capsule's mark (0: not told, all of it). */
static int scan_windows(struct dirty *d, uint8_t *bm)
{
	uint64_t high = 0;
	if (d->arena_win >= 0 &&
	    pread(d->memfd, &high, sizeof high, offsetof(struct cap_control, arena_high)) != sizeof high)
		return -1;
	high = (high + CAP_PAGE_SIZE - 1) & ~(uint64_t)(CAP_PAGE_SIZE - 1);
	for (unsigned i = 0; i < d->nwin; i++) {
		uint64_t start = d->win[i].start, end = d->win[i].end;
		if ((int)i == d->arena_win && high)   /* clamped into the window */
			end = high < start ? start : high < end ? high : end;
		if (scan(d, start, end, bm))
			return -1;
	}
	return 0;
}

int dirty_start(struct dirty *d)
{
	uint64_t seq;
	if (pread(d->memfd, &seq, sizeof seq, offsetof(struct cap_control, discard_seq)) != sizeof seq)
		return -1;
	d->journal_seq = seq;
	return scan_windows(d, NULL);
}

int dirty_take_written(struct dirty *d, uint8_t *bm)
{
	return scan_windows(d, bm);
}

int dirty_take_discards(struct dirty *d, uint8_t *bm)
{
	/* The count, the entries, the count again: entries overwritten while we read show in the gap. */
	uint64_t seq1, seq2;
	struct cap_discard log[CAP_DISCARD_LOG];
	off_t at_seq = offsetof(struct cap_control, discard_seq);
	if (pread(d->memfd, &seq1, sizeof seq1, at_seq) != sizeof seq1 ||
	    pread(d->memfd, log, sizeof log, offsetof(struct cap_control, discards)) != sizeof log ||
	    pread(d->memfd, &seq2, sizeof seq2, at_seq) != sizeof seq2)
		return -1;
	if (seq1 < d->journal_seq || seq2 - d->journal_seq > CAP_DISCARD_LOG) {
		d->journal_seq = seq1;
		return 1;
	}
	for (uint64_t s = d->journal_seq; s < seq1; s++) {
		const struct cap_discard *e = &log[s % CAP_DISCARD_LOG];
		if (e->offset < d->npages * CAP_PAGE_SIZE)
			dirty_mark_range(bm, d->npages, e->offset, e->length);
	}
	d->journal_seq = seq1;
	return 0;
}

void dirty_close(struct dirty *d)
{
	if (d->pagemap_fd >= 0)
		close(d->pagemap_fd);
	d->pagemap_fd = -1;
	free(d->vec);
	d->vec = NULL;
}
