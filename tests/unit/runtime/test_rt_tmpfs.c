/* test_rt_tmpfs.c: the runtime's in-memory /tmp (its nodes and pages in a shared window mapped here) and path normalization (host build, ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_tmpstore.h"

/* What tmpstore.c and shared.c want from the rest of the runtime. */
unsigned rt_proc_slot(void)
{
	return 0;
}

void rt_console_write(int fd, const char *s)
{
	(void)fd;
	(void)s;
}

/* The shared window, where a capsule's loader maps it. */
static int map_window(void **state)
{
	(void)state;
	void *w = mmap((void *)CAP_SHARED_ADDR, CAP_SHARED_SIZE, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
	return w == (void *)CAP_SHARED_ADDR ? 0 : -1;
}

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
	rt_tmpfs_unref(n);   /* freed now: its page goes back to the window */
}

/* Bytes across the direct pages, the page table and the table of tables; holes read as zeros. */
static void large_and_sparse(void **state)
{
	(void)state;
	struct rt_tnode *n;
	static char buf[3 << 20];
	assert_int_equal(rt_tmpfs_open("/tmp/big", O_CREAT | O_RDWR, 0600, &n), 0);
	uint64_t offs[] = { 0, 65535, 4096 * 16 + 7, (4096ULL * (16 + 1024)) - 3, 40ULL << 20 };
	for (unsigned i = 0; i < sizeof offs / sizeof offs[0]; i++)
		assert_int_equal(rt_tmpfs_write(n, "abcdef", 6, offs[i]), 6);
	assert_int_equal(rt_tmpfs_size(n), (40 << 20) + 6);
	for (unsigned i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		char six[6];
		assert_int_equal(rt_tmpfs_read(n, six, 6, offs[i]), 6);
		assert_memory_equal(six, "abcdef", 6);
	}
	assert_int_equal(rt_tmpfs_read(n, buf, 100, 30 << 20), 100);   /* a hole */
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(rt_tmpfs_truncate(n, 65536 + 2), 0);   /* "bc" of the second write stays */
	assert_int_equal(rt_tmpfs_truncate(n, 65536 + 10), 0);
	assert_int_equal(rt_tmpfs_read(n, buf, 10, 65536), 10);
	assert_memory_equal(buf, "bc\0\0\0\0\0\0\0\0", 10);   /* the third write's bytes are gone */
	rt_tmpfs_unref(n);
	assert_int_equal(rt_tmpfs_unlink("/tmp/big"), 0);
}

/* The window bounds /tmp: ENOSPC (a short write first), and the space comes back after unlink. */
static void window_full_then_freed(void **state)
{
	(void)state;
	struct rt_tnode *a, *b;
	char *chunk = malloc(1 << 20);
	memset(chunk, 'x', 1 << 20);
	assert_int_equal(rt_tmpfs_open("/tmp/a", O_CREAT | O_RDWR, 0600, &a), 0);
	long r = 0;
	uint64_t at = 0;
	while ((r = rt_tmpfs_write(a, chunk, 1 << 20, at)) == 1 << 20)
		at += (uint64_t)r;
	if (r > 0) {
		at += (uint64_t)r;
		r = rt_tmpfs_write(a, chunk, 1 << 20, at);
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(at > (50u << 20) && at < (64u << 20));
	assert_int_equal(rt_tmpfs_unlink("/tmp/a"), 0);
	rt_tmpfs_unref(a);
	assert_int_equal(rt_tmpfs_open("/tmp/b", O_CREAT | O_RDWR, 0600, &b), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(rt_tmpfs_write(b, chunk, 1 << 20, (uint64_t)i << 20), 1 << 20);
	rt_tmpfs_unref(b);
	assert_int_equal(rt_tmpfs_unlink("/tmp/b"), 0);
	free(chunk);
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
		cmocka_unit_test(large_and_sparse),
		cmocka_unit_test(window_full_then_freed),
		cmocka_unit_test(directories_and_rename),
	};
	return cmocka_run_group_tests(tests, map_window, NULL);
}
