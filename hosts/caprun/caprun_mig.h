/* caprun_mig.h: a live migration's source side in caprun (caprun_mig.c; docs/MIGRATION.md). */
#ifndef HOST_CAPRUN_MIG_H
#define HOST_CAPRUN_MIG_H

#include "hosts/caprun/channel.h"

/*
 * Move the running capsule to host target, live: the whole protocol of
 * docs/MIGRATION.md, source side.  progress_fd (the capctl client, or -1)
 * gets "progress ..." lines as phases end; reply gets the final "ok ..." /
 * "error ..." line.  fault names a test fault (or NULL).  Returns 1 if the
 * capsule now runs on the target and caprun must stop, 0 if it continues here.
 */
int caprun_mig_move(struct host_relay *r, uint32_t target, const char *fault, int progress_fd,
                    char *reply, size_t len);

#endif
