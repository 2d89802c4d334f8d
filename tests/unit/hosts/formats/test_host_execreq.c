/* test_host_execreq.c: unit tests for an execve's request as the host reads it (execreq.h): strings found, every malformation refused with its errno, the program a path names. */
#include "hosts/formats/execreq.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static unsigned char buf[4096] __attribute__((aligned(8)));

/* A request for path with argv and envp into buf, hand-off of handoff_len bytes after it; its length. */
static size_t build(const char *path, char *const *argv, char *const *envp, uint32_t handoff_len)
{
	struct cap_exec_req q = { .magic = CAP_EXEC_MAGIC };
	char *at = (char *)buf + sizeof q;
	size_t l = strlen(path) + 1;
	memcpy(at, path, l);
	at += l;
	for (; argv && argv[q.argc]; q.argc++) {
		l = strlen(argv[q.argc]) + 1;
		memcpy(at, argv[q.argc], l);
		at += l;
	}
	for (; envp && envp[q.envc]; q.envc++) {
		l = strlen(envp[q.envc]) + 1;
		memcpy(at, envp[q.envc], l);
		at += l;
	}
	q.strings_len = (uint32_t)(at - (char *)buf - sizeof q);
	q.handoff_off = (uint32_t)((sizeof q + q.strings_len + 7) & ~(size_t)7);
	q.handoff_len = handoff_len;
	memset(buf + sizeof q + q.strings_len, 0xab, q.handoff_off + handoff_len - sizeof q - q.strings_len);
	memcpy(buf, &q, sizeof q);
	return q.handoff_off + handoff_len;
}

static void strings_found(void **state)
{
	(void)state;
	char *argv[] = { "sh", "-c", "", "echo hi", NULL }, *envp[] = { "A=1", "EMPTY=", NULL };
	size_t n = build("/proc/self/exe", argv, envp, 64);
	struct execreq x;
	assert_int_equal(execreq_parse(buf, n, 1, &x), 0);
	assert_string_equal(x.path, "/proc/self/exe");
	assert_int_equal(x.req.argc, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(x.argv[i], argv[i]);
	assert_null(x.argv[4]);
	assert_string_equal(x.envp[0], "A=1");
	assert_string_equal(x.envp[1], "EMPTY=");
	assert_null(x.envp[2]);
	assert_ptr_equal(x.handoff, buf + x.req.handoff_off);
	execreq_free(&x);
	/* CHECK: without the hand-off, which may not be there yet */
	assert_int_equal(execreq_parse(buf, x.req.handoff_off ? n - 64 : n, 0, &x), 0);
	assert_null(x.handoff);
	execreq_free(&x);
}

static void expect_refused(size_t n, int with_handoff, int err)
{
	struct execreq x;
	errno = 0;
	assert_int_equal(execreq_parse(buf, n, with_handoff, &x), -1);
	assert_int_equal(errno, err);
	execreq_free(&x);
}

static void malformed_refused(void **state)
{
	(void)state;
	char *argv[] = { "a", "bb", NULL };
	size_t n = build("x", argv, NULL, 16);
	struct cap_exec_req q;
	memcpy(&q, buf, sizeof q);
	/* every truncation: the header, the strings, the hand-off */
	for (size_t k = 0; k < n; k++)
		expect_refused(k, 1, EINVAL);
	/* no magic */
	buf[0] ^= 1;
	expect_refused(n, 1, EINVAL);
	buf[0] ^= 1;
	/* one string more than there are */
	struct cap_exec_req bad = q;
	bad.argc = 3;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	/* huge counts */
	bad = q;
	bad.argc = 0xffffffffu;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	/* a last string without its NUL */
	bad = q;
	bad.strings_len--;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	/* strings too long, a hand-off misplaced or beyond the bytes */
	bad = q;
	bad.strings_len = CAP_EXEC_STRINGS_MAX + 1;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, E2BIG);
	bad = q;
	bad.handoff_off += 4;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	bad = q;
	bad.handoff_off = 8;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	bad = q;
	bad.handoff_len = EXECREQ_HANDOFF_MAX + 8;
	memcpy(buf, &bad, sizeof bad);
	expect_refused(n, 1, EINVAL);
	memcpy(buf, &q, sizeof q);
	expect_refused(EXECREQ_MAX + 1, 1, E2BIG);
	struct execreq x;
	assert_int_equal(execreq_parse(buf, n, 1, &x), 0);
	execreq_free(&x);
}

static void program_named(void **state)
{
	(void)state;
	assert_int_equal(execreq_program("busybox", "/proc/self/exe"), 0);
	assert_int_equal(execreq_program("busybox", "busybox"), 0);
	assert_int_equal(execreq_program("busybox", "/usr/local/bin/busybox"), 0);
	errno = 0;
	assert_int_equal(execreq_program("busybox", "/bin/ls"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(execreq_program("busybox", "/bin/busybox2"), -1);
	assert_int_equal(execreq_program("busybox", "/proc/self/exe/"), -1);
	assert_int_equal(execreq_program("busybox", ""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings_found),
		cmocka_unit_test(malformed_refused),
		cmocka_unit_test(program_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
