/* ipv4.h: the hosts' IPv4 primitives: the Internet checksum, the header checks, and the capsule network's prefix. */
#ifndef HOST_IPV4_H
#define HOST_IPV4_H

#include <stddef.h>
#include <stdint.h>

/*
 * The capsule network.  Every capsule address lies in 198.18.0.0/15 (RFC
 * 2544's benchmarking range, never routed on the Internet), so nothing the
 * hosts capture or route can be a real machine's.  A single host (caprun
 * without caphostd) and the directory default to its first half, /16, with
 * the gateway address .0.1 on each capsule's TUN device.  Host order.
 */
#define IPV4_CAPNET_BASE     0xc6120000u   /* 198.18.0.0 */
#define IPV4_CAPNET_BITS     15            /* the whole range: the fail-closed unreachable route */
#define IPV4_CAPNET_MASK     0xfffe0000u
#define IPV4_CAPNET_DEFAULT  "198.18.0.0/16"
#define IPV4_CAPNET_DEFAULT_BITS 16
#define IPV4_CAPNET_DEFAULT_MASK 0xffff0000u
#define IPV4_CAPNET_GATEWAY  0xc6120001u   /* 198.18.0.1 */

/* Is the network net/bits (host order) inside 198.18.0.0/15? */
static inline int ipv4_in_capnet(uint32_t net, uint32_t bits)
{
	return (net & IPV4_CAPNET_MASK) == IPV4_CAPNET_BASE && bits >= IPV4_CAPNET_BITS;
}

/*
 * RFC 1071 Internet checksum: the one's-complement sum of buf as big-endian
 * 16-bit words (an odd last byte padded with zero), added to sum and folded
 * to 16 bits, not inverted.  Chain calls to sum several pieces (a
 * pseudo-header, then a segment); every piece but the last must have even
 * length.  A header whose stored checksum is right sums to 0xffff.
 */
uint32_t ipv4_sum(uint32_t sum, const uint8_t *buf, size_t len);
/* The sum of the pseudo-header TCP and UDP checksums start from (RFC 793): the addresses of
 * the IPv4 header ip, proto and the l4len bytes of segment; the segment's sum chains on. */
uint32_t ipv4_pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len);
/* The value for a checksum field: ~sum (buf's checksum field zero while summing). */
static inline uint16_t ipv4_csum_field(uint32_t sum) { return (uint16_t)~sum; }

/* Why an IPv4 header was refused (ipv4_check). */
enum ipv4_verdict {
	IPV4_OK = 0,
	IPV4_E_SHORT,     /* fewer than 20 bytes */
	IPV4_E_VERSION,   /* version field not 4 */
	IPV4_E_IHL,       /* header length below 20 bytes or beyond the packet */
	IPV4_E_LENGTH,    /* total length field disagrees with the bytes we have */
	IPV4_E_CSUM,      /* header checksum wrong */
};

/* ipv4_check flags. */
#define IPV4_CHECK_CSUM   1u   /* verify the header checksum */
#define IPV4_CHECK_PADDED 2u   /* len may exceed the total length (link padding): ihl <= total <= len */

/*
 * The one IPv4 header check: version 4, IHL >= 5 and within the packet,
 * total length == len (or, with IPV4_CHECK_PADDED, IHL <= total <= len),
 * and with IPV4_CHECK_CSUM the header checksum.  Checks in that order;
 * returns the first failure (enum ipv4_verdict), IPV4_OK if none.  Reads
 * nothing beyond len, so arbitrary bytes are safe.
 */
int ipv4_check(const uint8_t *pkt, size_t len, unsigned flags);

/* Source and destination of a checked packet, network order. */
void ipv4_addrs(const uint8_t *pkt, uint32_t *src, uint32_t *dst);

#endif
