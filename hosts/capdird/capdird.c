/* capdird.c: the directory service: hands out capsule IPs, records (ip -> host, epoch), authenticates every host. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hosts/capdird/dirdb_etcd.h"
#include "hosts/capdird/dirstore.h"
#include "hosts/formats/dirproto.h"
#include "hosts/common/clock.h"
#include "hosts/common/cli.h"
#include "hosts/common/ipv4.h"

#define ST(op, ...) S.st.ops->op(S.st.s, __VA_ARGS__)
#define ST0(op)     S.st.ops->op(S.st.s)
#define CONFLICT_TRIES 8      /* etcd: runs of one request that lost a race to another replica */
#define NOTIFY_MAX      256     /* NOTIFYs awaiting an ACK; beyond that the oldest is given up */
#define NOTIFY_TRIES    5
#define NOTIFY_RETRY_MS 200

struct host_key {
	uint32_t id;
	uint8_t  key[DIR_KEY_LEN];
	uint64_t last_seq;      /* mirror of hosts.last_seq, updated only after a commit */
};

struct pending_notify {
	int      used;
	uint32_t host;
	uint32_t ip;
	uint32_t request_id;
	int      tries;
	uint64_t next_ms;
	uint8_t  buf[DIR_MSG_MAX];
	size_t   len;
	struct sockaddr_in to;
};

static struct {
	int fd;
	struct dir_store st;        /* SQLite (--db) or etcd (--etcd): dirstore.h */
	const char *replica;        /* --listen, as this replica names itself in etcd */
	struct { uint32_t ip, epoch, host, requester; } recent[64];   /* changes made here */
	unsigned nrecent;
	uint32_t network_id;
	struct host_key *hosts;
	size_t nhosts;
	uint64_t stats[DIR_S_COUNT];
	uint64_t seq;               /* our own anti-replay sequence */
	uint32_t notify_id;
	struct pending_notify pend[NOTIFY_MAX];
} S;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static struct host_key *find_host(uint32_t id)
{
	for (size_t i = 0; i < S.nhosts; i++)
		if (S.hosts[i].id == id)
			return &S.hosts[i];
	return NULL;
}

static void send_to(const uint8_t *buf, size_t len, const struct sockaddr_in *to)
{
	/* UDP: a lost datagram is the client's retry to make, so errors are not fatal. */
	(void)sendto(S.fd, buf, len, 0, (const struct sockaddr *)to, sizeof *to);
}

static int error_stat(int code)
{
	switch (code) {
	case DIR_E_NOT_FOUND: return DIR_S_ERR_NOT_FOUND;
	case DIR_E_IP_IN_USE: return DIR_S_ERR_IP_IN_USE;
	case DIR_E_NO_FREE_IP: return DIR_S_ERR_NO_FREE_IP;
	case DIR_E_STALE_EPOCH: return DIR_S_ERR_STALE_EPOCH;
	case DIR_E_NOT_AUTHORIZED: return DIR_S_ERR_NOT_AUTHORIZED;
	default: return DIR_S_ERR_BAD_REQUEST;
	}
}

static void set_error(struct dir_msg *r, int code, uint32_t epoch)
{
	r->type = DIR_T_ERROR;
	r->u.error.code = (uint16_t)code;
	r->u.error.epoch = epoch;
	S.stats[error_stat(code)]++;
}

/* ---- NOTIFY: told to every subscriber but the host that made the change ---- */

static void notify_send(struct pending_notify *p)
{
	struct host_key *hk = find_host(p->host);
	if (!hk || dirproto_reseal(p->buf, p->len, dirproto_next_seq(&S.seq), hk->key) != DIR_OK)
		return;
	send_to(p->buf, p->len, &p->to);
	p->tries++;
	p->next_ms = clock_now_ms() + NOTIFY_RETRY_MS;
	S.stats[DIR_S_NOTIFY_SENT]++;
}

/* Queues a NOTIFY of e to host (replacing an older one for the same
 * capsule: only the newest state matters).  Sent after the commit. */
static void notify_queue(uint32_t host, const struct dir_entry *e)
{
	struct dir_host h;
	struct host_key *hk = find_host(host);
	if (!hk || ST(host_get, host, &h) != 0 || h.ctl_port == 0)
		return;
	struct pending_notify *slot = NULL, *oldest = NULL;
	for (int i = 0; i < NOTIFY_MAX; i++) {
		struct pending_notify *p = &S.pend[i];
		if (p->used && p->host == host && p->ip == e->ip)
			slot = p;
		else if (!p->used && !slot)
			slot = p;
		else if (p->used && (!oldest || p->next_ms < oldest->next_ms))
			oldest = p;
	}
	if (!slot) {
		slot = oldest;
		S.stats[DIR_S_NOTIFY_GIVEN_UP]++;
	}
	struct dir_msg m = { .type = DIR_T_NOTIFY, .host_id = DIR_DIRECTORY_ID,
	                     .network_id = S.network_id, .request_id = ++S.notify_id };
	m.u.entry = *e;
	int n = dirproto_encode(&m, hk->key, slot->buf, sizeof slot->buf);
	if (n < 0)
		return;
	slot->used = 1;
	slot->host = host;
	slot->ip = e->ip;
	slot->request_id = m.request_id;
	slot->tries = 0;
	slot->next_ms = 0;     /* due now */
	slot->len = (size_t)n;
	memset(&slot->to, 0, sizeof slot->to);
	slot->to.sin_family = AF_INET;
	slot->to.sin_addr.s_addr = htonl(h.ctl_addr);
	slot->to.sin_port = htons(h.ctl_port);
}

static void notify_subscribers(uint32_t requester, const struct dir_entry *e)
{
	uint32_t subs[64];
	size_t n = 0;
	if (S.st.ops->change_fd) {
		/* etcd: every replica learns the change from its watch (on_change),
		 * this one included; remember who made it, so as not to tell them */
		unsigned i = S.nrecent++ % (sizeof S.recent / sizeof S.recent[0]);
		S.recent[i].ip = e->ip;
		S.recent[i].epoch = e->epoch;
		S.recent[i].host = e->host_id;
		S.recent[i].requester = requester;
		return;
	}
	if (ST(subscribers, e->ip, subs, sizeof subs / sizeof subs[0], &n))
		return;
	for (size_t i = 0; i < n; i++)
		if (subs[i] != requester)
			notify_queue(subs[i], e);
}

/* A change seen by the store's watch (etcd), made through any replica:
 * NOTIFY the hosts that subscribed here, but not the one that made it here. */
static void on_change(const struct dir_change *c)
{
	uint32_t subs[64], requester = 0;
	size_t n = 0;
	for (size_t i = 0; i < sizeof S.recent / sizeof S.recent[0]; i++)
		if (S.recent[i].ip == c->e.ip && S.recent[i].epoch == c->e.epoch &&
		    S.recent[i].host == c->e.host_id)
			requester = S.recent[i].requester;
	if (ST(subscribers, c->e.ip, subs, sizeof subs / sizeof subs[0], &n))
		return;
	for (size_t i = 0; i < n; i++)
		if (subs[i] != requester)
			notify_queue(subs[i], &c->e);
}

/* Sends what is due, gives up after NOTIFY_TRIES; returns ms until the next. */
static int notify_tick(void)
{
	uint64_t now = clock_now_ms(), next = UINT64_MAX;
	for (int i = 0; i < NOTIFY_MAX; i++) {
		struct pending_notify *p = &S.pend[i];
		if (!p->used)
			continue;
		if (p->next_ms <= now) {
			if (p->tries >= NOTIFY_TRIES) {
				p->used = 0;
				S.stats[DIR_S_NOTIFY_GIVEN_UP]++;
				continue;
			}
			notify_send(p);
		}
		if (p->next_ms < next)
			next = p->next_ms;
	}
	return next == UINT64_MAX ? -1 : (int)(next > now ? next - now : 0);
}

static void notify_acked(uint32_t host, uint32_t request_id)
{
	for (int i = 0; i < NOTIFY_MAX; i++)
		if (S.pend[i].used && S.pend[i].host == host && S.pend[i].request_id == request_id) {
			S.pend[i].used = 0;
			S.stats[DIR_S_NOTIFY_ACKED]++;
		}
}

/* ---- requests ---- */

/* Executes one authenticated, fresh request inside the open transaction;
 * fills the reply (type 0 = no reply).  Returns DIR_DB_FAIL on a DB error. */
static int execute(const struct dir_msg *m, struct dir_msg *r)
{
	uint32_t epoch = 0;
	int rc = 0;
	switch (m->type) {
	case DIR_T_HELLO:
		rc = ST(host_set_locator, m->host_id, m->u.hello.addr, m->u.hello.data_port);
		r->type = DIR_T_HELLO_OK;
		break;
	case DIR_T_CREATE:
		rc = ST(create, m->host_id, m->u.create.name, m->u.create.ip, &r->u.entry);
		if (rc == 0) {
			uint32_t ip = r->u.entry.ip, ep = r->u.entry.epoch;
			r->type = DIR_T_CREATED;
			r->u.ipepoch.ip = ip;
			r->u.ipepoch.epoch = ep;
			S.stats[DIR_S_CREATES]++;
		}
		break;
	case DIR_T_MOVE:
		rc = ST(move, m->host_id, m->u.move.ip, m->u.move.to_host_id,
		                 m->u.move.expected_epoch, &r->u.entry, &epoch);
		if (rc == 0) {
			notify_subscribers(m->host_id, &r->u.entry);
			uint32_t ip = r->u.entry.ip;
			r->type = DIR_T_MOVED;
			r->u.ipepoch.ip = ip;
			r->u.ipepoch.epoch = epoch;
			S.stats[DIR_S_MOVES]++;
		}
		break;
	case DIR_T_LOOKUP:
		rc = ST(lookup, m->u.lookup.ip, &r->u.entry);
		if (rc == 0 && (m->u.lookup.flags & DIR_LOOKUP_SUBSCRIBE))
			rc = ST(subscribe, m->u.lookup.ip, m->host_id);
		if (rc == 0) {
			r->type = DIR_T_ENTRY;
			S.stats[DIR_S_LOOKUPS]++;
		}
		break;
	case DIR_T_RELEASE: {
		struct dir_entry gone;
		rc = ST(lookup, m->u.ipepoch.ip, &gone);
		if (rc == 0 && gone.host_id == m->host_id && gone.epoch == m->u.ipepoch.epoch) {
			gone.host_id = 0;      /* NOTIFY with host 0: the capsule is gone */
			gone.host_addr = 0;
			gone.data_port = 0;
			notify_subscribers(m->host_id, &gone);
		}
		if (rc == 0)
			rc = ST(release, m->host_id, m->u.ipepoch.ip, m->u.ipepoch.epoch, &epoch);
		if (rc == 0) {
			r->type = DIR_T_RELEASED;
			r->u.ipepoch = m->u.ipepoch;
			S.stats[DIR_S_RELEASES]++;
		}
		break;
	}
	case DIR_T_LIST: {
		size_t n = 0;
		rc = ST(list, m->u.list.cursor, r->u.entries.e, DIR_LIST_MAX, &n,
		                 &r->u.entries.next_cursor);
		r->u.entries.n = (uint16_t)n;
		r->type = DIR_T_ENTRIES;
		break;
	}
	case DIR_T_STATS:
		r->type = DIR_T_STATS_REPLY;
		r->u.stats.count = DIR_S_COUNT;
		S.stats[DIR_S_RX_OK]++;    /* count this one before the snapshot */
		memcpy(r->u.stats.v, S.stats, sizeof S.stats);
		S.stats[DIR_S_RX_OK]--;
		break;
	case DIR_T_NOTIFY_ACK:
		notify_acked(m->host_id, m->request_id);
		break;
	case DIR_T_STATE:
		/* not a mutating request for the retry cache: reporting the same state twice is harmless */
		rc = ST(set_state, m->host_id, m->u.state.ip, m->u.state.epoch, m->u.state.state,
		                      &r->u.entry, &epoch);
		if (rc == 0) {
			r->type = DIR_T_ENTRY;
			S.stats[DIR_S_STATES]++;
		}
		break;
	case DIR_T_HOST_LOOKUP: {
		/* the locator a host announced in HELLO: how others find the gateway before it talks */
		struct dir_host h;
		rc = find_host(m->u.host_lookup.host_id) ? ST(host_get, m->u.host_lookup.host_id, &h)
		                                         : DIR_E_NOT_FOUND;
		if (rc == 0 && (!h.addr || !h.data_port))
			rc = DIR_E_NOT_FOUND;   /* known, but it never said HELLO */
		if (rc == 0) {
			r->type = DIR_T_HOST;
			r->u.host.host_id = h.id;
			r->u.host.addr = h.addr;
			r->u.host.data_port = h.data_port;
			S.stats[DIR_S_HOST_LOOKUPS]++;
		}
		break;
	}
	default:
		rc = DIR_E_BAD_REQUEST;
	}
	if (rc < 0)
		return DIR_DB_FAIL;
	if (rc > 0)
		set_error(r, rc, epoch);
	return 0;
}

static int mutating(int type)
{
	return type == DIR_T_HELLO || type == DIR_T_CREATE || type == DIR_T_MOVE ||
	       type == DIR_T_RELEASE;
}

/* Whether what a request changes must be on disk before its answer: a read's seq,
 * counters and subscription need not (a replayed read changes nothing; a lost
 * subscription is covered by the data plane's stale-epoch redirect). */
static int durable(int type)
{
	return mutating(type) || type == DIR_T_STATE;
}

/* One transaction: accept the seq, run (or replay the cached answer to)
 * the request, save counters, COMMIT; only then reply and notify.
 * Returns 1 when the request must run again (etcd: another replica's
 * commit changed what it read), else 0. */
static int serve_once(struct host_key *hk, const struct dir_msg *m, int body_ok,
                      const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
	int crc;
	uint64_t saved[DIR_S_COUNT];
	memcpy(saved, S.stats, sizeof saved);
	uint8_t out[DIR_MSG_MAX], digest[DIR_DIGEST_LEN], cached_type;
	size_t out_len = 0;
	struct dir_msg r = { .host_id = DIR_DIRECTORY_ID, .network_id = S.network_id,
	                     .request_id = m->request_id };
	if (m->type == DIR_T_MOVE)
		clock_trace("dir move-in");
	if (durable(m->type) ? ST0(begin) : ST0(begin_read))
		goto db_fail;
	if (ST(host_set_seq, hk->id, m->seq, ntohl(from->sin_addr.s_addr),
	                        ntohs(from->sin_port)))
		goto db_fail;
	if (!body_ok) {
		set_error(&r, DIR_E_BAD_REQUEST, 0);
	} else if (mutating(m->type)) {
		/* digest of type + body: a retry of the same request, whatever its seq */
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, sizeof digest);
		crypto_generichash_update(&st, buf + 5, 1);
		crypto_generichash_update(&st, buf + DIR_HDR_LEN, len - DIR_HDR_LEN - DIR_MAC_LEN);
		crypto_generichash_final(&st, digest, sizeof digest);
		int c = ST(reply_get, hk->id, m->request_id, digest, &cached_type, out,
		                         sizeof out, &out_len);
		if (c < 0)
			goto db_fail;
		if (c == 1) {
			S.stats[DIR_S_RETRIES_ANSWERED]++;
		} else {
			if (execute(m, &r))
				goto db_fail;
			int n = dirproto_encode(&r, hk->key, out, sizeof out);
			if (n < 0)
				goto db_fail;
			out_len = (size_t)n;
			if (ST(reply_put, hk->id, m->request_id, digest, r.type, out, out_len))
				goto db_fail;
			r.type = 0;   /* already encoded */
		}
	} else if (execute(m, &r)) {
		goto db_fail;
	}
	S.stats[DIR_S_RX_OK]++;
	if (ST(counters_save, S.stats, DIR_S_COUNT))
		goto db_fail;
	crc = ST0(commit);
	if (crc == DIR_DB_CONFLICT || crc == DIR_DB_REPLAY) {
		ST0(rollback);
		memcpy(S.stats, saved, sizeof saved);   /* nothing of this run happened */
		if (crc == DIR_DB_REPLAY)
			S.stats[DIR_S_DROP_REPLAY]++;
		return crc == DIR_DB_CONFLICT;
	}
	if (crc)
		goto db_fail;
	hk->last_seq = m->seq;
	if (r.type) {
		int n = dirproto_encode(&r, hk->key, out, sizeof out);
		out_len = n > 0 ? (size_t)n : 0;
	}
	if (m->type == DIR_T_MOVE)
		clock_trace("dir move-committed");
	if (out_len && dirproto_reseal(out, out_len, dirproto_next_seq(&S.seq), hk->key) == DIR_OK)
		send_to(out, out_len, from);
	notify_tick();
	return 0;
db_fail:
	/* Nothing acknowledged: roll back, forget queued NOTIFYs of this change,
	 * stay silent; the client retries. */
	fprintf(stderr, "capdird: database: %s\n", ST0(errmsg));
	ST0(rollback);
	for (int i = 0; i < NOTIFY_MAX; i++)
		if (S.pend[i].used && S.pend[i].tries == 0)
			S.pend[i].used = 0;
	S.stats[DIR_S_DB_ERRORS]++;
	return 0;
}

static void serve(struct host_key *hk, const struct dir_msg *m, int body_ok,
                  const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
	for (int i = 0; i < CONFLICT_TRIES; i++)
		if (!serve_once(hk, m, body_ok, buf, len, from))
			return;
	fprintf(stderr, "capdird: host %u request %u: lost %d races, dropped (the host retries)\n",
	        hk->id, m->request_id, CONFLICT_TRIES);
	S.stats[DIR_S_DB_ERRORS]++;
}

static void handle_datagram(const uint8_t *buf, size_t len, const struct sockaddr_in *from)
{
	uint32_t host_id;
	struct dir_msg m;
	int rc = dirproto_peek(buf, len, &host_id);
	if (rc != DIR_OK) {
		S.stats[rc == DIR_ERR_TRUNCATED ? DIR_S_DROP_TRUNCATED : DIR_S_DROP_MALFORMED]++;
		return;
	}
	struct host_key *hk = find_host(host_id);
	if (!hk) {
		S.stats[DIR_S_DROP_UNKNOWN_HOST]++;
		return;
	}
	rc = dirproto_decode(buf, len, hk->key, &m);
	if (rc == DIR_ERR_BAD_MAC) {
		S.stats[DIR_S_DROP_BAD_MAC]++;
		return;
	}
	if (rc != DIR_OK && rc != DIR_ERR_BAD_BODY) {
		S.stats[DIR_S_DROP_MALFORMED]++;
		return;
	}
	if (rc == DIR_ERR_BAD_BODY) {
		/* Authenticated yet invalid: the header is trustworthy (MAC ok), so
		 * read seq/request_id from it and answer BAD_REQUEST. */
		memset(&m, 0, sizeof m);
		m.type = buf[5];
		m.host_id = host_id;
		m.seq = (uint64_t)buf[16] << 56 | (uint64_t)buf[17] << 48 | (uint64_t)buf[18] << 40 |
		        (uint64_t)buf[19] << 32 | (uint64_t)buf[20] << 24 | (uint64_t)buf[21] << 16 |
		        (uint64_t)buf[22] << 8 | buf[23];
		m.request_id = (uint32_t)buf[24] << 24 | (uint32_t)buf[25] << 16 |
		               (uint32_t)buf[26] << 8 | buf[27];
	}
	if (m.seq <= hk->last_seq) {
		S.stats[DIR_S_DROP_REPLAY]++;
		return;
	}
	int body_ok = rc == DIR_OK && m.network_id == S.network_id;
	if (S.st.ops == &dirdb_etcd_ops && dirdb_etcd_host_alive(S.st.s, hk->id, S.replica) < 0)
		fprintf(stderr, "capdird: host %u lease: %s\n", hk->id, ST0(errmsg));
	serve(hk, &m, body_ok, buf, len, from);
}

/* ---- setup ---- */

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	unsigned long port = DIR_PORT;
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (colon) {
		char *end;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || colon[1] == 0 || port > 65535)
			return -1;
	}
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int parse_cidr(const char *s, uint32_t *net, int *prefix)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof buf)
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	struct in_addr a;
	char *end;
	long p = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, buf, &a) != 1 || *end || slash[1] == 0 || p < 0 || p > 32)
		return -1;
	*net = ntohl(a.s_addr);
	*prefix = (int)p;
	return 0;
}

static const char usage_text[] =
	"usage: capdird --listen ADDR[:PORT] (--db FILE | --etcd HOST:PORT[,...] [--etcd-prefix P]\n"
	"               [--etcd-cacert FILE] [--etcd-cert FILE --etcd-key FILE])\n"
	"               --keys FILE [--network CIDR] [--network-id N] [--syslog]\n"
	"\n"
	"  --listen ADDR[:PORT]   where to answer (UDP; default port 7470)\n"
	"  --db FILE              the SQLite database (made if missing): the default store\n"
	"  --etcd HOST:PORT,...   keep the directory in an etcd v3 cluster instead (docs/DIRECTORY.md);\n"
	"                         https://HOST:PORT (the default with a TLS file below) for TLS\n"
	"  --etcd-prefix P        the keys' prefix in etcd\n"
	"  --etcd-cacert FILE     the CA of the etcd members' certificates (PEM)\n"
	"  --etcd-cert FILE, --etcd-key FILE   this replica's client certificate and key (PEM)\n"
	"  --keys FILE            the cluster key file (capctl keygen)\n"
	"  --network CIDR         the capsule network (default 198.18.0.0/16)\n"
	"  --network-id N         the network's id (default 1)\n"
	"  --syslog               log to syslog (facility daemon) instead of stderr\n"
	"  -h, --help, -V, --version\n"
	"\n"
	"Exit status: 2 bad options or files; 1 a failure while serving; 0 on SIGTERM.\n";


int main(int argc, char **argv)
{
	const char *listen_s = NULL, *db_path = NULL, *keys_path = NULL, *etcd_s = NULL;
	const char *etcd_prefix = DIRDB_ETCD_PREFIX_DEFAULT;
	struct etcdkv_tls tls = { 0 };
	const char *network_s = IPV4_CAPNET_DEFAULT;
	char err[512];
	S.network_id = DIR_NETWORK_ID_DEFAULT;
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "db", required_argument, NULL, 'd' },
		{ "etcd", required_argument, NULL, 'e' }, { "etcd-prefix", required_argument, NULL, 'p' },
		{ "etcd-cacert", required_argument, NULL, 'C' }, { "etcd-cert", required_argument, NULL, 'c' },
		{ "etcd-key", required_argument, NULL, 'K' },
		{ "keys", required_argument, NULL, 'k' }, { "network", required_argument, NULL, 'n' },
		{ "network-id", required_argument, NULL, 'i' }, { "syslog", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	int o, use_syslog = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
		const char *v = optarg;
		if (o == 'l') listen_s = v;
		else if (o == 'd') db_path = v;
		else if (o == 'e') etcd_s = v;
		else if (o == 'p') etcd_prefix = v;
		else if (o == 'C') tls.cacert = v;
		else if (o == 'c') tls.cert = v;
		else if (o == 'K') tls.key = v;
		else if (o == 'k') keys_path = v;
		else if (o == 'n') network_s = v;
		else if (o == 'i') {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (*end || !*v || n == 0 || n > UINT32_MAX) {
				fprintf(stderr, "capdird: --network-id %s: want 1..4294967295\n", v);
				return 2;
			}
			S.network_id = (uint32_t)n;
		} else if (o == 's') use_syslog = 1;
		else if (o == 'h') cli_help(usage_text);
		else if (o == 'V') cli_version("capdird");
		else {
			cli_bad_option("capdird", o, argc, argv);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "capdird: %s: unexpected argument (capdird --help shows usage)\n", argv[optind]);
		return 2;
	}
	if (!listen_s || !(db_path || etcd_s) || !keys_path) {
		fprintf(stderr, "capdird: --listen, --db (or --etcd) and --keys are required "
		        "(capdird --help shows usage)\n");
		return 2;
	}
	if (!etcd_s && (tls.cacert || tls.cert || tls.key)) {
		fprintf(stderr, "capdird: --etcd-cacert, --etcd-cert and --etcd-key go with --etcd\n");
		return 2;
	}
	if (db_path && etcd_s) {
		fprintf(stderr, "capdird: --db %s and --etcd %s: one store, not both\n", db_path, etcd_s);
		return 2;
	}
	if (use_syslog && cli_log_to_syslog("capdird"))
		fprintf(stderr, "capdird: --syslog: %s; logging on stderr\n", strerror(errno));
	struct sockaddr_in sa;
	uint32_t net;
	int prefix;
	if (parse_listen(listen_s, &sa)) {
		fprintf(stderr, "capdird: --listen %s: want IPv4ADDR[:PORT]\n", listen_s);
		return 2;
	}
	if (parse_cidr(network_s, &net, &prefix)) {
		fprintf(stderr, "capdird: --network %s: want A.B.C.D/N\n", network_s);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "capdird: libsodium failed to initialize\n");
		return 1;
	}
	static uint32_t ids[DIR_HOSTS_MAX];
	static uint8_t keys[DIR_HOSTS_MAX][DIR_KEY_LEN];
	int nk = dirproto_keys_load(keys_path, ids, keys, DIR_HOSTS_MAX, err, sizeof err);
	if (nk <= 0) {   /* a bad key file is bad input, like a bad flag */
		if (nk == 0)
			fprintf(stderr, "capdird: --keys %s: no 'HOSTID HEX64' line\n", keys_path);
		else
			fprintf(stderr, "capdird: --keys %s\n", err);
		return 2;
	}
	if (etcd_s) {
		S.st.ops = &dirdb_etcd_ops;
		db_path = etcd_s;
		if (dirdb_etcd_open(etcd_s, &tls, etcd_prefix, net, prefix, &S.st.s, err, sizeof err)) {
			fprintf(stderr, "capdird: %s\n", err);   /* "etcd ENDPOINT...: why", or a flag's */
			return strncmp(err, "--etcd", 6) ? 1 : 2;   /* a bad flag or file, or etcd failed */
		}
	} else {
		struct dir_db *db;
		S.st.ops = &dirdb_sqlite_ops;
		if (dirdb_open(db_path, net, prefix, &db, err, sizeof err)) {
			fprintf(stderr, "capdird: db %s\n", err);
			return 1;
		}
		S.st.s = db;
	}
	S.replica = listen_s;
	S.hosts = calloc((size_t)nk, sizeof *S.hosts);
	if (!S.hosts || ST0(begin))
		goto db_fail;
	for (int i = 0; i < nk; i++) {
		struct dir_host h;
		S.hosts[i].id = ids[i];
		memcpy(S.hosts[i].key, keys[i], DIR_KEY_LEN);
		if (ST(host_ensure, ids[i]) || ST(host_get, ids[i], &h))
			goto db_fail;
		S.hosts[i].last_seq = h.last_seq;   /* replay protection survives restarts */
	}
	S.nhosts = (size_t)nk;
	sodium_memzero(keys, sizeof keys);
	if (ST(counters_load, S.stats, DIR_S_COUNT) || ST0(commit))
		goto db_fail;

	S.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (S.fd < 0 || bind(S.fd, (struct sockaddr *)&sa, sizeof sa)) {
		fprintf(stderr, "capdird: listen %s: %s\n", listen_s, strerror(errno));
		ST0(close);
		return 1;
	}
	socklen_t sl = sizeof sa;
	getsockname(S.fd, (struct sockaddr *)&sa, &sl);

	/* SIGTERM/SIGINT are blocked except inside ppoll: no lost wake-up. */
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	struct sigaction act = { .sa_handler = on_signal };
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);

	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof addr);
	printf("capdird listening on %s:%u, %d hosts, network %s\n", addr, ntohs(sa.sin_port), nk,
	       network_s);
	fflush(stdout);

	while (!stop_requested) {
		int wait = notify_tick();
		struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000 };
		struct pollfd pfd[2] = { { .fd = S.fd, .events = POLLIN },
		                         { .fd = S.st.ops->change_fd ? ST0(change_fd) : -1,
		                           .events = POLLIN } };
		int n = ppoll(pfd, 2, wait < 0 ? NULL : &ts, &waitmask);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "capdird: poll: %s\n", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			struct dir_change c;
			while (ST(change_next, &c) == 1)
				on_change(&c);
			notify_tick();
		}
		for (int k = 0; n > 0 && k < 64; k++) {
			uint8_t buf[DIR_MSG_MAX + 1];   /* +1: a longer datagram is seen as too long */
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			ssize_t got = recvfrom(S.fd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *)&from, &fl);
			if (got < 0)
				break;
			if (fl != sizeof from || from.sin_family != AF_INET)
				continue;
			handle_datagram(buf, (size_t)got < sizeof buf ? (size_t)got : sizeof buf, &from);
		}
	}
	/* Clean exit: counters of dropped datagrams are saved too. */
	if (ST0(begin) == 0) {
		if (ST(counters_save, S.stats, DIR_S_COUNT) || ST0(commit))
			ST0(rollback);
	}
	close(S.fd);
	ST0(close);
	sodium_memzero(S.hosts, S.nhosts * sizeof *S.hosts);
	free(S.hosts);
	return 0;
db_fail:
	fprintf(stderr, "capdird: db %s: %s\n", db_path, S.st.s ? ST0(errmsg) : "out of memory");
	ST0(close);
	return 1;
}
