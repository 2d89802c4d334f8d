/* fuzz_migstream.c: libFuzzer target for the migration stream decoder, raw bytes and authentic-but-hostile records. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hosts/formats/migstream.h"

static const uint8_t key[MIG_KEY_LEN] = { 7, 7, 7 };

/* Decode everything in buf, in pieces of step bytes; the decoder must never crash or read past len. */
static void decode(const uint8_t *buf, size_t len, size_t step)
{
	struct mig_rx rx;
	if (migstream_rx_init(&rx, key, 0) != MIG_OK)
		return;
	size_t fed = step < len ? step : len, pos = 0;
	for (;;) {
		size_t used;
		struct mig_rec rec;
		int rc = migstream_rx_next(&rx, buf + pos, fed - pos, &used, &rec);
		if (rc == MIG_OK) {
			pos += used;
			if (rec.type == MIG_REC_DATA && rec.len)
				(void)rec.data[rec.len - 1];
			continue;
		}
		if (rc != MIG_NEED_MORE)
			break;
		if (fed == len) {
			(void)migstream_rx_finish(&rx);
			break;
		}
		fed = fed + step < len ? fed + step : len;
	}
	migstream_rx_free(&rx);
}

/*
 * Byte 0 picks the mode.  Even: the input is the stream itself (forgeries
 * die at the first tag).  Odd: the input is a list of records
 * {type u8, unused u8, len u16 BE, body}, sealed properly, so the checks
 * behind the authentication (sequence, header, extents, offsets) get fuzzed.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (sodium_init() < 0)
			return 0;
		ready = 1;
	}
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		decode(data + 1, size - 1, size);
		decode(data + 1, size - 1, 1 + data[0] % 61);
		return 0;
	}
	static uint8_t out[1 << 20];
	struct mig_tx tx;
	struct mig_head_info info = { 1, 2, 99, 1 };
	size_t len = MIG_HEAD_LEN, n;
	if (migstream_tx_init(&tx, key, &info, out) != MIG_OK) {
		migstream_tx_free(&tx);
		return 0;
	}
	size_t p = 1;
	while (p + 4 <= size) {
		uint8_t type = data[p];
		size_t blen = (size_t)data[p + 2] << 8 | data[p + 3];
		p += 4;
		if (blen > size - p)
			blen = size - p;
		if (migstream_tx_raw(&tx, type, data + p, blen, NULL, 0, out + len, sizeof out - len, &n) != MIG_OK)
			break;
		len += n;
		p += blen;
	}
	migstream_tx_free(&tx);
	decode(out, len, len);
	return 0;
}
