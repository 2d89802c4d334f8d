/* hostd_gapwatch.c: each TCP connection's longest silence while its capsule migrates, measured where the host passes the capsule's packets on to the peer. */
#include "hosts/caphostd/hostd.h"

#include <netinet/in.h>
#include <string.h>

/*
 * The gap a client of a migrating capsule sees is the time between two
 * packets it gets from the capsule.  A host that passes those packets on
 * sees both ends of the gap on its own clock: the gateway for ordinary
 * peers (into capgw), a capsule peer's host for that peer (onto its
 * uplink).  Every such host got the migration's SYNC (hostd_mig.c sends it
 * to every peer host, the gateway among them, and the source opens its own
 * queue), so a watch opens with the SYNC queue and records, per TCP
 * connection, the longest time between two packets from the capsule; the
 * first interval starts at the SYNC when nothing came since (from_sync:
 * the silence may have begun earlier).  The gateway's holder answers in
 * the capsule's place while it is frozen (zero windows): those packets are
 * ours, not the capsule's, and are not counted (they leave through
 * hostd_core_tun_emit, not hostd_gw_write).  A watch records for
 * HOSTD_GAP_TRACK_MS, then keeps what it has until its slot is reused.
 */

static uint64_t now_us(void)
{
	return (uint64_t)clock_now_ns(CLOCK_MONOTONIC) / 1000u;
}

static struct hostd_gap_watch *find(struct hostd *d, uint32_t ip)
{
	for (int i = 0; i < HOSTD_GAP_WATCHES; i++)
		if (d->gap_watch[i].ip == ip)
			return &d->gap_watch[i];
	return NULL;
}

static void stop_tracking(struct hostd *d, struct hostd_gap_watch *w)
{
	if (w->tracking) {
		w->tracking = 0;
		d->gap_tracking--;
	}
}

void hostd_gapwatch_open(struct hostd *d, uint32_t ip, uint32_t epoch, uint64_t migration_id)
{
	struct hostd_gap_watch *w = find(d, ip);
	if (w && w->migration_id == migration_id)
		return;   /* a SYNC resent or refreshed: the same migration */
	if (!w) {
		/* A free slot, else the oldest watch: the latest migrations are the ones asked about. */
		for (int i = 0; i < HOSTD_GAP_WATCHES; i++) {
			struct hostd_gap_watch *e = &d->gap_watch[i];
			if (!e->ip) {
				w = e;
				break;
			}
			if (!w || e->start_us < w->start_us)
				w = e;
		}
	}
	stop_tracking(d, w);
	memset(w, 0, sizeof *w);
	w->ip = ip;
	w->epoch = epoch;
	w->migration_id = migration_id;
	w->start_us = now_us();
	w->tracking = 1;
	d->gap_tracking++;
}

void hostd_gapwatch_released(struct hostd *d, uint32_t ip, uint64_t migration_id)
{
	struct hostd_gap_watch *w = find(d, ip);
	if (w && w->migration_id == migration_id && !w->release_us)
		w->release_us = now_us();
}

static struct hostd_gap_conn *conn_of(struct hostd_gap_watch *w, uint32_t peer_ip,
                                      uint16_t peer_port, uint16_t capsule_port)
{
	for (uint32_t i = 0; i < w->n; i++) {
		struct hostd_gap_conn *c = &w->conns[i];
		if (c->peer_ip == peer_ip && c->peer_port == peer_port && c->capsule_port == capsule_port)
			return c;
	}
	if (w->n == HOSTD_GAPS_MAX) {
		w->more++;
		return NULL;
	}
	struct hostd_gap_conn *c = &w->conns[w->n++];
	*c = (struct hostd_gap_conn){ .peer_ip = peer_ip, .peer_port = peer_port,
	                              .capsule_port = capsule_port };
	return c;
}

void hostd_gapwatch_packet(struct hostd *d, const uint8_t *pkt, size_t len)
{
	/* TCP with its header in this packet: not a later fragment (whose first bytes are data). */
	size_t ihl = len >= 20 ? (size_t)(pkt[0] & 15) * 4 : 0;
	if (ihl < 20 || len < ihl + 14 || pkt[9] != IPPROTO_TCP || ((pkt[6] & 0x1f) | pkt[7]))
		return;
	uint32_t src, dst;
	memcpy(&src, pkt + 12, 4);
	memcpy(&dst, pkt + 16, 4);
	uint64_t now = now_us();
	struct hostd_gap_watch *w = NULL;
	for (int i = 0; i < HOSTD_GAP_WATCHES; i++) {
		struct hostd_gap_watch *e = &d->gap_watch[i];
		if (!e->tracking)
			continue;
		if (now - e->start_us > (uint64_t)HOSTD_GAP_TRACK_MS * 1000u)
			stop_tracking(d, e);   /* long over: the packet path stops looking */
		else if (e->ip == src)
			w = e;
	}
	if (!w)
		return;
	const uint8_t *tcp = pkt + ihl;
	uint16_t sport = (uint16_t)(tcp[0] << 8 | tcp[1]), dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
	struct hostd_gap_conn *c = conn_of(w, dst, dport, sport);
	if (!c)
		return;
	if (tcp[13] & 0x02) {
		c->last_us = now;   /* SYN: the connection begins now, it had no silence before */
		return;
	}
	uint64_t from = c->last_us ? c->last_us : w->start_us;
	if (now - from > c->gap_us) {
		c->gap_us = now - from;
		c->gap_from_us = from;
		c->from_sync = !c->last_us;
	}
	c->last_us = now;
}

static uint32_t ms_of(uint64_t us)
{
	uint64_t ms = (us + 500) / 1000;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

int hostd_gapwatch_report(struct hostd *d, uint32_t ip, uint32_t epoch, struct hostd_gaps_msg *m)
{
	struct hostd_gap_watch *w = find(d, ip);
	m->n = m->more = m->held_ms = 0;
	if (!w || w->epoch != epoch)
		return -1;
	uint64_t now = now_us();
	m->more = w->more;
	m->held_ms = w->release_us ? ms_of(w->release_us - w->start_us) : 0;
	for (uint32_t i = 0; i < w->n; i++) {
		const struct hostd_gap_conn *c = &w->conns[i];
		struct hostd_gap_rec *r = &m->recs[m->n++];
		uint64_t from = c->gap_from_us, gap = c->gap_us;
		int resumed = w->release_us && c->last_us > w->release_us, from_sync = c->from_sync;
		if (!resumed) {
			/* Nothing from the capsule since it ran again (or it does not yet): the silence
			 * so far, if that is the longest. */
			uint64_t since = c->last_us ? c->last_us : w->start_us;
			if (now - since > gap)
				from = since, gap = now - since, from_sync = !c->last_us;
		}
		*r = (struct hostd_gap_rec){ .peer_ip = c->peer_ip, .peer_port = c->peer_port,
		                             .capsule_port = c->capsule_port,
		                             .start_ms = from > w->start_us ? ms_of(from - w->start_us) : 0,
		                             .gap_ms = ms_of(gap),
		                             .flags = (uint16_t)((resumed ? HOSTD_GAP_RESUMED : 0) |
		                                                 (from_sync ? HOSTD_GAP_FROM_SYNC : 0)) };
	}
	return 0;
}
