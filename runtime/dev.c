/* dev.c: the device files a capsule has: /dev/null, /dev/zero, /dev/urandom (and /dev/random). */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"

static long null_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)f; (void)buf; (void)len; (void)pos; (void)nonblock;
	return 0;
}

static long sink_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)f; (void)buf; (void)pos; (void)nonblock;
	return (long)len;
}

static long zero_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)f; (void)pos; (void)nonblock;
	memset(buf, 0, len);
	return (long)len;
}

static long random_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)f; (void)pos; (void)nonblock;
	return rt_host_getrandom(buf, len);
}

static long null_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, null_one);
}

static long zero_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, zero_one);
}

static long random_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, random_one);
}

/* Writes to any device vanish. */
static long dev_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 1, sink_one);
}

static long dev_llseek(struct rt_file *f, long off, int whence)
{
	(void)f; (void)off; (void)whence;
	return 0;
}

static int dev_poll(struct rt_file *f, int events)
{
	(void)f;
	return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
}

static void dev_fstat(struct rt_file *f, struct stat *st);
static void dev_report(struct rt_file *f, struct cap_report_fd *r);

static const struct rt_file_ops null_ops = {
	.read = null_read, .write = dev_write, .positional = 1, .llseek = dev_llseek,
	.poll = dev_poll, .fstat = dev_fstat, .report = dev_report,
};
static const struct rt_file_ops zero_ops = {
	.read = zero_read, .write = dev_write, .positional = 1, .llseek = dev_llseek,
	.poll = dev_poll, .fstat = dev_fstat, .report = dev_report,
};
static const struct rt_file_ops random_ops = {
	.read = random_read, .write = dev_write, .llseek = dev_llseek,
	.poll = dev_poll, .fstat = dev_fstat, .report = dev_report,
};

static const struct {
	const char *path;
	const struct rt_file_ops *ops;
	unsigned minor;
	unsigned ino;      /* fixed, for stat by path */
} devices[] = {
	/* /dev/random is /dev/urandom under another name, as the first match says. */
	{ "/dev/null", &null_ops, 3, 1008 }, { "/dev/zero", &zero_ops, 5, 1009 },
	{ "/dev/urandom", &random_ops, 9, 1010 }, { "/dev/random", &random_ops, 9, 1010 },
};
#define NDEVICES (sizeof devices / sizeof devices[0])

const struct rt_file_ops *rt_dev_ops(const char *path)
{
	for (size_t i = 0; i < NDEVICES; i++)
		if (!strcmp(path, devices[i].path))
			return devices[i].ops;
	return 0;
}

int rt_dev_number(const struct rt_file *f)
{
	for (size_t i = 0; i < 3; i++)
		if (f->ops == devices[i].ops)
			return (int)i + 1;
	return 0;
}

const struct rt_file_ops *rt_dev_ops_of(int number)
{
	return number >= 1 && number <= 3 ? devices[number - 1].ops : 0;
}

/* The first entry with these operations: /dev/random reports itself as /dev/urandom. */
static size_t dev_index(const struct rt_file_ops *ops)
{
	size_t i = 0;
	while (i < NDEVICES - 1 && devices[i].ops != ops)
		i++;
	return i;
}

static void dev_fstat(struct rt_file *f, struct stat *st)
{
	st->st_mode = S_IFCHR | 0666;
	st->st_rdev = makedev(1, devices[dev_index(f->ops)].minor);
}

/* stat by path: like an open file's, with the device's own inode number. */
void rt_dev_stat(const struct rt_file_ops *ops, struct stat *st)
{
	struct rt_file f = { .ops = ops };
	rt_file_stat(&f, st);
	st->st_ino = devices[dev_index(ops)].ino;
}

static void dev_report(struct rt_file *f, struct cap_report_fd *r)
{
	r->kind = CAP_RFD_DEV;
	snprintf(r->u.file.path, sizeof r->u.file.path, "%s", devices[dev_index(f->ops)].path);
}
