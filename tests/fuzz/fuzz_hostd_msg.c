/* fuzz_hostd_msg.c: libFuzzer target for the uplink record decoder and the HOLD / FLUSH payload decoders. */
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
	(void)uplink_encode_frozen(buf, sizeof buf, data, size);
	return 0;
}
