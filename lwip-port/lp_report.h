/* lp_report.h: lwIP's side of a freeze (socket and wait descriptions) and of a resume. */
#ifndef LP_REPORT_H
#define LP_REPORT_H

#include <stdint.h>

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
 * Running again after a freeze of paused_ns (< 0: unknown): have the tcpip
 * thread (under the core lock) retransmit unacknowledged data, ACK, send
 * three duplicate ACKs and, after a pause of 150 ms or more, ICMP "host
 * unreachable" errors (RFC 6069) on every TCP connection, so peers send
 * again at once instead of after their backed-off retransmission timers.
 * Never blocks.
 */
void lp_after_resume(int64_t paused_ns);

#endif
