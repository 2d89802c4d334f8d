/* migfsm.c: the migration decision table of migfsm.h, as data, and the step function over it. */
#include "hosts/caprun/migfsm.h"

#include <stddef.h>

#define EV(e) (1u << MIG_EV_##e)

/* One row: in state, any event in the mask -> next state, actions.  First match wins. */
struct row {
	enum mig_state state;
	unsigned events;
	enum mig_state next;
	unsigned actions;
};

/* Failures that end a migration on the source before END was written. */
#define SRC_EARLY_FAIL (EV(TARGET_REFUSED) | EV(TARGET_DEAD) | EV(TRANSFER_BROKEN) | EV(TIMEOUT))
#define SRC_ABORT      (MIG_A_THAW_SOURCE | MIG_A_RELEASE_PEERS | MIG_A_SEND_ABORT)
#define SRC_CUT        (MIG_A_CLOSE_STREAM | SRC_ABORT)
#define SRC_COMMIT     (MIG_A_KILL_SOURCE | MIG_A_FLUSH_PEERS)
#define TGT_START      (MIG_A_START_TARGET | MIG_A_FLUSH_PEERS | MIG_A_SEND_STARTED)
#define TGT_SILENCE    (EV(TIMEOUT) | EV(TRANSFER_BROKEN) | EV(SOURCE_DEAD))

static const struct row table[] = {
	/* source */
	{ MIG_S_IDLE,          EV(START),             MIG_S_SYNCING,       MIG_A_SYNC_PEERS },
	{ MIG_S_SYNCING,       EV(PEER_SYNCED),       MIG_S_FREEZING,      MIG_A_FREEZE },
	/* Not frozen yet: the capsule never stopped, only the peers need letting go. */
	{ MIG_S_SYNCING,       SRC_EARLY_FAIL,        MIG_S_ABORTED,       MIG_A_CLOSE_STREAM | MIG_A_RELEASE_PEERS | MIG_A_SEND_ABORT },
	{ MIG_S_FREEZING,      EV(FROZEN),            MIG_S_TRANSFERRING,  MIG_A_SEND_STREAM },
	{ MIG_S_FREEZING,      SRC_EARLY_FAIL,        MIG_S_ABORTED,       SRC_CUT },
	{ MIG_S_TRANSFERRING,  EV(TRANSFER_DONE),     MIG_S_AWAIT_CONFIRM, 0 },
	/* END not written: the target cannot hold a complete copy, a local abort is safe. */
	{ MIG_S_TRANSFERRING,  SRC_EARLY_FAIL,        MIG_S_ABORTED,       SRC_CUT },
	/* The target holds it, restored: let it pull (the commit point is its MOVE at e). */
	{ MIG_S_AWAIT_CONFIRM, EV(CONFIRM_RECEIVED),  MIG_S_HANDING_OVER,  MIG_A_SEND_COMMIT },
	/* A refusing target has discarded and will never pull. */
	{ MIG_S_AWAIT_CONFIRM, EV(TARGET_REFUSED),    MIG_S_ABORTED,       MIG_A_THAW_SOURCE | MIG_A_RELEASE_PEERS },
	/* The target may have confirmed and may pull: only the directory can say. */
	{ MIG_S_AWAIT_CONFIRM, EV(TARGET_DEAD) | EV(TRANSFER_BROKEN) | EV(TIMEOUT),
	                                              MIG_S_FENCING,       MIG_A_DIRECTORY_FENCE },
	{ MIG_S_HANDING_OVER,  EV(TARGET_STARTED),    MIG_S_COMMITTED,     SRC_COMMIT },
	{ MIG_S_HANDING_OVER,  SRC_EARLY_FAIL,        MIG_S_FENCING,       MIG_A_DIRECTORY_FENCE },
	{ MIG_S_FENCING,       EV(DIRECTORY_KEPT),    MIG_S_ABORTED,       SRC_ABORT },
	{ MIG_S_FENCING,       EV(DIRECTORY_MOVED),   MIG_S_AWAIT_RUNNING, MIG_A_DIRECTORY_LOOKUP },
	{ MIG_S_FENCING,       EV(DIRECTORY_RUNNING) | EV(TARGET_STARTED),
	                                              MIG_S_COMMITTED,     SRC_COMMIT },
	{ MIG_S_FENCING,       EV(DIRECTORY_GONE),    MIG_S_LOST,          MIG_A_KILL_SOURCE },
	{ MIG_S_FENCING,       EV(TIMEOUT),           MIG_S_FENCING,       MIG_A_DIRECTORY_FENCE },
	{ MIG_S_AWAIT_RUNNING, EV(DIRECTORY_RUNNING) | EV(TARGET_STARTED),
	                                              MIG_S_COMMITTED,     SRC_COMMIT },
	/* Named again: the target died before starting and its caphostd gave it back. */
	{ MIG_S_AWAIT_RUNNING, EV(DIRECTORY_KEPT),    MIG_S_ABORTED,       SRC_ABORT },
	{ MIG_S_AWAIT_RUNNING, EV(DIRECTORY_GONE),    MIG_S_LOST,          MIG_A_KILL_SOURCE },
	/* Not running yet: ask again when the wait is over (a poll, not a spin). */
	{ MIG_S_AWAIT_RUNNING, EV(TIMEOUT),           MIG_S_AWAIT_RUNNING, MIG_A_DIRECTORY_LOOKUP },

	/* target */
	{ MIG_T_RECEIVING,     EV(TRANSFER_DONE),     MIG_T_RESTORING,     MIG_A_RESTORE },
	{ MIG_T_RECEIVING,     EV(RESTORE_FAILED),    MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET | MIG_A_SEND_REFUSE },
	{ MIG_T_RECEIVING,     TGT_SILENCE | EV(ABORT_RECEIVED),
	                                              MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET },
	{ MIG_T_RESTORING,     EV(RESTORE_OK),        MIG_T_CONFIRMED,     MIG_A_SEND_CONFIRM },
	{ MIG_T_RESTORING,     EV(RESTORE_FAILED),    MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET | MIG_A_SEND_REFUSE },
	{ MIG_T_RESTORING,     EV(ABORT_RECEIVED),    MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET },
	/* COMMIT, or silence (the source may have died holding the only other copy): pull. */
	{ MIG_T_CONFIRMED,     EV(COMMIT_RECEIVED) | TGT_SILENCE,
	                                              MIG_T_PULLING,       MIG_A_DIRECTORY_MOVE },
	{ MIG_T_CONFIRMED,     EV(ABORT_RECEIVED) | EV(DIRECTORY_KEPT) | EV(DIRECTORY_GONE),
	                                              MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET },
	{ MIG_T_PULLING,       EV(DIRECTORY_MOVED),   MIG_T_RUNNING,       TGT_START },
	{ MIG_T_PULLING,       EV(DIRECTORY_KEPT) | EV(DIRECTORY_GONE) | EV(ABORT_RECEIVED),
	                                              MIG_T_DISCARDED,     MIG_A_DISCARD_TARGET },
	/* No answer is no verdict: ask again, holding the copy, as long as it takes. */
	{ MIG_T_PULLING,       EV(TIMEOUT),           MIG_T_PULLING,       MIG_A_DIRECTORY_MOVE },
};

void migfsm_init(struct mig_fsm *m, enum mig_role role)
{
	m->role = role;
	m->state = role == MIG_ROLE_SOURCE ? MIG_S_IDLE : MIG_T_RECEIVING;
}

unsigned migfsm_step(struct mig_fsm *m, enum mig_event ev)
{
	if ((unsigned)ev >= MIG_EVENT_COUNT)
		return 0;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i].state == m->state && (table[i].events & (1u << ev))) {
			m->state = table[i].next;
			return table[i].actions;
		}
	}
	return 0;
}

int migfsm_final(const struct mig_fsm *m)
{
	return m->state == MIG_S_COMMITTED || m->state == MIG_S_ABORTED || m->state == MIG_S_LOST ||
	       m->state == MIG_T_RUNNING || m->state == MIG_T_DISCARDED;
}

const char *migfsm_state_name(enum mig_state s)
{
	static const char *const names[MIG_STATE_COUNT] = {
		"idle", "syncing", "freezing", "transferring", "await_confirm", "handing_over",
		"fencing", "await_running", "committed", "aborted", "lost",
		"receiving", "restoring", "confirmed", "pulling", "running", "discarded",
	};
	return (unsigned)s < MIG_STATE_COUNT ? names[s] : "?";
}

const char *migfsm_event_name(enum mig_event e)
{
	static const char *const names[MIG_EVENT_COUNT] = {
		"start", "peer_synced", "frozen", "transfer_done", "transfer_broken",
		"target_refused", "target_dead", "restore_ok", "restore_failed",
		"confirm_received", "directory_moved", "directory_kept", "directory_running",
		"directory_gone", "commit_received", "abort_received", "source_dead", "target_started",
		"timeout",
	};
	return (unsigned)e < MIG_EVENT_COUNT ? names[e] : "?";
}

const char *migfsm_action_name(unsigned bit)
{
	static const char *const names[MIG_ACTION_BITS] = {
		"sync_peers", "freeze", "send_stream", "directory_move", "directory_fence",
		"thaw_source", "kill_source", "release_peers", "flush_peers", "send_commit",
		"send_abort", "restore", "send_confirm", "send_refuse", "start_target",
		"discard_target", "close_stream", "directory_lookup", "send_started",
	};
	for (unsigned i = 0; i < MIG_ACTION_BITS; i++)
		if (bit == 1u << i)
			return names[i];
	return NULL;
}
