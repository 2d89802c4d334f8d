/* tcpmss.c: lowering the MSS a TCP SYN announces (tcpmss.h says why). */
#include "hosts/common/tcpmss.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"

#include <string.h>

#define TCP_OPT_END 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2
#define TCP_FLAG_SYN 0x02

/* Offset of the MSS option's value in the TCP header, or 0 when there is none (or options are malformed). */
static size_t mss_offset(const uint8_t *tcp, size_t hlen)
{
	size_t i = 20;
	while (i < hlen) {
		uint8_t kind = tcp[i];
		if (kind == TCP_OPT_END)
			return 0;
		if (kind == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= hlen || tcp[i + 1] < 2 || i + tcp[i + 1] > hlen)
			return 0;
		if (kind == TCP_OPT_MSS)
			return tcp[i + 1] == 4 ? i + 2 : 0;
		i += tcp[i + 1];
	}
	return 0;
}

/* Where a SYN's MSS value is in pkt (its TCP header's offset + the option's), or 0. */
static size_t syn_mss_at(const uint8_t *pkt, size_t len)
{
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	if (pkt[9] != 6 || (host_get16(pkt + 6) & 0x3fff) || len < ihl + 20)
		return 0;   /* not TCP, a fragment (offset or more-fragments), or too short */
	const uint8_t *tcp = pkt + ihl;
	size_t hlen = (size_t)(tcp[12] >> 4) * 4, seglen = len - ihl;
	if (!(tcp[13] & TCP_FLAG_SYN) || hlen < 20 || hlen > seglen)
		return 0;
	size_t at = mss_offset(tcp, hlen);
	return at ? ihl + at : 0;
}

uint16_t tcpmss_of(const uint8_t *pkt, size_t len)
{
	size_t at = syn_mss_at(pkt, len);
	return at ? host_get16(pkt + at) : 0;
}

int tcpmss_clamp(const uint8_t *pkt, size_t len, uint16_t mss, uint8_t *out, size_t cap)
{
	return tcpmss_of(pkt, len) > mss && tcpmss_set(pkt, len, mss, out, cap);
}

int tcpmss_set(const uint8_t *pkt, size_t len, uint16_t mss, uint8_t *out, size_t cap)
{
	size_t at = syn_mss_at(pkt, len);
	if (len > cap || !at || host_get16(pkt + at) == mss)
		return 0;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, seglen = len - ihl;
	memcpy(out, pkt, len);
	uint8_t *t = out + ihl;
	host_put16(out + at, mss);
	/* The whole checksum again, pseudo-header first: a SYN is a hundred bytes at most. */
	t[16] = t[17] = 0;
	host_put16(t + 16, ipv4_csum_field(ipv4_sum(ipv4_pseudo_sum(out, 6, seglen), t, seglen)));
	return 1;
}
