/* relay.h: caprun's event loop: packets TUN <-> channel, READY, the control socket, signals, exit (relay.c). */
#ifndef HOST_RELAY_H
#define HOST_RELAY_H

#include "hosts/caprun/channel.h"

/* relay_run's result when a snapshot saved the capsule and caprun must stop. */
#define HOST_RELAY_SAVED (-2)
/* ... and when a live migration moved it to another host. */
#define HOST_RELAY_MIGRATED (-3)
/* ... and when caphostd said this copy is stale (the directory names another host). */
#define HOST_RELAY_STALE (-4)

/*
 * Run until the capsule exits (returns 0, *wstatus set), a terminating
 * signal arrives (returns the signal number; the capsule is still alive), or
 * a snapshot without keep-running was written (HOST_RELAY_SAVED, capsule
 * frozen).  Returns -1 on an internal error (message printed).
 */
int relay_run(struct host_relay *r, int *wstatus);

#endif
