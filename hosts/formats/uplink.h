/* uplink.h: the caprun <-> caphostd uplink: records on RUN_DIR/caphostd.sock (SOCK_SEQPACKET). */
#ifndef HOST_UPLINK_H
#define HOST_UPLINK_H

#include "hosts/formats/tcpconn.h"

#include <stddef.h>
#include <stdint.h>

/*
 * When caphostd runs on a host it listens on $CAPSULE_RUN_DIR/caphostd.sock
 * (SOCK_SEQPACKET, mode 0600).  A caprun that can connect there does not
 * create a TUN device: the connection is its uplink.  One record per
 * SEQPACKET message, like the capsule channel: a 4-byte header
 * {type u8, flags u8 (0), reserved u16 (0)} and a payload.  Both ends are
 * processes of the same machine, so integers are in host byte order;
 * IPv4 addresses are in network order (as in struct in_addr).
 *
 *   caprun -> caphostd                      caphostd -> caprun
 *   ATTACH {ip, flags, epoch, source,       ATTACHED {ip, epoch}  | ERROR {text}
 *           state, name[64]}
 *   PACKET {one IPv4 packet}        <-->    PACKET {one IPv4 packet}
 *   FROZEN {n, n x tcpconn record}          (the capsule froze: hold its TCP peers)
 *   THAWED {}                               (it runs again in the same process)
 *   STARTING {}                             (a migrated capsule is about to run here)
 *   DETACH {reason}                         (exited: forget it; saved: it is on disk;
 *                                            migrated: the directory names its new host)
 *   MIG_PREPARE {target, flags, migration id} MIG_READY {target locator, epoch, key} | ERROR
 *   MIG_END {}                              (END is about to go out: the target may hold it)
 *   MIG_DIR {FENCE|LOOKUP|CHECK, target,    MIG_DIR_RESULT {MOVED|KEPT|RUNNING|GONE|NO_ANSWER,
 *            epoch}                                         holder, epoch}
 *   MIG_DONE {COMMITTED|ABORTED, ...}       (flush the synchronized peers to the target / back)
 *
 * ATTACH comes first; caphostd answers ATTACHED or ERROR (and then
 * closes).  ip 0 = let the directory pick (fresh capsules only).  mtu:
 * the capsule link's (every ATTACH; 0 from a caprun older than it).  Flags:
 *
 *   RESUME    a resumed snapshot owning ip: caphostd moves the directory
 *             entry here.
 *   MIGRATED  (with RESUME) a capsule that arrived by live migration, at
 *             epoch = e, from host source: caphostd PULLS it (one MOVE to
 *             this host at exactly e, retried for as long as the directory
 *             does not answer: silence is never a refusal) unless the
 *             directory names this host already; never at a newer epoch:
 *             that one belongs to a source that fenced.  The answer is
 *             ERROR only on a definite verdict (the source kept it, or it
 *             is gone).  Until STARTING, a closed uplink means the capsule
 *             never ran here: caphostd moves the entry back to the source.
 *   INCOMING  (alone) a migration arrives: caprun holds (or is receiving)
 *             ip at epoch e from host source, not running.  caphostd only
 *             takes note (no directory), answers ATTACHED at once, and
 *             expects a second ATTACH with MIGRATED on the same uplink.
 *   REATTACH  (alone) caprun held ip at epoch with an earlier caphostd
 *             that died; state 1 running, 2 frozen.  Answered ATTACHED at
 *             once from caprun's word (the capsule never stopped being
 *             where it is); the directory is checked afterwards, and an
 *             entry at a newer epoch on another host gets ERROR: this copy
 *             is stale.  State 3: it is a live migration's source (frozen
 *             or about to be): the migration's own FENCE decides.
 *
 * A closed uplink without DETACH counts as DETACH exited, except during a
 * migration after MIG_PREPARE (see docs/MIGRATION.md section 7).
 * Malformed records are dropped and counted.  The one doc section is
 * docs/NETWORK.md section 6.1 (the migration records are explained in
 * docs/MIGRATION.md section 7).
 */
#define UPLINK_SOCK_NAME  "caphostd.sock"
#define UPLINK_CTL_NAME   "caphostd.ctl"    /* stream socket: `stats\n`, `ps\n`, `list\n`, `capture ...\n` (capture.h), `gaps IP EPOCH\n` (hostd_msg.h) */
#define UPLINK_HDR_LEN    4
#define UPLINK_NAME_MAX   64                /* NUL-terminated, [A-Za-z0-9._-] */
#define UPLINK_MAX        (UPLINK_HDR_LEN + 65535)
#define UPLINK_ERROR_MAX  200
#define UPLINK_FROZEN_MAX 256               /* TCP connections (with a peer) in one FROZEN record */

enum uplink_type {
	UPLINK_ATTACH   = 1,
	UPLINK_ATTACHED = 2,
	UPLINK_ERROR    = 3,
	UPLINK_PACKET   = 4,
	UPLINK_FROZEN   = 5,
	UPLINK_THAWED   = 6,
	UPLINK_DETACH   = 7,
	UPLINK_MIG_PREPARE    = 8,
	UPLINK_MIG_READY      = 9,
	UPLINK_MIG_DIR        = 10,
	UPLINK_MIG_DIR_RESULT = 11,
	UPLINK_MIG_DONE       = 12,
	UPLINK_STARTING       = 13,
	UPLINK_MIG_END        = 14,
	UPLINK_TYPE_MAX = 14,
};

#define UPLINK_ATTACH_RESUME   1u
#define UPLINK_ATTACH_MIGRATED 2u   /* with RESUME: pull the entry at attach.epoch only (see above) */
#define UPLINK_ATTACH_INCOMING 4u   /* a migration arrives: note it, take nothing yet */
#define UPLINK_ATTACH_REATTACH 8u   /* caprun outlived its caphostd: it holds ip at epoch */

/* REATTACH: how the capsule is; MIGRATING: we are a migration's source (maybe frozen):
 * the new caphostd must neither release it nor judge it by the directory. */
enum uplink_reattach_state {
	UPLINK_STATE_RUNNING = 1, UPLINK_STATE_FROZEN = 2, UPLINK_STATE_MIGRATING = 3
};

enum uplink_detach_reason {
	UPLINK_DETACH_EXITED = 1, UPLINK_DETACH_SAVED = 2, UPLINK_DETACH_MIGRATED = 3
};
/* CHECK (before the freeze): can the directory commit now?  caphostd reports the capsule
 * running at its own epoch (a STATE write, the path a commit takes): KEPT when it was written,
 * MOVED / GONE when the directory names another holder or nobody, NO_ANSWER on silence. */
enum uplink_mig_op { UPLINK_MIG_FENCE = 2, UPLINK_MIG_LOOKUP = 3, UPLINK_MIG_CHECK = 4 };
/* What the directory says now, for the source: the target holds it (not yet running / running),
 * the source holds it at a newer epoch, it was released, or the directory did not answer. */
enum uplink_mig_result_code {
	UPLINK_MIG_MOVED = 1, UPLINK_MIG_KEPT = 2, UPLINK_MIG_NO_ANSWER = 3, UPLINK_MIG_RUNNING = 4,
	UPLINK_MIG_GONE = 5
};
enum uplink_mig_outcome { UPLINK_MIG_COMMITTED = 1, UPLINK_MIG_ABORTED = 2 };

struct uplink_hdr {
	uint8_t  type;
	uint8_t  flags;
	uint16_t reserved;
};
_Static_assert(sizeof(struct uplink_hdr) == UPLINK_HDR_LEN, "uplink header is 4 bytes");

struct uplink_attach {
	uint32_t ip;           /* network order; 0 = allocate */
	uint32_t flags;        /* UPLINK_ATTACH_* */
	uint32_t epoch;        /* MIGRATED, INCOMING: the epoch e the move started at;
	                        * REATTACH: the epoch caprun holds; else 0 */
	uint32_t source_host;  /* MIGRATED, INCOMING: the host it comes from; else 0 */
	uint32_t state;        /* REATTACH: enum uplink_reattach_state; else 0 */
	uint32_t mtu;          /* the capsule link's MTU, 576..65535: what caphostd may join the
	                        * wire's pieces into (hostd_batch.c); 0 = unknown: nothing joined */
	char     name[UPLINK_NAME_MAX];
};
_Static_assert(sizeof(struct uplink_attach) == 88, "attach body");

struct uplink_attached {
	uint32_t ip;           /* network order */
	uint32_t epoch;
};
_Static_assert(sizeof(struct uplink_attached) == 8, "attached body");

/*
 * FROZEN body: uint32_t n, uint32_t reserved (0), then n records of
 * TCPCONN_WIRE_LEN bytes (tcpconn_encode: the same big-endian record HOLD
 * carries), one per TCP connection of the freeze report that has a peer.
 */
struct uplink_frozen_hdr {
	uint32_t n;
	uint32_t reserved;
};
_Static_assert(sizeof(struct uplink_frozen_hdr) == 8, "frozen body header");

/* MIG_PREPARE: caprun asks its caphostd to get the peers ready for a move to target_host. */
struct uplink_mig_prepare {
	uint32_t target_host;
	uint32_t flags;          /* UPLINK_MIG_LOCATE or 0 */
	uint64_t migration_id;   /* nonzero, random (migstream_new_id) */
};
/*
 * LOCATE: only where the target listens and the stream key, no SYNC: the
 * source pre-copies memory while the capsule runs and its peers send as
 * usual, then asks again without the flag (the real MIG_PREPARE) just
 * before it freezes.  The answer is a MIG_READY with peers_asked 0.
 */
#define UPLINK_MIG_LOCATE 1u
_Static_assert(sizeof(struct uplink_mig_prepare) == 16, "mig_prepare body");

/* MIG_READY: the peers were asked to stop; where the target listens, and the stream key. */
struct uplink_mig_ready {
	uint32_t target_addr;    /* network order: the target host's locator */
	uint16_t target_port;    /* its migration port (MIG_PORT) */
	uint16_t reserved;
	uint32_t epoch;          /* the capsule's directory epoch e the migration starts at */
	uint32_t peers_asked;    /* SYNC sent to this many peer hosts ... */
	uint32_t peers_acked;    /* ... and this many answered in time */
	uint32_t source_host;    /* this host's id (the stream head names its sender) */
	uint8_t  key[32];        /* migstream_derive_key(cluster data key, migration_id) */
};
_Static_assert(sizeof(struct uplink_mig_ready) == 56, "mig_ready body");

/* MIG_DIR: the fence (re-claim at epoch e), a look at where the capsule is now, or the check
 * that the directory can commit (CHECK: epoch is caprun's, caphostd reports at its own). */
struct uplink_mig_dir {
	uint32_t op;             /* enum uplink_mig_op */
	uint32_t target_host;
	uint32_t epoch;          /* the e of MIG_READY */
	uint32_t reserved;
};
_Static_assert(sizeof(struct uplink_mig_dir) == 16, "mig_dir body");

struct uplink_mig_result {
	uint32_t result;         /* enum uplink_mig_result_code */
	uint32_t holder;         /* host the directory names now (0 if no answer) */
	uint32_t epoch;          /* its epoch now */
	uint32_t reserved;
};
_Static_assert(sizeof(struct uplink_mig_result) == 16, "mig_result body");

struct uplink_mig_done {
	uint32_t outcome;        /* enum uplink_mig_outcome */
	uint32_t target_host;
	uint32_t epoch;          /* COMMITTED: the target's epoch; ABORTED: ours */
	uint32_t frozen_drops;   /* packets for the capsule that reached caprun while it was frozen
	                          * and could not be kept: caphostd counts them (mig_frozen_drops) */
};
_Static_assert(sizeof(struct uplink_mig_done) == 16, "mig_done body");

/* Decoded record; pointers into the caller's buffer. */
struct uplink_msg {
	uint8_t type;
	union {
		struct uplink_attach attach;
		struct uplink_attached attached;
		char error[UPLINK_ERROR_MAX + 1];
		struct { const uint8_t *pkt; size_t len; } packet;
		struct { const uint8_t *recs; uint32_t n; } frozen;   /* n tcpconn records, each valid */
		uint32_t detach_reason;
		struct uplink_mig_prepare mig_prepare;
		struct uplink_mig_ready mig_ready;
		struct uplink_mig_dir mig_dir;
		struct uplink_mig_result mig_result;
		struct uplink_mig_done mig_done;
	} u;
};

/*
 * Check one record: header (known type, flags and reserved 0), exact body
 * size for its type, ATTACH name valid and NUL-padded, FROZEN count
 * consistent and every FROZEN record valid (tcpconn_decode), PACKET
 * non-empty, DETACH reason known.  0 and *m filled, or -1.  FROZEN's recs
 * point into buf: read each with tcpconn_decode.
 */
int uplink_decode(const uint8_t *buf, size_t len, struct uplink_msg *m);

/* Encoders: write one record into out (cap bytes); return its length, or 0 if it does not fit. */
size_t uplink_encode_attach(uint8_t *out, size_t cap, const char *name,
                            const struct uplink_attach *a);   /* a->name is ignored */
size_t uplink_encode_attached(uint8_t *out, size_t cap, uint32_t ip, uint32_t epoch);
size_t uplink_encode_error(uint8_t *out, size_t cap, const char *text);
size_t uplink_encode_simple(uint8_t *out, size_t cap, int type);   /* THAWED, STARTING, MIG_END */
size_t uplink_encode_detach(uint8_t *out, size_t cap, uint32_t reason);
/* A fixed-size record (MIG_PREPARE .. MIG_DONE): body is the struct of that type. */
size_t uplink_encode_body(uint8_t *out, size_t cap, int type, const void *body, size_t blen);
/*
 * FROZEN from a whole freeze report (header + threads + fds, len bytes):
 * each TCP socket with a peer, converted once (tcpconn_from_report).
 */
size_t uplink_encode_frozen(uint8_t *out, size_t cap, const uint8_t *report, size_t len);

#endif
