/* uplink.h: the caprun <-> caphostd uplink: records on RUN_DIR/caphostd.sock (SOCK_SEQPACKET). */
#ifndef HOST_UPLINK_H
#define HOST_UPLINK_H

#include "capsule-abi/cap_report.h"

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
 *   ATTACH {ip, flags, name[64]}            ATTACHED {ip, epoch}  | ERROR {text}
 *   PACKET {one IPv4 packet}        <-->    PACKET {one IPv4 packet}
 *   FROZEN {n, n x cap_report_sock}         (the capsule froze: hold its TCP peers)
 *   THAWED {}                               (it runs again in the same process)
 *   DETACH {reason}                         (exited: forget it; saved: it is on disk)
 *
 * ATTACH comes first and exactly once; caphostd answers ATTACHED or ERROR
 * (and then closes).  ip 0 = let the directory pick (fresh capsules only);
 * flag RESUME = the capsule is a resumed snapshot owning ip (caphostd
 * moves the directory entry here).  A closed uplink without DETACH counts
 * as DETACH exited.  Malformed records are dropped and counted.
 */
#define UPLINK_SOCK_NAME  "caphostd.sock"
#define UPLINK_CTL_NAME   "caphostd.ctl"    /* stream socket: `stats\n`, `ps\n` (one line each) */
#define UPLINK_HDR_LEN    4
#define UPLINK_NAME_MAX   64                /* NUL-terminated, [A-Za-z0-9._-] */
#define UPLINK_MAX        (UPLINK_HDR_LEN + 65535)
#define UPLINK_ERROR_MAX  200
#define UPLINK_FROZEN_MAX 256               /* TCP sockets in one FROZEN record */

enum uplink_type {
	UPLINK_ATTACH   = 1,
	UPLINK_ATTACHED = 2,
	UPLINK_ERROR    = 3,
	UPLINK_PACKET   = 4,
	UPLINK_FROZEN   = 5,
	UPLINK_THAWED   = 6,
	UPLINK_DETACH   = 7,
	UPLINK_TYPE_MAX = 7,
};

#define UPLINK_ATTACH_RESUME 1u

enum uplink_detach_reason { UPLINK_DETACH_EXITED = 1, UPLINK_DETACH_SAVED = 2 };

struct uplink_hdr {
	uint8_t  type;
	uint8_t  flags;
	uint16_t reserved;
};
_Static_assert(sizeof(struct uplink_hdr) == UPLINK_HDR_LEN, "uplink header is 4 bytes");

struct uplink_attach {
	uint32_t ip;           /* network order; 0 = allocate */
	uint32_t flags;        /* UPLINK_ATTACH_RESUME */
	char     name[UPLINK_NAME_MAX];
};
_Static_assert(sizeof(struct uplink_attach) == 72, "attach body");

struct uplink_attached {
	uint32_t ip;           /* network order */
	uint32_t epoch;
};
_Static_assert(sizeof(struct uplink_attached) == 8, "attached body");

/* FROZEN body: uint32_t n, uint32_t reserved (0), then n struct cap_report_sock (TCP only). */
struct uplink_frozen_hdr {
	uint32_t n;
	uint32_t reserved;
};
_Static_assert(sizeof(struct uplink_frozen_hdr) == 8, "frozen body header");

/* Decoded record; pointers into the caller's buffer. */
struct uplink_msg {
	uint8_t type;
	union {
		struct uplink_attach attach;
		struct uplink_attached attached;
		char error[UPLINK_ERROR_MAX + 1];
		struct { const uint8_t *pkt; size_t len; } packet;
		struct { const struct cap_report_sock *socks; uint32_t n; } frozen;
		uint32_t detach_reason;
	} u;
};

/*
 * Check one record: header (known type, flags and reserved 0), exact body
 * size for its type, ATTACH name valid and NUL-padded, FROZEN count
 * consistent, PACKET non-empty, DETACH reason known.  0 and *m filled, or -1.
 * FROZEN's socks point into buf, which must be 4-byte aligned.
 */
int uplink_decode(const uint8_t *buf, size_t len, struct uplink_msg *m);

/* Encoders: write one record into out (cap bytes); return its length, or 0 if it does not fit. */
size_t uplink_encode_attach(uint8_t *out, size_t cap, const char *name, uint32_t ip, uint32_t flags);
size_t uplink_encode_attached(uint8_t *out, size_t cap, uint32_t ip, uint32_t epoch);
size_t uplink_encode_error(uint8_t *out, size_t cap, const char *text);
size_t uplink_encode_simple(uint8_t *out, size_t cap, int type);   /* THAWED */
size_t uplink_encode_detach(uint8_t *out, size_t cap, uint32_t reason);
/* FROZEN from a whole freeze report (header + threads + fds, len bytes): keeps TCP sockets. */
size_t uplink_encode_frozen(uint8_t *out, size_t cap, const uint8_t *report, size_t len);

#endif
