/* test_rt_ident.c: Linux's rules for setuid/setgid & co. on the capsule's identity, a root daemon dropping privileges (host build, ASan). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "runtime/rt_ident.h"

#define K RT_IDENT_KEEP
#define NOBODY 65534u

static void assert_uids(const struct rt_ident *id, uint32_t r, uint32_t e, uint32_t s)
{
	assert_int_equal(id->ruid, r);
	assert_int_equal(id->euid, e);
	assert_int_equal(id->suid, s);
	assert_int_equal(id->fsuid, e);
}

static void root_drops_for_good(void **state)
{
	(void)state;
	struct rt_ident id;
	uint32_t none[1];
	rt_ident_start(&id, 0, 0);
	assert_int_equal(rt_ident_setgroups(&id, 0, none), 0);
	assert_int_equal(rt_ident_setgid(&id, NOBODY), 0);
	assert_int_equal(id.rgid, NOBODY);
	assert_int_equal(id.sgid, NOBODY);
	assert_int_equal(rt_ident_setuid(&id, NOBODY), 0);
	assert_uids(&id, NOBODY, NOBODY, NOBODY);
	assert_int_equal(rt_ident_setuid(&id, 0), -EPERM);
	assert_int_equal(rt_ident_setresuid(&id, K, 0, K), -EPERM);
	assert_int_equal(rt_ident_setreuid(&id, 0, K), -EPERM);
	assert_int_equal(rt_ident_setgid(&id, 0), -EPERM);
	assert_int_equal(rt_ident_setgroups(&id, 0, none), -EPERM);
	assert_int_equal(rt_ident_setuid(&id, NOBODY), 0);   /* to itself: allowed */
	assert_uids(&id, NOBODY, NOBODY, NOBODY);
}

static void saved_uid_lets_root_come_back(void **state)
{
	(void)state;
	struct rt_ident id;
	rt_ident_start(&id, 0, 0);
	assert_int_equal(rt_ident_setresuid(&id, K, NOBODY, K), 0);   /* seteuid(nobody) */
	assert_uids(&id, 0, NOBODY, 0);
	uint32_t g = 5;
	assert_int_equal(rt_ident_setgroups(&id, 1, &g), -EPERM);     /* not privileged now */
	assert_int_equal(rt_ident_setuid(&id, 0), 0);                  /* unprivileged: euid = ruid */
	assert_uids(&id, 0, 0, 0);
	assert_int_equal(rt_ident_setgroups(&id, 1, &g), 0);
}

static void setreuid_moves_the_saved_uid(void **state)
{
	(void)state;
	struct rt_ident id;
	rt_ident_start(&id, 0, 0);
	assert_int_equal(rt_ident_setreuid(&id, 1000, 2000), 0);
	assert_uids(&id, 1000, 2000, 2000);   /* real set: saved follows effective */
	assert_int_equal(rt_ident_setreuid(&id, 2000, 1000), 0);   /* swap: allowed unprivileged */
	assert_uids(&id, 2000, 1000, 1000);
	assert_int_equal(rt_ident_setreuid(&id, 3000, K), -EPERM);
	assert_int_equal(rt_ident_setreuid(&id, K, 2000), 0);   /* effective to the real one: saved stays */
	assert_uids(&id, 2000, 2000, 1000);
	assert_int_equal(rt_ident_setresuid(&id, K, 1000, K), 0);
	assert_int_equal(rt_ident_setresuid(&id, 5, K, K), -EPERM);
	assert_int_equal(rt_ident_setuid(&id, K), -EINVAL);
}

static void groups_list(void **state)
{
	(void)state;
	struct rt_ident id;
	uint32_t in[3] = { 4, 5, 6 }, out[3] = { 0 }, many[RT_IDENT_NGROUPS + 1] = { 0 };
	rt_ident_start(&id, 0, 0);
	assert_int_equal(rt_ident_getgroups(&id, 0, 0), 0);
	assert_int_equal(rt_ident_setgroups(&id, 3, in), 0);
	assert_int_equal(rt_ident_getgroups(&id, 0, 0), 3);
	assert_int_equal(rt_ident_getgroups(&id, 2, out), -EINVAL);
	assert_int_equal(rt_ident_getgroups(&id, 3, out), 3);
	assert_int_equal(out[2], 6);
	assert_int_equal(rt_ident_setgroups(&id, -1, in), -EINVAL);
	assert_int_equal(rt_ident_setgroups(&id, RT_IDENT_NGROUPS + 1, many), -EINVAL);
	assert_int_equal(rt_ident_setgroups(&id, RT_IDENT_NGROUPS, many), 0);
}

static void gids_follow_the_effective_uid(void **state)
{
	(void)state;
	struct rt_ident id;
	rt_ident_start(&id, 1000, 100);   /* caprun --user 1000:100 */
	assert_int_equal(rt_ident_setgid(&id, 0), -EPERM);
	assert_int_equal(rt_ident_setresgid(&id, 100, 100, 100), 0);
	assert_int_equal(rt_ident_setregid(&id, K, 7), -EPERM);
	assert_int_equal(rt_ident_setfsuid(&id, 0), 1000);    /* refused, but returns the old one */
	assert_int_equal(id.fsuid, 1000);
	assert_int_equal(rt_ident_setfsgid(&id, 100), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_drops_for_good),
		cmocka_unit_test(saved_uid_lets_root_come_back),
		cmocka_unit_test(setreuid_moves_the_saved_uid),
		cmocka_unit_test(groups_list),
		cmocka_unit_test(gids_follow_the_effective_uid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
