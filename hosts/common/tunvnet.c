/* tunvnet.c: caprun's own reads and writes on a TUN device that carries virtio_net_hdr (IFF_VNET_HDR): the header added and stripped, a checksum the kernel left open finished. */
#include "hosts/common/tunvnet.h"
#include "hosts/common/ipv4.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(struct cap_vnet_hdr) == sizeof(struct virtio_net_hdr), "cap_vnet_hdr layout");
_Static_assert(offsetof(struct cap_vnet_hdr, csum_offset) == offsetof(struct virtio_net_hdr, csum_offset),
               "cap_vnet_hdr layout");
_Static_assert(CAP_VNET_F_NEEDS_CSUM == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
               CAP_VNET_F_DATA_VALID == VIRTIO_NET_HDR_F_DATA_VALID &&
               CAP_VNET_GSO_TCPV4 == VIRTIO_NET_HDR_GSO_TCPV4, "cap_vnet_hdr values");

int tunvnet_finish_csum(const struct cap_vnet_hdr *h, unsigned char *pkt, size_t len)
{
	size_t start = h->csum_start, field = start + h->csum_offset;
	if (start >= len || field + 2 > len)
		return -1;
	uint16_t v = ipv4_csum_field(ipv4_sum(0, pkt + start, len - start));
	pkt[field] = (uint8_t)(v >> 8);
	pkt[field + 1] = (uint8_t)v;
	return 0;
}

ssize_t tunvnet_read(int fd, int vnet, void *pkt, size_t room)
{
	if (!vnet)
		return read(fd, pkt, room);
	struct cap_vnet_hdr h;
	struct iovec iov[2] = { { &h, sizeof h }, { pkt, room } };
	ssize_t n = readv(fd, iov, 2);
	if (n < 0)
		return -1;
	if (n < (ssize_t)sizeof h)
		return 0;   /* nothing a reader could use: read as an empty packet */
	n -= (ssize_t)sizeof h;
	if ((h.flags & CAP_VNET_F_NEEDS_CSUM) && tunvnet_finish_csum(&h, pkt, (size_t)n))
		return 0;   /* offsets past the packet: the kernel never does that */
	return n;
}

ssize_t tunvnet_write(int fd, int vnet, const void *pkt, size_t len)
{
	if (!vnet)
		return write(fd, pkt, len);
	struct cap_vnet_hdr h;
	memset(&h, 0, sizeof h);
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)pkt, len } };
	ssize_t n = writev(fd, iov, 2);
	return n < (ssize_t)sizeof h ? (n < 0 ? -1 : 0) : n - (ssize_t)sizeof h;
}

ssize_t tunvnet_write_gso(int fd, const uint8_t *pkt, size_t len, uint16_t seg)
{
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, hdrs = ihl + (size_t)(pkt[ihl + 12] >> 4) * 4;
	uint8_t h[120];
	if (hdrs > sizeof h || hdrs > len) {
		errno = EINVAL;
		return -1;
	}
	memcpy(h, pkt, hdrs);
	uint16_t sum = (uint16_t)ipv4_pseudo_sum(pkt, 6, len - ihl);   /* not inverted: partial */
	h[ihl + 16] = (uint8_t)(sum >> 8);
	h[ihl + 17] = (uint8_t)sum;
	struct cap_vnet_hdr v = { .flags = CAP_VNET_F_NEEDS_CSUM, .gso_type = CAP_VNET_GSO_TCPV4,
	                          .hdr_len = (uint16_t)hdrs, .gso_size = seg,
	                          .csum_start = (uint16_t)ihl, .csum_offset = 16 };
	struct iovec iov[3] = { { &v, sizeof v }, { h, hdrs }, { (void *)(pkt + hdrs), len - hdrs } };
	ssize_t n = writev(fd, iov, 3);
	return n < (ssize_t)sizeof v ? (n < 0 ? -1 : 0) : n - (ssize_t)sizeof v;
}

int tunvnet_offload_on(int fd)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4));
}
