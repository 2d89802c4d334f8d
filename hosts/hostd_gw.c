/* hostd_gw.c: the gateway: TUN capgw for ordinary peers, and holding their TCP/UDP while a capsule is away. */
#include "hosts/hostd.h"
#include "hosts/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GW_IFNAME "capgw"
#define GW_MTU    65000
#define REINJECT_MSS 1360   /* fits any capsule MTU we allow (>= 576 would need less: see docs) */

int hostd_gw_open(struct hostd *d, char *err, size_t errlen)
{
	int r;
	d->nl = host_nl_open();
	if (!d->nl) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(errno));
		return -1;
	}
	int fd = host_tun_open(GW_IFNAME, &d->tun_ifindex);
	if (fd < 0) {
		snprintf(err, errlen, "creating TUN device %s: %s", GW_IFNAME, strerror(-fd));
		return -1;
	}
	d->tun_fd = fd;
	if ((r = host_nl_link_up(d->nl, d->tun_ifindex, GW_MTU))) {
		snprintf(err, errlen, "configuring %s: %s", GW_IFNAME, strerror(-r));
		return -1;
	}
	/* Fail closed first: with capgw gone, capsule addresses must go nowhere, never a default route. */
	r = host_nl_route_add(d->nl, HOST_ROUTE_UNREACHABLE, htonl(0xc6120000u), 15, 0);
	if (r != 0 && r != -EEXIST) {
		snprintf(err, errlen, "adding unreachable 198.18.0.0/15: %s", strerror(-r));
		return -1;
	}
	d->unreach_added = r == 0;
	int prefix = __builtin_popcount(d->mask);
	r = host_nl_route_add(d->nl, HOST_ROUTE_DEV, htonl(d->net), prefix, d->tun_ifindex);
	if (r) {
		snprintf(err, errlen, "adding the route for the capsule network via %s: %s", GW_IFNAME,
		         strerror(-r));
		return -1;
	}
	return 0;
}

void hostd_gw_close(struct hostd *d)
{
	if (d->tun_fd >= 0)
		close(d->tun_fd);   /* the device and its route go with it */
	d->tun_fd = -1;
	/* The unreachable route is shared with caprun's: the last one out (no cap-* device) removes it. */
	if (d->nl && d->unreach_added && !host_link_exists_with_prefix("cap-", NULL))
		host_nl_route_del(d->nl, HOST_ROUTE_UNREACHABLE, htonl(0xc6120000u), 15, 0);
	if (d->nl)
		host_nl_close(d->nl);
	d->nl = NULL;
	for (int i = 0; i < HOSTD_MAX_HOLDS; i++)
		hostd_hold_drop(d, d->holds[i].ip);
}

void hostd_gw_write_now(struct hostd *d, const uint8_t *pkt, size_t len)
{
	if (d->tun_fd < 0 || write(d->tun_fd, pkt, len) < 0)
		d->cnt.gw_write_errors++;
	else
		d->cnt.gw_out++;
}

void hostd_gw_write(struct hostd *d, const uint8_t *pkt, size_t len)
{
	if (d->faults_on)
		hostd_netem_gw_write(d, pkt, len);
	else
		hostd_gw_write_now(d, pkt, len);
}

static struct hostd_hold *find_hold(const struct hostd *d, uint32_t ip)
{
	for (int i = 0; ip && i < HOSTD_MAX_HOLDS; i++)
		if (d->holds[i].ip == ip)
			return (struct hostd_hold *)&d->holds[i];
	return NULL;
}

int hostd_is_held(const struct hostd *d, uint32_t ip) { return find_hold(d, ip) != NULL; }

void hostd_hold_drop(struct hostd *d, uint32_t ip)
{
	struct hostd_hold *h = find_hold(d, ip);
	if (!h)
		return;
	for (uint32_t i = 0; i < h->nconns; i++)
		free(h->conns[i].buf);
	free(h->udp_buf);
	memset(h, 0, sizeof *h);
}

void hostd_hold_start(struct hostd *d, const struct hostd_hold_msg *m)
{
	struct hostd_hold *h = find_hold(d, m->capsule_ip);
	if (!h) {
		h = find_hold(d, 0);
		for (int i = 0; !h && i < HOSTD_MAX_HOLDS; i++)
			if (!d->holds[i].ip)
				h = &d->holds[i];
		if (!h || !(h->udp_buf = malloc(HOSTD_UDP_BUF))) {
			d->cnt.hold_full++;
			return;
		}
		h->ip = m->capsule_ip;
		tcphold_udp_init(&h->udp, h->udp_buf, HOSTD_UDP_BUF, HOSTD_UDP_PKTS);
	}
	h->epoch = m->epoch;
	uint64_t now = hostd_now_ms();
	for (uint32_t i = 0; i < m->n; i++) {
		const struct cap_report_sock *s = &m->socks[i];
		struct tcphold_seed seed;
		/* Capsule peers keep retransmitting on their own; only ordinary peers need us. */
		if (hostd_in_net(d, s->remote_ip) || tcphold_seed_from_report(s, now, &seed))
			continue;
		int dup = 0;
		for (uint32_t k = 0; k < h->nconns && !dup; k++)
			dup = h->conns[k].s.peer_ip == seed.peer_ip && h->conns[k].s.peer_port == seed.peer_port &&
			      h->conns[k].s.capsule_port == seed.capsule_port;
		if (dup)
			continue;   /* a repeated HOLD must not restart what we already hold */
		uint32_t cap = seed.rcv_wnd < HOSTD_HOLD_BUF ? seed.rcv_wnd : HOSTD_HOLD_BUF;
		uint8_t *buf = cap ? malloc(cap) : NULL;
		if (h->nconns == HOSTD_HOLD_CONNS || (cap && !buf)) {
			free(buf);
			d->cnt.hold_full++;
			continue;
		}
		tcphold_init(&h->conns[h->nconns++], &seed, buf, buf ? cap : 0);
	}
}

void hostd_hold_release(struct hostd *d, uint32_t ip)
{
	static uint8_t pkt[REINJECT_MSS + 128];
	struct hostd_hold *h = find_hold(d, ip);
	if (!h)
		return;
	uint64_t now = hostd_now_ms();
	for (uint32_t i = 0; i < h->nconns; i++) {
		struct tcphold_conn *c = &h->conns[i];
		uint8_t ack[TCPHOLD_ACK_MAX];
		size_t ack_len = 0, n = 0, off = 0, len;
		const uint8_t *data;
		uint32_t ts_floor;
		if (c->state == TCPHOLD_RELEASED)
			continue;
		tcphold_release(c, now, 0, ack, sizeof ack, &ack_len, &data, &n, &ts_floor);
		/* The held bytes first, as if the peer sent them now; then the peer may send again. */
		while (tcphold_reinject_next(c, &off, REINJECT_MSS, pkt, sizeof pkt, &len) == 1) {
			hostd_route(d, pkt, len);
			d->cnt.reinjected_pkts++;
		}
		if (ack_len)
			hostd_gw_write(d, ack, ack_len);
		d->cnt.released_conns++;
	}
	size_t cur = 0, len;
	const uint8_t *p;
	while (tcphold_udp_next(&h->udp, &cur, &p, &len) == 1) {
		hostd_route(d, p, len);
		d->cnt.reinjected_pkts++;
	}
	/* its drops were counted one by one as they happened (hold_input) */
	hostd_hold_drop(d, ip);
}

/* A packet from an ordinary peer for held capsule h: the holder answers, or it waits in the queue. */
static void hold_input(struct hostd *d, struct hostd_hold *h, const uint8_t *pkt, size_t len)
{
	uint8_t out[TCPHOLD_ACK_MAX];
	if (pkt[9] == 6) {
		for (uint32_t i = 0; i < h->nconns; i++) {
			size_t out_len = 0;
			int r = tcphold_input(&h->conns[i], pkt, len, hostd_now_ms(), out, sizeof out, &out_len);
			if (r == TCPHOLD_NOT_MINE)
				continue;
			if (out_len)
				hostd_gw_write(d, out, out_len);
			return;
		}
		/* A new connection while the capsule is away: silence (never RST), the peer retries its SYN. */
		d->cnt.hold_new_conn++;
		return;
	}
	if (tcphold_udp_push(&h->udp, pkt, len))
		d->cnt.held_udp_dropped++;
}

void hostd_gw_packet(struct hostd *d, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	if (wire_ipv4_check(pkt, len) != WIRE_OK) {
		d->cnt.gw_malformed++;
		return;
	}
	wire_ipv4_addrs(pkt, &src, &dst);
	/* An ordinary peer may not speak as a capsule; and only capsule addresses are routed here. */
	if (hostd_in_net(d, src) || !hostd_in_net(d, dst)) {
		d->cnt.gw_spoofed++;
		return;
	}
	d->cnt.gw_in++;
	struct hostd_hold *h = find_hold(d, dst);
	if (h)
		hold_input(d, h, pkt, len);
	else
		hostd_route(d, pkt, len);
}

void hostd_gw_input(struct hostd *d)
{
	static uint8_t buf[65536];
	for (int i = 0; i < 64; i++) {
		ssize_t n = read(d->tun_fd, buf, sizeof buf);
		if (n <= 0)
			return;
		if (d->faults_on)
			hostd_netem_gw_read(d, buf, (size_t)n);
		else
			hostd_gw_packet(d, buf, (size_t)n);
	}
}

void hostd_send_hold(struct hostd *d, const struct hostd_cap *c, const struct cap_report_sock *s,
                     uint32_t n)
{
	static struct hostd_hold_msg m;
	static uint8_t pl[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	if (!d->gw_host)
		return;   /* no gateway in this network: no ordinary peers to hold */
	memset(&m, 0, sizeof m);
	m.capsule_ip = c->ip;
	m.epoch = c->epoch;
	for (uint32_t i = 0; i < n && m.n < HOSTD_HOLD_MAX; i++)
		if (s[i].local_ip == c->ip && !hostd_in_net(d, s[i].remote_ip))
			m.socks[m.n++] = s[i];
	if (d->gateway) {
		hostd_hold_start(d, &m);
		return;
	}
	uint32_t addr;
	uint16_t port;
	size_t len = hostd_hold_encode(&m, pl, sizeof pl);
	if (hostd_gateway_locator(d, &addr, &port)) {
		d->cnt.drop_no_gateway++;
		return;
	}
	if (hostd_send_wire(d, WIRE_HOLD, c->epoch, pl, len, addr, port) == 0)
		d->cnt.hold_out++;
}

void hostd_send_flush(struct hostd *d, const struct hostd_cap *c)
{
	uint8_t pl[HOSTD_FLUSH_LEN];
	if (!d->gw_host)
		return;
	if (d->gateway) {
		hostd_hold_release(d, c->ip);
		return;
	}
	uint32_t addr;
	uint16_t port;
	if (hostd_gateway_locator(d, &addr, &port)) {
		d->cnt.drop_no_gateway++;
		return;
	}
	hostd_flush_encode(c->ip, c->epoch, pl);
	if (hostd_send_wire(d, WIRE_FLUSH, c->epoch, pl, sizeof pl, addr, port) == 0)
		d->cnt.flush_out++;
}
