/* netif.c: the capsule's IP-level network interface over the packet channel (fd 3), and lp_init. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/ip.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_net.h"
#include "runtime/rt_sched.h"
#include "lwip-port/lp_internal.h"
#include "lwip-port/lp_sock.h"

/* More pieces than this in one pbuf chain are flattened into lp_tx_flat first. */
#define LP_TX_MAX_IOV RT_CHANNEL_MAX_IOV

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

/* One IPv4 packet out: one CAP_MSG_PACKET record, gathered straight from the pbuf chain. */
static err_t lp_netif_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)netif;
	(void)next_hop;   /* a point-to-point link: the host routes */
	struct rt_iovec iov[LP_TX_MAX_IOV];
	int n = 0;
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
static int lp_packet_in(const void *pkt, size_t len)
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
		ip_input(p, &lp_netif);    /* takes the pbuf */
		UNLOCK_TCPIP_CORE();
		errno = saved_errno;
		rt_io_changed();           /* socket readiness may have changed: wake pollers */
		return 0;
	}
	if (tcpip_inpkt(p, &lp_netif, lp_input_queued) != ERR_OK) {
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
