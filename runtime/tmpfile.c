/* tmpfile.c: an open /tmp file or directory: the file operations over a tmpfs node, a regular file's offset in an open file description every process shares (tmpstore.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_tmpstore.h"

static const struct rt_file_ops tmpfile_ops, tmpdir_ops;

/*
 * A regular file's private part: its node, its description in the window,
 * and the offset this process last saw there.  f->off mirrors the shared
 * offset while a call runs; fd.c's sendfile moves f->off itself, and such a
 * move (f->off no longer what was seen) is carried to the description.
 */
struct tmp_open {
	struct rt_tnode *node;
	uint32_t desc;
	uint64_t seen;
};

/* An open file over description desc of n, at offset off (its hold already counted here), or 0: no memory. */
static struct rt_file *file_over(struct rt_tnode *n, uint32_t desc, int flags, uint64_t off)
{
	struct tmp_open *o = calloc(1, sizeof *o);
	struct rt_file *f = o ? rt_file_new(&tmpfile_ops, flags) : 0;
	if (!f) {
		free(o);
		return 0;
	}
	o->node = n;
	o->desc = desc;
	o->seen = f->off = off;
	f->priv = o;
	return f;
}

struct rt_file *rt_tmpfile_new(struct rt_tnode *n, int flags)
{
	if (rt_tmpfs_is_dir(n)) {   /* a directory's read position stays this process's own */
		struct rt_file *f = rt_file_new(&tmpdir_ops, flags);
		if (f)
			f->priv = n;
		return f;
	}
	struct rt_tmphead *h = rt_tmpstore_lock(0);   /* there: n is a file in it */
	long d = rt_tmpstore_desc_new(h, n);
	rt_tmpstore_unlock(h);
	struct rt_file *f = d < 0 ? 0 : file_over(n, (uint32_t)d, flags, 0);
	if (!f && d >= 0) {   /* the entry goes back; the hold on n stays the caller's, to let go of */
		h = rt_tmpstore_lock(0);
		rt_tmpstore_desc(h, (uint32_t)d)->node = 0;
		rt_tmpstore_unlock(h);
	}
	return f;
}

/* The file system locked, f->off the shared offset; put_offset after, then unlock. */
static struct rt_tdesc *take_offset(struct rt_file *f, struct rt_tmphead **h)
{
	struct tmp_open *o = f->priv;
	*h = rt_tmpstore_lock(0);   /* there: f holds a description in it */
	struct rt_tdesc *d = rt_tmpstore_desc(*h, o->desc);
	if (f->off != o->seen)
		d->off = f->off;
	f->off = d->off;
	return d;
}

static void put_offset(struct rt_file *f, struct rt_tdesc *d, struct rt_tmphead *h)
{
	struct tmp_open *o = f->priv;
	d->off = o->seen = f->off;
	rt_tmpstore_unlock(h);
}

/*
 * Every buffer under one hold of the lock, so a writev appends as one piece
 * and the offset moves once, as Linux's inode lock makes them.
 */
static long tmpfile_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos, int write)
{
	if (!rt_file_may(f, write))
		return -EBADF;
	struct tmp_open *o = f->priv;
	struct rt_tmphead *h;
	struct rt_tdesc *d = take_offset(f, &h);
	uint64_t at = pos >= 0 ? (uint64_t)pos : f->off;
	if (write && pos < 0 && (f->flags & O_APPEND))
		at = o->node->size;
	long total = 0, r = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].len)
			continue;
		r = write ? rt_tmpstore_write(h, o->node, iov[i].base, iov[i].len, at + (uint64_t)total)
		          : rt_tmpstore_read(h, o->node, iov[i].base, iov[i].len, at + (uint64_t)total);
		if (r < 0)
			break;
		total += r;
		if ((size_t)r < iov[i].len)
			break;
	}
	if (total > 0 && pos < 0)
		f->off = at + (uint64_t)total;
	put_offset(f, d, h);
	return total > 0 ? total : r < 0 ? r : 0;
}

static long tmpfile_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return tmpfile_rw(f, iov, iovcnt, pos, 0);
}

static long tmpfile_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return tmpfile_rw(f, iov, iovcnt, pos, 1);
}

static long tmpfile_llseek(struct rt_file *f, long off, int whence)
{
	struct tmp_open *o = f->priv;
	struct rt_tmphead *h;
	struct rt_tdesc *d = take_offset(f, &h);
	long r = rt_file_seek(f, off, whence, o->node->size);
	put_offset(f, d, h);
	return r;
}

static long tmpfile_nread(struct rt_file *f)
{
	struct tmp_open *o = f->priv;
	struct rt_tmphead *h;
	struct rt_tdesc *d = take_offset(f, &h);
	long n = o->node->size > f->off ? (long)(o->node->size - f->off) : 0;
	put_offset(f, d, h);
	return n;
}

static void tmpfile_fstat(struct rt_file *f, struct stat *st)
{
	rt_tmpfs_fstat(((struct tmp_open *)f->priv)->node, st);
}

static long tmpfile_truncate(struct rt_file *f, uint64_t size)
{
	return rt_file_may(f, 1) ? rt_tmpfs_truncate(((struct tmp_open *)f->priv)->node, size) : -EINVAL;
}

/* This process lets go of one hold on f's description (delta -1), or counts a fork's copy (+1). */
static void hold(struct rt_file *f, int delta)
{
	struct tmp_open *o = f->priv;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	struct rt_tdesc *d = rt_tmpstore_desc(h, o->desc);
	d->held_by[rt_proc_slot()] += (int16_t)delta;
	rt_tmpstore_desc_drop_if_unheld(h, d);
	rt_tmpstore_unlock(h);
}

static void tmpfile_release(struct rt_file *f)
{
	hold(f, -1);
	free(f->priv);
}

static void tmpfile_fork(struct rt_file *f, int undo)
{
	hold(f, undo ? -1 : 1);
}

/* The host named the child: the copy a fork counted is the child's, or gone if the child is already lost. */
static void tmpfile_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	if (!child_slot || child_slot >= CAP_PROC_MAX)
		return;
	struct tmp_open *o = f->priv;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	struct rt_tdesc *d = rt_tmpstore_desc(h, o->desc);
	d->held_by[rt_proc_slot()]--;
	if (!rt_shared_slot_lost(child_slot, child_pid))
		d->held_by[child_slot]++;
	rt_tmpstore_desc_drop_if_unheld(h, d);
	rt_tmpstore_unlock(h);
}

static void report(struct rt_file *f, struct rt_tnode *n, int dir, struct cap_report_fd *r)
{
	r->kind = dir ? CAP_RFD_DIR : CAP_RFD_FILE;
	snprintf(r->u.file.path, sizeof r->u.file.path, "%s", rt_tmpfs_path(n));
	r->u.file.size = dir ? 0 : rt_tmpfs_size(n);
	r->u.file.offset = f->off;
}

static void tmpfile_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct rt_tmphead *h;
	struct rt_tdesc *d = take_offset(f, &h);   /* the offset as every process sees it */
	put_offset(f, d, h);
	report(f, ((struct tmp_open *)f->priv)->node, 0, r);
}

/* SCM_RIGHTS and execve (exec.c): the description, its copy in flight counted on this process's slot. */
static long tmpfile_pass(struct rt_file *f, void *what)
{
	struct rt_passed_fd *d = what;
	hold(f, 1);
	d->kind = RT_PASS_TMPFILE;
	d->flags = f->flags;
	d->tmp_desc = ((struct tmp_open *)f->priv)->desc;
	return 0;
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
	.fork = tmpfile_fork,
	.forked = tmpfile_forked,
	.pass = tmpfile_pass,
};

/* A passed description's hold in flight, counted on the sender's slot: moved to ours, or let go. */
static void move_passed_hold(const struct rt_passed_fd *d, int keep)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	struct rt_tdesc *desc = rt_tmpstore_desc(h, (uint32_t)d->tmp_desc);
	desc->held_by[d->from_slot < CAP_PROC_MAX ? d->from_slot : rt_proc_slot()]--;
	if (keep)
		desc->held_by[rt_proc_slot()]++;
	rt_tmpstore_desc_drop_if_unheld(h, desc);
	rt_tmpstore_unlock(h);
}

struct rt_file *rt_tmpfile_receive(const struct rt_passed_fd *d)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	struct rt_tdesc *desc = h ? rt_tmpstore_desc(h, (uint32_t)d->tmp_desc) : 0;
	struct rt_tnode *n = desc ? (struct rt_tnode *)(uintptr_t)desc->node : 0;
	uint64_t off = desc ? desc->off : 0;
	if (h)
		rt_tmpstore_unlock(h);
	if (!n)
		return 0;   /* not a description (a hand-off from a program without one /tmp) */
	struct rt_file *f = file_over(n, (uint32_t)d->tmp_desc, d->flags, off);
	move_passed_hold(d, f != 0);
	return f;
}

void rt_tmpfile_passed_drop(const struct rt_passed_fd *d)
{
	move_passed_hold(d, 0);
}

static long tmpdir_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, 0);
}

static void tmpdir_fstat(struct rt_file *f, struct stat *st)
{
	rt_tmpfs_fstat(f->priv, st);
}

static long tmpdir_getdents(struct rt_file *f, void *buf, size_t len)
{
	return rt_tmpfs_getdents(f->priv, &f->off, buf, len);
}

static const char *tmpdir_path(struct rt_file *f)
{
	return rt_tmpfs_path(f->priv);
}

static void tmpdir_release(struct rt_file *f)
{
	rt_tmpfs_unref(f->priv);
}

static void tmpdir_report(struct rt_file *f, struct cap_report_fd *r)
{
	report(f, f->priv, 1, r);
}

/*
 * A directory's node is counted once per process that holds it (each
 * process lets go at its close): fork counts the child's copy at once, and
 * a child lost without closing leaves the count (the node is never freed:
 * only an unlinked, empty directory is, at its last close).
 */
static void tmpdir_fork(struct rt_file *f, int undo)
{
	if (undo)
		rt_tmpfs_unref(f->priv);
	else
		rt_tmpfs_ref(f->priv);
}

static const struct rt_file_ops tmpdir_ops = {
	.read = rt_file_dir_read,
	.write = rt_file_dir_write,
	.llseek = tmpdir_llseek,
	.fstat = tmpdir_fstat,
	.getdents = tmpdir_getdents,
	.dir_path = tmpdir_path,
	.release = tmpdir_release,
	.report = tmpdir_report,
	.fork = tmpdir_fork,
};
