/* netif.c: the capsule's IP-level network interface over the packet channel (fd 3), and lp_init. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"

#include "capsule-abi/cap_abi.h"
#include "runtime/rt_host.h"
#include "runtime/rt_sched.h"
#include "lwip-port/lp_sock.h"

/* More pieces than this in one pbuf chain are flattened into lp_tx_flat first. */
#define LP_TX_MAX_IOV 32
/* Records drained per idle wake-up: the rest wait until the tcpip thread caught up. */
#define LP_RX_BATCH 256

static struct netif lp_netif;
/* Only used under the tcpip core lock (all output runs under it). */
static unsigned char lp_tx_flat[CAP_MTU_MAX];
/* Where records go when lwIP's heap is full: they must still be consumed. */
static unsigned char lp_rx_discard[CAP_CHAN_MAX];
static unsigned long lp_rx_dropped, lp_tx_dropped;
static void (*lp_control_handler)(int type, unsigned seq, const void *payload, size_t len);

void lp_set_channel_control(void (*handler)(int type, unsigned seq, const void *payload, size_t len))
{
	lp_control_handler = handler;
}

static const struct cap_control *lp_control(void)
{
	return (const struct cap_control *)CAP_CONTROL_ADDR;
}

/* One IPv4 packet out: one CAP_MSG_PACKET record, gathered straight from the pbuf chain. */
static err_t lp_netif_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)netif;
	(void)next_hop;   /* a point-to-point link: the host routes */
	struct cap_chan_hdr hdr = { .type = CAP_MSG_PACKET, .flags = 0, .seq = 0 };
	struct rt_iovec iov[1 + LP_TX_MAX_IOV];
	int n = 0;
	iov[n++] = (struct rt_iovec){ &hdr, sizeof(hdr) };
	if (pbuf_clen(p) <= LP_TX_MAX_IOV) {
		for (struct pbuf *q = p; q; q = q->next)
			if (q->len)
				iov[n++] = (struct rt_iovec){ q->payload, q->len };
	} else {
		u16_t len = pbuf_copy_partial(p, lp_tx_flat, sizeof(lp_tx_flat), 0);
		iov[n++] = (struct rt_iovec){ lp_tx_flat, len };
	}
	long r = rt_host_channel_send(iov, n);
	if (r < 0) {
		/* A lossy link, not an error for lwIP: TCP retransmits, UDP may drop. */
		if (lp_tx_dropped++ == 0)
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

/* Called from the scheduler's idle wait: reads what is there and returns, never blocks. */
void lp_channel_drain(void)
{
	for (int i = 0; i < LP_RX_BATCH; i++) {
		struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)0xffff, PBUF_RAM);
		void *buf = p ? p->payload : lp_rx_discard;
		size_t cap = p ? 0xffff : sizeof(lp_rx_discard);
		long n = rt_host_read(CAP_FD_CHANNEL, buf, cap);
		if (n < 0 || !p || n < (long)sizeof(struct cap_chan_hdr)) {
			if (p)
				pbuf_free(p);
			if (n == -EAGAIN || n == -EINTR || n == 0)
				return;
			if (n < 0) {
				if (lp_rx_dropped++ == 0)
					fprintf(stderr, "capsule: lwip-port: packet channel read failed (errno %ld)\n", -n);
				return;
			}
			lp_rx_dropped++;
			continue;
		}
		struct cap_chan_hdr hdr;
		memcpy(&hdr, p->payload, sizeof(hdr));
		if (hdr.type != CAP_MSG_PACKET) {
			void (*handler)(int, unsigned, const void *, size_t) = lp_control_handler;
			if (handler)
				handler(hdr.type, hdr.seq, (const char *)p->payload + sizeof(hdr),
				        (size_t)n - sizeof(hdr));
			pbuf_free(p);
			if (handler)
				return;   /* a control message (freeze...) acts before any later packet */
			continue;
		}
		if (n == (long)sizeof(hdr)) {
			pbuf_free(p);
			continue;
		}
		/* Shrink in place: the heap takes the unused tail back. */
		pbuf_realloc(p, (u16_t)n);
		pbuf_remove_header(p, sizeof(hdr));
		if (lp_netif.input(p, &lp_netif) != ERR_OK) {
			/* tcpip mailbox full: drop this packet and let lwIP catch up first. */
			pbuf_free(p);
			lp_rx_dropped++;
			return;
		}
	}
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
	if (sys_sem_new(&w.done, 0) != ERR_OK)
		return -ENOMEM;
	tcpip_init(lp_tcpip_done, &w);
	sys_arch_sem_wait(&w.done, 0);
	sys_sem_free(&w.done);
	if (w.result == 0)
		rt_set_channel_input(lp_channel_drain);
	return w.result;
}
