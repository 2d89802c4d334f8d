/* hostd_route.c: caphostd's routing decision for one outgoing packet: to a capsule here, wrapped to its host, into a migration's queue, to the directory's answer, or to the gateway. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>

/*
 * Every packet a capsule here sends (uplink), the gateway reads from capgw,
 * or a part of caphostd parked and now gives back (d->ops.reroute: the
 * resolver, a migration queue, the gateway's holder) comes through
 * hostd_route_packet.  The parts it hands packets to never call it by name.
 */

/* A packet for a capsule IP: here, to its host, or nowhere (counted). */
static void route_capsule(struct hostd *d, uint32_t dst, const uint8_t *pkt, size_t len)
{
	/* A migration of dst is under way (SYNC): it waits for FLUSH_TO, whatever the table says. */
	if (hostd_sync_capture(d, dst, pkt, len))
		return;
	const struct xlate_entry *x = xlate_lookup(&d->xt, dst);
	if (!x || x->state == XLATE_UNKNOWN) {
		hostd_resolve_packet(d, dst, pkt, len);   /* kept until the directory answers, or dropped */
		return;
	}
	if (x->state == XLATE_LOCAL) {
		struct hostd_cap *c = hostd_core_cap_by_ip(d, dst);
		if (c && c->state == HCAP_RUNNING)
			hostd_batch_deliver_whole(d, c, pkt, len);   /* cut to its MTU if larger */
		else
			d->cnt.drop_held++;
		return;
	}
	if (x->state == XLATE_FROZEN) {
		/* frozen here: nobody runs its stack; the sender retransmits (TCP) */
		d->cnt.drop_held++;
		return;
	}
	xlate_touch(&d->xt, dst, clock_now_ms());
	if (hostd_batch_send_data(d, x->epoch, pkt, len, x->locator_ip, x->port) == 0)
		d->cnt.data_out++;
}

void hostd_route_packet(struct hostd *d, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	ipv4_addrs(pkt, &src, &dst);
	uint32_t h = ntohl(dst);
	if (hostd_in_net(d, dst)) {
		/* the network address, .1 (the capsules' gateway address) and broadcast are nobody */
		if (h == d->net || h == (d->net | 1) || h == (d->net | ~d->mask)) {
			d->cnt.drop_bad_dst++;
			return;
		}
		route_capsule(d, dst, pkt, len);
		return;
	}
	/* An ordinary peer: through the gateway, which sees both directions of the connection. */
	if (d->gateway) {
		d->ops.gw_write(d, pkt, len);
		return;
	}
	uint32_t addr;
	uint16_t port;
	if (!d->gw_host || hostd_dir_gateway_locator(d, &addr, &port)) {
		d->cnt.drop_no_gateway++;
		return;
	}
	if (hostd_batch_send_data(d, 0, pkt, len, addr, port) == 0)
		d->cnt.data_out++;
}
