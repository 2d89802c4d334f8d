/* procs_mig.h: a capsule of several processes in a live migration (procs_mig.c, docs/PROCESSES.md section 7). */
#ifndef HOST_CAPRUN_PROCS_MIG_H
#define HOST_CAPRUN_PROCS_MIG_H

#include "hosts/caprun/precopy.h"
#include "hosts/caprun/procs_snap.h"
#include "hosts/formats/migstream.h"
#include "hosts/formats/snapprocs.h"

#include <poll.h>

struct host_snap;

/* ---- source ---- */

/* The other processes' pre-copy: each tracked and sent in pid 1's rounds (precopy.h). */
struct procs_precopy {
	struct procs_kid {
		int32_t pid;              /* 0: slot unused */
		pid_t host_pid;
		int memfd;                /* our own copy of its descriptor: it may end meanwhile */
		struct precopy pc;
	} k[CAP_PROC_MAX];
	uint32_t tracked, untracked;  /* processes pre-copied, processes that move frozen whole */
};

/* Sends one run of pages of process pid (a PROC_PAGES record): 0 or -1. */
typedef int (*procs_send_fn)(void *ctx, int32_t pid, uint64_t off, const uint8_t *bytes, size_t len);

/* Start tracking every other process's writes (one that cannot be tracked moves frozen). */
void procs_precopy_init(struct host_relay *r, struct procs_precopy *pp, uint64_t memfd_size,
                        long max_downtime_ms);
/* One round for each of them (after pid 1's pages, before the ROUND record): 0 or -1. */
int procs_precopy_round(struct host_relay *r, struct procs_precopy *pp, procs_send_fn send, void *ctx);
void procs_precopy_free(struct procs_precopy *pp);

/* What the frozen part sends for the other processes: their table, then their pages. */
struct procs_mig_out {
	struct mig_procs_src src;     /* src.fd -1: nothing (one process, nothing held for it) */
	struct snapprocs_table tab;
	uint32_t nprocs;              /* pid 1 included */
	uint64_t frozen_bytes;        /* the table and the pages sent frozen */
};

/*
 * Every process frozen (procs_freeze_all): the table a snapshot would
 * write (pids, parents, slots, held records, each other process's extents,
 * its memfd scanned) into a new memfd, for the stream's PROCS.  h: pid 1's
 * header (memfd_size).  0, or -1 with err.  procs_mig_out_free after.
 */
int procs_mig_table(struct host_relay *r, const struct cap_snap_header *h, struct procs_mig_out *o,
                    char *err, size_t errlen);
/*
 * After PROCS: each other process's pages, frozen: what changed since its
 * pre-copy (pp NULL, or a process it does not track: all of its extents).
 * MIG_OK or an error (MIG_E_IO with errno).
 */
int procs_mig_send_frozen(int sock, struct mig_tx *tx, struct procs_mig_out *o,
                          struct procs_precopy *pp, uint8_t *chunk, uint8_t *rec);
void procs_mig_out_free(struct procs_mig_out *o);
/* Without pre-copy: their table and all their memory went frozen; the bytes (o->frozen_bytes). */
uint64_t procs_mig_whole_bytes(struct procs_mig_out *o);
/* "processes N: K pre-copied with pid 1, M all while frozen; frozen: ..." into line: 1, or 0
 * for a capsule of one process. */
int procs_mig_describe(const struct procs_mig_out *o, const struct procs_precopy *pp, char *line,
                       size_t len);
/*
 * Frozen, before pid 1's final look: if the capsule ever forked, every data page of its
 * shared window goes again (precopy_mark_data): the other processes write it through their
 * own mappings, which pid 1's tracker (its page tables) never sees.  0, or -1 with errno.
 */
int procs_mig_mark_window(const struct host_relay *r, struct precopy *pc);

/*
 * While a migration is the loop and the capsule runs (pre-copy, the waits
 * before the freeze): every other process's channel as a pollfd (at most
 * max; how many), and then those poll found readable served as the relay
 * would (a channel that ended: its process reaped, its parent told).
 * Forks are refused meanwhile (EAGAIN).
 */
int procs_poll_add(const struct host_relay *r, struct pollfd *pf, int max);
void procs_poll_serve(struct host_relay *r, const struct pollfd *pf, int n);

/* ---- target ---- */

/*
 * The stream's table (dst->table_fd, its size and hash from rx) read and
 * checked as a snapshot's into s->procs (s->hdr: pid 1's header); then
 * every other process's memfd from dst, whose every extent page must have
 * arrived (what lies outside its extents punched), moved into out and
 * made ready to run (procs_restore_finish).  0, or -1 with err.
 */
int procs_mig_restore(struct host_snap *s, const struct mig_rx *rx, struct mig_procs_dst *dst,
                      const struct host_image *img, const char *name, int root_memfd,
                      struct procs_restored *out, char *err, size_t errlen);

/* After the target's wait for COMMIT and the pull: every process's clock continues from the
 * latest freeze of them all, from now (procs_restore_finish set it earlier).  0 or -1. */
int procs_restore_clock(const struct procs_restored *pr, int root_memfd);

#endif
