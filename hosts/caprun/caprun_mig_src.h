/* caprun_mig_src.h: one live migration's source side, shared by caprun_mig.c (the transaction) and caprun_precopy.c (the rounds before the freeze). */
#ifndef HOST_CAPRUN_MIG_SRC_H
#define HOST_CAPRUN_MIG_SRC_H

#include "hosts/caprun/caprun_mig.h"
#include "hosts/caprun/migfsm.h"
#include "hosts/caprun/precopy.h"
#include "hosts/caprun/procs_mig.h"
#include "hosts/formats/migctl.h"
#include "hosts/formats/migstream.h"
#include "hosts/formats/uplink.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define PREPARE_TIMEOUT_MS  20000   /* caphostd: a host lookup (directory retries) + 300 ms of SYNC */
#define CONNECT_TIMEOUT_MS  5000
#define SEND_TIMEOUT_S      30      /* a stalled target: the stream breaks, the capsule thaws */
#define CONFIRM_TIMEOUT_MS  30000   /* restore of a large capsule on a busy host */
#define DIR_TIMEOUT_MS      20000   /* one MIG_DIR answer (the directory client retries inside) */
#define DIR_RETRY_MS        200
#define STARTED_TIMEOUT_MS  10000   /* COMMIT sent, no STARTED: fence (a pull that won still wins) */
#define RUNNING_POLL_MS     200     /* the pull won: ask the directory this often until it runs */
#define STALL_FAULT_MS      10000
#define REATTACH_WAIT_MS    5000    /* not frozen yet: how long to wait for a caphostd to be back */
#define CATCHUP_WAIT_MS     2000    /* after the last round: at most this for its ROUND_DONE */
#define REFUSE_LOOK_MS      200     /* the stream broke: how long to look for the target's REFUSE */
#define PRECOPY_IDLE_MS     25000   /* waiting with the pre-copy stream open: the target gives up
                                     * after CAPRUN_MIGIN_RECV_TIMEOUT_S without a record */

struct mig_src {
	struct host_relay *r;
	uint32_t target;
	const char *fault;
	const struct caprun_mig_opts *opts;
	int progress_fd;
	struct mig_fsm fsm;
	uint64_t id;
	struct uplink_mig_ready ready;
	struct mig_ctl to_target, from_target;
	int ctl_ready;            /* to_target/from_target set up (migsrc_ctl_init) */
	uint32_t rounds_acked;    /* the target's ROUND_DONE records read */
	int64_t pc_catchup_ms;    /* from the last round sent to its ROUND_DONE (or the bound) */
	int sock;                 /* the migration's TCP connection, -1 before/after */
	int frozen;               /* the capsule is frozen by us */
	int end_written;
	int said_end;             /* MIG_END went to caphostd */
	int prepare_sent;         /* MIG_PREPARE (not LOCATE) went to caphostd: peers may be held */
	/* pre-copy (precopy.h): the stream is opened and its head and rounds sent while it runs */
	int pc_on;                /* rounds went out: the final part sends only what changed */
	struct precopy pc;
	struct mig_tx tx;
	uint32_t pc_epoch;        /* the epoch LOCATE named: the real PREPARE must say the same */
	int64_t t_pc0, t_pc_end;
	char pc_note[320];        /* why pre-copy was off, or how it stopped */
	struct procs_precopy kids;    /* the other processes' pre-copy (procs_mig.h) */
	struct procs_mig_out po;      /* frozen: their table and pages (po.src.fd -1: one process) */
	uint32_t new_epoch;
	uint32_t frozen_drops;    /* packets caphostd sent while the capsule was frozen, after its held ones */
	long pull_ms;             /* the target's pull, as its STARTED says (-1: not known) */
	uint64_t bytes;
	int64_t dirwait_ms;       /* how long it waited for a directory that could not commit */
	int64_t t0, t_sync0, t_sync, t_frozen, t_sent, t_confirm, t_dir0, t_dir, t_started, t_end;
	const char *phase;        /* what failed, for the error line */
	char why[300];
	uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));
};

/* ---- caprun_mig.c ---- */

/* A "progress ..." line to the capctl client, best effort. */
void migsrc_progress(struct mig_src *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first reason a phase failed, for the error line (later ones are ignored). */
void migsrc_fail(struct mig_src *m, const char *phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sending to the target failed (rc, errno): the reason, read from the target's REFUSE if it
 * sent one before closing, for the error line (migsrc_fail). */
void migsrc_send_failed(struct mig_src *m, const char *phase, int rc);
/* One fixed-size record to caphostd (waiting for a restarted one if needed): 0, or -1 (with
 * EPIPE when caphostd went away: the uplink is closed then, the next call attaches again). */
int migsrc_send_uplink(struct mig_src *m, int type, const void *body, size_t blen);
/* Relay what poll found readable (p[0] uplink, p[1] channel): 1 with *out when a record of
 * type want (or ERROR) came, 0 when all was relayed, -1 with EPIPE when caphostd went away. */
int migsrc_relay_ready(struct mig_src *m, const struct pollfd p[2], int want, struct uplink_msg *out);
/* Wait up to timeout_ms for caphostd's answer of type want while relaying: 0 with *out, or -1. */
int migsrc_pump(struct mig_src *m, int want, int timeout_ms, struct uplink_msg *out);
/* The migration's TCP connection to the target (m->ready says where): the socket, or -1. */
int migsrc_connect_target(struct mig_src *m);
/* MIG_END to caphostd, once, just before the stream's END goes out. */
void migsrc_say_end(struct mig_src *m);

/* ---- caprun_precopy.c ---- */

/*
 * Before any peer is asked: LOCATE, the stream's head, rounds of pages
 * while the capsule runs.  0 to go on to the real MIG_PREPARE (pre-copy
 * done, or off: m->pc_note says why), or a failure event.
 */
int migsrc_precopy(struct mig_src *m);
/* The control records' two directions, once (the target's ROUND_DONE come during pre-copy). */
void migsrc_ctl_init(struct mig_src *m);
/* Frozen, after pre-copy and precopy_final_look: the final part of the stream, only what
 * changed.  MIG_OK or an error. */
int migsrc_send_final(struct mig_src *m, const struct cap_snap_header *h,
                      const struct cap_snap_extent *ext);

#endif
