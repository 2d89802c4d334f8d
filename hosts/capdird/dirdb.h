/* dirdb.h: the directory's persistent state in SQLite: hosts, capsules (ip -> host, epoch, state), subscriptions, counters. */
#ifndef HOSTS_DIRDB_H
#define HOSTS_DIRDB_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/formats/dirproto.h"

/*
 * Every function below runs inside the caller's transaction
 * (dirdb_begin .. dirdb_commit): the server makes one transaction per
 * request and commits it BEFORE it replies, so whatever it acknowledged is on
 * disk (WAL, synchronous=FULL).
 *
 * Results: 0 = done, a positive enum dir_error = refused (nothing changed),
 * DIR_DB_FAIL = SQLite failed (message in dirdb_errmsg; roll back).
 */
#define DIR_DB_FAIL (-1)
#define DIR_DIGEST_LEN 16

struct dir_db;

struct dir_host {
	uint32_t id;
	uint32_t addr;          /* locator (data plane) from HELLO; 0 = not yet */
	uint16_t data_port;
	uint64_t last_seq;      /* highest accepted seq: anti-replay across restarts */
	uint32_t ctl_addr;      /* where its last message came from: NOTIFYs go there */
	uint16_t ctl_port;
};

/* Opens (creating if needed) the database for capsule network net/prefix
 * (host order); refuses a database made for another network. */
int dirdb_open(const char *path, uint32_t net, int prefix, struct dir_db **out,
                char *err, size_t errlen);
void dirdb_close(struct dir_db *db);
const char *dirdb_errmsg(struct dir_db *db);

int dirdb_begin(struct dir_db *db);
/* The same for a request that decides nothing (a read: it changes its sender's
 * seq, the counters, a subscription): its commit reaches the log file but is
 * not synced; a crash of capdird loses none of it, a crash of the machine may
 * lose it until the next dirdb_begin's commit syncs the log (docs/DIRECTORY.md 3). */
int dirdb_begin_read(struct dir_db *db);
int dirdb_commit(struct dir_db *db);
void dirdb_rollback(struct dir_db *db);

/* Hosts: rows exist for every host in the key file (dirdb_host_ensure). */
int dirdb_host_ensure(struct dir_db *db, uint32_t id);
int dirdb_host_get(struct dir_db *db, uint32_t id, struct dir_host *out);   /* DIR_E_NOT_FOUND */
int dirdb_host_set_seq(struct dir_db *db, uint32_t id, uint64_t seq, uint32_t ctl_addr,
                        uint16_t ctl_port);
int dirdb_host_set_locator(struct dir_db *db, uint32_t id, uint32_t addr, uint16_t data_port);

/* The reply to a host's last mutating request, so a retry (same request_id
 * and digest of type+body, new seq) gets the same answer instead of being
 * executed twice.  get: 1 = found (type/body filled), 0 = none. */
int dirdb_reply_get(struct dir_db *db, uint32_t host, uint32_t request_id,
                     const uint8_t digest[DIR_DIGEST_LEN], uint8_t *type, uint8_t *body,
                     size_t cap, size_t *len);
int dirdb_reply_put(struct dir_db *db, uint32_t host, uint32_t request_id,
                     const uint8_t digest[DIR_DIGEST_LEN], uint8_t type, const uint8_t *body,
                     size_t len);

/* Capsules.  ip 0 in create = allocate the next free address (never the
 * network, broadcast or .1 gateway address). cur_epoch is set on refusals. */
int dirdb_create(struct dir_db *db, uint32_t host, const char *name, uint32_t want_ip,
                  struct dir_entry *out);
/* MOVE: requester is the holder (push) or to_host (pull), expected_epoch the
 * current one (else NOT_AUTHORIZED / STALE_EPOCH with *cur_epoch); the epoch
 * grows by 1.  to_host == the holder == requester is the FENCE: same holder,
 * epoch + 1, so a pull at the old epoch is then STALE (docs/DIRECTORY.md). */
int dirdb_move(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t to_host,
                uint32_t expected_epoch, struct dir_entry *out, uint32_t *cur_epoch);
int dirdb_lookup(struct dir_db *db, uint32_t ip, struct dir_entry *out);
/* The holder's report of how ip runs (enum dir_cap_state, not UNKNOWN):
 * only the holder, only at the current epoch (else NOT_AUTHORIZED /
 * STALE_EPOCH with *cur_epoch).  A MOVE resets the state to UNKNOWN. */
int dirdb_set_state(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t epoch,
                     int state, struct dir_entry *out, uint32_t *cur_epoch);
int dirdb_release(struct dir_db *db, uint32_t requester, uint32_t ip, uint32_t epoch,
                   uint32_t *cur_epoch);
/* Entries with ip >= cursor in order, at most max; *next = 0 when done. */
int dirdb_list(struct dir_db *db, uint32_t cursor, struct dir_entry *out, size_t max,
                size_t *n, uint32_t *next);

/* Subscriptions: hosts that looked an entry up and want NOTIFY on change. */
int dirdb_subscribe(struct dir_db *db, uint32_t ip, uint32_t host);
int dirdb_subscribers(struct dir_db *db, uint32_t ip, uint32_t *hosts, size_t max, size_t *n);

/* Counters (enum dir_stat order), saved with every commit, loaded at start. */
int dirdb_counters_save(struct dir_db *db, const uint64_t *v, size_t n);
int dirdb_counters_load(struct dir_db *db, uint64_t *v, size_t n);

#endif
