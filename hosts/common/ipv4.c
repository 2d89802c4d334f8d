/* ipv4.c: the Internet checksum and the IPv4 header check every host program uses (ipv4.h). */
#include "hosts/common/ipv4.h"
#include "hosts/common/bytes.h"

#include <string.h>

uint32_t ipv4_sum(uint32_t sum, const uint8_t *buf, size_t len)
{
	/* Four bytes at a time into 64 bits: a big-endian 32-bit word is two 16-bit words
	 * (a * 65536 + b = a + b modulo 65535), and 2^32 additions cannot overflow. */
	uint64_t s = sum;
	size_t i;
	for (i = 0; i + 4 <= len; i += 4)
		s += host_get32(buf + i);
	for (; i + 1 < len; i += 2)
		s += host_get16(buf + i);
	if (i < len)
		s += (uint32_t)buf[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint32_t ipv4_pseudo_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);   /* source and destination */
	pseudo[8] = 0;
	pseudo[9] = proto;
	host_put16(pseudo + 10, (uint16_t)l4len);
	return ipv4_sum(0, pseudo, sizeof pseudo);
}

int ipv4_check(const uint8_t *pkt, size_t len, unsigned flags)
{
	if (len < 20)
		return IPV4_E_SHORT;
	if (pkt[0] >> 4 != 4)
		return IPV4_E_VERSION;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	if (ihl < 20 || ihl > len)
		return IPV4_E_IHL;
	size_t total = host_get16(pkt + 2);
	if ((flags & IPV4_CHECK_PADDED) ? total < ihl || total > len : total != len)
		return IPV4_E_LENGTH;
	if ((flags & IPV4_CHECK_CSUM) && ipv4_sum(0, pkt, ihl) != 0xffff)
		return IPV4_E_CSUM;
	return IPV4_OK;
}

void ipv4_addrs(const uint8_t *pkt, uint32_t *src, uint32_t *dst)
{
	memcpy(src, pkt + 12, 4);
	memcpy(dst, pkt + 16, 4);
}
