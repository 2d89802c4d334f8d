/* tcpseg.c: cutting a large TCP segment into wire-sized pieces and joining consecutive pieces again (tcpseg.h says why). */
#include "hosts/common/tcpseg.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"

#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/*
 * The TCP header length of a plain data segment (tcpseg.h: IPv4 without
 * options, not a fragment, TCP with ACK and maybe PSH / FIN / CWR / ECE, a
 * payload), or 0 for anything else.  pkt's IPv4 header is checked already.
 */
static size_t data_segment(const uint8_t *pkt, size_t len, unsigned allowed_flags)
{
	if ((pkt[0] & 0x0f) != 5 || pkt[9] != 6 || (host_get16(pkt + 6) & 0x3fff) || len < 40)
		return 0;
	const uint8_t *tcp = pkt + 20;
	size_t hlen = (size_t)(tcp[12] >> 4) * 4;
	if (hlen < 20 || 20 + hlen >= len)
		return 0;   /* no payload */
	if (!(tcp[13] & TCP_ACK) || (tcp[13] & ~allowed_flags))
		return 0;
	return hlen;
}

/* The TCP checksum of seg (the segment after a 20-byte IPv4 header ip), written into it. */
static void tcp_csum(const uint8_t *ip, uint8_t *seg, size_t seglen)
{
	seg[16] = seg[17] = 0;
	host_put16(seg + 16, ipv4_csum_field(ipv4_sum(ipv4_pseudo_sum(ip, 6, seglen), seg, seglen)));
}

static void ip_finish(uint8_t *ip, size_t total)
{
	host_put16(ip + 2, (uint16_t)total);
	ip[10] = ip[11] = 0;
	host_put16(ip + 10, ipv4_csum_field(ipv4_sum(0, ip, 20)));
}

size_t tcpseg_piece_payload(const uint8_t *pkt, size_t len, size_t max_len)
{
	if (len <= max_len)
		return 0;
	/* URG points into the payload: one urgent pointer per segment cannot be cut honestly. */
	size_t hlen = data_segment(pkt, len, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR | TCP_ECE);
	if (!hlen || max_len < 20 + hlen + TCPSEG_MIN_PIECE)
		return 0;
	size_t payload = max_len - 20 - hlen;
	if (tcpseg_pieces(pkt, len, payload) > TCPSEG_MAX_PIECES)
		return 0;
	return payload;
}

unsigned tcpseg_pieces(const uint8_t *pkt, size_t len, size_t payload)
{
	size_t data = len - 20 - (size_t)(pkt[32] >> 4) * 4;
	return (unsigned)((data + payload - 1) / payload);
}

size_t tcpseg_piece(const uint8_t *pkt, size_t len, size_t payload, unsigned i, uint8_t *out)
{
	size_t hdrs = 20 + (size_t)(pkt[32] >> 4) * 4, data = len - hdrs;
	size_t off = (size_t)i * payload, n = data - off < payload ? data - off : payload;
	int last = off + n == data;
	memcpy(out, pkt, hdrs);
	memcpy(out + hdrs, pkt + hdrs + off, n);
	host_put16(out + 4, (uint16_t)(host_get16(pkt + 4) + i));
	ip_finish(out, hdrs + n);
	uint8_t *tcp = out + 20;
	host_put32(tcp + 4, host_get32(pkt + 24) + (uint32_t)off);
	if (!last)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i)
		tcp[13] &= (uint8_t)~TCP_CWR;
	tcp_csum(out, tcp, hdrs - 20 + n);
	return hdrs + n;
}

/* Does pkt continue j's segment (tcpseg_join_add's rules)?  hlen: pkt's TCP header length. */
static int continues(const struct tcpseg_join *j, const uint8_t *pkt, size_t len, size_t hlen)
{
	const uint8_t *a = j->buf, *b = pkt;
	size_t data = len - 20 - hlen, have = j->len - 20 - hlen;
	if (j->closed || data > j->first || j->len + data > j->cap)
		return 0;
	/* TOS, then TTL + protocol, addresses; ports, acknowledgment, header length + flags
	 * (PSH aside), window; the options byte for byte. */
	if (a[1] != b[1] || a[8] != b[8] || memcmp(a + 12, b + 12, 8) ||
	    memcmp(a + 20, b + 20, 4) || memcmp(a + 28, b + 28, 2) ||
	    ((a[33] ^ b[33]) & (uint8_t)~TCP_PSH) || memcmp(a + 34, b + 34, 2) ||
	    memcmp(a + 40, b + 40, hlen - 20))
		return 0;
	return host_get32(b + 24) == host_get32(a + 24) + (uint32_t)have;
}

int tcpseg_join_add(struct tcpseg_join *j, const uint8_t *pkt, size_t len)
{
	size_t hlen = data_segment(pkt, len, TCP_ACK | TCP_PSH);
	if (!hlen || len > j->cap)
		return 0;
	size_t data = len - 20 - hlen;
	if (j->len == 0) {
		memcpy(j->buf, pkt, len);
		j->len = len;
		j->first = data;
		j->pieces = 1;
		j->closed = (pkt[33] & TCP_PSH) != 0;
		return 1;
	}
	if ((size_t)(j->buf[32] >> 4) * 4 != hlen || !continues(j, pkt, len, hlen))
		return 0;
	memcpy(j->buf + j->len, pkt + 20 + hlen, data);
	j->len += data;
	j->pieces++;
	if (pkt[33] & TCP_PSH) {
		j->buf[33] |= TCP_PSH;
		j->closed = 1;
	}
	if (data < j->first)
		j->closed = 1;   /* a short piece is a segment's last */
	return 1;
}

size_t tcpseg_join_take(struct tcpseg_join *j)
{
	size_t len = j->len;
	if (j->pieces > 1) {
		ip_finish(j->buf, len);
		tcp_csum(j->buf, j->buf + 20, len - 20);
	}
	j->len = 0;
	j->pieces = 0;
	j->closed = 0;
	return len;
}
