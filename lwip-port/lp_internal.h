/* lp_internal.h: declarations shared by lwip-port's own files. */
#ifndef LP_INTERNAL_H
#define LP_INTERNAL_H

unsigned int lp_random32(void);
/* The tcpip thread has queued work (loopback packets, callbacks) it has not run yet. */
int lp_tcpip_busy(void);
/* Nobody holds the tcpip core lock: it can be taken now without waiting. */
int lp_core_free(void);
/* lp_limit.c: read the capsule's TCP capacity (its --max-fds) once, at start. */
void lp_limit_init(void);
/* sys_arch.c: messages waiting in a mailbox, or -1 when there is none. */
struct lp_mbox;
int lp_mbox_count(struct lp_mbox **mbox);
/* netif.c: the capsule's own network drop counters, in its control page (cap_abi.h). */
struct cap_net_drops *lp_drops(void);
/* txbatch.c: a TCP packet built without its checksum, to the TUN with offloads (0, or -1: not
 * taken); and the segments waiting there, out now (UNLOCK_TCPIP_CORE, lwipopts.h). */
struct pbuf;
int lp_tx_tcp(struct pbuf *p);
void lp_tx_flush(void);
/* sys_arch.c: the caller is lwIP's tcpip thread doing its own work (not a packet drained on its
 * behalf while it waits). */
int lp_tcpip_thread_working(void);
/* lp_wake.c: one of lwIP's timers was armed (sys_timeout) by this thread, under the core lock. */
void lp_timer_armed(void);
/* lp_handshake.c: a packet going out; a SYN or SYN-ACK starts the handshake tick if it is not running. */
void lp_handshake_watch(const struct pbuf *p);

#endif
