/* test_rt_etc.c: the text of the capsule's synthesized /etc files and which of them exist (host build, ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "runtime/rt_etc.h"

static int index_of(const char *name)
{
	for (int i = 0; i < rt_etc_count(); i++)
		if (!strcmp(rt_etc_name(i), name))
			return i;
	return -1;
}

static void render(const char *name, const struct rt_etc_facts *f, const char *want)
{
	char buf[1024];
	long len = rt_etc_render(index_of(name), f, buf, sizeof buf);
	assert_int_equal(len, (long)strlen(want));
	assert_string_equal(buf, want);
}

static void users_and_groups(void **state)
{
	(void)state;
	struct rt_etc_facts f = { .name = "web" };
	render("passwd", &f, "root:x:0:0:root:/:/bin/sh\n"
	                     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
	render("group", &f, "root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n");
}

static void hosts_and_hostname(void **state)
{
	(void)state;
	struct rt_etc_facts f = { .name = "web", .ip = inet_addr("198.18.0.7") };
	render("hosts", &f, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	                    "198.18.0.7\tweb\n");
	render("hostname", &f, "web\n");
	struct rt_etc_facts unnamed = { .name = "" };   /* no address, no name: localhost only */
	render("hosts", &unnamed, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	render("hostname", &unnamed, "capsule\n");
}

static void resolv_conf_only_with_name_servers(void **state)
{
	(void)state;
	char buf[256];
	struct rt_etc_facts none = { .name = "web" };
	int r = index_of("resolv.conf");
	assert_false(rt_etc_present(r, &none));
	assert_int_equal(rt_etc_render(r, &none, buf, sizeof buf), -1);
	assert_int_equal(rt_etc_find("/etc/resolv.conf", &none), -1);
	struct rt_etc_facts two = { .name = "web", .ndns = 2, .dns = { "192.0.2.53", "2001:db8::1" } };
	assert_true(rt_etc_present(r, &two));
	assert_int_equal(rt_etc_find("/etc/resolv.conf", &two), r);
	render("resolv.conf", &two, "nameserver 192.0.2.53\nnameserver 2001:db8::1\n");
}

static void paths(void **state)
{
	(void)state;
	struct rt_etc_facts f = { .name = "web" };
	assert_int_equal(rt_etc_find("/etc", &f), RT_ETC_DIR);
	assert_int_equal(rt_etc_find("/etc/passwd", &f), index_of("passwd"));
	assert_int_equal(rt_etc_find("/etc/hosts", &f), index_of("hosts"));
	assert_int_equal(rt_etc_find("/etc/shadow", &f), -1);
	assert_int_equal(rt_etc_find("/etcetera", &f), -1);
	assert_int_equal(rt_etc_find("/etc/passwd/x", &f), -1);
	assert_int_equal(rt_etc_find("/tmp/passwd", &f), -1);
	assert_null(rt_etc_name(rt_etc_count()));
}

static void too_small_a_buffer(void **state)
{
	(void)state;
	char buf[16];
	struct rt_etc_facts f = { .name = "web" };
	assert_int_equal(rt_etc_render(index_of("passwd"), &f, buf, sizeof buf), -1);
	assert_int_equal(rt_etc_render(index_of("hostname"), &f, buf, 4), -1);    /* "web\n" + NUL */
	assert_int_equal(rt_etc_render(index_of("hostname"), &f, buf, 5), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(users_and_groups),
		cmocka_unit_test(hosts_and_hostname),
		cmocka_unit_test(resolv_conf_only_with_name_servers),
		cmocka_unit_test(paths),
		cmocka_unit_test(too_small_a_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
