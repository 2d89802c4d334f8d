/* procs_mig.h: a capsule of several processes in a live migration (procs_mig.c, docs/PROCESSES.md section 7). */
#ifndef HOST_CAPRUN_PROCS_MIG_H
#define HOST_CAPRUN_PROCS_MIG_H

#include "hosts/caprun/procs_snap.h"
#include "hosts/formats/migstream.h"

#include <poll.h>

struct host_snap;

/*
 * Source, every process frozen (procs_freeze_all): the process section a
 * snapshot would write after pid 1's memory (the table, the records held
 * for each process, each other process's memory), made into a new memfd
 * for the stream's PROCS and PROCDATA records.  h: pid 1's header
 * (memfd_size).  0 with *src (fd -1: nothing to send, one process and
 * nothing held for it) and *nprocs, or -1 with err.
 */
int procs_mig_section(struct host_relay *r, const struct cap_snap_header *h,
                      struct mig_procs_src *src, uint32_t *nprocs, char *err, size_t errlen);

/*
 * Target: the section that came with the stream (at offset 0 of fd, size
 * and hash from PROCS), read and checked as a snapshot's (its hash, then
 * the table) into s->procs; s->hdr is pid 1's header.  fd must stay open
 * until procs_restore_prepare made the memfds.  0, or -1 with err.
 */
int procs_mig_read(struct host_snap *s, int fd, uint64_t size,
                   const uint8_t hash[MIG_PROCS_HASH_LEN], char *err, size_t errlen);

/* After the target's wait for COMMIT and the pull: every process's clock continues from the
 * latest freeze of them all, from now (procs_restore_prepare set it earlier).  0 or -1. */
int procs_restore_clock(const struct procs_restored *pr, int root_memfd);

/*
 * While a migration is the loop and the capsule runs (pre-copy, the waits
 * before the freeze): every other process's channel as a pollfd (at most
 * max; how many), and then those poll found readable served as the relay
 * would (a channel that ended: its process reaped, its parent told).
 * Forks are refused meanwhile (EAGAIN).
 */
int procs_poll_add(const struct host_relay *r, struct pollfd *pf, int max);
void procs_poll_serve(struct host_relay *r, const struct pollfd *pf, int n);

#endif
