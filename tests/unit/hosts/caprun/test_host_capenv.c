/* test_host_capenv.c: caprun's environment list, -e items and the --env-file format, errors naming file:line (ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "hosts/caprun/capenv.h"

/* The "host" environment -e NAME reads in these tests. */
static const char *fake_host(const char *name)
{
	if (!strcmp(name, "HOSTVAR"))
		return "from host";
	if (!strcmp(name, "EMPTYHOST"))
		return "";
	return NULL;
}

static void assert_env(const struct capenv *e, const char *const *want, int n)
{
	assert_int_equal(e->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(e->vars[i], want[i]);
}

static void set_replaces_in_place(void **state)
{
	(void)state;
	struct capenv e = { 0 };
	assert_int_equal(capenv_set(&e, "A", 1, "1"), 0);
	assert_int_equal(capenv_set(&e, "B", 1, "2"), 0);
	assert_int_equal(capenv_set(&e, "A", 1, "3"), 0);
	const char *want[] = { "A=3", "B=2" };
	assert_env(&e, want, 2);
	assert_string_equal(capenv_get(&e, "B"), "2");
	assert_null(capenv_get(&e, "AB"));
	capenv_unset(&e, "A", 1);
	capenv_unset(&e, "NONE", 4);
	const char *want2[] = { "B=2" };
	assert_env(&e, want2, 1);
	capenv_free(&e);
}

static void items(void **state)
{
	(void)state;
	char err[256];
	struct capenv e = { 0 };
	assert_int_equal(capenv_set(&e, "HOME", 4, "/"), 0);
	assert_int_equal(capenv_apply(&e, "X=a=b", fake_host, err, sizeof err), 0);
	assert_int_equal(capenv_apply(&e, "EMPTY=", fake_host, err, sizeof err), 0);
	assert_int_equal(capenv_apply(&e, "HOSTVAR", fake_host, err, sizeof err), 0);
	assert_int_equal(capenv_apply(&e, "EMPTYHOST", fake_host, err, sizeof err), 0);
	assert_int_equal(capenv_apply(&e, "my.var=1", fake_host, err, sizeof err), 0);
	assert_int_equal(capenv_apply(&e, "HOME", fake_host, err, sizeof err), 0);   /* host has none: gone */
	const char *want[] = { "X=a=b", "EMPTY=", "HOSTVAR=from host", "EMPTYHOST=", "my.var=1" };
	assert_env(&e, want, 5);
	assert_int_equal(capenv_apply(&e, "=x", fake_host, err, sizeof err), -1);
	assert_string_equal(err, "no variable name before '='");
	assert_int_equal(capenv_apply(&e, "", fake_host, err, sizeof err), -1);
	assert_string_equal(err, "no variable name before '='");
	assert_int_equal(capenv_apply(&e, "A B=x", fake_host, err, sizeof err), -1);
	assert_string_equal(err, "variable name with whitespace or a control character");
	assert_int_equal(capenv_apply(&e, "A\tB", fake_host, err, sizeof err), -1);
	capenv_free(&e);
}

static void file_format(void **state)
{
	(void)state;
	char err[256];
	struct capenv e = { 0 };
	static const char text[] =
		"# a comment\n"
		"\n"
		"   \t\n"
		"A=1\r\n"
		"  B=two words  \n"
		"\t# indented comment\n"
		"Q=\"quotes stay\"\n"
		"HOSTVAR\n"
		"A=again\n"
		"LAST=no newline";
	assert_int_equal(capenv_parse_text(&e, text, strlen(text), "f.env", fake_host, err, sizeof err), 0);
	const char *want[] = { "A=again", "B=two words  ", "Q=\"quotes stay\"", "HOSTVAR=from host",
	                       "LAST=no newline" };
	assert_env(&e, want, 5);
	capenv_free(&e);
}

static void file_errors_name_the_line(void **state)
{
	(void)state;
	char err[256];
	struct capenv e = { 0 };
	static const char spaced[] = "# ok\nOK=1\nBAD NAME=x\n";
	assert_int_equal(capenv_parse_text(&e, spaced, strlen(spaced), "app.env", fake_host, err,
	                                   sizeof err), -1);
	assert_string_equal(err, "app.env:3: variable name with whitespace or a control character");
	static const char noname[] = "\n\n=x\n";
	assert_int_equal(capenv_parse_text(&e, noname, strlen(noname), "app.env", fake_host, err,
	                                   sizeof err), -1);
	assert_string_equal(err, "app.env:3: no variable name before '='");
	static const char nul[] = "A=1\nB=\0x\n";
	assert_int_equal(capenv_parse_text(&e, nul, sizeof nul - 1, "app.env", fake_host, err,
	                                   sizeof err), -1);
	assert_string_equal(err, "app.env:2: a NUL byte");
	capenv_free(&e);
}

static void files_on_disk(void **state)
{
	(void)state;
	char err[512], path[] = "/tmp/test_capenv.XXXXXX";
	struct capenv e = { 0 };
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "K=v\n", 4), 4);
	close(fd);
	assert_int_equal(capenv_load_file(&e, path, fake_host, err, sizeof err), 0);
	assert_string_equal(capenv_get(&e, "K"), "v");
	unlink(path);
	assert_int_equal(capenv_load_file(&e, path, fake_host, err, sizeof err), -1);
	char want[600];
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_int_equal(capenv_load_file(&e, "/tmp", fake_host, err, sizeof err), -1);
	assert_string_equal(err, "/tmp: not a regular file (a directory)");
	capenv_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_replaces_in_place),
		cmocka_unit_test(items),
		cmocka_unit_test(file_format),
		cmocka_unit_test(file_errors_name_the_line),
		cmocka_unit_test(files_on_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
