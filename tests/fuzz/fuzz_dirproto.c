/* fuzz_dirproto.c: libFuzzer target for the directory message decoder (framing, MAC, every body type incl. STATE/HOST_LOOKUP/HOST). */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/formats/dirproto.h"

/*
 * Random bytes almost never carry a valid MAC, which would leave the body
 * decoders unexplored.  So the input is decoded twice: as is (framing + MAC
 * path), and re-sealed under the fixed key (when its framing passes), which
 * drives every body validator with attacker-chosen contents.  A decoded
 * message must encode back to the same bytes: one meaning, one encoding.
 * Types are not enumerated here: every type below DIR_T_COUNT (STATE,
 * HOST_LOOKUP and HOST included) is reached through the re-sealed path.
 * Decoded entries must also carry a valid state (the former reserved field).
 */
static const uint8_t key[DIR_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		if (sodium_init() < 0)
			abort();
		init = 1;
	}
	struct dir_msg m;
	uint32_t host;
	(void)dirproto_decode(data, size, key, &m);
	if (dirproto_peek(data, size, &host) != DIR_OK)
		return 0;
	uint8_t *buf = malloc(size);   /* exact size: ASan catches any over-read */
	memcpy(buf, data, size);
	uint64_t seq = 0;
	memcpy(&seq, data + 16, sizeof seq);
	if (dirproto_reseal(buf, size, seq, key) != DIR_OK)
		abort();
	if (dirproto_decode(buf, size, key, &m) == DIR_OK) {
		uint8_t out[DIR_MSG_MAX];
		int n = dirproto_encode(&m, key, out, sizeof out);
		if (n != (int)size || memcmp(out, buf, size) != 0)
			abort();
		if ((m.type == DIR_T_ENTRY || m.type == DIR_T_NOTIFY) && m.u.entry.state >= DIR_STATE_COUNT)
			abort();
		if (m.type == DIR_T_STATE && (m.u.state.state == DIR_STATE_UNKNOWN ||
		                              m.u.state.state > DIR_STATE_SAVED))
			abort();
	}
	free(buf);
	return 0;
}
