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

#endif
