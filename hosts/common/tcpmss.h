/* tcpmss.h: lowering the MSS a TCP SYN announces, so segments fit the host-to-host wire unfragmented. */
#ifndef HOST_TCPMSS_H
#define HOST_TCPMSS_H

#include <stddef.h>
#include <stdint.h>

/* The most a SYN copy can hold: IPv4 header (60) + TCP header with options (60). */
#define TCPMSS_SYN_MAX 120

/*
 * Each end of a TCP connection sends segments up to the MSS its peer
 * announced in its SYN, sized for the peer's own link.  Between hosts a
 * capsule's packets travel wrapped (wire.h: outer IPv4 + UDP + wire header
 * and tag), so a full-size segment no longer fits the link and the kernel
 * fragments every one of them.  Lowering the MSS in the SYNs as they enter
 * the host (what iptables' TCPMSS target does, RFC 6691) makes both ends
 * send segments that fit, for the connection's whole life, wherever the
 * capsule later moves.
 *
 * The MSS a wire MTU allows: mtu - outer IPv4 (20) - UDP (8) - wire_overhead
 * - inner IPv4 (20) - TCP (20).
 */
static inline uint16_t tcpmss_for_wire(unsigned mtu, unsigned wire_overhead)
{
	unsigned fixed = 20 + 8 + wire_overhead + 20 + 20;
	return (uint16_t)(mtu > fixed + 536 ? mtu - fixed : 536);
}

/*
 * pkt (len bytes, an IPv4 header already checked by ipv4_check) is a TCP SYN
 * whose MSS option exceeds mss: writes a copy to out (cap bytes, at least
 * len) with the MSS lowered to mss and the TCP checksum redone, and returns
 * 1.  Returns 0, writing nothing, for anything else: not TCP, a fragment,
 * not a SYN, no MSS option, an MSS already small enough, malformed options,
 * or a packet larger than cap.
 */
int tcpmss_clamp(const uint8_t *pkt, size_t len, uint16_t mss, uint8_t *out, size_t cap);
/* The same with the MSS set to mss, lower or higher: 1 when written (the MSS differed). */
int tcpmss_set(const uint8_t *pkt, size_t len, uint16_t mss, uint8_t *out, size_t cap);
/* The MSS pkt (checked as above) announces: 0 unless it is a TCP SYN with an MSS option. */
uint16_t tcpmss_of(const uint8_t *pkt, size_t len);

#endif
