/* dirproto.c: encode, authenticate and validate directory messages (pure functions) + key file parsing. */
#include "hosts/formats/dirproto.h"
#include "hosts/common/bytes.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const dir_stat_names[DIR_S_COUNT] = {
	"rx_ok", "drop_truncated", "drop_malformed", "drop_unknown_host", "drop_bad_mac",
	"drop_replay", "err_bad_request", "err_not_found", "err_ip_in_use", "err_no_free_ip",
	"err_stale_epoch", "err_not_authorized", "creates", "moves", "lookups", "releases",
	"retries_answered", "notify_sent", "notify_acked", "notify_given_up", "db_errors",
	"states", "host_lookups",
};

#define ENTRY_LEN  ((size_t)sizeof(struct dir_wire_entry))

/* Which side may send a type: replies and NOTIFY come from the directory
 * (host_id 0), everything else from a host (host_id != 0). */
static int from_directory(int type)
{
	switch (type) {
	case DIR_T_HELLO_OK: case DIR_T_CREATED: case DIR_T_MOVED: case DIR_T_ENTRY:
	case DIR_T_RELEASED: case DIR_T_ENTRIES: case DIR_T_STATS_REPLY: case DIR_T_NOTIFY:
	case DIR_T_ERROR: case DIR_T_HOST:
		return 1;
	default:
		return 0;
	}
}

int dirproto_name_valid(const char *name)
{
	size_t n = 0;
	for (; name[n]; n++) {
		char c = name[n];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= DIR_NAME_MAX - 1)
			return 0;
	}
	return n > 0 && name[0] != '.' && name[0] != '-';
}

/* A fixed 64-byte name field: NUL-terminated, valid, zero after the NUL (so
 * one name has exactly one encoding and nothing hides in the padding). */
static int name_field_valid(const uint8_t *p, char out[DIR_NAME_MAX])
{
	const uint8_t *nul = memchr(p, 0, DIR_NAME_MAX);
	if (!nul)
		return 0;
	for (const uint8_t *q = nul; q < p + DIR_NAME_MAX; q++)
		if (*q)
			return 0;
	memcpy(out, p, DIR_NAME_MAX);
	return dirproto_name_valid(out);
}

static void put_name(uint8_t *p, const char *name)
{
	size_t n = strnlen(name, DIR_NAME_MAX - 1);
	memset(p, 0, DIR_NAME_MAX);
	memcpy(p, name, n);
}

static void put_entry(uint8_t *p, const struct dir_entry *e)
{
	host_put32(p, e->ip);
	host_put32(p + 4, e->host_id);
	host_put32(p + 8, e->host_addr);
	host_put16(p + 12, e->data_port);
	host_put16(p + 14, e->state);
	host_put32(p + 16, e->epoch);
	put_name(p + 20, e->name);
}

/* notify: host_id 0 means "released" and is only legal in a NOTIFY. */
static int get_entry(const uint8_t *p, struct dir_entry *e, int notify)
{
	e->ip = host_get32(p);
	e->host_id = host_get32(p + 4);
	e->host_addr = host_get32(p + 8);
	e->data_port = host_get16(p + 12);
	e->state = host_get16(p + 14);
	e->epoch = host_get32(p + 16);
	if (e->state >= DIR_STATE_COUNT || e->ip == 0 || e->epoch == 0 || (!notify && e->host_id == 0))
		return 0;
	return name_field_valid(p + 20, e->name);
}

/* Serializes the body for m->type; returns its length or DIR_ERR_*. */
static int encode_body(const struct dir_msg *m, uint8_t *b, size_t cap)
{
	size_t need;
	switch (m->type) {
	case DIR_T_HELLO_OK: case DIR_T_STATS:
		return 0;
	case DIR_T_HELLO:
		if (cap < 8) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.hello.addr); host_put16(b + 4, m->u.hello.data_port); host_put16(b + 6, 0);
		return 8;
	case DIR_T_CREATE:
		if (cap < 68) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.create.ip); put_name(b + 4, m->u.create.name);
		return 68;
	case DIR_T_CREATED: case DIR_T_MOVED: case DIR_T_RELEASE: case DIR_T_RELEASED:
	case DIR_T_NOTIFY_ACK:
		if (cap < 8) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.ipepoch.ip); host_put32(b + 4, m->u.ipepoch.epoch);
		return 8;
	case DIR_T_MOVE:
		if (cap < 12) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.move.ip); host_put32(b + 4, m->u.move.to_host_id);
		host_put32(b + 8, m->u.move.expected_epoch);
		return 12;
	case DIR_T_LOOKUP:
		if (cap < 8) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.lookup.ip); host_put32(b + 4, m->u.lookup.flags);
		return 8;
	case DIR_T_ENTRY: case DIR_T_NOTIFY:
		if (cap < ENTRY_LEN) return DIR_ERR_NOSPACE;
		put_entry(b, &m->u.entry);
		return (int)ENTRY_LEN;
	case DIR_T_LIST:
		if (cap < 4) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.list.cursor);
		return 4;
	case DIR_T_ENTRIES:
		if (m->u.entries.n > DIR_LIST_MAX) return DIR_ERR_BAD_BODY;
		need = 8 + m->u.entries.n * ENTRY_LEN;
		if (cap < need) return DIR_ERR_NOSPACE;
		host_put16(b, m->u.entries.n); host_put16(b + 2, 0); host_put32(b + 4, m->u.entries.next_cursor);
		for (size_t i = 0; i < m->u.entries.n; i++)
			put_entry(b + 8 + i * ENTRY_LEN, &m->u.entries.e[i]);
		return (int)need;
	case DIR_T_STATS_REPLY:
		if (m->u.stats.count > DIR_STATS_MAX) return DIR_ERR_BAD_BODY;
		need = 8 + (size_t)m->u.stats.count * 8;
		if (cap < need) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.stats.count); host_put32(b + 4, 0);
		for (size_t i = 0; i < m->u.stats.count; i++)
			host_put64(b + 8 + i * 8, m->u.stats.v[i]);
		return (int)need;
	case DIR_T_ERROR:
		if (cap < 8) return DIR_ERR_NOSPACE;
		host_put16(b, m->u.error.code); host_put16(b + 2, 0); host_put32(b + 4, m->u.error.epoch);
		return 8;
	case DIR_T_STATE:
		if (cap < 12) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.state.ip); host_put32(b + 4, m->u.state.epoch);
		host_put16(b + 8, m->u.state.state); host_put16(b + 10, 0);
		return 12;
	case DIR_T_HOST_LOOKUP:
		if (cap < 4) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.host_lookup.host_id);
		return 4;
	case DIR_T_HOST:
		if (cap < 12) return DIR_ERR_NOSPACE;
		host_put32(b, m->u.host.host_id); host_put32(b + 4, m->u.host.addr);
		host_put16(b + 8, m->u.host.data_port); host_put16(b + 10, 0);
		return 12;
	default:
		return DIR_ERR_BAD_BODY;
	}
}

/* Validates an authenticated body for its type and fills m->u. */
static int decode_body(uint8_t type, const uint8_t *b, size_t len, struct dir_msg *m)
{
	switch (type) {
	case DIR_T_HELLO_OK: case DIR_T_STATS:
		return len == 0 ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_HELLO:
		if (len != 8 || host_get16(b + 6) != 0) return DIR_ERR_BAD_BODY;
		m->u.hello.addr = host_get32(b); m->u.hello.data_port = host_get16(b + 4);
		return m->u.hello.addr && m->u.hello.data_port ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_CREATE:
		if (len != 68) return DIR_ERR_BAD_BODY;
		m->u.create.ip = host_get32(b);
		return name_field_valid(b + 4, m->u.create.name) ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_CREATED: case DIR_T_MOVED: case DIR_T_RELEASE: case DIR_T_RELEASED:
	case DIR_T_NOTIFY_ACK:
		if (len != 8) return DIR_ERR_BAD_BODY;
		m->u.ipepoch.ip = host_get32(b); m->u.ipepoch.epoch = host_get32(b + 4);
		return m->u.ipepoch.ip && m->u.ipepoch.epoch ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_MOVE:
		if (len != 12) return DIR_ERR_BAD_BODY;
		m->u.move.ip = host_get32(b); m->u.move.to_host_id = host_get32(b + 4);
		m->u.move.expected_epoch = host_get32(b + 8);
		return m->u.move.ip && m->u.move.to_host_id && m->u.move.expected_epoch
		       ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_LOOKUP:
		if (len != 8) return DIR_ERR_BAD_BODY;
		m->u.lookup.ip = host_get32(b); m->u.lookup.flags = host_get32(b + 4);
		return m->u.lookup.ip && !(m->u.lookup.flags & ~DIR_LOOKUP_SUBSCRIBE)
		       ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_ENTRY: case DIR_T_NOTIFY:
		if (len != ENTRY_LEN) return DIR_ERR_BAD_BODY;
		return get_entry(b, &m->u.entry, type == DIR_T_NOTIFY) ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_LIST:
		if (len != 4) return DIR_ERR_BAD_BODY;
		m->u.list.cursor = host_get32(b);
		return DIR_OK;
	case DIR_T_ENTRIES: {
		if (len < 8) return DIR_ERR_BAD_BODY;
		uint16_t n = host_get16(b);
		if (n > DIR_LIST_MAX || host_get16(b + 2) != 0 || len != 8 + n * ENTRY_LEN)
			return DIR_ERR_BAD_BODY;
		m->u.entries.n = n;
		m->u.entries.next_cursor = host_get32(b + 4);
		for (size_t i = 0; i < n; i++)
			if (!get_entry(b + 8 + i * ENTRY_LEN, &m->u.entries.e[i], 0))
				return DIR_ERR_BAD_BODY;
		return DIR_OK;
	}
	case DIR_T_STATS_REPLY: {
		if (len < 8) return DIR_ERR_BAD_BODY;
		uint32_t count = host_get32(b);
		if (count > DIR_STATS_MAX || host_get32(b + 4) != 0 || len != 8 + (size_t)count * 8)
			return DIR_ERR_BAD_BODY;
		m->u.stats.count = count;
		for (size_t i = 0; i < count; i++)
			m->u.stats.v[i] = host_get64(b + 8 + i * 8);
		return DIR_OK;
	}
	case DIR_T_ERROR:
		if (len != 8) return DIR_ERR_BAD_BODY;
		m->u.error.code = host_get16(b); m->u.error.epoch = host_get32(b + 4);
		return m->u.error.code > 0 && m->u.error.code < DIR_E_COUNT && host_get16(b + 2) == 0
		       ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_STATE:
		/* a host reports only what it knows: running, frozen or saved (never "unknown") */
		if (len != 12 || host_get16(b + 10) != 0) return DIR_ERR_BAD_BODY;
		m->u.state.ip = host_get32(b); m->u.state.epoch = host_get32(b + 4); m->u.state.state = host_get16(b + 8);
		return m->u.state.ip && m->u.state.epoch && m->u.state.state > DIR_STATE_UNKNOWN &&
		       m->u.state.state <= DIR_STATE_SAVED ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_HOST_LOOKUP:
		if (len != 4) return DIR_ERR_BAD_BODY;
		m->u.host_lookup.host_id = host_get32(b);
		return m->u.host_lookup.host_id ? DIR_OK : DIR_ERR_BAD_BODY;
	case DIR_T_HOST:
		/* only a known locator is ever sent: otherwise the answer is NOT_FOUND */
		if (len != 12 || host_get16(b + 10) != 0) return DIR_ERR_BAD_BODY;
		m->u.host.host_id = host_get32(b); m->u.host.addr = host_get32(b + 4); m->u.host.data_port = host_get16(b + 8);
		return m->u.host.host_id && m->u.host.addr && m->u.host.data_port ? DIR_OK : DIR_ERR_BAD_BODY;
	default:
		return DIR_ERR_MALFORMED;
	}
}

/* Framing checks that need no key: enough bytes, magic, version, type,
 * flags, sender side, body_len bound and exact total length. */
static int check_frame(const uint8_t *buf, size_t len, uint32_t *body_len)
{
	if (len < DIR_HDR_LEN)
		return DIR_ERR_TRUNCATED;
	if (memcmp(buf, DIR_MAGIC, 4) != 0 || buf[4] != DIR_VERSION)
		return DIR_ERR_MALFORMED;
	uint8_t type = buf[5];
	if (type == 0 || type >= DIR_T_COUNT || host_get16(buf + 6) != 0)
		return DIR_ERR_MALFORMED;
	if ((host_get32(buf + 8) == DIR_DIRECTORY_ID) != from_directory(type))
		return DIR_ERR_MALFORMED;
	uint32_t blen = host_get32(buf + 28);
	if (blen > DIR_BODY_MAX)
		return DIR_ERR_MALFORMED;
	size_t total = DIR_HDR_LEN + (size_t)blen + DIR_MAC_LEN;
	if (len < total)
		return DIR_ERR_TRUNCATED;
	if (len > total)
		return DIR_ERR_MALFORMED;
	*body_len = blen;
	return DIR_OK;
}

int dirproto_peek(const uint8_t *buf, size_t len, uint32_t *host_id)
{
	uint32_t blen;
	int rc = check_frame(buf, len, &blen);
	if (rc == DIR_OK)
		*host_id = host_get32(buf + 8);
	return rc;
}

int dirproto_encode(const struct dir_msg *m, const uint8_t key[DIR_KEY_LEN], uint8_t *out, size_t cap)
{
	if (m->type == 0 || m->type >= DIR_T_COUNT)
		return DIR_ERR_MALFORMED;
	if (cap < DIR_HDR_LEN + DIR_MAC_LEN)
		return DIR_ERR_NOSPACE;
	int blen = encode_body(m, out + DIR_HDR_LEN, cap - DIR_HDR_LEN - DIR_MAC_LEN);
	if (blen < 0)
		return blen;
	memcpy(out, DIR_MAGIC, 4);
	out[4] = DIR_VERSION;
	out[5] = m->type;
	host_put16(out + 6, 0);
	host_put32(out + 8, m->host_id);
	host_put32(out + 12, m->network_id);
	host_put64(out + 16, m->seq);
	host_put32(out + 24, m->request_id);
	host_put32(out + 28, (uint32_t)blen);
	size_t n = DIR_HDR_LEN + (size_t)blen;
	crypto_auth_hmacsha256(out + n, out, n, key);
	return (int)(n + DIR_MAC_LEN);
}

int dirproto_decode(const uint8_t *buf, size_t len, const uint8_t key[DIR_KEY_LEN], struct dir_msg *m)
{
	uint32_t blen;
	int rc = check_frame(buf, len, &blen);
	if (rc != DIR_OK)
		return rc;
	size_t n = DIR_HDR_LEN + blen;
	uint8_t mac[DIR_MAC_LEN];
	crypto_auth_hmacsha256(mac, buf, n, key);
	if (sodium_memcmp(mac, buf + n, DIR_MAC_LEN) != 0)
		return DIR_ERR_BAD_MAC;
	struct dir_msg d;
	memset(&d, 0, sizeof d);
	d.type = buf[5];
	d.host_id = host_get32(buf + 8);
	d.network_id = host_get32(buf + 12);
	d.seq = host_get64(buf + 16);
	d.request_id = host_get32(buf + 24);
	rc = decode_body(d.type, buf + DIR_HDR_LEN, blen, &d);
	if (rc != DIR_OK)
		return rc;
	*m = d;
	return DIR_OK;
}

int dirproto_reseal(uint8_t *buf, size_t len, uint64_t seq, const uint8_t key[DIR_KEY_LEN])
{
	uint32_t blen;
	int rc = check_frame(buf, len, &blen);
	if (rc != DIR_OK)
		return rc;
	host_put64(buf + 16, seq);
	crypto_auth_hmacsha256(buf + DIR_HDR_LEN + blen, buf, DIR_HDR_LEN + blen, key);
	return DIR_OK;
}

const char *dirproto_type_name(int type)
{
	static const char *const names[DIR_T_COUNT] = {
		"?", "HELLO", "HELLO_OK", "CREATE", "CREATED", "MOVE", "MOVED", "LOOKUP", "ENTRY",
		"RELEASE", "RELEASED", "LIST", "ENTRIES", "STATS", "STATS_REPLY", "NOTIFY",
		"NOTIFY_ACK", "ERROR", "STATE", "HOST_LOOKUP", "HOST",
	};
	return type > 0 && type < DIR_T_COUNT ? names[type] : "?";
}

const char *dirproto_error_name(int code)
{
	static const char *const names[DIR_E_COUNT] = {
		"OK", "NOT_FOUND", "IP_IN_USE", "NO_FREE_IP", "STALE_EPOCH", "NOT_AUTHORIZED",
		"BAD_REQUEST",
	};
	return code >= 0 && code < DIR_E_COUNT ? names[code] : "?";
}

const char *dirproto_status_name(int status)
{
	switch (status) {
	case DIR_OK: return "ok";
	case DIR_ERR_TRUNCATED: return "truncated";
	case DIR_ERR_MALFORMED: return "malformed";
	case DIR_ERR_BAD_MAC: return "bad MAC";
	case DIR_ERR_BAD_BODY: return "bad body";
	case DIR_ERR_NOSPACE: return "no space";
	default: return "?";
	}
}

static const char *const state_names[DIR_STATE_COUNT] = { "unknown", "running", "frozen", "saved",
                                                                  "host-lost" };

const char *dirproto_state_name(int state)
{
	return state >= 0 && state < DIR_STATE_COUNT ? state_names[state] : "?";
}

int dirproto_state_parse(const char *s)
{
	for (int i = 0; i < DIR_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

uint64_t dirproto_next_seq(uint64_t *last)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 20;
	/* Same millisecond (or the clock stepped back): keep counting up from the
	 * last value, so the sequence never repeats within this process. */
	*last = now > *last ? now : *last + 1;
	return *last;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* A key file, refused at once unless it is a regular file (a FIFO would block us for ever). */
static FILE *open_key_file(const char *path, char *err, size_t errlen)
{
	char why[128];
	int fd = fileio_open_regular(path, why, sizeof why);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (fd >= 0 && !f) {
		snprintf(why, sizeof why, "%s", strerror(errno));
		close(fd);
	}
	if (!f)
		snprintf(err, errlen, "%s: %s", path, why);
	return f;
}

int dirproto_keys_load(const char *path, uint32_t *ids, uint8_t (*keys)[DIR_KEY_LEN], size_t max,
                  char *err, size_t errlen)
{
	FILE *f = open_key_file(path, err, errlen);
	if (!f)
		return -1;
	char line[512];
	size_t n = 0;
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char id[64], hex[128], extra[8];
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		int k = sscanf(p, "%63s %127s %7s", id, hex, extra);
		if (k != 2 || strlen(hex) != 2 * DIR_KEY_LEN) {
			snprintf(err, errlen, "%s line %d: want 'HOSTID HEX64' or 'data HEX64'", path, lineno);
			rc = -1;
			break;
		}
		uint8_t key[DIR_KEY_LEN];
		int bad = 0;
		for (size_t i = 0; i < DIR_KEY_LEN && !bad; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			bad = hi < 0 || lo < 0;
			key[i] = bad ? 0 : (uint8_t)(hi << 4 | lo);
		}
		if (bad) {
			snprintf(err, errlen, "%s line %d: key is not 64 hex digits", path, lineno);
			rc = -1;
			break;
		}
		if (strcmp(id, "data") == 0)
			continue;   /* the data-plane key: not the directory's business */
		char *end;
		errno = 0;
		unsigned long v = strtoul(id, &end, 10);
		if (errno || *end || v == 0 || v > UINT32_MAX || id[0] == '-' || id[0] == '+') {
			snprintf(err, errlen, "%s line %d: bad host id '%s'", path, lineno, id);
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (ids[i] == v) {
				snprintf(err, errlen, "%s line %d: host %lu listed twice", path, lineno, v);
				rc = -1;
			}
		if (rc)
			break;
		if (n == max) {
			snprintf(err, errlen, "%s line %d: more than %zu hosts", path, lineno, max);
			rc = -1;
			break;
		}
		ids[n] = (uint32_t)v;
		memcpy(keys[n], key, DIR_KEY_LEN);
		n++;
		sodium_memzero(key, sizeof key);
	}
	sodium_memzero(line, sizeof line);
	fclose(f);
	return rc ? -1 : (int)n;
}

int dirproto_key_lookup(const char *path, uint32_t host_id, uint8_t key[DIR_KEY_LEN],
                   char *err, size_t errlen)
{
	static uint32_t ids[DIR_HOSTS_MAX];
	static uint8_t keys[DIR_HOSTS_MAX][DIR_KEY_LEN];
	int n = dirproto_keys_load(path, ids, keys, DIR_HOSTS_MAX, err, errlen);
	int found = -1;
	for (int i = 0; i < n; i++)
		if (ids[i] == host_id)
			found = i;
	if (found >= 0)
		memcpy(key, keys[found], DIR_KEY_LEN);
	else if (n >= 0)
		snprintf(err, errlen, "%s: no key for host %u", path, host_id);
	sodium_memzero(keys, sizeof keys);
	return found >= 0 ? 0 : -1;
}

int dirproto_data_key_load(const char *path, uint8_t key[DIR_KEY_LEN], char *err, size_t errlen)
{
	FILE *f = open_key_file(path, err, errlen);
	if (!f)
		return -1;
	char line[512];
	int found = 0, lineno = 0;
	while (!found && fgets(line, sizeof line, f)) {
		lineno++;
		char word[16], hex[80];
		char *p = line + strspn(line, " \t");
		if (*p == '#' || *p == '\n' || *p == 0)
			continue;
		if (sscanf(p, "%15s %79s", word, hex) != 2 || strcmp(word, "data") != 0)
			continue;
		size_t n = 0;
		if (strlen(hex) != 2 * DIR_KEY_LEN ||
		    sodium_hex2bin(key, DIR_KEY_LEN, hex, strlen(hex), NULL, &n, NULL) != 0 ||
		    n != DIR_KEY_LEN) {
			snprintf(err, errlen, "%s:%d: data key is not 64 hex digits", path, lineno);
			fclose(f);
			sodium_memzero(line, sizeof line);
			return -1;
		}
		found = 1;
	}
	fclose(f);
	sodium_memzero(line, sizeof line);
	if (!found) {
		snprintf(err, errlen, "%s: no 'data HEX64' line", path);
		return -1;
	}
	return 0;
}
