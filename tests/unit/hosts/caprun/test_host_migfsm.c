/* test_host_migfsm.c: model-checks the migration state machine: never two copies running, never none after commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hosts/caprun/migfsm.h"

/*
 * A small world around the two machines: the source's and the target's
 * copy of the capsule (each in its caprun process), the stream connection,
 * the directory's compare-and-swap, each host's caphostd (which survives
 * its caprun and carries out what the machine asked of the directory), and
 * every message in flight (a flag each: repeats are idempotent, so "in
 * flight at least once" is all that matters).  The adversary may deliver
 * or drop any message or directory answer, delay any directory request,
 * break the connection, kill either caprun, make the target refuse, raise
 * false suspicions and fire timeouts at any moment.  The test explores
 * EVERY reachable world (breadth first, no depth limit: the state space is
 * finite) and checks the safety claims in each; from each it also lets the
 * world calm down (deliver everything, time out only when nothing else can
 * happen) and checks where the capsule ends.
 *
 * Requests a caphostd sends for its caprun are retried until the directory
 * answers, so the adversary can delay them but not drop them; only the
 * answers to a caprun can be lost (it asks again after its timeout).  A
 * whole host dying (caprun and caphostd) is covered for safety by the
 * interleavings in which its daemon's requests are never processed.
 */

enum { SC_NONE, SC_RUNNING, SC_FROZEN };                     /* source copy */
enum { TC_NONE, TC_STREAM, TC_RESTORED, TC_RUNNING };        /* target copy */
/* The directory entry: holder and epoch.  GONE: released. */
enum { H_SOURCE, H_TARGET, H_FENCED, H_RETURNED, H_GONE };   /* at e, e+1, e+1, e+2, - */
enum { ST_NONE, ST_SENDING, ST_WRITTEN, ST_DELIVERED };      /* the stream */
/* What a directory answer tells its asker (computed when the request is processed). */
enum { ANS_NONE, ANS_MOVED, ANS_KEPT, ANS_RUNNING, ANS_GONE };

enum {   /* things in flight */
	P_SYNC_ACK = 1 << 0, P_FROZEN = 1 << 1, P_RESTORE = 1 << 2,
	M_CONFIRM = 1 << 3, M_REFUSE = 1 << 4, M_COMMIT = 1 << 5, M_ABORT = 1 << 6, M_STARTED = 1 << 7,
	R_SRC_FENCE = 1 << 8, R_SRC_LOOKUP = 1 << 9, R_TGT_MOVE = 1 << 10,
	R_TGT_STATE = 1 << 11, R_TGT_RETURN = 1 << 12, R_TGT_RELEASE = 1 << 13,
};
#define MSGS (M_CONFIRM | M_REFUSE | M_COMMIT | M_ABORT | M_STARTED)

struct world {
	struct mig_fsm src, tgt;
	int s_alive, t_alive, s_copy, t_copy, stream, broken, holder;
	int running;       /* the directory says it runs on the target (holder H_TARGET) */
	int announced;     /* the target's caphostd was told it starts (then never give it back) */
	int started;       /* the target ever ran it */
	int a_src, a_tgt;  /* answers in flight to each caprun (ANS_*) */
	unsigned pend;
	char why[160];     /* first broken claim, for the failure message */
};

static void feed(struct world *w, int source, enum mig_event ev);

static void apply(struct world *w, int source, unsigned a)
{
	if (source) {
		if (a & MIG_A_SYNC_PEERS) w->pend |= P_SYNC_ACK;
		if (a & MIG_A_FREEZE) { if (w->s_copy == SC_RUNNING) w->s_copy = SC_FROZEN; w->pend |= P_FROZEN; }
		if (a & MIG_A_SEND_STREAM) w->stream = ST_SENDING;
		/* A cut stream can never complete; the target sees it break. */
		if ((a & MIG_A_CLOSE_STREAM) && w->stream != ST_NONE && !w->broken) {
			if (w->stream == ST_WRITTEN && !w->why[0])
				snprintf(w->why, sizeof w->why, "stream cut after END was written");
			w->broken = 1;
			w->pend &= ~MSGS;
			a &= ~(unsigned)(MIG_A_SEND_COMMIT | MIG_A_SEND_ABORT);
			apply(w, source, a & ~(unsigned)MIG_A_CLOSE_STREAM);
			feed(w, 0, MIG_EV_TRANSFER_BROKEN);
			return;
		}
		if (a & MIG_A_DIRECTORY_FENCE) w->pend |= R_SRC_FENCE;
		if (a & MIG_A_DIRECTORY_LOOKUP) w->pend |= R_SRC_LOOKUP;
		if (a & MIG_A_THAW_SOURCE) { if (w->s_copy == SC_FROZEN) w->s_copy = SC_RUNNING; w->pend &= ~P_FROZEN; }
		if (a & MIG_A_KILL_SOURCE) w->s_copy = SC_NONE;
		if ((a & MIG_A_SEND_COMMIT) && !w->broken) w->pend |= M_COMMIT;
		if ((a & MIG_A_SEND_ABORT) && !w->broken) w->pend |= M_ABORT;
		if (a & MIG_A_DIRECTORY_MOVE && !w->why[0])
			snprintf(w->why, sizeof w->why, "the source moved the entry itself");
	} else {
		if (a & MIG_A_RESTORE) { w->t_copy = TC_STREAM; w->pend |= P_RESTORE; }
		if (a & MIG_A_SEND_CONFIRM) { w->t_copy = TC_RESTORED; if (!w->broken) w->pend |= M_CONFIRM; }
		if ((a & MIG_A_SEND_REFUSE) && !w->broken) w->pend |= M_REFUSE;
		if (a & MIG_A_START_TARGET) {
			if (w->t_copy != TC_RESTORED && !w->why[0])
				snprintf(w->why, sizeof w->why, "target started without a restored copy");
			/* caprun tells its caphostd first (which reports it running), then runs it */
			w->announced = 1;
			w->pend |= R_TGT_STATE;
			w->t_copy = TC_RUNNING;
			w->started = 1;
		}
		if ((a & MIG_A_SEND_STARTED) && !w->broken) w->pend |= M_STARTED;
		if (a & MIG_A_DISCARD_TARGET) { w->t_copy = TC_NONE; w->pend &= ~P_RESTORE; }
		if (a & MIG_A_DIRECTORY_MOVE) w->pend |= R_TGT_MOVE;
	}
}

static void feed(struct world *w, int source, enum mig_event ev)
{
	if (source ? !w->s_alive : !w->t_alive)
		return;
	struct mig_fsm *m = source ? &w->src : &w->tgt;
	apply(w, source, migfsm_step(m, ev));
}

static int answer_for_source(const struct world *w)
{
	switch (w->holder) {
	case H_TARGET: return w->running ? ANS_RUNNING : ANS_MOVED;
	case H_FENCED: case H_RETURNED: return ANS_KEPT;
	case H_GONE: return ANS_GONE;
	}
	return ANS_NONE;   /* still at e: cannot be the answer to a fence; ask again */
}

static int answer_for_target(const struct world *w)
{
	switch (w->holder) {
	case H_TARGET: return ANS_MOVED;
	case H_FENCED: case H_RETURNED: return ANS_KEPT;
	case H_GONE: return ANS_GONE;
	}
	return ANS_NONE;
}

static enum mig_event answer_event(int ans)
{
	switch (ans) {
	case ANS_MOVED: return MIG_EV_DIRECTORY_MOVED;
	case ANS_KEPT: return MIG_EV_DIRECTORY_KEPT;
	case ANS_RUNNING: return MIG_EV_DIRECTORY_RUNNING;
	case ANS_GONE: return MIG_EV_DIRECTORY_GONE;
	}
	return MIG_EV_TIMEOUT;
}

/* The target's caprun died: its caphostd undoes a pull that never started, or releases. */
static void target_daemon_cleanup(struct world *w)
{
	if (w->holder != H_TARGET)
		return;
	w->pend |= w->announced ? R_TGT_RELEASE : R_TGT_RETURN;
}

#define N_WORLD_EVENTS 34
static const int calm_order[] = { 0, 1, 2, 3, 5, 8, 9, 10, 11, 12, 18, 19, 20, 21, 22, 23, 24, 25,
                                  29, 28 };   /* the target first: a polling source must not starve it */

/* Try world event i; returns 0 if it is not enabled now. */
static int world_event(struct world *w, int i)
{
	int s_live = w->s_alive && !migfsm_final(&w->src);
	int t_live = w->t_alive && !migfsm_final(&w->tgt);
	static const unsigned msg_bit[5] = { M_CONFIRM, M_REFUSE, M_COMMIT, M_ABORT, M_STARTED };
	static const enum mig_event msg_ev[5] = { MIG_EV_CONFIRM_RECEIVED, MIG_EV_TARGET_REFUSED,
	                                          MIG_EV_COMMIT_RECEIVED, MIG_EV_ABORT_RECEIVED,
	                                          MIG_EV_TARGET_STARTED };
	static const int msg_to_source[5] = { 1, 1, 0, 0, 1 };
	switch (i) {
	case 0: if (!(w->pend & P_SYNC_ACK)) return 0; w->pend &= ~P_SYNC_ACK; feed(w, 1, MIG_EV_PEER_SYNCED); return 1;
	case 1: if (!(w->pend & P_FROZEN)) return 0; w->pend &= ~P_FROZEN; feed(w, 1, MIG_EV_FROZEN); return 1;
	case 2: if (w->stream != ST_SENDING || w->broken || !w->s_alive) return 0;
		w->stream = ST_WRITTEN; feed(w, 1, MIG_EV_TRANSFER_DONE); return 1;
	case 3: if (w->stream != ST_WRITTEN || w->broken) return 0;
		w->stream = ST_DELIVERED; feed(w, 0, MIG_EV_TRANSFER_DONE); return 1;
	case 4: if (w->stream == ST_NONE || w->broken) return 0;   /* the connection breaks */
		w->broken = 1; w->pend &= ~MSGS;
		feed(w, 1, MIG_EV_TRANSFER_BROKEN); feed(w, 0, MIG_EV_TRANSFER_BROKEN); return 1;
	case 5: if (!(w->pend & P_RESTORE)) return 0; w->pend &= ~P_RESTORE; feed(w, 0, MIG_EV_RESTORE_OK); return 1;
	case 6: if (!(w->pend & P_RESTORE)) return 0; w->pend &= ~P_RESTORE; feed(w, 0, MIG_EV_RESTORE_FAILED); return 1;
	case 7: if (!t_live || w->tgt.state != MIG_T_RECEIVING) return 0;   /* target refuses up front */
		feed(w, 0, MIG_EV_RESTORE_FAILED); return 1;
	case 8: case 9: case 10: case 11: case 12:
		if (!(w->pend & msg_bit[i - 8])) return 0;
		w->pend &= ~msg_bit[i - 8]; feed(w, msg_to_source[i - 8], msg_ev[i - 8]); return 1;
	case 13: case 14: case 15: case 16: case 17:
		if (!(w->pend & msg_bit[i - 13])) return 0;
		w->pend &= ~msg_bit[i - 13]; return 1;
	case 18:   /* the source's FENCE at e */
		if (!(w->pend & R_SRC_FENCE)) return 0;
		w->pend &= ~R_SRC_FENCE;
		if (w->holder == H_SOURCE) w->holder = H_FENCED;
		w->a_src = answer_for_source(w);
		return 1;
	case 19:   /* the source's LOOKUP */
		if (!(w->pend & R_SRC_LOOKUP)) return 0;
		w->pend &= ~R_SRC_LOOKUP;
		w->a_src = answer_for_source(w);
		return 1;
	case 20:   /* the target's pull: MOVE at e */
		if (!(w->pend & R_TGT_MOVE)) return 0;
		w->pend &= ~R_TGT_MOVE;
		if (w->holder == H_SOURCE) {
			w->holder = H_TARGET;
			w->running = 0;
			if (!w->t_alive)
				target_daemon_cleanup(w);   /* done for a caprun that died meanwhile */
		}
		w->a_tgt = answer_for_target(w);
		return 1;
	case 21:   /* the target's caphostd: STATE running, holder only */
		if (!(w->pend & R_TGT_STATE)) return 0;
		w->pend &= ~R_TGT_STATE;
		if (w->holder == H_TARGET) w->running = 1;
		return 1;
	case 22:   /* ... gives a never-started pull back: MOVE to the source at e+1 */
		if (!(w->pend & R_TGT_RETURN)) return 0;
		w->pend &= ~R_TGT_RETURN;
		if (w->holder == H_TARGET) w->holder = H_RETURNED;
		return 1;
	case 23:   /* ... or releases one that ran and died */
		if (!(w->pend & R_TGT_RELEASE)) return 0;
		w->pend &= ~R_TGT_RELEASE;
		if (w->holder == H_TARGET) w->holder = H_GONE;
		return 1;
	case 24: case 25: {   /* an answer reaches its caprun */
		int *a = i == 24 ? &w->a_src : &w->a_tgt;
		if (!*a) return 0;
		int ans = *a;
		*a = ANS_NONE;
		if (ans != ANS_NONE)
			feed(w, i == 24, answer_event(ans));
		return 1;
	}
	case 26: if (!w->a_src) return 0; w->a_src = ANS_NONE; return 1;   /* answers lost */
	case 27: if (!w->a_tgt) return 0; w->a_tgt = ANS_NONE; return 1;
	case 28: if (!s_live) return 0; feed(w, 1, MIG_EV_TIMEOUT); return 1;
	case 29: if (!t_live) return 0; feed(w, 0, MIG_EV_TIMEOUT); return 1;
	case 30: if (!w->s_alive) return 0;   /* the source caprun dies with its copy */
		w->s_alive = 0; w->s_copy = SC_NONE; w->pend &= ~(P_SYNC_ACK | P_FROZEN);
		if (w->stream != ST_NONE && !w->broken) { w->broken = 1; w->pend &= ~MSGS; }
		feed(w, 0, MIG_EV_SOURCE_DEAD); return 1;
	case 31: if (!w->t_alive) return 0;   /* the target caprun dies; its caphostd lives */
		w->t_alive = 0; w->t_copy = TC_NONE; w->pend &= ~P_RESTORE;
		if (w->stream != ST_NONE && !w->broken) { w->broken = 1; w->pend &= ~MSGS; }
		target_daemon_cleanup(w);
		feed(w, 1, MIG_EV_TARGET_DEAD); return 1;
	case 32: if (!s_live || !w->t_alive) return 0; feed(w, 1, MIG_EV_TARGET_DEAD); return 1;   /* false suspicion */
	case 33: if (!t_live || !w->s_alive) return 0; feed(w, 0, MIG_EV_SOURCE_DEAD); return 1;
	}
	return 0;
}

static int source_named(int holder) { return holder == H_SOURCE || holder == H_FENCED || holder == H_RETURNED; }

/* Claims that must hold in every reachable world. */
static int safe(struct world *w)
{
	if (w->why[0])
		return 0;
	if (w->s_copy == SC_RUNNING && w->t_copy == TC_RUNNING)
		snprintf(w->why, sizeof w->why, "running twice");
	else if (w->t_copy == TC_RUNNING && w->holder != H_TARGET)
		snprintf(w->why, sizeof w->why, "target runs but the directory does not name it");
	else if (w->s_copy == SC_RUNNING && !source_named(w->holder))
		snprintf(w->why, sizeof w->why, "source runs but the directory does not name it");
	else if (w->holder == H_TARGET && w->t_alive && w->t_copy < TC_RESTORED)
		snprintf(w->why, sizeof w->why, "the directory names a target without a copy (lost)");
	else if (w->s_alive && w->s_copy == SC_NONE && !w->started)
		snprintf(w->why, sizeof w->why, "source dropped its copy before the target ever ran it (lost)");
	else if (w->holder == H_GONE && !w->started)
		snprintf(w->why, sizeof w->why, "released although it never ran on the target");
	else if (w->holder == H_RETURNED && w->started)
		snprintf(w->why, sizeof w->why, "given back to the source after the target ran it");
	return w->why[0] == 0;
}

/* Deliver everything, time out only when nothing else can happen, then check where it runs. */
static int settles(struct world w, char *why, size_t whylen)
{
	for (int steps = 0; steps < 400; steps++) {
		int moved = 0;
		for (size_t k = 0; k < sizeof calm_order / sizeof calm_order[0] && !moved; k++)
			moved = world_event(&w, calm_order[k]);
		if (!moved)
			break;
		if (!safe(&w)) {
			snprintf(why, whylen, "while settling: %s", w.why);
			return 0;
		}
	}
	const char *bad = NULL;
	if ((w.s_alive && !migfsm_final(&w.src)) || (w.t_alive && !migfsm_final(&w.tgt)))
		bad = "did not finish";
	else if (w.pend & (R_TGT_MOVE | R_TGT_STATE | R_TGT_RETURN | R_TGT_RELEASE | R_SRC_FENCE))
		bad = "a directory request was left unprocessed";
	else if (w.holder == H_TARGET && w.t_alive && w.t_copy != TC_RUNNING)
		bad = "the directory names the target but it does not run there";
	else if (w.holder == H_TARGET && w.s_copy != SC_NONE)
		bad = "moved to the target but the source kept its copy";
	else if (source_named(w.holder) && w.s_alive && w.s_copy != SC_RUNNING)
		bad = "the directory names the source but it does not run there";
	else if (source_named(w.holder) && w.t_copy != TC_NONE)
		bad = "the source kept it but the target kept its copy";
	else if (source_named(w.holder) && !w.s_alive && w.t_alive && w.t_copy != TC_NONE)
		bad = "the source died but the target's copy did not take over";
	else if (w.holder == H_GONE && (w.t_alive || !w.started))
		bad = "gone although a copy survived";
	if (bad)
		snprintf(why, whylen, "%s (src %s%s, tgt %s%s, holder %d, pend %#x, running %d)", bad,
		         migfsm_state_name(w.src.state), w.s_alive ? "" : " dead",
		         migfsm_state_name(w.tgt.state), w.t_alive ? "" : " dead", w.holder, w.pend, w.running);
	return bad == NULL;
}

static struct world world_new(void)
{
	struct world w;
	memset(&w, 0, sizeof w);
	migfsm_init(&w.src, MIG_ROLE_SOURCE);
	migfsm_init(&w.tgt, MIG_ROLE_TARGET);
	w.s_alive = w.t_alive = 1;
	w.s_copy = SC_RUNNING;
	w.holder = H_SOURCE;
	feed(&w, 1, MIG_EV_START);
	return w;
}

static uint64_t pack(const struct world *w)
{
	uint64_t k = 0;
	k = k << 4 | (unsigned)w->src.state;
	k = k << 4 | (unsigned)w->tgt.state;
	k = k << 1 | (unsigned)w->s_alive;
	k = k << 1 | (unsigned)w->t_alive;
	k = k << 2 | (unsigned)w->s_copy;
	k = k << 2 | (unsigned)w->t_copy;
	k = k << 2 | (unsigned)w->stream;
	k = k << 1 | (unsigned)w->broken;
	k = k << 3 | (unsigned)w->holder;
	k = k << 1 | (unsigned)w->running;
	k = k << 1 | (unsigned)w->announced;
	k = k << 1 | (unsigned)w->started;
	k = k << 3 | (unsigned)w->a_src;
	k = k << 3 | (unsigned)w->a_tgt;
	k = k << 14 | w->pend;
	return k + 1;   /* 0 marks an empty slot */
}

#define SEEN_BITS 22
static int seen_insert(uint64_t *set, uint64_t key)
{
	size_t mask = ((size_t)1 << SEEN_BITS) - 1, i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 40) & mask;
	while (set[i]) {
		if (set[i] == key)
			return 0;
		i = (i + 1) & mask;
	}
	set[i] = key;
	return 1;
}

static void every_reachable_world_is_safe_and_settles(void **state)
{
	(void)state;
	uint64_t *seen = calloc((size_t)1 << SEEN_BITS, sizeof *seen);
	size_t qcap = (size_t)1 << 21, qhead = 0, qtail = 0;
	struct world *queue = malloc(qcap * sizeof *queue);
	assert_non_null(seen);
	assert_non_null(queue);
	queue[qtail++] = world_new();
	seen_insert(seen, pack(&queue[0]));
	size_t transitions = 0, committed = 0, aborted = 0, lost = 0;
	while (qhead < qtail) {
		struct world w = queue[qhead++];
		char why[240];
		if (!safe(&w))
			fail_msg("unsafe world: %s (src %s, tgt %s)", w.why, migfsm_state_name(w.src.state),
			         migfsm_state_name(w.tgt.state));
		if (!settles(w, why, sizeof why))
			fail_msg("from src %s tgt %s holder %d pend %#x: %s", migfsm_state_name(w.src.state),
			         migfsm_state_name(w.tgt.state), w.holder, w.pend, why);
		committed += w.src.state == MIG_S_COMMITTED;
		aborted += w.src.state == MIG_S_ABORTED;
		lost += w.src.state == MIG_S_LOST;
		for (int i = 0; i < N_WORLD_EVENTS; i++) {
			struct world n = w;
			if (!world_event(&n, i))
				continue;
			transitions++;
			if (seen_insert(seen, pack(&n))) {
				assert_true(qtail < qcap);
				queue[qtail++] = n;
			}
		}
	}
	print_message("explored %zu worlds, %zu transitions (%zu committed, %zu aborted, %zu lost "
	              "after the target ran it)\n", qtail, transitions, committed, aborted, lost);
	assert_true(committed > 0 && aborted > 0 && lost > 0);   /* every outcome is reachable */
	free(queue);
	free(seen);
}

/* Long random runs: any event at any time, then settle. */
static void random_long_runs_hold(void **state)
{
	(void)state;
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (int run = 0; run < 20000; run++) {
		struct world w = world_new();
		int len = 10 + run % 90;
		for (int step = 0; step < len; step++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			(void)world_event(&w, (int)(x % N_WORLD_EVENTS));
			if (!safe(&w))
				fail_msg("run %d step %d: %s", run, step, w.why);
		}
		char why[200];
		if (!settles(w, why, sizeof why))
			fail_msg("run %d: %s", run, why);
	}
}

/* The happy path, step by step, with the actions each step demands. */
static void happy_path_actions(void **state)
{
	(void)state;
	struct mig_fsm s, t;
	migfsm_init(&s, MIG_ROLE_SOURCE);
	migfsm_init(&t, MIG_ROLE_TARGET);
	assert_int_equal(migfsm_step(&s, MIG_EV_START), MIG_A_SYNC_PEERS);
	assert_int_equal(migfsm_step(&s, MIG_EV_PEER_SYNCED), MIG_A_FREEZE);
	assert_int_equal(migfsm_step(&s, MIG_EV_FROZEN), MIG_A_SEND_STREAM);
	assert_int_equal(migfsm_step(&s, MIG_EV_TRANSFER_DONE), 0);
	assert_int_equal(s.state, MIG_S_AWAIT_CONFIRM);
	assert_int_equal(migfsm_step(&t, MIG_EV_TRANSFER_DONE), MIG_A_RESTORE);
	assert_int_equal(migfsm_step(&t, MIG_EV_RESTORE_OK), MIG_A_SEND_CONFIRM);
	assert_int_equal(migfsm_step(&s, MIG_EV_CONFIRM_RECEIVED), MIG_A_SEND_COMMIT);
	assert_int_equal(migfsm_step(&t, MIG_EV_COMMIT_RECEIVED), MIG_A_DIRECTORY_MOVE);
	assert_int_equal(migfsm_step(&t, MIG_EV_DIRECTORY_MOVED),
	                 MIG_A_START_TARGET | MIG_A_FLUSH_PEERS | MIG_A_SEND_STARTED);
	assert_int_equal(migfsm_step(&s, MIG_EV_TARGET_STARTED), MIG_A_KILL_SOURCE | MIG_A_FLUSH_PEERS);
	assert_true(migfsm_final(&s) && migfsm_final(&t));
	/* Final states ignore everything. */
	for (int e = 0; e < MIG_EVENT_COUNT; e++) {
		assert_int_equal(migfsm_step(&s, (enum mig_event)e), 0);
		assert_int_equal(migfsm_step(&t, (enum mig_event)e), 0);
	}
}

/* Each source phase x each failure: where the capsule goes (the failure table of docs/MIGRATION.md). */
static void failure_per_phase(void **state)
{
	(void)state;
	static const enum mig_event fails[] = { MIG_EV_TARGET_REFUSED, MIG_EV_TARGET_DEAD,
	                                        MIG_EV_TRANSFER_BROKEN, MIG_EV_TIMEOUT };
	static const enum mig_event path[] = { MIG_EV_START, MIG_EV_PEER_SYNCED, MIG_EV_FROZEN,
	                                       MIG_EV_TRANSFER_DONE };
	for (size_t phase = 1; phase <= 4; phase++) {
		for (size_t f = 0; f < sizeof fails / sizeof fails[0]; f++) {
			struct mig_fsm s;
			migfsm_init(&s, MIG_ROLE_SOURCE);
			for (size_t k = 0; k < phase; k++)
				migfsm_step(&s, path[k]);
			unsigned a = migfsm_step(&s, fails[f]);
			if (phase < 4 || fails[f] == MIG_EV_TARGET_REFUSED) {
				/* Before END, or refused: straight back to running on the source. */
				assert_int_equal(s.state, MIG_S_ABORTED);
				assert_true(phase == 1 || (a & MIG_A_THAW_SOURCE));
				assert_false(a & MIG_A_KILL_SOURCE);
			} else {
				/* After END: the directory decides; still frozen on the source meanwhile. */
				assert_int_equal(s.state, MIG_S_FENCING);
				assert_int_equal(a, MIG_A_DIRECTORY_FENCE);
			}
		}
	}
	/* Target after CONFIRM with a silent source pulls; a dead source means it runs there. */
	struct mig_fsm t;
	migfsm_init(&t, MIG_ROLE_TARGET);
	migfsm_step(&t, MIG_EV_TRANSFER_DONE);
	migfsm_step(&t, MIG_EV_RESTORE_OK);
	assert_int_equal(migfsm_step(&t, MIG_EV_SOURCE_DEAD), MIG_A_DIRECTORY_MOVE);
	/* No answer is no verdict: it asks again, never discards. */
	assert_int_equal(migfsm_step(&t, MIG_EV_TIMEOUT), MIG_A_DIRECTORY_MOVE);
	assert_int_equal(t.state, MIG_T_PULLING);
	assert_int_equal(migfsm_step(&t, MIG_EV_DIRECTORY_MOVED),
	                 MIG_A_START_TARGET | MIG_A_FLUSH_PEERS | MIG_A_SEND_STARTED);
	/* The source, silent target after COMMIT: fence; the pull won: wait until it runs there. */
	struct mig_fsm s;
	migfsm_init(&s, MIG_ROLE_SOURCE);
	migfsm_step(&s, MIG_EV_START);
	migfsm_step(&s, MIG_EV_PEER_SYNCED);
	migfsm_step(&s, MIG_EV_FROZEN);
	migfsm_step(&s, MIG_EV_TRANSFER_DONE);
	migfsm_step(&s, MIG_EV_CONFIRM_RECEIVED);
	assert_int_equal(migfsm_step(&s, MIG_EV_TRANSFER_BROKEN), MIG_A_DIRECTORY_FENCE);
	assert_int_equal(migfsm_step(&s, MIG_EV_DIRECTORY_MOVED), MIG_A_DIRECTORY_LOOKUP);
	assert_int_equal(migfsm_step(&s, MIG_EV_DIRECTORY_MOVED), 0);   /* not yet: wait */
	assert_int_equal(migfsm_step(&s, MIG_EV_TIMEOUT), MIG_A_DIRECTORY_LOOKUP);
	assert_int_equal(s.state, MIG_S_AWAIT_RUNNING);
	/* ... and the entry came back: the target died before starting. */
	assert_int_equal(migfsm_step(&s, MIG_EV_DIRECTORY_KEPT),
	                 MIG_A_THAW_SOURCE | MIG_A_RELEASE_PEERS | MIG_A_SEND_ABORT);
}

static void names_are_complete(void **state)
{
	(void)state;
	for (int s = 0; s < MIG_STATE_COUNT; s++)
		assert_string_not_equal(migfsm_state_name((enum mig_state)s), "?");
	for (int e = 0; e < MIG_EVENT_COUNT; e++)
		assert_string_not_equal(migfsm_event_name((enum mig_event)e), "?");
	for (unsigned b = 0; b < MIG_ACTION_BITS; b++)
		assert_non_null(migfsm_action_name(1u << b));
	assert_null(migfsm_action_name(3));
	struct mig_fsm m;
	migfsm_init(&m, MIG_ROLE_SOURCE);
	assert_int_equal(migfsm_step(&m, MIG_EVENT_COUNT), 0);
	assert_int_equal(m.state, MIG_S_IDLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(happy_path_actions),
		cmocka_unit_test(failure_per_phase),
		cmocka_unit_test(names_are_complete),
		cmocka_unit_test(every_reachable_world_is_safe_and_settles),
		cmocka_unit_test(random_long_runs_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
