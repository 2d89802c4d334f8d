/* test_host_signame.c: unit tests for signame(): the same abbreviation as glibc's sigabbrev_np for every signal number. */
#include "hosts/common/signame.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* caprun (musl) prints signame's names where it printed glibc's: this build (glibc) holds
 * the two together, for every number a signal can have and a few it cannot. */
static void test_same_as_glibc(void **st)
{
	(void)st;
	for (int sig = -1; sig <= 70; sig++) {
		const char *ours = signame(sig), *glibc = sigabbrev_np(sig);
		if (!glibc) {
			assert_null(ours);
			continue;
		}
		assert_non_null(ours);
		assert_string_equal(ours, glibc);
	}
}

static void test_examples(void **st)
{
	(void)st;
	assert_string_equal(signame(SIGKILL), "KILL");
	assert_string_equal(signame(SIGSYS), "SYS");
	assert_string_equal(signame(SIGCHLD), "CHLD");
	assert_null(signame(0));
	assert_null(signame(SIGRTMIN + 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_glibc),
		cmocka_unit_test(test_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
