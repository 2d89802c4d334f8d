/* dirdb_ops.c: the SQLite store (dirdb.c) as a dir_store_ops table for capdird. */
#include "hosts/capdird/dirstore.h"

#define DB(s) ((struct dir_db *)(s))

static void o_close(void *s) { dirdb_close(DB(s)); }
static const char *o_errmsg(void *s) { return dirdb_errmsg(DB(s)); }
static int o_begin(void *s) { return dirdb_begin(DB(s)); }
static int o_begin_read(void *s) { return dirdb_begin_read(DB(s)); }
static int o_commit(void *s) { return dirdb_commit(DB(s)); }
static void o_rollback(void *s) { dirdb_rollback(DB(s)); }
static int o_host_ensure(void *s, uint32_t id) { return dirdb_host_ensure(DB(s), id); }
static int o_host_get(void *s, uint32_t id, struct dir_host *out)
{
	return dirdb_host_get(DB(s), id, out);
}
static int o_host_set_seq(void *s, uint32_t id, uint64_t seq, uint32_t a, uint16_t p)
{
	return dirdb_host_set_seq(DB(s), id, seq, a, p);
}
static int o_host_set_locator(void *s, uint32_t id, uint32_t addr, uint16_t port)
{
	return dirdb_host_set_locator(DB(s), id, addr, port);
}
static int o_reply_get(void *s, uint32_t host, uint32_t rid, const uint8_t d[DIR_DIGEST_LEN],
                       uint8_t *type, uint8_t *body, size_t cap, size_t *len)
{
	return dirdb_reply_get(DB(s), host, rid, d, type, body, cap, len);
}
static int o_reply_put(void *s, uint32_t host, uint32_t rid, const uint8_t d[DIR_DIGEST_LEN],
                       uint8_t type, const uint8_t *body, size_t len)
{
	return dirdb_reply_put(DB(s), host, rid, d, type, body, len);
}
static int o_create(void *s, uint32_t host, const char *name, uint32_t ip, struct dir_entry *out)
{
	return dirdb_create(DB(s), host, name, ip, out);
}
static int o_move(void *s, uint32_t req, uint32_t ip, uint32_t to, uint32_t exp,
                  struct dir_entry *out, uint32_t *cur)
{
	return dirdb_move(DB(s), req, ip, to, exp, out, cur);
}
static int o_lookup(void *s, uint32_t ip, struct dir_entry *out) { return dirdb_lookup(DB(s), ip, out); }
static int o_set_state(void *s, uint32_t req, uint32_t ip, uint32_t epoch, int state,
                       struct dir_entry *out, uint32_t *cur)
{
	return dirdb_set_state(DB(s), req, ip, epoch, state, out, cur);
}
static int o_release(void *s, uint32_t req, uint32_t ip, uint32_t epoch, uint32_t *cur)
{
	return dirdb_release(DB(s), req, ip, epoch, cur);
}
static int o_list(void *s, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
                  uint32_t *next)
{
	return dirdb_list(DB(s), cursor, out, max, n, next);
}
static int o_subscribe(void *s, uint32_t ip, uint32_t host) { return dirdb_subscribe(DB(s), ip, host); }
static int o_subscribers(void *s, uint32_t ip, uint32_t *hosts, size_t max, size_t *n)
{
	return dirdb_subscribers(DB(s), ip, hosts, max, n);
}
static int o_counters_save(void *s, const uint64_t *v, size_t n)
{
	return dirdb_counters_save(DB(s), v, n);
}
static int o_counters_load(void *s, uint64_t *v, size_t n)
{
	return dirdb_counters_load(DB(s), v, n);
}

const struct dir_store_ops dirdb_sqlite_ops = {
	.name = "sqlite", .close = o_close, .errmsg = o_errmsg, .begin = o_begin,
	.begin_read = o_begin_read,
	.commit = o_commit, .rollback = o_rollback, .host_ensure = o_host_ensure,
	.host_get = o_host_get, .host_set_seq = o_host_set_seq,
	.host_set_locator = o_host_set_locator, .reply_get = o_reply_get,
	.reply_put = o_reply_put, .create = o_create, .move = o_move, .lookup = o_lookup,
	.set_state = o_set_state, .release = o_release, .list = o_list,
	.subscribe = o_subscribe, .subscribers = o_subscribers,
	.counters_save = o_counters_save, .counters_load = o_counters_load,
};
