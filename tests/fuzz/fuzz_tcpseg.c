/* fuzz_tcpseg.c: libFuzzer target: arbitrary packets cut into wire-sized pieces and joined again: every piece a valid IPv4 packet within the size asked, the pieces' payloads the original's, the join of a plain segment the original (checksums aside), and any bytes safe to join. */
#include "hosts/common/tcpseg.h"
#include "hosts/common/ipv4.h"
#include "tests/fuzz/fuzz_seed.h"

#include <stdlib.h>
#include <string.h>

static uint8_t piece[65535], joined[65535];

/* A 3,000-byte ACK|PSH segment with both checksums right (so the cut and join are reached). */
static size_t seed_segment(uint8_t *p)
{
	size_t len = 40 + 3000;
	memset(p, 0, len);
	p[0] = 0x45, p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len, p[8] = 64, p[9] = 6;
	memcpy(p + 12, (uint8_t[]){ 198, 18, 0, 5, 198, 18, 1, 7 }, 8);
	uint16_t s = ipv4_csum_field(ipv4_sum(0, p, 20));
	p[10] = (uint8_t)(s >> 8), p[11] = (uint8_t)s;
	p[32] = 0x50, p[33] = 0x18, p[34] = 0xff;
	for (size_t i = 40; i < len; i++)
		p[i] = (uint8_t)i;
	return len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static uint8_t p[3040 + 2];
	size_t len = seed_segment(p + 2);
	p[0] = 0x05, p[1] = 0x94;   /* pieces of at most 1,428 bytes */
	fuzz_seed(fuzz_corpus_dir(*argc, *argv), "segment", p, len + 2);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t max_len = (size_t)data[0] << 8 | data[1];
	const uint8_t *pkt = data + 2;
	size_t len = size - 2;
	/* Any bytes may be offered for joining: none may be read or written out of bounds. */
	struct tcpseg_join any = { .buf = joined, .cap = max_len < sizeof joined ? max_len : sizeof joined };
	for (size_t off = 0; off < len; off += 40 + (off % 97)) {
		size_t n = len - off;
		if (ipv4_check(pkt + off, n, 0) == IPV4_OK)
			tcpseg_join_add(&any, pkt + off, n);
	}
	tcpseg_join_take(&any);

	if (len > 65535 || ipv4_check(pkt, len, 0) != IPV4_OK)
		return 0;
	size_t payload = tcpseg_piece_payload(pkt, len, max_len);
	if (!payload)
		return 0;
	size_t hdrs = 20 + (size_t)(pkt[32] >> 4) * 4;
	unsigned n = tcpseg_pieces(pkt, len, payload);
	if (n == 0 || n > TCPSEG_MAX_PIECES || hdrs + payload > max_len)
		abort();
	int plain = (pkt[33] & ~0x08) == 0x10;   /* ACK, maybe PSH: the pieces join again */
	struct tcpseg_join j = { .buf = joined, .cap = sizeof joined };
	size_t off = 0;
	for (unsigned i = 0; i < n; i++) {
		size_t plen = tcpseg_piece(pkt, len, payload, i, piece);
		if (plen > max_len || plen <= hdrs || ipv4_check(piece, plen, IPV4_CHECK_CSUM) != IPV4_OK ||
		    memcmp(piece + hdrs, pkt + hdrs + off, plen - hdrs))
			abort();
		off += plen - hdrs;
		if (plain && tcpseg_join_add(&j, piece, plen) != 1)
			abort();
	}
	if (off != len - hdrs)
		abort();
	if (plain) {
		/* Everything but the two checksums (the original's may be wrong; the join's are made). */
		if (tcpseg_join_take(&j) != len || memcmp(joined, pkt, 10) ||
		    memcmp(joined + 12, pkt + 12, 24) || memcmp(joined + 38, pkt + 38, len - 38))
			abort();
	}
	return 0;
}
