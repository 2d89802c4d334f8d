/* lp_report.h: lwIP's side of a freeze (socket and wait descriptions) and of a resume. */
#ifndef LP_REPORT_H
#define LP_REPORT_H

struct cap_report_sock;
struct rt_waitq;

/*
 * Describe lwIP socket s (TCP state, addresses, sequence numbers, queued
 * bytes).  Returns CAP_RFD_TCP or CAP_RFD_UDP, or 0 if s is no socket.
 * Called at the freeze safe point: reads lwIP state without taking the core
 * lock (nothing else runs; taking it could block inside the scheduler).
 */
int lp_report_socket(int s, struct cap_report_sock *out);

/*
 * A green thread is blocked on q.  If q is one of lwIP socket s's
 * queues, name the wait: "accept", "recv", "send",
 * "connect", "close"; else 0.  A socket file's wait_name (sockfile.c).
 */
const char *lp_report_socket_wait(int s, const struct rt_waitq *q);

/*
 * The same over all of lwIP (why: the rt_wait reason): a socket's wait
 * as above, or "tcpip thread",
 * "tcpip core lock"; 0 if q is not lwIP's.  For waits that no descriptor
 * explains (the runtime asks its descriptors first).
 */
const char *lp_report_wait(const struct rt_waitq *q, const char *why);

/*
 * Just resumed from a snapshot: have the tcpip thread (under the core lock)
 * retransmit unacknowledged data or send an ACK on every TCP connection, so
 * peers notice the capsule is back without waiting for their backed-off
 * retransmission timers.  Never blocks.
 */
void lp_after_resume(void);

#endif
