/* hostd_ctl.c: reliable control messages between host daemons: HOLD, FLUSH and FLUSH_TO are resent with backoff until acknowledged, in order per capsule and host. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * UDP may lose, duplicate, delay or reorder any datagram.  A lost FLUSH
 * used to leave the gateway holding a running capsule's peers at a zero
 * window forever; a lost FLUSH_TO left a peer's queue waiting its 10 s
 * timeout.  So each of them now waits here until the receiver's ACK
 * {kind, capsule, epoch, id} comes back, and is sent again after 50 ms,
 * 100, 200, ... at most 1 s apart, for up to HOSTD_CTL_GIVE_UP_MS (long
 * enough to span a gateway's restart), then given up and counted.
 *
 * Order: HOLD and FLUSH about one capsule to one host go out one at a time
 * (the next once the one before was acknowledged or given up), so a FLUSH
 * can never overtake its HOLD on our side; the receiver orders by stamp as
 * well (hostd_msg.h), for the copies the network reorders.  A FLUSH_TO
 * replaces an older one for the same capsule and host still waiting: only
 * the latest location matters.
 */

#define CTL_FIRST_WAIT_MS 50
#define CTL_MAX_WAIT_MS   1000

uint64_t hostd_ctl_id(struct hostd *d)
{
	/* The wire sequence generator: ids and seqs share one strictly growing space per host. */
	return hostd_core_next_seq(d);
}

static int wire_type_of(int kind)
{
	return kind == HOSTD_CTL_HOLD ? WIRE_HOLD : kind == HOSTD_CTL_FLUSH ? WIRE_FLUSH : WIRE_SYNC;
}

/* Where dest listens now: the gateway via its own lookup (it may be restarting), others as learned. */
static int locate(struct hostd *d, uint32_t dest, uint32_t *addr, uint16_t *port)
{
	if (dest == d->gw_host)
		return hostd_dir_gateway_locator(d, addr, port);
	const struct hostd_peer *p = hostd_core_peer(d, dest, 0);
	if (!p || !p->addr)
		return -1;
	*addr = p->addr;
	*port = p->port;
	return 0;
}

static void transmit(struct hostd *d, const struct hostd_ctl_out *o)
{
	uint32_t addr;
	uint16_t port;
	if (locate(d, o->dest, &addr, &port) == 0)
		hostd_core_send_wire(d, wire_type_of(o->kind), o->epoch, o->payload, o->len, addr, port);
	else
		d->cnt.ctl_unlocated++;   /* not a lost packet: it is resent once the host is found */
}

/* A HOLD / FLUSH waits while an older one about the same capsule to the same host is unacknowledged. */
static int blocked(const struct hostd *d, const struct hostd_ctl_out *o)
{
	if (o->kind == HOSTD_CTL_FLUSH_TO)
		return 0;
	for (int i = 0; i < HOSTD_CTL_PENDING; i++) {
		const struct hostd_ctl_out *e = &d->ctl_out[i];
		if (e != o && e->kind && e->kind != HOSTD_CTL_FLUSH_TO && e->dest == o->dest &&
		    e->ip == o->ip && e->id < o->id)
			return 1;
	}
	return 0;
}

static void release_slot(struct hostd_ctl_out *o)
{
	free(o->payload);
	memset(o, 0, sizeof *o);
}

static void first_send(struct hostd *d, struct hostd_ctl_out *o, uint64_t now)
{
	o->sent = 1;
	o->next_ms = now + CTL_FIRST_WAIT_MS;
	o->wait_ms = CTL_FIRST_WAIT_MS;
	transmit(d, o);
	if (o->kind == HOSTD_CTL_HOLD)
		d->cnt.hold_out++;
	else if (o->kind == HOSTD_CTL_FLUSH)
		d->cnt.flush_out++;
	else
		d->cnt.flush_to_out++;
}

/* After an ACK or a give-up: the next HOLD / FLUSH about that capsule may go. */
static void unblock(struct hostd *d, uint32_t dest, uint32_t ip, uint64_t now)
{
	struct hostd_ctl_out *next = NULL;
	for (int i = 0; i < HOSTD_CTL_PENDING; i++) {
		struct hostd_ctl_out *e = &d->ctl_out[i];
		if (e->kind && e->kind != HOSTD_CTL_FLUSH_TO && !e->sent && e->dest == dest &&
		    e->ip == ip && (!next || e->id < next->id))
			next = e;
	}
	if (next && !blocked(d, next))
		first_send(d, next, now);
}

void hostd_ctl_send(struct hostd *d, int kind, uint32_t dest, uint32_t ip, uint32_t epoch,
                    uint64_t id, const uint8_t *payload, size_t len)
{
	struct hostd_ctl_out *o = NULL;
	uint64_t now = clock_now_ms();
	for (int i = 0; i < HOSTD_CTL_PENDING; i++) {
		struct hostd_ctl_out *e = &d->ctl_out[i];
		if (kind == HOSTD_CTL_FLUSH_TO && e->kind == kind && e->dest == dest && e->ip == ip)
			release_slot(e);   /* superseded: only the latest location matters */
		if (!e->kind && !o)
			o = e;
	}
	uint8_t *copy = o ? malloc(len) : NULL;
	if (!copy) {
		/* No room to remember it: send it once, as before there were ACKs. */
		d->cnt.ctl_full++;
		struct hostd_ctl_out once = { .kind = (uint8_t)kind, .dest = dest, .ip = ip, .epoch = epoch,
		                              .id = id, .len = (uint16_t)len, .payload = (uint8_t *)payload };
		transmit(d, &once);
		return;
	}
	memcpy(copy, payload, len);
	*o = (struct hostd_ctl_out){ .kind = (uint8_t)kind, .dest = dest, .ip = ip, .epoch = epoch,
	                             .id = id, .first_ms = now, .len = (uint16_t)len, .payload = copy };
	if (!blocked(d, o))
		first_send(d, o, now);
}

void hostd_ctl_ack_send(struct hostd *d, int kind, uint32_t ip, uint32_t epoch, uint64_t id,
                        const struct sockaddr_in *to)
{
	uint8_t pl[HOSTD_ACK_LEN];
	struct hostd_ack_msg a = { .kind = (uint8_t)kind, .capsule_ip = ip, .epoch = epoch, .id = id };
	hostd_msg_ack_encode(&a, pl);
	if (hostd_core_send_wire(d, WIRE_ACK, epoch, pl, sizeof pl, to->sin_addr.s_addr,
	                    ntohs(to->sin_port)) == 0)
		d->cnt.ctl_acks_out++;
}

void hostd_ctl_ack_in(struct hostd *d, uint32_t sender, const uint8_t *pl, size_t len)
{
	struct hostd_ack_msg a;
	if (hostd_msg_ack_decode(pl, len, &a)) {
		d->cnt.ctl_ack_bad++;
		return;
	}
	for (int i = 0; i < HOSTD_CTL_PENDING; i++) {
		struct hostd_ctl_out *o = &d->ctl_out[i];
		if (o->kind == a.kind && o->dest == sender && o->ip == a.capsule_ip && o->id == a.id &&
		    o->epoch == a.epoch) {
			uint32_t ip = o->ip;
			release_slot(o);
			d->cnt.ctl_acked++;
			unblock(d, sender, ip, clock_now_ms());
			return;
		}
	}
	/* A second ACK for a resend, or for one we gave up or replaced: nothing to do. */
	d->cnt.ctl_ack_late++;
}

int hostd_ctl_tick(struct hostd *d, uint64_t now)
{
	int next = -1;
	for (int i = 0; i < HOSTD_CTL_PENDING; i++) {
		struct hostd_ctl_out *o = &d->ctl_out[i];
		if (!o->kind)
			continue;
		if (now - o->first_ms >= HOSTD_CTL_GIVE_UP_MS) {
			uint32_t dest = o->dest, ip = o->ip;
			d->cnt.ctl_given_up++;
			release_slot(o);
			unblock(d, dest, ip, now);
			continue;
		}
		if (!o->sent)
			continue;   /* waits for the one before it (unblock sends it) */
		if (now >= o->next_ms) {
			transmit(d, o);
			d->cnt.ctl_resent++;
			o->wait_ms = o->wait_ms * 2 > CTL_MAX_WAIT_MS ? CTL_MAX_WAIT_MS : o->wait_ms * 2;
			o->next_ms = now + o->wait_ms;
		}
		uint64_t wait = o->next_ms - now;
		if (next < 0 || wait < (uint64_t)next)
			next = (int)wait;
	}
	return next;
}

void hostd_ctl_free_all(struct hostd *d)
{
	for (int i = 0; i < HOSTD_CTL_PENDING; i++)
		if (d->ctl_out[i].kind)
			release_slot(&d->ctl_out[i]);
}
