/* netif.c: the capsule's IP-level network interface over the packet channel (fd 3) or its TUN (fd 8), and lp_init. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_net.h"
#include "runtime/rt_sched.h"
#include "lwip-port/heap.h"
#include "lwip-port/lp_internal.h"
#include "lwip-port/lp_sock.h"

/* More pieces than this in one pbuf chain are flattened into lp_tx_flat first. */
#define LP_TX_MAX_IOV RT_CHANNEL_MAX_IOV

/* lwIP sizes its checks by MEM_SIZE; heap.c carves from a region it sizes itself. */
_Static_assert(MEM_SIZE == LP_HEAP_REGION_SIZE, "lwipopts.h MEM_SIZE is heap.c's region");
/* And lwIP's mem_malloc is heap.c's (docs/FASTPATH.md section 12): lwIP's own first fit walked
 * 179 blocks per allocation at MTU 1500, which no test but the bench would notice. */
_Static_assert(MEM_LIBC_MALLOC == 1, "lwipopts.h MEM_LIBC_MALLOC: lwIP's heap is heap.c");

static struct netif lp_netif;
/* Only used under the tcpip core lock (all output runs under it). */
static unsigned char lp_tx_flat[CAP_MTU_MAX];
/* Packets in handed to the tcpip thread's mailbox and not yet run: later ones queue behind them. */
static unsigned lp_rx_queued;

static const struct cap_control *lp_control(void)
{
	return (const struct cap_control *)CAP_CONTROL_ADDR;
}

struct cap_net_drops *lp_drops(void)
{
	return &((struct cap_control *)CAP_CONTROL_ADDR)->net_drops;
}

/*
 * Checksums (docs/FASTPATH.md section 10).  On a TUN with offloads the kernel
 * finishes TCP checksums, so lwIP builds TCP packets without one (the
 * netif's NETIF_CHECKSUM_GEN_TCP off) while that is the path; checked and
 * set again at every packet out, since a resume may land on a host without
 * it.  In: a packet the host vouched for (RT_PKT_CSUM_OK: made on this host,
 * its checksum maybe only the pseudo-header's, or checked by the kernel) is
 * taken without lwIP's checks above IP; every other packet is checked.
 */
#define LP_CHECKS_ABOVE_IP (NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP | NETIF_CHECKSUM_CHECK_ICMP)

static void lp_generate_tcp_sums(struct netif *netif, int on)
{
	u16_t f = netif->chksum_flags;
	NETIF_SET_CHECKSUM_CTRL(netif, on ? f | NETIF_CHECKSUM_GEN_TCP : f & ~NETIF_CHECKSUM_GEN_TCP);
}

static void lp_check_sums_above_ip(struct netif *netif, int on)
{
	u16_t f = netif->chksum_flags;
	NETIF_SET_CHECKSUM_CTRL(netif, on ? f | LP_CHECKS_ABOVE_IP : f & ~LP_CHECKS_ABOVE_IP);
}

/* A TCP packet built without its checksum that must go where nobody finishes it: summed here. */
static void lp_tcp_sum_now(struct pbuf *p)
{
	const struct ip_hdr *iph = p->payload;
	u16_t ihl = (u16_t)IPH_HL_BYTES(iph);
	ip4_addr_t src, dst;
	ip4_addr_copy(src, iph->src);
	ip4_addr_copy(dst, iph->dest);
	if (p->len < ihl + 18 || pbuf_remove_header(p, ihl))
		return;
	u8_t *tcph = p->payload;
	tcph[16] = tcph[17] = 0;
	u16_t sum = inet_chksum_pseudo(p, IP_PROTO_TCP, p->tot_len, &src, &dst);
	memcpy(tcph + 16, &sum, 2);
	pbuf_add_header(p, ihl);
}

/* One IPv4 packet out: on the TUN (with offloads: TCP through txbatch.c), else one CAP_MSG_PACKET record. */
static err_t lp_netif_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)next_hop;   /* a point-to-point link: the host routes */
	lp_handshake_watch(p);
	struct rt_iovec iov[LP_TX_MAX_IOV];
	int n = 0;
	int offloads = rt_tun_active() == RT_TUN_VNET;
	int unsummed_tcp = !(netif->chksum_flags & NETIF_CHECKSUM_GEN_TCP) && p->len >= IP_HLEN &&
	                   IPH_PROTO((const struct ip_hdr *)p->payload) == IP_PROTO_TCP;
	lp_generate_tcp_sums(netif, !offloads);   /* for the packets after this one */
	if (offloads && unsummed_tcp && lp_tx_tcp(p) == 0)
		return ERR_OK;
	lp_tx_flush();   /* what waits goes first */
	if (unsummed_tcp)
		lp_tcp_sum_now(p);
	if (pbuf_clen(p) <= LP_TX_MAX_IOV) {
		for (struct pbuf *q = p; q; q = q->next)
			if (q->len)
				iov[n++] = (struct rt_iovec){ q->payload, q->len };
	} else {
		u16_t len = pbuf_copy_partial(p, lp_tx_flat, sizeof(lp_tx_flat), 0);
		iov[n++] = (struct rt_iovec){ lp_tx_flat, len };
	}
	long r = rt_channel_send_packet(iov, n);
	if (r < 0) {
		/* A lossy link, not an error for lwIP: TCP retransmits, UDP may drop. */
		if (lp_drops()->tx_channel_full++ == 0)
			fprintf(stderr, "capsule: lwip-port: packet channel send failed (errno %ld)\n", -r);
	}
	return ERR_OK;
}

static err_t lp_netif_init(struct netif *netif)
{
	netif->name[0] = 'c';
	netif->name[1] = 'h';
	netif->output = lp_netif_output;
	netif->mtu = (u16_t)(lp_control()->mtu ? lp_control()->mtu : CAP_MTU_DEFAULT);
	netif->flags = NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

/* A queued packet, run by the tcpip thread. */
static err_t lp_input_queued(struct pbuf *p, struct netif *inp)
{
	lp_rx_queued--;
	return ip_input(p, inp);
}

/* The same for a packet whose checksums the host vouched for. */
static err_t lp_input_queued_vouched(struct pbuf *p, struct netif *inp)
{
	lp_check_sums_above_ip(inp, 0);
	err_t e = lp_input_queued(p, inp);
	lp_check_sums_above_ip(inp, 1);
	return e;
}

/*
 * The runtime's packet sink (called from the idle wait, never blocks): one
 * IPv4 packet into lwIP.  When the core lock is free and nothing is queued
 * ahead, lwIP takes the packet right here, in whichever green thread is
 * idle-waiting (the runtime runs the drain on a stack of its own), and the
 * thread it wakes (often that same one, e.g. the app back from poll) runs
 * next: no switch to the tcpip thread and back, so no FS-base change, which
 * is a system call on a CPU without FSGSBASE.  Otherwise the packet goes to
 * the tcpip thread's mailbox, as lwIP's tcpip_input does, in order.
 */
static int lp_packet_in(const void *pkt, size_t len, unsigned flags)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		lp_drops()->rx_no_memory++;   /* lwIP's heap is full */
		return 0;
	}
	pbuf_take(p, pkt, (u16_t)len);
	if (!lp_rx_queued && lp_core_free()) {
		int saved_errno = errno;   /* the idle thread's: lwIP may write it */
		LOCK_TCPIP_CORE();
		lp_check_sums_above_ip(&lp_netif, !(flags & RT_PKT_CSUM_OK));
		ip_input(p, &lp_netif);    /* takes the pbuf */
		lp_check_sums_above_ip(&lp_netif, 1);
		UNLOCK_TCPIP_CORE();
		errno = saved_errno;
		rt_io_changed();           /* socket readiness may have changed: wake pollers */
		return 0;
	}
	if (tcpip_inpkt(p, &lp_netif, flags & RT_PKT_CSUM_OK ? lp_input_queued_vouched : lp_input_queued) !=
	    ERR_OK) {
		/* tcpip mailbox full: drop this packet and let lwIP catch up first. */
		pbuf_free(p);
		lp_drops()->rx_backlog_full++;
		return -1;
	}
	lp_rx_queued++;
	return 0;
}

static void lp_tcpip_ready(void *arg)
{
	const struct cap_control *ctl = lp_control();
	ip4_addr_t ip, mask, gw;
	ip.addr = ctl->ip;
	mask.addr = ctl->netmask;
	gw.addr = ctl->gateway;
	if (netif_add(&lp_netif, &ip, &mask, &gw, NULL, lp_netif_init, tcpip_input)) {
		netif_set_default(&lp_netif);
		netif_set_link_up(&lp_netif);
		netif_set_up(&lp_netif);
		*(int *)arg = 0;
	} else {
		*(int *)arg = -ENODEV;
	}
}

struct lp_init_wait {
	int result;
	sys_sem_t done;
};

static void lp_tcpip_done(void *arg)
{
	struct lp_init_wait *w = arg;
	lp_tcpip_ready(&w->result);
	sys_sem_signal(&w->done);
}

int lp_init(void)
{
	struct lp_init_wait w = { .result = -EIO };
	lp_limit_init();   /* before any packet: the TCP capacity the door enforces */
	if (sys_sem_new(&w.done, 0) != ERR_OK)
		return -ENOMEM;
	tcpip_init(lp_tcpip_done, &w);
	sys_arch_sem_wait(&w.done, 0);
	sys_sem_free(&w.done);
	if (w.result == 0)
		rt_channel_set_sink(lp_packet_in);
	return w.result;
}
