/* vnet.h: IPv4/TCP header work for the TUN's offloads (struct cap_vnet_hdr): open checksums and joining TCP segments into one GSO packet; plain bytes, no lwIP. */
#ifndef LP_VNET_H
#define LP_VNET_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"

/* IPv4 + TCP headers at most: 60 + 60 bytes. */
#define LP_VNET_HDRS_MAX 120

/* One outgoing TCP/IPv4 packet's headers, as lp_vnet_parse found them. */
struct lp_seg {
	uint16_t hdrs;      /* IP + TCP header bytes */
	uint16_t ip_hdr;    /* IP header bytes */
	uint16_t payload;   /* TCP payload bytes */
	uint32_t seq;       /* host order */
	uint8_t  flags;     /* TCP flags byte */
};

/*
 * The headers of a TCP/IPv4 packet of total bytes whose first have bytes
 * are at pkt (contiguous headers are needed).  0, or -1 when it is not one
 * (not IPv4 TCP, a fragment, headers not all there, lengths disagree).
 */
int lp_vnet_parse(const uint8_t *pkt, size_t have, size_t total, struct lp_seg *s);

/*
 * May segment s (headers at hdrs) follow a batch whose headers are head_hdrs
 * (parsed as head), which holds ip_len bytes so far (one IP packet) and ends
 * at sequence number next_seq?  The kernel cuts the joined packet back into
 * head->payload-byte segments carrying the head's headers (seq advanced, the
 * last one's PSH), so the rest of the headers must be the same, every
 * segment but the last a full one, and nothing but ACK and a final PSH set.
 */
int lp_vnet_can_follow(const uint8_t *head_hdrs, const struct lp_seg *head, uint32_t ip_len,
                       uint32_t next_seq, const uint8_t *hdrs, const struct lp_seg *s);
/* Can anything follow a batch whose head or last segment is s?  (Data, no PSH, FIN, SYN, RST...) */
int lp_vnet_open_ended(const struct lp_seg *s);

/*
 * Make hdrs (a copy of the first segment's headers, parsed as head) the
 * header of the whole batch: ip_len bytes in nseg segments, the last one's
 * TCP flags last_flags.  Sets the IP total length and header checksum, the
 * TCP checksum field to the pseudo-header sum (NEEDS_CSUM) and *vh: GSO
 * when nseg > 1, with gso_size the head's payload.
 */
void lp_vnet_finish(uint8_t *hdrs, const struct lp_seg *head, uint32_t ip_len, unsigned nseg,
                    uint8_t last_flags, struct cap_vnet_hdr *vh);

/* The pseudo-header sum (src, dst, protocol, length) as lwIP's checksums are: native words, folded, not inverted. */
uint16_t lp_vnet_pseudo_sum(const uint8_t *ip_hdr, uint8_t proto, uint32_t l4_len);

#endif
