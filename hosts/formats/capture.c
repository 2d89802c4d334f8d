/* capture.c: the pure parts of a capsule's packet capture (capture.h): the pcap headers, which packets are about a capsule, the outer headers of a wire record. */
#include "hosts/formats/capture.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"
#include "hosts/formats/wire.h"

#include <string.h>

void capture_global_init(struct capture_global *g)
{
	memset(g, 0, sizeof *g);
	g->magic = CAPTURE_MAGIC_USEC;
	g->version_major = CAPTURE_VERSION_MAJOR;
	g->version_minor = CAPTURE_VERSION_MINOR;
	g->snaplen = CAPTURE_SNAPLEN;
	g->linktype = CAPTURE_LINKTYPE_RAW;
}

int capture_global_check(const struct capture_global *g)
{
	return g->magic == CAPTURE_MAGIC_USEC && g->version_major == CAPTURE_VERSION_MAJOR &&
	               g->version_minor == CAPTURE_VERSION_MINOR && g->linktype == CAPTURE_LINKTYPE_RAW &&
	               g->snaplen == CAPTURE_SNAPLEN
	           ? 0
	           : -1;
}

/* An address as it sits in a packet (network order) compared with ip (network order). */
static int addr_at(const uint8_t *p, uint32_t ip)
{
	uint32_t a;
	memcpy(&a, p, 4);
	return a == ip;
}

int capture_inner_match(const uint8_t *pkt, size_t len, uint32_t ip)
{
	if (len < 20 || (pkt[0] >> 4) != 4)
		return 0;
	return addr_at(pkt + 12, ip) || addr_at(pkt + 16, ip);
}

int capture_wire_match(const uint8_t *dgram, size_t len, uint32_t ip)
{
	if (len < WIRE_OVERHEAD || dgram[0] != WIRE_VERSION)
		return 0;
	size_t plen = host_get16(dgram + 24);
	if (plen > len - WIRE_OVERHEAD)
		return 0;
	const uint8_t *pl = dgram + WIRE_HDR_LEN;
	switch (dgram[1]) {
	case WIRE_DATA:
		return capture_inner_match(pl, plen, ip);
	case WIRE_REDIRECT:   /* capsule_ip first */
	case WIRE_FLUSH:
	case WIRE_HOLD:
		return plen >= 4 && addr_at(pl, ip);
	case WIRE_SYNC:       /* kind, 3 reserved, then capsule_ip */
	case WIRE_ACK:
	case WIRE_GAPS:
		return plen >= 8 && addr_at(pl + 4, ip);
	default:
		return 0;
	}
}

int capture_outer_build(uint8_t out[CAPTURE_OUTER_LEN], size_t plen, uint32_t src, uint16_t sport,
                        uint32_t dst, uint16_t dport)
{
	if (plen > 65535 - CAPTURE_OUTER_LEN)
		return -1;
	uint8_t *ip = out, *udp = out + 20;
	memset(out, 0, CAPTURE_OUTER_LEN);
	ip[0] = 0x45;
	host_put16(ip + 2, (uint16_t)(plen + CAPTURE_OUTER_LEN));
	host_put16(ip + 6, 0x4000);   /* DF, as Linux sends UDP with path MTU discovery */
	ip[8] = 64;
	ip[9] = 17;                   /* UDP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	host_put16(ip + 10, ipv4_csum_field(ipv4_sum(0, ip, 20)));
	host_put16(udp, sport);
	host_put16(udp + 2, dport);
	host_put16(udp + 4, (uint16_t)(plen + 8));
	return 0;   /* UDP checksum 0: none (RFC 768) */
}
