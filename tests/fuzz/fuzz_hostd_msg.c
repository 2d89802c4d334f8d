/* fuzz_hostd_msg.c: libFuzzer target for the uplink record decoder, the TCP connection record and the HOLD / FLUSH / SYNC / ACK payload decoders. */
#include "hosts/formats/hostd_msg.h"
#include "hosts/formats/uplink.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));
	static struct hostd_hold_msg hold;
	static uint8_t again[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	struct uplink_msg m;
	struct hostd_sync_msg sync;
	uint8_t sync_again[HOSTD_SYNC_LEN], again16[HOSTD_FLUSH_LEN], again20[HOSTD_ACK_LEN];
	struct hostd_flush_msg flush;
	struct hostd_ack_msg ack;
	if (size > sizeof buf)
		return 0;
	memcpy(buf, data, size);
	/* FROZEN's records are all in bounds and valid once the record decoded */
	if (uplink_decode(buf, size, &m) == 0 && m.type == UPLINK_FROZEN)
		for (uint32_t i = 0; i < m.u.frozen.n; i++) {
			struct tcpconn c;
			uint8_t again_rec[TCPCONN_WIRE_LEN];
			const uint8_t *r = m.u.frozen.recs + (size_t)i * TCPCONN_WIRE_LEN;
			if (tcpconn_decode(r, &c))
				__builtin_trap();
			tcpconn_encode(&c, again_rec);
			if (memcmp(again_rec, r, sizeof again_rec))
				__builtin_trap();
		}
	/* a decoded HOLD re-encodes to exactly the same bytes: one meaning, one encoding */
	if (hostd_msg_hold_decode(data, size, &hold) == 0) {
		size_t n = hostd_msg_hold_encode(&hold, again, sizeof again);
		if (n != size || memcmp(again, data, size))
			__builtin_trap();
	}
	if (hostd_msg_flush_decode(data, size, &flush) == 0) {
		hostd_msg_flush_encode(&flush, again16);
		if (size != HOSTD_FLUSH_LEN || memcmp(again16, data, size) || !flush.id)
			__builtin_trap();
	}
	if (hostd_msg_ack_decode(data, size, &ack) == 0) {
		hostd_msg_ack_encode(&ack, again20);
		if (size != HOSTD_ACK_LEN || memcmp(again20, data, size) || !ack.id)
			__builtin_trap();
	}
	/* SYNC: the same rule, and what it accepted obeys its own checks */
	if (hostd_msg_sync_decode(data, size, &sync) == 0) {
		hostd_msg_sync_encode(&sync, sync_again);
		if (size != HOSTD_SYNC_LEN || memcmp(sync_again, data, size) || !sync.capsule_ip ||
		    !sync.epoch || !sync.host_id || sync.kind < HOSTD_SYNC || sync.kind > HOSTD_FLUSH_TO ||
		    (sync.kind == HOSTD_FLUSH_TO) != (sync.locator_ip && sync.port) || !sync.migration_id)
			__builtin_trap();
	}
	(void)uplink_encode_frozen(buf, sizeof buf, data, size);
	return 0;
}
