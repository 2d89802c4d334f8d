/* procs_snap.h: a capsule of several processes frozen, written and resumed as one (procs_snap.c, docs/PROCESSES.md section 7). */
#ifndef HOST_CAPRUN_PROCS_SNAP_H
#define HOST_CAPRUN_PROCS_SNAP_H

#include "hosts/caprun/procs.h"
#include "hosts/formats/snapprocs.h"

struct host_snap;
struct host_image;

/*
 * FREEZE every process of the capsule (pid 1 through channel.c) and wait
 * until each is FROZEN at its own safe point; meanwhile the records caprun
 * would carry between them (WAKE, CHILD, SIGNAL) are held (procs_deliver),
 * a fork is refused, file requests wait for the thaw, and a child that ends
 * is reaped (its CHILD held for its parent).  With one process this is
 * channel_freeze.  0, or -1 with "error ..." in reply and everything thawed
 * (a late FROZEN is then answered with THAW).
 */
int procs_freeze_all(struct host_relay *r, char *reply, size_t len);

/* Continue every frozen process, on one clock (from the latest freeze of them all), then
 * deliver what was held.  With one process this is channel_thaw. */
void procs_thaw_all(struct host_relay *r);

/* What a snapshot of the frozen capsule writes besides pid 1's memory. */
struct procs_frozen {
	struct snapprocs_src src[CAP_PROC_MAX];
	struct cap_snap_held held[CAP_PROC_MAX][CAP_SNAP_HELD_MAX];
	struct cap_snap_program programs[CAP_PROC_MAX];   /* entry i's, if it runs another program */
	int copies[CAP_PROC_MAX];       /* memfd copies this owns (copy), else -1 */
	struct snapprocs_set set;
	int collected;                  /* filled by procs_frozen_collect, not released yet */
};

/*
 * The frozen processes' table into f (pid 1 first); copy: each child's
 * memory copied into a new memfd (a --keep-running snapshot writes after
 * the thaw), else their own memfds are named.  0, or -1 with err.  f->set.n
 * is 0 for a capsule of one process (write it as version 3).
 */
int procs_frozen_collect(struct host_relay *r, struct procs_frozen *f, int copy, char *err,
                         size_t errlen);
/* Close the copies of a collected f (nothing for one never collected, or released). */
void procs_frozen_release(struct procs_frozen *f);

/* A resume of several processes: the children's memory, made before pid 1 starts. */
struct procs_restored {
	uint32_t n;                     /* entries of the snapshot's table, pid 1 included */
	int memfd[CAP_PROC_MAX];        /* entry i's memfd (i >= 1), -1 */
	struct procs_image *img[CAP_PROC_MAX];   /* entry i's program if not the capsule's own */
};

/*
 * Before pid 1 (root_memfd, prepared for resume) is started: every other
 * process's memfd from the snapshot, its program if it runs another than
 * the capsule's own (opened again, build-id checked), its control page made for this host
 * (the shared window mapped from pid 1's memfd), and all their clocks,
 * pid 1's too, set to continue from the latest freeze of them all.  0, or
 * -1 with err.
 */
int procs_restore_prepare(const struct host_snap *s, const struct host_image *img, const char *name,
                          int root_memfd, struct procs_restored *out, char *err, size_t errlen);

/*
 * The second half of procs_restore_prepare, for memfds already filled
 * (out->n entries, out->memfd[1..]: a migration's target): each control
 * page made for this host, one clock for all.  0, or -1 with err (the
 * caller closes out).
 */
int procs_restore_finish(const struct host_snap *s, const struct host_image *img, const char *name,
                         int root_memfd, struct procs_restored *out, char *err, size_t errlen);

/*
 * Once pid 1 runs (before the relay loop): start every other process from
 * its memfd with its pid, parent and slot, and hand each process the
 * records held for it when the capsule froze.  0, or -1 with err (the
 * caller stops the capsule).
 */
int procs_restore_start(struct host_relay *r, const struct host_snap *s, struct procs_restored *pr,
                        char *err, size_t errlen);
void procs_restored_close(struct procs_restored *pr);

#endif
