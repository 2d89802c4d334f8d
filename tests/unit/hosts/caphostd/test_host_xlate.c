/* test_host_xlate.c: unit tests for the translation table (epoch ordering, hashing, delete) and the redirect rule. */
#include "hosts/caphostd/xlate.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#define SELF 1

static uint32_t ip(unsigned a, unsigned b)
{
	return htonl(198u << 24 | 18u << 16 | a << 8 | b);
}

static struct xlate_entry remote(uint32_t cip, uint32_t host, uint32_t epoch)
{
	struct xlate_entry e = { .capsule_ip = cip, .host_id = host, .locator_ip = htonl(0xc6130000u | host),
	                         .port = 7471, .state = XLATE_REMOTE, .epoch = epoch };
	return e;
}

static struct xlate_entry local(uint32_t cip, uint32_t epoch, int state)
{
	struct xlate_entry e = { .capsule_ip = cip, .state = (uint8_t)state, .epoch = epoch };
	return e;
}

static void test_insert_lookup_update(void **st)
{
	(void)st;
	struct xlate_table t;
	assert_int_equal(xlate_init(&t, 16, SELF), XLATE_OK);
	struct xlate_entry e = remote(ip(0, 5), 2, 4);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	const struct xlate_entry *got = xlate_lookup(&t, ip(0, 5));
	assert_non_null(got);
	assert_int_equal(got->host_id, 2);
	assert_int_equal(got->epoch, 4);
	assert_null(xlate_lookup(&t, ip(0, 6)));
	assert_null(xlate_lookup(&t, 0));

	/* Forward in epoch: accepted.  Backward: refused and counted. */
	e = remote(ip(0, 5), 3, 5);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	e = remote(ip(0, 5), 2, 4);
	assert_int_equal(xlate_update(&t, &e), XLATE_E_STALE);
	assert_int_equal(xlate_lookup(&t, ip(0, 5))->host_id, 3);
	assert_int_equal(t.c.stale_refused, 1);
	/* Same epoch, another host: conflict.  Same epoch, same host, new locator: fine. */
	e = remote(ip(0, 5), 4, 5);
	assert_int_equal(xlate_update(&t, &e), XLATE_E_CONFLICT);
	e = remote(ip(0, 5), 3, 5);
	e.locator_ip = htonl(0xc6130063u);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 5))->locator_ip, htonl(0xc6130063u));
	/* It came back to us at epoch 6: LOCAL, host_id filled in; then frozen at the same epoch. */
	e = local(ip(0, 5), 6, XLATE_LOCAL);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 5))->host_id, SELF);
	e = local(ip(0, 5), 6, XLATE_FROZEN);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 5))->state, XLATE_FROZEN);
	/* "Unknown" at the same epoch cannot erase it; at a newer one it can. */
	e = local(ip(0, 5), 6, XLATE_UNKNOWN);
	assert_int_equal(xlate_update(&t, &e), XLATE_E_STALE);
	e.epoch = 7;
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 5))->host_id, 0);

	/* Invalid: REMOTE naming ourselves, without locator, ip 0, bad state. */
	e = remote(ip(0, 9), SELF, 1);
	assert_int_equal(xlate_update(&t, &e), XLATE_E_INVALID);
	e = remote(ip(0, 9), 2, 1);
	e.port = 0;
	assert_int_equal(xlate_update(&t, &e), XLATE_E_INVALID);
	e = remote(0, 2, 1);
	assert_int_equal(xlate_update(&t, &e), XLATE_E_INVALID);
	e = remote(ip(0, 9), 2, 1);
	e.state = 9;
	assert_int_equal(xlate_update(&t, &e), XLATE_E_INVALID);
	assert_int_equal(t.c.invalid_refused, 4);
	assert_string_equal(xlate_state_name(XLATE_FROZEN), "frozen");
	xlate_free(&t);
}

static void test_full_delete_iterate(void **st)
{
	(void)st;
	struct xlate_table t;
	assert_int_equal(xlate_init(&t, 100, SELF), XLATE_OK);
	for (unsigned i = 1; i <= 100; i++) {
		struct xlate_entry e = remote(ip(i / 256, i % 256), 2, i);
		e.last_used_ms = i;
		assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	}
	struct xlate_entry extra = remote(ip(1, 200), 2, 1);
	assert_int_equal(xlate_update(&t, &extra), XLATE_E_FULL);
	assert_int_equal(t.c.full_refused, 1);
	/* Updating an existing entry in a full table is fine. */
	struct xlate_entry again = remote(ip(0, 50), 2, 51);
	assert_int_equal(xlate_update(&t, &again), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 50))->last_used_ms, 50);   /* kept */

	/* Delete every odd one; every even one must still be found (backward shift kept probe runs intact). */
	for (unsigned i = 1; i <= 100; i += 2)
		assert_int_equal(xlate_delete(&t, ip(i / 256, i % 256)), XLATE_OK);
	assert_int_equal(xlate_delete(&t, ip(0, 1)), XLATE_E_NOTFOUND);
	assert_int_equal(t.count, 50);
	for (unsigned i = 1; i <= 100; i++) {
		const struct xlate_entry *e = xlate_lookup(&t, ip(i / 256, i % 256));
		if (i % 2)
			assert_null(e);
		else
			assert_true(e && e->epoch == (i == 50 ? 51 : i));
	}
	size_t cur = 0, seen = 0;
	const struct xlate_entry *e;
	while ((e = xlate_next(&t, &cur)) != NULL)
		seen++;
	assert_int_equal(seen, 50);

	/* Expire: REMOTE entries used before 60 go (2..58 even: 29); LOCAL ones never do. */
	struct xlate_entry l = local(ip(0, 2), 99, XLATE_LOCAL);
	assert_int_equal(xlate_update(&t, &l), XLATE_OK);
	assert_int_equal(xlate_expire(&t, 60), 28);
	assert_non_null(xlate_lookup(&t, ip(0, 2)));
	assert_null(xlate_lookup(&t, ip(0, 4)));
	assert_non_null(xlate_lookup(&t, ip(0, 60)));
	assert_int_equal(xlate_touch(&t, ip(0, 60), 1000), XLATE_OK);
	assert_int_equal(xlate_lookup(&t, ip(0, 60))->last_used_ms, 1000);
	assert_int_equal(xlate_touch(&t, ip(0, 61), 1000), XLATE_E_NOTFOUND);
	xlate_free(&t);
	assert_int_equal(xlate_init(&t, 0, SELF), XLATE_E_INVALID);
	assert_int_equal(xlate_init(&t, 4, 0), XLATE_E_INVALID);
}

/* Many deletes and inserts against a simple model: catches any probe-run corruption. */
static void test_churn_against_model(void **st)
{
	(void)st;
	struct xlate_table t;
	assert_int_equal(xlate_init(&t, 64, SELF), XLATE_OK);
	uint32_t model[512] = { 0 };   /* epoch+1 if present */
	uint32_t rng = 12345;
	for (int step = 0; step < 20000; step++) {
		rng = rng * 1103515245u + 12345u;
		unsigned k = (rng >> 8) % 512;
		uint32_t cip = ip(2 + k / 256, k % 256);
		if ((rng >> 20) & 1) {
			struct xlate_entry e = remote(cip, 2, step);
			int r = xlate_update(&t, &e);
			if (r == XLATE_OK)
				model[k] = (uint32_t)step + 1;
			else
				assert_int_equal(r, XLATE_E_FULL);
		} else {
			int r = xlate_delete(&t, cip);
			assert_int_equal(r, model[k] ? XLATE_OK : XLATE_E_NOTFOUND);
			model[k] = 0;
		}
		if (step % 997 == 0) {
			size_t n = 0;
			for (unsigned j = 0; j < 512; j++) {
				const struct xlate_entry *e = xlate_lookup(&t, ip(2 + j / 256, j % 256));
				assert_true(model[j] ? e && e->epoch + 1 == model[j] : e == NULL);
				n += model[j] != 0;
			}
			assert_int_equal(n, t.count);
		}
	}
	xlate_free(&t);
}

static void check(const struct xlate_entry *ours, uint32_t s, int action, int reply)
{
	struct xlate_decision d;
	xlate_decide(ours, s, &d);
	assert_int_equal(d.action, action);
	assert_int_equal(d.reply, reply);
	if (reply == XLATE_REPLY_ENTRY)
		assert_memory_equal(&d.info, ours, sizeof *ours);
}

static void test_redirect_decisions(void **st)
{
	(void)st;
	struct xlate_entry l = local(ip(0, 7), 5, XLATE_LOCAL);
	l.host_id = SELF;
	check(&l, 5, XLATE_DELIVER, XLATE_REPLY_NONE);
	check(&l, 4, XLATE_DELIVER, XLATE_REPLY_ENTRY);
	check(&l, 0, XLATE_DELIVER, XLATE_REPLY_ENTRY);
	check(&l, 6, XLATE_DROP, XLATE_REPLY_NONE);
	struct xlate_entry f = l;
	f.state = XLATE_FROZEN;
	check(&f, 5, XLATE_HOLD, XLATE_REPLY_NONE);
	check(&f, 3, XLATE_HOLD, XLATE_REPLY_ENTRY);
	check(&f, 9, XLATE_DROP, XLATE_REPLY_NONE);
	struct xlate_entry r = remote(ip(0, 7), 2, 5);
	check(&r, 4, XLATE_DROP, XLATE_REPLY_ENTRY);
	check(&r, 5, XLATE_DROP, XLATE_REPLY_UNKNOWN);
	check(&r, 6, XLATE_DROP, XLATE_REPLY_UNKNOWN);
	struct xlate_entry u = local(ip(0, 7), 5, XLATE_UNKNOWN);
	check(&u, 1, XLATE_DROP, XLATE_REPLY_UNKNOWN);
	check(NULL, 1, XLATE_DROP, XLATE_REPLY_UNKNOWN);

	/* Through the table, with counters: a capsule that moved away gets redirects, never forwarding. */
	struct xlate_table t;
	assert_int_equal(xlate_init(&t, 8, SELF), XLATE_OK);
	struct xlate_entry e = local(ip(0, 7), 5, XLATE_LOCAL);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	struct xlate_decision d;
	xlate_route_in(&t, ip(0, 7), 5, &d);
	assert_int_equal(d.action, XLATE_DELIVER);
	e = remote(ip(0, 7), 2, 6);   /* it moved to host 2 */
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	xlate_route_in(&t, ip(0, 7), 5, &d);
	assert_int_equal(d.action, XLATE_DROP);
	assert_int_equal(d.reply, XLATE_REPLY_ENTRY);
	assert_int_equal(d.info.host_id, 2);
	assert_int_equal(d.info.epoch, 6);
	xlate_route_in(&t, ip(0, 8), 1, &d);
	assert_int_equal(d.reply, XLATE_REPLY_UNKNOWN);
	e = local(ip(0, 9), 3, XLATE_LOCAL);
	assert_int_equal(xlate_update(&t, &e), XLATE_OK);
	xlate_route_in(&t, ip(0, 9), 4, &d);
	assert_int_equal(d.action, XLATE_DROP);
	assert_true(t.c.delivered == 1 && t.c.redirected == 1 && t.c.redirected_unknown == 1 &&
	            t.c.dropped_epoch_ahead == 1);
	xlate_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup_update),
		cmocka_unit_test(test_full_delete_iterate),
		cmocka_unit_test(test_churn_against_model),
		cmocka_unit_test(test_redirect_decisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
