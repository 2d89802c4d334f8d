/* hostd_resolve.c: where a capsule IP runs, asked without stalling the packet loop: waiting packets, a negative cache, a lookup budget per source; subscribing again after a failover. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/*
 * A packet for a capsule IP the translation table does not know starts a
 * LOOKUP (subscribing, so later moves are pushed to us) and waits for the
 * answer in the lookup's job, with a few others for the same address; then
 * they are routed again.  Three limits keep an outsider from turning
 * packets into directory traffic (docs/NETWORK.md section 6.7):
 *   - a negative cache: an address the directory did not know (or could
 *     not be reached for) is not asked about again for HOSTD_NEG_TTL_MS;
 *   - a budget per source address: HOSTD_LOOKUPS_PER_SEC lookups a second
 *     (a token bucket, burst of twice that), for at most
 *     HOSTD_LOOKUP_SOURCES sources tracked at once (the stalest is
 *     forgotten);
 *   - at most HOSTD_MAX_RESOLVES lookups in flight.
 * Each refusal is counted.  Both tables are bounded, probed at four slots,
 * and overwrite what expires first: memory never grows with the attack.
 */

#define PROBE 4
#define WAIT_BYTES (64u << 10)   /* packets kept for one lookup, in bytes */

static size_t slot_of(uint32_t key, size_t size)
{
	return (size_t)((key * 0x9E3779B1u) >> 8) % size;
}

static int neg_cached(struct hostd *d, uint32_t ip, uint64_t now)
{
	size_t s = slot_of(ip, HOSTD_NEG_CACHE);
	for (size_t k = 0; k < PROBE; k++) {
		size_t i = (s + k) % HOSTD_NEG_CACHE;
		if (d->neg[i].ip == ip && d->neg[i].until_ms > now)
			return 1;
	}
	return 0;
}

static void neg_add(struct hostd *d, uint32_t ip, uint64_t now)
{
	size_t s = slot_of(ip, HOSTD_NEG_CACHE), best = s;
	for (size_t k = 0; k < PROBE; k++) {
		size_t i = (s + k) % HOSTD_NEG_CACHE;
		if (d->neg[i].ip == ip || d->neg[i].until_ms <= now) {
			best = i;
			break;
		}
		if (d->neg[i].until_ms < d->neg[best].until_ms)
			best = i;
	}
	d->neg[best].ip = ip;
	d->neg[best].until_ms = now + HOSTD_NEG_TTL_MS;
}

static void neg_forget(struct hostd *d, uint32_t ip)
{
	size_t s = slot_of(ip, HOSTD_NEG_CACHE);
	for (size_t k = 0; k < PROBE; k++) {
		size_t i = (s + k) % HOSTD_NEG_CACHE;
		if (d->neg[i].ip == ip)
			d->neg[i].until_ms = 0;
	}
}

/* May src cause one more lookup now?  A token bucket per source. */
static int budget_take(struct hostd *d, uint32_t src, uint64_t now)
{
	const uint32_t burst = 2 * HOSTD_LOOKUPS_PER_SEC;
	size_t s = slot_of(src, HOSTD_LOOKUP_SOURCES), pick = s;
	int found = 0;
	for (size_t k = 0; k < PROBE && !found; k++) {
		size_t i = (s + k) % HOSTD_LOOKUP_SOURCES;
		if (d->budget[i].src == src)
			pick = i, found = 1;
		else if (d->budget[i].refill_ms < d->budget[pick].refill_ms)
			pick = i;   /* the stalest slot gives way */
	}
	if (!found) {
		d->budget[pick].src = src;
		d->budget[pick].tokens = burst;
		d->budget[pick].refill_ms = now;
	}
	uint64_t elapsed = now - d->budget[pick].refill_ms;
	uint64_t add = elapsed * HOSTD_LOOKUPS_PER_SEC / 1000;
	if (add) {
		uint64_t t = d->budget[pick].tokens + add;
		d->budget[pick].tokens = t > burst ? burst : (uint32_t)t;
		d->budget[pick].refill_ms += add * 1000 / HOSTD_LOOKUPS_PER_SEC;
	}
	if (!d->budget[pick].tokens)
		return 0;
	d->budget[pick].tokens--;
	return 1;
}

/* After an answer: can a packet for ip be routed now (somewhere other than back to us)? */
static int routable(struct hostd *d, uint32_t ip)
{
	const struct xlate_entry *x = xlate_lookup(&d->xt, ip);
	return x && x->state != XLATE_UNKNOWN;
}

static void resolve_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP };
	m.u.lookup.ip = ntohl(j->ip);
	m.u.lookup.flags = DIR_LOOKUP_SUBSCRIBE;   /* the directory tells us when it moves */
	d->cnt.dir_lookups++;
	hostd_dir_job_ask(d, j, &m, 3);
}

static void resolve_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	uint64_t now = clock_now_ms();
	if (rc == 0)
		hostd_core_xlate_from_dir(d, &r->u.entry);
	else if (rc < 0)
		d->cnt.dir_errors++;
	int ok = routable(d, j->ip);
	if (!ok && j->step == 0)
		neg_add(d, j->ip, now);   /* unknown, no locator, or not reachable: not again for a while */
	/* Route what waited: known now, it goes; still unknown, the negative entry drops it. */
	size_t off = 0;
	for (size_t i = 0; i < j->count; i++) {
		if (ok)
			d->ops.reroute(d, (const uint8_t *)j->buf + off, j->pkt_len[i]);
		else
			d->cnt.drop_no_route++;
		off += j->pkt_len[i];
	}
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops resolve_ops = { "resolve", resolve_answer, resolve_ask, NULL };

static struct hostd_job *lookup_for(struct hostd *d, uint32_t ip, size_t *in_flight)
{
	struct hostd_job *found = NULL;
	*in_flight = 0;
	for (int i = 0; i < HOSTD_MAX_JOBS; i++)
		if (d->jobs[i].ops == &resolve_ops) {
			(*in_flight)++;
			if (d->jobs[i].ip == ip)
				found = &d->jobs[i];
		}
	return found;
}

/* Keep pkt with job j until the answer: 0, or -1 (no room: dropped). */
static int keep(struct hostd_job *j, const uint8_t *pkt, size_t len)
{
	if (j->count == HOSTD_RESOLVE_PKTS || j->len + len > WAIT_BYTES)
		return -1;
	if (!j->buf && !(j->buf = malloc(WAIT_BYTES)))
		return -1;
	memcpy(j->buf + j->len, pkt, len);
	j->len += len;
	j->pkt_len[j->count++] = len;
	return 0;
}

void hostd_resolve_packet(struct hostd *d, uint32_t dst, const uint8_t *pkt, size_t len)
{
	uint64_t now = clock_now_ms();
	size_t in_flight;
	if (neg_cached(d, dst, now)) {
		d->cnt.dir_lookup_neg_hits++;
		d->cnt.drop_no_route++;
		return;
	}
	struct hostd_job *j = lookup_for(d, dst, &in_flight);
	if (j) {   /* already asking: wait with the others */
		if (keep(j, pkt, len) == 0)
			d->cnt.dir_lookup_waiting++;
		else
			d->cnt.drop_no_route++;
		return;
	}
	uint32_t src;
	memcpy(&src, pkt + 12, sizeof src);
	if (in_flight >= HOSTD_MAX_RESOLVES) {
		d->cnt.dir_lookup_busy++;
		d->cnt.drop_no_route++;
		return;
	}
	if (!budget_take(d, src, now)) {
		d->cnt.dir_lookup_rate_limited++;
		d->cnt.drop_no_route++;
		return;
	}
	j = hostd_dir_job_new(d, &resolve_ops);
	if (!j) {
		d->cnt.drop_no_route++;
		return;
	}
	j->ip = dst;
	if (keep(j, pkt, len) == 0)
		d->cnt.dir_lookup_waiting++;
	resolve_ask(d, j);
}

void hostd_resolve_refresh(struct hostd *d, uint32_t ip)
{
	size_t in_flight;
	neg_forget(d, ip);
	if (lookup_for(d, ip, &in_flight))
		return;   /* an answer is on its way already */
	struct hostd_job *j = hostd_dir_job_new(d, &resolve_ops);
	if (!j)
		return;
	j->ip = ip;
	j->step = 1;   /* a refresh: no negative entry from its answer */
	resolve_ask(d, j);
}

/*
 * ---- after a failover: subscribe again through the new replica ----
 *
 * A replica keeps who subscribed to what in its memory (docs/DIRECTORY.md
 * section 6), so the replica we failed over to would not push us the moves
 * of the entries we hold: each of them would cost a stale-epoch redirect
 * first.  So every REMOTE entry is looked up again, subscribing, at most
 * half of HOSTD_MAX_RESOLVES at once (packets' own lookups keep the rest);
 * the addresses are collected first (updates move table entries).
 */
#define RESUB_AGAIN_MS 20

static void resub_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	(void)d, (void)j, (void)rc, (void)r;   /* it asks nothing itself: its lookups are resolves */
}

static void resub_wake(struct hostd *d, struct hostd_job *j)
{
	const uint32_t *ips = (const uint32_t *)(void *)j->buf;
	size_t in_flight;
	lookup_for(d, 0, &in_flight);
	while (j->count < j->len && in_flight < HOSTD_MAX_RESOLVES / 2) {
		uint32_t ip = ips[j->count++];
		const struct xlate_entry *x = xlate_lookup(&d->xt, ip);
		if (!x || x->state != XLATE_REMOTE)
			continue;   /* forgotten or here meanwhile */
		hostd_resolve_refresh(d, ip);
		d->cnt.dir_resubscribed++;
		in_flight++;
	}
	if (j->count < j->len)
		j->wake_ms = clock_now_ms() + RESUB_AGAIN_MS;
	else
		hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops resub_ops = { "resubscribe", resub_answer, resub_wake, NULL };

void hostd_resolve_resubscribe(struct hostd *d)
{
	for (int i = 0; i < HOSTD_MAX_JOBS; i++)
		if (d->jobs[i].ops == &resub_ops)
			hostd_dir_job_free(d, &d->jobs[i]);   /* a failover before it finished: anew */
	size_t n = 0, cur = 0;
	const struct xlate_entry *x;
	while ((x = xlate_next(&d->xt, &cur)))
		n += x->state == XLATE_REMOTE;
	if (!n)
		return;
	struct hostd_job *j = hostd_dir_job_new(d, &resub_ops);
	uint32_t *ips = j ? malloc(n * sizeof *ips) : NULL;
	if (!ips) {
		if (j)
			hostd_dir_job_free(d, j);
		return;   /* counted (dir_jobs_full); moves reach us by redirect meanwhile */
	}
	j->buf = (char *)ips;
	cur = 0;
	while (j->len < n && (x = xlate_next(&d->xt, &cur)))
		if (x->state == XLATE_REMOTE)
			ips[j->len++] = x->capsule_ip;
	resub_wake(d, j);
}
