/* test_rt_fd.c: the fd layer (runtime/fd.c) on the host, over fake operations tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/rt_fd.h"
#include "runtime/rt_sys.h"

/* ---- a fake kind: a byte source that records what the fd layer asked of it ---- */
struct fake {
	int released;
	int64_t last_pos;
	int last_nonblock;
	size_t chunk;           /* bytes one call moves at most; 0: all asked */
	int calls;
	unsigned long last_ioctl;
};

static long fake_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	struct fake *k = f->priv;
	k->calls++;
	k->last_pos = pos;
	k->last_nonblock = nonblock;
	if (k->chunk && len > k->chunk)
		len = k->chunk;
	memset(buf, 'x', len);
	if (pos < 0)
		f->off += len;
	return (long)len;
}

static long fake_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, fake_one);
}

static long fake_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 1, fake_one);
}

static long fake_nread(struct rt_file *f)
{
	(void)f;
	return 42;
}

static long fake_ioctl(struct rt_file *f, unsigned long req, long arg)
{
	(void)arg;
	((struct fake *)f->priv)->last_ioctl = req;
	return 7;
}

static void fake_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFCHR | 0644;
}

static void fake_release(struct rt_file *f)
{
	((struct fake *)f->priv)->released++;
}

static long fake_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, 100);
}

static const struct rt_file_ops fake_ops = {
	.read = fake_read, .write = fake_write, .positional = 1, .llseek = fake_llseek,
	.nread = fake_nread, .ioctl = fake_ioctl, .fstat = fake_fstat, .release = fake_release,
};

/* A kind that fills in nothing: every call gets the fd layer's default. */
static const struct rt_file_ops bare_ops = { .release = fake_release };

/* The console is another file's business: here, three bare files. */
static struct rt_file consoles[3];
struct rt_file *rt_console_file(int fd)
{
	consoles[fd] = (struct rt_file){ .refs = 2, .ops = &bare_ops, .handle = fd };
	return &consoles[fd];
}

static int open_fake(const struct rt_file_ops *ops, struct fake *k, int flags)
{
	memset(k, 0, sizeof *k);
	struct rt_file *f = rt_file_new(ops, flags);
	assert_non_null(f);
	f->priv = k;
	long fd = rt_fd_install_new(f, 0);
	assert_true(fd >= 3);
	return (int)fd;
}

static void test_rw_goes_through_the_table(void **state)
{
	(void)state;
	struct fake k;
	int fd = open_fake(&fake_ops, &k, O_RDWR);
	char buf[16];
	assert_int_equal(rt_sys_read(fd, buf, sizeof buf), 16);
	assert_int_equal(k.last_pos, -1);
	assert_int_equal(rt_fd_get(fd)->off, 16);
	assert_int_equal(rt_sys_prw(fd, buf, 8, 50, 1), 8);
	assert_int_equal(k.last_pos, 50);
	assert_int_equal(rt_sys_prw(fd, buf, 8, -1, 0), -EINVAL);
	/* One iovec array: each buffer in turn, positions following on, reads stop waiting after data. */
	k.chunk = 0;
	struct rt_iovec v[3] = { { buf, 4 }, { buf, 0 }, { buf + 4, 4 } };
	assert_int_equal(rt_sys_prwv(fd, v, 3, 10, 0), 8);
	assert_int_equal(k.last_pos, 14);
	assert_int_equal(k.last_nonblock, 1);
	/* A short piece ends the call. */
	k.chunk = 2;
	k.calls = 0;
	assert_int_equal(rt_sys_rwv(fd, v, 3, 1), 2);
	assert_int_equal(k.calls, 1);
	assert_int_equal(k.last_nonblock, 0);   /* writes block as their file says */
	assert_int_equal(rt_sys_rwv(fd, v, -1, 0), -EINVAL);
	assert_int_equal(rt_sys_rwv(fd, v, 1025, 0), -EINVAL);
	assert_int_equal(rt_sys_close(fd), 0);
	assert_int_equal(k.released, 1);
	assert_int_equal(rt_sys_read(fd, buf, 1), -EBADF);
}

static void test_defaults_of_an_empty_table(void **state)
{
	(void)state;
	struct fake k;
	int fd = open_fake(&bare_ops, &k, O_RDWR);
	char buf[4];
	int n;
	struct stat st;
	assert_int_equal(rt_sys_read(fd, buf, 4), -EINVAL);
	assert_int_equal(rt_sys_write(fd, buf, 4), -EINVAL);
	assert_int_equal(rt_sys_prw(fd, buf, 4, 0, 0), -ESPIPE);
	assert_int_equal(rt_sys_lseek(fd, 0, SEEK_SET), -ESPIPE);
	assert_int_equal(rt_sys_ioctl(fd, FIONREAD, (long)&n), -ENOTTY);
	assert_int_equal(rt_sys_ioctl(fd, TIOCGWINSZ, 0), -ENOTTY);
	assert_int_equal(rt_sys_ftruncate(fd, 0), -EINVAL);
	assert_int_equal(rt_sys_getdents64(fd, buf, 4), -ENOTDIR);
	assert_null(rt_file_dir_path(rt_fd_get(fd)));
	assert_int_equal(rt_fd_poll(fd, POLLIN | POLLOUT | POLLPRI), POLLIN | POLLOUT);
	assert_int_equal(rt_file_watches_console(rt_fd_get(fd)), 0);
	assert_int_equal(rt_sys_fstat(fd, &st), 0);
	assert_int_equal(st.st_mode, 0600);
	assert_int_equal(st.st_ino, (ino_t)(uintptr_t)rt_fd_get(fd));
	assert_int_equal(rt_fd_poll(999, POLLIN), POLLNVAL);
	rt_sys_close(fd);
}

static void test_ioctl_fstat_seek(void **state)
{
	(void)state;
	struct fake k;
	int fd = open_fake(&fake_ops, &k, O_RDWR);
	int n = 0, on = 1;
	struct stat st;
	assert_int_equal(rt_sys_ioctl(fd, FIONREAD, (long)&n), 0);
	assert_int_equal(n, 42);
	assert_int_equal(rt_sys_ioctl(fd, TIOCGWINSZ, 0), 7);
	assert_int_equal(k.last_ioctl, TIOCGWINSZ);
	assert_int_equal(rt_sys_ioctl(fd, FIONBIO, (long)&on), 0);
	assert_int_equal(rt_sys_fcntl(fd, F_GETFL, 0), O_RDWR | O_NONBLOCK);
	assert_int_equal(rt_sys_fstat(fd, &st), 0);
	assert_int_equal(st.st_mode, S_IFCHR | 0644);
	assert_int_equal(st.st_blksize, 4096);
	assert_int_equal(rt_sys_lseek(fd, -10, SEEK_END), 90);
	assert_int_equal(rt_sys_lseek(fd, 5, SEEK_CUR), 95);
	assert_int_equal(rt_sys_lseek(fd, -96, SEEK_CUR), -EINVAL);
	assert_int_equal(rt_sys_lseek(fd, 0, 42), -EINVAL);
	rt_sys_close(fd);
}

static void test_dup_shares_one_file(void **state)
{
	(void)state;
	struct fake k;
	int fd = open_fake(&fake_ops, &k, O_RDWR);
	long d = rt_sys_dup(fd, 0, 1);
	assert_true(d > fd);
	assert_ptr_equal(rt_fd_get((int)d), rt_fd_get(fd));
	assert_int_equal(rt_sys_fcntl((int)d, F_GETFD, 0), FD_CLOEXEC);
	assert_int_equal(rt_sys_dup3(fd, 100, 0, 0), 100);
	assert_int_equal(rt_sys_dup3(fd, fd, 0, 0), -EINVAL);
	assert_int_equal(rt_sys_dup3(fd, fd, 0, 1), fd);
	rt_sys_close(fd);
	rt_sys_close((int)d);
	assert_int_equal(k.released, 0);
	rt_sys_close(100);
	assert_int_equal(k.released, 1);   /* once, with the last descriptor */
}

static void test_console_slots(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		assert_ptr_equal(rt_fd_get(i), &consoles[i]);
	assert_int_equal(rt_sys_close(1), 0);
	assert_int_equal(consoles[1].refs, 1);   /* never freed */
	assert_int_equal(rt_sys_dup3(2, 1, 0, 0), 1);
}

/* The capsule's --max-fds: RLIMIT_NOFILE below it is honoured, above it EPERM. */
static void test_descriptor_limit(void **state)
{
	(void)state;
	uint64_t cur, max;
	rt_fd_set_capacity(16);
	rt_fd_getrlimit(&cur, &max);
	assert_int_equal(cur, 16);
	assert_int_equal(max, 16);
	assert_int_equal(rt_fd_setrlimit(17, 17), -EPERM);
	assert_int_equal(rt_fd_setrlimit(UINT64_MAX, UINT64_MAX), -EPERM);
	assert_int_equal(rt_fd_setrlimit(9, 8), -EINVAL);
	assert_int_equal(rt_fd_setrlimit(5, 16), 0);
	/* 0-2 are the console: two more descriptors fit below 5. */
	assert_int_equal(rt_sys_dup(0, 0, 0), 3);
	assert_int_equal(rt_sys_dup(0, 0, 0), 4);
	assert_int_equal(rt_sys_dup(0, 0, 0), -EMFILE);
	assert_int_equal(rt_sys_dup3(0, 5, 0, 0), -EBADF);
	assert_int_equal(rt_sys_fcntl(0, F_DUPFD, 5), -EINVAL);
	assert_int_equal(rt_fd_setrlimit(16, 16), 0);   /* raised again, up to the capacity */
	assert_int_equal(rt_sys_dup3(0, 15, 0, 0), 15);
	assert_true(rt_fd_high_water() >= 16);   /* the freeze report looks this far */
	rt_sys_close(3);
	rt_sys_close(4);
	rt_sys_close(15);
	rt_fd_set_capacity(0);                            /* 0: the default */
	assert_int_equal(rt_fd_capacity(), RT_DEFAULT_FDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_goes_through_the_table),
		cmocka_unit_test(test_defaults_of_an_empty_table),
		cmocka_unit_test(test_ioctl_fstat_seek),
		cmocka_unit_test(test_dup_shares_one_file),
		cmocka_unit_test(test_console_slots),
		cmocka_unit_test(test_descriptor_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
