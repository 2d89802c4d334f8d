/* dirclient.c: the directory client's engine: socket, requests in flight, retransmission, reply checks, NOTIFY acknowledgement. */
#include "hosts/common/dirclient.h"
#include "hosts/common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NOTIFY_QUEUE 32
#define DIRS_MAX     8       /* directory replicas a host knows */
#define MAX_WAIT_MS  1600

/* One request in flight (or queued behind a mutating one). */
struct dirc_req {
	uint32_t handle;         /* 0 = free slot */
	uint32_t order;          /* start order: mutating requests go out oldest first */
	struct dir_msg m;        /* request_id fixed at start; seq fresh per transmission */
	int want;                /* the answer's type */
	int mutating;
	int sent;                /* transmitted at least once (a queued mutation: not yet) */
	int dir;                 /* the replica it was last sent to */
	int attempts, tries;     /* attempts 0 = forever */
	int wait_ms;
	int64_t due_ms;          /* next retransmission, or the timeout after the last */
	dirc_done_fn done;
	void *ctx;
	uint64_t cookie;
};

struct dirc {
	int fd;
	struct sockaddr_in dirs[DIRS_MAX];   /* replicas of one directory; the socket is connected to dirs[cur] */
	int ndirs, cur;
	uint32_t host_id, network_id;
	uint8_t key[DIR_KEY_LEN];
	uint64_t seq;             /* ours, strictly increasing */
	uint64_t dir_seq[DIRS_MAX];   /* highest accepted from each replica (each has its own seq) */
	uint32_t next_request, next_handle, next_order;
	int first_wait_ms, attempts;
	struct dirclient_counters cnt;
	struct dir_entry notes[NOTIFY_QUEUE];
	size_t note_head, note_count;
	struct dirc_req req[DIRC_MAX_PENDING];
};

/* "A.B.C.D[:PORT]" into sa; 0 or -1. */
static int parse_one(const char *s, size_t len, struct sockaddr_in *sa)
{
	char host[64], num[8];
	unsigned long port = DIR_PORT;
	const char *colon = memchr(s, ':', len);
	size_t hl = colon ? (size_t)(colon - s) : len;
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (colon) {
		size_t pl = len - hl - 1;
		char *end;
		if (pl == 0 || pl >= sizeof num)
			return -1;
		memcpy(num, colon + 1, pl);
		num[pl] = 0;
		errno = 0;
		port = strtoul(num, &end, 10);
		if (errno || *end || port == 0 || port > 65535)
			return -1;
	}
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

struct dirc *dirclient_open(const char *dir_addr, uint32_t host_id, const uint8_t key[DIR_KEY_LEN],
                       char *err, size_t errlen)
{
	struct sockaddr_in dirs[DIRS_MAX];
	int ndirs = 0;
	for (const char *s = dir_addr;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (ndirs == DIRS_MAX || parse_one(s, len, &dirs[ndirs])) {
			snprintf(err, errlen, "directory address '%s': want A.B.C.D[:PORT][,A.B.C.D[:PORT]...]"
			         " (at most %d)", dir_addr, DIRS_MAX);
			return NULL;
		}
		ndirs++;
		if (!comma)
			break;
		s = comma + 1;
	}
	struct sockaddr_in sa = dirs[0];
	if (host_id == 0) {
		snprintf(err, errlen, "host id 0 is the directory's own");
		return NULL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return NULL;
	}
	struct dirc *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* connect(): the kernel then passes us only the directory's datagrams. */
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa)) {
		snprintf(err, errlen, "directory %s: %s", dir_addr, strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return NULL;
	}
	memcpy(c->dirs, dirs, sizeof dirs);
	c->ndirs = ndirs;
	c->host_id = host_id;
	c->network_id = DIR_NETWORK_ID_DEFAULT;
	memcpy(c->key, key, DIR_KEY_LEN);
	/* A random start makes a reused request_id after a restart (which would
	 * get the directory's cached answer to the old request) a 2^-32 event;
	 * the directory also matches a digest of the request. */
	c->next_request = randombytes_random();
	c->first_wait_ms = 200;
	c->attempts = 5;
	return c;
}

void dirclient_close(struct dirc *c)
{
	if (!c)
		return;
	close(c->fd);
	sodium_memzero(c, sizeof *c);
	free(c);
}

void dirclient_set_timeout(struct dirc *c, int first_wait_ms, int attempts)
{
	c->first_wait_ms = first_wait_ms > 0 ? first_wait_ms : 1;
	c->attempts = attempts > 0 ? attempts : 1;
}

void dirclient_set_network_id(struct dirc *c, uint32_t network_id) { c->network_id = network_id; }
int dirclient_fd(const struct dirc *c) { return c->fd; }
void dirclient_counters(const struct dirc *c, struct dirclient_counters *out) { *out = c->cnt; }
int dirclient_replica(const struct dirc *c) { return c->cur; }

int dirclient_reply_code(const struct dir_msg *reply)
{
	return reply->type == DIR_T_ERROR ? reply->u.error.code : 0;
}

static int send_msg(struct dirc *c, struct dir_msg *m)
{
	uint8_t buf[DIR_MSG_MAX];
	m->host_id = c->host_id;
	m->network_id = c->network_id;
	m->seq = dirproto_next_seq(&c->seq);
	int n = dirproto_encode(m, c->key, buf, sizeof buf);
	if (n < 0)
		return DIRC_ERR_ARG;
	c->cnt.sent++;
	if (send(c->fd, buf, (size_t)n, 0) < 0 && errno != ECONNREFUSED)
		return DIRC_ERR_IO;   /* ECONNREFUSED: directory not up (yet); retrying is the answer */
	return 0;
}

static void take_notify(struct dirc *c, const struct dir_msg *m)
{
	struct dir_msg ack = { .type = DIR_T_NOTIFY_ACK, .request_id = m->request_id };
	ack.u.ipepoch.ip = m->u.entry.ip;
	ack.u.ipepoch.epoch = m->u.entry.epoch;
	send_msg(c, &ack);
	if (c->note_count == NOTIFY_QUEUE) {
		c->note_head = (c->note_head + 1) % NOTIFY_QUEUE;   /* drop the oldest */
		c->note_count--;
		c->cnt.notify_overflow++;
	}
	c->notes[(c->note_head + c->note_count) % NOTIFY_QUEUE] = m->u.entry;
	c->note_count++;
	c->cnt.notifies++;
}

/* ---- requests ---- */

static int answer_type(int type)
{
	switch (type) {
	case DIR_T_HELLO:       return DIR_T_HELLO_OK;
	case DIR_T_CREATE:      return DIR_T_CREATED;
	case DIR_T_MOVE:        return DIR_T_MOVED;
	case DIR_T_LOOKUP:      return DIR_T_ENTRY;
	case DIR_T_RELEASE:     return DIR_T_RELEASED;
	case DIR_T_LIST:        return DIR_T_ENTRIES;
	case DIR_T_STATS:       return DIR_T_STATS_REPLY;
	case DIR_T_STATE:       return DIR_T_ENTRY;
	case DIR_T_HOST_LOOKUP: return DIR_T_HOST;
	}
	return 0;
}

/* The directory's retry cache holds one mutating request per host: these go one at a time. */
static int is_mutating(int type)
{
	return type == DIR_T_HELLO || type == DIR_T_CREATE || type == DIR_T_MOVE ||
	       type == DIR_T_RELEASE;
}

/* Is an older mutating request than r still pending?  Then r waits its turn. */
static int blocked(const struct dirc *c, const struct dirc_req *r)
{
	if (!r->mutating)
		return 0;
	for (size_t i = 0; i < DIRC_MAX_PENDING; i++) {
		const struct dirc_req *o = &c->req[i];
		if (o->handle && o != r && o->mutating && (int32_t)(o->order - r->order) < 0)
			return 1;
	}
	return 0;
}

/*
 * Failover: a retransmission means the replica it went to did not answer
 * in time; with several replicas, the retry goes to the next one (which
 * then stays current).  Safe for mutating requests too: the retry cache
 * and the seq are in the shared store, so the retry is answered from the
 * cache if the first replica did commit it.
 */
static void next_replica(struct dirc *c)
{
	c->cur = (c->cur + 1) % c->ndirs;
	if (connect(c->fd, (const struct sockaddr *)&c->dirs[c->cur], sizeof c->dirs[0]) == 0)
		c->cnt.failovers++;
}

static void transmit(struct dirc *c, struct dirc_req *r, int64_t now)
{
	if (r->sent)
		c->cnt.retries++;
	if (r->sent && c->ndirs > 1 && r->dir == c->cur)
		next_replica(c);
	r->dir = c->cur;
	r->sent = 1;
	r->tries++;
	send_msg(c, &r->m);   /* a failed send is a lost datagram: the next attempt retries */
	r->due_ms = now + r->wait_ms;
	r->wait_ms = r->wait_ms * 2 > MAX_WAIT_MS ? MAX_WAIT_MS : r->wait_ms * 2;
}

static void finish(struct dirc *c, struct dirc_req *r, int rc, const struct dir_msg *reply)
{
	dirc_done_fn done = r->done;
	void *ctx = r->ctx;
	uint64_t cookie = r->cookie;
	int was_mutating = r->mutating;
	memset(r, 0, sizeof *r);
	/* The next mutating request in line goes out now, before the callback can start more. */
	if (was_mutating) {
		struct dirc_req *next = NULL;
		for (size_t i = 0; i < DIRC_MAX_PENDING; i++) {
			struct dirc_req *o = &c->req[i];
			if (o->handle && o->mutating && !o->sent &&
			    (!next || (int32_t)(o->order - next->order) < 0))
				next = o;
		}
		if (next)
			transmit(c, next, clock_now_ms());
	}
	if (done)
		done(ctx, cookie, rc, reply);
}

uint32_t dirclient_start(struct dirc *c, const struct dir_msg *m, int attempts, dirc_done_fn done,
                    void *ctx, uint64_t cookie, int *rc)
{
	int want = answer_type(m->type), dummy;
	struct dirc_req *r = NULL;
	if (!rc)
		rc = &dummy;
	if (!want) {
		*rc = DIRC_ERR_ARG;
		return 0;
	}
	for (size_t i = 0; i < DIRC_MAX_PENDING && !r; i++)
		if (!c->req[i].handle)
			r = &c->req[i];
	if (!r) {
		*rc = DIRC_ERR_FULL;
		return 0;
	}
	memset(r, 0, sizeof *r);
	r->m = *m;
	/* Encode once now: a request the codec refuses fails here, not on every retry. */
	uint8_t probe[DIR_MSG_MAX];
	r->m.host_id = c->host_id;
	r->m.network_id = c->network_id;
	r->m.request_id = c->next_request++;
	if (dirproto_encode(&r->m, c->key, probe, sizeof probe) < 0) {
		memset(r, 0, sizeof *r);
		*rc = DIRC_ERR_ARG;
		return 0;
	}
	if (++c->next_handle == 0)
		c->next_handle = 1;
	r->handle = c->next_handle;
	r->order = c->next_order++;
	r->want = want;
	r->mutating = is_mutating(m->type);
	r->attempts = attempts < 0 ? c->attempts : attempts;
	r->wait_ms = c->first_wait_ms;
	r->done = done;
	r->ctx = ctx;
	r->cookie = cookie;
	if (!blocked(c, r))
		transmit(c, r, clock_now_ms());
	*rc = 0;
	return r->handle;
}

void dirclient_cancel(struct dirc *c, uint32_t handle)
{
	for (size_t i = 0; handle && i < DIRC_MAX_PENDING; i++)
		if (c->req[i].handle == handle) {
			c->req[i].done = NULL;   /* finish frees the slot and lets the next mutation go */
			finish(c, &c->req[i], DIRC_ERR_TIMEOUT, NULL);
			return;
		}
}

size_t dirclient_pending(const struct dirc *c)
{
	size_t n = 0;
	for (size_t i = 0; i < DIRC_MAX_PENDING; i++)
		n += c->req[i].handle != 0;
	return n;
}

void dirclient_input(struct dirc *c)
{
	for (;;) {
		uint8_t buf[DIR_MSG_MAX + 1];
		struct dir_msg m;
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0)
			return;   /* EAGAIN: all read; ECONNREFUSED: directory down, the retries cope */
		if (dirproto_decode(buf, (size_t)n, c->key, &m) != DIR_OK || m.host_id != DIR_DIRECTORY_ID ||
		    m.network_id != c->network_id) {
			c->cnt.drop_invalid++;
			continue;
		}
		if (m.seq <= c->dir_seq[c->cur]) {
			c->cnt.drop_replay++;
			continue;
		}
		c->dir_seq[c->cur] = m.seq;
		if (m.type == DIR_T_NOTIFY) {
			take_notify(c, &m);
			continue;
		}
		struct dirc_req *r = NULL;
		for (size_t i = 0; i < DIRC_MAX_PENDING && !r; i++)
			if (c->req[i].handle && c->req[i].sent && c->req[i].m.request_id == m.request_id &&
			    (m.type == c->req[i].want || m.type == DIR_T_ERROR))
				r = &c->req[i];
		if (!r) {
			c->cnt.drop_stray++;   /* e.g. a late answer to an earlier attempt */
			continue;
		}
		finish(c, r, dirclient_reply_code(&m), &m);
	}
}

int dirclient_tick(struct dirc *c)
{
	int64_t now = clock_now_ms(), next = -1;
	for (size_t i = 0; i < DIRC_MAX_PENDING; i++) {
		struct dirc_req *r = &c->req[i];
		if (!r->handle || !r->sent)
			continue;
		if (r->due_ms <= now) {
			if (r->attempts && r->tries >= r->attempts) {
				c->cnt.timeouts++;
				finish(c, r, DIRC_ERR_TIMEOUT, NULL);
				continue;
			}
			transmit(c, r, now);
		}
		if (r->handle && (next < 0 || r->due_ms - now < next))
			next = r->due_ms - now;
	}
	return (int)next;
}

/* ---- NOTIFY intake ---- */

int dirclient_next_notify(struct dirc *c, struct dir_entry *out, int timeout_ms)
{
	int64_t deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		dirclient_input(c);
		if (c->note_count) {
			*out = c->notes[c->note_head];
			c->note_head = (c->note_head + 1) % NOTIFY_QUEUE;
			c->note_count--;
			return 1;
		}
		int64_t left = deadline - clock_now_ms();
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms < 0 ? -1 : (int)left) < 0 && errno != EINTR)
			return DIRC_ERR_IO;
	}
}
