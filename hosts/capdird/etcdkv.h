/* etcdkv.h: an etcd v3 client over its JSON gateway (libcurl): optimistic transactions committed as one Txn, leases, and a watch. */
#ifndef HOSTS_ETCDKV_H
#define HOSTS_ETCDKV_H

#include <stddef.h>
#include <stdint.h>

#define ETCDKV_KEY_MAX   128
#define ETCDKV_VAL_MAX   4096
#define ETCDKV_EVVAL_MAX 256      /* values carried in watch events (capsule entries) */

struct etcdkv;

/* TLS toward etcd (its --cert-file/--key-file, --client-cert-auth): PEM files, each may be
 * NULL.  cacert: the CA that signed the members' certificates (NULL: the system's CAs);
 * cert + key: this replica's client certificate, for members that ask for one. */
struct etcdkv_tls {
	const char *cacert, *cert, *key;
};

struct etcdkv_event {
	char     key[ETCDKV_KEY_MAX];
	int      deleted;
	char     val[ETCDKV_EVVAL_MAX];    /* the new value, or for a delete the previous one */
	char     prev[ETCDKV_EVVAL_MAX];   /* the value before ("" = the key was new) */
	int64_t  revision;
};

/*
 * A transaction: begin, gets (each read at the revision of the first one,
 * so they see one snapshot; a tracked key's mod_revision, 0 if absent, is
 * compared at commit), puts and deletes (buffered; a get sees them), commit
 * = one Txn: "every tracked key unchanged" then every write.  Nothing is
 * written unless the whole Txn succeeds.
 *
 * endpoints: "[http://|https://]HOST:PORT[,...]"; without a scheme http://,
 * or https:// when tls names any file (tls may be NULL).  A request goes
 * to the current endpoint; one that refuses or times out makes the next one
 * current.  0 or -1 with a one-line message in err.
 */
int etcdkv_open(const char *endpoints, const struct etcdkv_tls *tls, struct etcdkv **out,
                char *err, size_t errlen);
void etcdkv_close(struct etcdkv *kv);
const char *etcdkv_errmsg(struct etcdkv *kv);

void etcdkv_begin(struct etcdkv *kv);
/* 1 = found (val NUL-terminated), 0 = absent, -1 = failed (etcdkv_errmsg). */
int etcdkv_get(struct etcdkv *kv, const char *key, int track, char *val, size_t cap);
/* 0, or -1 when the transaction holds too many writes. */
int etcdkv_put(struct etcdkv *kv, const char *key, const char *val, int64_t lease);
int etcdkv_del(struct etcdkv *kv, const char *key);
int etcdkv_writes(const struct etcdkv *kv);
/* Keys in [from, end) ascending, at most limit, at the transaction's
 * snapshot (buffered writes not included, nothing tracked): fn per key
 * (non-zero stops).  The number of keys, or -1. */
int etcdkv_range(struct etcdkv *kv, const char *from, const char *end, int limit,
                 int (*fn)(const char *key, const char *val, void *arg), void *arg);
/* 0 = committed, 1 = a tracked key changed (nothing written), -1 = failed
 * (ambiguous after a timeout: the Txn may or may not have been applied). */
int etcdkv_commit(struct etcdkv *kv);
/* The revision the transaction reads at (0 before its first read). */
int64_t etcdkv_revision(const struct etcdkv *kv);

/* Leases: grant one of ttl seconds (its id, or -1), keep it alive once (0 or -1). */
int64_t etcdkv_lease_grant(struct etcdkv *kv, int ttl);
int etcdkv_lease_keepalive(struct etcdkv *kv, int64_t id);

/*
 * Watch every key under prefix from revision from_rev on (0 = from now), in
 * a thread of its own with its own connection, reconnecting (to the next
 * endpoint) from the last revision seen when the stream breaks.  The fd
 * becomes readable when events wait; next: 1 = one event, 0 = none.
 */
int etcdkv_watch_start(struct etcdkv *kv, const char *prefix, int64_t from_rev);
int etcdkv_watch_fd(struct etcdkv *kv);
int etcdkv_watch_next(struct etcdkv *kv, struct etcdkv_event *ev);

#endif
