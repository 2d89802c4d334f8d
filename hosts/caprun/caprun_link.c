/* caprun_link.c: a standalone capsule's own network: its TUN device "cap-NAME", the link's address and routes, and the device's source filter. */
#include "hosts/caprun/caprun.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/tunfilter.h"
#include "hosts/common/cli.h"
#include "hosts/common/ipv4.h"
#include "hosts/common/netlink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUN_QUEUE_PACKETS 4096   /* the TUN device's queue when the capsule reads it itself */

int link_names(struct caprun *c, const char *base, int k)
{
	char suffix[8] = "";
	if (k < 1 || k > 999)
		return -1;
	if (k > 1)
		snprintf(suffix, sizeof suffix, "-%d", k);
	if (snprintf(c->name, sizeof c->name, "%s%s", base, suffix) >= (int)sizeof c->name)
		return -1;
	int room = (int)(IFNAMSIZ - 1 - 4 - strlen(suffix));
	snprintf(c->ifname, sizeof c->ifname, "cap-%.*s%s", room, base, suffix);
	return 0;
}

/*
 * Pick the capsule name, claim its control socket and create its TUN device "cap-NAME".
 * A gated start (caprun_gate.c) has its names set and claimed already, and its loader
 * has the name: 0, -1 (said), or 1 when that name's device is taken (nothing said).
 */
static int make_device(struct caprun *c, const char *base)
{
	for (int k = 1; k < 1000; k++) {
		if (!(c->gated && k == 1) && link_names(c, base, k))
			break;
		/* The name first (one per run directory), then the device (one per namespace). */
		int r = c->gated && k == 1 ? 0 : claim_socket(c);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;   /* a live caprun has that name */
		if (if_nametoindex(c->ifname) == 0) {
			int fd = netlink_tun_open(c->ifname, c->tun_vnet, &c->ifindex);
			if (fd >= 0) {
				c->tun_fd = procs_high_fd(fd);
				return 0;
			}
			int e = errno;
			if (e != EBUSY && e != EEXIST && if_nametoindex(c->ifname) == 0) {
				release_socket(c);
				fprintf(stderr, "caprun: creating TUN device %s: %s%s\n", c->ifname, strerror(e),
				        e == EPERM || e == EACCES ? cli_root_hint(e) : "");
				return -1;
			}   /* else made meanwhile by someone else: taken */
		}
		if (c->gated)
			return 1;
		release_socket(c);
		if (c->fixed_name)
			break;
	}
	fprintf(stderr, "caprun: no free device name for capsule %s\n", base);
	return -1;
}

static int add_capsule_route(struct caprun *c)
{
	if (c->ip) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &c->ip, a, sizeof a);
		int r = netlink_route_add(c->nl, HOST_ROUTE_DEV, c->ip, 32, c->ifindex);
		if (r == 0)
			return c->route_added = 1, 0;
		fprintf(stderr, "caprun: address %s: %s\n", a,
		        errno == EEXIST ? "already in use" : strerror(errno));
		return -1;
	}
	for (uint32_t host = 2; host < 0xffff; host++) {
		uint32_t ip = htonl(IPV4_CAPNET_BASE | host);
		int r = netlink_route_add(c->nl, HOST_ROUTE_DEV, ip, 32, c->ifindex);
		if (r == 0) {
			c->ip = ip;
			return c->route_added = 1, 0;
		}
		if (errno != EEXIST) {
			fprintf(stderr, "caprun: adding a route on %s: %s\n", c->ifname, strerror(errno));
			return -1;
		}
	}
	fprintf(stderr, "caprun: no free address in 198.18.0.0/16\n");
	return -1;
}

static int env_is(const char *name, const char *value)
{
	const char *v = getenv(name);
	return v && strcmp(v, value) == 0;
}

/* The capsule reads and writes its TUN device itself, unless CAPRUN_RELAY_PACKETS=1 (choose_packet_path). */
static int direct_wanted(void)
{
	return !env_is("CAPRUN_RELAY_PACKETS", "1");
}

/*
 * The device gets IFF_VNET_HDR when the capsule may be handed it (section 10
 * of docs/FASTPATH.md): its offloads are turned on only when a capsule that
 * speaks the header says CAP_MSG_DIRECT; until then, and for an image built
 * before the header, caprun's relay strips and adds it.  CAPRUN_TUN_OFFLOAD=0
 * keeps the bare device of section 9 (A/B runs; images from before).
 */
static int tun_offloads_wanted(void)
{
	return direct_wanted() && !env_is("CAPRUN_TUN_OFFLOAD", "0");
}

int make_link(struct caprun *c, const char *base)
{
	int r;
	if (!c->nl)   /* a gated start that found its device taken tries again: the same socket */
		c->nl = netlink_open();
	if (!c->nl) {
		fprintf(stderr, "caprun: rtnetlink: %s\n", strerror(errno));
		return -1;
	}
	c->tun_vnet = tun_offloads_wanted();
	if ((r = make_device(c, base)))
		return r;
	/* The device's queue is the capsule's only buffer when it reads the device itself (the
	 * relay's channel held 4 MiB): a burst of a thousand SYNs or FINs must not overflow it
	 * while the capsule is busy.  The senders' socket buffers still bound what it holds.
	 * Set before the source filter is known; if it cannot be made, caprun's relay drains
	 * the longer queue as readily. */
	if ((r = netlink_link_prepare(c->nl, c->ifindex, direct_wanted() ? TUN_QUEUE_PACKETS : 0)) ||
	    (r = netlink_link_up(c->nl, c->ifindex, c->mtu)) ||
	    (r = netlink_addr_add(c->nl, c->ifindex, htonl(IPV4_CAPNET_GATEWAY), 32))) {
		fprintf(stderr, "caprun: configuring %s: %s\n", c->ifname, strerror(errno));
		return -1;
	}
	r = netlink_route_add(c->nl, HOST_ROUTE_UNREACHABLE, htonl(IPV4_CAPNET_BASE), IPV4_CAPNET_BITS, 0);
	if (r != 0 && errno != EEXIST) {
		fprintf(stderr, "caprun: adding unreachable 198.18.0.0/15: %s\n", strerror(errno));
		return -1;
	}
	if (add_capsule_route(c))
		return -1;
	inet_ntop(AF_INET, &c->ip, c->addr, sizeof c->addr);
	return 0;
}

/*
 * Standalone: the capsule reads and writes its TUN device itself (fd 8), once
 * the kernel drops and counts what it sends with a source not its own
 * (tunfilter.c).  Where that filter cannot be made, or CAPRUN_RELAY_PACKETS=1
 * asks for it (tests, comparisons), every packet goes through caprun's relay,
 * which checks each one, as before: never a TUN without a check.
 */
void choose_packet_path(struct caprun *c)
{
	char err[256];
	if (!direct_wanted())
		return;
	c->filter = tunfilter_install(c->ifname, c->ifindex, c->ip, err, sizeof err);
	if (!c->filter) {
		fprintf(stderr, "caprun: capsule %s: %s; its packets go through caprun, which checks "
		        "their sources\n", c->name, err);
		return;
	}
}

uint32_t link_host_flags(const struct caprun *c)
{
	return !c->filter ? 0 : c->tun_vnet ? CAP_HOST_TUN_VNET : CAP_HOST_DIRECT_TUN;
}
