/* test_rt_tmpfs.c: the runtime's in-memory /tmp and path normalization (host build, ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <cmocka.h>
#include "runtime/rt_fd.h"

static void normalize(void **state)
{
	(void)state;
	char out[RT_PATH_MAX];
	assert_int_equal(rt_path_normalize("/", "tmp//a/./b/../c", out), 0);
	assert_string_equal(out, "/tmp/a/c");
	assert_int_equal(rt_path_normalize("/tmp", "../..", out), 0);
	assert_string_equal(out, "/");
	assert_int_equal(rt_path_normalize("/tmp", "/x/", out), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(rt_path_normalize("/", "", out), -ENOENT);
}

static void create_write_read(void **state)
{
	(void)state;
	struct rt_tnode *n, *n2;
	char buf[32];
	assert_int_equal(rt_tmpfs_open("/tmp/f", O_RDONLY, 0, &n), -ENOENT);
	assert_int_equal(rt_tmpfs_open("/tmp/f", O_CREAT | O_RDWR, 0644, &n), 0);
	assert_int_equal(rt_tmpfs_write(n, "hello", 5, 0), 5);
	assert_int_equal(rt_tmpfs_write(n, "!", 1, 8), 1);   /* leaves a zero-filled gap */
	assert_int_equal(rt_tmpfs_size(n), 9);
	assert_int_equal(rt_tmpfs_read(n, buf, sizeof buf, 0), 9);
	assert_memory_equal(buf, "hello\0\0\0!", 9);
	assert_int_equal(rt_tmpfs_open("/tmp/f", O_CREAT | O_EXCL | O_RDWR, 0644, &n2), -EEXIST);
	assert_int_equal(rt_tmpfs_open("/tmp/f", O_TRUNC | O_WRONLY, 0, &n2), 0);
	assert_ptr_equal(n, n2);
	assert_int_equal(rt_tmpfs_size(n), 0);
	rt_tmpfs_unref(n2);
	rt_tmpfs_unref(n);
	assert_int_equal(rt_tmpfs_unlink("/tmp/f"), 0);
}

static void unlinked_file_stays_open(void **state)
{
	(void)state;
	struct rt_tnode *n;
	struct stat st;
	char c;
	assert_int_equal(rt_tmpfs_open("/tmp/u", O_CREAT | O_RDWR, 0600, &n), 0);
	rt_tmpfs_write(n, "x", 1, 0);
	assert_int_equal(rt_tmpfs_unlink("/tmp/u"), 0);
	assert_int_equal(rt_tmpfs_stat("/tmp/u", &st), -ENOENT);
	assert_int_equal(rt_tmpfs_read(n, &c, 1, 0), 1);
	rt_tmpfs_fstat(n, &st);
	assert_int_equal(st.st_nlink, 0);
	rt_tmpfs_unref(n);   /* freed now (ASan checks) */
}

static void directories_and_rename(void **state)
{
	(void)state;
	struct rt_tnode *n, *d;
	struct stat st;
	assert_int_equal(rt_tmpfs_mkdir("/tmp/d", 0755), 0);
	assert_int_equal(rt_tmpfs_mkdir("/tmp/d", 0755), -EEXIST);
	assert_int_equal(rt_tmpfs_mkdir("/nope", 0755), -EACCES);
	assert_int_equal(rt_tmpfs_mkdir("/tmp/x/y", 0755), -ENOENT);
	assert_int_equal(rt_tmpfs_open("/tmp/d/a", O_CREAT | O_WRONLY, 0644, &n), 0);
	rt_tmpfs_unref(n);
	assert_int_equal(rt_tmpfs_open("/nodir/x", O_CREAT | O_WRONLY, 0644, &n), -ENOENT);
	assert_int_equal(rt_tmpfs_open("/etc/x", O_CREAT | O_WRONLY, 0644, &n), -EACCES);   /* read-only */
	assert_int_equal(rt_tmpfs_open("/x", O_CREAT | O_WRONLY, 0644, &n), -EACCES);
	assert_int_equal(rt_tmpfs_rmdir("/tmp/d"), -ENOTEMPTY);
	assert_int_equal(rt_tmpfs_rename("/tmp/d", "/tmp/e"), 0);
	assert_int_equal(rt_tmpfs_stat("/tmp/e/a", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(rt_tmpfs_stat("/tmp/d/a", &st), -ENOENT);
	/* getdents lists ".", "..", "a" */
	assert_int_equal(rt_tmpfs_open("/tmp/e", O_RDONLY | O_DIRECTORY, 0, &d), 0);
	char buf[512];
	uint64_t pos = 0;
	long len = rt_tmpfs_getdents(d, &pos, buf, sizeof buf);
	assert_true(len > 0);
	int names = 0, found = 0;
	for (long o = 0; o < len;) {
		unsigned short rec;
		memcpy(&rec, buf + o + 16, 2);
		if (!strcmp(buf + o + 19, "a"))
			found = 1;
		names++;
		o += rec;
	}
	assert_int_equal(names, 3);
	assert_true(found);
	assert_int_equal(rt_tmpfs_getdents(d, &pos, buf, sizeof buf), 0);
	rt_tmpfs_unref(d);
	assert_int_equal(rt_tmpfs_unlink("/tmp/e/a"), 0);
	assert_int_equal(rt_tmpfs_rmdir("/tmp/e"), 0);
	assert_int_equal(rt_tmpfs_rmdir("/tmp"), -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalize),
		cmocka_unit_test(create_write_read),
		cmocka_unit_test(unlinked_file_stays_open),
		cmocka_unit_test(directories_and_rename),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
