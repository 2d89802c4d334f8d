/* hostd_gw.c: the gateway: TUN capgw for ordinary peers (packets in and out, held capsules' to the holder); HOLD and FLUSH from a capsule's host. */
#include "hosts/caphostd/hostd.h"
#include "hosts/common/tcpmss.h"
#include "hosts/common/netlink.h"
#include "hosts/common/tunvnet.h"
#include "capsule-abi/cap_abi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GW_IFNAME "capgw"
#define GW_OPEN_WAIT_MS 20   /* between two tries to make capgw while the old one goes */
#define GW_OPEN_TRIES 500    /* 10 s of them */

/*
 * A killed gateway's capgw goes away with its last descriptor, but the kernel
 * unregisters it in the background (RCU, references to drop), which on a loaded
 * machine can take more than a second; a restart that gave up would lose the holds.
 */
static int tun_open_retrying(unsigned *ifindex)
{
	int fd = -1, e = EBUSY;
	for (int tries = 0; tries < GW_OPEN_TRIES && e == EBUSY; tries++) {
		fd = netlink_tun_open(GW_IFNAME, 1, ifindex);
		e = fd < 0 ? errno : 0;
		if (e == EBUSY) {
			if (tries == 1000 / GW_OPEN_WAIT_MS)   /* a second gone: say why we wait */
				fprintf(stderr, "caphostd: %s: the previous one is still going away; waiting\n",
				        GW_IFNAME);
			struct timespec ts = { 0, GW_OPEN_WAIT_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	errno = e;
	return fd;
}

int hostd_gw_open(struct hostd *d, char *err, size_t errlen)
{
	int r;
	d->nl = netlink_open();
	if (!d->nl) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(errno));
		return -1;
	}
	int fd = tun_open_retrying(&d->tun_ifindex);
	if (fd < 0) {
		snprintf(err, errlen, "creating TUN device %s: %s", GW_IFNAME, strerror(errno));
		return -1;
	}
	d->tun_fd = fd;
	/* An ordinary peer's TCP sends 64 KiB segments (its TSO, forwarded whole): with the
	 * offloads on, capgw hands them over whole too, and they cross the wire in one batch
	 * (hostd_batch.c); without, the kernel cuts them into MSS-sized packets first. */
	d->gw_gso = tunvnet_offload_on(fd) == 0;
	if (!d->gw_gso)
		fprintf(stderr, "caphostd: %s: no segmentation offload (%s): packets come one by one\n",
		        GW_IFNAME, strerror(errno));
	/* IPv4 only: no IPv6 address, so the kernel queues none of its own packets to capgw. */
	if ((r = netlink_link_prepare(d->nl, d->tun_ifindex, 0)) ||
	    (r = netlink_link_up(d->nl, d->tun_ifindex, CAP_MTU_DEFAULT))) {
		snprintf(err, errlen, "configuring %s: %s", GW_IFNAME, strerror(errno));
		return -1;
	}
	/*
	 * Fail closed first: with capgw gone, capsule addresses must go nowhere, never a
	 * default route.  Already there (proto 202: caprun's, or a killed gateway's, whose
	 * capgw and its route vanished with it): ours to share; the last one out removes it.
	 */
	r = netlink_route_add(d->nl, HOST_ROUTE_UNREACHABLE, htonl(IPV4_CAPNET_BASE), IPV4_CAPNET_BITS, 0);
	if (r != 0 && errno != EEXIST) {
		snprintf(err, errlen, "adding unreachable 198.18.0.0/15: %s", strerror(errno));
		return -1;
	}
	d->unreach_added = 1;
	int prefix = __builtin_popcount(d->mask);
	r = netlink_route_add(d->nl, HOST_ROUTE_DEV, htonl(d->net), prefix, d->tun_ifindex);
	if (r) {
		snprintf(err, errlen, "adding the route for the capsule network via %s: %s", GW_IFNAME,
		         strerror(errno));
		return -1;
	}
	/* What a previous caphostd here held (kill -9, restart): we go on holding it. */
	hostd_hold_load(d);
	return 0;
}

void hostd_gw_close(struct hostd *d)
{
	if (d->tun_fd >= 0)
		close(d->tun_fd);   /* the device and its route go with it */
	d->tun_fd = -1;
	/* The unreachable route is shared with caprun's: the last one out (no cap-* device) removes it. */
	if (d->nl && d->unreach_added && !netlink_link_exists_with_prefix("cap-", NULL))
		netlink_route_del(d->nl, HOST_ROUTE_UNREACHABLE, htonl(IPV4_CAPNET_BASE), IPV4_CAPNET_BITS, 0);
	if (d->nl)
		netlink_close(d->nl);
	d->nl = NULL;
	hostd_hold_close_all(d);   /* their files stay: a restarted gateway goes on holding */
}

/*
 * A capsule's TCP segment larger than a wire piece goes to capgw as pieces of
 * the wire's size: what the ordinary peer takes (its SYN was raised to allow
 * it, hostd_gw_packet), or what the capsule sent it (a joined segment starts
 * with a whole wire piece, hostd_batch_gw_write).  Whole, for the kernel to cut
 * where it leaves (GSO); with CWR set (the kernel wants an ECN-flagged GSO
 * then), without the offloads, or when the kernel refuses, cut here.  Never
 * larger than a piece: the peer's link may take no more.
 */
static int tun_write_tcp(struct hostd *d, const uint8_t *pkt, size_t len)
{
	size_t seg = tcpseg_piece_payload(pkt, len, d->wire_inner_max);
	if (!seg)
		return tunvnet_write(d->tun_fd, 1, pkt, len) < 0 ? -1 : 0;
	if (d->gw_gso && !(pkt[33] & 0x80) &&
	    tunvnet_write_gso(d->tun_fd, pkt, len, (uint16_t)seg) >= 0)
		return 0;
	static uint8_t piece[65535];
	unsigned n = tcpseg_pieces(pkt, len, seg);
	for (unsigned i = 0; i < n; i++)
		if (tunvnet_write(d->tun_fd, 1, piece, tcpseg_piece(pkt, len, seg, i, piece)) < 0)
			return -1;
	return 0;
}

void hostd_gw_tun_write(struct hostd *d, const uint8_t *pkt, size_t len)
{
	if (d->tun_fd < 0 || tun_write_tcp(d, pkt, len) < 0) {
		d->cnt.gw_write_errors++;
		return;
	}
	d->cnt.gw_out++;
	if (d->ncaptures)
		hostd_capture_inner(d, HOSTD_CAPTURE_CAPGW, pkt, len);
}

void hostd_gw_write(struct hostd *d, const uint8_t *pkt, size_t len)
{
	/* A capsule speaking to its peer: it may be acknowledging bytes we re-injected. */
	hostd_hold_observe(d, pkt, len);
	if (d->gap_tracking)
		hostd_gapwatch_packet(d, pkt, len);   /* its peer hears from it: a migration's gap ends */
	hostd_core_tun_emit(d, pkt, len);
}

void hostd_gw_packet(struct hostd *d, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	int verdict = ipv4_check(pkt, len, IPV4_CHECK_CSUM);
	if (verdict != IPV4_OK) {
		/* The kernel's own IPv6 on a new link (router solicitations, MLD) is no fault. */
		if (verdict == IPV4_E_VERSION)
			d->cnt.gw_not_ipv4++;
		else
			d->cnt.gw_malformed++;
		return;
	}
	ipv4_addrs(pkt, &src, &dst);
	/* An ordinary peer may not speak as a capsule; and only capsule addresses are routed here. */
	if (hostd_in_net(d, src) || !hostd_in_net(d, dst)) {
		d->cnt.gw_spoofed++;
		return;
	}
	d->cnt.gw_in++;
	uint8_t syn[TCPMSS_SYN_MAX];
	/* A peer that takes segments of the wire's MSS (with room for options) gets the capsule's
	 * 64 KiB segments, cut for the wire and by capgw for it (hostd_gw_tun_write); else the
	 * capsule sends segments that fit the wire wrapped. */
	if (d->gw_gso && tcpmss_of(pkt, len) >= d->wire_mss + 40 &&
	    tcpmss_set(pkt, len, HOSTD_RAISED_MSS, syn, sizeof syn)) {
		pkt = syn;
		d->cnt.mss_raised++;
	} else if (tcpmss_clamp(pkt, len, d->wire_mss, syn, sizeof syn)) {
		pkt = syn;
		d->cnt.mss_clamped++;
	}
	if (hostd_hold_is_held(d, dst))
		hostd_hold_input(d, dst, pkt, len);
	else
		hostd_route_packet(d, pkt, len);
}

void hostd_gw_input(struct hostd *d)
{
	static uint8_t buf[65536];
	int limit = readpace_limit(&d->pace_tun), i;
	for (i = 0; i < limit; i++) {
		ssize_t n = tunvnet_read(d->tun_fd, 1, buf, sizeof buf);
		if (n <= 0)
			break;
		if (d->ncaptures)
			hostd_capture_inner(d, HOSTD_CAPTURE_CAPGW, buf, (size_t)n);
		if (d->faults_on)
			hostd_netem_gw_read(d, buf, (size_t)n);   /* later to d->ops.tun_in */
		else
			hostd_gw_packet(d, buf, (size_t)n);
	}
	readpace_learn(&d->pace_tun, limit, i);
}

void hostd_gw_send_hold(struct hostd *d, const struct hostd_cap *c, const uint8_t *recs, uint32_t n)
{
	static struct hostd_hold_msg m;
	static uint8_t pl[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	if (!d->gw_host)
		return;   /* no gateway in this network: no ordinary peers to hold */
	memset(&m, 0, sizeof m);
	m.capsule_ip = c->ip;
	m.epoch = c->epoch;
	m.id = hostd_ctl_id(d);
	for (uint32_t i = 0; i < n && m.n < HOSTD_HOLD_MAX; i++) {
		struct tcpconn *k = &m.conns[m.n];
		/* Capsule peers keep retransmitting on their own; only ordinary peers need the gateway. */
		if (tcpconn_decode(recs + (size_t)i * TCPCONN_WIRE_LEN, k) == 0 && k->capsule_ip == c->ip &&
		    !hostd_in_net(d, k->peer_ip))
			m.n++;
	}
	if (d->gateway) {
		hostd_hold_start(d, &m, d->host_id);
		return;
	}
	size_t len = hostd_msg_hold_encode(&m, pl, sizeof pl);
	hostd_ctl_send(d, HOSTD_CTL_HOLD, d->gw_host, c->ip, c->epoch, m.id, pl, len);
}

void hostd_gw_send_flush(struct hostd *d, const struct hostd_cap *c)
{
	uint8_t pl[HOSTD_FLUSH_LEN];
	struct hostd_flush_msg m = { .capsule_ip = c->ip, .epoch = c->epoch, .id = hostd_ctl_id(d) };
	if (!d->gw_host)
		return;
	if (d->gateway) {
		struct hostd_stamp st = { c->epoch, d->host_id, m.id };
		hostd_hold_release_stamped(d, c->ip, st);
		return;
	}
	hostd_msg_flush_encode(&m, pl);
	hostd_ctl_send(d, HOSTD_CTL_FLUSH, d->gw_host, c->ip, c->epoch, m.id, pl, sizeof pl);
}
