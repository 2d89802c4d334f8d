/* txbatch.c: TCP segments out to a TUN with offloads (CAP_HOST_TUN_VNET): checksums left to the kernel, consecutive segments joined into one GSO packet per write. */
#include <string.h>

#include "lwip/opt.h"
#include "lwip/pbuf.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_net.h"
#include "lwip-port/lp_internal.h"
#include "lwip-port/vnet.h"

/*
 * lwIP keeps its MSS, windows and congestion control in real segments (the
 * link's MSS): nothing about TCP changes.  What changes is the trip to the
 * kernel.  Segments lwIP sends back to back on one connection (a bulk write)
 * wait here, their pbufs referenced, while the tcpip core lock is held; when
 * a segment cannot follow (another connection, a gap, a PSH ended the run,
 * 64 KiB reached) or the lock is released (UNLOCK_TCPIP_CORE, lwipopts.h),
 * they go out as one packet: the first segment's headers with the total
 * length, then every payload, and a struct cap_vnet_hdr asking the kernel
 * to cut it back into the same segments (GSO_TCPV4, gso_size = the first's
 * payload) and to finish the checksum (NEEDS_CSUM).  Delivered locally, the
 * kernel's TCP takes it whole, as after GRO.  The same rules as the kernel's
 * GRO decide what may join (vnet.c).  docs/FASTPATH.md section 10.
 */

#define BATCH_SEGS 64
#define BATCH_IOV  (2 + 3 * BATCH_SEGS)

static struct {
	unsigned nseg, niov;
	int open;                       /* another full segment may follow */
	uint32_t ip_len, next_seq;
	uint8_t last_flags;
	struct lp_seg head;
	struct cap_vnet_hdr vh;
	uint8_t hdrs[LP_VNET_HDRS_MAX]; /* the first segment's headers, made the batch's */
	struct rt_iovec iov[BATCH_IOV]; /* vh, hdrs, payloads */
	struct pbuf *held[BATCH_SEGS];
} b;

void lp_tx_flush(void)
{
	if (!b.nseg)
		return;
	lp_vnet_finish(b.hdrs, &b.head, b.ip_len, b.nseg, b.last_flags, &b.vh);
	if (rt_tun_send_vnet(b.iov, (int)b.niov) < 0)
		lp_drops()->tx_channel_full++;   /* a lossy link: TCP sends it again */
	for (unsigned i = 0; i < b.nseg; i++)
		pbuf_free(b.held[i]);
	b.nseg = 0;
}

/* The payload of p (headers hdrs bytes into its first piece) as iovecs: 0, or -1 if they do not fit. */
static int add_payload(struct pbuf *p, unsigned hdrs)
{
	unsigned need = pbuf_clen(p);
	if (b.niov + need > BATCH_IOV)
		return -1;
	for (struct pbuf *q = p; q; q = q->next, hdrs = 0)
		if (q->len > hdrs)
			b.iov[b.niov++] = (struct rt_iovec){ (uint8_t *)q->payload + hdrs, q->len - hdrs };
	return 0;
}

static void hold(struct pbuf *p, const struct lp_seg *s)
{
	pbuf_ref(p);
	b.held[b.nseg++] = p;
	b.ip_len += s->payload;
	b.next_seq = s->seq + s->payload;
	b.last_flags = s->flags;
	b.open = lp_vnet_open_ended(s) && s->payload == b.head.payload && b.nseg < BATCH_SEGS;
}

/*
 * One TCP/IPv4 packet lwIP built without its checksum (NETIF_CHECKSUM_GEN_TCP
 * off), headers contiguous in its first pbuf.  -1: not one (the caller sends
 * it as it is).
 */
int lp_tx_tcp(struct pbuf *p)
{
	struct lp_seg s;
	const uint8_t *pkt = p->payload;
	if (lp_vnet_parse(pkt, p->len, p->tot_len, &s))
		return -1;
	if (b.nseg && b.open && lp_vnet_can_follow(b.hdrs, &b.head, b.ip_len, b.next_seq, pkt, &s) &&
	    add_payload(p, s.hdrs) == 0) {
		hold(p, &s);
		if (!b.open)
			lp_tx_flush();
		return 0;
	}
	lp_tx_flush();
	b.head = s;
	memcpy(b.hdrs, pkt, s.hdrs);
	b.iov[0] = (struct rt_iovec){ &b.vh, sizeof b.vh };
	b.iov[1] = (struct rt_iovec){ b.hdrs, s.hdrs };
	b.niov = 2;
	b.ip_len = s.hdrs;
	if (add_payload(p, s.hdrs))
		return -1;   /* more pieces than a batch holds: sent as it is, with its sum */
	hold(p, &s);
	if (!b.open)
		lp_tx_flush();
	return 0;
}
