/* precopy.h: live migration's pre-copy: the capsule's memory sent in rounds while it runs, then, frozen, only what changed. */
#ifndef HOST_PRECOPY_H
#define HOST_PRECOPY_H

#include "hosts/caprun/dirty.h"
#include "capsule-abi/cap_snapshot.h"

#include <stdint.h>
#include <sys/types.h>

/*
 * Round 0 sends every page that holds data; round k sends the pages written
 * or discarded during round k-1 (dirty.h).  Two bitmaps, one bit per memfd
 * page: `todo` (to send in this round) and `sent` (the target holds this
 * page as it was when last sent, and every change since is in the tracker
 * or the journal).  A page found to be a hole when its turn comes is not
 * sent and loses its `sent` bit, so if it holds data again later, however
 * it got there, the final round sends it.  The final round, frozen, sends
 * todo + written + discarded + the host's own windows (control page, held
 * packets: caprun writes them, not the capsule) + every data page never
 * sent, as sparse DATA inside the final extents (migstream.h).
 *
 * The caller owns where the pages go (a migration stream's PAGES and DATA
 * records, or a snapshot's staging copy): these functions hand out one run
 * of pages at a time, so caprun keeps relaying the capsule's packets
 * between them.
 */
#define PRECOPY_MAX_ROUNDS        10
#define PRECOPY_CHUNK             65536u   /* bytes per run: one migration stream record (MIG_CHUNK_MAX) */
#define PRECOPY_DEFAULT_DOWNTIME  30     /* ms: capctl migrate --max-downtime */

struct precopy_round {
	uint64_t pages;
	uint64_t bytes;
	long ms;
};

enum precopy_stop {
	PRECOPY_CONVERGED = 1,    /* what is left fits the downtime target */
	PRECOPY_OUT_OF_ROUNDS,    /* PRECOPY_MAX_ROUNDS sent, still too much: stop and copy the rest */
	PRECOPY_NOT_SHRINKING,    /* it writes as fast as we send: stop and copy the rest */
};

struct precopy {
	struct dirty d;
	int memfd;
	uint64_t memfd_size, npages;
	uint8_t *sent, *todo;
	uint64_t cursor;              /* the next page of todo to look at */
	uint64_t data_start, data_end;   /* the last data segment lseek found (cache) */
	long max_downtime_ms;
	unsigned rounds;              /* rounds sent */
	struct precopy_round r[PRECOPY_MAX_ROUNDS];
	int64_t round_t0_us;
	uint64_t pending_pages;       /* todo bits set by the last look (precopy_look) */
	uint64_t total_bytes;
	int64_t total_us;             /* time spent sending rounds: bytes / this = the rate */
	enum precopy_stop stop;
	uint32_t ext_i;               /* final round: the extent being sent */
	uint8_t *chunk;               /* PRECOPY_CHUNK bytes: the run precopy_next read */
	int journal_overflowed;       /* the last look's discard journal overflowed */
	struct cap_snap_extent *fext; /* final look: the data extents it knows (see below) */
	uint32_t nfext;
	int fext_known;               /* 1: fext holds them; 0: scan the memfd */
};

/* Set up tracking for the capsule process pid.  0, or -1 with err (no pre-copy here). */
int precopy_init(struct precopy *p, pid_t pid, int memfd, uint64_t memfd_size,
                 long max_downtime_ms, char *err, size_t errlen);
/*
 * Before each round: round 0 marks every page; later rounds take what was
 * written and discarded since.  Returns 1: send this round; 0: stop here
 * (p->stop says why; what was taken stays in todo for the final round);
 * -1: the tracker failed.
 */
int precopy_look(struct precopy *p);
/* The round's next run of pages, read into p->chunk: 1 (*off, *len set), 0 the round is done, -1 error. */
int precopy_next(struct precopy *p, uint64_t *off, size_t *len);
/* After the ROUND record went out: account the round. */
void precopy_round_done(struct precopy *p, uint64_t bytes);
/*
 * Frozen, before precopy_final_look: every page holding data in [off, off + len) goes in the
 * final round, written or not as far as the tracker saw.  For the shared window of a capsule
 * of several processes: the other processes write it through their own mappings, which the
 * tracker (the first process's page tables) never sees.  0 or -1.
 */
int precopy_mark_data(struct precopy *p, uint64_t off, uint64_t len);
/* Frozen: take the last changes, the host's windows and every page never sent.  0 or -1. */
int precopy_final_look(struct precopy *p);
/*
 * After precopy_final_look: the frozen memfd's data extents without scanning
 * it (a scan walks every page of the page cache: 13-27 ms for 1 GiB here, all
 * of it frozen).  Every page that can hold a byte other than zero is in them:
 * a page sent and not found a hole since, or written or discarded since the
 * last round, or holding data in the host's windows; a page there that is a hole now (a
 * discard) reads as zeros, which is what it holds.  1 with *ext (owned by p,
 * *n entries); 0 when they are not known (the discard journal overflowed, or
 * too many extents): scan the memfd then.
 */
int precopy_final_extents(struct precopy *p, const struct cap_snap_extent **ext, uint32_t *n);
/* The next final run, inside one of ext[0..n), ascending, read into p->chunk: 1, 0 all sent, -1 error. */
int precopy_final_next(struct precopy *p, const struct cap_snap_extent *ext, uint32_t n,
                       uint64_t *off, size_t *len);
void precopy_free(struct precopy *p);

#endif
