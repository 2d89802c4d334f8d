/* ipv4.c: the Internet checksum and the IPv4 header check every host program uses (ipv4.h). */
#include "hosts/common/ipv4.h"
#include "hosts/common/bytes.h"

#include <string.h>

uint32_t ipv4_sum(uint32_t sum, const uint8_t *buf, size_t len)
{
	size_t i;
	for (i = 0; i + 1 < len; i += 2) {
		sum += (uint32_t)(buf[i] << 8 | buf[i + 1]);
		sum = (sum & 0xffff) + (sum >> 16);   /* stays below 2^17: no overflow, any length */
	}
	if (i < len)
		sum += (uint32_t)buf[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
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
