/* held.c: packets queued for a capsule frozen for good go into its memory (capsule-abi/cap_held.h), to be delivered where it resumes. */
#include "hosts/caprun/held.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/formats/uplink.h"
#include "capsule-abi/cap_held.h"
#include "hosts/common/tunvnet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The next queued packet: its bytes in *pkt (inside buf), or 0 when nothing (more) is queued. */
static size_t next_packet(struct host_relay *r, unsigned char *buf, const unsigned char **pkt)
{
	if (r->uplink)   /* caphostd's uplink: packets only, up to its first other record */
		return caprun_uplink_take_packet(r->tun_fd, buf, pkt);
	ssize_t n;
	do
		n = tunvnet_read(r->tun_fd, r->tun_vnet, buf, CAP_MTU_MAX);   /* a plain packet, checksum finished */
	while (n < 0 && errno == EINTR);
	*pkt = buf;
	return n > 0 ? (size_t)n : 0;
}

int held_collect(struct host_relay *r, struct held_result *res)
{
	memset(res, 0, sizeof *res);
	if (r->tun_fd < 0)
		return 0;
	unsigned char *area = malloc(CAP_HELD_SIZE);
	unsigned char *buf = malloc(UPLINK_MAX > CAP_MTU_MAX ? UPLINK_MAX : CAP_MTU_MAX);
	if (!area || !buf) {
		free(area);
		free(buf);
		return -1;
	}
	struct cap_held_header h = { .magic = CAP_HELD_MAGIC };
	size_t at = sizeof h;
	const unsigned char *pkt;
	size_t len;
	while ((len = next_packet(r, buf, &pkt)) > 0) {
		if (at + CAP_HELD_STEP(len) > CAP_HELD_SIZE) {
			h.dropped++;   /* full: the rest is lost, as it always was */
			continue;
		}
		struct cap_held_record rec = { .len = (uint32_t)len, .reserved = 0 };
		memcpy(area + at, &rec, sizeof rec);
		memcpy(area + at + sizeof rec, pkt, len);
		memset(area + at + sizeof rec + len, 0, CAP_HELD_STEP(len) - sizeof rec - len);
		at += CAP_HELD_STEP(len);
		h.count++;
	}
	free(buf);
	r->stats.drop_host_full += h.dropped;   /* on the books: capctl stats */
	if (r->filter && !r->uplink)
		r->tun_host_reads += h.count + h.dropped;   /* the device counted them: not the capsule's */
	res->packets = h.count;
	res->dropped = h.dropped;
	res->bytes = at - sizeof h;
	int rc = 0;
	if (h.count || h.dropped) {
		h.bytes = (uint32_t)(at - sizeof h);
		memcpy(area, &h, sizeof h);
		off_t off = (off_t)CAP_MEMFD_OFFSET(CAP_HELD_ADDR);
		/* the records first, the header (which makes them count) last */
		if (pwrite(r->memfd, area + sizeof h, at - sizeof h, off + (off_t)sizeof h) !=
		        (ssize_t)(at - sizeof h) ||
		    pwrite(r->memfd, area, sizeof h, off) != (ssize_t)sizeof h)
			rc = -1;
	}
	free(area);
	return rc;
}
