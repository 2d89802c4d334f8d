/* caprun_mig.h: a live migration's source side in caprun (caprun_mig.c; docs/MIGRATION.md). */
#ifndef HOST_CAPRUN_MIG_H
#define HOST_CAPRUN_MIG_H

#include "hosts/caprun/channel.h"

/* How to move it (capctl migrate's options). */
struct caprun_mig_opts {
	const char *fault;        /* a test fault, or NULL */
	long max_downtime_ms;     /* pre-copy stops when the rest fits this (0: the default) */
	int no_precopy;           /* 1: stop-and-copy, all memory while frozen */
	long wait_directory_s;    /* a directory that cannot commit: wait this long before the
	                           * freeze, the capsule running (0: fail at once; ctlproto.h
	                           * has the default and the limit) */
};


/*
 * Move the running capsule to host target, live: the whole protocol of
 * docs/MIGRATION.md, source side.  progress_fd (the capctl client, or -1)
 * gets "progress ..." lines as phases end; reply gets the final "ok ..." /
 * "error ..." line.  Returns 1 if the capsule now runs on the target and
 * caprun must stop, 0 if it continues here.
 */
int caprun_mig_move(struct host_relay *r, uint32_t target, const struct caprun_mig_opts *o,
                    int progress_fd, char *reply, size_t len);

#endif
