/* xlate.h: the translation table (capsule IP -> host, locator, epoch) and the redirect decision. */
#ifndef HOST_XLATE_H
#define HOST_XLATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A capsule IP is an identity; where it runs (host_id + locator address +
 * data port) is a locator that changes when it moves.  Every move raises
 * the capsule's epoch, so the table keeps, per capsule IP, the newest
 * (epoch, location) it has heard of and refuses anything older: a late,
 * reordered or replayed update can never move an entry backwards.
 *
 * Addresses (capsule_ip, locator_ip) are IPv4 in network order, like
 * struct in_addr; everything else is host order.  Pure data structure: no
 * I/O, no clock (callers pass now_ms), not thread-safe.
 */

enum xlate_state {
	XLATE_UNKNOWN = 0,   /* no usable location (e.g. a redirect said "ask the directory") */
	XLATE_LOCAL   = 1,   /* runs on this host */
	XLATE_REMOTE  = 2,   /* runs on host_id at locator_ip:port */
	XLATE_FROZEN  = 3,   /* on this host but frozen, on disk or moving out: nothing delivered (XLATE_HOLD) */
};

struct xlate_entry {
	uint32_t capsule_ip;    /* key, network order */
	uint32_t host_id;       /* current host (0 if unknown) */
	uint32_t locator_ip;    /* that host's address, network order */
	uint16_t port;          /* that host's data port (7471 by default) */
	uint8_t  state;         /* enum xlate_state */
	uint8_t  reserved;
	uint32_t epoch;         /* version of this location: raised on every move */
	uint32_t reserved2;
	uint64_t last_used_ms;  /* caller's clock, for ageing REMOTE entries out of the cache */
};
_Static_assert(sizeof(struct xlate_entry) == 32, "xlate_entry layout");

enum xlate_err {
	XLATE_OK = 0,
	XLATE_E_STALE,      /* update with an older epoch than the entry's: refused */
	XLATE_E_CONFLICT,   /* same epoch, different host: two truths for one version, refused */
	XLATE_E_FULL,       /* table holds max_entries already */
	XLATE_E_INVALID,    /* capsule_ip 0, bad state, REMOTE without locator, ... */
	XLATE_E_NOTFOUND,
	XLATE_E_NOMEM,
};

struct xlate_counters {
	uint64_t updates;           /* accepted (inserted or changed) */
	uint64_t stale_refused;
	uint64_t conflict_refused;
	uint64_t full_refused;
	uint64_t invalid_refused;
	uint64_t delivered, held, redirected, redirected_unknown;
	uint64_t dropped_epoch_ahead;   /* sender claims a newer epoch than our LOCAL/FROZEN entry */
	uint64_t dropped_other;
};

struct xlate_slot;
struct xlate_table {
	struct xlate_slot *slots;
	size_t   nslots;        /* power of two, >= 2 * max_entries: probes stay short */
	size_t   count, max_entries;
	uint32_t self_host_id;  /* our own host_id: LOCAL/FROZEN entries name it */
	struct xlate_counters c;
};

/* Size the table for at most max_entries capsules.  XLATE_OK or XLATE_E_NOMEM / XLATE_E_INVALID. */
int xlate_init(struct xlate_table *t, size_t max_entries, uint32_t self_host_id);
void xlate_free(struct xlate_table *t);

/*
 * Insert or update e->capsule_ip.  Rules: a new epoch > the entry's wins;
 * an equal epoch may refresh the same host_id (state LOCAL <-> FROZEN,
 * locator address change, UNKNOWN -> known) but not name another host;
 * an older epoch is refused.  LOCAL/FROZEN entries get host_id =
 * self_host_id filled in.  UNKNOWN at a newer epoch is allowed (a REDIRECT
 * "unknown" invalidates an entry).  last_used_ms is kept from the old entry
 * unless e's is larger.  Counts every outcome.
 */
int xlate_update(struct xlate_table *t, const struct xlate_entry *e);

/* The entry for capsule_ip, or NULL.  Valid until the next update/delete. */
const struct xlate_entry *xlate_lookup(const struct xlate_table *t, uint32_t capsule_ip);
/* Mark capsule_ip as used now (sending to it).  XLATE_OK or XLATE_E_NOTFOUND. */
int xlate_touch(struct xlate_table *t, uint32_t capsule_ip, uint64_t now_ms);
int xlate_delete(struct xlate_table *t, uint32_t capsule_ip);

/*
 * Iterate: start with *cursor = 0; returns each entry once, then NULL.
 * Do not update or delete while iterating (deletion moves entries); collect
 * first, or use xlate_expire.
 */
const struct xlate_entry *xlate_next(const struct xlate_table *t, size_t *cursor);
/* Delete REMOTE and UNKNOWN entries not used since before_ms; returns how many. */
size_t xlate_expire(struct xlate_table *t, uint64_t before_ms);

/*
 * The redirect rule: a DATA packet for capsule X arrived here, the sender
 * believing X is here at epoch sender_epoch.  `ours` is our entry for X
 * (NULL if none).  Decision table (E = our entry's epoch, S = sender's):
 *
 *   our entry        S vs E     action    redirect reply
 *   LOCAL            S == E     DELIVER   -
 *   LOCAL            S <  E     DELIVER   ours        (sender's cache is old: refresh it)
 *   LOCAL            S >  E     DROP      -           (we may be a stale copy: never deliver)
 *   FROZEN           S == E     HOLD      -
 *   FROZEN           S <  E     HOLD      ours
 *   FROZEN           S >  E     DROP      -
 *   REMOTE           S <  E     DROP      ours        (it moved: here is where)
 *   REMOTE           S >= E     DROP      unknown     (the sender knows as much or more: ask the directory)
 *   UNKNOWN or none  any        DROP      unknown
 *
 * Nothing is ever forwarded to the new host: the sender re-sends after it
 * updates (no forwarding agents).  A DROP with a redirect is still a drop.
 * Pure: fills *d, changes nothing.
 */
/* HOLD: the capsule is here but frozen; caphostd drops the packet too (counted drop_held, not
 * queued): the sender's TCP retransmits once it runs again, and the gateway answers ordinary peers. */
enum xlate_action { XLATE_DROP = 0, XLATE_DELIVER = 1, XLATE_HOLD = 2 };
enum xlate_reply  { XLATE_REPLY_NONE = 0, XLATE_REPLY_ENTRY = 1, XLATE_REPLY_UNKNOWN = 2 };
struct xlate_decision {
	uint8_t action;             /* enum xlate_action */
	uint8_t reply;              /* enum xlate_reply: send a REDIRECT to the sender */
	struct xlate_entry info;    /* REPLY_ENTRY: our entry (use host_id, locator_ip, port, epoch) */
};
void xlate_decide(const struct xlate_entry *ours, uint32_t sender_epoch, struct xlate_decision *d);

/* Lookup + xlate_decide + counters: what the daemon calls per received DATA packet. */
void xlate_route_in(struct xlate_table *t, uint32_t capsule_ip, uint32_t sender_epoch,
                    struct xlate_decision *d);

const char *xlate_state_name(int state);

#endif
