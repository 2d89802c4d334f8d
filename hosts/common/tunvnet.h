/* tunvnet.h: caprun's own reads and writes on a TUN device that carries virtio_net_hdr (IFF_VNET_HDR): the header added and stripped, a checksum the kernel left open finished. */
#ifndef HOST_TUNVNET_H
#define HOST_TUNVNET_H

#include <stddef.h>
#include <sys/types.h>
#include "capsule-abi/cap_abi.h"

/*
 * One packet from the device into pkt (room bytes): its length, or -1 with
 * errno (EAGAIN when none).  vnet: the device has IFF_VNET_HDR; its header
 * is read and dropped, and a checksum it left to finish (NEEDS_CSUM, with
 * the offloads on) is finished, so the bytes are a plain IPv4 packet that
 * any reader checks as usual.  A GSO packet stays whole (up to 65535 bytes).
 */
ssize_t tunvnet_read(int fd, int vnet, void *pkt, size_t room);
/* One plain packet to the device (vnet: behind an all-zero header: nothing offloaded). */
ssize_t tunvnet_write(int fd, int vnet, const void *pkt, size_t len);
/*
 * One IPv4 TCP segment (len bytes, headers checked) to a vnet device for the
 * kernel to cut into segments of seg payload bytes where it leaves the host
 * (GSO_TCPV4, checksums made per segment: the TCP checksum field goes out
 * holding the pseudo-header sum, pkt itself is not changed).  Its length, or
 * -1 with errno.
 */
ssize_t tunvnet_write_gso(int fd, const uint8_t *pkt, size_t len, uint16_t seg);
/*
 * Finish the checksum h asks for in pkt (len bytes): the one's-complement
 * sum from csum_start to the end, the field at csum_start + csum_offset
 * holding the pseudo-header's sum.  0, or -1 when the offsets do not fit.
 */
int tunvnet_finish_csum(const struct cap_vnet_hdr *h, unsigned char *pkt, size_t len);
/* Turn the device's offloads to the capsule on: checksums and TCPv4 segmentation.  0, or -1 with errno. */
int tunvnet_offload_on(int fd);

#endif
