/* caprun_gate.c: a fresh start's loader spawned before caprun makes the network, waiting at its gate for "go" and the filtered TUN device. */
/*
 * Why: the capsule's own device, its link, routes and source filter cost
 * about 0.45 ms of kernel work at every start; the memfd, the loader's
 * exec, its mappings and their page faults about as much again.  Done one
 * after the other they were most of a start's time beyond a native
 * process's (docs/STARTUP.md section 17).  With two CPUs they overlap:
 * caprun lays out the memfd and spawns the loader first, then makes the
 * network while the loader maps and prepares the capsule in its own
 * process.  (A thread for the network gained nothing: section 17.)  One
 * condition does not bend: nothing of the capsule runs, and no device
 * reaches it, before the device's source filter is in place.  So the loader
 * does everything a loader does and then waits, before no_new_privs and
 * seccomp, for one struct cap_start_go on the channel (CAP_HOST_START_GATED,
 * capsule-abi/cap_abi.h), which caprun sends after the filter, with the
 * device attached (SCM_RIGHTS) when the capsule is to move its own packets.
 *
 * The memfd is laid out before the network exists, so the name must be
 * known first: the image's own name, claimed at once.  A name in use (a
 * second run of one image) keeps the usual order, which finds "NAME-2"; a
 * device of that name that appears meanwhile makes caprun kill the waiting
 * loader and start again the usual way (gate_abandon).  The address, when
 * caprun picks it, is written into the control page with "go".
 */
#include "hosts/caprun/caprun.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The usual order: the network first, its memfd and loader after it (in main). */
static int network_only(struct caprun *c, const char *base)
{
	int r = make_link(c, base);
	if (r == 0)
		choose_packet_path(c);
	return r ? -1 : 0;
}

/*
 * The image's own name claimed, its device free a moment ago: 1.  0 when the usual
 * order must find another ("NAME-2"), or for -d, whose console log is named before
 * its loader starts (a name changed afterwards would leave the log under the wrong
 * one).  -1 on error (said).
 */
static int claim_own_name(struct caprun *c, const char *base)
{
	if (c->detach || link_names(c, base, 1))
		return 0;
	int r = claim_socket(c);
	if (r)
		return r < 0 ? -1 : 0;   /* 1: a live caprun has the name */
	if (if_nametoindex(c->ifname) == 0)
		return 1;
	release_socket(c);   /* its device is someone's */
	return 0;
}

int make_network(struct caprun *c, const char *base, char **cargv, const char *loader)
{
	int r = cargv ? claim_own_name(c, base) : 0;
	if (r <= 0)
		return r < 0 ? -1 : network_only(c, base);
	c->gated = 1;
	if (make_fresh_memfd(c, base, cargv))
		return -1;
	if (memlayout_memfd_host_flags(c->memfd, CAP_HOST_START_GATED, 0)) {
		fprintf(stderr, "caprun: capsule %s: its control page: %s\n", c->name, strerror(errno));
		return -1;
	}
	if (spawn_capsule(c, loader))
		return -1;   /* said */
	/* Tests only: hold here, the loader spawned and no device made yet, until a file
	 * exists (test_start_gate.py looks at the waiting loader, and takes the device's name). */
	const char *wait_for = getenv("CAPSULE_TEST_GATE_WAITS_FOR");
	while (wait_for && *wait_for && access(wait_for, F_OK) != 0)
		poll(NULL, 0, 10);
	r = make_link(c, base);
	if (r > 0) {   /* the device's name was taken meanwhile: again, the usual way */
		gate_abandon(c);
		return network_only(c, base);
	}
	if (r == 0)
		choose_packet_path(c);
	return r ? -1 : 0;
}

int gate_open(struct caprun *c)
{
	struct cap_start_go go = { .magic = CAP_START_GO_MAGIC, .with_tun = c->filter != NULL };
	if (fileio_pwrite_full(c->memfd, &c->ip, sizeof c->ip, offsetof(struct cap_control, ip)) ||
	    memlayout_memfd_host_flags(c->memfd, link_host_flags(c), 0)) {   /* GATED: the loader's */
		fprintf(stderr, "caprun: capsule %s: its control page: %s\n", c->name, strerror(errno));
		return -1;
	}
	/* Our own copy of the loader's end is still open: a loader that died meanwhile makes no
	 * error here, and the relay reports its end as for any loader. */
	if (fileio_send_with_fd(c->chan[0], &go, sizeof go, go.with_tun ? c->tun_fd : -1) !=
	    (long)sizeof go) {
		fprintf(stderr, "caprun: capsule %s: sending its loader \"go\": %s\n", c->name,
		        strerror(errno));
		return -1;
	}
	c->gated = 0;
	return 0;
}

void gate_abandon(struct caprun *c)
{
	kill(c->child, SIGKILL);
	while (waitpid(c->child, NULL, 0) < 0 && errno == EINTR)
		;
	c->child = 0;
	close(c->memfd);
	c->memfd = -1;
	release_socket(c);
	c->gated = 0;
}
