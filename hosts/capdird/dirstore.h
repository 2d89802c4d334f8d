/* dirstore.h: the directory's storage operations table: capdird calls it; dirdb.c (SQLite) and dirdb_etcd.c (etcd v3) implement it. */
#ifndef HOSTS_DIRSTORE_H
#define HOSTS_DIRSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/capdird/dirdb.h"

/*
 * One request = one transaction: begin, the operations, commit.  Every
 * operation has the meaning and result codes of its dirdb_* namesake
 * (dirdb.h): 0 = done, a positive enum dir_error = refused, DIR_DB_FAIL =
 * the store failed (roll back, stay silent, the client retries).  commit
 * may also return
 *   DIR_DB_CONFLICT: another writer changed something this transaction
 *                    read (etcd: another replica); nothing was written,
 *                    run the whole request again;
 *   DIR_DB_REPLAY:   the store already holds a seq >= this request's for
 *                    its host (it was accepted through another replica):
 *                    nothing was written, drop it as a replay.
 * SQLite never returns either (one writer, BEGIN IMMEDIATE).
 */
#define DIR_DB_CONFLICT (-2)
#define DIR_DB_REPLAY   (-3)

/* A change of one capsule seen by a store that pushes changes (etcd's
 * watch): capdird sends NOTIFYs for it to the hosts that subscribed
 * through this replica. */
struct dir_change {
	struct dir_entry e;        /* host_id 0: released (e holds the last name and epoch) */
	int64_t revision;          /* the store's revision of the change */
};

struct dir_store_ops {
	const char *name;          /* "sqlite", "etcd" */
	void (*close)(void *s);
	const char *(*errmsg)(void *s);
	int (*begin)(void *s);
	/* a read's transaction: its commit need not be durable before the reply (dirdb.h) */
	int (*begin_read)(void *s);
	int (*commit)(void *s);
	void (*rollback)(void *s);
	int (*host_ensure)(void *s, uint32_t id);
	int (*host_get)(void *s, uint32_t id, struct dir_host *out);
	int (*host_set_seq)(void *s, uint32_t id, uint64_t seq, uint32_t ctl_addr, uint16_t ctl_port);
	int (*host_set_locator)(void *s, uint32_t id, uint32_t addr, uint16_t data_port);
	int (*reply_get)(void *s, uint32_t host, uint32_t request_id,
	                 const uint8_t digest[DIR_DIGEST_LEN], uint8_t *type, uint8_t *body,
	                 size_t cap, size_t *len);
	int (*reply_put)(void *s, uint32_t host, uint32_t request_id,
	                 const uint8_t digest[DIR_DIGEST_LEN], uint8_t type, const uint8_t *body,
	                 size_t len);
	int (*create)(void *s, uint32_t host, const char *name, uint32_t want_ip,
	              struct dir_entry *out);
	int (*move)(void *s, uint32_t requester, uint32_t ip, uint32_t to_host,
	            uint32_t expected_epoch, struct dir_entry *out, uint32_t *cur_epoch);
	int (*lookup)(void *s, uint32_t ip, struct dir_entry *out);
	int (*set_state)(void *s, uint32_t requester, uint32_t ip, uint32_t epoch, int state,
	                 struct dir_entry *out, uint32_t *cur_epoch);
	int (*release)(void *s, uint32_t requester, uint32_t ip, uint32_t epoch,
	               uint32_t *cur_epoch);
	int (*list)(void *s, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
	            uint32_t *next);
	int (*subscribe)(void *s, uint32_t ip, uint32_t host);
	int (*subscribers)(void *s, uint32_t ip, uint32_t *hosts, size_t max, size_t *n);
	int (*counters_save)(void *s, const uint64_t *v, size_t n);
	int (*counters_load)(void *s, uint64_t *v, size_t n);
	/* Stores that push changes (NULL for SQLite, whose only writer is this
	 * process: capdird notifies right after its own commit): a descriptor
	 * that becomes readable when changes wait, and the next change
	 * (1 = one read, 0 = none waiting, -1 = the watch failed for good). */
	int (*change_fd)(void *s);
	int (*change_next)(void *s, struct dir_change *out);
};

struct dir_store {
	const struct dir_store_ops *ops;
	void *s;
};

/* The SQLite store of dirdb.c, behind the table. */
extern const struct dir_store_ops dirdb_sqlite_ops;

#endif
