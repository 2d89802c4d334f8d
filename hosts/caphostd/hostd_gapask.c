/* hostd_gapask.c: `gaps IP EPOCH` on caphostd.ctl: ask every host for what its connections to a migrated capsule saw (GAPS_ASK), collect the GAPS_REPORTs, answer capctl. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * The hosts that measured a migration's gaps are those that pass the
 * capsule's packets on to its peers (hostd_gapwatch.c): the gateway and
 * the peers' hosts.  The source SYNCed every host it knew a locator for, so
 * capctl's caphostd (the source's, where `capctl migrate` ran) asks the same
 * set, itself included.  A GAPS_ASK is not acknowledged: the hosts that
 * have not answered are asked again every HOSTD_GAP_RESEND_MS, and the
 * answer goes to capctl when all did or after HOSTD_GAP_WAIT_MS, saying how
 * many answered.  docs/NETWORK.md section 6.12.
 */

static void add_rows(struct hostd_gap_query *q, uint32_t host, const struct hostd_gaps_msg *m)
{
	q->more += m->more;
	for (uint32_t i = 0; i < m->n; i++) {
		if (q->nrows == HOSTD_GAP_ROWS) {
			q->more++;
			continue;
		}
		q->rows[q->nrows].host = host;
		q->rows[q->nrows++].r = m->recs[i];
	}
}

/* ok ASKED ANSWERED N MORE, then N rows; the client's connection is closed after. */
static void answer(struct hostd *d, struct hostd_gap_query *q)
{
	static char out[HOSTD_GAP_ROWS * 96 + 64];
	size_t o = (size_t)snprintf(out, sizeof out, "ok %u %u %u %u\n", q->nhosts + 1,
	                            q->nanswered + 1, q->nrows, q->more);
	for (uint32_t i = 0; i < q->nrows && o < sizeof out; i++) {
		const struct hostd_gap_rec *r = &q->rows[i].r;
		char peer[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &r->peer_ip, peer, sizeof peer);
		o += (size_t)snprintf(out + o, sizeof out - o, "%u %s %u %u %u %u %s %s\n", q->rows[i].host,
		                      peer, r->peer_port, r->capsule_port, r->start_ms, r->gap_ms,
		                      r->flags & HOSTD_GAP_RESUMED ? "resumed" : "silent",
		                      r->flags & HOSTD_GAP_FROM_SYNC ? "from-sync" : "exact");
	}
	if (o >= sizeof out)
		o = sizeof out - 1;
	(void)send(q->fd, out, o, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(q->fd);
	memset(q, 0, sizeof *q);
	(void)d;
}

static void ask(struct hostd *d, const struct hostd_gap_query *q, uint32_t host)
{
	uint8_t pl[HOSTD_GAPS_ASK_LEN];
	struct hostd_gaps_msg m = { .kind = HOSTD_GAPS_ASK, .capsule_ip = q->ip, .epoch = q->epoch,
	                            .query_id = q->id };
	const struct hostd_peer *p = hostd_core_peer(d, host, 0);
	if (p && p->addr && hostd_msg_gaps_encode(&m, pl, sizeof pl))
		hostd_core_send_wire(d, WIRE_GAPS, q->epoch, pl, sizeof pl, p->addr, p->port);
}

static void refuse(int fd, const char *why)
{
	char out[160];
	int n = snprintf(out, sizeof out, "error %s\n", why);
	(void)send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

void hostd_gapask_start(struct hostd *d, int fd, const char *args)
{
	char ip_text[32];
	unsigned long epoch = 0;
	struct in_addr ip;
	char extra;
	if (sscanf(args, "%31s %lu %c", ip_text, &epoch, &extra) != 2 ||
	    inet_pton(AF_INET, ip_text, &ip) != 1 || !hostd_in_net(d, ip.s_addr) || epoch == 0 ||
	    epoch > UINT32_MAX) {
		d->cnt.gaps_queries_refused++;
		refuse(fd, "usage: gaps CAPSULE_IP EPOCH (the epoch its migration started at)");
		return;
	}
	struct hostd_gap_query *q = NULL;
	for (int i = 0; !q && i < HOSTD_GAP_QUERIES; i++)
		if (!d->gap_q[i].active)
			q = &d->gap_q[i];
	if (!q) {
		d->cnt.gaps_queries_refused++;
		refuse(fd, "caphostd: too many gaps requests at once; try again");
		return;
	}
	d->cnt.gaps_queries++;
	uint64_t now = clock_now_ms();
	*q = (struct hostd_gap_query){ .active = 1, .fd = fd, .ip = ip.s_addr,
	                               .epoch = (uint32_t)epoch, .id = hostd_ctl_id(d),
	                               .deadline_ms = now + HOSTD_GAP_WAIT_MS,
	                               .resend_ms = now + HOSTD_GAP_RESEND_MS };
	static struct hostd_gaps_msg mine;
	hostd_gapwatch_report(d, q->ip, q->epoch, &mine);
	add_rows(q, d->host_id, &mine);
	for (int i = 0; i < HOSTD_MAX_PEERS; i++)
		if (d->peers[i].host_id && d->peers[i].addr)
			q->hosts[q->nhosts++] = d->peers[i].host_id;
	for (uint32_t i = 0; i < q->nhosts; i++)
		ask(d, q, q->hosts[i]);
	if (q->nhosts == 0)
		answer(d, q);
}

static void report_in(struct hostd *d, uint32_t sender, const struct hostd_gaps_msg *m)
{
	for (int i = 0; i < HOSTD_GAP_QUERIES; i++) {
		struct hostd_gap_query *q = &d->gap_q[i];
		if (!q->active || q->id != m->query_id || q->ip != m->capsule_ip || q->epoch != m->epoch)
			continue;
		for (uint32_t k = 0; k < q->nhosts; k++) {
			if (q->hosts[k] != sender || q->answered[k])
				continue;
			q->answered[k] = 1;
			q->nanswered++;
			add_rows(q, sender, m);
			if (q->nanswered == q->nhosts)
				answer(d, q);
		}
		return;
	}
	/* A second answer to a resent ask, or one after the deadline: nothing to do. */
}

void hostd_gapask_in(struct hostd *d, uint32_t sender, const uint8_t *pl, size_t len,
                     const struct sockaddr_in *from)
{
	static struct hostd_gaps_msg m;
	static uint8_t out[HOSTD_GAPS_HDR + HOSTD_GAPS_MAX * HOSTD_GAPS_REC];
	if (hostd_msg_gaps_decode(pl, len, &m)) {
		d->cnt.gaps_bad++;
		return;
	}
	if (m.kind == HOSTD_GAPS_REPORT) {
		d->cnt.gaps_reports_in++;
		report_in(d, sender, &m);
		return;
	}
	d->cnt.gaps_asks_in++;
	hostd_gapwatch_report(d, m.capsule_ip, m.epoch, &m);
	m.kind = HOSTD_GAPS_REPORT;
	size_t n = hostd_msg_gaps_encode(&m, out, sizeof out);
	if (n && hostd_core_send_wire(d, WIRE_GAPS, m.epoch, out, n, from->sin_addr.s_addr,
	                              ntohs(from->sin_port)) == 0)
		d->cnt.gaps_reports_out++;
}

int hostd_gapask_tick(struct hostd *d, uint64_t now)
{
	int next = -1;
	for (int i = 0; i < HOSTD_GAP_QUERIES; i++) {
		struct hostd_gap_query *q = &d->gap_q[i];
		if (!q->active)
			continue;
		if (now >= q->deadline_ms) {
			answer(d, q);   /* with what came: the answer says how many hosts answered */
			continue;
		}
		if (now >= q->resend_ms) {
			for (uint32_t k = 0; k < q->nhosts; k++)
				if (!q->answered[k])
					ask(d, q, q->hosts[k]);
			q->resend_ms = now + HOSTD_GAP_RESEND_MS;
		}
		uint64_t due = q->resend_ms < q->deadline_ms ? q->resend_ms : q->deadline_ms;
		if (next < 0 || due - now < (uint64_t)next)
			next = (int)(due - now);
	}
	return next;
}

void hostd_gapask_stop_all(struct hostd *d)
{
	for (int i = 0; i < HOSTD_GAP_QUERIES; i++)
		if (d->gap_q[i].active) {
			close(d->gap_q[i].fd);
			memset(&d->gap_q[i], 0, sizeof d->gap_q[i]);
		}
}
