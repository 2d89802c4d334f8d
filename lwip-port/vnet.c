/* vnet.c: IPv4/TCP header work for the TUN's offloads (struct cap_vnet_hdr): open checksums and joining TCP segments into one GSO packet; plain bytes, no lwIP. */
#include "lwip-port/vnet.h"
#include "lwip-port/chksum.h"

#include <string.h>

#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_RST 0x04u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void put_be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

int lp_vnet_parse(const uint8_t *pkt, size_t have, size_t total, struct lp_seg *s)
{
	if (have < 20 || (pkt[0] >> 4) != 4 || pkt[9] != 6 || be16(pkt + 2) != total)
		return -1;
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	if (ihl < 20 || (be16(pkt + 6) & 0x3fff) || have < ihl + 20)
		return -1;   /* options beyond the packet, or a fragment */
	size_t thl = (size_t)(pkt[ihl + 12] >> 4) * 4;
	if (thl < 20 || have < ihl + thl || total < ihl + thl)
		return -1;
	s->ip_hdr = (uint16_t)ihl;
	s->hdrs = (uint16_t)(ihl + thl);
	s->payload = (uint16_t)(total - ihl - thl);
	s->seq = be32(pkt + ihl + 4);
	s->flags = pkt[ihl + 13];
	return 0;
}

int lp_vnet_open_ended(const struct lp_seg *s)
{
	return s->payload > 0 && s->flags == TCP_ACK;
}

int lp_vnet_can_follow(const uint8_t *head_hdrs, const struct lp_seg *head, uint32_t ip_len,
                       uint32_t next_seq, const uint8_t *hdrs, const struct lp_seg *s)
{
	if (!lp_vnet_open_ended(head) || s->hdrs != head->hdrs || s->ip_hdr != head->ip_hdr ||
	    s->seq != next_seq || s->payload == 0 || s->payload > head->payload ||
	    (s->flags != TCP_ACK && s->flags != (TCP_ACK | TCP_PSH)) ||
	    ip_len + s->payload > 65535u)
		return 0;
	size_t ihl = head->ip_hdr;
	/* IP: version .. TOS, fragment field .. protocol, addresses and options; the length, ID and
	 * checksum differ per packet. */
	if (memcmp(hdrs, head_hdrs, 2) || memcmp(hdrs + 6, head_hdrs + 6, 4) ||
	    memcmp(hdrs + 12, head_hdrs + 12, ihl - 12))
		return 0;
	/* TCP: ports; ack, data offset; window; urgent pointer and options.  Seq, flags, checksum differ. */
	const uint8_t *a = hdrs + ihl, *b = head_hdrs + ihl;
	return !memcmp(a, b, 4) && !memcmp(a + 8, b + 8, 5) && !memcmp(a + 14, b + 14, 2) &&
	       !memcmp(a + 18, b + 18, head->hdrs - ihl - 18);
}

uint16_t lp_vnet_pseudo_sum(const uint8_t *ip_hdr, uint8_t proto, uint32_t l4_len)
{
	uint8_t ph[12];
	memcpy(ph, ip_hdr + 12, 8);
	ph[8] = 0;
	ph[9] = proto;
	put_be16(ph + 10, l4_len);
	return lp_chksum(ph, sizeof ph);
}

void lp_vnet_finish(uint8_t *hdrs, const struct lp_seg *head, uint32_t ip_len, unsigned nseg,
                    uint8_t last_flags, struct cap_vnet_hdr *vh)
{
	size_t ihl = head->ip_hdr;
	put_be16(hdrs + 2, ip_len);
	hdrs[10] = hdrs[11] = 0;
	uint16_t ipsum = (uint16_t)~lp_chksum(hdrs, (int)ihl);
	memcpy(hdrs + 10, &ipsum, 2);
	hdrs[ihl + 13] = last_flags;
	uint16_t pseudo = lp_vnet_pseudo_sum(hdrs, 6, ip_len - ihl);
	memcpy(hdrs + ihl + 16, &pseudo, 2);
	memset(vh, 0, sizeof *vh);
	vh->flags = CAP_VNET_F_NEEDS_CSUM;
	vh->csum_start = (uint16_t)ihl;
	vh->csum_offset = 16;
	if (nseg > 1) {
		vh->gso_type = CAP_VNET_GSO_TCPV4;
		vh->gso_size = head->payload;
		vh->hdr_len = head->hdrs;
	}
}
