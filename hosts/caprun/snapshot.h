/* snapshot.h: caprun taking a snapshot of its running capsule (snapshot.c). */
#ifndef HOST_SNAPSHOT_H
#define HOST_SNAPSHOT_H

#include "hosts/caprun/channel.h"

/*
 * Freeze the capsule, write its snapshot to path (relative to dirfd, the
 * client's view of path's directory, if >= 0), then thaw it (keep, or
 * on any failure) or leave it frozen (saved).  The one-line reply for the
 * control socket goes to reply.  Returns 1 if the capsule was saved and
 * must now be stopped, else 0.
 */
int snapshot_take(struct host_relay *r, const char *path, int dirfd, int keep,
                  char *reply, size_t len);

#endif
