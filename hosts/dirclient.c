/* dirclient.c: the host daemon's directory client: requests, retries, reply checks, NOTIFY acknowledgement. */
#include "hosts/dirclient.h"

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
#define MAX_WAIT_MS  1600

struct dirc {
	int fd;
	uint32_t host_id, network_id;
	uint8_t key[DIR_KEY_LEN];
	uint64_t seq;             /* ours, strictly increasing */
	uint64_t dir_seq;         /* highest accepted from the directory */
	uint32_t next_request;
	int first_wait_ms, attempts;
	struct dirc_counters cnt;
	struct dir_entry notes[NOTIFY_QUEUE];
	size_t note_head, note_count;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct dirc *dirc_open(const char *dir_addr, uint32_t host_id, const uint8_t key[DIR_KEY_LEN],
                       char *err, size_t errlen)
{
	char host[64];
	unsigned long port = DIR_PORT;
	const char *colon = strrchr(dir_addr, ':');
	size_t hl = colon ? (size_t)(colon - dir_addr) : strlen(dir_addr);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	if (colon) {
		char *end;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || !colon[1] || port == 0 || port > 65535)
			hl = 0;
	}
	if (hl > 0 && hl < sizeof host) {
		memcpy(host, dir_addr, hl);
		host[hl] = 0;
	}
	if (hl == 0 || hl >= sizeof host || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "directory address '%s': want A.B.C.D[:PORT]", dir_addr);
		return NULL;
	}
	if (host_id == 0) {
		snprintf(err, errlen, "host id 0 is the directory's own");
		return NULL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialize");
		return NULL;
	}
	sa.sin_port = htons((uint16_t)port);
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

void dirc_close(struct dirc *c)
{
	if (!c)
		return;
	close(c->fd);
	sodium_memzero(c, sizeof *c);
	free(c);
}

void dirc_set_timeout(struct dirc *c, int first_wait_ms, int attempts)
{
	c->first_wait_ms = first_wait_ms > 0 ? first_wait_ms : 1;
	c->attempts = attempts > 0 ? attempts : 1;
}

void dirc_set_network_id(struct dirc *c, uint32_t network_id) { c->network_id = network_id; }
int dirc_fd(const struct dirc *c) { return c->fd; }
void dirc_counters(const struct dirc *c, struct dirc_counters *out) { *out = c->cnt; }

static int send_msg(struct dirc *c, struct dir_msg *m)
{
	uint8_t buf[DIR_MSG_MAX];
	m->host_id = c->host_id;
	m->network_id = c->network_id;
	m->seq = dir_next_seq(&c->seq);
	int n = dir_encode(m, c->key, buf, sizeof buf);
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

/* Reads every waiting datagram; a reply to request_id of type want (or
 * ERROR) lands in *reply and returns 1.  NOTIFYs are acked and queued. */
static int drain(struct dirc *c, uint32_t request_id, int want, struct dir_msg *reply)
{
	for (;;) {
		uint8_t buf[DIR_MSG_MAX + 1];
		struct dir_msg m;
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED ||
			       errno == EINTR ? 0 : DIRC_ERR_IO;
		if (dir_decode(buf, (size_t)n, c->key, &m) != DIR_OK || m.host_id != DIR_DIRECTORY_ID ||
		    m.network_id != c->network_id) {
			c->cnt.drop_invalid++;
			continue;
		}
		if (m.seq <= c->dir_seq) {
			c->cnt.drop_replay++;
			continue;
		}
		c->dir_seq = m.seq;
		if (m.type == DIR_T_NOTIFY) {
			take_notify(c, &m);
		} else if (want && m.request_id == request_id && (m.type == want || m.type == DIR_T_ERROR)) {
			*reply = m;
			return 1;
		} else {
			c->cnt.drop_stray++;   /* e.g. a late answer to an earlier attempt */
		}
	}
}

/* Sends m, waits for its answer, retransmits (new seq, same request_id)
 * with doubling waits.  0 = *reply set, < 0 = DIRC_ERR_*. */
static int request(struct dirc *c, struct dir_msg *m, int want, struct dir_msg *reply)
{
	m->request_id = c->next_request++;
	int wait = c->first_wait_ms;
	for (int attempt = 0; attempt < c->attempts; attempt++) {
		if (attempt)
			c->cnt.retries++;
		int rc = send_msg(c, m);
		if (rc < 0)
			return rc;
		int64_t deadline = now_ms() + wait;
		for (;;) {
			rc = drain(c, m->request_id, want, reply);
			if (rc != 0)
				return rc > 0 ? 0 : rc;
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
				return DIRC_ERR_IO;
		}
		wait = wait * 2 > MAX_WAIT_MS ? MAX_WAIT_MS : wait * 2;
	}
	return DIRC_ERR_TIMEOUT;
}

int dirc_hello(struct dirc *c, uint32_t addr, uint16_t data_port)
{
	struct dir_msg m = { .type = DIR_T_HELLO }, r;
	if (!addr || !data_port)
		return DIRC_ERR_ARG;
	m.u.hello.addr = addr;
	m.u.hello.data_port = data_port;
	int rc = request(c, &m, DIR_T_HELLO_OK, &r);
	return rc ? rc : r.type == DIR_T_ERROR ? r.u.error.code : 0;
}

int dirc_create(struct dirc *c, const char *name, uint32_t want_ip, uint32_t *ip, uint32_t *epoch)
{
	struct dir_msg m = { .type = DIR_T_CREATE }, r;
	if (!name || !dir_name_valid(name))
		return DIRC_ERR_ARG;
	m.u.create.ip = want_ip;
	snprintf(m.u.create.name, sizeof m.u.create.name, "%s", name);
	int rc = request(c, &m, DIR_T_CREATED, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	*ip = r.u.ipepoch.ip;
	*epoch = r.u.ipepoch.epoch;
	return 0;
}

int dirc_move(struct dirc *c, uint32_t ip, uint32_t to_host, uint32_t expected_epoch,
              uint32_t *epoch)
{
	struct dir_msg m = { .type = DIR_T_MOVE }, r;
	if (!ip || !to_host || !expected_epoch)
		return DIRC_ERR_ARG;
	m.u.move.ip = ip;
	m.u.move.to_host_id = to_host;
	m.u.move.expected_epoch = expected_epoch;
	int rc = request(c, &m, DIR_T_MOVED, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR) {
		*epoch = r.u.error.epoch;
		return r.u.error.code;
	}
	if (r.u.ipepoch.ip != ip)
		return DIRC_ERR_TIMEOUT;   /* cannot happen with an honest directory */
	*epoch = r.u.ipepoch.epoch;
	return 0;
}

int dirc_lookup(struct dirc *c, uint32_t ip, int subscribe, struct dir_entry *out)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP }, r;
	if (!ip)
		return DIRC_ERR_ARG;
	m.u.lookup.ip = ip;
	m.u.lookup.flags = subscribe ? DIR_LOOKUP_SUBSCRIBE : 0;
	int rc = request(c, &m, DIR_T_ENTRY, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	*out = r.u.entry;
	return 0;
}

int dirc_release(struct dirc *c, uint32_t ip, uint32_t epoch, uint32_t *cur_epoch)
{
	struct dir_msg m = { .type = DIR_T_RELEASE }, r;
	if (!ip || !epoch)
		return DIRC_ERR_ARG;
	m.u.ipepoch.ip = ip;
	m.u.ipepoch.epoch = epoch;
	int rc = request(c, &m, DIR_T_RELEASED, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR) {
		if (cur_epoch)
			*cur_epoch = r.u.error.epoch;
		return r.u.error.code;
	}
	return 0;
}

int dirc_list(struct dirc *c, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
              uint32_t *next)
{
	struct dir_msg m = { .type = DIR_T_LIST }, r;
	m.u.list.cursor = cursor;
	int rc = request(c, &m, DIR_T_ENTRIES, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	*n = r.u.entries.n < max ? r.u.entries.n : max;
	memcpy(out, r.u.entries.e, *n * sizeof *out);
	/* a short caller buffer resumes where it stopped */
	*next = *n < r.u.entries.n ? r.u.entries.e[*n].ip : r.u.entries.next_cursor;
	return 0;
}

int dirc_state(struct dirc *c, uint32_t ip, uint32_t epoch, int state, struct dir_entry *out)
{
	struct dir_msg m = { .type = DIR_T_STATE }, r;
	if (!ip || !epoch || state <= DIR_STATE_UNKNOWN || state >= DIR_STATE_COUNT)
		return DIRC_ERR_ARG;
	m.u.state.ip = ip;
	m.u.state.epoch = epoch;
	m.u.state.state = (uint16_t)state;
	int rc = request(c, &m, DIR_T_ENTRY, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	if (out)
		*out = r.u.entry;
	return 0;
}

int dirc_host_lookup(struct dirc *c, uint32_t host_id, uint32_t *addr, uint16_t *data_port)
{
	struct dir_msg m = { .type = DIR_T_HOST_LOOKUP }, r;
	if (!host_id)
		return DIRC_ERR_ARG;
	m.u.host_lookup.host_id = host_id;
	int rc = request(c, &m, DIR_T_HOST, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	if (r.u.host.host_id != host_id)
		return DIRC_ERR_TIMEOUT;   /* cannot happen with an honest directory */
	*addr = r.u.host.addr;
	*data_port = r.u.host.data_port;
	return 0;
}

int dirc_stats(struct dirc *c, uint64_t *v, size_t max, size_t *n)
{
	struct dir_msg m = { .type = DIR_T_STATS }, r;
	int rc = request(c, &m, DIR_T_STATS_REPLY, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR)
		return r.u.error.code;
	*n = r.u.stats.count < max ? r.u.stats.count : max;
	memcpy(v, r.u.stats.v, *n * sizeof *v);
	return 0;
}

int dirc_next_notify(struct dirc *c, struct dir_entry *out, int timeout_ms)
{
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		struct dir_msg unused;
		int rc = drain(c, 0, 0, &unused);
		if (rc < 0)
			return rc;
		if (c->note_count) {
			*out = c->notes[c->note_head];
			c->note_head = (c->note_head + 1) % NOTIFY_QUEUE;
			c->note_count--;
			return 1;
		}
		int64_t left = deadline - now_ms();
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms < 0 ? -1 : (int)left) < 0 && errno != EINTR)
			return DIRC_ERR_IO;
	}
}
