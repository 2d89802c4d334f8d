/* capctl_svg.h: one migration's result as capctl parsed it, and its timeline drawn as an SVG file (capctl migrate --svg). */
#ifndef HOST_CAPCTL_SVG_H
#define HOST_CAPCTL_SVG_H

#include <stddef.h>

/* The phases of caprun's final "ok" line, in its order (hosts/formats/ctlproto.h). */
#define CAPCTL_MIG_PHASES 6

/* Connections one answer lists (caphostd's HOSTD_GAP_ROWS). */
#define CAPCTL_MIG_CONNS 128

/* One TCP connection of the capsule: its longest silence, as the host that passes the
 * capsule's packets on to that peer measured it (caphostd's `gaps`, capctl_gaps.c). */
struct mig_conn {
	unsigned host;            /* the host that measured it */
	char peer[16];            /* the peer's address, dotted */
	unsigned peer_port, capsule_port;
	long start_ms;            /* the silence began this long after that host got SYNC */
	long gap_ms;
	int resumed;              /* 0: nothing from the capsule since it ran again (the silence so far) */
	int from_sync;            /* it began before the SYNC: gap_ms is a lower bound */
};

struct mig_gaps {
	int measured;             /* 0: not asked, or caphostd did not answer (why says so) */
	char why[160];
	unsigned asked, answered; /* hosts asked (this one included) and how many answered */
	unsigned n, more;         /* connections listed; nonzero more: some were left out */
	long waited_ms;           /* capctl asked until every silence had ended, or gave up */
	struct mig_conn conn[CAPCTL_MIG_CONNS];
};

/* caprun's "ok TARGET EPOCH SYNC ... SOURCE" line, parsed; times in ms. */
struct mig_result {
	unsigned target, epoch;
	long ms[CAPCTL_MIG_PHASES], downtime, total;
	unsigned long long bytes;
	unsigned asked, acked, from;
	unsigned rounds;              /* pre-copy rounds (0: none, all memory moved frozen) */
	long precopy_ms;
	unsigned long long precopy_bytes;
	long dirwait_ms;              /* waited, the capsule running, for a directory that could
	                               * not commit (0: it could at once) */
	unsigned processes;           /* the capsule's processes (1: one) */
	unsigned long long procs_bytes;   /* the others' table and memory, moved frozen (in bytes) */
	struct mig_gaps gaps;         /* asked of the hosts after the move (capctl_gaps.c) */
};

/*
 * Ask this host's caphostd (`gaps IP EPOCH` on caphostd.ctl) what every host
 * measured for the TCP connections of capsule ip during its migration that
 * started at epoch: again every 100 ms while a connection is still silent or
 * the list still grows, for up to wait_ms.  Fills g (g->measured 0 and
 * g->why on failure).
 */
void capctl_gaps_fetch(const char *ip, unsigned epoch, long wait_ms, struct mig_gaps *g);

/*
 * Before migrating: path names a file we can create (its directory is
 * writable; it is no directory, FIFO or device).  0, or -1 with errno and
 * a line naming --svg in err.
 */
int capctl_svg_check(const char *path, char *err, size_t errlen);

/*
 * Draw the migration of capsule name as an SVG timeline into path: the
 * phases on each host to scale, the messages between the hosts at the
 * phase boundaries where they happen, the downtime, and one bar per TCP
 * connection: its longest silence as the hosts measured it (r->gaps).  Written to a temp file
 * beside path, fsync'd, renamed into place.  0, or -1 with errno and a
 * line in err.
 */
int capctl_svg_write(const char *path, const char *name, const struct mig_result *r, char *err,
                     size_t errlen);

#endif
