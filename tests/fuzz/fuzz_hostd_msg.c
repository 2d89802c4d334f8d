/* fuzz_hostd_msg.c: libFuzzer target for the uplink record decoder and the HOLD / FLUSH / SYNC payload decoders. */
#include "hosts/hostd_msg.h"
#include "hosts/uplink.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));
	static struct hostd_hold_msg hold;
	static uint8_t again[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	struct uplink_msg m;
	struct hostd_sync_msg sync;
	uint8_t sync_again[HOSTD_SYNC_LEN];
	uint32_t ip, epoch;
	if (size > sizeof buf)
		return 0;
	memcpy(buf, data, size);
	if (uplink_decode(buf, size, &m) == 0 && m.type == UPLINK_FROZEN && m.u.frozen.n)
		(void)m.u.frozen.socks[m.u.frozen.n - 1].tcp_state;   /* in bounds by construction */
	/* a decoded HOLD re-encodes to exactly the same bytes: one meaning, one encoding */
	if (hostd_hold_decode(data, size, &hold) == 0) {
		size_t n = hostd_hold_encode(&hold, again, sizeof again);
		if (n != size || memcmp(again, data, size))
			__builtin_trap();
	}
	(void)hostd_flush_decode(data, size, &ip, &epoch);
	/* SYNC: the same rule, and what it accepted obeys its own checks */
	if (hostd_sync_decode(data, size, &sync) == 0) {
		hostd_sync_encode(&sync, sync_again);
		if (size != HOSTD_SYNC_LEN || memcmp(sync_again, data, size) || !sync.capsule_ip ||
		    !sync.epoch || !sync.host_id || sync.kind < HOSTD_SYNC || sync.kind > HOSTD_FLUSH_TO ||
		    (sync.kind == HOSTD_FLUSH_TO) != (sync.locator_ip && sync.port))
			__builtin_trap();
	}
	(void)uplink_encode_frozen(buf, sizeof buf, data, size);
	return 0;
}
