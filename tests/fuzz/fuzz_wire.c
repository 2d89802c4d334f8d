/* fuzz_wire.c: libFuzzer target: arbitrary datagrams into the data-plane decoder, replay window, redirect decoder and IPv4 header check. */
#include "hosts/formats/wire.h"
#include "hosts/common/ipv4.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t key[WIRE_KEY_LEN] = "0123456789abcdef0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_replay replay;
	static struct wire_counters counters;
	struct wire_hdr h;
	const uint8_t *p;
	size_t n;
	int err = wire_decode(data, size, key, 1, &h, &p, &n);
	wire_count(&counters, err);
	if (err == WIRE_OK) {
		/* Only reachable with a valid tag: then encoding it again must give the same bytes. */
		uint8_t *out = malloc(size);
		size_t len;
		if (!out || wire_encode(&h, p, n, key, out, size, &len) != WIRE_OK || len != size ||
		    memcmp(out, data, size) != 0)
			abort();
		free(out);
	}
	/* The payload decoders and the inner check take any bytes too. */
	struct wire_redirect r;
	wire_redirect_decode(data, size, &r);
	ipv4_check(data, size, IPV4_CHECK_CSUM);
	ipv4_check(data, size, IPV4_CHECK_PADDED);
	/* Replay window: sequence numbers straight from the input, check-then-commit. */
	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint64_t seq;
		memcpy(&seq, data + i, 8);
		seq >>= data[i] % 60;   /* keep many numbers near each other */
		int c = wire_replay_check(&replay, seq);
		if (c == WIRE_OK) {
			wire_replay_commit(&replay, seq);
			if (wire_replay_check(&replay, seq) != WIRE_E_REPLAY)
				abort();
		}
	}
	/* A sealed copy of the input as payload must always decode. */
	if (size <= 2048) {
		uint8_t buf[2048 + WIRE_OVERHEAD];
		struct wire_hdr e = { .type = WIRE_SYNC, .network_id = 1, .sender = 3, .seq = size + 1 };
		size_t len;
		if (wire_encode(&e, data, size, key, buf, sizeof buf, &len) != WIRE_OK ||
		    wire_decode(buf, len, key, 1, &h, &p, &n) != WIRE_OK || n != size)
			abort();
	}
	return 0;
}
