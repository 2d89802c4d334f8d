/* hostd_sync.c: the peer side of a live migration: SYNC queues packets for a moving capsule until FLUSH_TO names its new host. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/*
 * A peer host that got SYNC {ip} from the capsule's source stops sending to
 * ip: every packet hostd_route_packet would send there (from our capsules, from the
 * gateway's TUN, re-injected by a holder) waits in a bounded FIFO instead.
 * FLUSH_TO {ip, host, locator, epoch} names where the capsule runs now: the
 * translation table learns it and the queue is routed again, in order.
 * The directory's NOTIFY does NOT release a queue: it comes at the MOVE,
 * before the target attached the capsule, and packets sent then would be
 * dropped there.  A queue nobody flushes (the source died, FLUSH_TO lost)
 * goes after HOSTD_SYNC_TIMEOUT_MS to whatever the directory names.
 */

static struct hostd_syncq *find_queue(struct hostd *d, uint32_t ip)
{
	for (int i = 0; ip && i < HOSTD_MAX_SYNCQ; i++)
		if (d->syncq[i].ip == ip)
			return &d->syncq[i];
	return NULL;
}

int hostd_sync_pending(struct hostd *d, uint32_t ip) { return find_queue(d, ip) != NULL; }

int hostd_sync_open(struct hostd *d, uint32_t ip, uint32_t epoch, uint64_t migration_id,
                    uint32_t source)
{
	struct hostd_syncq *q = find_queue(d, ip);
	if (!q) {
		for (int i = 0; !q && i < HOSTD_MAX_SYNCQ; i++)
			if (!d->syncq[i].ip)
				q = &d->syncq[i];
		if (!q || !(q->buf = malloc(HOSTD_SYNC_BUF))) {
			d->cnt.sync_full++;
			return -1;
		}
		q->ip = ip;
		tcphold_udp_init(&q->q, q->buf, HOSTD_SYNC_BUF, HOSTD_SYNC_PKTS);
	}
	/* A repeated SYNC (resend, refresh) keeps what is queued and only moves the deadline. */
	q->epoch = epoch > q->epoch ? epoch : q->epoch;
	q->migration_id = migration_id;
	q->source = source;
	q->sync_seq = d->seq_last;   /* ours: anything we send from now on is newer (sync_in: theirs) */
	q->deadline_ms = clock_now_ms() + HOSTD_SYNC_TIMEOUT_MS;
	hostd_gapwatch_open(d, ip, epoch, migration_id);   /* what its connections see from here */
	return 0;
}

/* Queues flushed lately, by migration: a late or repeated SYNC of one must not open it again. */
static void note_done(struct hostd *d, uint32_t ip, uint64_t migration_id)
{
	unsigned k = d->sync_done_next++ % HOSTD_SYNC_DONE;
	d->sync_done[k].ip = ip;
	d->sync_done[k].migration_id = migration_id;
	d->sync_done[k].at_ms = clock_now_ms();
}

static int was_done(const struct hostd *d, uint32_t ip, uint64_t migration_id)
{
	uint64_t now = clock_now_ms();
	for (int i = 0; i < HOSTD_SYNC_DONE; i++)
		if (d->sync_done[i].ip == ip && d->sync_done[i].migration_id == migration_id &&
		    now - d->sync_done[i].at_ms < HOSTD_TOMB_MS)
			return 1;
	return 0;
}

int hostd_sync_capture(struct hostd *d, uint32_t dst, const uint8_t *pkt, size_t len)
{
	struct hostd_syncq *q = find_queue(d, dst);
	if (!q)
		return 0;
	if (tcphold_udp_push(&q->q, pkt, len)) {
		/* full: as a congested link would; TCP senders retransmit, UDP is lost */
		d->cnt.sync_dropped++;
		if (len > 9 && pkt[9] == IPPROTO_UDP)
			d->cnt.sync_dropped_udp++;
	}
	return 1;
}

void hostd_sync_release(struct hostd *d, uint32_t ip)
{
	struct hostd_syncq *q = find_queue(d, ip);
	if (!q)
		return;
	/* Take it out of the table first: the router (d->ops.reroute) must not queue these packets again. */
	struct hostd_syncq held = *q;
	memset(q, 0, sizeof *q);
	clock_trace("peer sync-release");
	note_done(d, ip, held.migration_id);
	hostd_gapwatch_released(d, ip, held.migration_id);
	size_t cur = 0, len;
	const uint8_t *p;
	while (tcphold_udp_next(&held.q, &cur, &p, &len) == 1) {
		d->ops.reroute(d, p, len);
		d->cnt.sync_released_pkts++;
	}
	free(held.buf);
}

void hostd_sync_release_stamped(struct hostd *d, uint32_t ip, struct hostd_stamp st)
{
	const struct hostd_syncq *q = find_queue(d, ip);
	struct hostd_stamp made = { q ? q->epoch : 0, q ? q->source : 0, q ? q->sync_seq : 0 };
	if (q && hostd_stamp_newer(st, made))
		hostd_sync_release(d, ip);
}

void hostd_sync_free_all(struct hostd *d)
{
	for (int i = 0; i < HOSTD_MAX_SYNCQ; i++) {
		free(d->syncq[i].buf);
		memset(&d->syncq[i], 0, sizeof d->syncq[i]);
	}
}

int hostd_sync_send(struct hostd *d, const struct hostd_sync_msg *m, uint32_t addr, uint16_t port)
{
	uint8_t pl[HOSTD_SYNC_LEN];
	hostd_msg_sync_encode(m, pl);
	if (hostd_core_send_wire(d, WIRE_SYNC, m->epoch, pl, sizeof pl, addr, port))
		return -1;
	if (m->kind == HOSTD_SYNC)
		d->cnt.sync_out++;
	else if (m->kind == HOSTD_SYNC_ACK)
		d->cnt.sync_acks_out++;
	else
		d->cnt.flush_to_out++;
	return 0;
}

void hostd_sync_flush_to(struct hostd *d, uint32_t ip, uint32_t epoch, uint32_t host, uint32_t addr,
                    uint16_t port, const uint32_t *hosts, uint32_t nhosts)
{
	struct hostd_sync_msg m = { .kind = HOSTD_FLUSH_TO, .capsule_ip = ip, .epoch = epoch,
	                            .migration_id = hostd_ctl_id(d), .host_id = host,
	                            .locator_ip = addr, .port = port };
	uint8_t pl[HOSTD_SYNC_LEN];
	if (!ip || !epoch || !host || !addr || !port)
		return;   /* nothing a peer could decode: never send it */
	hostd_msg_sync_encode(&m, pl);
	for (int i = 0; i < HOSTD_MAX_PEERS; i++) {
		const struct hostd_peer *p = &d->peers[i];
		int listed = !hosts;
		for (uint32_t k = 0; hosts && k < nhosts && !listed; k++)
			listed = hosts[k] == p->host_id;
		/* resent until acknowledged: a lost FLUSH_TO would leave the queue waiting its timeout */
		if (p->host_id && p->addr && listed)
			hostd_ctl_send(d, HOSTD_CTL_FLUSH_TO, p->host_id, ip, epoch, m.migration_id, pl,
			               sizeof pl);
	}
}

/* SYNC from the capsule's source: stop sending to ip, queue, acknowledge. */
void hostd_sync_in(struct hostd *d, const struct wire_hdr *h, const struct hostd_sync_msg *m,
                    const struct sockaddr_in *from)
{
	const struct hostd_cap *c = hostd_core_cap_by_ip(d, m->capsule_ip);
	const struct xlate_entry *x = xlate_lookup(&d->xt, m->capsule_ip);
	if ((c && c->state != HCAP_SAVED) || (x && x->epoch > m->epoch && x->state != XLATE_UNKNOWN)) {
		/* it runs here, or it already moved on past that migration: a stale or confused SYNC */
		d->cnt.sync_bad++;
		return;
	}
	if (was_done(d, m->capsule_ip, m->migration_id)) {
		/* a resend or refresh that the network delayed past the FLUSH_TO ending it */
		d->cnt.sync_stale++;
		return;
	}
	if (hostd_sync_open(d, m->capsule_ip, m->epoch, m->migration_id, h->sender))
		return;   /* no queue, so no promise: the source counts us as not acknowledged */
	find_queue(d, m->capsule_ip)->sync_seq = h->seq;
	clock_trace("peer sync-in");   /* the source's ids after this are newer */
	struct hostd_sync_msg ack = *m;
	ack.kind = HOSTD_SYNC_ACK;
	ack.host_id = d->host_id;
	hostd_sync_send(d, &ack, from->sin_addr.s_addr, ntohs(from->sin_port));
}

/*
 * FLUSH_TO: ip runs at host/locator at epoch; what we queued goes there.
 * Its stamp: from the host it names, {epoch, that host, id}; from another
 * (the source naming the target) only a floor, "everything before epoch is
 * over": at epoch itself the named host's own HOLD or SYNC stays newer.
 */
void hostd_sync_flush_to_in(struct hostd *d, const struct wire_hdr *h,
                            const struct hostd_sync_msg *m, const struct sockaddr_in *from)
{
	struct hostd_syncq *q = find_queue(d, m->capsule_ip);
	const struct xlate_entry *x = xlate_lookup(&d->xt, m->capsule_ip);
	int held = hostd_hold_is_held(d, m->capsule_ip);
	struct hostd_stamp st = { m->epoch, 0, 0 };
	if (m->host_id == h->sender)
		st = (struct hostd_stamp){ m->epoch, h->sender, m->migration_id };
	d->cnt.flush_to_in++;
	clock_trace("peer flush-to-in from %u", h->sender);
	if (m->host_id != d->host_id && (q || x || held)) {
		/* newer-or-equal epoch only (xlate_update refuses older ones); a queue or hold needs a route */
		struct xlate_entry e = { .capsule_ip = m->capsule_ip, .host_id = m->host_id,
		                         .locator_ip = m->locator_ip, .port = m->port,
		                         .state = XLATE_REMOTE, .epoch = m->epoch,
		                         .last_used_ms = clock_now_ms() };
		xlate_update(&d->xt, &e);
		x = xlate_lookup(&d->xt, m->capsule_ip);
	}
	/* Release only to where the table now agrees it runs: a late FLUSH_TO of an older
	 * migration must not send the queue (or held, acknowledged bytes) to the old host. */
	int agrees = m->host_id == d->host_id ||
	             (x && x->state == XLATE_REMOTE && x->host_id == m->host_id && x->epoch == m->epoch);
	if (agrees && q)
		hostd_sync_release_stamped(d, m->capsule_ip, st);
	/* the gateway: like FLUSH from that host, and never releasing a newer HOLD */
	if (agrees && m->host_id != d->host_id && d->gateway &&
	    hostd_hold_release_stamped(d, m->capsule_ip, st))
		d->cnt.flush_to_stale++;
	hostd_ctl_ack_send(d, HOSTD_CTL_FLUSH_TO, m->capsule_ip, m->epoch, m->migration_id, from);
}

int hostd_sync_tick(struct hostd *d, uint64_t now)
{
	int next = -1;
	for (int i = 0; i < HOSTD_MAX_SYNCQ; i++) {
		struct hostd_syncq *q = &d->syncq[i];
		if (!q->ip)
			continue;
		if (q->deadline_ms > now) {
			uint64_t wait = q->deadline_ms - now;
			if (next < 0 || wait < (uint64_t)next)
				next = (int)wait;
			continue;
		}
		/* Nobody flushed it: the source died or FLUSH_TO was lost.  Ask the directory now
		 * (blocking, like every directory call here) and send the queue to its holder. */
		d->cnt.sync_timeouts++;
		uint32_t ip = q->ip;
		hostd_resolve_refresh(d, ip);
		hostd_sync_release(d, ip);
		/* the NOTIFY of its move left a gateway hold alone (hostd_fwd_notify): not any more */
		const struct xlate_entry *x = xlate_lookup(&d->xt, ip);
		if (x && x->state == XLATE_REMOTE && hostd_hold_is_held(d, ip))
			hostd_hold_release(d, ip);
	}
	return next;
}
