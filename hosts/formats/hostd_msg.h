/* hostd_msg.h: payloads of the data plane's HOLD, FLUSH, SYNC, ACK and GAPS messages between host daemons (pure codec). */
#ifndef HOST_HOSTD_MSG_H
#define HOST_HOSTD_MSG_H

#include "hosts/formats/tcpconn.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Carried in wire.h datagrams (authenticated, replay-checked like DATA);
 * docs/NETWORK.md section 6.7 is their one doc section (it names this
 * header; GAPS has its own, 6.12, listed in 6.7's table).  Integers big-endian; the hostd_wire_* structs below pin the
 * byte layouts, the codec reads and writes bytes at those offsets.
 *
 * WIRE_HOLD (type 5), host of a frozen capsule -> gateway host (20 + 44 n bytes):
 *   capsule_ip (4, network order) | epoch u32 | id u64 | n u16 | rec_len u16 (44)
 *   then n records of rec_len bytes, one per TCP connection of the capsule
 *   to an ordinary peer, each a struct tcpconn (tcpconn.h: the same state
 *   the gateway's holder starts from).  rec_len was a reserved 0 when the
 *   records were 40-byte report entries: the two encodings refuse each other.
 *   "Answer this capsule's ordinary peers in its place until FLUSH."
 *
 * WIRE_FLUSH (type 4), host where the capsule runs again -> gateway host (16 bytes):
 *   capsule_ip (4, network order) | epoch u32 | id u64
 *   "It runs here now at this epoch: release what you hold, to me."
 *
 * WIRE_SYNC (type 3), live migration (docs/MIGRATION.md), 32 bytes:
 *   kind u8 | reserved u8[3] (0) | capsule_ip (4, network order) | epoch u32 |
 *   migration_id u64 | host_id u32 | locator_ip (4, network order) | port u16 |
 *   reserved u16 (0)
 *   SYNC (1), source host -> each peer host: "stop sending to capsule_ip,
 *     queue (bounded) until FLUSH_TO"; host_id = the target, locator/port 0.
 *   SYNC_ACK (2), peer -> source: same ip, epoch, migration_id; host_id = the
 *     peer itself, locator/port 0.
 *   FLUSH_TO (3), anyone -> peer: "capsule_ip runs at host_id, locator:port,
 *     at epoch: send what you queued there, route there from now on"; the
 *     8-byte field carries the message's id (nonzero), not a migration id.
 *
 * WIRE_ACK (type 6), receiver -> sender of a HOLD, FLUSH or FLUSH_TO (20 bytes):
 *   kind u8 (1 HOLD, 2 FLUSH, 3 FLUSH_TO) | reserved u8[3] (0) |
 *   capsule_ip (4, network order) | epoch u32 | id u64
 *   "I have your message with this id (and did what it asked, or found it
 *   out of date)."
 *
 * WIRE_GAPS (type 7), a connection's longest silence during a migration
 * (docs/NETWORK.md section 6.12 explains what is measured):
 *   GAPS_ASK (1), anyone -> any host, 20 bytes:
 *     kind u8 | reserved u8[3] (0) | capsule_ip (4, network order) | epoch u32 |
 *     query_id u64
 *     "What did the TCP connections of capsule_ip see during its migration
 *     that started at epoch?"  Not acknowledged: the asker asks again.
 *   GAPS_REPORT (2), the answer, to where the ask came from, 32 + 20 n bytes:
 *     kind u8 | reserved u8[3] (0) | capsule_ip | epoch u32 | query_id u64 |
 *     n u16 | rec_len u16 (20) | more u32 | held_ms u32
 *     then n records of rec_len bytes:
 *     peer_ip (4, network order) | peer_port u16 | capsule_port u16 |
 *     start_ms u32 | gap_ms u32 | flags u16 | reserved u16 (0)
 *     One record per TCP connection of the capsule whose packets from the
 *     capsule this host passed on since it got the migration's SYNC: the
 *     longest time between two of them (gap_ms), beginning start_ms after
 *     that SYNC.  flags: RESUMED (1) a packet came after this host's
 *     queue for the capsule was flushed (the silence is over; else gap_ms is
 *     the silence so far); FROM_SYNC (2) the silence began before the SYNC
 *     (no packet seen before it: gap_ms is a lower bound).  more: packets of
 *     connections beyond the HOSTD_GAPS_MAX recorded (nonzero: more exist);
 *     held_ms: from the SYNC until this host's queue was flushed (0: not
 *     yet).  n 0 answers "nothing recorded for that migration here".
 *
 * HOLD, FLUSH and FLUSH_TO are sent again (backing off to 1 s, for up to
 * 60 s) until their ACK comes: UDP may lose, duplicate or reorder any of
 * them.  The id makes them idempotent and ordered: ids come from the
 * sender's wire sequence generator (wire_seq_next), so they grow strictly
 * per sender, across restarts too, and a resend keeps its id.  A receiver
 * orders two messages about one capsule by their stamp {epoch, sender, id}:
 * a newer epoch is newer; at the same epoch only the same sender's larger
 * id is (one epoch = one holder, and only the holder freezes or thaws it).
 * A message that is not newer than what the receiver already applied
 * changes nothing and is acknowledged all the same.
 */
#define HOSTD_HOLD_HDR   20
#define HOSTD_HOLD_REC   TCPCONN_WIRE_LEN
#define HOSTD_HOLD_MAX   256
#define HOSTD_FLUSH_LEN  16
#define HOSTD_SYNC_LEN   32
#define HOSTD_ACK_LEN    20
#define HOSTD_GAPS_ASK_LEN 20
#define HOSTD_GAPS_HDR   32
#define HOSTD_GAPS_REC   20
#define HOSTD_GAPS_MAX   32    /* connections in one report (and recorded per capsule) */

enum hostd_sync_kind { HOSTD_SYNC = 1, HOSTD_SYNC_ACK = 2, HOSTD_FLUSH_TO = 3 };
/* What an ACK acknowledges (its first byte). */
enum hostd_ctl_kind { HOSTD_CTL_HOLD = 1, HOSTD_CTL_FLUSH = 2, HOSTD_CTL_FLUSH_TO = 3 };
enum hostd_gaps_kind { HOSTD_GAPS_ASK = 1, HOSTD_GAPS_REPORT = 2 };
#define HOSTD_GAP_RESUMED   1u
#define HOSTD_GAP_FROM_SYNC 2u

struct hostd_sync_msg {
	uint8_t  kind;          /* enum hostd_sync_kind */
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;
	uint64_t migration_id;  /* SYNC, SYNC_ACK: the migration; FLUSH_TO: the message id */
	uint32_t host_id;       /* SYNC: the target; SYNC_ACK: the peer; FLUSH_TO: where it runs */
	uint32_t locator_ip;    /* FLUSH_TO only, network order */
	uint16_t port;          /* FLUSH_TO only, host order */
};

struct hostd_hold_msg {
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;
	uint64_t id;
	uint32_t n;
	struct tcpconn conns[HOSTD_HOLD_MAX];   /* capsule_ip the message's in each */
};

struct hostd_flush_msg {
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;
	uint64_t id;
};

struct hostd_ack_msg {
	uint8_t  kind;          /* enum hostd_ctl_kind */
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;
	uint64_t id;
};

struct hostd_gap_rec {
	uint32_t peer_ip;       /* network order */
	uint16_t peer_port, capsule_port;
	uint32_t start_ms;      /* after this host got SYNC */
	uint32_t gap_ms;
	uint16_t flags;         /* HOSTD_GAP_* */
};

struct hostd_gaps_msg {
	uint8_t  kind;          /* enum hostd_gaps_kind */
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;         /* the epoch the migration started at */
	uint64_t query_id;
	uint32_t n, more, held_ms;              /* REPORT only */
	struct hostd_gap_rec recs[HOSTD_GAPS_MAX];
};

/* ---- wire layouts (documentation + size checks; u64 fields as two u32 words, big-endian) ---- */
struct hostd_wire_hold {
	uint32_t capsule_ip;    /*  0 */
	uint32_t epoch;         /*  4 */
	uint32_t id[2];         /*  8 */
	uint16_t n;             /* 16 */
	uint16_t rec_len;       /* 18: HOSTD_HOLD_REC */
	/* 20: n struct tcpconn_wire */
};
struct hostd_wire_flush {
	uint32_t capsule_ip, epoch;   /* 0, 4 */
	uint32_t id[2];               /* 8 */
};
struct hostd_wire_sync {
	uint8_t  kind, reserved[3];   /*  0 */
	uint32_t capsule_ip, epoch;   /*  4, 8 */
	uint32_t migration_id[2];     /* 12: FLUSH_TO: the message id */
	uint32_t host_id;             /* 20 */
	uint32_t locator_ip;          /* 24 */
	uint16_t port, reserved2;     /* 28, 30 */
};
struct hostd_wire_ack {
	uint8_t  kind, reserved[3];   /*  0 */
	uint32_t capsule_ip, epoch;   /*  4, 8 */
	uint32_t id[2];               /* 12 */
};
struct hostd_wire_gaps {
	uint8_t  kind, reserved[3];   /*  0 */
	uint32_t capsule_ip, epoch;   /*  4, 8 */
	uint32_t query_id[2];         /* 12; an ASK ends here (20) */
	uint16_t n, rec_len;          /* 20, 22 */
	uint32_t more, held_ms;       /* 24, 28 */
	/* 32: n struct hostd_wire_gap_rec */
};
struct hostd_wire_gap_rec {
	uint32_t peer_ip;                 /*  0 */
	uint16_t peer_port, capsule_port; /*  4, 6 */
	uint32_t start_ms, gap_ms;        /*  8, 12 */
	uint16_t flags, reserved;         /* 16, 18 */
};
_Static_assert(sizeof(struct hostd_wire_gaps) == HOSTD_GAPS_HDR &&
               offsetof(struct hostd_wire_gaps, n) == HOSTD_GAPS_ASK_LEN, "GAPS header");
_Static_assert(sizeof(struct hostd_wire_gap_rec) == HOSTD_GAPS_REC, "GAPS record");
_Static_assert(sizeof(struct hostd_wire_hold) == HOSTD_HOLD_HDR, "HOLD header is 20 bytes");
_Static_assert(offsetof(struct hostd_wire_hold, n) == 16 && offsetof(struct hostd_wire_hold, rec_len) == 18,
               "HOLD header offsets");
_Static_assert(sizeof(struct hostd_wire_flush) == HOSTD_FLUSH_LEN, "FLUSH is 16 bytes");
_Static_assert(sizeof(struct hostd_wire_sync) == HOSTD_SYNC_LEN, "SYNC is 32 bytes");
_Static_assert(offsetof(struct hostd_wire_sync, migration_id) == 12 &&
               offsetof(struct hostd_wire_sync, host_id) == 20 &&
               offsetof(struct hostd_wire_sync, port) == 28, "SYNC offsets");
_Static_assert(sizeof(struct hostd_wire_ack) == HOSTD_ACK_LEN, "ACK is 20 bytes");
_Static_assert(offsetof(struct hostd_wire_ack, id) == 12, "ACK offsets");

/* Bytes needed for n records. */
static inline size_t hostd_msg_hold_len(uint32_t n) { return HOSTD_HOLD_HDR + (size_t)n * HOSTD_HOLD_REC; }

/* Encode; returns the payload length, or 0 if n > HOSTD_HOLD_MAX or cap is too small. */
size_t hostd_msg_hold_encode(const struct hostd_hold_msg *m, uint8_t *out, size_t cap);
/*
 * Decode and check: exact length, rec_len HOSTD_HOLD_REC, capsule_ip, epoch
 * and id nonzero, n <= HOSTD_HOLD_MAX, every record valid (tcpconn_decode)
 * and of the capsule named (capsule_ip).  0 or -1.
 */
int hostd_msg_hold_decode(const uint8_t *p, size_t len, struct hostd_hold_msg *m);

void hostd_msg_flush_encode(const struct hostd_flush_msg *m, uint8_t out[HOSTD_FLUSH_LEN]);
/* 0 or -1 (wrong length, zero ip, epoch or id). */
int hostd_msg_flush_decode(const uint8_t *p, size_t len, struct hostd_flush_msg *m);

void hostd_msg_sync_encode(const struct hostd_sync_msg *m, uint8_t out[HOSTD_SYNC_LEN]);
/*
 * Decode and check: exact length, known kind, reserved bytes 0, capsule_ip,
 * host_id and epoch nonzero; SYNC and SYNC_ACK: migration_id nonzero,
 * locator and port 0; FLUSH_TO: id, locator and port nonzero.  So a decoded
 * message re-encodes to the same bytes.  0 or -1.
 */
int hostd_msg_sync_decode(const uint8_t *p, size_t len, struct hostd_sync_msg *m);

void hostd_msg_ack_encode(const struct hostd_ack_msg *m, uint8_t out[HOSTD_ACK_LEN]);
/* 0 or -1 (wrong length, unknown kind, reserved bytes set, zero ip, epoch or id). */
int hostd_msg_ack_decode(const uint8_t *p, size_t len, struct hostd_ack_msg *m);

/* Encode an ASK or a REPORT; returns the payload length, 0 if n > HOSTD_GAPS_MAX or cap is too small. */
size_t hostd_msg_gaps_encode(const struct hostd_gaps_msg *m, uint8_t *out, size_t cap);
/*
 * Decode and check: known kind, exact length for it, reserved bytes 0,
 * capsule_ip, epoch and query_id nonzero; a REPORT's rec_len 20, n <=
 * HOSTD_GAPS_MAX, every record with a peer address and both ports, only
 * known flags.  So a decoded message re-encodes to the same bytes.  0 or -1.
 */
int hostd_msg_gaps_decode(const uint8_t *p, size_t len, struct hostd_gaps_msg *m);

#endif
