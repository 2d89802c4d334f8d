/* migfsm.h: the transactional state machine of one live migration, source and target side (pure, no I/O). */
#ifndef HOST_MIGFSM_H
#define HOST_MIGFSM_H

/*
 * THE RULE.  The capsule runs in exactly one place.  The one decision that
 * makes it move is a compare-and-swap in the directory at the capsule's
 * epoch e: either the TARGET's pull wins (MOVE ip -> target, expected epoch
 * e, sent by the target's caphostd after CONFIRM: caprun takes the
 * CONFIRMED timeout edge below at once, not waiting for COMMIT) or the
 * SOURCE's FENCE does (the source re-claims it at e+1).  Both ask at the
 * same epoch, so exactly one answer exists, and everyone who asks learns it
 * (a losing request gets STALE_EPOCH; a LOOKUP names the winner).
 * Messages between the two hosts (CONFIRM, REFUSE, COMMIT, ABORT, STARTED)
 * only speed things up; losing any of them is safe.
 *
 * The source keeps its frozen copy until the capsule verifiably runs on
 * the target: STARTED arrives, or the directory says so (the target's
 * caphostd reports it running, after which a dead target means the
 * capsule is gone and the directory says so too).  Until then a target
 * caprun that dies after its pull won is undone by its caphostd: it moves
 * the entry back to the source (a push by the holder), and the source,
 * finding itself named again, thaws.  So one killed process never loses
 * a capsule another process still holds.
 *
 * Shortcut: before the source has written the END record, the target cannot
 * have a complete stream, so it can never confirm or pull; the source then
 * cuts the stream (so END never follows) and thaws without the directory.
 * After END was written the source may only thaw after the directory named
 * it (its FENCE won, or the entry came back to it).
 *
 * Decision table (state + event -> next state [actions]).  A pair not listed
 * changes nothing and asks for nothing (late or repeated messages).
 *
 * SOURCE
 *   IDLE          start             -> SYNCING       [sync_peers]
 *   SYNCING       peer_synced       -> FREEZING      [freeze]
 *   SYNCING       refused|dead|broken|timeout
 *                                   -> ABORTED       [close_stream, release_peers, send_abort]
 *   FREEZING      frozen            -> TRANSFERRING  [send_stream]
 *   FREEZING      refused|dead|broken|timeout
 *                                   -> ABORTED       [close_stream, thaw_source, release_peers, send_abort]
 *   TRANSFERRING  transfer_done     -> AWAIT_CONFIRM (END written)
 *   TRANSFERRING  refused|dead|broken|timeout
 *                                   -> ABORTED       [close_stream, thaw_source, release_peers, send_abort]
 *                 (close_stream BEFORE the thaw: a stream cut before END can
 *                 never complete, so the target can never confirm or pull)
 *   AWAIT_CONFIRM confirm_received  -> HANDING_OVER  [send_commit]
 *   AWAIT_CONFIRM target_refused    -> ABORTED       [thaw_source, release_peers]
 *   AWAIT_CONFIRM dead|broken|timeout -> FENCING     [directory_fence]
 *   HANDING_OVER  target_started    -> COMMITTED     [kill_source, flush_peers]
 *   HANDING_OVER  refused|dead|broken|timeout
 *                                   -> FENCING       [directory_fence]
 *   FENCING       directory_kept    -> ABORTED       [thaw_source, release_peers, send_abort]
 *   FENCING       directory_moved   -> AWAIT_RUNNING [directory_lookup]  (the pull won: wait for the start)
 *   FENCING       directory_running|target_started
 *                                   -> COMMITTED     [kill_source, flush_peers]
 *   FENCING       directory_gone    -> LOST          [kill_source]  (it ran on the target and died there)
 *   FENCING       timeout           -> FENCING       [directory_fence]   (retry)
 *   AWAIT_RUNNING directory_running|target_started
 *                                   -> COMMITTED     [kill_source, flush_peers]
 *   AWAIT_RUNNING directory_kept    -> ABORTED       [thaw_source, release_peers, send_abort]
 *                 (the target died before starting; its caphostd gave it back)
 *   AWAIT_RUNNING directory_gone    -> LOST          [kill_source]
 *   AWAIT_RUNNING timeout           -> AWAIT_RUNNING [directory_lookup]  (not yet: ask again later)
 *   COMMITTED, ABORTED, LOST: final.
 *
 * TARGET
 *   RECEIVING     transfer_done     -> RESTORING     [restore]   (END + TAG_FINAL verified)
 *   RECEIVING     restore_failed    -> DISCARDED     [discard_target, send_refuse] (cannot take it)
 *   RECEIVING     broken|source_dead|timeout|abort_received
 *                                   -> DISCARDED     [discard_target]
 *   RESTORING     restore_ok        -> CONFIRMED     [send_confirm]  (restored, not running)
 *   RESTORING     restore_failed    -> DISCARDED     [discard_target, send_refuse]
 *   RESTORING     abort_received    -> DISCARDED     [discard_target]
 *   CONFIRMED     commit_received|timeout|broken|source_dead
 *                                   -> PULLING       [directory_move]   (the pull: the commit point;
 *                                      caprun's timeout here is zero: COMMIT only confirms)
 *   CONFIRMED     abort_received|directory_kept|directory_gone
 *                                   -> DISCARDED     [discard_target]
 *   PULLING       directory_moved   -> RUNNING       [start_target, flush_peers, send_started]
 *   PULLING       directory_kept|directory_gone|abort_received
 *                                   -> DISCARDED     [discard_target]
 *   PULLING       timeout           -> PULLING       [directory_move]   (retry: silence is no answer)
 *   RUNNING, DISCARDED: final.
 *
 * Why each safety-relevant line holds:
 *  - the target starts only on directory_moved in PULLING: its own MOVE at
 *    e won (or a LOOKUP after a lost answer names it);
 *  - after END the source thaws only on directory_kept (its FENCE at e won,
 *    or the entry came back to it, which only happens to a target that
 *    never started) or an explicit refusal (a refusing target has
 *    discarded and never pulls);
 *  - the source drops its copy only once the target runs (STARTED, or the
 *    directory says running) or the entry is gone (the target ran and died);
 *  - abort_received is sent only by an ABORTED source, i.e. one that won
 *    the FENCE, got the entry back or never wrote END, so the target may
 *    discard on it.
 * tests/unit/test_host_migfsm.c checks every reachable combination of both
 * machines, their daemons, the directory and lost/late messages against
 * these claims.
 */

enum mig_role { MIG_ROLE_SOURCE, MIG_ROLE_TARGET };

enum mig_state {
	/* source */
	MIG_S_IDLE, MIG_S_SYNCING, MIG_S_FREEZING, MIG_S_TRANSFERRING, MIG_S_AWAIT_CONFIRM,
	MIG_S_HANDING_OVER, MIG_S_FENCING, MIG_S_AWAIT_RUNNING, MIG_S_COMMITTED, MIG_S_ABORTED,
	MIG_S_LOST,
	/* target */
	MIG_T_RECEIVING, MIG_T_RESTORING, MIG_T_CONFIRMED, MIG_T_PULLING, MIG_T_RUNNING,
	MIG_T_DISCARDED,
	MIG_STATE_COUNT
};

enum mig_event {
	MIG_EV_START,             /* source: capctl migrate asked for it */
	MIG_EV_PEER_SYNCED,       /* source: every peer host acknowledged SYNC/HOLD */
	MIG_EV_FROZEN,            /* source: caprun reported the capsule frozen */
	MIG_EV_TRANSFER_DONE,     /* source: END written; target: END + TAG_FINAL verified */
	MIG_EV_TRANSFER_BROKEN,   /* the connection broke or the stream failed to verify */
	MIG_EV_TARGET_REFUSED,    /* source: target said REFUSE */
	MIG_EV_TARGET_DEAD,       /* source: target host unreachable */
	MIG_EV_RESTORE_OK,        /* target: the capsule is restored (loaded, not running) */
	MIG_EV_RESTORE_FAILED,    /* target: cannot restore / cannot take it */
	MIG_EV_CONFIRM_RECEIVED,  /* source: target said CONFIRM */
	MIG_EV_DIRECTORY_MOVED,   /* the directory names the target (the pull won), not (yet) running */
	MIG_EV_DIRECTORY_KEPT,    /* the directory names the source at a newer epoch (FENCE won, or given back) */
	MIG_EV_DIRECTORY_RUNNING, /* source: the directory names the target and says it runs there */
	MIG_EV_DIRECTORY_GONE,    /* the entry was released: the capsule ran on the target and died */
	MIG_EV_COMMIT_RECEIVED,   /* target: source said COMMIT */
	MIG_EV_ABORT_RECEIVED,    /* target: source said ABORT */
	MIG_EV_SOURCE_DEAD,       /* target: source host unreachable */
	MIG_EV_TARGET_STARTED,    /* source: target said STARTED */
	MIG_EV_TIMEOUT,           /* this side's deadline for the current state passed */
	MIG_EVENT_COUNT
};

/*
 * Actions, as bits: what the daemon must do after a step.  Order matters
 * in two places: close_stream before thaw_source (END must be impossible
 * before the capsule runs again) and, on the target, start_target only
 * after the pull won.  Bit order below is not execution order.
 */
enum mig_action {
	MIG_A_SYNC_PEERS      = 1u << 0,   /* SYNC to peer hosts, HOLD to the gateway */
	MIG_A_FREEZE          = 1u << 1,
	MIG_A_SEND_STREAM     = 1u << 2,
	MIG_A_DIRECTORY_MOVE  = 1u << 3,   /* target: the pull, MOVE ip -> target, expected epoch e */
	MIG_A_DIRECTORY_FENCE = 1u << 4,   /* re-claim ip for the source, expected epoch e */
	MIG_A_THAW_SOURCE     = 1u << 5,
	MIG_A_KILL_SOURCE     = 1u << 6,   /* drop the frozen copy on the source */
	MIG_A_RELEASE_PEERS   = 1u << 7,   /* FLUSH peers back to the source */
	MIG_A_FLUSH_PEERS     = 1u << 8,   /* FLUSH peers to the target */
	MIG_A_SEND_COMMIT     = 1u << 9,
	MIG_A_SEND_ABORT      = 1u << 10,
	MIG_A_RESTORE         = 1u << 11,
	MIG_A_SEND_CONFIRM    = 1u << 12,
	MIG_A_SEND_REFUSE     = 1u << 13,
	MIG_A_START_TARGET    = 1u << 14,
	MIG_A_DISCARD_TARGET  = 1u << 15,
	MIG_A_CLOSE_STREAM    = 1u << 16,   /* cut the stream first: END must never go out after this */
	MIG_A_DIRECTORY_LOOKUP = 1u << 17,  /* source: where is it, does it run? (after a short wait) */
	MIG_A_SEND_STARTED    = 1u << 18,   /* target: it runs here now */
	MIG_ACTION_BITS       = 19
};

struct mig_fsm {
	enum mig_role role;
	enum mig_state state;
};

/* Source starts IDLE, target RECEIVING (it exists once a stream head arrived). */
void migfsm_init(struct mig_fsm *m, enum mig_role role);
/* Apply one event; returns the enum mig_action bits to carry out (0: nothing, the event is ignored). */
unsigned migfsm_step(struct mig_fsm *m, enum mig_event ev);
/* 1 in COMMITTED, ABORTED, LOST, RUNNING, DISCARDED. */
int migfsm_final(const struct mig_fsm *m);

const char *migfsm_state_name(enum mig_state s);
const char *migfsm_event_name(enum mig_event e);
/* Name of one action bit ("thaw_source"), NULL if not exactly one known bit. */
const char *migfsm_action_name(unsigned bit);

#endif
