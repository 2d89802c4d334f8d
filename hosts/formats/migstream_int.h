/* migstream_int.h: what the migration stream's codec files share (migstream.c, migstream_procs.c): the record expected next, page bitmaps, the process records' halves.  Not an interface: the stream is migstream.h. */
#ifndef HOST_MIGSTREAM_INT_H
#define HOST_MIGSTREAM_INT_H

#include "hosts/formats/migstream.h"

/* Phases: the record expected next (same numbers as enum mig_rec_type), then done. */
enum { PH_HEAD = 0, PH_PREAMBLE = 1, PH_EXTENTS = 2, PH_DATA = 3, PH_END = 4, PH_DONE = 5,
       PH_PROCDATA = MIG_REC_PROCDATA };

/* One bit per page: mark [off, off + len). */
static inline void mig_bits_mark(uint8_t *bm, uint64_t off, size_t len)
{
	for (uint64_t p = off / MIG_PAGE; p < (off + len) / MIG_PAGE; p++)
		bm[p / 8] |= (uint8_t)(1u << (p % 8));
}

/* Every page of ext[0..n) set in bm. */
static inline int mig_bits_cover(const uint8_t *bm, const struct cap_snap_extent *ext, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint64_t p = ext[i].offset / MIG_PAGE;
		     p < (ext[i].offset + ext[i].length + MIG_PAGE - 1) / MIG_PAGE; p++)
			if (!(bm[p / 8] & (1u << (p % 8))))
				return 0;
	return 1;
}

/* Where PROCS may come (after pid 1's last DATA, once), and PROC_PAGES (pre-copying, or
 * frozen after the whole table). */
int migstream_procs_may_come(int phase, uint64_t precopy_size, uint64_t procs_size);
int migstream_proc_pages_may_come(int phase, uint64_t precopy_size, uint64_t procs_size);
/* The decoder's halves of those records (rx->phase checked by the caller). */
int migstream_rx_procs(struct mig_rx *rx, const uint8_t *b, size_t blen);
int migstream_rx_procdata(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec);
int migstream_rx_proc_pages(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec);

#endif
