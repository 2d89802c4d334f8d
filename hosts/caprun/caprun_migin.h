/* migin.h: caprun's target side of a live migration (`caprun --incoming`, caprun_migin.c). */
#ifndef CAPRUN_MIGIN_H
#define CAPRUN_MIGIN_H

#include "hosts/formats/migctl.h"
#include "hosts/caprun/migfsm.h"
#include "hosts/formats/migstream.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Tests set this in a host's environment to make one step fail (docs/MIGRATION.md section 8). */
#define HOST_MIG_FAULT_ENV        "CAPSULE_MIG_FAULT"
#define HOST_MIG_HOLD_ENV         "CAPSULE_MIG_HOLD"   /* target-hold-pull's file */
#define CAPRUN_MIGIN_RECV_TIMEOUT_S 30     /* a source that stalls mid-stream: discard */
#define CAPRUN_MIGIN_RETRY_MS       200    /* no caphostd: look for one this often */

struct caprun_migin {
	int sock;                       /* the migration's TCP connection (fd 0 as started) */
	uint32_t host_id;               /* ours: the stream head must name it */
	uint8_t data_key[MIG_KEY_LEN];  /* the cluster's data key (wiped once the stream key is derived) */
	const char *fault;              /* $CAPSULE_MIG_FAULT */
	int memfd;                      /* the capsule's memory as it arrives */
	struct mig_procs_dst procs;     /* its other processes: their table and memfds as they arrive */
	struct mig_rx rx;               /* after receive: head info, name, snapshot header */
	struct mig_ctl to_source, from_source;
	int ctl_ready;                  /* to_source/from_source set up (at the first ROUND_DONE) */
	uint32_t rounds_acked;          /* ROUND_DONE records sent */
	int uplink_fd;                  /* to this host's caphostd (-1: none now) */
	int registered;                 /* ATTACH INCOMING answered on uplink_fd */
	long pull_ms;                   /* how long the pull took (for the source's timeline) */
	int aborted;                    /* the source said ABORT while we waited */
	/* Pre-copy: called once with the PRECOPY's identity, while the capsule still runs on
	 * the source (the caller checks its image then); the PREAMBLE must repeat it. */
	void (*on_who)(void *ctx, const struct cap_snap_header *who);
	void *who_ctx;
	int who_seen;
};

/* Receive the whole stream into a new memfd (m->memfd).  0, or -1 with err (discard, exit). */
int caprun_migin_receive(struct caprun_migin *m, char *err, size_t errlen);
/* CONFIRM (restored, not running).  0; -1 if it could not be said (the source may be gone:
 * pull); 1 if this host refused after all (test fault target-refuse: discard). */
int caprun_migin_confirm(struct caprun_migin *m);
/* REFUSE with a reason; the caller discards. */
void caprun_migin_refuse(struct caprun_migin *m, const char *why);
/*
 * Before CONFIRM: tell this host's caphostd (ATTACH INCOMING, name, ip, the
 * head's epoch and source), waiting at most timeout_ms for its answer.  0
 * (at once if an earlier call was answered and that caphostd still holds the
 * uplink); CAPRUN_UPLINK_REFUSED with err (caphostd will not take it:
 * refuse); CAPRUN_UPLINK_NO_VERDICT (no caphostd now: go on, the pull waits
 * for one).
 */
int caprun_migin_register(struct caprun_migin *m, const char *name, uint32_t ip, uint32_t mtu,
                          int timeout_ms, char *err, size_t errlen);
/*
 * The pull: ATTACH MIGRATED at the head's epoch, through caphostd, as long
 * as it takes (a caphostd that dies or is not there yet is waited for, the
 * copy held; an ABORT from the source meanwhile ends it).  0 with *epoch
 * and m->uplink_fd (attached), or -1 with err (a verdict: discard).
 */
int caprun_migin_pull(struct caprun_migin *m, const char *name, uint32_t ip, uint32_t mtu,
                      uint32_t *epoch, char *err, size_t errlen);
/* Just before the capsule runs: tell caphostd (from now on a dead caprun is a dead capsule,
 * not one to hand back).  0; 1 under the test fault target-exit-after-pull (then exit). */
int caprun_migin_starting(struct caprun_migin *m, int uplink_fd);
/* The capsule runs here at epoch: tell the source (STARTED, how the pull went), close the
 * connection.  The receive buffers stay for caprun_migin_close: freeing them took the CPU
 * the capsule's first packets need (caprun runs it as the relay loop's later work). */
void caprun_migin_started(struct caprun_migin *m, uint32_t epoch);
void caprun_migin_close(struct caprun_migin *m);
/* The same, as the relay loop's later work (struct host_relay's later). */
void caprun_migin_close_later(void *m);
/*
 * The loader started before the decision (CAP_HOST_START_STOPPED): hold_start sets
 * (on 1) or clears the flag in the memfd's control page before the spawn; hold_end,
 * once the pull won, waits until the loader stopped itself, clears the flag and
 * continues it (memfd -1: only waits and continues, the first stop of a loader
 * exec'd with CAP_LOADER_HELD_ARG).  0, or -1 (the loader died: *child reaped).
 */
int caprun_migin_hold_start(int memfd, int on);
int caprun_migin_hold_end(pid_t *child, int memfd);
/* The other processes' table and memfds left (taken ones are -1), once they are restored. */
void caprun_migin_drop_procs(struct caprun_migin *m);
/* Close only the migration's connection (the source went away or ABORTed). */
void caprun_migin_close_stream(struct caprun_migin *m);

#endif
