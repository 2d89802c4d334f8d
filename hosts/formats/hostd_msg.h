/* hostd_msg.h: payloads of the data plane's HOLD, FLUSH, SYNC and ACK messages between host daemons (pure codec). */
#ifndef HOST_HOSTD_MSG_H
#define HOST_HOSTD_MSG_H

#include "capsule-abi/cap_report.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Carried in wire.h datagrams (authenticated, replay-checked like DATA);
 * docs/NETWORK.md section 6.7 has the tables.  Integers big-endian.
 *
 * WIRE_HOLD (type 5), host of a frozen capsule -> gateway host (20 + 40 n bytes):
 *   capsule_ip (4, network order) | epoch u32 | id u64 | n u16 | reserved u16 (0)
 *   then n records of 40 bytes, one per TCP connection of the capsule:
 *   local_ip (4) remote_ip (4) local_port u16 remote_port u16 tcp_state u32
 *   snd_una u32 snd_nxt u32 rcv_nxt u32 snd_wnd u32 rcv_wnd u32
 *   snd_scale u8 rcv_scale u8 mss u16
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
#define HOSTD_HOLD_REC   40
#define HOSTD_HOLD_MAX   256
#define HOSTD_FLUSH_LEN  16
#define HOSTD_SYNC_LEN   32
#define HOSTD_ACK_LEN    20

enum hostd_sync_kind { HOSTD_SYNC = 1, HOSTD_SYNC_ACK = 2, HOSTD_FLUSH_TO = 3 };
/* What an ACK acknowledges (its first byte). */
enum hostd_ctl_kind { HOSTD_CTL_HOLD = 1, HOSTD_CTL_FLUSH = 2, HOSTD_CTL_FLUSH_TO = 3 };

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
	struct cap_report_sock socks[HOSTD_HOLD_MAX];   /* local_ip == capsule_ip in each */
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

/* Bytes needed for n records. */
static inline size_t hostd_hold_len(uint32_t n) { return HOSTD_HOLD_HDR + (size_t)n * HOSTD_HOLD_REC; }

/* Encode; returns the payload length, or 0 if n > HOSTD_HOLD_MAX or cap is too small. */
size_t hostd_msg_hold_encode(const struct hostd_hold_msg *m, uint8_t *out, size_t cap);
/*
 * Decode and check: exact length, reserved 0, capsule_ip, epoch and id
 * nonzero, n <= HOSTD_HOLD_MAX, every record's local_ip == capsule_ip,
 * window scales <= 14, TCP state a known value.  0 or -1.
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

#endif
