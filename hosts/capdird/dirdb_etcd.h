/* dirdb_etcd.h: the directory's state in an etcd v3 cluster (capdird --etcd): its keys and values, and the dir_store_ops table. */
#ifndef HOSTS_DIRDB_ETCD_H
#define HOSTS_DIRDB_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/capdird/dirstore.h"
#include "hosts/capdird/etcdkv.h"

/*
 * Keys and values (docs/DIRECTORY.md section 6; P = --etcd-prefix, default
 * "/capdir/"); values are ASCII, one line, fields in this order:
 *
 *   P"meta"          "net=A.B.C.D/N"                 the network; a store made for another is refused
 *   P"cursor"        "IP"                            next address to try (u32 decimal)
 *   P"cap/%08x"      "host=H epoch=E state=S name=NAME"      one capsule (key: its ip in hex,
 *                                                    so key order is address order)
 *   P"host/%u"       "addr=A port=P seq=Q req=R type=T dig=HEX32 body=HEX"
 *                    locator (HELLO), highest seq of a committed request,
 *                    the retry cache (req 0 = none)
 *   P"alive/%u/REPLICA" "replica=REPLICA"            on that replica's lease for the host, kept
 *                                                    alive while the host talks to it; none
 *                                                    left = host lost
 *
 * One request is one etcd Txn: compare the mod_revision of every key the
 * request read (0 = it was absent), then write.  A MOVE reads P"cap/IP"
 * and the requester's P"host/ID", and commits "both unchanged" -> put the
 * entry with epoch+1, put the host record with the new seq and the cached
 * reply.  Another replica's change in between fails the compare: the
 * request runs again (DIR_DB_CONFLICT).
 */
#define DIRDB_ETCD_HOST_VAL_MAX (160 + 2 * DIR_MSG_MAX)   /* longest P"host/ID" value + NUL */
#define DIRDB_ETCD_CAP_VAL_MAX  128                       /* longest P"cap/IP" value + NUL */

struct dirdb_etcd_host {      /* the value of P"host/ID" */
	uint32_t addr;
	uint16_t port;
	uint64_t seq;
	uint32_t req;              /* retry cache: request id, 0 = none */
	uint8_t  type;
	uint8_t  dig[DIR_DIGEST_LEN];
	uint8_t  body[DIR_MSG_MAX];
	size_t   blen;
};

/* One line each way; parse: 0, or -1 for a malformed value (a field missing, out of range). */
int dirdb_etcd_host_parse(const char *v, struct dirdb_etcd_host *r);
void dirdb_etcd_host_format(const struct dirdb_etcd_host *r, char *v);   /* v: DIRDB_ETCD_HOST_VAL_MAX */
int dirdb_etcd_cap_parse(const char *v, uint32_t ip, struct dir_entry *e);
void dirdb_etcd_cap_format(const struct dir_entry *e, char *v, size_t n);

#define DIRDB_ETCD_PREFIX_DEFAULT "/capdir/"
#define DIRDB_ETCD_LEASE_TTL      6      /* seconds: a host unheard for this long is lost */

/* endpoints and tls (may be NULL): as etcdkv_open's. */
int dirdb_etcd_open(const char *endpoints, const struct etcdkv_tls *tls, const char *prefix,
                    uint32_t net, int prefix_len, void **out, char *err, size_t errlen);

/* Host liveness: keep this replica's lease for host alive (granting one, with
 * its key, the first time and after it expired); at most one attempt a
 * second.  replica: this replica's --listen.  0 or DIR_DB_FAIL. */
int dirdb_etcd_host_alive(void *s, uint32_t host, const char *replica);

extern const struct dir_store_ops dirdb_etcd_ops;

#endif
