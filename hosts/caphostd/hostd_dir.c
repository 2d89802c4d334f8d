/* hostd_dir.c: caphostd's directory conversations as jobs on the asynchronous client (nothing here blocks the packet loop): the engine, HELLO, RELEASE, STATE, give-back, orphans, host locators and the gateway's, `list`. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Why jobs: a directory that is slow, down or restarting must never stop
 * caphostd from moving packets (docs/NETWORK.md section 6.10), and a request that
 * decides where a capsule runs must never be given up on silence: a
 * release, a give-back or a pull is retried until the directory answers,
 * however long that takes.  Each conversation is a small state machine
 * (struct hostd_job, its kind an operations table) driven by the answers
 * (dirc callbacks) and by its own timer.
 */

#define RETRY_ASK_MS   100    /* the client's table was full: ask again this soon */
#define POLL_MS        500    /* orphans: look again this often */
#define HEARTBEAT_MS   2000   /* a third of the directory's lease TTL (DIRDB_ETCD_LEASE_TTL) */
#define HELLO_RETRY_MS 5000   /* the directory refused our HELLO (misconfigured): try again */
#define LIST_ROWS_MAX  (64 << 10)

static uint64_t cookie_of(const struct hostd *d, const struct hostd_job *j)
{
	return (uint64_t)(j - d->jobs) << 32 | j->gen;
}

static void on_answer(void *ctx, uint64_t cookie, int rc, const struct dir_msg *reply)
{
	struct hostd *d = ctx;
	size_t idx = (size_t)(cookie >> 32);
	if (idx >= HOSTD_MAX_JOBS)
		return;
	struct hostd_job *j = &d->jobs[idx];
	if (!j->ops || j->gen != (uint32_t)cookie)
		return;   /* freed meanwhile (shutdown): nobody waits for it */
	j->handle = 0;
	j->ops->answer(d, j, rc, reply);
}

struct hostd_job *hostd_dir_job_new(struct hostd *d, const struct hostd_job_ops *ops)
{
	for (int i = 0; i < HOSTD_MAX_JOBS; i++) {
		struct hostd_job *j = &d->jobs[i];
		if (j->ops)
			continue;
		memset(j, 0, sizeof *j);
		j->ops = ops;
		j->gen = ++d->job_gen;
		j->cap = -1;
		j->fd = -1;
		j->start_ms = clock_now_ms();
		return j;
	}
	d->cnt.dir_jobs_full++;
	return NULL;
}

int hostd_dir_job_ask(struct hostd *d, struct hostd_job *j, const struct dir_msg *m, int attempts)
{
	int rc;
	j->handle = dirclient_start(d->dir, m, attempts, on_answer, d, cookie_of(d, j), &rc);
	if (j->handle)
		return 0;
	if (rc == DIRC_ERR_FULL) {
		/* Not an answer: park it and ask again shortly (step stays as it is). */
		j->parked_msg = *m;
		j->parked_attempts = attempts;
		j->parked = 1;
		j->wake_ms = clock_now_ms() + RETRY_ASK_MS;
		d->cnt.dir_jobs_full++;
		return 0;
	}
	j->ops->answer(d, j, rc, NULL);   /* a request we cannot even encode: a bug, say so */
	return -1;
}

void hostd_dir_job_free(struct hostd *d, struct hostd_job *j)
{
	if (j->handle)
		dirclient_cancel(d->dir, j->handle);
	free(j->buf);
	if (j->fd >= 0)
		close(j->fd);
	memset(j, 0, sizeof *j);
}

void hostd_dir_job_bind(struct hostd_job *j, const struct hostd *d, const struct hostd_cap *c)
{
	j->cap = (int)(c - d->caps);
	j->cap_gen = c->gen;
}

struct hostd_cap *hostd_dir_job_cap(struct hostd *d, const struct hostd_job *j)
{
	if (j->cap < 0 || j->cap >= HOSTD_MAX_CAPS)
		return NULL;
	struct hostd_cap *c = &d->caps[j->cap];
	return c->state != HCAP_FREE && c->gen == j->cap_gen ? c : NULL;
}

void hostd_dir_input(struct hostd *d)
{
	struct dir_entry e;
	dirclient_input(d->dir);
	while (dirclient_next_notify(d->dir, &e, 0) == 1)
		d->ops.notify(d, &e);   /* up to the data plane: a registered callback */
}

static void on_heartbeat(void *ctx, uint64_t cookie, int rc, const struct dir_msg *reply)
{
	(void)ctx, (void)cookie, (void)rc, (void)reply;   /* only being heard matters */
}

/* Every HEARTBEAT_MS a HOST_LOOKUP of ourselves: over etcd the replica that
 * hears it keeps this host's lease alive (`capctl ps --all`: "host lost"
 * once it expired), and a replica that does not answer is failed over. */
static int heartbeat(struct hostd *d, uint64_t now)
{
	if (now >= d->dir_heartbeat_ms) {
		struct dir_msg m = { .type = DIR_T_HOST_LOOKUP };
		int rc;
		m.u.host_lookup.host_id = d->host_id;
		dirclient_start(d->dir, &m, 2, on_heartbeat, d, 0, &rc);   /* 2: a retry fails over */
		d->dir_heartbeat_ms = now + HEARTBEAT_MS;
	}
	return (int)(d->dir_heartbeat_ms - now);
}

int hostd_dir_tick(struct hostd *d, uint64_t now)
{
	int next = dirclient_tick(d->dir), hb = heartbeat(d, now);
	if (dirclient_replica(d->dir) != d->dir_replica) {
		/* failed over (a retry of some request found the replica silent) */
		d->dir_replica = dirclient_replica(d->dir);
		d->cnt.dir_failovers++;
		hostd_resolve_resubscribe(d);
		next = 0;   /* its first lookups went out; the loop comes back for the job's timer */
	}
	if (next < 0 || hb < next)
		next = hb;
	for (int i = 0; i < HOSTD_MAX_JOBS; i++) {
		struct hostd_job *j = &d->jobs[i];
		if (!j->ops || !j->wake_ms)
			continue;
		if (j->wake_ms <= now) {
			j->wake_ms = 0;
			if (j->parked) {
				j->parked = 0;
				hostd_dir_job_ask(d, j, &j->parked_msg, j->parked_attempts);
			} else if (j->ops->wake) {
				j->ops->wake(d, j);
			}
		}
		if (j->ops && j->wake_ms) {
			int w = j->wake_ms > now ? (int)(j->wake_ms - now) : 0;
			if (next < 0 || w < next)
				next = w;
		}
	}
	return next;
}

void hostd_dir_shutdown(struct hostd *d)
{
	for (int i = 0; i < HOSTD_MAX_JOBS; i++) {
		struct hostd_job *j = &d->jobs[i];
		if (!j->ops)
			continue;
		if (j->ops->drop)
			j->ops->drop(d, j);
		hostd_dir_job_free(d, j);
	}
}

static void wake_in(struct hostd_job *j, int ms)
{
	j->wake_ms = clock_now_ms() + (uint64_t)ms;
}

/* ---- HELLO: our locator, until the directory has it ---- */

#define HELLO_WARN_MS 3000   /* say so when the directory is silent this long after start */

static void hello_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_HELLO };
	m.u.hello.addr = ntohl(d->listen_addr);
	m.u.hello.data_port = d->listen_port;
	hostd_dir_job_ask(d, j, &m, DIRC_FOREVER);
}

static void hello_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	(void)r;
	if (rc == 0) {
		if (j->step)
			fprintf(stderr, "caphostd: the directory answers now\n");
		d->hello_done = 1;
		hostd_dir_job_free(d, j);
		return;
	}
	fprintf(stderr, "caphostd: directory: HELLO %s%s\n",
	        rc > 0 ? "refused: " : "failed: ", rc > 0 ? dirproto_error_name(rc) : "no answer");
	j->step = 1;
	j->wake_ms = clock_now_ms() + HELLO_RETRY_MS;
}

static void hello_wake(struct hostd *d, struct hostd_job *j)
{
	if (j->handle) {   /* still asking: a silent directory is worth one line, not an exit */
		fprintf(stderr, "caphostd: no answer from the directory yet (is capdird up, do the keys "
		        "match?); still trying\n");
		fflush(stderr);
		j->step = 1;
		return;
	}
	hello_ask(d, j);
}

static const struct hostd_job_ops hello_ops = { "hello", hello_answer, hello_wake, NULL };

void hostd_dir_hello(struct hostd *d)
{
	struct hostd_job *j = hostd_dir_job_new(d, &hello_ops);
	if (!j)
		return;
	hello_ask(d, j);
	j->wake_ms = clock_now_ms() + HELLO_WARN_MS;
}

/* ---- RELEASE: nobody runs it any more; until the directory decides ---- */

static void release_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_RELEASE };
	m.u.ipepoch.ip = ntohl(j->ip);
	m.u.ipepoch.epoch = j->epoch;
	hostd_dir_job_ask(d, j, &m, DIRC_FOREVER);
}

static void release_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	(void)r;
	if (rc < 0) {
		d->cnt.dir_errors++;
		wake_in(j, POLL_MS);   /* a socket error: the request itself never gives up */
		return;
	}
	/* Released; or STALE / NOT_AUTHORIZED / NOT_FOUND: it is not ours at that epoch any more. */
	if (rc == 0)
		d->cnt.dir_releases++;
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops release_ops = { "release", release_answer, release_ask, NULL };

void hostd_dir_release(struct hostd *d, uint32_t ip, uint32_t epoch)
{
	struct hostd_job *j = hostd_dir_job_new(d, &release_ops);
	if (!j)
		return;
	j->ip = ip;
	j->epoch = epoch;
	release_ask(d, j);
}

/* ---- STATE: how a capsule runs here; the newest report wins ---- */

static void state_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_STATE };
	m.u.state.ip = ntohl(j->ip);
	m.u.state.epoch = j->epoch;
	m.u.state.state = (uint16_t)j->state;
	j->step = 0;   /* what is in flight is what we have: nothing newer pending */
	hostd_dir_job_ask(d, j, &m, j->host ? DIRC_FOREVER : 3);
}

static void state_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	(void)r;
	if (j->step) {   /* a newer report came while this one was out */
		state_ask(d, j);
		return;
	}
	if (rc == 0)
		d->cnt.dir_states++;
	else
		d->cnt.dir_state_errors++;
	if (rc < 0 && j->host) {
		wake_in(j, POLL_MS);
		return;
	}
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops state_ops = { "state", state_answer, state_ask, NULL };

void hostd_dir_state(struct hostd *d, uint32_t ip, uint32_t epoch, int state, int until_done)
{
	for (int i = 0; i < HOSTD_MAX_JOBS; i++) {
		struct hostd_job *j = &d->jobs[i];
		if (j->ops == &state_ops && j->ip == ip) {
			j->epoch = epoch;
			j->state = (uint32_t)state;
			j->host = j->host || until_done;
			if (j->handle)
				j->step = 1;   /* asked again when the one in flight is answered */
			else if (!j->wake_ms)
				state_ask(d, j);
			return;
		}
	}
	struct hostd_job *j = hostd_dir_job_new(d, &state_ops);
	if (!j) {
		d->cnt.dir_state_errors++;
		return;
	}
	j->ip = ip;
	j->epoch = epoch;
	j->state = (uint32_t)state;
	j->host = (uint32_t)until_done;   /* here: "retry until the directory answers" */
	state_ask(d, j);
}

/* ---- give-back: a migrated capsule that never started here goes back to its source ---- */

static void return_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_MOVE };
	m.u.move.ip = ntohl(j->ip);
	m.u.move.to_host_id = j->host;
	m.u.move.expected_epoch = j->epoch;
	hostd_dir_job_ask(d, j, &m, DIRC_FOREVER);
}

static void return_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	(void)r;
	if (rc < 0) {
		wake_in(j, POLL_MS);
		return;
	}
	if (rc == 0) {
		d->cnt.dir_returns++;
		fprintf(stderr, "caphostd: capsule %s never started here: handed back to host %u\n",
		        inet_ntoa(*(struct in_addr *)&j->ip), j->host);
	}
	/* STALE / NOT_AUTHORIZED: it is not ours at that epoch (the source fenced first): fine. */
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops return_ops = { "return", return_answer, return_ask, NULL };

void hostd_dir_return(struct hostd *d, uint32_t ip, uint32_t epoch, uint32_t source)
{
	struct hostd_job *j = hostd_dir_job_new(d, &return_ops);
	if (!j)
		return;
	j->ip = ip;
	j->epoch = epoch;
	j->host = source;
	return_ask(d, j);
}

/*
 * ---- orphan: the source's caprun died in the middle of a migration ----
 *
 * Before MIG_END the target cannot hold a complete copy: the capsule died
 * with its caprun, release it.  After MIG_END the target may hold one and
 * pull it (it learns the source is gone from the closed connection): wait
 * for that, HOSTD_ORPHAN_WAIT_MS at most, then release at e (a
 * compare-and-swap: a pull that came first wins).  An entry that names us
 * at a newer epoch (our FENCE won, or the target gave it back) has no copy
 * anywhere now: release it.
 */
#define ORPHAN_LOOKUP  0
#define ORPHAN_RELEASE 1

static void orphan_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = j->step == ORPHAN_RELEASE ? DIR_T_RELEASE : DIR_T_LOOKUP };
	if (hostd_core_cap_by_ip(d, j->ip)) {   /* a caprun holds it here again (it reattached) */
		hostd_dir_job_free(d, j);
		return;
	}
	if (j->step == ORPHAN_RELEASE) {
		m.u.ipepoch.ip = ntohl(j->ip);
		m.u.ipepoch.epoch = j->epoch;
	} else {
		m.u.lookup.ip = ntohl(j->ip);
	}
	hostd_dir_job_ask(d, j, &m, j->step == ORPHAN_RELEASE ? DIRC_FOREVER : 5);
}

static void orphan_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	if (j->step == ORPHAN_RELEASE) {
		if (rc == 0) {
			d->cnt.dir_releases++;
			hostd_dir_job_free(d, j);
			return;
		}
		j->step = ORPHAN_LOOKUP;   /* refused: it changed meanwhile; look again */
		orphan_ask(d, j);
		return;
	}
	if (rc < 0) {
		wake_in(j, POLL_MS);
		return;
	}
	if (rc > 0 || r->u.entry.host_id != d->host_id) {
		hostd_dir_job_free(d, j);   /* gone, or the target (or anyone else) holds it */
		return;
	}
	uint32_t e = r->u.entry.epoch;
	if (e > j->epoch || !j->host || clock_now_ms() >= j->start_ms + HOSTD_ORPHAN_WAIT_MS) {
		j->epoch = e;
		j->step = ORPHAN_RELEASE;
		orphan_ask(d, j);
		return;
	}
	wake_in(j, POLL_MS);   /* still ours at e: the target may pull yet */
}

static const struct hostd_job_ops orphan_ops = { "orphan", orphan_answer, orphan_ask, NULL };

void hostd_dir_orphan(struct hostd *d, uint32_t ip, uint32_t epoch, int end_sent)
{
	struct hostd_job *j = hostd_dir_job_new(d, &orphan_ops);
	if (!j)
		return;
	d->cnt.dir_orphans++;
	j->ip = ip;
	j->epoch = epoch;
	j->host = (uint32_t)end_sent;   /* here: "the target may hold a complete copy" */
	orphan_ask(d, j);
}

/* ---- a host's locator (HOST_LOOKUP), into the peer table ---- */

static void host_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_HOST_LOOKUP };
	m.u.host_lookup.host_id = j->host;
	hostd_dir_job_ask(d, j, &m, 3);
}

static void host_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	struct hostd_peer *p = rc == 0 && r->u.host.host_id == j->host ? hostd_core_peer(d, j->host, 1) : NULL;
	if (p) {
		p->addr = htonl(r->u.host.addr);
		p->port = r->u.host.data_port;
	} else if (j->host == d->gw_host) {
		d->cnt.gw_lookup_errors++;   /* no answer, or the gateway has not said HELLO yet */
	}
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops host_ops = { "host", host_answer, host_ask, NULL };

void hostd_dir_host(struct hostd *d, uint32_t host_id)
{
	for (int i = 0; i < HOSTD_MAX_JOBS; i++)
		if (d->jobs[i].ops == &host_ops && d->jobs[i].host == host_id)
			return;   /* already asking */
	struct hostd_job *j = hostd_dir_job_new(d, &host_ops);
	if (!j)
		return;
	if (host_id == d->gw_host)
		d->cnt.gw_lookups++;
	j->host = host_id;
	host_ask(d, j);
}

/* Tell the directory how c runs now, so `capctl ps --all` on any host shows it.  Retried
 * until the directory has it (a newer report replaces a pending one): a gateway's hold and a
 * migration's source both go by it; the capsule goes on regardless. */
void hostd_dir_report(struct hostd *d, const struct hostd_cap *c, int state)
{
	hostd_dir_state(d, c->ip, c->epoch, state, 1);
}

/* ---- the gateway's locator, from the peer table or the directory ---- */

int hostd_dir_gateway_locator(struct hostd *d, uint32_t *addr, uint16_t *port)
{
	struct hostd_peer *p = hostd_core_peer(d, d->gw_host, 0);
	if (p && p->addr) {
		*addr = p->addr;
		*port = p->port;
		return 0;
	}
	/* Not known yet: ask the directory, once a second at most; this packet is lost
	 * (TCP retransmits), the next ones find the answer. */
	uint64_t now = clock_now_ms();
	if (!d->gw_list_ms || now - d->gw_list_ms >= 1000) {
		d->gw_list_ms = now;
		hostd_dir_host(d, d->gw_host);
	}
	return -1;
}

/*
 * ---- `list`: the directory's whole table, one capsule per line after
 * "ok N": NAME IP HOST_ID EPOCH STATE.  STATE is what the holder reported
 * to the directory; for a capsule held here whose report has not landed,
 * our own view; else "unknown". ----
 */
static void list_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_LIST };
	m.u.list.cursor = j->ip;   /* here: the page cursor */
	hostd_dir_job_ask(d, j, &m, 3);
}

static void list_reply(struct hostd_job *j, const char *head)
{
	size_t hl = strlen(head);
	/* The client waits at most a few seconds; what does not fit its socket is lost with it. */
	send(j->fd, head, hl, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (j->buf && j->len)
		send(j->fd, j->buf, j->len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void list_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	char head[96];
	if (rc) {
		snprintf(head, sizeof head, "error directory: %s\n", rc > 0 ? dirproto_error_name(rc) : "no answer");
		j->len = 0;
		list_reply(j, head);
		hostd_dir_job_free(d, j);
		return;
	}
	for (size_t i = 0; i < r->u.entries.n && j->len < LIST_ROWS_MAX - 200; i++, j->count++) {
		const struct dir_entry *e = &r->u.entries.e[i];
		struct in_addr a = { htonl(e->ip) };
		const struct hostd_cap *c = hostd_core_cap_by_ip(d, a.s_addr);
		const char *st = e->state != DIR_STATE_UNKNOWN ? dirproto_state_name(e->state)
		                 : e->host_id != d->host_id ? "unknown"
		                 : c ? hostd_core_cap_state_name(c) : "saved";
		j->len += (size_t)snprintf(j->buf + j->len, LIST_ROWS_MAX - j->len, "%s %s %u %u %s\n",
		                           e->name, inet_ntoa(a), e->host_id, e->epoch, st);
	}
	j->ip = r->u.entries.next_cursor;
	if (j->ip) {
		list_ask(d, j);
		return;
	}
	snprintf(head, sizeof head, "ok %zu\n", j->count);
	list_reply(j, head);
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops list_ops = { "list", list_answer, list_ask, NULL };

void hostd_dir_list(struct hostd *d, int fd)
{
	struct hostd_job *j = hostd_dir_job_new(d, &list_ops);
	char *rows = malloc(LIST_ROWS_MAX);
	if (!j || !rows) {
		const char *busy = "error caphostd: too busy, try again\n";
		send(fd, busy, strlen(busy), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		free(rows);
		if (j)
			hostd_dir_job_free(d, j);
		return;
	}
	j->fd = fd;
	j->buf = rows;
	list_ask(d, j);
}
