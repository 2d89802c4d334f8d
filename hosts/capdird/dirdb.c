/* dirdb.c: SQLite persistence for capdird: schema, crash-safe settings, and the directory's state changes. */
#include "hosts/capdird/dirdb.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 32

struct dir_db {
	sqlite3 *h;
	uint32_t net, first, last;     /* usable capsule addresses [first, last] */
	struct { const char *sql; sqlite3_stmt *st; } cache[STMT_CACHE];
	int light;                     /* synchronous=NORMAL now (dirdb_begin_read), else FULL */
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS hosts(id INTEGER PRIMARY KEY, addr INTEGER NOT NULL DEFAULT 0,"
	" data_port INTEGER NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL DEFAULT 0,"
	" ctl_addr INTEGER NOT NULL DEFAULT 0, ctl_port INTEGER NOT NULL DEFAULT 0,"
	" reply_req INTEGER, reply_digest BLOB, reply_type INTEGER, reply_body BLOB);"
	"CREATE TABLE IF NOT EXISTS capsules(ip INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	" host_id INTEGER NOT NULL REFERENCES hosts(id), epoch INTEGER NOT NULL,"
	" state INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS subscriptions(ip INTEGER NOT NULL, host_id INTEGER NOT NULL,"
	" PRIMARY KEY(ip, host_id));"
	"CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

const char *dirdb_errmsg(struct dir_db *db) { return sqlite3_errmsg(db->h); }

/* Prepared statements, cached by the address of their (static) SQL text:
 * the server runs the same dozen statements for every request. */
static sqlite3_stmt *prep(struct dir_db *db, const char *sql)
{
	int i;
	for (i = 0; i < STMT_CACHE && db->cache[i].sql; i++)
		if (db->cache[i].sql == sql) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			return db->cache[i].st;
		}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (i < STMT_CACHE) {
		db->cache[i].sql = sql;
		db->cache[i].st = st;
	}
	return st;   /* with a full cache it leaks: STMT_CACHE exceeds the statements below */
}

/* Runs st to completion (no rows wanted). */
static int done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : DIR_DB_FAIL;
}

static int exec(struct dir_db *db, const char *sql)
{
	return sqlite3_exec(db->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : DIR_DB_FAIL;
}

static int meta_get(struct dir_db *db, const char *key, int64_t *v)
{
	static const char sql[] = "SELECT value FROM meta WHERE key=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : DIR_DB_FAIL;
}

static int meta_set(struct dir_db *db, const char *key, int64_t v)
{
	static const char sql[] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	return done(st);
}

/* Databases made before capsule states existed lack capsules.state: add it
 * (every existing capsule starts "unknown" until its holder reports). */
static int migrate_state(struct dir_db *db)
{
	sqlite3_stmt *st;
	int found = 0, rc;
	if (sqlite3_prepare_v2(db->h, "PRAGMA table_info(capsules)", -1, &st, NULL) != SQLITE_OK)
		return DIR_DB_FAIL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (strcmp((const char *)sqlite3_column_text(st, 1), "state") == 0)
			found = 1;
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return DIR_DB_FAIL;
	return found ? 0 : exec(db, "ALTER TABLE capsules ADD COLUMN state INTEGER NOT NULL DEFAULT 0");
}

int dirdb_open(const char *path, uint32_t net, int prefix, struct dir_db **out,
                char *err, size_t errlen)
{
	if (prefix < 8 || prefix > 30) {
		snprintf(err, errlen, "network prefix /%d: want /8../30", prefix);
		return DIR_DB_FAIL;
	}
	uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
	struct dir_db *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return DIR_DB_FAIL;
	}
	db->net = net & mask;
	db->first = db->net + 2;             /* .0 = network, .1 = the gateway */
	db->last = (db->net | ~mask) - 1;    /* broadcast excluded */
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db->h, 2000);
	/* WAL + synchronous=FULL: a commit is durable once it returns, so a
	 * reply sent after the commit never promises something a crash loses. */
	if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
	    exec(db, "PRAGMA foreign_keys=ON") || exec(db, schema) || migrate_state(db))
		goto fail;
	int64_t stored_net = 0, stored_prefix = 0;
	int a = meta_get(db, "network", &stored_net), b = meta_get(db, "prefix", &stored_prefix);
	if (a < 0 || b < 0)
		goto fail;
	if (a == 0) {
		if (exec(db, "BEGIN IMMEDIATE") || meta_set(db, "network", db->net) ||
		    meta_set(db, "prefix", prefix) || meta_set(db, "cursor", db->first) ||
		    exec(db, "COMMIT"))
			goto fail;
	} else if ((uint32_t)stored_net != db->net || stored_prefix != prefix) {
		snprintf(err, errlen, "%s: made for network %u.%u.%u.%u/%d, not this one", path,
		         (unsigned)(stored_net >> 24 & 255), (unsigned)(stored_net >> 16 & 255),
		         (unsigned)(stored_net >> 8 & 255), (unsigned)(stored_net & 255),
		         (int)stored_prefix);
		dirdb_close(db);
		return DIR_DB_FAIL;
	}
	*out = db;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, db->h ? sqlite3_errmsg(db->h) : "cannot open");
	dirdb_close(db);
	return DIR_DB_FAIL;
}

void dirdb_close(struct dir_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < STMT_CACHE; i++)
		if (db->cache[i].st)
			sqlite3_finalize(db->cache[i].st);
	sqlite3_close(db->h);
	free(db);
}

/* In WAL mode FULL syncs the log at every commit, NORMAL only at checkpoints; a
 * later FULL commit's sync carries the NORMAL ones before it to the disk too. */
static int begin(struct dir_db *db, int light)
{
	if (db->light != light) {
		if (exec(db, light ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL"))
			return DIR_DB_FAIL;
		db->light = light;
	}
	return exec(db, "BEGIN IMMEDIATE");
}

int dirdb_begin(struct dir_db *db) { return begin(db, 0); }
int dirdb_begin_read(struct dir_db *db) { return begin(db, 1); }
int dirdb_commit(struct dir_db *db) { return exec(db, "COMMIT"); }
void dirdb_rollback(struct dir_db *db) { exec(db, "ROLLBACK"); }

int dirdb_host_ensure(struct dir_db *db, uint32_t id)
{
	static const char sql[] = "INSERT OR IGNORE INTO hosts(id) VALUES(?)";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, id);
	return done(st);
}

int dirdb_host_get(struct dir_db *db, uint32_t id, struct dir_host *out)
{
	static const char sql[] =
		"SELECT addr, data_port, last_seq, ctl_addr, ctl_port FROM hosts WHERE id=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = id;
		out->addr = (uint32_t)sqlite3_column_int64(st, 0);
		out->data_port = (uint16_t)sqlite3_column_int(st, 1);
		out->last_seq = (uint64_t)sqlite3_column_int64(st, 2);
		out->ctl_addr = (uint32_t)sqlite3_column_int64(st, 3);
		out->ctl_port = (uint16_t)sqlite3_column_int(st, 4);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? DIR_E_NOT_FOUND : DIR_DB_FAIL;
}

int dirdb_host_set_seq(struct dir_db *db, uint32_t id, uint64_t seq, uint32_t ctl_addr,
                        uint16_t ctl_port)
{
	static const char sql[] = "UPDATE hosts SET last_seq=?, ctl_addr=?, ctl_port=? WHERE id=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, (int64_t)seq);   /* the bit pattern; compared in C as u64 */
	sqlite3_bind_int64(st, 2, ctl_addr);
	sqlite3_bind_int(st, 3, ctl_port);
	sqlite3_bind_int64(st, 4, id);
	return done(st);
}

int dirdb_host_set_locator(struct dir_db *db, uint32_t id, uint32_t addr, uint16_t data_port)
{
	static const char sql[] = "UPDATE hosts SET addr=?, data_port=? WHERE id=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, addr);
	sqlite3_bind_int(st, 2, data_port);
	sqlite3_bind_int64(st, 3, id);
	return done(st);
}

int dirdb_reply_get(struct dir_db *db, uint32_t host, uint32_t request_id,
                     const uint8_t digest[DIR_DIGEST_LEN], uint8_t *type, uint8_t *body,
                     size_t cap, size_t *len)
{
	static const char sql[] =
		"SELECT reply_type, reply_body FROM hosts WHERE id=? AND reply_req=? AND reply_digest=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, host);
	sqlite3_bind_int64(st, 2, request_id);
	sqlite3_bind_blob(st, 3, digest, DIR_DIGEST_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		const void *p = sqlite3_column_blob(st, 1);
		if (n <= cap) {
			*type = (uint8_t)sqlite3_column_int(st, 0);
			if (n)
				memcpy(body, p, n);
			*len = n;
			found = 1;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : DIR_DB_FAIL;
}

int dirdb_reply_put(struct dir_db *db, uint32_t host, uint32_t request_id,
                     const uint8_t digest[DIR_DIGEST_LEN], uint8_t type, const uint8_t *body,
                     size_t len)
{
	static const char sql[] =
		"UPDATE hosts SET reply_req=?, reply_digest=?, reply_type=?, reply_body=? WHERE id=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, request_id);
	sqlite3_bind_blob(st, 2, digest, DIR_DIGEST_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, type);
	sqlite3_bind_blob(st, 4, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, host);
	return done(st);
}

/* The entry for ip joined with its holder's locator; 0 or DIR_E_NOT_FOUND. */
int dirdb_lookup(struct dir_db *db, uint32_t ip, struct dir_entry *out)
{
	static const char sql[] =
		"SELECT c.name, c.host_id, c.epoch, h.addr, h.data_port, c.state FROM capsules c"
		" JOIN hosts h ON h.id = c.host_id WHERE c.ip=?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		out->ip = ip;
		snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(st, 0));
		out->host_id = (uint32_t)sqlite3_column_int64(st, 1);
		out->epoch = (uint32_t)sqlite3_column_int64(st, 2);
		out->host_addr = (uint32_t)sqlite3_column_int64(st, 3);
		out->data_port = (uint16_t)sqlite3_column_int(st, 4);
		int state = sqlite3_column_int(st, 5);
		/* a value this code never writes (hand-edited db) reads as unknown, never breaks ENTRY */
		out->state = (uint16_t)(state > 0 && state <= DIR_STATE_SAVED ? state : DIR_STATE_UNKNOWN);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? DIR_E_NOT_FOUND : DIR_DB_FAIL;
}

/* First free address >= from within [first, last]: from itself, or just
 * after an allocated address whose successor is free.  0 = none. */
static int free_from(struct dir_db *db, uint32_t from, uint32_t *ip)
{
	static const char sql[] =
		"SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM capsules WHERE ip=?1)"
		" UNION ALL SELECT * FROM (SELECT c.ip + 1 FROM capsules c WHERE c.ip >= ?1 AND c.ip < ?2"
		" AND NOT EXISTS (SELECT 1 FROM capsules d WHERE d.ip = c.ip + 1) ORDER BY c.ip LIMIT 1)"
		" LIMIT 1";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, db->last);
	int rc = sqlite3_step(st);
	*ip = rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : DIR_DB_FAIL;
}

/* Round-robin from a persisted cursor, so a released address is handed out
 * again only after the rest of the network: stale caches of the old
 * capsule have long been corrected by then. */
static int allocate(struct dir_db *db, uint32_t *ip)
{
	int64_t cursor = db->first;
	if (meta_get(db, "cursor", &cursor) < 0)
		return DIR_DB_FAIL;
	if (cursor < db->first || cursor > db->last)
		cursor = db->first;
	if (free_from(db, (uint32_t)cursor, ip))
		return DIR_DB_FAIL;
	if (!*ip && cursor != db->first && free_from(db, db->first, ip))
		return DIR_DB_FAIL;
	if (!*ip || *ip > db->last)
		return DIR_E_NO_FREE_IP;
	return meta_set(db, "cursor", *ip == db->last ? db->first : *ip + 1);
}

int dirdb_create(struct dir_db *db, uint32_t host, const char *name, uint32_t want_ip,
                  struct dir_entry *out)
{
	static const char sql[] = "INSERT INTO capsules(ip, name, host_id, epoch) VALUES(?, ?, ?, 1)";
	uint32_t ip = want_ip;
	struct dir_entry cur;
	if (!dirproto_name_valid(name))
		return DIR_E_BAD_REQUEST;
	if (ip) {
		if (ip < db->first || ip > db->last)
			return DIR_E_BAD_REQUEST;
		int rc = dirdb_lookup(db, ip, &cur);
		if (rc != DIR_E_NOT_FOUND)
			return rc == 0 ? DIR_E_IP_IN_USE : rc;
	} else {
		int rc = allocate(db, &ip);
		if (rc)
			return rc;
	}
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, host);
	if (done(st))
		return DIR_DB_FAIL;
	/* A create removes subscriptions left over from an earlier holder of this address. */
	static const char unsub[] = "DELETE FROM subscriptions WHERE ip=?";
	if (!(st = prep(db, unsub)))
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	if (done(st))
		return DIR_DB_FAIL;
	return dirdb_lookup(db, ip, out);
}

int dirdb_move(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t to_host,
                uint32_t expected_epoch, struct dir_entry *out, uint32_t *cur_epoch)
{
	static const char sql[] = "UPDATE capsules SET host_id=?, epoch=epoch+1, state=0 WHERE ip=? AND epoch=?";
	struct dir_entry cur;
	struct dir_host to;
	int rc = dirdb_lookup(db, ip, &cur);
	if (rc)
		return rc;
	*cur_epoch = cur.epoch;
	/* Only the two parties of a migration may move it: the holder
	 * (pushing) or the destination (pulling after it restored it). */
	if (requester != cur.host_id && requester != to_host)
		return DIR_E_NOT_AUTHORIZED;
	if (expected_epoch != cur.epoch)
		return DIR_E_STALE_EPOCH;
	/*
	 * to_host == the holder is the FENCE: a source that gives up a
	 * migration re-claims the capsule at epoch+1, so the target's pull (a
	 * MOVE at the old epoch) is now STALE.  One compare-and-swap at epoch e
	 * decides between MOVE and FENCE: exactly one of them wins.  The same
	 * UPDATE serves both (the holder stays, the state resets as for a move).
	 */
	rc = dirdb_host_get(db, to_host, &to);
	if (rc)
		return rc == DIR_E_NOT_FOUND ? DIR_E_BAD_REQUEST : rc;
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, to_host);
	sqlite3_bind_int64(st, 2, ip);
	sqlite3_bind_int64(st, 3, expected_epoch);
	if (done(st))
		return DIR_DB_FAIL;
	rc = dirdb_lookup(db, ip, out);
	if (rc == 0)
		*cur_epoch = out->epoch;
	return rc;
}

/*
 * The checks a change by the capsule's holder must pass: the entry exists,
 * requester holds it, and the request names the current epoch.  0, or the
 * lookup's error / DIR_E_NOT_AUTHORIZED / DIR_E_STALE_EPOCH; *cur_epoch is
 * set whenever the entry exists.
 */
static int holder_at_epoch(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t epoch,
                           uint32_t *cur_epoch)
{
	struct dir_entry cur;
	int rc = dirdb_lookup(db, ip, &cur);
	if (rc)
		return rc;
	*cur_epoch = cur.epoch;
	if (requester != cur.host_id)
		return DIR_E_NOT_AUTHORIZED;
	if (epoch != cur.epoch)
		return DIR_E_STALE_EPOCH;
	return 0;
}

int dirdb_set_state(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t epoch,
                     int state, struct dir_entry *out, uint32_t *cur_epoch)
{
	static const char sql[] = "UPDATE capsules SET state=? WHERE ip=? AND epoch=?";
	/* Only the holder at the current epoch knows how the capsule runs: a
	 * late report from the host it left must not overwrite the new one's. */
	int rc = holder_at_epoch(db, requester, ip, epoch, cur_epoch);
	if (rc)
		return rc;
	if (state <= DIR_STATE_UNKNOWN || state > DIR_STATE_SAVED)
		return DIR_E_BAD_REQUEST;
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int64(st, 2, ip);
	sqlite3_bind_int64(st, 3, epoch);
	if (done(st))
		return DIR_DB_FAIL;
	return dirdb_lookup(db, ip, out);
}

int dirdb_release(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t epoch,
                   uint32_t *cur_epoch)
{
	static const char del[] = "DELETE FROM capsules WHERE ip=?";
	static const char unsub[] = "DELETE FROM subscriptions WHERE ip=?";
	int rc = holder_at_epoch(db, requester, ip, epoch, cur_epoch);
	if (rc)
		return rc;
	sqlite3_stmt *st = prep(db, del);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	if (done(st))
		return DIR_DB_FAIL;
	if (!(st = prep(db, unsub)))
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	return done(st);
}

int dirdb_list(struct dir_db *db, uint32_t cursor, struct dir_entry *out, size_t max,
                size_t *n, uint32_t *next)
{
	static const char sql[] = "SELECT ip FROM capsules WHERE ip >= ? ORDER BY ip LIMIT ?";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	uint32_t ips[DIR_LIST_MAX + 1];
	if (max > DIR_LIST_MAX)
		max = DIR_LIST_MAX;
	sqlite3_bind_int64(st, 1, cursor);
	sqlite3_bind_int64(st, 2, (int64_t)max + 1);   /* one more: is there a next page? */
	size_t k = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < max + 1)
		ips[k++] = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return DIR_DB_FAIL;
	*next = k > max ? ips[max] : 0;
	*n = k > max ? max : k;
	for (size_t i = 0; i < *n; i++)
		if (dirdb_lookup(db, ips[i], &out[i]))
			return DIR_DB_FAIL;
	return 0;
}

int dirdb_subscribe(struct dir_db *db, uint32_t ip, uint32_t host)
{
	static const char sql[] = "INSERT OR IGNORE INTO subscriptions(ip, host_id) VALUES(?, ?)";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	sqlite3_bind_int64(st, 2, host);
	return done(st);
}

int dirdb_subscribers(struct dir_db *db, uint32_t ip, uint32_t *hosts, size_t max, size_t *n)
{
	static const char sql[] = "SELECT host_id FROM subscriptions WHERE ip=? ORDER BY host_id";
	sqlite3_stmt *st = prep(db, sql);
	if (!st)
		return DIR_DB_FAIL;
	sqlite3_bind_int64(st, 1, ip);
	int rc;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		hosts[(*n)++] = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : DIR_DB_FAIL;
}

int dirdb_counters_save(struct dir_db *db, const uint64_t *v, size_t n)
{
	static const char sql[] = "INSERT OR REPLACE INTO counters(name, value) VALUES(?, ?)";
	for (size_t i = 0; i < n && i < DIR_S_COUNT; i++) {
		sqlite3_stmt *st = prep(db, sql);
		if (!st)
			return DIR_DB_FAIL;
		sqlite3_bind_text(st, 1, dir_stat_names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)v[i]);
		if (done(st))
			return DIR_DB_FAIL;
	}
	return 0;
}

int dirdb_counters_load(struct dir_db *db, uint64_t *v, size_t n)
{
	static const char sql[] = "SELECT value FROM counters WHERE name=?";
	for (size_t i = 0; i < n && i < DIR_S_COUNT; i++) {
		sqlite3_stmt *st = prep(db, sql);
		if (!st)
			return DIR_DB_FAIL;
		sqlite3_bind_text(st, 1, dir_stat_names[i], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		v[i] = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return DIR_DB_FAIL;
	}
	return 0;
}
