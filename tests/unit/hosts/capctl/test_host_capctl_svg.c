/* test_host_capctl_svg.c: unit tests for capctl migrate's SVG timeline: the file's shape, escaping, extreme figures, the --svg check and failures that leave nothing behind. */
#include "hosts/capctl/capctl_svg.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[64];

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof dir, "/tmp/capctl-svg.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			if (rmdir(p) < 0)
				unlink(p);
		}
	if (d)
		closedir(d);
	return rmdir(dir);
}

/* The whole file (NUL-terminated, malloc'ed). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	assert_true(n > 0 && n < (1 << 20) - 1);
	fclose(f);
	return buf;
}

/* Names in the directory other than "." and "..". */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static const struct mig_result typical = {
	.target = 3, .epoch = 2, .ms = { 3, 3, 11, 13, 5, 8 }, .downtime = 40, .total = 45,
	.bytes = 638976, .asked = 2, .acked = 2, .from = 1,
};

/* XML comments may not hold "--"; a well-formed file has none inside one. */
static void assert_comments_clean(const char *s)
{
	for (const char *c = strstr(s, "<!--"); c; c = strstr(c + 4, "<!--")) {
		const char *end = strstr(c + 4, "-->");
		assert_non_null(end);
		for (const char *p = c + 4; p < end; p++)
			assert_false(p[0] == '-' && p[1] == '-');
	}
}

static void test_shape(void **st)
{
	(void)st;
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/m.svg", dir);
	assert_int_equal(capctl_svg_write(path, "x", &typical, err, sizeof err), 0);
	char *s = slurp(path);
	assert_true(strncmp(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 39) == 0);
	assert_non_null(strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_string_equal(s + strlen(s) - 7, "</svg>\n");
	assert_non_null(strstr(s, "<title>live migration of capsule x from host 1 to host 3</title>"));
	static const char *const ids[] = { "phase-sync-0", "phase-freeze-0", "phase-transfer-0",
	                                   "phase-transfer-1", "phase-restore-0", "phase-directory-0",
	                                   "phase-directory-1", "phase-flush-0", "phase-flush-1",
	                                   "peers-queue", "downtime", "clients", "src-done" };
	char want[64];
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		snprintf(want, sizeof want, "id=\"%s\"", ids[i]);
		assert_non_null(strstr(s, want));
	}
	assert_non_null(strstr(s, ">source host 1<"));
	assert_non_null(strstr(s, ">target host 3<"));
	assert_non_null(strstr(s, ">downtime 40 ms<"));
	assert_non_null(strstr(s, "transfer</tspan> 11: "));
	assert_non_null(strstr(s, "638976 bytes"));
	assert_non_null(strstr(s, "epoch 1 to 2"));
	assert_comments_clean(s);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(entries(), 1);   /* no temp file left beside it */
	/* Written again: replaced whole. */
	struct mig_result r = typical;
	r.downtime = 41;
	assert_int_equal(capctl_svg_write(path, "x", &r, err, sizeof err), 0);
	free(s);
	s = slurp(path);
	assert_non_null(strstr(s, ">downtime 41 ms<"));
	assert_null(strstr(s, ">downtime 40 ms<"));
	assert_int_equal(entries(), 1);
	free(s);
}

static void test_escaping(void **st)
{
	(void)st;
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/e.svg", dir);
	assert_int_equal(capctl_svg_write(path, "a<b>&\"c'\x01\xc3\xa9--", &typical, err,
	                                  sizeof err), 0);
	char *s = slurp(path);
	assert_non_null(strstr(s, "capsule a&lt;b&gt;&amp;&quot;c&apos;?" "?" "?--"));
	assert_null(strstr(s, "a<b"));
	for (const char *p = s; *p; p++)
		assert_true((unsigned char)*p < 0x80);   /* ASCII only */
	assert_comments_clean(s);
	free(s);
}

/* The connections' gaps: one bar each (conn-N), up to CONN_DRAWN, then a line counting the rest;
 * not measured: the reason instead, escaped. */
static void test_connections(void **st)
{
	(void)st;
	char path[128], err[256] = "", want[96];
	snprintf(path, sizeof path, "%s/c.svg", dir);
	static struct mig_result r;
	r = typical;
	r.gaps = (struct mig_gaps){ .measured = 1, .asked = 3, .answered = 3, .n = 3 };
	r.gaps.conn[0] = (struct mig_conn){ 3, "198.19.0.100", 40000, 9000, 2, 41, 1, 0 };
	r.gaps.conn[1] = (struct mig_conn){ 3, "198.19.0.100", 40002, 9000, 0, 44, 1, 1 };
	r.gaps.conn[2] = (struct mig_conn){ 2, "198.18.0.9", 49152, 9000, 3, 90, 0, 0 };
	assert_int_equal(capctl_svg_write(path, "x", &r, err, sizeof err), 0);
	char *s = slurp(path);
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof want, "id=\"conn-%d\"", i);
		assert_non_null(strstr(s, want));
	}
	assert_null(strstr(s, "id=\"conn-3\""));
	assert_non_null(strstr(s, ">198.19.0.100:40002<"));
	assert_non_null(strstr(s, ">41 ms to port 9000, seen by host 3<"));
	assert_non_null(strstr(s, ">at least 44 ms to port 9000, seen by host 3<"));
	assert_non_null(strstr(s, ">90 ms to port 9000, seen by host 2, still silent<"));
	assert_non_null(strstr(s, "(3 of 3 hosts answered)"));
	assert_non_null(strstr(s, "height=\"760\""));   /* three rows more than without */
	free(s);

	r.gaps.n = CAPCTL_MIG_CONNS;
	for (unsigned i = 3; i < CAPCTL_MIG_CONNS; i++)
		r.gaps.conn[i] = r.gaps.conn[i % 3];
	assert_int_equal(capctl_svg_write(path, "x", &r, err, sizeof err), 0);
	s = slurp(path);
	assert_non_null(strstr(s, "id=\"conn-23\""));
	assert_null(strstr(s, "id=\"conn-24\""));
	assert_non_null(strstr(s, "(more connections than drawn: 128 listed, 24 drawn; 0 left out by the hosts)"));
	free(s);

	r.gaps = (struct mig_gaps){ .measured = 0 };
	snprintf(r.gaps.why, sizeof r.gaps.why, "no caphostd at <run>/caphostd.ctl");
	assert_int_equal(capctl_svg_write(path, "x", &r, err, sizeof err), 0);
	s = slurp(path);
	assert_non_null(strstr(s, ">not measured: no caphostd at &lt;run&gt;/caphostd.ctl<"));
	assert_null(strstr(s, "id=\"conn-0\""));
	free(s);
}

/* Zero phases (a 0 ms migration) and absurd ones: finite numbers, a file all the same. */
static void test_extremes(void **st)
{
	(void)st;
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/z.svg", dir);
	struct mig_result zero = { .target = 2, .epoch = 1, .from = 1 };
	assert_int_equal(capctl_svg_write(path, "z", &zero, err, sizeof err), 0);
	char *s = slurp(path);
	assert_null(strstr(s, "nan"));
	assert_null(strstr(s, "inf"));
	assert_non_null(strstr(s, ">downtime 0 ms<"));
	free(s);
	struct mig_result big = typical;
	for (int i = 0; i < CAPCTL_MIG_PHASES; i++)
		big.ms[i] = 1000000000L;
	big.total = 6000000000L;
	big.downtime = -5;   /* caprun never says so; drawn, not trusted */
	assert_int_equal(capctl_svg_write(path, "z", &big, err, sizeof err), 0);
	s = slurp(path);
	assert_null(strstr(s, "nan"));
	assert_null(strstr(s, "inf"));
	assert_string_equal(s + strlen(s) - 7, "</svg>\n");
	assert_true(strlen(s) < 32768);   /* at most 10 ticks on the axis, however long it took */
	free(s);
}

static void test_check(void **st)
{
	(void)st;
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/ok.svg", dir);
	assert_int_equal(capctl_svg_check(path, err, sizeof err), 0);
	assert_int_equal(capctl_svg_check("plain.svg", err, sizeof err), 0);   /* the cwd */
	snprintf(path, sizeof path, "%s/nosuch/m.svg", dir);
	assert_int_equal(capctl_svg_check(path, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "--svg "));
	assert_non_null(strstr(err, path));
	assert_int_equal(capctl_svg_check(dir, err, sizeof err), -1);   /* a directory */
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(capctl_svg_check("", err, sizeof err), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(entries(), 0);   /* checking creates nothing */
}

static void test_write_fails(void **st)
{
	(void)st;
	char path[128], err[256] = "";
	snprintf(path, sizeof path, "%s/nosuch/m.svg", dir);
	assert_int_equal(capctl_svg_write(path, "x", &typical, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, path));
	/* The target is a directory: the rename fails, the temp file goes. */
	snprintf(path, sizeof path, "%s/d", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	char sub[160];
	snprintf(sub, sizeof sub, "%s/f", path);
	assert_int_equal(mkdir(sub, 0700), 0);   /* a non-empty directory cannot be replaced */
	assert_int_equal(capctl_svg_write(path, "x", &typical, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(entries(), 1);   /* just d */
	assert_int_equal(rmdir(sub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extremes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
