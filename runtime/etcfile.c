/* etcfile.c: /etc and its synthesized files (etc.c) as read-only open files: the layer path.c asks after mounts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include "capsule-abi/cap_auxv.h"
#include "capsule-abi/cap_report.h"
#include "runtime/rt_etc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"

#define ETC_FILE_MAX 4096   /* the longest text etc.c makes is far below this */
#define ETC_INO_BASE 0x45740000u

/* Name servers from caprun --dns, copied at start: .bss, so they move with the capsule. */
static char dns_addr[RT_ETC_MAX_DNS][RT_ETC_DNS_LEN];
static int dns_count;

void rt_etcfile_init(void)
{
	int saved_errno = errno;   /* getauxval sets ENOENT without --dns: main must not see it */
	const char *s = (const char *)getauxval(CAP_AT_DNS);
	errno = saved_errno;
	dns_count = 0;
	while (s && *s && dns_count < RT_ETC_MAX_DNS) {
		size_t l = strcspn(s, "\n");
		if (l && l < RT_ETC_DNS_LEN) {
			memcpy(dns_addr[dns_count], s, l);
			dns_addr[dns_count++][l] = 0;
		}
		s += l + (s[l] == '\n');
	}
}

/* The facts as they are now: a resume under another --name renames the host, as uname does. */
static void facts_now(struct rt_etc_facts *f, char *name, size_t namelen)
{
	size_t l = strnlen(RT_CONTROL->name, sizeof RT_CONTROL->name);
	if (l >= namelen)
		l = namelen - 1;
	memcpy(name, RT_CONTROL->name, l);
	name[l] = 0;
	memset(f, 0, sizeof *f);
	f->name = name;
	f->ip = RT_CONTROL->ip;
	f->ndns = dns_count;
	for (int i = 0; i < dns_count; i++)
		f->dns[i] = dns_addr[i];
}

/* An open file holds its text as it was at open, like a file read while nobody changes it. */
struct etc_text {
	int which;
	size_t len;
	char data[];
};

static struct etc_text *etc_text_make(int which, const struct rt_etc_facts *f)
{
	char buf[ETC_FILE_MAX];
	long len = rt_etc_render(which, f, buf, sizeof buf);
	if (len < 0)
		return 0;
	struct etc_text *t = malloc(sizeof *t + (size_t)len);
	if (!t)
		return 0;
	t->which = which;
	t->len = (size_t)len;
	memcpy(t->data, buf, (size_t)len);
	return t;
}

static void etc_stat_file(int which, size_t len, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 0x102;
	st->st_ino = ETC_INO_BASE + (unsigned)which;
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = (off_t)len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
}

static long etcfile_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	struct etc_text *t = f->priv;
	uint64_t at = pos >= 0 ? (uint64_t)pos : f->off;
	(void)nonblock;
	if (at >= t->len)
		return 0;
	if (len > t->len - at)
		len = t->len - (size_t)at;
	memcpy(buf, t->data + at, len);
	if (pos < 0)
		f->off = at + len;
	return (long)len;
}

static long etcfile_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, etcfile_read_one);
}

static long etcfile_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	return -EBADF;   /* opened read-only: open refuses writers */
}

static long etcfile_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, ((struct etc_text *)f->priv)->len);
}

static long etcfile_nread(struct rt_file *f)
{
	struct etc_text *t = f->priv;
	return t->len > f->off ? (long)(t->len - f->off) : 0;
}

static void etcfile_fstat(struct rt_file *f, struct stat *st)
{
	struct etc_text *t = f->priv;
	etc_stat_file(t->which, t->len, st);
}

static void etcfile_release(struct rt_file *f)
{
	free(f->priv);
}

static void etcfile_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct etc_text *t = f->priv;
	r->kind = CAP_RFD_FILE;
	snprintf(r->u.file.path, sizeof r->u.file.path, "/etc/%s", rt_etc_name(t->which));
	r->u.file.size = t->len;
	r->u.file.offset = f->off;
}

static const struct rt_file_ops etcfile_ops = {
	.read = etcfile_read,
	.write = etcfile_write,
	.positional = 1,
	.llseek = etcfile_llseek,
	.nread = etcfile_nread,
	.fstat = etcfile_fstat,
	.release = etcfile_release,
	.report = etcfile_report,
};

/* /etc itself: its entries are the files present now (resolv.conf only with --dns). */

static long etcdir_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	return -EISDIR;
}

static long etcdir_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, 0);
}

/* The directory node itself is tmpfs's (read-only, listed in "/"); only its entries are ours. */
static void etcdir_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	if (rt_tmpfs_stat("/etc", st) < 0) {
		memset(st, 0, sizeof *st);
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	}
}

/* Entries are ".", "..", then each present file; f->off counts entries. */
static long etcdir_getdents(struct rt_file *f, void *buf, size_t len)
{
	struct rt_etc_facts facts;
	char name[sizeof RT_CONTROL->name + 1];
	size_t used = 0;
	facts_now(&facts, name, sizeof name);
	for (uint64_t idx = f->off; idx < 2 + (uint64_t)rt_etc_count(); idx++) {
		int which = (int)idx - 2;
		const char *n = idx == 0 ? "." : idx == 1 ? ".." : rt_etc_name(which);
		if (which >= 0 && !rt_etc_present(which, &facts)) {
			f->off = idx + 1;
			continue;
		}
		if (rt_dirent_put(buf, len, &used, which >= 0 ? ETC_INO_BASE + (unsigned)which : 1,
		                  (int64_t)idx + 1, which >= 0 ? DT_REG : DT_DIR, n))
			return used ? (long)used : -EINVAL;
		f->off = idx + 1;
	}
	return (long)used;
}

static const char *etcdir_path(struct rt_file *f)
{
	(void)f;
	return "/etc";
}

static void etcdir_report(struct rt_file *f, struct cap_report_fd *r)
{
	r->kind = CAP_RFD_DIR;
	snprintf(r->u.file.path, sizeof r->u.file.path, "/etc");
	r->u.file.size = 0;
	r->u.file.offset = f->off;
}

static const struct rt_file_ops etcdir_ops = {
	.read = etcdir_read,
	.write = etcfile_write,
	.llseek = etcdir_llseek,
	.fstat = etcdir_fstat,
	.getdents = etcdir_getdents,
	.dir_path = etcdir_path,
	.report = etcdir_report,
};

long rt_etcfile_open(const char *path, int flags, struct rt_file **out)
{
	struct rt_etc_facts facts;
	char name[sizeof RT_CONTROL->name + 1];
	facts_now(&facts, name, sizeof name);
	int which = rt_etc_find(path, &facts);
	int keep = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
	if (which == -1)
		return -ENOENT;
	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (which == RT_ETC_DIR) {
		if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
			return -EISDIR;
		*out = rt_file_new(&etcdir_ops, keep);
		return *out ? 0 : -ENFILE;
	}
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return -EROFS;   /* made by the capsule's runtime; a volume (-v) can replace it */
	struct etc_text *t = etc_text_make(which, &facts);
	if (!t)
		return -ENOMEM;
	*out = rt_file_new(&etcfile_ops, keep);
	if (!*out) {
		free(t);
		return -ENFILE;
	}
	(*out)->priv = t;
	return 0;
}

long rt_etcfile_stat(const char *path, struct stat *st)
{
	struct rt_etc_facts facts;
	char name[sizeof RT_CONTROL->name + 1];
	facts_now(&facts, name, sizeof name);
	int which = rt_etc_find(path, &facts);
	if (which == -1 || which == RT_ETC_DIR)
		return -ENOENT;   /* "/etc" itself is a tmpfs directory */
	char buf[ETC_FILE_MAX];
	long len = rt_etc_render(which, &facts, buf, sizeof buf);
	if (len < 0)
		return -ENOMEM;
	etc_stat_file(which, (size_t)len, st);
	return 0;
}
