/* test_host_filerec.c: the file request decoder (capsule-abi/cap_file.c): what a capsule may send and what is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "capsule-abi/cap_file.h"

static unsigned char rec[sizeof(struct cap_file_req) + 2 * CAP_FILE_NAME_MAX + CAP_FILE_DATA_MAX + 16];

/* A request with names and data laid out as the capsule does; returns its length. */
static size_t build(uint16_t op, const char *name, const char *name2, size_t data)
{
	struct cap_file_req q = { .id = 7, .op = op, .volume = 1, .handle = 3 };
	size_t n = sizeof q;
	q.name_len = name ? (uint32_t)strlen(name) + 1 : 0;
	q.name2_len = name2 ? (uint32_t)strlen(name2) + 1 : 0;
	q.len = (uint32_t)data;
	memcpy(rec, &q, sizeof q);
	if (name) {
		memcpy(rec + n, name, q.name_len);
		n += q.name_len;
	}
	if (name2) {
		memcpy(rec + n, name2, q.name2_len);
		n += q.name2_len;
	}
	if (op == CAP_FOP_PWRITE) {
		memset(rec + n, 'x', data);
		n += data;
	}
	return n;
}

static void test_good_requests(void **state)
{
	(void)state;
	struct cap_file_req_view v;
	size_t n = build(CAP_FOP_OPEN, "a/b.txt", 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
	assert_string_equal(v.name, "a/b.txt");
	assert_null(v.name2);
	assert_int_equal(v.req.id, 7);
	n = build(CAP_FOP_RENAME, "x", "dir/y", 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
	assert_string_equal(v.name2, "dir/y");
	n = build(CAP_FOP_PWRITE, 0, 0, CAP_FILE_DATA_MAX);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
	assert_ptr_equal(v.data, rec + sizeof(struct cap_file_req));
	n = build(CAP_FOP_STAT, ".", 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
	n = build(CAP_FOP_VOLUMES, 0, 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
}

static void test_names_refused(void **state)
{
	(void)state;
	struct cap_file_req_view v;
	static const char *const bad[] = { "/etc/passwd", "..", "../x", "a/../../x", "a/..", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = build(CAP_FOP_OPEN, bad[i], 0, 0);
		assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	}
	/* "..." and "a..b" are ordinary names */
	size_t n = build(CAP_FOP_OPEN, "a..b/...", 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), 0);
	/* a name whose length leaves out its NUL, or holds an inner NUL */
	n = build(CAP_FOP_OPEN, "abc", 0, 0);
	struct cap_file_req q;
	memcpy(&q, rec, sizeof q);
	q.name_len = 3;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n - 1, &v), -1);
	n = build(CAP_FOP_OPEN, "ab", 0, 0);
	rec[sizeof q + 1] = 0;
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	/* a name where the op takes none, none where it needs one */
	n = build(CAP_FOP_PREAD, "x", 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	n = build(CAP_FOP_MKDIR, 0, 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	n = build(CAP_FOP_RENAME, "x", 0, 0);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
}

static void test_sizes_refused(void **state)
{
	(void)state;
	struct cap_file_req_view v;
	struct cap_file_req q;
	size_t n = build(CAP_FOP_PWRITE, 0, 0, 100);
	assert_int_equal(cap_file_req_decode(rec, n - 1, &v), -1);     /* data cut short */
	assert_int_equal(cap_file_req_decode(rec, n + 1, &v), -1);     /* bytes left over */
	assert_int_equal(cap_file_req_decode(rec, sizeof q - 1, &v), -1);
	n = build(CAP_FOP_PREAD, 0, 0, 0);
	memcpy(&q, rec, sizeof q);
	q.len = CAP_FILE_DATA_MAX + 1;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	q.len = 0;
	q.handle = CAP_FILE_HANDLES;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	q.handle = 0;
	q.volume = CAP_FILE_VOLUMES;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	q.volume = 0;
	q.op = 0;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	q.op = CAP_FOP_MAX + 1;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
	q.op = CAP_FOP_OPEN;
	q.name_len = CAP_FILE_NAME_MAX + 1;
	memcpy(rec, &q, sizeof q);
	assert_int_equal(cap_file_req_decode(rec, n, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_requests),
		cmocka_unit_test(test_names_refused),
		cmocka_unit_test(test_sizes_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
