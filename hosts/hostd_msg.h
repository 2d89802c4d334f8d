/* hostd_msg.h: payloads of the data plane's HOLD and FLUSH messages between host daemons (pure codec). */
#ifndef HOST_HOSTD_MSG_H
#define HOST_HOSTD_MSG_H

#include "capsule-abi/cap_report.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Carried in wire.h datagrams (authenticated, replay-checked like DATA):
 *
 * WIRE_HOLD (type 5), host of a frozen capsule -> gateway host:
 *   capsule_ip (4, network order) | epoch u32 | n u16 | reserved u16 (0)
 *   then n records of 40 bytes, one per TCP connection of the capsule:
 *   local_ip (4) remote_ip (4) local_port u16 remote_port u16 tcp_state u32
 *   snd_una u32 snd_nxt u32 rcv_nxt u32 snd_wnd u32 rcv_wnd u32
 *   snd_scale u8 rcv_scale u8 mss u16
 *   "Answer this capsule's ordinary peers in its place until FLUSH."
 *
 * WIRE_FLUSH (type 4), host where the capsule runs again -> gateway host:
 *   capsule_ip (4, network order) | epoch u32
 *   "It runs here now at this epoch: release what you hold, to me."
 *
 * Integers big-endian.  Both are idempotent: a repeated HOLD does not
 * restart a connection already held, a repeated FLUSH finds nothing held.
 */
#define HOSTD_HOLD_HDR   12
#define HOSTD_HOLD_REC   40
#define HOSTD_HOLD_MAX   256
#define HOSTD_FLUSH_LEN  8

struct hostd_hold_msg {
	uint32_t capsule_ip;    /* network order */
	uint32_t epoch;
	uint32_t n;
	struct cap_report_sock socks[HOSTD_HOLD_MAX];   /* local_ip == capsule_ip in each */
};

/* Bytes needed for n records. */
static inline size_t hostd_hold_len(uint32_t n) { return HOSTD_HOLD_HDR + (size_t)n * HOSTD_HOLD_REC; }

/* Encode; returns the payload length, or 0 if n > HOSTD_HOLD_MAX or cap is too small. */
size_t hostd_hold_encode(const struct hostd_hold_msg *m, uint8_t *out, size_t cap);
/*
 * Decode and check: exact length, reserved 0, capsule_ip and epoch nonzero,
 * n <= HOSTD_HOLD_MAX, every record's local_ip == capsule_ip, window scales
 * <= 14, TCP state a known value.  0 or -1.
 */
int hostd_hold_decode(const uint8_t *p, size_t len, struct hostd_hold_msg *m);

void hostd_flush_encode(uint32_t capsule_ip, uint32_t epoch, uint8_t out[HOSTD_FLUSH_LEN]);
/* 0 or -1 (wrong length, zero ip or epoch). */
int hostd_flush_decode(const uint8_t *p, size_t len, uint32_t *capsule_ip, uint32_t *epoch);

#endif
