/* test_host_netem.c: unit tests for caphostd's test-only fault injection: the spec parser, the verdicts' rates and determinism, the timer queue. */
#include "hosts/caphostd/netem.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void parse_good(void **state)
{
	(void)state;
	struct netem_spec s;
	char err[200], text[NETEM_SPEC_MAX];
	assert_int_equal(netem_parse("loss=5,dup=2,reorder=5,delay=0-10", &s, err, sizeof err), 0);
	assert_int_equal(s.loss, 500);
	assert_int_equal(s.dup, 200);
	assert_int_equal(s.reorder, 500);
	assert_int_equal(s.delay_min_ms, 0);
	assert_int_equal(s.delay_max_ms, 10);
	netem_format(&s, text, sizeof text);
	assert_string_equal(text, "loss=5,dup=2,reorder=5,delay=0-10");

	/* any order, any subset; decimals; a single delay */
	assert_int_equal(netem_parse("delay=7,loss=0.25", &s, err, sizeof err), 0);
	assert_int_equal(s.loss, 25);
	assert_int_equal(s.dup, 0);
	assert_int_equal(s.delay_min_ms, 7);
	assert_int_equal(s.delay_max_ms, 7);
	netem_format(&s, text, sizeof text);
	assert_string_equal(text, "loss=0.25,dup=0,reorder=0,delay=7-7");
	assert_int_equal(netem_parse("loss=100", &s, err, sizeof err), 0);
	assert_int_equal(s.loss, 10000);
	assert_int_equal(netem_parse("dup=100.0,reorder=0.5", &s, err, sizeof err), 0);
	assert_int_equal(s.dup, 10000);
	assert_int_equal(s.reorder, 50);
	assert_int_equal(netem_parse("delay=10000-10000", &s, err, sizeof err), 0);
	assert_int_equal(s.delay_max_ms, 10000);
}

static void parse_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "loss", "loss=", "loss=5,", ",loss=5", "loss=5,,dup=1", "loss=101", "loss=100.01",
		"loss=-1", "loss=5%", "loss=5.", "loss=.5", "loss=0.125", "loss= 5", "LOSS=5",
		"jitter=5", "loss=5,loss=6", "delay=10-5", "delay=-5", "delay=5-", "delay=10001",
		"delay=1-2-3", "delay=a", "delay=0-10,delay=1", "dup=2;reorder=5", "loss=5 ",
		"loss=1,dup=1,reorder=1,delay=1-1,loss=1",
	};
	struct netem_spec s;
	char err[200];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err[0] = 0;
		if (netem_parse(bad[i], &s, err, sizeof err) != -1)
			fail_msg("accepted %s", bad[i]);
		/* one line saying why */
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	char big[NETEM_SPEC_MAX + 8];
	memset(big, '1', sizeof big - 1);
	memcpy(big, "loss=", 5);
	big[sizeof big - 1] = 0;
	assert_int_equal(netem_parse(big, &s, err, sizeof err), -1);
	assert_int_equal(netem_parse(NULL, &s, err, sizeof err), -1);
}

/* Observed rates within a few standard deviations of the spec, over 200000 packets. */
static void verdict_rates(void **state)
{
	(void)state;
	struct netem_spec s;
	char err[200];
	assert_int_equal(netem_parse("loss=5,dup=2,reorder=5,delay=3-9", &s, err, sizeof err), 0);
	struct netem_rng r;
	netem_rng_seed(&r, 42);
	unsigned lost = 0, dup = 0, reord = 0, n = 200000;
	for (unsigned i = 0; i < n; i++) {
		struct netem_verdict v;
		netem_decide(&s, &r, &v);
		if (v.lost) {
			assert_int_equal(v.copies, 0);
			lost++;
			continue;
		}
		assert_true(v.copies == 1 || v.copies == 2);
		dup += v.copies == 2;
		reord += v.reordered;
		uint32_t extra = v.reordered ? NETEM_REORDER_MS : 0;
		assert_in_range(v.delay_ms[0], 3 + (v.reordered ? 1 : 0), 9 + extra);
		if (v.copies == 2)
			assert_in_range(v.delay_ms[1], 3, 9);
	}
	assert_in_range(lost, n * 5 / 100 - 600, n * 5 / 100 + 600);
	unsigned kept = n - lost;
	assert_in_range(dup, kept * 2 / 100 - 400, kept * 2 / 100 + 400);
	assert_in_range(reord, kept * 5 / 100 - 600, kept * 5 / 100 + 600);

	/* no faults: every packet once, at once */
	memset(&s, 0, sizeof s);
	for (unsigned i = 0; i < 1000; i++) {
		struct netem_verdict v;
		netem_decide(&s, &r, &v);
		assert_int_equal(v.lost, 0);
		assert_int_equal(v.copies, 1);
		assert_int_equal(v.delay_ms[0], 0);
		assert_int_equal(v.reordered, 0);
	}
}

/* The same seed gives the same verdicts; packet N's fate does not depend on earlier outcomes. */
static void verdict_replay(void **state)
{
	(void)state;
	struct netem_spec a, b;
	char err[200];
	assert_int_equal(netem_parse("loss=30,dup=30,reorder=30,delay=0-50", &a, err, sizeof err), 0);
	assert_int_equal(netem_parse("loss=1", &b, err, sizeof err), 0);
	struct netem_rng r1, r2, r3;
	netem_rng_seed(&r1, 7);
	netem_rng_seed(&r2, 7);
	netem_rng_seed(&r3, 8);
	int differs = 0;
	for (int i = 0; i < 1000; i++) {
		struct netem_verdict v1, v2, v3;
		netem_decide(&a, &r1, &v1);
		netem_decide(&a, &r2, &v2);
		netem_decide(&a, &r3, &v3);
		assert_memory_equal(&v1, &v2, sizeof v1);
		differs |= memcmp(&v1, &v3, sizeof v1) != 0;
	}
	assert_true(differs);
	/* six draws per packet whatever the spec: generators stay in step */
	netem_rng_seed(&r1, 9);
	netem_rng_seed(&r2, 9);
	for (int i = 0; i < 100; i++) {
		struct netem_verdict v;
		netem_decide(&a, &r1, &v);
		netem_decide(&b, &r2, &v);
	}
	assert_true(netem_rng_next(&r1) == netem_rng_next(&r2));
}

static void queue_order(void **state)
{
	(void)state;
	struct netem_queue q;
	struct netem_item it;
	assert_int_equal(netem_queue_init(&q, 64, 1 << 20), 0);
	assert_int_equal(netem_queue_wait(&q, 100), -1);
	assert_int_equal(netem_queue_pop_due(&q, 1000, &it), 0);
	/* due times out of order, some equal: earliest first, equal ones in push order */
	static const uint64_t due[] = { 50, 10, 30, 10, 70, 30, 10, 5 };
	for (size_t i = 0; i < sizeof due / sizeof *due; i++) {
		uint8_t b = (uint8_t)i;
		assert_int_equal(netem_queue_push(&q, due[i], (int)i, 0x0a000001u + (uint32_t)i,
		                                  (uint16_t)(7000 + i), &b, 1), 0);
	}
	assert_int_equal(netem_queue_wait(&q, 0), 5);
	assert_int_equal(netem_queue_wait(&q, 6), 0);
	assert_int_equal(netem_queue_pop_due(&q, 4, &it), 0);   /* nothing due yet */
	static const int want[] = { 7, 1, 3, 6, 2, 5, 0, 4 };
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		assert_int_equal(netem_queue_pop_due(&q, 1000, &it), 1);
		assert_int_equal(it.kind, want[i]);
		assert_int_equal(it.len, 1);
		assert_int_equal(it.data[0], want[i]);
		assert_int_equal(it.addr, 0x0a000001u + (uint32_t)want[i]);
		assert_int_equal(it.port, 7000 + want[i]);
		free(it.data);
	}
	assert_int_equal(q.n, 0);
	assert_int_equal(q.bytes, 0);
	/* only what is due comes out */
	uint8_t x[3] = { 1, 2, 3 };
	netem_queue_push(&q, 200, 1, 0, 0, x, 3);
	netem_queue_push(&q, 100, 2, 0, 0, x, 2);
	assert_int_equal(netem_queue_pop_due(&q, 150, &it), 1);
	assert_int_equal(it.kind, 2);
	free(it.data);
	assert_int_equal(netem_queue_pop_due(&q, 150, &it), 0);
	assert_int_equal(netem_queue_wait(&q, 150), 50);
	netem_queue_free(&q);   /* frees what is left */
}

static void queue_bounds(void **state)
{
	(void)state;
	struct netem_queue q;
	uint8_t pkt[1000] = { 0 };
	assert_int_equal(netem_queue_init(&q, 4, 2500), 0);
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 1000), 0);
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 1000), 0);
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 1000), -1);   /* bytes */
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 100), 0);
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 0), 0);
	assert_int_equal(netem_queue_push(&q, 1, 0, 0, 0, pkt, 0), -1);      /* items */
	netem_queue_free(&q);

	/* a model check: random pushes and pops always come out sorted by (due, push order) */
	assert_int_equal(netem_queue_init(&q, 512, 1 << 20), 0);
	struct netem_rng r;
	netem_rng_seed(&r, 1);
	uint64_t now = 0, last_due = 0, last_order = 0;
	int have_last = 0;
	for (int step = 0; step < 20000; step++) {
		if (netem_rng_next(&r) % 3 && q.n < 512) {
			uint8_t b = 0;
			assert_int_equal(netem_queue_push(&q, now + netem_rng_next(&r) % 40, 0, 0, 0, &b, 1), 0);
		} else {
			now += netem_rng_next(&r) % 5;
			struct netem_item it;
			while (netem_queue_pop_due(&q, now, &it)) {
				assert_true(it.due_ms <= now);
				if (have_last)
					assert_true(it.due_ms > last_due ||
					            (it.due_ms == last_due && it.order > last_order));
				last_due = it.due_ms;
				last_order = it.order;
				have_last = 1;
				free(it.data);
			}
			have_last = 0;   /* later pushes may be due earlier than what left before */
		}
	}
	netem_queue_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good),
		cmocka_unit_test(parse_bad),
		cmocka_unit_test(verdict_rates),
		cmocka_unit_test(verdict_replay),
		cmocka_unit_test(queue_order),
		cmocka_unit_test(queue_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
