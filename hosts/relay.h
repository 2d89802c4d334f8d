/* relay.h: caprun's event loop: packets TUN <-> channel, READY, signals, the capsule's exit. */
#ifndef HOST_RELAY_H
#define HOST_RELAY_H

#include <sys/types.h>

struct host_relay {
	int tun_fd;          /* non-blocking */
	int chan_fd;         /* host end of the SEQPACKET channel, non-blocking */
	int sig_fd;          /* signalfd: SIGCHLD SIGINT SIGTERM SIGHUP */
	pid_t child;
	const char *name;    /* for the "running" line */
	const char *addr;
};

/*
 * Run until the capsule exits (returns 0, *wstatus set) or a terminating
 * signal arrives (returns the signal number; the capsule is still alive).
 * Returns -1 on an internal error (message printed).
 */
int host_relay_run(const struct host_relay *r, int *wstatus);

#endif
