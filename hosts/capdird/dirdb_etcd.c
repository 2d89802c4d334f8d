/* dirdb_etcd.c: the directory's state changes over etcd v3 (etcdkv.c): one Txn per request, compare-and-swap on mod_revisions. */
#include "hosts/capdird/dirdb_etcd.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/capdird/etcdkv.h"
#include "hosts/common/clock.h"

#define TX_HOSTS  8

_Static_assert(DIRDB_ETCD_HOST_VAL_MAX <= ETCDKV_VAL_MAX, "a host record fits a value");
_Static_assert(DIRDB_ETCD_CAP_VAL_MAX <= ETCDKV_EVVAL_MAX, "an entry fits a watch event");
#define SUBS_MAX  8192

struct memhost {               /* this replica's own, never in etcd */
	uint32_t id;
	uint32_t ctl_addr;
	uint16_t ctl_port;
	uint64_t seq;              /* highest seq accepted here (reads included) */
	int64_t  lease;
	uint64_t lease_ms;         /* last keep-alive */
};

struct dir_etcd {
	struct etcdkv *kv;
	char p[64];                    /* key prefix */
	uint32_t net, first, last;
	struct memhost *mh;
	size_t nmh;
	struct { uint32_t id; int dirty, exists; struct dirdb_etcd_host r; } tx[TX_HOSTS];
	int ntx;
	uint32_t seq_host;             /* the request's sender and seq, set by host_set_seq */
	uint64_t seq_val;
	struct { uint32_t ip, host; } subs[SUBS_MAX];
	size_t nsubs;
	uint32_t released;             /* whose subscriptions go once its NOTIFYs are queued */
	char err[300];
};

#define E(s) ((struct dir_etcd *)(s))

static const char *x_errmsg(void *s)
{
	struct dir_etcd *d = E(s);
	return d->err[0] ? d->err : etcdkv_errmsg(d->kv);
}

static int fail(struct dir_etcd *d)
{
	d->err[0] = 0;   /* the message is etcdkv's */
	return DIR_DB_FAIL;
}

static void key_cap(struct dir_etcd *d, uint32_t ip, char *k, size_t n) { snprintf(k, n, "%scap/%08x", d->p, ip); }
static void key_host(struct dir_etcd *d, uint32_t id, char *k, size_t n) { snprintf(k, n, "%shost/%u", d->p, id); }

static struct memhost *memhost(struct dir_etcd *d, uint32_t id)
{
	for (size_t i = 0; i < d->nmh; i++)
		if (d->mh[i].id == id)
			return &d->mh[i];
	return NULL;
}

/* ---- host records within a transaction ---- */

/* The tracked record of host id (read once per transaction); NULL on failure. */
static struct dirdb_etcd_host *hload(struct dir_etcd *d, uint32_t id)
{
	for (int i = 0; i < d->ntx; i++)
		if (d->tx[i].id == id)
			return &d->tx[i].r;
	if (d->ntx == TX_HOSTS) {
		snprintf(d->err, sizeof d->err, "etcd transaction: too many hosts");
		return NULL;
	}
	char k[ETCDKV_KEY_MAX], *v = malloc(ETCDKV_VAL_MAX);
	if (!v)
		return NULL;
	key_host(d, id, k, sizeof k);
	int rc = etcdkv_get(d->kv, k, 1, v, ETCDKV_VAL_MAX);
	struct dirdb_etcd_host r = { 0 };
	if (rc < 0 || (rc == 1 && dirdb_etcd_host_parse(v, &r))) {
		if (rc == 1)
			snprintf(d->err, sizeof d->err, "etcd %s: malformed value", k);
		else
			fail(d);
		free(v);
		return NULL;
	}
	free(v);
	d->tx[d->ntx].id = id;
	d->tx[d->ntx].dirty = 0;
	d->tx[d->ntx].exists = rc == 1;
	d->tx[d->ntx].r = r;
	return &d->tx[d->ntx++].r;
}

static void hdirty(struct dir_etcd *d, uint32_t id)
{
	for (int i = 0; i < d->ntx; i++)
		if (d->tx[i].id == id)
			d->tx[i].dirty = 1;
}

/* A host's locator for an entry: not part of the decision, so not tracked. */
static int hpeek(struct dir_etcd *d, uint32_t id, uint32_t *addr, uint16_t *port)
{
	for (int i = 0; i < d->ntx; i++)
		if (d->tx[i].id == id) {
			*addr = d->tx[i].r.addr;
			*port = d->tx[i].r.port;
			return 0;
		}
	char k[ETCDKV_KEY_MAX], *v = malloc(ETCDKV_VAL_MAX);
	struct dirdb_etcd_host r = { 0 };
	if (!v)
		return DIR_DB_FAIL;
	key_host(d, id, k, sizeof k);
	int rc = etcdkv_get(d->kv, k, 0, v, ETCDKV_VAL_MAX);
	if (rc == 1 && dirdb_etcd_host_parse(v, &r))
		rc = -1;
	free(v);
	if (rc < 0)
		return fail(d);
	*addr = r.addr;
	*port = r.port;
	return 0;
}

/* ---- the operations ---- */

static void unsubscribe_all(struct dir_etcd *d, uint32_t ip);

static int x_begin(void *s)
{
	struct dir_etcd *d = E(s);
	if (d->released)
		unsubscribe_all(d, d->released);
	d->released = 0;
	etcdkv_begin(d->kv);
	d->ntx = 0;
	d->seq_host = 0;
	d->err[0] = 0;
	return 0;
}

static void x_rollback(void *s) { x_begin(s); }

static int x_commit(void *s)
{
	struct dir_etcd *d = E(s);
	int writes = etcdkv_writes(d->kv);
	for (int i = 0; i < d->ntx; i++)
		writes += d->tx[i].dirty + (d->tx[i].id == d->seq_host);
	if (writes && d->seq_host) {
		/* the seq is part of every change and of every mutating request
		 * (those read the sender's record for the retry cache, even when
		 * answered from it): one accepted through another replica is a
		 * replay here, whatever this one remembers */
		struct dirdb_etcd_host *h = hload(d, d->seq_host);
		if (!h)
			return DIR_DB_FAIL;
		if (h->seq >= d->seq_val)
			return DIR_DB_REPLAY;
		h->seq = d->seq_val;
		hdirty(d, d->seq_host);
	}
	char *v = malloc(ETCDKV_VAL_MAX), k[ETCDKV_KEY_MAX];
	if (!v)
		return DIR_DB_FAIL;
	for (int i = 0; i < d->ntx; i++)
		if (d->tx[i].dirty) {
			key_host(d, d->tx[i].id, k, sizeof k);
			dirdb_etcd_host_format(&d->tx[i].r, v);
			if (etcdkv_put(d->kv, k, v, 0)) {
				free(v);
				return fail(d);
			}
		}
	free(v);
	int rc = etcdkv_commit(d->kv);
	if (rc < 0)
		return fail(d);
	if (rc == 1)
		return DIR_DB_CONFLICT;
	struct memhost *m = d->seq_host ? memhost(d, d->seq_host) : NULL;
	if (m && d->seq_val > m->seq)
		m->seq = d->seq_val;
	return 0;
}

static int x_host_ensure(void *s, uint32_t id)
{
	struct dir_etcd *d = E(s);
	if (memhost(d, id))
		return 0;
	struct memhost *mh = realloc(d->mh, (d->nmh + 1) * sizeof *mh);
	if (!mh)
		return DIR_DB_FAIL;
	d->mh = mh;
	memset(&mh[d->nmh], 0, sizeof *mh);
	mh[d->nmh++].id = id;
	return 0;
}

static int x_host_get(void *s, uint32_t id, struct dir_host *out)
{
	struct dir_etcd *d = E(s);
	struct memhost *m = memhost(d, id);
	if (!m)
		return DIR_E_NOT_FOUND;
	char k[ETCDKV_KEY_MAX], *v = malloc(ETCDKV_VAL_MAX);
	struct dirdb_etcd_host r = { 0 };
	if (!v)
		return DIR_DB_FAIL;
	key_host(d, id, k, sizeof k);
	int rc = etcdkv_get(d->kv, k, 0, v, ETCDKV_VAL_MAX);
	if (rc == 1 && dirdb_etcd_host_parse(v, &r))
		rc = -1;
	free(v);
	if (rc < 0)
		return fail(d);
	memset(out, 0, sizeof *out);
	out->id = id;
	out->addr = r.addr;
	out->data_port = r.port;
	out->last_seq = r.seq > m->seq ? r.seq : m->seq;
	out->ctl_addr = m->ctl_addr;
	out->ctl_port = m->ctl_port;
	return 0;
}

static int x_host_set_seq(void *s, uint32_t id, uint64_t seq, uint32_t ctl_addr, uint16_t ctl_port)
{
	struct dir_etcd *d = E(s);
	struct memhost *m = memhost(d, id);
	if (!m)
		return DIR_E_NOT_FOUND;
	/* where NOTIFYs go: this replica's business (it sends them) */
	m->ctl_addr = ctl_addr;
	m->ctl_port = ctl_port;
	d->seq_host = id;
	d->seq_val = seq;
	return 0;
}

static int x_host_set_locator(void *s, uint32_t id, uint32_t addr, uint16_t port)
{
	struct dir_etcd *d = E(s);
	struct dirdb_etcd_host *h = hload(d, id);
	if (!h)
		return DIR_DB_FAIL;
	h->addr = addr;
	h->port = port;
	hdirty(d, id);
	return 0;
}

static int x_reply_get(void *s, uint32_t host, uint32_t rid, const uint8_t dig[DIR_DIGEST_LEN],
                       uint8_t *type, uint8_t *body, size_t cap, size_t *len)
{
	struct dir_etcd *d = E(s);
	struct dirdb_etcd_host *h = hload(d, host);
	if (!h)
		return DIR_DB_FAIL;
	if (!h->req || h->req != rid || memcmp(h->dig, dig, DIR_DIGEST_LEN) || h->blen > cap)
		return 0;
	*type = h->type;
	memcpy(body, h->body, h->blen);
	*len = h->blen;
	return 1;
}

static int x_reply_put(void *s, uint32_t host, uint32_t rid, const uint8_t dig[DIR_DIGEST_LEN],
                       uint8_t type, const uint8_t *body, size_t len)
{
	struct dir_etcd *d = E(s);
	struct dirdb_etcd_host *h = hload(d, host);
	if (!h || len > sizeof h->body)
		return DIR_DB_FAIL;
	h->req = rid;
	h->type = type;
	memcpy(h->dig, dig, DIR_DIGEST_LEN);
	memcpy(h->body, body, len);
	h->blen = len;
	hdirty(d, host);
	return 0;
}

/* The entry at ip (tracked: the transaction's decision depends on it). */
static int x_lookup(void *s, uint32_t ip, struct dir_entry *out)
{
	struct dir_etcd *d = E(s);
	char k[ETCDKV_KEY_MAX], v[ETCDKV_EVVAL_MAX];
	key_cap(d, ip, k, sizeof k);
	int rc = etcdkv_get(d->kv, k, 1, v, sizeof v);
	if (rc < 0)
		return fail(d);
	if (rc == 0)
		return DIR_E_NOT_FOUND;
	if (dirdb_etcd_cap_parse(v, ip, out)) {
		snprintf(d->err, sizeof d->err, "etcd %s: malformed value", k);
		return DIR_DB_FAIL;
	}
	return hpeek(d, out->host_id, &out->host_addr, &out->data_port);
}

static int put_entry(struct dir_etcd *d, const struct dir_entry *e)
{
	char k[ETCDKV_KEY_MAX], v[ETCDKV_EVVAL_MAX];
	key_cap(d, e->ip, k, sizeof k);
	dirdb_etcd_cap_format(e, v, sizeof v);
	return etcdkv_put(d->kv, k, v, 0) ? fail(d) : 0;
}

static void unsubscribe_all(struct dir_etcd *d, uint32_t ip)
{
	size_t j = 0;
	for (size_t i = 0; i < d->nsubs; i++)
		if (d->subs[i].ip != ip)
			d->subs[j++] = d->subs[i];
	d->nsubs = j;
}

struct scan { uint32_t expect, last; int64_t seen; int found; const char *p; };

static int scan_key(const char *key, const char *val, void *arg)
{
	struct scan *sc = arg;
	unsigned ip;
	(void)val;
	sc->seen++;
	if (sscanf(key + strlen(sc->p), "cap/%8x", &ip) != 1)
		return 0;
	if (ip > sc->expect) {
		sc->found = 1;
		return 1;
	}
	sc->expect = ip + 1;
	return 0;
}

/* First free address in [from, last]: 0 = none. */
static int free_from(struct dir_etcd *d, uint32_t from, uint32_t *ip)
{
	char a[ETCDKV_KEY_MAX], b[ETCDKV_KEY_MAX];
	struct scan sc = { .expect = from, .last = d->last, .p = d->p };
	*ip = 0;
	while (sc.expect <= d->last) {
		key_cap(d, sc.expect, a, sizeof a);
		key_cap(d, d->last + 1, b, sizeof b);
		sc.seen = 0;
		int n = etcdkv_range(d->kv, a, b, 256, scan_key, &sc);
		if (n < 0)
			return fail(d);
		if (sc.found || n < 256)
			break;
	}
	if (sc.expect <= d->last)
		*ip = sc.expect;
	return 0;
}

static int x_create(void *s, uint32_t host, const char *name, uint32_t want_ip, struct dir_entry *out)
{
	struct dir_etcd *d = E(s);
	struct dir_entry cur;
	uint32_t ip = want_ip;
	if (!dirproto_name_valid(name))
		return DIR_E_BAD_REQUEST;
	if (ip) {
		if (ip < d->first || ip > d->last)
			return DIR_E_BAD_REQUEST;
	} else {
		/* round-robin from the cursor, as in SQLite: a released address
		 * comes back only after the rest of the network */
		char k[ETCDKV_KEY_MAX], v[32];
		snprintf(k, sizeof k, "%scursor", d->p);
		int rc = etcdkv_get(d->kv, k, 1, v, sizeof v);
		if (rc < 0)
			return fail(d);
		uint32_t cursor = rc == 1 ? (uint32_t)strtoul(v, NULL, 10) : d->first;
		if (cursor < d->first || cursor > d->last)
			cursor = d->first;
		if (free_from(d, cursor, &ip) || (!ip && cursor != d->first && free_from(d, d->first, &ip)))
			return DIR_DB_FAIL;
		if (!ip)
			return DIR_E_NO_FREE_IP;
		snprintf(v, sizeof v, "%u", ip == d->last ? d->first : ip + 1);
		if (etcdkv_put(d->kv, k, v, 0))
			return fail(d);
	}
	/* the address must still be free at commit: its key is compared absent */
	int rc = x_lookup(s, ip, &cur);
	if (rc != DIR_E_NOT_FOUND)
		return rc == 0 ? DIR_E_IP_IN_USE : rc;
	memset(out, 0, sizeof *out);
	out->ip = ip;
	out->host_id = host;
	out->epoch = 1;
	snprintf(out->name, sizeof out->name, "%s", name);
	if (put_entry(d, out))
		return DIR_DB_FAIL;
	unsubscribe_all(d, ip);
	return hpeek(d, host, &out->host_addr, &out->data_port);
}

static int x_move(void *s, uint32_t requester, uint32_t ip, uint32_t to_host,
                  uint32_t expected_epoch, struct dir_entry *out, uint32_t *cur_epoch)
{
	struct dir_etcd *d = E(s);
	struct dir_entry cur;
	int rc = x_lookup(s, ip, &cur);
	if (rc)
		return rc;
	*cur_epoch = cur.epoch;
	if (requester != cur.host_id && requester != to_host)
		return DIR_E_NOT_AUTHORIZED;
	if (expected_epoch != cur.epoch)
		return DIR_E_STALE_EPOCH;
	if (!memhost(d, to_host))
		return DIR_E_BAD_REQUEST;
	/* MOVE and FENCE alike: the commit compares this entry's mod_revision */
	*out = cur;
	out->host_id = to_host;
	out->epoch = cur.epoch + 1;
	out->state = DIR_STATE_UNKNOWN;
	if (put_entry(d, out) || hpeek(d, to_host, &out->host_addr, &out->data_port))
		return DIR_DB_FAIL;
	*cur_epoch = out->epoch;
	return 0;
}

static int holder_at_epoch(void *s, uint32_t requester, uint32_t ip, uint32_t epoch,
                           struct dir_entry *cur, uint32_t *cur_epoch)
{
	int rc = x_lookup(s, ip, cur);
	if (rc)
		return rc;
	*cur_epoch = cur->epoch;
	if (requester != cur->host_id)
		return DIR_E_NOT_AUTHORIZED;
	return epoch != cur->epoch ? DIR_E_STALE_EPOCH : 0;
}

static int x_set_state(void *s, uint32_t requester, uint32_t ip, uint32_t epoch, int state,
                       struct dir_entry *out, uint32_t *cur_epoch)
{
	int rc = holder_at_epoch(s, requester, ip, epoch, out, cur_epoch);
	if (rc)
		return rc;
	if (state <= DIR_STATE_UNKNOWN || state > DIR_STATE_SAVED)
		return DIR_E_BAD_REQUEST;
	out->state = (uint16_t)state;
	return put_entry(E(s), out);
}

static int x_release(void *s, uint32_t requester, uint32_t ip, uint32_t epoch, uint32_t *cur_epoch)
{
	struct dir_etcd *d = E(s);
	struct dir_entry cur;
	char k[ETCDKV_KEY_MAX];
	int rc = holder_at_epoch(s, requester, ip, epoch, &cur, cur_epoch);
	if (rc)
		return rc;
	key_cap(d, ip, k, sizeof k);
	/* subscriptions go when the watch brings the release and its NOTIFYs are out */
	return etcdkv_del(d->kv, k) ? fail(d) : 0;
}

struct listing { struct dir_etcd *d; struct dir_entry *out; size_t max, n; uint32_t next; int bad; };

struct alive { const char *p; uint32_t *ids; size_t n, max; };

static int alive_key(const char *key, const char *val, void *arg)
{
	struct alive *a = arg;
	unsigned id;
	(void)val;
	if (a->n < a->max && sscanf(key + strlen(a->p), "alive/%u", &id) == 1)
		a->ids[a->n++] = id;
	return 0;
}

/* Entries whose holder holds no live lease say so: HOST_LOST, never "running". */
static int mark_lost(struct dir_etcd *d, struct dir_entry *e, size_t n)
{
	char a[ETCDKV_KEY_MAX], b[ETCDKV_KEY_MAX];
	enum { ALIVE_MAX = 4 * DIR_HOSTS_MAX };      /* keys: hosts x the replicas they talk to */
	uint32_t *ids = malloc(ALIVE_MAX * sizeof *ids);
	struct alive al = { .p = d->p, .ids = ids, .max = ALIVE_MAX };
	if (!ids)
		return DIR_DB_FAIL;
	snprintf(a, sizeof a, "%salive/", d->p);
	snprintf(b, sizeof b, "%salive0", d->p);
	if (etcdkv_range(d->kv, a, b, (int)al.max, alive_key, &al) < 0) {
		free(ids);
		return fail(d);
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < al.n && ids[k] != e[i].host_id)
			k++;
		if (k == al.n)
			e[i].state = DIR_STATE_HOST_LOST;
	}
	free(ids);
	return 0;
}

static int list_key(const char *key, const char *val, void *arg)
{
	struct listing *l = arg;
	unsigned ip;
	if (sscanf(key + strlen(l->d->p), "cap/%8x", &ip) != 1)
		return 0;
	if (l->n == l->max) {
		l->next = ip;
		return 1;
	}
	if (dirdb_etcd_cap_parse(val, ip, &l->out[l->n])) {
		l->bad = 1;
		return 1;
	}
	l->n++;
	return 0;
}

static int x_list(void *s, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
                  uint32_t *next)
{
	struct dir_etcd *d = E(s);
	char a[ETCDKV_KEY_MAX], b[ETCDKV_KEY_MAX];
	struct listing l = { .d = d, .out = out, .max = max > DIR_LIST_MAX ? DIR_LIST_MAX : max };
	key_cap(d, cursor, a, sizeof a);
	snprintf(b, sizeof b, "%scap0", d->p);     /* '0' follows '/': the end of P"cap/" */
	if (etcdkv_range(d->kv, a, b, (int)l.max + 1, list_key, &l) < 0)
		return fail(d);
	if (l.bad) {
		snprintf(d->err, sizeof d->err, "etcd %scap/: malformed value", d->p);
		return DIR_DB_FAIL;
	}
	for (size_t i = 0; i < l.n; i++)
		if (hpeek(d, out[i].host_id, &out[i].host_addr, &out[i].data_port))
			return DIR_DB_FAIL;
	if (l.n && mark_lost(d, out, l.n))
		return DIR_DB_FAIL;
	*n = l.n;
	*next = l.next;
	return 0;
}

/* Subscriptions live in this replica only: it is the one that answered the
 * lookup and the one the host's NOTIFYs come from; lost with the replica,
 * which the data plane's stale-epoch redirect covers (docs/DIRECTORY.md). */
static int x_subscribe(void *s, uint32_t ip, uint32_t host)
{
	struct dir_etcd *d = E(s);
	for (size_t i = 0; i < d->nsubs; i++)
		if (d->subs[i].ip == ip && d->subs[i].host == host)
			return 0;
	if (d->nsubs == SUBS_MAX)
		memmove(d->subs, d->subs + 1, (--d->nsubs) * sizeof d->subs[0]);   /* oldest goes */
	d->subs[d->nsubs].ip = ip;
	d->subs[d->nsubs++].host = host;
	return 0;
}

static int x_subscribers(void *s, uint32_t ip, uint32_t *hosts, size_t max, size_t *n)
{
	struct dir_etcd *d = E(s);
	*n = 0;
	for (size_t i = 0; i < d->nsubs && *n < max; i++)
		if (d->subs[i].ip == ip)
			hosts[(*n)++] = d->subs[i].host;
	return 0;
}

/* Counters are this replica's own since it started (not worth a write to the cluster each). */
static int x_counters_save(void *s, const uint64_t *v, size_t n) { (void)s, (void)v, (void)n; return 0; }
static int x_counters_load(void *s, uint64_t *v, size_t n)
{
	(void)s;
	memset(v, 0, n * sizeof *v);
	return 0;
}

static int x_change_fd(void *s) { return etcdkv_watch_fd(E(s)->kv); }

static int x_change_next(void *s, struct dir_change *out)
{
	struct dir_etcd *d = E(s);
	struct etcdkv_event ev;
	struct dir_entry prev;
	unsigned ip;
	while (etcdkv_watch_next(d->kv, &ev) == 1) {
		if (sscanf(ev.key + strlen(d->p), "cap/%8x", &ip) != 1 || dirdb_etcd_cap_parse(ev.val, ip, &out->e))
			continue;
		/* as with SQLite: moves and releases are told, creates and state reports not */
		if (!ev.deleted && (!ev.prev[0] || (dirdb_etcd_cap_parse(ev.prev, ip, &prev) == 0 &&
		                                    prev.epoch == out->e.epoch)))
			continue;
		out->revision = ev.revision;
		x_begin(s);
		if (ev.deleted) {
			out->e.host_id = 0;
			d->released = ip;
			return 1;
		}       /* between requests: a fresh read of the holder's locator */
		if (hpeek(d, out->e.host_id, &out->e.host_addr, &out->e.data_port))
			return 1;   /* without a locator: the holder and epoch are what matter */
		return 1;
	}
	return 0;
}

static void x_close(void *s)
{
	struct dir_etcd *d = E(s);
	if (!d)
		return;
	etcdkv_close(d->kv);
	free(d->mh);
	free(d);
}

int dirdb_etcd_open(const char *endpoints, const struct etcdkv_tls *tls, const char *prefix,
                    uint32_t net, int plen, void **out, char *err, size_t errlen)
{
	if (plen < 8 || plen > 30) {
		snprintf(err, errlen, "network prefix /%d: want /8../30", plen);
		return DIR_DB_FAIL;
	}
	if (!*prefix || strlen(prefix) > 40) {
		snprintf(err, errlen, "--etcd-prefix %s: want 1..40 bytes", prefix);
		return DIR_DB_FAIL;
	}
	struct dir_etcd *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return DIR_DB_FAIL;
	}
	uint32_t mask = ~0u << (32 - plen);
	d->net = net & mask;
	d->first = d->net + 2;
	d->last = (d->net | ~mask) - 1;
	snprintf(d->p, sizeof d->p, "%s", prefix);
	if (etcdkv_open(endpoints, tls, &d->kv, err, errlen)) {
		free(d);
		return DIR_DB_FAIL;
	}
	char k[ETCDKV_KEY_MAX], want[64], v[64];
	snprintf(k, sizeof k, "%smeta", d->p);
	snprintf(want, sizeof want, "net=%u.%u.%u.%u/%d", d->net >> 24, d->net >> 16 & 255,
	         d->net >> 8 & 255, d->net & 255, plen);
	for (int tries = 0; tries < 3; tries++) {
		etcdkv_begin(d->kv);
		int rc = etcdkv_get(d->kv, k, 1, v, sizeof v);
		if (rc < 0)
			break;
		if (rc == 1) {
			if (strcmp(v, want) == 0)
				goto ready;
			snprintf(err, errlen, "etcd %s: made for %s, not %s", k, v, want);
			x_close(d);
			return DIR_DB_FAIL;
		}
		if (etcdkv_put(d->kv, k, want, 0) || etcdkv_commit(d->kv) < 0)
			break;
	}
	snprintf(err, errlen, "%s", etcdkv_errmsg(d->kv));
	x_close(d);
	return DIR_DB_FAIL;
ready:
	/* changes from the revision just read on: none is missed in between */
	etcdkv_begin(d->kv);
	snprintf(k, sizeof k, "%scap/", d->p);
	if (etcdkv_get(d->kv, k, 0, v, sizeof v) < 0 ||
	    etcdkv_watch_start(d->kv, k, etcdkv_revision(d->kv) + 1)) {
		snprintf(err, errlen, "%s", etcdkv_errmsg(d->kv));
		x_close(d);
		return DIR_DB_FAIL;
	}
	*out = d;
	return 0;
}

/* ---- host liveness: a lease per host, kept alive by whichever replica hears from it ---- */

int dirdb_etcd_host_alive(void *s, uint32_t host, const char *replica)
{
	struct dir_etcd *d = E(s);
	struct memhost *m = memhost(d, host);
	uint64_t now = clock_now_ms();
	if (!m)
		return DIR_E_NOT_FOUND;
	if (m->lease_ms && now - m->lease_ms < 1000)
		return 0;
	/* one attempt a second, whatever its outcome: without quorum each one waits for
	 * etcd's answer (REQUEST_MS), and the requests must not wait behind many of them */
	m->lease_ms = now;
	if (m->lease && etcdkv_lease_keepalive(d->kv, m->lease) == 0)
		return 0;
	int64_t id = etcdkv_lease_grant(d->kv, DIRDB_ETCD_LEASE_TTL);
	if (id < 0)
		return fail(d);
	char k[ETCDKV_KEY_MAX], v[96];
	/* a key per (host, replica), each on its replica's own lease: the host is alive while
	 * any of them is, whichever replicas it talks to */
	snprintf(k, sizeof k, "%salive/%u/%s", d->p, host, replica);
	snprintf(v, sizeof v, "replica=%s", replica);
	etcdkv_begin(d->kv);
	if (etcdkv_put(d->kv, k, v, id) || etcdkv_commit(d->kv))
		return fail(d);
	m->lease = id;
	return 0;
}

const struct dir_store_ops dirdb_etcd_ops = {
	.name = "etcd", .close = x_close, .errmsg = x_errmsg, .begin = x_begin,
	.begin_read = x_begin,
	.commit = x_commit, .rollback = x_rollback, .host_ensure = x_host_ensure,
	.host_get = x_host_get, .host_set_seq = x_host_set_seq,
	.host_set_locator = x_host_set_locator, .reply_get = x_reply_get,
	.reply_put = x_reply_put, .create = x_create, .move = x_move, .lookup = x_lookup,
	.set_state = x_set_state, .release = x_release, .list = x_list,
	.subscribe = x_subscribe, .subscribers = x_subscribers,
	.counters_save = x_counters_save, .counters_load = x_counters_load,
	.change_fd = x_change_fd, .change_next = x_change_next,
};
