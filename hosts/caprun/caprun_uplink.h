/* caprun_uplink.h: caprun's side of the caphostd uplink (caprun_uplink.c; the records in hosts/formats/uplink.h). */
#ifndef HOST_CAPRUN_UPLINK_H
#define HOST_CAPRUN_UPLINK_H

#include "hosts/caprun/channel.h"
#include "hosts/formats/uplink.h"

/* Connect to RUN_DIR/caphostd.sock; a non-blocking fd, or -1 if no caphostd answers there. */
int caprun_uplink_connect(void);
/*
 * ATTACH name with body a (hosts/formats/uplink.h: ip, flags, epoch, source, state)
 * and wait up to timeout_ms (< 0: for as long as the uplink stays open) for
 * the answer.  0 with *ip_out and *epoch set; CAPRUN_UPLINK_REFUSED with err
 * = caphostd's ERROR text (a verdict); CAPRUN_UPLINK_NO_VERDICT with err = why
 * the exchange failed (closed, timeout: ask again).
 */
#define CAPRUN_UPLINK_REFUSED    (-1)
#define CAPRUN_UPLINK_NO_VERDICT (-2)
int caprun_uplink_attach(int fd, const char *name, const struct uplink_attach *a, int timeout_ms,
                       uint32_t *ip_out, uint32_t *epoch, char *err, size_t errlen);
/* The uplink closed (caphostd died): connect to a caphostd again, REATTACH (r->name, ip, epoch,
 * frozen) and set r->tun_fd.  0; CAPRUN_UPLINK_NO_VERDICT (none there yet: try later);
 * CAPRUN_UPLINK_REFUSED with err (this copy is stale: stop it). */
int caprun_uplink_reattach(struct host_relay *r, char *err, size_t errlen);
/* Send one record, waiting a little (2 s at most) for room: the uplink is non-blocking.  0 or -1.
 * (No caphostd at the moment, fd -1: -1.) */
int caprun_uplink_send_record(int fd, const uint8_t *rec, size_t n);
/* The capsule froze: send FROZEN with the TCP sockets of its freeze report (read from memfd). */
void caprun_uplink_frozen(struct host_relay *r);
/* Send THAWED, or DETACH with reason (UPLINK_DETACH_*); best effort. */
void caprun_uplink_thawed(struct host_relay *r);
void caprun_uplink_detach(int fd, uint32_t reason);
/*
 * The next queued uplink record, without waiting, taken only if it is a PACKET: its IPv4
 * packet's length, *pkt pointing into buf (UPLINK_MAX bytes).  0 when nothing is queued
 * or the next record is anything else (a migration's messages stay for who waits on them).
 */
size_t caprun_uplink_take_packet(int fd, uint8_t *buf, const uint8_t **pkt);

/* Test fault "source-hostd-killed-after-precopy": kill the caphostd at the other end of the
 * uplink fd (SO_PEERCRED) and wait (5 s at most) until it is gone, so the moment is exact. */
void caprun_uplink_kill_peer(int fd);

#endif
