/* tmpfile.c: an open /tmp file or directory: the file operations over a tmpfs node (tmpfs.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"

static const struct rt_file_ops tmpfile_ops, tmpdir_ops;

struct rt_file *rt_tmpfile_new(struct rt_tnode *n, int flags)
{
	struct rt_file *f = rt_file_new(rt_tmpfs_is_dir(n) ? &tmpdir_ops : &tmpfile_ops, flags);
	if (f)
		f->priv = n;
	return f;
}

/* pos < 0: at the file offset (or the end, appending), which then moves on. */
static long tmpfile_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int write)
{
	struct rt_tnode *n = f->priv;
	uint64_t at = pos >= 0 ? (uint64_t)pos : f->off;
	if (write && pos < 0 && (f->flags & O_APPEND))
		at = rt_tmpfs_size(n);
	long r = write ? rt_tmpfs_write(n, buf, len, at) : rt_tmpfs_read(n, buf, len, at);
	if (r > 0 && pos < 0)
		f->off = at + (uint64_t)r;
	return r;
}

static long tmpfile_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return tmpfile_one(f, buf, len, pos, 0);
}

static long tmpfile_write_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return tmpfile_one(f, buf, len, pos, 1);
}

static long tmpfile_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 0) ? rt_file_rw_each(f, iov, iovcnt, pos, 0, tmpfile_read_one) : -EBADF;
}

static long tmpfile_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 1) ? rt_file_rw_each(f, iov, iovcnt, pos, 1, tmpfile_write_one) : -EBADF;
}

static long tmpfile_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, rt_tmpfs_size(f->priv));
}

static long tmpfile_nread(struct rt_file *f)
{
	uint64_t size = rt_tmpfs_size(f->priv);
	return size > f->off ? (long)(size - f->off) : 0;
}

static void tmpfile_fstat(struct rt_file *f, struct stat *st)
{
	rt_tmpfs_fstat(f->priv, st);
}

static long tmpfile_truncate(struct rt_file *f, uint64_t size)
{
	return rt_file_may(f, 1) ? rt_tmpfs_truncate(f->priv, size) : -EINVAL;
}

static void tmpfile_release(struct rt_file *f)
{
	rt_tmpfs_unref(f->priv);
}

static void tmpfile_report(struct rt_file *f, struct cap_report_fd *r)
{
	int dir = f->ops == &tmpdir_ops;
	r->kind = dir ? CAP_RFD_DIR : CAP_RFD_FILE;
	snprintf(r->u.file.path, sizeof r->u.file.path, "%s", rt_tmpfs_path(f->priv));
	r->u.file.size = dir ? 0 : rt_tmpfs_size(f->priv);
	r->u.file.offset = f->off;
}

/* No poll: always ready, and epoll refuses regular files and directories, as Linux does. */
static const struct rt_file_ops tmpfile_ops = {
	.read = tmpfile_read,
	.write = tmpfile_write,
	.positional = 1,
	.llseek = tmpfile_llseek,
	.nread = tmpfile_nread,
	.fstat = tmpfile_fstat,
	.truncate = tmpfile_truncate,
	.release = tmpfile_release,
	.report = tmpfile_report,
};

static long tmpdir_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, 0);
}

static long tmpdir_getdents(struct rt_file *f, void *buf, size_t len)
{
	return rt_tmpfs_getdents(f->priv, &f->off, buf, len);
}

static const char *tmpdir_path(struct rt_file *f)
{
	return rt_tmpfs_path(f->priv);
}

static const struct rt_file_ops tmpdir_ops = {
	.read = rt_file_dir_read,
	.write = rt_file_dir_write,
	.llseek = tmpdir_llseek,
	.fstat = tmpfile_fstat,
	.getdents = tmpdir_getdents,
	.dir_path = tmpdir_path,
	.release = tmpfile_release,
	.report = tmpfile_report,
};
