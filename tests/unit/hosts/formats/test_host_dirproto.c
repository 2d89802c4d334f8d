/* test_host_dirproto.c: the directory wire format: round trips, truncation, tampering, replay, keys, field checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts/formats/dirproto.h"

static uint8_t key[DIR_KEY_LEN], other_key[DIR_KEY_LEN];

static void fill_entry(struct dir_entry *e, uint32_t i)
{
	memset(e, 0, sizeof *e);
	e->ip = 0xc6120002 + i;
	e->host_id = 7 + i;
	e->host_addr = 0xc6130001;
	e->data_port = 7471;
	e->epoch = 3 + i;
	e->state = (uint16_t)(i % DIR_STATE_COUNT);   /* every state, unknown included */
	snprintf(e->name, sizeof e->name, "cap-%u", i);
}

/* One valid message of each type. */
static int sample(int type, struct dir_msg *m)
{
	memset(m, 0, sizeof *m);
	m->type = (uint8_t)type;
	m->host_id = 0;
	m->network_id = 1;
	m->seq = 0x0123456789abcdefULL;
	m->request_id = 0xdeadbeef;
	switch (type) {
	case DIR_T_HELLO: m->u.hello.addr = 0xc6130001; m->u.hello.data_port = 7471; break;
	case DIR_T_CREATE: m->u.create.ip = 0xc6120009; strcpy(m->u.create.name, "web_1.a-b"); break;
	case DIR_T_CREATED: case DIR_T_MOVED: case DIR_T_RELEASE: case DIR_T_RELEASED:
	case DIR_T_NOTIFY_ACK:
		m->u.ipepoch.ip = 0xc6120002; m->u.ipepoch.epoch = 4; break;
	case DIR_T_MOVE: m->u.move.ip = 0xc6120002; m->u.move.to_host_id = 2; m->u.move.expected_epoch = 1; break;
	case DIR_T_LOOKUP: m->u.lookup.ip = 0xc6120002; m->u.lookup.flags = DIR_LOOKUP_SUBSCRIBE; break;
	case DIR_T_ENTRY: case DIR_T_NOTIFY: fill_entry(&m->u.entry, 0); break;
	case DIR_T_LIST: m->u.list.cursor = 0xc6120005; break;
	case DIR_T_ENTRIES:
		m->u.entries.n = DIR_LIST_MAX;
		m->u.entries.next_cursor = 0xc6120100;
		for (uint32_t i = 0; i < DIR_LIST_MAX; i++)
			fill_entry(&m->u.entries.e[i], i);
		break;
	case DIR_T_STATS_REPLY:
		m->u.stats.count = DIR_S_COUNT;
		for (uint32_t i = 0; i < DIR_S_COUNT; i++)
			m->u.stats.v[i] = 0x100000000ULL * i + i;
		break;
	case DIR_T_ERROR: m->u.error.code = DIR_E_STALE_EPOCH; m->u.error.epoch = 9; break;
	case DIR_T_STATE: m->u.state.ip = 0xc6120002; m->u.state.epoch = 5; m->u.state.state = DIR_STATE_FROZEN; break;
	case DIR_T_HOST_LOOKUP: m->u.host_lookup.host_id = 4; break;
	case DIR_T_HOST: m->u.host.host_id = 4; m->u.host.addr = 0xc6130004; m->u.host.data_port = 7471; break;
	default: break;
	}
	int from_dir = type == DIR_T_HELLO_OK || type == DIR_T_CREATED || type == DIR_T_MOVED ||
	               type == DIR_T_ENTRY || type == DIR_T_RELEASED || type == DIR_T_ENTRIES ||
	               type == DIR_T_STATS_REPLY || type == DIR_T_NOTIFY || type == DIR_T_ERROR ||
	               type == DIR_T_HOST;
	m->host_id = from_dir ? 0 : 42;
	uint8_t buf[DIR_MSG_MAX];
	return dirproto_encode(m, key, buf, sizeof buf);
}

static void test_round_trip_every_type(void **state)
{
	(void)state;
	for (int t = 1; t < DIR_T_COUNT; t++) {
		struct dir_msg m, d;
		uint8_t buf[DIR_MSG_MAX];
		sample(t, &m);
		int n = dirproto_encode(&m, key, buf, sizeof buf);
		assert_true(n >= DIR_HDR_LEN + DIR_MAC_LEN);
		assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_OK);
		assert_int_equal(d.type, t);
		assert_int_equal(d.host_id, m.host_id);
		assert_int_equal(d.network_id, 1);
		assert_true(d.seq == m.seq);
		assert_int_equal(d.request_id, m.request_id);
		assert_memory_equal(&d.u, &m.u, sizeof d.u);   /* both zero-initialized, then filled */
		uint32_t hid = 99;
		assert_int_equal(dirproto_peek(buf, (size_t)n, &hid), DIR_OK);
		assert_int_equal(hid, m.host_id);
		/* big-endian on the wire: magic, then seq at offset 16 */
		assert_memory_equal(buf, "CDIR", 4);
		assert_int_equal(buf[16], 0x01);
		assert_int_equal(buf[23], 0xef);
	}
}

static void test_every_truncation(void **state)
{
	(void)state;
	for (int t = 1; t < DIR_T_COUNT; t++) {
		struct dir_msg m, d;
		uint8_t buf[DIR_MSG_MAX];
		sample(t, &m);
		int n = dirproto_encode(&m, key, buf, sizeof buf);
		for (int len = 0; len < n; len++) {
			uint8_t *copy = malloc((size_t)len + 1);   /* exact size: ASan sees over-reads */
			memcpy(copy, buf, (size_t)len);
			assert_int_equal(dirproto_decode(copy, (size_t)len, key, &d), DIR_ERR_TRUNCATED);
			free(copy);
		}
		uint8_t longer[DIR_MSG_MAX + 1];
		memcpy(longer, buf, (size_t)n);
		longer[n] = 0;
		assert_int_equal(dirproto_decode(longer, (size_t)n + 1, key, &d), DIR_ERR_MALFORMED);
	}
}

static void test_bit_flips_fail(void **state)
{
	(void)state;
	for (int t = 1; t < DIR_T_COUNT; t++) {
		struct dir_msg m, d;
		uint8_t buf[DIR_MSG_MAX];
		sample(t, &m);
		int n = dirproto_encode(&m, key, buf, sizeof buf);
		for (int bit = 0; bit < n * 8; bit++) {
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			int rc = dirproto_decode(buf, (size_t)n, key, &d);
			assert_int_not_equal(rc, DIR_OK);
			/* past the framing fields, only the MAC can notice */
			if (bit / 8 >= 12 && bit / 8 < 28)
				assert_int_equal(rc, DIR_ERR_BAD_MAC);
			if (bit / 8 >= DIR_HDR_LEN)
				assert_int_equal(rc, DIR_ERR_BAD_MAC);
			buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_OK);
	}
}

static void test_wrong_key(void **state)
{
	(void)state;
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX];
	sample(DIR_T_MOVE, &m);
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	assert_int_equal(dirproto_decode(buf, (size_t)n, other_key, &d), DIR_ERR_BAD_MAC);
}

/* Replay protection is the receiver's "seq > highest seen" on top of
 * dir_next_seq's strictly increasing values; reseal changes only the seq. */
static void test_replay_and_seq(void **state)
{
	(void)state;
	uint64_t last = 0, prev = 0, highest = 0;
	for (int i = 0; i < 200000; i++) {
		uint64_t s = dirproto_next_seq(&last);
		assert_true(s > prev);
		prev = s;
	}
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX];
	sample(DIR_T_CREATE, &m);
	m.seq = dirproto_next_seq(&last);
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	int accepted = 0;
	for (int i = 0; i < 3; i++) {   /* the same datagram three times: accepted once */
		assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_OK);
		if (d.seq > highest) {
			highest = d.seq;
			accepted++;
		}
	}
	assert_int_equal(accepted, 1);
	assert_int_equal(dirproto_reseal(buf, (size_t)n, highest + 1, key), DIR_OK);
	assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_OK);
	assert_true(d.seq == highest + 1);
}

static void test_oversized_and_nospace(void **state)
{
	(void)state;
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX + 64];
	sample(DIR_T_STATS, &m);
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	assert_int_equal(n, DIR_HDR_LEN + DIR_MAC_LEN);
	/* body_len beyond DIR_BODY_MAX: refused before any MAC work */
	buf[28] = 0; buf[29] = 0; buf[30] = 0x04; buf[31] = 0x01;
	assert_int_equal(dirproto_decode(buf, sizeof buf, key, &d), DIR_ERR_MALFORMED);
	buf[28] = 0xff;
	assert_int_equal(dirproto_decode(buf, sizeof buf, key, &d), DIR_ERR_MALFORMED);
	/* encoder: too many entries / counters, too small a buffer */
	sample(DIR_T_ENTRIES, &m);
	m.u.entries.n = DIR_LIST_MAX + 1;
	assert_int_equal(dirproto_encode(&m, key, buf, sizeof buf), DIR_ERR_BAD_BODY);
	sample(DIR_T_STATS_REPLY, &m);
	m.u.stats.count = DIR_STATS_MAX + 1;
	assert_int_equal(dirproto_encode(&m, key, buf, sizeof buf), DIR_ERR_BAD_BODY);
	sample(DIR_T_ENTRY, &m);
	assert_int_equal(dirproto_encode(&m, key, buf, 100), DIR_ERR_NOSPACE);
	assert_int_equal(dirproto_encode(&m, key, buf, 10), DIR_ERR_NOSPACE);
	m.type = DIR_T_COUNT;
	assert_int_equal(dirproto_encode(&m, key, buf, sizeof buf), DIR_ERR_MALFORMED);
}

static void test_header_checks(void **state)
{
	(void)state;
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX];
	sample(DIR_T_LOOKUP, &m);
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	uint8_t bad[DIR_MSG_MAX];
	struct { int off; uint8_t val; } cases[] = {
		{ 0, 'X' }, { 4, 2 }, { 4, 0 }, { 5, 0 }, { 5, DIR_T_COUNT }, { 5, 0xff }, { 7, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(bad, buf, (size_t)n);
		bad[cases[i].off] = cases[i].val;
		assert_int_equal(dirproto_decode(bad, (size_t)n, key, &d), DIR_ERR_MALFORMED);
	}
	/* direction: a host type from host 0, a directory type from a host */
	m.host_id = 0;
	n = dirproto_encode(&m, key, buf, sizeof buf);
	assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_ERR_MALFORMED);
	sample(DIR_T_ENTRY, &m);
	m.host_id = 5;
	n = dirproto_encode(&m, key, buf, sizeof buf);
	assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_ERR_MALFORMED);
}

/* Encode a valid sample, let mutate() spoil one field, re-MAC, expect BAD_BODY. */
static void expect_bad_body(int type, void (*mutate)(struct dir_msg *m, uint8_t *body))
{
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX];
	sample(type, &m);
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	mutate(&m, buf + DIR_HDR_LEN);
	assert_int_equal(dirproto_reseal(buf, (size_t)n, m.seq, key), DIR_OK);
	assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_ERR_BAD_BODY);
}

static void zero32_at0(struct dir_msg *m, uint8_t *b) { (void)m; memset(b, 0, 4); }
static void zero32_at4(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 4, 0, 4); }
static void zero32_at8(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 8, 0, 4); }
static void zero16_at4(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 4, 0, 2); }
static void set_byte6(struct dir_msg *m, uint8_t *b) { (void)m; b[6] = 1; }
static void set_byte7(struct dir_msg *m, uint8_t *b) { (void)m; b[7] = 2; }
static void name_empty(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 4, 0, DIR_NAME_MAX); }
static void name_dot(struct dir_msg *m, uint8_t *b) { (void)m; b[4] = '.'; }
static void name_space(struct dir_msg *m, uint8_t *b) { (void)m; b[5] = ' '; }
static void name_no_nul(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 4, 'a', DIR_NAME_MAX); }
static void name_junk(struct dir_msg *m, uint8_t *b) { (void)m; b[4 + DIR_NAME_MAX - 1] = 'z'; }
static void entry_reserved(struct dir_msg *m, uint8_t *b) { (void)m; b[14] = 1; }   /* state 256 */
static void entry_state_big(struct dir_msg *m, uint8_t *b) { (void)m; b[15] = DIR_STATE_COUNT; }
static void state_unknown(struct dir_msg *m, uint8_t *b) { (void)m; b[9] = DIR_STATE_UNKNOWN; }
static void state_big(struct dir_msg *m, uint8_t *b) { (void)m; b[9] = DIR_STATE_COUNT; }
static void state_reserved(struct dir_msg *m, uint8_t *b) { (void)m; b[11] = 1; }
static void host_port0(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 8, 0, 2); }
static void host_reserved(struct dir_msg *m, uint8_t *b) { (void)m; b[10] = 1; }
static void entry_epoch0(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 16, 0, 4); }
static void entry_name(struct dir_msg *m, uint8_t *b) { (void)m; b[20] = '-'; }
static void entries_n(struct dir_msg *m, uint8_t *b) { (void)m; b[1] = DIR_LIST_MAX + 1; }
static void entries_n_short(struct dir_msg *m, uint8_t *b) { (void)m; b[1] = DIR_LIST_MAX - 1; }
static void entries_bad_inner(struct dir_msg *m, uint8_t *b) { (void)m; memset(b + 8 + 84 * 3 + 4, 0, 4); }
static void stats_count(struct dir_msg *m, uint8_t *b) { (void)m; b[3] = DIR_STATS_MAX + 1; }
static void stats_reserved(struct dir_msg *m, uint8_t *b) { (void)m; b[7] = 1; }
static void error_code0(struct dir_msg *m, uint8_t *b) { (void)m; b[0] = 0; b[1] = 0; }
static void error_code_big(struct dir_msg *m, uint8_t *b) { (void)m; b[1] = DIR_E_COUNT; }

static void test_field_validation(void **state)
{
	(void)state;
	expect_bad_body(DIR_T_HELLO, zero32_at0);        /* no address */
	expect_bad_body(DIR_T_HELLO, zero16_at4);        /* no data port */
	expect_bad_body(DIR_T_HELLO, set_byte6);         /* reserved */
	expect_bad_body(DIR_T_CREATE, name_empty);
	expect_bad_body(DIR_T_CREATE, name_dot);
	expect_bad_body(DIR_T_CREATE, name_space);
	expect_bad_body(DIR_T_CREATE, name_no_nul);
	expect_bad_body(DIR_T_CREATE, name_junk);
	expect_bad_body(DIR_T_CREATED, zero32_at0);
	expect_bad_body(DIR_T_CREATED, zero32_at4);      /* epoch 0 never exists */
	expect_bad_body(DIR_T_RELEASE, zero32_at4);
	expect_bad_body(DIR_T_MOVE, zero32_at0);
	expect_bad_body(DIR_T_MOVE, zero32_at4);         /* to host 0 */
	expect_bad_body(DIR_T_MOVE, zero32_at8);         /* expected epoch 0 */
	expect_bad_body(DIR_T_LOOKUP, zero32_at0);
	expect_bad_body(DIR_T_LOOKUP, set_byte7);        /* unknown flag */
	expect_bad_body(DIR_T_ENTRY, zero32_at4);        /* an ENTRY always has a holder */
	expect_bad_body(DIR_T_ENTRY, entry_reserved);
	expect_bad_body(DIR_T_ENTRY, entry_state_big);
	expect_bad_body(DIR_T_STATE, zero32_at0);        /* no address */
	expect_bad_body(DIR_T_STATE, zero32_at4);        /* epoch 0 */
	expect_bad_body(DIR_T_STATE, state_unknown);     /* a holder always knows its state */
	expect_bad_body(DIR_T_STATE, state_big);
	expect_bad_body(DIR_T_STATE, state_reserved);
	expect_bad_body(DIR_T_HOST_LOOKUP, zero32_at0);  /* host 0 is the directory */
	expect_bad_body(DIR_T_HOST, zero32_at0);
	expect_bad_body(DIR_T_HOST, zero32_at4);         /* a HOST answer always has a locator */
	expect_bad_body(DIR_T_HOST, host_port0);
	expect_bad_body(DIR_T_HOST, host_reserved);
	expect_bad_body(DIR_T_ENTRY, entry_epoch0);
	expect_bad_body(DIR_T_NOTIFY, entry_name);
	expect_bad_body(DIR_T_ENTRIES, entries_n);
	expect_bad_body(DIR_T_ENTRIES, entries_n_short);
	expect_bad_body(DIR_T_ENTRIES, entries_bad_inner);
	expect_bad_body(DIR_T_STATS_REPLY, stats_count);
	expect_bad_body(DIR_T_STATS_REPLY, stats_reserved);
	expect_bad_body(DIR_T_ERROR, error_code0);
	expect_bad_body(DIR_T_ERROR, error_code_big);

	/* a NOTIFY with holder 0 is legal: the capsule was released */
	struct dir_msg m, d;
	uint8_t buf[DIR_MSG_MAX];
	sample(DIR_T_NOTIFY, &m);
	m.u.entry.host_id = 0;
	int n = dirproto_encode(&m, key, buf, sizeof buf);
	assert_int_equal(dirproto_decode(buf, (size_t)n, key, &d), DIR_OK);
	assert_int_equal(d.u.entry.host_id, 0);

	/* a body of the wrong length for its type (re-framed and re-MACed) */
	sample(DIR_T_HELLO, &m);
	n = dirproto_encode(&m, key, buf, sizeof buf);
	uint8_t longer[DIR_MSG_MAX];
	memcpy(longer, buf, DIR_HDR_LEN + 8);
	longer[DIR_HDR_LEN + 8] = 0;
	longer[31] = 9;
	assert_int_equal(dirproto_reseal(longer, (size_t)n + 1, m.seq, key), DIR_OK);
	assert_int_equal(dirproto_decode(longer, (size_t)n + 1, key, &d), DIR_ERR_BAD_BODY);
	sample(DIR_T_STATS, &m);
	n = dirproto_encode(&m, key, buf, sizeof buf);
	memmove(buf + DIR_HDR_LEN + 1, buf + DIR_HDR_LEN, DIR_MAC_LEN);
	buf[DIR_HDR_LEN] = 0;
	buf[31] = 1;
	assert_int_equal(dirproto_reseal(buf, (size_t)n + 1, m.seq, key), DIR_OK);
	assert_int_equal(dirproto_decode(buf, (size_t)n + 1, key, &d), DIR_ERR_BAD_BODY);
}

static void test_names(void **state)
{
	(void)state;
	char long_name[80];
	memset(long_name, 'a', sizeof long_name);
	long_name[64] = 0;                    /* 64 characters: no room for the NUL */
	assert_false(dirproto_name_valid(long_name));
	long_name[63] = 0;
	assert_true(dirproto_name_valid(long_name));
	assert_true(dirproto_name_valid("a.b_c-1"));
	assert_false(dirproto_name_valid(""));
	assert_false(dirproto_name_valid("-x"));
	assert_false(dirproto_name_valid("a/b"));
	assert_string_equal(dirproto_type_name(DIR_T_NOTIFY_ACK), "NOTIFY_ACK");
	assert_string_equal(dirproto_type_name(0), "?");
	assert_string_equal(dirproto_error_name(DIR_E_STALE_EPOCH), "STALE_EPOCH");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_key_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test_dirkeys.XXXXXX", err[256];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const char *k1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	char text[512];
	snprintf(text, sizeof text, "# cluster keys\n\n1 %s\ndata %s\n  7 %s\n", k1, k1,
	         "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	write_file(path, text);
	uint8_t k[DIR_KEY_LEN];
	assert_int_equal(dirproto_key_lookup(path, 1, k, err, sizeof err), 0);
	assert_int_equal(k[0], 0x00);
	assert_int_equal(k[31], 0xff);
	assert_int_equal(dirproto_key_lookup(path, 7, k, err, sizeof err), 0);
	assert_int_equal(k[5], 0xff);
	assert_int_equal(dirproto_key_lookup(path, 2, k, err, sizeof err), -1);
	assert_non_null(strstr(err, "no key for host 2"));
	const char *bad[] = { "1 abc\n", "0 %s\n", "x %s\n", "1 %s extra\n", "1 %s\n1 %s\n",
	                      "-1 %s\n", "1 zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, bad[i], k1, k1);
		write_file(path, text);
		uint32_t ids[4];
		uint8_t keys[4][DIR_KEY_LEN];
		err[0] = 0;
		assert_int_equal(dirproto_keys_load(path, ids, keys, 4, err, sizeof err), -1);
		assert_non_null(strstr(err, "line"));
	}
	unlink(path);
	assert_int_equal(dirproto_key_lookup(path, 1, k, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof key);
	randombytes_buf(other_key, sizeof other_key);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_bit_flips_fail),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_replay_and_seq),
		cmocka_unit_test(test_oversized_and_nospace),
		cmocka_unit_test(test_header_checks),
		cmocka_unit_test(test_field_validation),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
