/* dirclient.h: a host's side of the directory protocol: authenticated requests with retries (asynchronous or blocking), NOTIFY intake. */
#ifndef HOSTS_DIRCLIENT_H
#define HOSTS_DIRCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "hosts/formats/dirproto.h"

/*
 * One struct dirc per host daemon: a UDP socket connected to the directory.
 * Every request gets a fresh request_id and, on each (re)transmission, a
 * fresh seq; the directory answers a retried mutating request from its
 * cache, so a retry never creates or moves twice.  Replies are checked:
 * MAC under our key, sender 0, our request_id, the expected type (or
 * ERROR), seq above every seq the directory sent us before.  Anything else
 * is dropped and counted (dirclient_counters).
 *
 * Two ways to ask.  The ASYNCHRONOUS one (caphostd: a directory that is
 * slow or down must never stall the packet loop): dirclient_start() sends and
 * returns at once; the answer (or a timeout after the given number of
 * attempts) reaches the callback from dirclient_input() (when dirclient_fd() is
 * readable) or dirclient_tick() (when its returned wait has passed).  Requests
 * that change the directory (HELLO CREATE MOVE RELEASE) go out one at a
 * time, in the order started: the directory keeps each host's LAST
 * mutating request for retries, so two in flight could turn a retried
 * CREATE into a second address.  Reads (LOOKUP STATE HOST_LOOKUP LIST
 * STATS) go out at once, in parallel.  The BLOCKING functions below
 * (dirclient_sync_create, ...: the command-line tools) run one request through the
 * same engine and wait for it.
 *
 * NOTIFYs (entries this host looked up with subscribe=1 changed) may arrive
 * at any time: each one is acknowledged at once and queued; take them with
 * dirclient_next_notify().
 *
 * Results: 0 = done; > 0 = the directory refused with enum dir_error
 * (DIR_E_STALE_EPOCH etc.); < 0 = DIRC_ERR_*.  Addresses are host byte
 * order.  Not thread-safe (one caller at a time).
 */
#define DIRC_ERR_TIMEOUT (-1)    /* no valid answer after every attempt */
#define DIRC_ERR_IO      (-2)    /* socket error (errno set) */
#define DIRC_ERR_ARG     (-3)    /* invalid argument (bad name, NULL) */
#define DIRC_ERR_FULL    (-4)    /* too many requests in flight (asynchronous only) */

#define DIRC_FOREVER     0       /* attempts: retry until an answer arrives */
#define DIRC_MAX_PENDING 256     /* requests in flight or queued at once */

struct dirc;

struct dirclient_counters {
	uint64_t sent;           /* datagrams sent, retries included */
	uint64_t retries;
	uint64_t drop_invalid;   /* truncated, malformed, bad MAC, bad body, wrong sender */
	uint64_t drop_replay;    /* seq not above the highest seen from the directory */
	uint64_t drop_stray;     /* valid, but not an answer to a request in flight */
	uint64_t notifies;       /* NOTIFYs accepted (and acknowledged) */
	uint64_t notify_overflow;/* queued NOTIFYs dropped because the queue was full */
	uint64_t timeouts;       /* requests given up after their attempts */
	uint64_t failovers;      /* switches to the next directory replica */
};

/* dir_addr: "A.B.C.D[:PORT]" (default port DIR_PORT), or several replicas of one
 * directory (capdird --etcd), comma-separated: requests go to one of them
 * until it leaves a request unanswered, the retry goes to the next.
 * NULL + err on failure. */
struct dirc *dirclient_open(const char *dir_addr, uint32_t host_id, const uint8_t key[DIR_KEY_LEN],
                       char *err, size_t errlen);
/* Pending requests are dropped without their callbacks. */
void dirclient_close(struct dirc *c);

/* Optional tuning: first wait per attempt (doubles each retry, max 1.6 s), attempts. */
void dirclient_set_timeout(struct dirc *c, int first_wait_ms, int attempts);   /* default 200 ms, 5 */
void dirclient_set_network_id(struct dirc *c, uint32_t network_id);           /* default 1 */
int  dirclient_fd(const struct dirc *c);
/* Which replica requests go to now (an index into dir_addr's list; it changes on failover:
 * subscriptions made through the one before are that replica's, and lost to us). */
int  dirclient_replica(const struct dirc *c);
void dirclient_counters(const struct dirc *c, struct dirclient_counters *out);

/* ---- asynchronous ---- */

/*
 * The answer to one request: rc as above; reply is the directory's message
 * (type = the expected answer, or DIR_T_ERROR with u.error.code == rc and
 * u.error.epoch the current epoch), NULL when rc < 0.
 */
typedef void (*dirc_done_fn)(void *ctx, uint64_t cookie, int rc, const struct dir_msg *reply);

/*
 * Start request m (type and body set; header fields are filled in here).
 * attempts: how many transmissions before DIRC_ERR_TIMEOUT (0 =
 * DIRC_FOREVER, the default count: dirc_set_timeout's).  Returns a handle
 * (nonzero) for dirclient_cancel, or 0 with *rc set (DIRC_ERR_ARG, DIRC_ERR_FULL):
 * then done is never called.
 */
uint32_t dirclient_start(struct dirc *c, const struct dir_msg *m, int attempts, dirc_done_fn done,
                    void *ctx, uint64_t cookie, int *rc);
#define DIRC_DEFAULT_ATTEMPTS (-1)   /* attempts: use dirc_set_timeout's count */
/* Forget a request: its callback is never called. */
void dirclient_cancel(struct dirc *c, uint32_t handle);
/* Read every waiting datagram: answers call their callbacks, NOTIFYs are queued. */
void dirclient_input(struct dirc *c);
/* Retransmit what is due, give up what ran out of attempts; ms until the next is due, -1: none. */
int dirclient_tick(struct dirc *c);
/* Requests in flight or queued behind a mutating one. */
size_t dirclient_pending(const struct dirc *c);
/* The reply's code: 0 for the expected type, the error code for DIR_T_ERROR. */
int dirclient_reply_code(const struct dir_msg *reply);

/* ---- blocking (one at a time; for command-line tools) ---- */

/* Announce this host's data-plane locator (addr:data_port). */
int dirclient_sync_hello(struct dirc *c, uint32_t addr, uint16_t data_port);
/* New capsule held by this host; want_ip 0 = let the directory pick. */
int dirclient_sync_create(struct dirc *c, const char *name, uint32_t want_ip, uint32_t *ip, uint32_t *epoch);
/* Move ip to to_host; *epoch = the new epoch, or the current one on DIR_E_STALE_EPOCH /
 * DIR_E_NOT_AUTHORIZED. */
int dirclient_sync_move(struct dirc *c, uint32_t ip, uint32_t to_host, uint32_t expected_epoch,
              uint32_t *epoch);
/* Current (host, locator, epoch) of ip; subscribe = also NOTIFY me on change. */
int dirclient_sync_lookup(struct dirc *c, uint32_t ip, int subscribe, struct dir_entry *out);
/* Forget ip (only its holder, with the current epoch; *cur_epoch set on refusal). */
int dirclient_sync_release(struct dirc *c, uint32_t ip, uint32_t epoch, uint32_t *cur_epoch);
/* One page of entries with ip >= cursor (start with 0); *next = 0 after the last page. */
int dirclient_sync_list(struct dirc *c, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
              uint32_t *next);
/* Report how ip runs here (enum dir_cap_state): holder only, current epoch
 * (else DIR_E_NOT_AUTHORIZED / DIR_E_STALE_EPOCH).  out (may be NULL): the entry now. */
int dirclient_sync_state(struct dirc *c, uint32_t ip, uint32_t epoch, int state, struct dir_entry *out);
/* The data-plane locator host_id announced in HELLO (DIR_E_NOT_FOUND if none yet). */
int dirclient_sync_host_lookup(struct dirc *c, uint32_t host_id, uint32_t *addr, uint16_t *data_port);
/* The directory's counters, enum dir_stat order (names: dir_stat_names). */
int dirclient_sync_stats(struct dirc *c, uint64_t *v, size_t max, size_t *n);

/* Next queued NOTIFY (host_id 0 in it = released).  Waits up to timeout_ms
 * (0 = only what already arrived, -1 = forever).  1 = got one, 0 = none, < 0 error. */
int dirclient_next_notify(struct dirc *c, struct dir_entry *out, int timeout_ms);

#endif
