/* test_host_dirdb_etcd_val.c: the etcd store's values (dirdb_etcd.h): exact text, round trips, malformed values refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hosts/capdird/dirdb_etcd.h"

static void test_cap_text_and_round_trip(void **state)
{
	(void)state;
	struct dir_entry e = { .ip = 0xC6120002, .host_id = 3, .epoch = 7, .state = DIR_STATE_FROZEN };
	strcpy(e.name, "web-1.a");
	char v[DIRDB_ETCD_CAP_VAL_MAX];
	dirdb_etcd_cap_format(&e, v, sizeof v);
	assert_string_equal(v, "host=3 epoch=7 state=2 name=web-1.a");
	struct dir_entry back;
	assert_int_equal(dirdb_etcd_cap_parse(v, e.ip, &back), 0);
	assert_int_equal(back.ip, e.ip);
	assert_int_equal(back.host_id, 3);
	assert_int_equal(back.epoch, 7);
	assert_int_equal(back.state, DIR_STATE_FROZEN);
	assert_string_equal(back.name, "web-1.a");
	/* the longest value fits */
	memset(e.name, 'n', DIR_NAME_MAX - 1);
	e.name[DIR_NAME_MAX - 1] = 0;
	e.host_id = e.epoch = UINT32_MAX;
	dirdb_etcd_cap_format(&e, v, sizeof v);
	assert_int_equal(dirdb_etcd_cap_parse(v, e.ip, &back), 0);
	assert_string_equal(back.name, e.name);
}

static void test_cap_malformed(void **state)
{
	(void)state;
	struct dir_entry e;
	static const char *const bad[] = {
		"", "host=1 epoch=1 state=0", "host=1 epoch=1 state=0 name=", "host=1 epoch=1 name=a",
		"host=0 epoch=1 state=0 name=a", "host=1 epoch=0 state=0 name=a",
		"host=1 epoch=1 state=0 name=a b", "host=1 epoch=1 state=0 name=.a",
		"epoch=1 host=1 state=0 name=a",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dirdb_etcd_cap_parse(bad[i], 5, &e), -1);
	/* a state this code never writes reads as unknown, never breaks ENTRY */
	assert_int_equal(dirdb_etcd_cap_parse("host=1 epoch=1 state=9 name=a", 5, &e), 0);
	assert_int_equal(e.state, DIR_STATE_UNKNOWN);
}

static void test_host_round_trip(void **state)
{
	(void)state;
	struct dirdb_etcd_host h = { .addr = 0xC6130001, .port = 7471, .seq = UINT64_MAX - 1,
	                             .req = 42, .type = DIR_T_MOVED, .blen = DIR_MSG_MAX };
	for (size_t i = 0; i < sizeof h.dig; i++)
		h.dig[i] = (uint8_t)(0xf0 + i);
	for (size_t i = 0; i < h.blen; i++)
		h.body[i] = (uint8_t)i;
	char v[DIRDB_ETCD_HOST_VAL_MAX];
	dirdb_etcd_host_format(&h, v);
	assert_true(strlen(v) < sizeof v);
	assert_memory_equal(v, "addr=3323133953 port=7471 seq=18446744073709551614 req=42 type=6 "
	                    "dig=f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff body=000102", 110);
	struct dirdb_etcd_host back;
	assert_int_equal(dirdb_etcd_host_parse(v, &back), 0);
	assert_int_equal(back.addr, h.addr);
	assert_int_equal(back.port, h.port);
	assert_true(back.seq == h.seq);
	assert_int_equal(back.req, 42);
	assert_int_equal(back.type, DIR_T_MOVED);
	assert_memory_equal(back.dig, h.dig, sizeof h.dig);
	assert_int_equal(back.blen, h.blen);
	assert_memory_equal(back.body, h.body, h.blen);
	/* no retry cache yet: empty digest and body */
	struct dirdb_etcd_host z = { 0 };
	dirdb_etcd_host_format(&z, v);
	assert_string_equal(v, "addr=0 port=0 seq=0 req=0 type=0 "
	                    "dig=00000000000000000000000000000000 body=");
	assert_int_equal(dirdb_etcd_host_parse(v, &back), 0);
	assert_int_equal(back.blen, 0);
}

static void test_host_malformed(void **state)
{
	(void)state;
	struct dirdb_etcd_host h;
	static const char *const bad[] = {
		"", "addr=1 port=2 seq=3 req=4 type=5", "addr=1 port=70000 seq=3 req=4 type=5 dig= body=",
		"addr=1 port=2 seq=3 req=4 type=300 dig= body=", "addr=1 port=2 seq=3 req=4 type=5 dig=abc body=",
		"addr=1 port=2 seq=3 req=4 type=5 dig= body=",
		"addr=1 port=2 seq=3 req=4 type=5 dig=00000000000000000000000000000000 body=zz",
		"addr=1 port=2 seq=3 req=4 type=5 dig=00000000000000000000000000000000",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dirdb_etcd_host_parse(bad[i], &h), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_text_and_round_trip),
		cmocka_unit_test(test_cap_malformed),
		cmocka_unit_test(test_host_round_trip),
		cmocka_unit_test(test_host_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
