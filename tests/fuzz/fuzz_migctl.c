/* fuzz_migctl.c: libFuzzer target for the migration control-record opener, raw bytes and authentic-but-hostile records. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hosts/formats/migctl.h"

static const uint8_t key[MIG_KEY_LEN] = { 9, 9, 9 };

/* Open everything in buf, record by record, in the given direction; never crash, never overread. */
static void open_all(const uint8_t *buf, size_t len, int dir)
{
	struct mig_ctl c;
	char text[MIG_CTL_TEXT_MAX + 1];
	size_t pos = 0, used;
	int type;
	migctl_init(&c, key, dir);
	while (pos < len && migctl_open(&c, buf + pos, len - pos, &used, &type, text, sizeof text) ==
	                        MIG_OK)
		pos += used;
}

/*
 * Byte 0: mode.  Even: the input is a direction's byte stream (forgeries
 * die at the tag).  Odd: the input is a list of (type, text) records,
 * sealed with the right key, so the checks after authentication are
 * reached too: records of the other direction, unknown types, bad text.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int dir = (data[0] & 2) ? MIG_CTL_TO_TARGET : MIG_CTL_TO_SOURCE;
	if (!(data[0] & 1)) {
		open_all(data + 1, size - 1, dir);
		return 0;
	}
	static uint8_t out[64 * (MIG_CTL_HEADER_LEN + MIG_CTL_REC_MAX)];
	size_t n = 0, pos = 1;
	struct mig_ctl c;
	migctl_init(&c, key, dir);
	/* Seal raw: the honest sealer refuses hostile records, so build them by hand with its state. */
	for (int k = 0; k < 64 && pos + 2 <= size; k++) {
		uint8_t plain[1 + MIG_CTL_TEXT_MAX + 8];
		size_t tl = data[pos + 1] % (MIG_CTL_TEXT_MAX + 8);
		plain[0] = data[pos];
		pos += 2;
		if (tl > size - pos)
			tl = size - pos;
		memcpy(plain + 1, data + pos, tl);
		pos += tl;
		if (!c.started) {
			crypto_secretstream_xchacha20poly1305_init_push(&c.st, out + n, c.key);
			c.started = 1;
			n += MIG_CTL_HEADER_LEN;
		}
		size_t clen = 1 + tl + MIG_CTL_ABYTES;
		out[n] = (uint8_t)(clen >> 24), out[n + 1] = (uint8_t)(clen >> 16);
		out[n + 2] = (uint8_t)(clen >> 8), out[n + 3] = (uint8_t)clen;
		crypto_secretstream_xchacha20poly1305_push(&c.st, out + n + 4, NULL, plain, 1 + tl, NULL, 0, 0);
		n += 4 + clen;
	}
	open_all(out, n, dir);
	return 0;
}
