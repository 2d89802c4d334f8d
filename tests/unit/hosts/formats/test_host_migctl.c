/* test_host_migctl.c: unit tests for the migration control records (hosts/formats/migctl.h). */
#include "hosts/formats/migctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

static uint8_t stream_key[MIG_KEY_LEN];

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(stream_key, sizeof stream_key);
	return 0;
}

/* Seal records into one buffer, as they would follow each other on the socket. */
static size_t seal(struct mig_ctl *c, uint8_t *out, size_t cap, int type, const char *text)
{
	size_t n = 0;
	assert_int_equal(migctl_seal(c, type, text, out, cap, &n), MIG_OK);
	return n;
}

static void round_trip_both_directions(void **state)
{
	(void)state;
	struct mig_ctl tx, rx;
	uint8_t buf[1024];
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	size_t used, n;

	migctl_init(&tx, stream_key, MIG_CTL_TO_SOURCE);
	migctl_init(&rx, stream_key, MIG_CTL_TO_SOURCE);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_CONFIRM, NULL);
	assert_int_equal(n, MIG_CTL_HEADER_LEN + 4 + 1 + MIG_CTL_ABYTES);
	n += seal(&tx, buf + n, sizeof buf - n, MIG_CTL_STARTED, NULL);
	/* every prefix of the first record is "need more" and changes nothing */
	for (size_t k = 0; k < MIG_CTL_HEADER_LEN + 4 + 1 + MIG_CTL_ABYTES; k++)
		assert_int_equal(migctl_open(&rx, buf, k, &used, &type, text, sizeof text), MIG_NEED_MORE);
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_CONFIRM);
	assert_int_equal(migctl_open(&rx, buf + used, n - used, &used, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_STARTED);

	migctl_init(&tx, stream_key, MIG_CTL_TO_TARGET);
	migctl_init(&rx, stream_key, MIG_CTL_TO_TARGET);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_COMMIT, NULL);
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_COMMIT);
	assert_int_equal(used, n);
}

static void refuse_carries_its_reason(void **state)
{
	(void)state;
	struct mig_ctl tx, rx;
	uint8_t buf[1024];
	char text[MIG_CTL_TEXT_MAX + 1], big[MIG_CTL_TEXT_MAX + 2];
	int type;
	size_t used, n;
	migctl_init(&tx, stream_key, MIG_CTL_TO_SOURCE);
	migctl_init(&rx, stream_key, MIG_CTL_TO_SOURCE);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_REFUSE, "image /x.cap: No such file or directory");
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_REFUSE);
	assert_string_equal(text, "image /x.cap: No such file or directory");
	/* a refusal needs a reason; nothing else has text; too long is refused */
	assert_int_equal(migctl_seal(&tx, MIG_CTL_REFUSE, "", buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migctl_seal(&tx, MIG_CTL_CONFIRM, "x", buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(migctl_seal(&tx, MIG_CTL_REFUSE, big, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migctl_seal(&tx, MIG_CTL_CONFIRM, NULL, buf, 10, &n), MIG_E_NOSPACE);
}

static void each_direction_speaks_only_its_records(void **state)
{
	(void)state;
	struct mig_ctl t;
	uint8_t buf[1024];
	size_t n;
	migctl_init(&t, stream_key, MIG_CTL_TO_SOURCE);
	assert_int_equal(migctl_seal(&t, MIG_CTL_COMMIT, NULL, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migctl_seal(&t, 99, NULL, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	migctl_init(&t, stream_key, MIG_CTL_TO_TARGET);
	assert_int_equal(migctl_seal(&t, MIG_CTL_CONFIRM, NULL, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migctl_seal(&t, MIG_CTL_STARTED, NULL, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migctl_seal(&t, MIG_CTL_ROUND_DONE, NULL, buf, sizeof buf, &n), MIG_E_BAD_RECORD);
}

/* ROUND_DONE: target to source, no text, several in a row before CONFIRM, in order. */
static void round_done_before_confirm(void **state)
{
	(void)state;
	struct mig_ctl tx, rx;
	uint8_t wire[1024];
	size_t at = 0, n, used;
	int type;
	char text[MIG_CTL_TEXT_MAX + 1];
	migctl_init(&tx, stream_key, MIG_CTL_TO_SOURCE);
	migctl_init(&rx, stream_key, MIG_CTL_TO_SOURCE);
	assert_int_equal(migctl_seal(&tx, MIG_CTL_ROUND_DONE, "round=1", wire, sizeof wire, &n),
	                 MIG_E_BAD_RECORD);   /* it says nothing: the count is the order */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(migctl_seal(&tx, MIG_CTL_ROUND_DONE, NULL, wire + at, sizeof wire - at, &n), MIG_OK);
		at += n;
	}
	assert_int_equal(migctl_seal(&tx, MIG_CTL_CONFIRM, NULL, wire + at, sizeof wire - at, &n), MIG_OK);
	at += n;
	size_t off = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(migctl_open(&rx, wire + off, at - off, &used, &type, text, sizeof text), MIG_OK);
		assert_int_equal(type, i < 3 ? MIG_CTL_ROUND_DONE : MIG_CTL_CONFIRM);
		assert_string_equal(text, "");
		off += used;
	}
	assert_int_equal(off, at);
	assert_string_equal(migctl_name(MIG_CTL_ROUND_DONE), "round_done");
}

static void forged_replayed_or_reflected_records_fail(void **state)
{
	(void)state;
	struct mig_ctl tx, rx;
	uint8_t buf[1024], copy[1024];
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	size_t used, n;

	/* A COMMIT sealed for the target, fed back to the source's reader: another key. */
	migctl_init(&tx, stream_key, MIG_CTL_TO_TARGET);
	migctl_init(&rx, stream_key, MIG_CTL_TO_SOURCE);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_COMMIT, NULL);
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_E_BAD_TAG);
	/* and the error sticks */
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_E_BAD_TAG);

	/* Another migration's key. */
	uint8_t other[MIG_KEY_LEN];
	memcpy(other, stream_key, sizeof other);
	other[0] ^= 1;
	migctl_init(&tx, stream_key, MIG_CTL_TO_TARGET);
	migctl_init(&rx, other, MIG_CTL_TO_TARGET);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_ABORT, NULL);
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_E_BAD_TAG);

	/* Every single flipped bit after the header fails. */
	migctl_init(&tx, stream_key, MIG_CTL_TO_TARGET);
	n = seal(&tx, buf, sizeof buf, MIG_CTL_COMMIT, NULL);
	for (size_t i = MIG_CTL_HEADER_LEN + 4; i < n; i++) {
		memcpy(copy, buf, n);
		copy[i] ^= 0x10;
		migctl_init(&rx, stream_key, MIG_CTL_TO_TARGET);
		assert_int_not_equal(migctl_open(&rx, copy, n, &used, &type, text, sizeof text), MIG_OK);
	}

	/* The same record twice: the second is a replay. */
	migctl_init(&rx, stream_key, MIG_CTL_TO_TARGET);
	assert_int_equal(migctl_open(&rx, buf, n, &used, &type, text, sizeof text), MIG_OK);
	assert_int_equal(migctl_open(&rx, buf + MIG_CTL_HEADER_LEN, n - MIG_CTL_HEADER_LEN, &used, &type,
	                              text, sizeof text), MIG_E_BAD_TAG);

	/* A length field out of range. */
	migctl_init(&rx, stream_key, MIG_CTL_TO_TARGET);
	memcpy(copy, buf, n);
	copy[MIG_CTL_HEADER_LEN] = 0xff;
	assert_int_equal(migctl_open(&rx, copy, n, &used, &type, text, sizeof text), MIG_E_BAD_LENGTH);
}

static void over_a_socket(void **state)
{
	(void)state;
	int sv[2];
	struct mig_ctl tx, rx;
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	migctl_init(&tx, stream_key, MIG_CTL_TO_SOURCE);
	migctl_init(&rx, stream_key, MIG_CTL_TO_SOURCE);
	/* nothing there yet: a timeout */
	assert_int_equal(migctl_recv(sv[1], &rx, 20, &type, text, sizeof text), MIG_E_IO);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(migctl_send(sv[0], &tx, MIG_CTL_CONFIRM, NULL), MIG_OK);
	assert_int_equal(migctl_send(sv[0], &tx, MIG_CTL_REFUSE, "late"), MIG_OK);
	assert_int_equal(migctl_recv(sv[1], &rx, 1000, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_CONFIRM);
	assert_int_equal(migctl_recv(sv[1], &rx, 1000, &type, text, sizeof text), MIG_OK);
	assert_int_equal(type, MIG_CTL_REFUSE);
	assert_string_equal(text, "late");
	close(sv[0]);
	assert_int_equal(migctl_recv(sv[1], &rx, 1000, &type, text, sizeof text), MIG_E_IO);
	assert_int_equal(errno, EPIPE);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_both_directions),
		cmocka_unit_test(refuse_carries_its_reason),
		cmocka_unit_test(each_direction_speaks_only_its_records),
		cmocka_unit_test(round_done_before_confirm),
		cmocka_unit_test(forged_replayed_or_reflected_records_fail),
		cmocka_unit_test(over_a_socket),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
