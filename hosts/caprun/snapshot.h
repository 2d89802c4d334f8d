/* snapshot.h: caprun taking a snapshot of its running capsule (snapshot.c). */
#ifndef HOST_SNAPSHOT_H
#define HOST_SNAPSHOT_H

#include "hosts/caprun/channel.h"

enum snapshot_outcome {
	SNAPSHOT_DONE = 0,      /* answered in reply (ok or error); the capsule runs */
	SNAPSHOT_SAVED = 1,     /* written; the capsule stays frozen and must now be stopped */
	SNAPSHOT_PENDING = 2,   /* --keep-running: the capsule runs, a writer thread owns client_fd and
	                         * dirfd and answers the client when the file is complete */
};

/*
 * Freeze the capsule and snapshot it to path (relative to dirfd, the
 * client's view of path's directory, if >= 0).  keep: copy its memory
 * aside, thaw it at once and write the file from the copy in a thread
 * (SNAPSHOT_PENDING); otherwise write the file while it stays frozen
 * (SNAPSHOT_SAVED).  Any failure thaws it (SNAPSHOT_DONE with "error ..."
 * in reply).  The one-line reply for the control socket goes to reply,
 * except when pending.
 */
int snapshot_take(struct host_relay *r, const char *path, int dirfd, int client_fd, int keep,
                  char *reply, size_t len);
/* 1 while a --keep-running snapshot's file is being written (nothing else may freeze). */
int snapshot_busy(void);
/*
 * A --keep-running snapshot pre-copies its memory in a thread while the
 * capsule runs; this descriptor (-1: none) becomes readable when that is
 * done, and the loop then calls snapshot_precopied, which freezes the
 * capsule for the rest, thaws it and starts the writer (or answers the
 * client with the error).
 */
int snapshot_wake_fd(void);
void snapshot_precopied(struct host_relay *r);
/* Before caprun exits: wait for a snapshot still being written. */
void snapshot_finish_jobs(void);

#endif
