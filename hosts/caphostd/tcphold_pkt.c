/* tcphold_pkt.c: bounds-checked IPv4/TCP parsing and building (checksums, options) for the TCP holder. */
#include "hosts/caphostd/tcphold.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"

#include <string.h>

/* TCP checksum field value: pseudo-header (src, dst, 0, 6, tcp length) + segment. */
static uint16_t tcp_csum(const uint8_t *ip, const uint8_t *tcp, size_t tcp_len)
{
	return ipv4_csum_field(ipv4_sum(ipv4_pseudo_sum(ip, 6, tcp_len), tcp, tcp_len));
}

/* Walk the TCP options; -1 if an option's length runs off the header or is impossible. */
static int parse_options(const uint8_t *o, size_t n, struct tcphold_seg *s)
{
	size_t i = 0;
	while (i < n) {
		uint8_t kind = o[i];
		if (kind == 0)
			break;            /* end of list */
		if (kind == 1) {
			i++;              /* NOP */
			continue;
		}
		if (i + 1 >= n)
			return -1;
		size_t olen = o[i + 1];
		if (olen < 2 || i + olen > n)
			return -1;
		switch (kind) {
		case 2:
			if (olen != 4)
				return -1;
			s->has_mss = 1;
			s->mss = host_get16(o + i + 2);
			break;
		case 3:
			if (olen != 3)
				return -1;
			s->has_ws = 1;
			s->ws = o[i + 2] > 14 ? 14 : o[i + 2];   /* RFC 7323: larger shifts mean 14 */
			break;
		case 4:
			if (olen != 2)
				return -1;
			s->has_sackok = 1;
			break;
		case 8:
			if (olen != 10)
				return -1;
			s->has_ts = 1;
			s->ts_val = host_get32(o + i + 2);
			s->ts_ecr = host_get32(o + i + 6);
			break;
		default:
			break;            /* SACK blocks, MD5, ...: not needed to hold a connection */
		}
		i += olen;
	}
	return 0;
}

int tcphold_pkt_parse(const uint8_t *pkt, size_t len, struct tcphold_seg *s)
{
	memset(s, 0, sizeof *s);
	if (ipv4_check(pkt, len, IPV4_CHECK_PADDED | IPV4_CHECK_CSUM) != IPV4_OK)
		return -1;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t total = host_get16(pkt + 2);
	if (pkt[9] != 6)
		return -1;
	/* A fragment cannot be checked or answered on its own; peers use PMTU discovery anyway. */
	if ((host_get16(pkt + 6) & 0x3fff) != 0)
		return -1;
	const uint8_t *tcp = pkt + ihl;
	size_t tlen = total - ihl;
	if (tlen < 20)
		return -1;
	size_t doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > tlen)
		return -1;
	memcpy(&s->src, pkt + 12, 4);
	memcpy(&s->dst, pkt + 16, 4);
	s->sport = host_get16(tcp);
	s->dport = host_get16(tcp + 2);
	s->seq = host_get32(tcp + 4);
	s->ack = host_get32(tcp + 8);
	s->flags = tcp[13] & 0x3f;
	s->win = host_get16(tcp + 14);
	if (parse_options(tcp + 20, doff - 20, s) != 0)
		return -1;
	s->data = tcp + doff;
	s->dlen = tlen - doff;
	s->csum_ok = tcp_csum(pkt, tcp, tlen) == 0;   /* summing over the stored checksum gives ~0 -> 0 */
	return 0;
}

size_t tcphold_pkt_build(uint8_t *out, size_t out_cap, uint32_t src, uint32_t dst,
                     uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                     uint8_t flags, uint16_t win, int with_ts, uint32_t ts_val, uint32_t ts_ecr,
                     const uint8_t *data, size_t dlen)
{
	size_t thl = with_ts ? 32 : 20;
	size_t total = 20 + thl + dlen;
	if (total > 65535 || total > out_cap)
		return 0;
	uint8_t *ip = out, *tcp = out + 20;
	memset(out, 0, 20 + thl);
	ip[0] = 0x45;
	host_put16(ip + 2, (uint16_t)total);
	host_put16(ip + 6, 0x4000);   /* DF; id 0 is fine for unfragmentable packets (RFC 6864) */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	host_put16(ip + 10, ipv4_csum_field(ipv4_sum(0, ip, 20)));

	host_put16(tcp, sport);
	host_put16(tcp + 2, dport);
	host_put32(tcp + 4, seq);
	host_put32(tcp + 8, ack);
	tcp[12] = (uint8_t)(thl / 4) << 4;
	tcp[13] = flags & (uint8_t)~TCPHOLD_RST;   /* never a RST, whatever the caller asked */
	host_put16(tcp + 14, win);
	if (with_ts) {
		tcp[20] = 1;
		tcp[21] = 1;
		tcp[22] = 8;
		tcp[23] = 10;
		host_put32(tcp + 24, ts_val);
		host_put32(tcp + 28, ts_ecr);
	}
	if (dlen)
		memcpy(tcp + thl, data, dlen);
	host_put16(tcp + 16, tcp_csum(ip, tcp, thl + dlen));
	return total;
}
