/* lp_limit.c: the capsule's TCP capacity (its --max-fds): a connection beyond it is refused at once with RST. */
#include "lwip/opt.h"
#include "lwip/def.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

#include "lwip-port/lp_internal.h"

int rt_fd_capacity(void);   /* runtime/rt_fd.h (whose musl headers lwIP's cannot sit beside) */

static int lp_limit_capacity;

void lp_limit_init(void)
{
	lp_limit_capacity = rt_fd_capacity();
}

/*
 * lwIP's pools come from the arena (lwipopts.h), so it would take
 * connections until memory ran out, and past an accept backlog it drops
 * SYNs silently: the peer retries for tens of seconds.  A capsule instead
 * promises as many TCP connections as descriptors (caprun --max-fds), and
 * answers a new connection beyond that with a RST, as a host with no
 * listener would: the client gets ECONNREFUSED at once.  Connections in
 * TIME_WAIT do not count: lwIP reuses their control blocks.
 */
static int lp_limit_connections(void)
{
	int n = 0;
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		n++;
	return n;
}

static int lp_limit_is_listened(const ip4_addr_t *dst, u16_t port)
{
	for (struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs; l; l = l->next)
		if (l->local_port == port && (ip_addr_isany(&l->local_ip) || ip4_addr_cmp(&l->local_ip, dst)))
			return 1;
	return 0;
}

/* A SYN retransmitted for a connection lwIP already holds is lwIP's to answer. */
static int lp_limit_is_known(const ip4_addr_t *src, const ip4_addr_t *dst, u16_t sport, u16_t dport)
{
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		if (pcb->remote_port == sport && pcb->local_port == dport &&
		    ip4_addr_cmp(&pcb->remote_ip, src) && ip4_addr_cmp(&pcb->local_ip, dst))
			return 1;
	return 0;
}

/* LWIP_HOOK_IP4_INPUT, in the tcpip thread under the core lock: 1 = refused and freed. */
int lp_limit_ip4_input(struct pbuf *p, struct netif *inp)
{
	if (p->len < IP_HLEN)
		return 0;
	const struct ip_hdr *ip = (const struct ip_hdr *)p->payload;
	u16_t hlen = (u16_t)(IPH_HL(ip) * 4);
	if (IPH_V(ip) != 4 || IPH_PROTO(ip) != IP_PROTO_TCP || hlen < IP_HLEN ||
	    p->len < hlen + TCP_HLEN || (lwip_ntohs(IPH_OFFSET(ip)) & (IP_OFFMASK | IP_MF)))
		return 0;
	const struct tcp_hdr *tcp = (const struct tcp_hdr *)((const u8_t *)p->payload + hlen);
	u16_t flags = TCPH_FLAGS(tcp);
	if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
		return 0;
	ip4_addr_t src, dst;
	ip4_addr_copy(src, ip->src);
	ip4_addr_copy(dst, ip->dest);
	u16_t sport = lwip_ntohs(tcp->src), dport = lwip_ntohs(tcp->dest);
	if (!ip4_addr_cmp(&dst, netif_ip4_addr(inp)) && !ip4_addr_isloopback(&dst))
		return 0;
	if (lp_limit_connections() < lp_limit_capacity || !lp_limit_is_listened(&dst, dport) ||
	    lp_limit_is_known(&src, &dst, sport, dport))
		return 0;
	u16_t payload = (u16_t)(lwip_ntohs(IPH_LEN(ip)) - hlen - TCPH_HDRLEN_BYTES(tcp));
	tcp_rst(NULL, 0, lwip_ntohl(tcp->seqno) + 1 + payload, &dst, &src, dport, sport);
	pbuf_free(p);
	return 1;
}
