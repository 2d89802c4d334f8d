/* test_host_migfsm.c: model-checks the migration state machine: never two copies running, never none after commit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hosts/migfsm.h"

/*
 * A small world around the two machines: the source's and the target's
 * copy of the capsule, the stream connection, the directory's
 * compare-and-swap, and every message in flight (a flag each: repeats are
 * idempotent, so "in flight at least once" is all that matters).  The
 * adversary may deliver or drop any message, break the connection, crash
 * either host, make the target refuse, and fire timeouts at any moment.
 * The test explores EVERY reachable world (breadth first, no depth limit:
 * the state space is finite) and checks the safety claims in each; from
 * each it also lets the world calm down (deliver everything, time out only
 * when nothing else can happen) and checks that the capsule ends in exactly
 * one place.
 */

enum { SC_NONE, SC_RUNNING, SC_FROZEN };                     /* source copy */
enum { TC_NONE, TC_STREAM, TC_RESTORED, TC_RUNNING };        /* target copy */
enum { HOLD_SOURCE, HOLD_TARGET, HOLD_SOURCE_FENCED };       /* directory: at e, e+1, e+1 */
enum { ST_NONE, ST_SENDING, ST_WRITTEN, ST_DELIVERED };      /* the stream */

enum {   /* things in flight */
	P_SYNC_ACK = 1 << 0, P_FROZEN = 1 << 1, P_RESTORE = 1 << 2,
	M_CONFIRM = 1 << 3, M_REFUSE = 1 << 4, M_COMMIT = 1 << 5, M_ABORT = 1 << 6,
	R_SRC_MOVE = 1 << 7, R_SRC_FENCE = 1 << 8, R_TGT_MOVE = 1 << 9,
	A_SRC = 1 << 10, A_TGT = 1 << 11,
};
#define MSGS (M_CONFIRM | M_REFUSE | M_COMMIT | M_ABORT)

struct world {
	struct mig_fsm src, tgt;
	int s_alive, t_alive, s_copy, t_copy, stream, broken, holder;
	unsigned pend;
	char why[160];   /* first broken claim, for the failure message */
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
		if (a & MIG_A_DIRECTORY_MOVE) w->pend |= R_SRC_MOVE;
		if (a & MIG_A_DIRECTORY_FENCE) w->pend |= R_SRC_FENCE;
		if (a & MIG_A_THAW_SOURCE) { if (w->s_copy == SC_FROZEN) w->s_copy = SC_RUNNING; w->pend &= ~P_FROZEN; }
		if (a & MIG_A_KILL_SOURCE) w->s_copy = SC_NONE;
		if ((a & MIG_A_SEND_COMMIT) && !w->broken) w->pend |= M_COMMIT;
		if ((a & MIG_A_SEND_ABORT) && !w->broken) w->pend |= M_ABORT;
	} else {
		if (a & MIG_A_RESTORE) { w->t_copy = TC_STREAM; w->pend |= P_RESTORE; }
		if (a & MIG_A_SEND_CONFIRM) { w->t_copy = TC_RESTORED; if (!w->broken) w->pend |= M_CONFIRM; }
		if ((a & MIG_A_SEND_REFUSE) && !w->broken) w->pend |= M_REFUSE;
		if (a & MIG_A_START_TARGET) {
			if (w->t_copy != TC_RESTORED && !w->why[0])
				snprintf(w->why, sizeof w->why, "target started without a restored copy");
			w->t_copy = TC_RUNNING;
		}
		if (a & MIG_A_DISCARD_TARGET) { w->t_copy = TC_NONE; w->pend &= ~P_RESTORE; }
		if (a & MIG_A_DIRECTORY_MOVE) w->pend |= R_TGT_MOVE;
	}
}

static void feed(struct world *w, int source, enum mig_event ev)
{
	if (source ? !w->s_alive : !w->t_alive)
		return;
	struct mig_fsm *m = source ? &w->src : &w->tgt;
	apply(w, source, mig_fsm_step(m, ev));
}

static void dir_request(struct world *w, unsigned req, unsigned answer, int holder_if_first)
{
	w->pend &= ~req;
	if (w->holder == HOLD_SOURCE)
		w->holder = holder_if_first;
	w->pend |= answer;
}

#define N_WORLD_EVENTS 29
static const int calm_order[] = { 0, 1, 2, 3, 5, 8, 9, 10, 11, 16, 17, 18, 19, 20, 23, 24 };

/* Try world event i; returns 0 if it is not enabled now. */
static int world_event(struct world *w, int i)
{
	int s_live = w->s_alive && !mig_fsm_final(&w->src);
	int t_live = w->t_alive && !mig_fsm_final(&w->tgt);
	static const unsigned msg_bit[4] = { M_CONFIRM, M_REFUSE, M_COMMIT, M_ABORT };
	static const enum mig_event msg_ev[4] = { MIG_EV_CONFIRM_RECEIVED, MIG_EV_TARGET_REFUSED,
	                                          MIG_EV_COMMIT_RECEIVED, MIG_EV_ABORT_RECEIVED };
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
	case 8: case 9: case 10: case 11:
		if (!(w->pend & msg_bit[i - 8])) return 0;
		w->pend &= ~msg_bit[i - 8]; feed(w, i == 8 || i == 9, msg_ev[i - 8]); return 1;
	case 12: case 13: case 14: case 15:
		if (!(w->pend & msg_bit[i - 12])) return 0;
		w->pend &= ~msg_bit[i - 12]; return 1;
	case 16: if (!(w->pend & R_SRC_MOVE)) return 0; dir_request(w, R_SRC_MOVE, A_SRC, HOLD_TARGET); return 1;
	case 17: if (!(w->pend & R_SRC_FENCE)) return 0; dir_request(w, R_SRC_FENCE, A_SRC, HOLD_SOURCE_FENCED); return 1;
	case 18: if (!(w->pend & R_TGT_MOVE)) return 0; dir_request(w, R_TGT_MOVE, A_TGT, HOLD_TARGET); return 1;
	case 19: case 20: {
		unsigned bit = i == 19 ? A_SRC : A_TGT;
		if (!(w->pend & bit)) return 0;
		w->pend &= ~bit;
		feed(w, i == 19, w->holder == HOLD_TARGET ? MIG_EV_DIRECTORY_MOVED : MIG_EV_DIRECTORY_KEPT);
		return 1;
	}
	case 21: if (!(w->pend & A_SRC)) return 0; w->pend &= ~A_SRC; return 1;
	case 22: if (!(w->pend & A_TGT)) return 0; w->pend &= ~A_TGT; return 1;
	case 23: if (!s_live) return 0; feed(w, 1, MIG_EV_TIMEOUT); return 1;
	case 24: if (!t_live) return 0; feed(w, 0, MIG_EV_TIMEOUT); return 1;
	case 25: if (!w->s_alive) return 0;   /* source host dies with its copy */
		w->s_alive = 0; w->s_copy = SC_NONE; w->pend &= ~(P_SYNC_ACK | P_FROZEN);
		feed(w, 0, MIG_EV_SOURCE_DEAD); return 1;
	case 26: if (!w->t_alive) return 0;
		w->t_alive = 0; w->t_copy = TC_NONE; w->pend &= ~P_RESTORE;
		feed(w, 1, MIG_EV_TARGET_DEAD); return 1;
	case 27: if (!s_live || !w->t_alive) return 0; feed(w, 1, MIG_EV_TARGET_DEAD); return 1;   /* false suspicion */
	case 28: if (!t_live || !w->s_alive) return 0; feed(w, 0, MIG_EV_SOURCE_DEAD); return 1;
	}
	return 0;
}

/* Claims that must hold in every reachable world. */
static int safe(struct world *w)
{
	if (w->why[0])
		return 0;
	if (w->s_copy == SC_RUNNING && w->t_copy == TC_RUNNING)
		snprintf(w->why, sizeof w->why, "running twice");
	else if (w->t_copy == TC_RUNNING && w->holder != HOLD_TARGET)
		snprintf(w->why, sizeof w->why, "target runs but the directory names the source");
	else if (w->s_copy == SC_RUNNING && w->holder == HOLD_TARGET)
		snprintf(w->why, sizeof w->why, "source runs after the commit");
	else if (w->holder == HOLD_TARGET && w->t_alive && w->t_copy < TC_RESTORED)
		snprintf(w->why, sizeof w->why, "committed to a target without a copy (lost)");
	else if (w->holder != HOLD_TARGET && w->s_alive && w->s_copy == SC_NONE)
		snprintf(w->why, sizeof w->why, "source dropped its copy without a commit (lost)");
	return w->why[0] == 0;
}

/* Deliver everything, time out only when nothing else can happen, then check where it runs. */
static int settles(struct world w, char *why, size_t whylen)
{
	for (int steps = 0; steps < 200; steps++) {
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
	if ((w.s_alive && !mig_fsm_final(&w.src)) || (w.t_alive && !mig_fsm_final(&w.tgt)))
		bad = "did not finish";
	else if (w.holder == HOLD_TARGET && w.t_alive && w.t_copy != TC_RUNNING)
		bad = "committed but not running on the target";
	else if (w.holder == HOLD_TARGET && w.s_copy != SC_NONE)
		bad = "committed but the source kept its copy";
	else if (w.holder != HOLD_TARGET && w.s_alive && w.s_copy != SC_RUNNING)
		bad = "aborted but not running on the source";
	else if (w.holder != HOLD_TARGET && w.t_copy != TC_NONE)
		bad = "aborted but the target kept its copy";
	if (bad)
		snprintf(why, whylen, "%s (src %s, tgt %s)", bad, mig_state_name(w.src.state),
		         mig_state_name(w.tgt.state));
	return bad == NULL;
}

static struct world world_new(void)
{
	struct world w;
	memset(&w, 0, sizeof w);
	mig_fsm_init(&w.src, MIG_ROLE_SOURCE);
	mig_fsm_init(&w.tgt, MIG_ROLE_TARGET);
	w.s_alive = w.t_alive = 1;
	w.s_copy = SC_RUNNING;
	w.holder = HOLD_SOURCE;
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
	k = k << 2 | (unsigned)w->holder;
	k = k << 12 | w->pend;
	return k + 1;   /* 0 marks an empty slot */
}

#define SEEN_BITS 18
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
	size_t qcap = 1 << 16, qhead = 0, qtail = 0;
	struct world *queue = malloc(qcap * sizeof *queue);
	assert_non_null(seen);
	assert_non_null(queue);
	queue[qtail++] = world_new();
	seen_insert(seen, pack(&queue[0]));
	size_t transitions = 0, committed = 0, aborted = 0;
	while (qhead < qtail) {
		struct world w = queue[qhead++];
		char why[200];
		if (!safe(&w))
			fail_msg("unsafe world: %s (src %s, tgt %s)", w.why, mig_state_name(w.src.state),
			         mig_state_name(w.tgt.state));
		if (!settles(w, why, sizeof why))
			fail_msg("from src %s tgt %s holder %d pend %#x: %s", mig_state_name(w.src.state),
			         mig_state_name(w.tgt.state), w.holder, w.pend, why);
		committed += w.src.state == MIG_S_COMMITTED;
		aborted += w.src.state == MIG_S_ABORTED;
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
	print_message("explored %zu worlds, %zu transitions (%zu committed, %zu aborted)\n",
	              qtail, transitions, committed, aborted);
	assert_true(committed > 0 && aborted > 0);   /* both outcomes are reachable */
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
	mig_fsm_init(&s, MIG_ROLE_SOURCE);
	mig_fsm_init(&t, MIG_ROLE_TARGET);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_START), MIG_A_SYNC_PEERS);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_PEER_SYNCED), MIG_A_FREEZE);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_FROZEN), MIG_A_SEND_STREAM);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_TRANSFER_DONE), 0);
	assert_int_equal(s.state, MIG_S_AWAIT_CONFIRM);
	assert_int_equal(mig_fsm_step(&t, MIG_EV_TRANSFER_DONE), MIG_A_RESTORE);
	assert_int_equal(mig_fsm_step(&t, MIG_EV_RESTORE_OK), MIG_A_SEND_CONFIRM);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_CONFIRM_RECEIVED), MIG_A_DIRECTORY_MOVE);
	assert_int_equal(mig_fsm_step(&s, MIG_EV_DIRECTORY_MOVED),
	                 MIG_A_KILL_SOURCE | MIG_A_SEND_COMMIT | MIG_A_FLUSH_PEERS);
	assert_int_equal(mig_fsm_step(&t, MIG_EV_COMMIT_RECEIVED), MIG_A_START_TARGET | MIG_A_FLUSH_PEERS);
	assert_true(mig_fsm_final(&s) && mig_fsm_final(&t));
	/* Final states ignore everything. */
	for (int e = 0; e < MIG_EVENT_COUNT; e++) {
		assert_int_equal(mig_fsm_step(&s, (enum mig_event)e), 0);
		assert_int_equal(mig_fsm_step(&t, (enum mig_event)e), 0);
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
			mig_fsm_init(&s, MIG_ROLE_SOURCE);
			for (size_t k = 0; k < phase; k++)
				mig_fsm_step(&s, path[k]);
			unsigned a = mig_fsm_step(&s, fails[f]);
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
	mig_fsm_init(&t, MIG_ROLE_TARGET);
	mig_fsm_step(&t, MIG_EV_TRANSFER_DONE);
	mig_fsm_step(&t, MIG_EV_RESTORE_OK);
	assert_int_equal(mig_fsm_step(&t, MIG_EV_SOURCE_DEAD), MIG_A_DIRECTORY_MOVE);
	assert_int_equal(mig_fsm_step(&t, MIG_EV_DIRECTORY_MOVED), MIG_A_START_TARGET | MIG_A_FLUSH_PEERS);
}

static void names_are_complete(void **state)
{
	(void)state;
	for (int s = 0; s < MIG_STATE_COUNT; s++)
		assert_string_not_equal(mig_state_name((enum mig_state)s), "?");
	for (int e = 0; e < MIG_EVENT_COUNT; e++)
		assert_string_not_equal(mig_event_name((enum mig_event)e), "?");
	for (unsigned b = 0; b < MIG_ACTION_BITS; b++)
		assert_non_null(mig_action_name(1u << b));
	assert_null(mig_action_name(3));
	struct mig_fsm m;
	mig_fsm_init(&m, MIG_ROLE_SOURCE);
	assert_int_equal(mig_fsm_step(&m, MIG_EVENT_COUNT), 0);
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
