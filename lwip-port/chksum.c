/* chksum.c: lwIP's Internet checksum (LWIP_CHKSUM), eight bytes per step: it ran over every byte in and out, and lwIP's own took a quarter of a capsule's CPU in bulk transfers. */
#include <stdint.h>
#include <string.h>

#include "lwip-port/chksum.h"

/*
 * Exactly what lwip_standard_chksum (its algorithm 2) returns, faster: the
 * one's-complement sum of the data read as native 16-bit words, folded to
 * 16 bits, not inverted, "host order".  One's-complement addition does not
 * care how the words are grouped, so 32-bit halves of 64-bit loads go into
 * a 64-bit accumulator (no carry is lost before 2^32 additions) and are
 * folded once at the end.  Data that starts on an odd address is summed
 * from the next byte on and the result's bytes swapped, as lwIP does.
 */
uint16_t lp_chksum(const void *dataptr, int len)
{
	const unsigned char *p = dataptr;
	uint64_t sum = 0;
	uint16_t edge = 0;   /* a lone first or last byte, in its place within a 16-bit word */
	int odd = (int)((uintptr_t)p & 1);
	if (odd && len > 0) {
		((unsigned char *)&edge)[1] = *p++;
		len--;
	}
	while (len >= 32) {
		uint64_t w[4];
		memcpy(w, p, sizeof w);   /* plain loads; no alignment assumed */
		sum += (w[0] & 0xffffffffu) + (w[0] >> 32) + (w[1] & 0xffffffffu) + (w[1] >> 32) +
		       (w[2] & 0xffffffffu) + (w[2] >> 32) + (w[3] & 0xffffffffu) + (w[3] >> 32);
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof w);
		sum += (w & 0xffffffffu) + (w >> 32);
		p += 8;
		len -= 8;
	}
	while (len > 1) {
		uint16_t w;
		memcpy(&w, p, sizeof w);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len > 0)
		((unsigned char *)&edge)[0] = *p;
	sum += edge;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	if (odd)
		sum = ((sum & 0xff) << 8) | ((sum >> 8) & 0xff);
	return (uint16_t)sum;
}
