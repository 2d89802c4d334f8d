/* xlate.c: the capsule translation table: open-addressing hash, epoch-ordered updates, redirect rule. */
#include "hosts/caphostd/xlate.h"

#include <stdlib.h>
#include <string.h>

struct xlate_slot {
	struct xlate_entry e;   /* e.capsule_ip == 0: empty (0.0.0.0 is never a capsule) */
};

static size_t slot_of(const struct xlate_table *t, uint32_t ip)
{
	/* Fibonacci hashing: capsule IPs are dense, the multiply spreads them. */
	uint64_t h = (uint64_t)ip * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (t->nslots - 1);
}

int xlate_init(struct xlate_table *t, size_t max_entries, uint32_t self_host_id)
{
	memset(t, 0, sizeof *t);
	if (max_entries == 0 || max_entries > ((size_t)1 << 28) || self_host_id == 0)
		return XLATE_E_INVALID;
	size_t n = 8;
	while (n < 2 * max_entries)
		n <<= 1;
	t->slots = calloc(n, sizeof *t->slots);
	if (!t->slots)
		return XLATE_E_NOMEM;
	t->nslots = n;
	t->max_entries = max_entries;
	t->self_host_id = self_host_id;
	return XLATE_OK;
}

void xlate_free(struct xlate_table *t)
{
	free(t->slots);
	memset(t, 0, sizeof *t);
}

/* Index of ip's slot, or of the empty slot where it would go. */
static size_t probe(const struct xlate_table *t, uint32_t ip)
{
	size_t i = slot_of(t, ip);
	while (t->slots[i].e.capsule_ip != 0 && t->slots[i].e.capsule_ip != ip)
		i = (i + 1) & (t->nslots - 1);
	return i;   /* terminates: the table is never more than half full */
}

const struct xlate_entry *xlate_lookup(const struct xlate_table *t, uint32_t capsule_ip)
{
	if (capsule_ip == 0 || !t->slots)
		return NULL;
	size_t i = probe(t, capsule_ip);
	return t->slots[i].e.capsule_ip ? &t->slots[i].e : NULL;
}

static int valid(const struct xlate_table *t, const struct xlate_entry *e)
{
	if (e->capsule_ip == 0)
		return 0;
	switch (e->state) {
	case XLATE_LOCAL:
	case XLATE_FROZEN:
		return 1;
	case XLATE_REMOTE:
		/* A REMOTE entry naming ourselves would make us redirect to ourselves. */
		return e->host_id != 0 && e->host_id != t->self_host_id &&
		       e->locator_ip != 0 && e->port != 0;
	case XLATE_UNKNOWN:
		return 1;
	}
	return 0;
}

int xlate_update(struct xlate_table *t, const struct xlate_entry *in)
{
	if (!valid(t, in)) {
		t->c.invalid_refused++;
		return XLATE_E_INVALID;
	}
	struct xlate_entry e = *in;
	e.reserved = 0;
	e.reserved2 = 0;
	if (e.state == XLATE_LOCAL || e.state == XLATE_FROZEN)
		e.host_id = t->self_host_id;
	if (e.state == XLATE_UNKNOWN) {
		e.host_id = 0;
		e.locator_ip = 0;
		e.port = 0;
	}
	size_t i = probe(t, e.capsule_ip);
	struct xlate_entry *old = t->slots[i].e.capsule_ip ? &t->slots[i].e : NULL;
	if (old) {
		if (e.epoch < old->epoch) {
			t->c.stale_refused++;
			return XLATE_E_STALE;
		}
		/* Same version, another host: one of them is wrong and we cannot tell which. */
		if (e.epoch == old->epoch && old->host_id != 0 && e.host_id != 0 &&
		    e.host_id != old->host_id) {
			t->c.conflict_refused++;
			return XLATE_E_CONFLICT;
		}
		/* "Unknown" at the same epoch must not erase what we know of that epoch. */
		if (e.epoch == old->epoch && e.state == XLATE_UNKNOWN && old->state != XLATE_UNKNOWN) {
			t->c.stale_refused++;
			return XLATE_E_STALE;
		}
		if (old->last_used_ms > e.last_used_ms)
			e.last_used_ms = old->last_used_ms;
	} else if (t->count >= t->max_entries) {
		t->c.full_refused++;
		return XLATE_E_FULL;
	} else {
		t->count++;
	}
	t->slots[i].e = e;
	t->c.updates++;
	return XLATE_OK;
}

int xlate_touch(struct xlate_table *t, uint32_t capsule_ip, uint64_t now_ms)
{
	struct xlate_entry *e = (struct xlate_entry *)xlate_lookup(t, capsule_ip);
	if (!e)
		return XLATE_E_NOTFOUND;
	if (now_ms > e->last_used_ms)
		e->last_used_ms = now_ms;
	return XLATE_OK;
}

/* Remove slot i, then pull later members of its probe run back (no tombstones). */
static void remove_at(struct xlate_table *t, size_t i)
{
	size_t mask = t->nslots - 1;
	size_t j = i;
	for (;;) {
		t->slots[i].e.capsule_ip = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (t->slots[j].e.capsule_ip == 0) {
				t->count--;
				return;
			}
			size_t home = slot_of(t, t->slots[j].e.capsule_ip);
			/* Entry j may move to i only if its home is not cyclically in (i, j]. */
			int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
			if (!stays)
				break;
		}
		t->slots[i] = t->slots[j];
		i = j;
	}
}

int xlate_delete(struct xlate_table *t, uint32_t capsule_ip)
{
	if (capsule_ip == 0 || !t->slots)
		return XLATE_E_NOTFOUND;
	size_t i = probe(t, capsule_ip);
	if (t->slots[i].e.capsule_ip == 0)
		return XLATE_E_NOTFOUND;
	remove_at(t, i);
	return XLATE_OK;
}

const struct xlate_entry *xlate_next(const struct xlate_table *t, size_t *cursor)
{
	while (*cursor < t->nslots) {
		const struct xlate_entry *e = &t->slots[(*cursor)++].e;
		if (e->capsule_ip != 0)
			return e;
	}
	return NULL;
}

size_t xlate_expire(struct xlate_table *t, uint64_t before_ms)
{
	size_t n = 0;
	/* Restart the scan after each removal: backward shifting may move an unvisited entry behind us. */
	for (size_t i = 0; i < t->nslots;) {
		const struct xlate_entry *e = &t->slots[i].e;
		if (e->capsule_ip != 0 && (e->state == XLATE_REMOTE || e->state == XLATE_UNKNOWN) &&
		    e->last_used_ms < before_ms) {
			remove_at(t, i);
			n++;
			i = 0;
			continue;
		}
		i++;
	}
	return n;
}

void xlate_decide(const struct xlate_entry *ours, uint32_t s, struct xlate_decision *d)
{
	memset(d, 0, sizeof *d);
	d->action = XLATE_DROP;
	d->reply = XLATE_REPLY_UNKNOWN;
	if (!ours)
		return;
	switch (ours->state) {
	case XLATE_LOCAL:
	case XLATE_FROZEN:
		if (s > ours->epoch) {
			/* Someone knows a later version than our own copy: delivering could run it twice. */
			d->reply = XLATE_REPLY_NONE;
			return;
		}
		d->action = ours->state == XLATE_LOCAL ? XLATE_DELIVER : XLATE_HOLD;
		d->reply = s < ours->epoch ? XLATE_REPLY_ENTRY : XLATE_REPLY_NONE;
		break;
	case XLATE_REMOTE:
		if (s < ours->epoch)
			d->reply = XLATE_REPLY_ENTRY;
		break;
	default:
		break;
	}
	if (d->reply == XLATE_REPLY_ENTRY)
		d->info = *ours;
}

void xlate_route_in(struct xlate_table *t, uint32_t capsule_ip, uint32_t sender_epoch,
                    struct xlate_decision *d)
{
	const struct xlate_entry *e = xlate_lookup(t, capsule_ip);
	xlate_decide(e, sender_epoch, d);
	if (d->action == XLATE_DELIVER)
		t->c.delivered++;
	else if (d->action == XLATE_HOLD)
		t->c.held++;
	else if (e && (e->state == XLATE_LOCAL || e->state == XLATE_FROZEN))
		t->c.dropped_epoch_ahead++;
	else if (d->reply == XLATE_REPLY_NONE)
		t->c.dropped_other++;
	if (d->reply == XLATE_REPLY_ENTRY)
		t->c.redirected++;
	else if (d->reply == XLATE_REPLY_UNKNOWN)
		t->c.redirected_unknown++;
}

const char *xlate_state_name(int state)
{
	switch (state) {
	case XLATE_UNKNOWN: return "unknown";
	case XLATE_LOCAL:   return "local";
	case XLATE_REMOTE:  return "remote";
	case XLATE_FROZEN:  return "frozen";
	}
	return "invalid";
}
