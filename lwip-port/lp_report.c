/* lp_report.c: read lwIP's sockets and TCP control blocks for the freeze report; wake TCP after a resume. */
#include <stdint.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/api.h"
#include "lwip/netbuf.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "lwip/tcpip.h"
#include "lwip/icmp.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/ip4.h"
#include "lwip/priv/sockets_priv.h"
#include "lwip/priv/tcp_priv.h"

#include "capsule-abi/cap_report.h"
#include "runtime/rt_sched.h"
#include "lwip-port/lp_report.h"
#include "lwip-port/lp_sock.h"

/*
 * Where the wait queues sit inside sys_arch.c's private objects.  Only
 * addresses are computed from these views, never dereferenced, so a layout
 * change there makes names vaguer, never a crash.  Must match sys_arch.c
 * (struct lp_sem / lp_mutex / lp_mbox).
 */
struct lp_sem_view   { unsigned count; struct rt_waitq waiters; };
struct lp_mutex_view { int locked; struct rt_waitq waiters; };
struct lp_mbox_view  { unsigned head, count, size; struct rt_waitq not_empty, not_full; void **slots; };

static int waits_in_mbox(const struct rt_waitq *q, sys_mbox_t b)
{
	const struct lp_mbox_view *v = (const struct lp_mbox_view *)(const void *)b;
	return b && (q == &v->not_empty || q == &v->not_full);
}

static int waits_on_sem(const struct rt_waitq *q, sys_sem_t s)
{
	return s && q == &((const struct lp_sem_view *)(const void *)s)->waiters;
}

static int waits_on_mutex(const struct rt_waitq *q, sys_mutex_t m)
{
	return m && q == &((const struct lp_mutex_view *)(const void *)m)->waiters;
}

static const char *op_name(const struct netconn *conn)
{
	switch (conn->state) {
	case NETCONN_CONNECT: return "connect";
	case NETCONN_WRITE:   return "send";
	case NETCONN_CLOSE:   return "close";
	default:              return "lwip op";
	}
}

const char *lp_report_socket_wait(int s, const struct rt_waitq *q)
{
	struct lwip_sock *ls = lwip_socket_dbg_get_socket(s);
	struct netconn *conn = ls ? ls->conn : NULL;
	if (!conn || !q)
		return 0;
	if (waits_in_mbox(q, conn->acceptmbox))
		return "accept";
	if (waits_in_mbox(q, conn->recvmbox))
		return "recv";
	if (waits_on_sem(q, conn->op_completed))
		return op_name(conn);
	return 0;
}

const char *lp_report_wait(const struct rt_waitq *q, const char *why)
{
	if (!q)
		return 0;
	for (int s = 0; s < lp_sock_limit() && s < NUM_SOCKETS; s++) {
		const char *name = lp_report_socket_wait(s, q);
		if (name)
			return name;   /* a socket no descriptor holds (yet) */
	}
	if (waits_on_mutex(q, lock_tcpip_core))
		return "tcpip core lock";
	/* The only lwIP mailbox that belongs to no socket is the tcpip thread's. */
	if (why && !strcmp(why, "lwip mbox"))
		return "tcpip thread";
	return 0;
}

static uint32_t seg_bytes(const struct tcp_seg *seg)
{
	uint32_t n = 0;
	for (; seg; seg = seg->next)
		n += seg->len;
	return n;
}

/* Bytes lwIP holds for the app: queued in the recvmbox plus the socket's partly read buffer. */
static uint32_t unread_bytes(const struct lwip_sock *ls, int tcp)
{
	struct netconn *conn = ls->conn;
	uint32_t n = conn->recv_avail > 0 ? (uint32_t)conn->recv_avail : 0;
	if (tcp && ls->lastdata.pbuf)
		n += ls->lastdata.pbuf->tot_len;
	else if (!tcp && ls->lastdata.netbuf && ls->lastdata.netbuf->p)
		n += ls->lastdata.netbuf->p->tot_len;
	return n;
}

static void report_tcp(const struct lwip_sock *ls, struct cap_report_sock *out)
{
	struct tcp_pcb *pcb = ls->conn->pcb.tcp;
	out->unread = unread_bytes(ls, 1);
	if (!pcb) {
		out->tcp_state = CAP_TCP_CLOSED;   /* connection gone (reset or closed) */
		return;
	}
	out->tcp_state = pcb->state;
	out->local_ip = ip_2_ip4(&pcb->local_ip)->addr;
	out->local_port = pcb->local_port;
	if (pcb->state == LISTEN)
		return;   /* a struct tcp_pcb_listen: only the common fields exist */
	out->remote_ip = ip_2_ip4(&pcb->remote_ip)->addr;
	out->remote_port = pcb->remote_port;
	out->snd_una = pcb->lastack;
	out->snd_nxt = pcb->snd_nxt;
	out->rcv_nxt = pcb->rcv_nxt;
	out->snd_wnd = pcb->snd_wnd;
	out->rcv_wnd = pcb->rcv_ann_wnd;   /* what we last advertised */
	/* A gateway holding this peer must scale the windows it advertises as we did. */
	if (pcb->flags & TF_WND_SCALE) {
		out->snd_scale = pcb->snd_scale;
		out->rcv_scale = pcb->rcv_scale;
	}
	out->mss = pcb->mss;
	out->unsent = seg_bytes(pcb->unsent);
	out->unacked = seg_bytes(pcb->unacked);
}

static void report_udp(const struct lwip_sock *ls, struct cap_report_sock *out)
{
	struct udp_pcb *pcb = ls->conn->pcb.udp;
	out->unread = unread_bytes(ls, 0);
	if (!pcb)
		return;
	out->local_ip = ip_2_ip4(&pcb->local_ip)->addr;
	out->local_port = pcb->local_port;
	out->remote_ip = ip_2_ip4(&pcb->remote_ip)->addr;
	out->remote_port = pcb->remote_port;
}

int lp_report_socket(int s, struct cap_report_sock *out)
{
	memset(out, 0, sizeof *out);
	struct lwip_sock *ls = lwip_socket_dbg_get_socket(s);
	if (!ls || !ls->conn)
		return 0;
	switch (NETCONNTYPE_GROUP(netconn_type(ls->conn))) {
	case NETCONN_TCP:
		report_tcp(ls, out);
		return CAP_RFD_TCP;
	case NETCONN_UDP:
		report_udp(ls, out);
		return CAP_RFD_UDP;
	default:
		return 0;
	}
}

/*
 * "Host unreachable" errors for peers that backed off.  Linux (tcp_v4_err ->
 * tcp_ld_RTO_revert, RFC 6069) undoes one step of its retransmission
 * back-off per such error that quotes the segment at its snd_una, and
 * retransmits at once when the undone timeout has already passed.  A peer
 * that backed off k times needs k of them, and k timeouts of 200 ms and more,
 * doubling, fit in the pause only if 200 ms * (2^k - 1) <= pause: so
 * floor(log2(pause / 200 ms + 1)), one more for two hosts' clocks, at most
 * LP_NUDGE_ICMPS_MAX (back-off 12 = 819 s, about when Linux gives up), all of
 * them if the pause is unknown.  None after a pause shorter than
 * LP_NUDGE_ICMP_AFTER_NS, which no peer's timer (200 ms at least) outlasted:
 * a short keep-running freeze leaves no soft error on every connection.
 */
#define LP_NUDGE_ICMPS_MAX 12
#define LP_NUDGE_ICMP_AFTER_NS (150 * 1000000LL)
#define LP_NUDGE_RTO_MIN_NS (200 * 1000000LL)
/* Duplicate ACKs that make a peer that has not timed out yet fast-retransmit (RFC 5681: three). */
#define LP_NUDGE_DUPACKS 3

/*
 * One ICMP "host unreachable" to the peer, quoting the segment it would be
 * retransmitting: its address and port to ours, sequence number rcv_nxt
 * (what we expect next, which is the peer's snd_una once our ACK is in).
 * lwIP's icmp_dest_unreach builds the reply from the quoted header alone.
 */
static void nudge_icmp(const struct tcp_pcb *pcb)
{
	struct pbuf *q = pbuf_alloc(PBUF_RAW, IP_HLEN + 8, PBUF_RAM);
	if (!q)
		return;   /* out of pbufs: the peer's own timer still fires */
	struct ip_hdr *ip = (struct ip_hdr *)q->payload;
	memset(ip, 0, IP_HLEN + 8);
	IPH_VHL_SET(ip, 4, IP_HLEN / 4);
	IPH_LEN_SET(ip, lwip_htons(IP_HLEN + 20));
	IPH_TTL_SET(ip, 64);
	IPH_PROTO_SET(ip, IP_PROTO_TCP);
	ip4_addr_copy(ip->src, *ip_2_ip4(&pcb->remote_ip));
	ip4_addr_copy(ip->dest, *ip_2_ip4(&pcb->local_ip));
	IPH_CHKSUM_SET(ip, inet_chksum(ip, IP_HLEN));
	u8_t *th = (u8_t *)q->payload + IP_HLEN;   /* source port, dest port, sequence number */
	u16_t sport = lwip_htons(pcb->remote_port), dport = lwip_htons(pcb->local_port);
	u32_t seq = lwip_htonl(pcb->rcv_nxt);
	memcpy(th, &sport, 2);
	memcpy(th + 2, &dport, 2);
	memcpy(th + 4, &seq, 4);
	icmp_dest_unreach(q, ICMP_DUR_HOST);
	pbuf_free(q);
}

/* A connection with a peer to nudge. */
static int nudged(const struct tcp_pcb *pcb)
{
	return pcb->state >= SYN_RCVD && pcb->state != TIME_WAIT;
}

/*
 * One whose peer surely has our SYN: an ICMP error is a hint to a connected
 * peer, but ends a connect still in SYN_SENT (Linux's tcp_v4_err), which is
 * where a peer of a SYN_RCVD connection may be.  That one gets its SYN-ACK
 * again instead (the first pass of lp_kick_tcp).
 */
static int synchronized(const struct tcp_pcb *pcb)
{
	return pcb->state >= ESTABLISHED && pcb->state != TIME_WAIT;
}

/*
 * Runs in the tcpip thread, which holds the core lock while it runs
 * callbacks.  Whatever a peer sent while we were frozen or moving may be
 * lost, and the peer is waiting for its own backed-off retransmission timer
 * (200 ms doubled per attempt): tell every peer to send again now.  arg:
 * the number of ICMP errors per peer.
 */
static void lp_kick_tcp(void *arg)
{
	int icmps = (int)(uintptr_t)arg;
	struct tcp_pcb *pcb;
	/*
	 * Three passes, the essential packets first: a burst over many
	 * connections may overflow the packet channel, and then it is the
	 * extra nudges that are lost, not a connection's retransmission.
	 */
	for (pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (!nudged(pcb))
			continue;
		/*
		 * Data may have been lost while frozen: resend it now rather than
		 * after an RTO.  prepare + output, not tcp_rexmit_rto: a pause is not
		 * congestion, so the retransmission count stays as it was.
		 */
		if (pcb->unacked && tcp_rexmit_rto_prepare(pcb) == ERR_OK)
			tcp_output(pcb);
		/*
		 * An ACK tells the peer our window (a gateway that held it
		 * advertised zero: an open window ends its persist back-off) and
		 * acknowledges what it sent before the pause.
		 */
		tcp_ack_now(pcb);
		tcp_output(pcb);
	}
	/*
	 * Then the same ACK three more times: to a peer whose data we lost and
	 * that has not timed out yet (a pause shorter than its RTO) with two
	 * segments or more in flight, these are duplicate ACKs and it
	 * fast-retransmits.  A peer with nothing in flight ignores them.
	 */
	for (pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		for (int i = 0; nudged(pcb) && i < LP_NUDGE_DUPACKS; i++)
			tcp_send_empty_ack(pcb);
	/*
	 * A peer that has timed out is past fast retransmit (Linux: loss state,
	 * its window one segment, that one in flight, nothing more sent for
	 * duplicate ACKs), so it waits out its doubled timer unless told the
	 * outage is over: RFC 6069's revert, see LP_NUDGE_ICMPS_MAX.  A peer
	 * without data in flight, or not backed off, finds nothing to revert;
	 * Linux keeps the error only to report if the connection times out (or,
	 * with IP_RECVERR set on the socket, reports it once).
	 */
	for (pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		for (int i = 0; synchronized(pcb) && i < icmps; i++)
			nudge_icmp(pcb);
}

/* The ICMP errors each peer gets after paused_ns (< 0: unknown); see LP_NUDGE_ICMPS_MAX. */
static int nudge_icmps(int64_t paused_ns)
{
	if (paused_ns < 0)
		return LP_NUDGE_ICMPS_MAX;
	if (paused_ns < LP_NUDGE_ICMP_AFTER_NS)
		return 0;
	int n = 1;   /* the margin */
	for (int64_t t = paused_ns / LP_NUDGE_RTO_MIN_NS + 1; t >= 2 && n < LP_NUDGE_ICMPS_MAX; t /= 2)
		n++;
	return n;
}

void lp_after_resume(int64_t paused_ns)
{
	/*
	 * We are inside the scheduler's idle wait, which must not block, so
	 * the work is posted to the tcpip thread rather than done under
	 * LOCK_TCPIP_CORE here.  If the mailbox is full, lwIP's own timers
	 * retransmit soon enough.
	 */
	tcpip_try_callback(lp_kick_tcp, (void *)(uintptr_t)nudge_icmps(paused_ns));
}
