/* lp_report.c: read lwIP's sockets and TCP control blocks for the freeze report; wake TCP after a resume. */
#include <string.h>

#include "lwip/opt.h"
#include "lwip/api.h"
#include "lwip/netbuf.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "lwip/tcpip.h"
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

/* Runs in the tcpip thread, which holds the core lock while it runs callbacks. */
static void lp_kick_tcp(void *arg)
{
	(void)arg;
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (pcb->state < SYN_RCVD || pcb->state == TIME_WAIT)
			continue;
		/*
		 * Data may have been lost while frozen: resend it now rather than
		 * after an RTO.  prepare + output, not tcp_rexmit_rto: a pause is not
		 * congestion, so the retransmission count stays as it was.
		 */
		if (pcb->unacked && tcp_rexmit_rto_prepare(pcb) == ERR_OK) {
			tcp_output(pcb);
			continue;
		}
		/* Nothing in flight: an ACK tells the peer our window, and that we are alive. */
		tcp_ack_now(pcb);
		tcp_output(pcb);
	}
}

void lp_after_resume(void)
{
	/*
	 * We are inside the scheduler's idle wait, which must not block, so
	 * the work is posted to the tcpip thread rather than done under
	 * LOCK_TCPIP_CORE here.  If the mailbox is full, lwIP's own timers
	 * retransmit soon enough.
	 */
	tcpip_try_callback(lp_kick_tcp, NULL);
}
