/* test_host_dirdb.c: the directory's SQLite state: allocation, moves and epochs, refusals, persistence across reopen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts/capdird/dirdb.h"

#define NET  0xc6120000u      /* 198.18.0.0 */
#define IP(n) (NET + (n))

struct fixture {
	char dir[64];
	char path[96];
	struct dir_db *db;
};

static struct dir_db *open_db(struct fixture *f, uint32_t net, int prefix)
{
	char err[256];
	struct dir_db *db = NULL;
	assert_int_equal(dirdb_open(f->path, net, prefix, &db, err, sizeof err), 0);
	assert_int_equal(dirdb_begin(db), 0);
	for (uint32_t h = 1; h <= 3; h++)
		assert_int_equal(dirdb_host_ensure(db, h), 0);
	assert_int_equal(dirdb_commit(db), 0);
	return db;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_dirdb.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/dir.db", f->dir);
	f->db = open_db(f, NET, 16);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];
	dirdb_close(f->db);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* One transaction around one call, as the server does it. */
static int create(struct dir_db *db, uint32_t host, const char *name, uint32_t want, uint32_t *ip)
{
	struct dir_entry e;
	assert_int_equal(dirdb_begin(db), 0);
	int rc = dirdb_create(db, host, name, want, &e);
	assert_int_equal(dirdb_commit(db), 0);
	if (rc == 0) {
		assert_int_equal(e.epoch, 1);
		assert_int_equal(e.host_id, host);
		assert_string_equal(e.name, name);
		*ip = e.ip;
	}
	return rc;
}

static int move(struct dir_db *db, uint32_t who, uint32_t ip, uint32_t to, uint32_t expect,
                uint32_t *epoch)
{
	struct dir_entry e;
	assert_int_equal(dirdb_begin(db), 0);
	int rc = dirdb_move(db, who, ip, to, expect, &e, epoch);
	assert_int_equal(dirdb_commit(db), 0);
	return rc;
}

static void test_allocate(void **state)
{
	struct fixture *f = *state;
	uint32_t ip;
	assert_int_equal(create(f->db, 1, "a", 0, &ip), 0);
	assert_int_equal(ip, IP(2));                    /* .0 network, .1 gateway skipped */
	assert_int_equal(create(f->db, 1, "b", 0, &ip), 0);
	assert_int_equal(ip, IP(3));
	assert_int_equal(create(f->db, 2, "c", IP(4), &ip), 0);
	assert_int_equal(ip, IP(4));
	assert_int_equal(create(f->db, 1, "d", 0, &ip), 0);
	assert_int_equal(ip, IP(5));                    /* skips the requested .4 */
	assert_int_equal(create(f->db, 1, "e", IP(4), &ip), DIR_E_IP_IN_USE);
	assert_int_equal(create(f->db, 1, "e", IP(1), &ip), DIR_E_BAD_REQUEST);   /* gateway */
	assert_int_equal(create(f->db, 1, "e", IP(0), &ip), DIR_E_BAD_REQUEST);   /* network */
	assert_int_equal(create(f->db, 1, "e", 0, &ip), 0);                       /* 0 = any */
	assert_int_equal(ip, IP(6));
	assert_int_equal(create(f->db, 1, "e", IP(0xffff), &ip), DIR_E_BAD_REQUEST); /* broadcast */
	assert_int_equal(create(f->db, 1, "e", 0xc6130005, &ip), DIR_E_BAD_REQUEST); /* outside */
	assert_int_equal(create(f->db, 1, "bad name", 0, &ip), DIR_E_BAD_REQUEST);
	struct dir_entry e;
	assert_int_equal(dirdb_lookup(f->db, IP(4), &e), 0);
	assert_int_equal(e.host_id, 2);
	assert_string_equal(e.name, "c");
	assert_int_equal(dirdb_lookup(f->db, IP(9), &e), DIR_E_NOT_FOUND);
}

static void test_no_free_ip_and_round_robin(void **state)
{
	struct fixture *f = *state;
	dirdb_close(f->db);
	unlink(f->path);
	f->db = open_db(f, IP(0x500), 29);       /* .0 net .1 gw .7 bcast: .2-.6 usable */
	uint32_t ip, first = 0;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(create(f->db, 1, "x", 0, &ip), 0);
		if (!i)
			first = ip;
	}
	assert_int_equal(first, IP(0x502));
	assert_int_equal(ip, IP(0x506));
	assert_int_equal(create(f->db, 1, "x", 0, &ip), DIR_E_NO_FREE_IP);
	uint32_t epoch;
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_release(f->db, 1, IP(0x503), 1, &epoch), 0);
	assert_int_equal(dirdb_release(f->db, 1, IP(0x505), 1, &epoch), 0);
	assert_int_equal(dirdb_commit(f->db), 0);
	assert_int_equal(create(f->db, 1, "y", 0, &ip), 0);
	assert_int_equal(ip, IP(0x503));         /* wrapped around: the oldest hole first */
	assert_int_equal(create(f->db, 1, "y", 0, &ip), 0);
	assert_int_equal(ip, IP(0x505));
	assert_int_equal(create(f->db, 1, "y", 0, &ip), DIR_E_NO_FREE_IP);
}

static void test_move_epochs(void **state)
{
	struct fixture *f = *state;
	uint32_t ip, epoch = 0;
	assert_int_equal(create(f->db, 1, "m", 0, &ip), 0);
	assert_int_equal(move(f->db, 1, ip, 2, 1, &epoch), 0);       /* the holder pushes */
	assert_int_equal(epoch, 2);
	assert_int_equal(move(f->db, 3, ip, 3, 2, &epoch), 0);       /* the destination pulls */
	assert_int_equal(epoch, 3);
	assert_int_equal(move(f->db, 2, ip, 1, 3, &epoch), DIR_E_NOT_AUTHORIZED);   /* a bystander */
	assert_int_equal(epoch, 3);
	assert_int_equal(move(f->db, 3, ip, 1, 2, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(epoch, 3);
	assert_int_equal(move(f->db, 3, ip, 99, 3, &epoch), DIR_E_BAD_REQUEST);     /* unknown host */
	assert_int_equal(move(f->db, 3, IP(200), 1, 1, &epoch), DIR_E_NOT_FOUND);
	struct dir_entry e;
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.host_id, 3);
	assert_int_equal(e.epoch, 3);
	/* release: only the holder, only with the current epoch */
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_release(f->db, 1, ip, 3, &epoch), DIR_E_NOT_AUTHORIZED);
	assert_int_equal(dirdb_release(f->db, 3, ip, 2, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(dirdb_release(f->db, 3, ip, 3, &epoch), 0);
	assert_int_equal(dirdb_commit(f->db), 0);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), DIR_E_NOT_FOUND);
}

/* The FENCE (MOVE to the holder itself) and the MOVE of one migration race at
 * epoch e: whichever comes first wins, the other is STALE naming the winner. */
static void test_fence(void **state)
{
	struct fixture *f = *state;
	uint32_t ip, ip2, epoch = 0;
	struct dir_entry e;
	assert_int_equal(create(f->db, 1, "f", 0, &ip), 0);
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_set_state(f->db, 1, ip, 1, DIR_STATE_FROZEN, &e, &epoch), 0);
	assert_int_equal(dirdb_commit(f->db), 0);
	/* only the holder may fence, only at the current epoch */
	assert_int_equal(move(f->db, 2, ip, 1, 1, &epoch), DIR_E_NOT_AUTHORIZED);
	assert_int_equal(move(f->db, 1, ip, 1, 7, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(epoch, 1);
	/* source fences first: epoch 2, same holder, state reset as for a move */
	assert_int_equal(move(f->db, 1, ip, 1, 1, &epoch), 0);
	assert_int_equal(epoch, 2);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.host_id, 1);
	assert_int_equal(e.epoch, 2);
	assert_int_equal(e.state, DIR_STATE_UNKNOWN);
	/* a second fence at the old epoch, and the target's late pull at it, are STALE */
	assert_int_equal(move(f->db, 1, ip, 1, 1, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(epoch, 2);
	assert_int_equal(move(f->db, 2, ip, 2, 1, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(epoch, 2);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.host_id, 1);                              /* names the source */
	/* the other order: the move wins, the late fence at the old epoch is STALE */
	assert_int_equal(create(f->db, 1, "g", 0, &ip2), 0);
	assert_int_equal(move(f->db, 1, ip2, 2, 1, &epoch), 0);
	assert_int_equal(epoch, 2);
	assert_int_equal(move(f->db, 1, ip2, 1, 1, &epoch), DIR_E_STALE_EPOCH);
	assert_int_equal(epoch, 2);
	assert_int_equal(dirdb_lookup(f->db, ip2, &e), 0);
	assert_int_equal(e.host_id, 2);                              /* names the target */
	assert_int_equal(e.epoch, 2);
	/* the new holder can fence in turn; a bystander cannot */
	assert_int_equal(move(f->db, 3, ip2, 2, 2, &epoch), DIR_E_NOT_AUTHORIZED);
	assert_int_equal(move(f->db, 2, ip2, 2, 2, &epoch), 0);
	assert_int_equal(epoch, 3);
}

static void test_rollback_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e;
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_create(f->db, 1, "gone", IP(77), &e), 0);
	dirdb_rollback(f->db);
	assert_int_equal(dirdb_lookup(f->db, IP(77), &e), DIR_E_NOT_FOUND);
}

static void test_locator_subscriptions_list(void **state)
{
	struct fixture *f = *state;
	uint32_t ip;
	for (int i = 0; i < 25; i++)
		assert_int_equal(create(f->db, 1 + (uint32_t)i % 2, "l", 0, &ip), 0);
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_host_set_locator(f->db, 2, 0xc6130002, 7471), 0);
	assert_int_equal(dirdb_subscribe(f->db, IP(3), 1), 0);
	assert_int_equal(dirdb_subscribe(f->db, IP(3), 3), 0);
	assert_int_equal(dirdb_subscribe(f->db, IP(3), 3), 0);   /* idempotent */
	assert_int_equal(dirdb_commit(f->db), 0);
	uint32_t subs[8];
	size_t n;
	assert_int_equal(dirdb_subscribers(f->db, IP(3), subs, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(subs[0], 1);
	assert_int_equal(subs[1], 3);
	struct dir_entry e[DIR_LIST_MAX];
	uint32_t cursor = 0, next, seen = 0, expect = IP(2);
	do {
		assert_int_equal(dirdb_list(f->db, cursor, e, DIR_LIST_MAX, &n, &next), 0);
		for (size_t i = 0; i < n; i++, seen++) {
			assert_int_equal(e[i].ip, expect++);
			if (e[i].host_id == 2) {
				assert_int_equal(e[i].host_addr, 0xc6130002);   /* joined from hosts */
				assert_int_equal(e[i].data_port, 7471);
			}
		}
		cursor = next;
	} while (cursor);
	assert_int_equal(seen, 25);
}

static void test_persist_across_reopen(void **state)
{
	struct fixture *f = *state;
	uint32_t ip, epoch;
	uint8_t digest[DIR_DIGEST_LEN] = { 1, 2, 3 }, body[64], type = 0;
	size_t len = 0;
	uint64_t counters[DIR_S_COUNT] = { 0 };
	counters[DIR_S_DROP_REPLAY] = 17;
	counters[DIR_S_CREATES] = 0x123456789ULL;
	assert_int_equal(create(f->db, 1, "keep", 0, &ip), 0);
	assert_int_equal(move(f->db, 1, ip, 2, 1, &epoch), 0);
	assert_int_equal(dirdb_begin(f->db), 0);
	assert_int_equal(dirdb_host_set_seq(f->db, 2, 0xfedcba9876543210ULL, 0x7f000001, 4000), 0);
	assert_int_equal(dirdb_reply_put(f->db, 2, 55, digest, DIR_T_MOVED, (const uint8_t *)"reply", 5), 0);
	assert_int_equal(dirdb_counters_save(f->db, counters, DIR_S_COUNT), 0);
	assert_int_equal(dirdb_commit(f->db), 0);
	dirdb_close(f->db);

	f->db = open_db(f, NET, 16);
	struct dir_entry e;
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.host_id, 2);
	assert_int_equal(e.epoch, 2);
	assert_string_equal(e.name, "keep");
	struct dir_host h;
	assert_int_equal(dirdb_host_get(f->db, 2, &h), 0);
	assert_true(h.last_seq == 0xfedcba9876543210ULL);   /* full 64 bits survive */
	assert_int_equal(h.ctl_addr, 0x7f000001);
	assert_int_equal(h.ctl_port, 4000);
	assert_int_equal(dirdb_host_get(f->db, 9, &h), DIR_E_NOT_FOUND);
	assert_int_equal(dirdb_reply_get(f->db, 2, 55, digest, &type, body, sizeof body, &len), 1);
	assert_int_equal(type, DIR_T_MOVED);
	assert_int_equal(len, 5);
	assert_memory_equal(body, "reply", 5);
	digest[0] ^= 1;   /* same request id, different request: no cached answer */
	assert_int_equal(dirdb_reply_get(f->db, 2, 55, digest, &type, body, sizeof body, &len), 0);
	assert_int_equal(dirdb_reply_get(f->db, 2, 56, digest, &type, body, sizeof body, &len), 0);
	uint64_t loaded[DIR_S_COUNT];
	assert_int_equal(dirdb_counters_load(f->db, loaded, DIR_S_COUNT), 0);
	assert_memory_equal(loaded, counters, sizeof counters);
	/* the allocation cursor persisted too: the next address is new */
	assert_int_equal(create(f->db, 1, "next", 0, &ip), 0);
	assert_int_equal(ip, IP(3));
}

static int set_state(struct dir_db *db, uint32_t who, uint32_t ip, uint32_t epoch, int state,
                     uint32_t *cur)
{
	struct dir_entry e;
	assert_int_equal(dirdb_begin(db), 0);
	int rc = dirdb_set_state(db, who, ip, epoch, state, &e, cur);
	assert_int_equal(dirdb_commit(db), 0);
	if (rc == 0)
		assert_int_equal(e.state, state);
	return rc;
}

/* STATE: only the holder at the current epoch; a MOVE resets it; it persists. */
static void test_state(void **state)
{
	struct fixture *f = *state;
	uint32_t ip, epoch = 0, cur = 0;
	struct dir_entry e;
	assert_int_equal(create(f->db, 1, "s", 0, &ip), 0);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.state, DIR_STATE_UNKNOWN);
	assert_int_equal(set_state(f->db, 1, ip, 1, DIR_STATE_RUNNING, &cur), 0);
	assert_int_equal(set_state(f->db, 2, ip, 1, DIR_STATE_SAVED, &cur), DIR_E_NOT_AUTHORIZED);
	assert_int_equal(cur, 1);
	assert_int_equal(set_state(f->db, 1, ip, 2, DIR_STATE_SAVED, &cur), DIR_E_STALE_EPOCH);
	assert_int_equal(set_state(f->db, 1, ip, 1, DIR_STATE_UNKNOWN, &cur), DIR_E_BAD_REQUEST);
	assert_int_equal(set_state(f->db, 1, IP(250), 1, DIR_STATE_RUNNING, &cur), DIR_E_NOT_FOUND);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.state, DIR_STATE_RUNNING);   /* the refusals changed nothing */
	assert_int_equal(set_state(f->db, 1, ip, 1, DIR_STATE_SAVED, &cur), 0);
	assert_int_equal(move(f->db, 2, ip, 2, 1, &epoch), 0);      /* resumed on host 2 */
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.state, DIR_STATE_UNKNOWN);
	/* the old holder's late report is refused: it no longer holds it */
	assert_int_equal(set_state(f->db, 1, ip, 1, DIR_STATE_FROZEN, &cur), DIR_E_NOT_AUTHORIZED);
	assert_int_equal(cur, 2);
	assert_int_equal(set_state(f->db, 2, ip, 2, DIR_STATE_FROZEN, &cur), 0);
	dirdb_close(f->db);
	f->db = open_db(f, NET, 16);
	assert_int_equal(dirdb_lookup(f->db, ip, &e), 0);
	assert_int_equal(e.state, DIR_STATE_FROZEN);
	assert_int_equal(e.epoch, 2);
}

/* A database made before capsule states existed gets the column on open. */
static void test_migrate_old_schema(void **state)
{
	struct fixture *f = *state;
	char err[256], cmd[512];
	dirdb_close(f->db);
	f->db = NULL;
	unlink(f->path);
	snprintf(cmd, sizeof cmd,
	         "sqlite3 '%s' \"CREATE TABLE capsules(ip INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	         " host_id INTEGER NOT NULL, epoch INTEGER NOT NULL);"
	         " INSERT INTO capsules VALUES(%u, 'old', 1, 4);\"", f->path, IP(7));
	if (system(cmd) != 0)
		skip();   /* no sqlite3 command-line tool */
	f->db = open_db(f, NET, 16);
	struct dir_entry e;
	uint32_t cur;
	assert_int_equal(dirdb_lookup(f->db, IP(7), &e), 0);
	assert_string_equal(e.name, "old");
	assert_int_equal(e.epoch, 4);
	assert_int_equal(e.state, DIR_STATE_UNKNOWN);
	assert_int_equal(set_state(f->db, 1, IP(7), 4, DIR_STATE_SAVED, &cur), 0);
	dirdb_close(f->db);
	assert_int_equal(dirdb_open(f->path, NET, 16, &f->db, err, sizeof err), 0);   /* twice: idempotent */
	assert_int_equal(dirdb_lookup(f->db, IP(7), &e), 0);
	assert_int_equal(e.state, DIR_STATE_SAVED);
}

static void test_other_network_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct dir_db *db = NULL;
	assert_int_equal(dirdb_open(f->path, 0xc6120000, 24, &db, err, sizeof err), DIR_DB_FAIL);
	assert_non_null(strstr(err, "made for network 198.18.0.0/16"));
	assert_int_equal(dirdb_open(f->path, 0xc6120000, 31, &db, err, sizeof err), DIR_DB_FAIL);
	assert_int_equal(dirdb_open("/nonexistent/dir/x.db", NET, 16, &db, err, sizeof err), DIR_DB_FAIL);
	assert_non_null(strstr(err, "/nonexistent/dir/x.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_allocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_free_ip_and_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_epochs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locator_subscriptions_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_network_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_old_schema, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
