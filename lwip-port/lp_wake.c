/* lp_wake.c: the tcpip thread told at once when another thread armed one of lwIP's timers under the core lock. */
#include "lwip/opt.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcpip.h"

#include "lwip-port/lp_internal.h"

/*
 * lwIP runs its timers in the tcpip thread, which sleeps until the earliest
 * one it knew of when it went to sleep (tcpip_timeouts_mbox_fetch).  With
 * core locking, and with packets taken in by whichever thread is idle
 * (netif.c), other threads hold the lock too and arm timers there: TCP's
 * timer when a first connection appears (tcp_timer_needed), a handshake's
 * tick (lp_handshake.c).  Nobody told the sleeper, so those timers waited
 * for its next older deadline: IP reassembly's, up to a second away.  A
 * capsule's first SYN or SYN-ACK was resent 1.9 s after it went, not 1 s,
 * and a delayed ACK could wait as long (measured: test_handshake).
 *
 * So before the lock is let go (UNLOCK_TCPIP_CORE, lwipopts.h), a thread
 * other than the tcpip thread checks whether it armed something the sleeper
 * does not know of, and if so posts it an empty callback: the tcpip thread
 * wakes, runs it, and computes its sleep again.  "Other" includes packets the
 * runtime drains while the tcpip thread itself is the one waiting: they run
 * as that thread (rt_self), but it sleeps on.  The check is two loads; a
 * callback goes at most once until the tcpip thread has run it.
 */

static int lp_tcpip_saw_tcp;   /* TCP had connections when the tcpip thread last let go of the lock */
static int lp_timer_news;      /* a timer was armed since the tcpip thread last let go */
static int lp_kick_pending;    /* an empty callback is on its way */

static void lp_kicked(void *arg)
{
	LWIP_UNUSED_ARG(arg);
	lp_kick_pending = 0;
}

void lp_timer_armed(void)
{
	lp_timer_news = 1;
}

void lp_core_unlocking(void)
{
	int tcp = tcp_active_pcbs != NULL || tcp_tw_pcbs != NULL;
	if (lp_tcpip_thread_working()) {
		/* It is about to sleep (or go on) knowing every timer armed so far. */
		lp_tcpip_saw_tcp = tcp;
		lp_timer_news = 0;
		return;
	}
	if (tcp && !lp_tcpip_saw_tcp) {
		lp_tcpip_saw_tcp = 1;      /* TCP's timer was started here */
		lp_timer_news = 1;
	}
	if (!lp_timer_news || lp_kick_pending)
		return;
	if (tcpip_try_callback(lp_kicked, NULL) == ERR_OK) {
		lp_kick_pending = 1;
		lp_timer_news = 0;
	}
}
