/* lp_handshake.c: lwIP's TCP handshakes as patient as Linux's: SYN and SYN-ACK resent after 1, 2, 4, 8, 16 s, a half-open connection kept through five SYN-ACKs. */
#include "lwip/opt.h"
#include "lwip/def.h"
#include "lwip/pbuf.h"
#include "lwip/prot/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#include "lwip-port/lp_internal.h"
#include "lwip-port/vnet.h"

/*
 * lwIP 2.1.3 starts a connection's retransmission timeout at 3 s (RFC 1122's
 * value), resends a SYN every 3 s without backing off, and forgets a
 * half-open connection (SYN_RCVD) 20 s after it began whatever it resent:
 * with our 100 ms coarse tick its SYN-ACK goes at 0, 3 and 15 s, no more.
 * When the client's last ACK of the handshake and the ACKs answering those
 * two resent SYN-ACKs are lost, the client believes it is connected, the
 * capsule has forgotten it, and a protocol where the client waits for the
 * server to act first (SSH, SMTP, the tests' relayer) waits for ever.  A
 * lossy test replayed that exactly (docs/NETWORK.md section 9).
 *
 * Linux starts at 1 s (RFC 6298 2.1), doubles every try, resends a SYN six
 * times (tcp_syn_retries: connect fails after 127 s) and a SYN-ACK five
 * times (tcp_synack_retries).  lwIP has these as constants in tcp.c and
 * tcp_priv.h, not options, so while a handshake is in flight a tick sets the
 * fields lwIP reads, and lwIP does the rest:
 *   - a new connection's rto and sv: 1 s.  lwIP recomputes a SYN-ACK's
 *     timeout from sv at each try, doubling: 1, 2, 4, 8, 16 s;
 *   - a SYN's timeout, which lwIP never doubles: 1 s << tries, so SYNs go at
 *     0, 1, 3, 7, 15, 31, 63 s and (TCP_SYNMAXRTX 7, lwipopts.h) connect
 *     gives up at 127 s;
 *   - a half-open connection's activity time, until its fifth SYN-ACK: lwIP
 *     then keeps it 20 s more (51 s in all; Linux 63 s).
 * The tick runs only while some connection is in SYN_SENT or SYN_RCVD: it is
 * started by a SYN going out (lp_handshake_watch, from netif.c) and stops by
 * itself, so an idle capsule still never wakes.  Its state (one flag and
 * lwIP's timeout list) lives in capsule memory: a snapshot keeps it.
 */

#define LP_RTO_FIRST (1000 / TCP_SLOW_INTERVAL)     /* 1 s, in lwIP's coarse ticks */
#define LP_RTO_LWIP (3000 / TCP_SLOW_INTERVAL)      /* what tcp_alloc sets */
#define LP_SYN_DOUBLINGS 6                          /* the longest wait: 64 s */
#define LP_SYNACK_TRIES 5                           /* Linux's tcp_synack_retries */

_Static_assert(TCP_SYNMAXRTX == LP_SYN_DOUBLINGS + 1, "lwipopts.h TCP_SYNMAXRTX: seven SYN retries, "
               "the last one's wait (64 s) being the end of connect");
_Static_assert((LP_RTO_FIRST << LP_SYN_DOUBLINGS) < 0x7FFF, "a SYN's longest timeout fits lwIP's s16_t");

static int lp_handshake_ticking;

static void lp_handshake_tick(void *arg)
{
	int any = 0;
	LWIP_UNUSED_ARG(arg);
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (pcb->state == SYN_SENT) {
			any = 1;
			if (pcb->nrtx == 0)
				pcb->sv = LP_RTO_FIRST;   /* the RTT estimate's start once it is connected */
			pcb->rto = (s16_t)(LP_RTO_FIRST << LWIP_MIN(pcb->nrtx, LP_SYN_DOUBLINGS));
		} else if (pcb->state == SYN_RCVD) {
			any = 1;
			if (pcb->nrtx == 0 && pcb->sv == LP_RTO_LWIP)
				pcb->sv = pcb->rto = LP_RTO_FIRST;
			if (pcb->nrtx < LP_SYNACK_TRIES)
				pcb->tmr = tcp_ticks;   /* lwIP's 20 s count starts after the fifth */
		}
	}
	lp_handshake_ticking = any;
	if (any)
		sys_timeout(TCP_SLOW_INTERVAL, lp_handshake_tick, NULL);
}

void lp_handshake_watch(const struct pbuf *p)
{
	struct lp_seg seg;
	if (lp_handshake_ticking || lp_vnet_parse(p->payload, p->len, p->tot_len, &seg) ||
	    !(seg.flags & TCP_SYN))
		return;
	/* At once: the new connection's first timeout is set before any tick of lwIP's counts it. */
	lp_handshake_ticking = 1;
	sys_timeout(0, lp_handshake_tick, NULL);
	lp_timer_armed();   /* maybe not on the tcpip thread: it must hear of it (lp_wake.c) */
}
