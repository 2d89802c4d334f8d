/* ctlserve.h: caprun's side of the control socket (ctlserve.c; protocol in hosts/formats/ctlproto.h). */
#ifndef HOST_CTLSERVE_H
#define HOST_CTLSERVE_H

#include "hosts/caprun/channel.h"

/* Serve one pending connection on the control socket.  1: capsule saved, stop;
 * 2: it moved to another host, stop. */
int ctlserve_accept(struct host_relay *r);
/*
 * While a migration is under way and the capsule still runs here (pre-copy,
 * the directory wait, the peers' SYNC): serve one pending connection, `ps`
 * (state "migrating") and `stats` as usual, anything else refused with one
 * line.  A client gets BUSY_LINE_MS to send its line, so a silent one cannot
 * hold the migration up.
 */
void ctlserve_accept_busy(struct host_relay *r);
/* One reply line (a '\n' is added) to a control client, without blocking. */
void ctlserve_send_line(int fd, const char *s);

#endif
