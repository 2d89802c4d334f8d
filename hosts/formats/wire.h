/* wire.h: the host-to-host data-plane format: capsule packets wrapped in authenticated UDP (port 7471). */
#ifndef HOST_WIRE_H
#define HOST_WIRE_H

#include <stddef.h>
#include <stdint.h>

/*
 * One UDP datagram between two hosts (docs/NETWORK.md section 2 has the byte diagram):
 *
 *   header (28 bytes) | payload (length bytes) | tag (16 bytes)
 *
 *   0  version u8 (2)   1 type u8   2 flags u16 (0 in version 2)
 *   4  network_id u32   which capsule network (like a VXLAN VNI)
 *   8  sender u32       the sending host's host_id (nonzero)
 *   12 epoch u32        the sender's view of the destination capsule's epoch
 *   16 seq u64          anti-replay sequence, strictly increasing per sender
 *   24 length u16       payload bytes      26 reserved u16 (0)
 *
 * tag = Poly1305 over header + payload, under a one-time key made from the
 * cluster data key and the nonce sender || seq (12 bytes, big-endian) as
 * RFC 8439 section 2.6 makes Poly1305's key for ChaCha20-Poly1305: the
 * first 32 bytes of ChaCha20's key stream at that nonce.  The header's
 * fixed length and its length field make header + payload unambiguous, and
 * sender || seq never repeats under one key (seq strictly increases per
 * sender, across restarts too: wire_seq_next), so each key is used once.
 * Version 1's tag was keyed BLAKE2b-128: 7 times slower here (555 against
 * 3,738 MB/s over 1,472-byte datagrams), the bulk of caphostd's CPU
 * between hosts.  All integers big-endian.  Everything here is pure: no
 * I/O, no allocation, no global state.
 *
 * Receive order for the daemon:  wire_decode (framing, tag, network)
 * -> wire_replay_check (per sender) -> act on the packet -> wire_replay_commit.
 * A packet that fails after the replay check is therefore never recorded,
 * so a forged or broken copy cannot burn a sequence number.
 * Call sodium_init() once before the first seal/decode (libsodium's rule).
 */

#define WIRE_VERSION     2
#define WIRE_DATA_PORT   7471
#define WIRE_HDR_LEN     28
#define WIRE_TAG_LEN     16
#define WIRE_KEY_LEN     32
#define WIRE_OVERHEAD    (WIRE_HDR_LEN + WIRE_TAG_LEN)
/* Largest payload: the length field is 16 bits, and the outer UDP datagram must fit in 65535. */
#define WIRE_MAX_PAYLOAD (65507 - WIRE_OVERHEAD)

enum wire_type {
	WIRE_DATA     = 1,   /* payload: one inner IPv4 packet, for the capsule named by its destination */
	WIRE_REDIRECT = 2,   /* payload: struct wire_redirect: "that capsule is not here" */
	WIRE_SYNC     = 3,   /* live migration: SYNC, SYNC_ACK, FLUSH_TO (hostd_msg.h) */
	WIRE_FLUSH    = 4,   /* to the gateway: the capsule runs again, release what you held (hostd_msg.h) */
	WIRE_HOLD     = 5,   /* to the gateway: the capsule froze, hold its ordinary peers (hostd_msg.h) */
	WIRE_ACK      = 6,   /* "got your HOLD / FLUSH / FLUSH_TO with this id" (hostd_msg.h) */
	WIRE_GAPS     = 7,   /* after a migration: each connection's longest silence, asked and told (hostd_msg.h) */
	WIRE_TYPE_MAX = 7,
};

/* Distinct reasons, so each drop is counted under its own name. */
enum wire_err {
	WIRE_OK = 0,
	WIRE_E_TRUNCATED,      /* shorter than the header + tag, or than the length field says */
	WIRE_E_BAD_VERSION,
	WIRE_E_BAD_LENGTH,     /* trailing bytes, payload too large, or wrong size for its type */
	WIRE_E_BAD_TAG,        /* authentication failed: corrupted or forged */
	WIRE_E_BAD_TYPE,
	WIRE_E_BAD_FLAGS,      /* flags or reserved bits set that version 1 does not define */
	WIRE_E_WRONG_NETWORK,
	WIRE_E_BAD_SENDER,     /* sender host_id 0 */
	WIRE_E_BAD_INNER,      /* DATA payload is not a well-formed IPv4 packet */
	WIRE_E_BAD_PAYLOAD,    /* REDIRECT payload fields inconsistent */
	WIRE_E_REPLAY,         /* sequence number already seen */
	WIRE_E_TOO_OLD,        /* sequence number left of the replay window */
	WIRE_E_NOSPACE,        /* encoder: caller's buffer too small */
	WIRE_E_COUNT
};

/* The header, decoded: host byte order. */
struct wire_hdr {
	uint8_t  version;
	uint8_t  type;        /* enum wire_type */
	uint16_t flags;
	uint32_t network_id;
	uint32_t sender;      /* host_id */
	uint32_t epoch;
	uint64_t seq;
};

/*
 * The exact on-wire header (integers big-endian).  wire.c encodes byte by
 * byte; this struct only pins the layout down for readers and the assert.
 */
struct wire_hdr_raw {
	uint8_t  version, type;
	uint16_t flags;
	uint32_t network_id, sender, epoch;
	uint32_t seq_hi, seq_lo;   /* the u64 seq, split so the struct has no padding */
	uint16_t length, reserved;
};
_Static_assert(sizeof(struct wire_hdr_raw) == WIRE_HDR_LEN, "wire_hdr_raw layout");

/*
 * REDIRECT payload (20 bytes): what the replying host knows about a capsule
 * that is not (or no longer) there.  host_id 0 means "I don't know: ask the
 * directory", and then locator_ip, port and epoch are 0 as well.
 * Addresses are in network order (as in struct in_addr), the rest host order.
 */
#define WIRE_REDIRECT_LEN 20
struct wire_redirect {
	uint32_t capsule_ip;   /* network order */
	uint32_t host_id;      /* current host, 0 = unknown */
	uint32_t locator_ip;   /* that host's address, network order */
	uint16_t port;         /* its data port */
	uint16_t reserved;     /* 0 */
	uint32_t epoch;        /* the capsule's epoch there */
};
_Static_assert(sizeof(struct wire_redirect) == WIRE_REDIRECT_LEN, "wire_redirect layout");

/*
 * Seal header + payload: writes the 28 header bytes into hdr_out and the
 * 16-byte tag into tag_out.  The payload is not copied, so a sender can use
 * writev/sendmsg with {hdr_out, payload, tag_out}.  plen <= WIRE_MAX_PAYLOAD.
 * Returns WIRE_OK, WIRE_E_BAD_LENGTH or WIRE_E_BAD_TYPE.
 */
int wire_seal(const struct wire_hdr *h, const uint8_t *payload, size_t plen,
              const uint8_t key[WIRE_KEY_LEN], uint8_t hdr_out[WIRE_HDR_LEN],
              uint8_t tag_out[WIRE_TAG_LEN]);

/* Same, into one contiguous buffer of cap bytes; *out_len = plen + WIRE_OVERHEAD. */
int wire_encode(const struct wire_hdr *h, const uint8_t *payload, size_t plen,
                const uint8_t key[WIRE_KEY_LEN], uint8_t *out, size_t cap, size_t *out_len);

/*
 * Validate and authenticate one datagram.  On WIRE_OK *hdr is filled and
 * *payload points into buf (plen bytes).  Checks, in order: size, version,
 * length field, tag (constant time), type, flags, sender, network_id, then
 * per type: DATA must hold a valid IPv4 packet (ipv4_check of
 * common/ipv4.h, header checksum included), REDIRECT must be exactly
 * WIRE_REDIRECT_LEN and consistent.  The control types
 * (SYNC, FLUSH, HOLD, ACK, GAPS) are returned as they are, their payload left to
 * hostd_msg.h's decoders.  Replay is NOT checked here: see wire_replay_*.
 */
int wire_decode(const uint8_t *buf, size_t len, const uint8_t key[WIRE_KEY_LEN],
                uint32_t network_id, struct wire_hdr *hdr,
                const uint8_t **payload, size_t *plen);

void wire_redirect_encode(const struct wire_redirect *r, uint8_t out[WIRE_REDIRECT_LEN]);
/* WIRE_OK, WIRE_E_BAD_LENGTH or WIRE_E_BAD_PAYLOAD. */
int wire_redirect_decode(const uint8_t *p, size_t plen, struct wire_redirect *r);

/*
 * Sender side: the next sequence number.  The first (*last == 0) is
 * realtime_ms << 20, every later one *last + 1, whatever the clock does.
 * So a restarted host starts above every number it used before (unless it
 * sent more than 2^20 datagrams per millisecond it ran), and consecutive
 * datagrams have consecutive numbers: the receiver's window spans
 * WIRE_REPLAY_WINDOW datagrams, not a slice of a millisecond.
 */
uint64_t wire_seq_next(uint64_t *last, uint64_t realtime_ms);

/*
 * Receiver side, one per sender host: RFC 4303-style sliding window of
 * WIRE_REPLAY_WINDOW sequence numbers below the highest accepted one.
 * Sequence number 0 is never valid.
 */
#define WIRE_REPLAY_WINDOW 1024
struct wire_replay {
	uint64_t top;                                  /* highest committed seq, 0 = none yet */
	uint64_t bits[WIRE_REPLAY_WINDOW / 64];        /* bit (seq % WINDOW) set = seen */
};
void wire_replay_init(struct wire_replay *r);
/* WIRE_OK (new), WIRE_E_REPLAY (seen) or WIRE_E_TOO_OLD.  Changes nothing. */
int wire_replay_check(const struct wire_replay *r, uint64_t seq);
/* Record seq as seen; call only after wire_replay_check said WIRE_OK and the packet was accepted. */
void wire_replay_commit(struct wire_replay *r, uint64_t seq);

/* One counter per outcome, indexed by enum wire_err ([WIRE_OK] counts good packets). */
struct wire_counters {
	uint64_t n[WIRE_E_COUNT];
};
static inline void wire_count(struct wire_counters *c, int err)
{
	if (err >= 0 && err < WIRE_E_COUNT)
		c->n[err]++;
}
/* "truncated", "bad_tag", ...: stable names for counters and logs. */
const char *wire_strerror(int err);

#endif
