/* shm.c: POSIX named shared memory (shm_open, shm_unlink: musl opens /dev/shm/NAME): objects whose pages live in the shared window, so every process of the capsule maps the same bytes and a snapshot or migration carries them (docs/PROCESSES.md, section 5). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "capsule-abi/cap_proc.h"
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_shm.h"

#define SHM_DIR "/dev/shm/"
#define SHM_DIR_LEN 9
#define SHM_OBJECTS 128     /* named objects at once in a capsule */
#define SHM_MAPPINGS 256    /* mappings of objects at once in one process */
#define SHM_UMASK 022       /* the runtime's umask (syscall.c) */

/*
 * One object, in the window.  Its pages are one run of window slots,
 * placed at its first ftruncate (or write, or mmap) and moved (copied) to a
 * larger run while it grows, until it is first mapped: then they stay, so
 * every mapping of it, in every process, is the same address.  held_by
 * counts each process slot's open files and mappings of it, signed like a
 * pipe's (pipe.c: a fork's copies move to the child's slot once the host
 * names it); the object goes when it has no name and no holder left.
 */
struct shm_obj {
	uint32_t used;          /* 0: a free entry */
	uint32_t linked;        /* its name still exists (shm_unlink not yet) */
	uint32_t mode;          /* permission bits */
	uint32_t mapped;        /* mapped once: its pages no longer move */
	uint64_t size;          /* bytes (ftruncate); beyond it the run is zero */
	uint64_t room;          /* bytes of its run; 0: no run yet */
	uint64_t addr;          /* the run's address in the window */
	uint64_t ino;
	int16_t held_by[CAP_PROC_MAX];
	char name[RT_PATH_MAX];
};

struct shm_table {
	int lock;
	uint32_t next_ino;
	struct shm_obj obj[SHM_OBJECTS];
};
_Static_assert(sizeof(struct shm_table) <= RT_SHARED_SLOT, "the table of names fits one slot");

/* This process's mappings (private: a fork's child knows its own copies). */
static struct {
	uint32_t obj;           /* index + 1; 0: a free entry */
	uintptr_t addr;
} mappings[SHM_MAPPINGS];

static const struct rt_file_ops shm_ops;

/* The table (made at the first use when make), locked; 0 if there is none. */
static struct shm_table *lock_table(int make)
{
	struct shm_table *t = rt_shared_shm_table(make ? sizeof *t : 0);
	if (t)
		rt_spin_lock(&t->lock);
	return t;
}

static void unlock_table(struct shm_table *t)
{
	rt_spin_unlock(&t->lock);
}

/* Nobody holds it and it has no name: its pages go back (under the lock). */
static void forget_if_unused(struct shm_obj *o)
{
	int held = 0;
	for (int i = 0; i < CAP_PROC_MAX; i++)
		held += o->held_by[i];
	if (o->linked || held > 0)
		return;
	if (o->room)
		rt_shared_give_back((void *)(uintptr_t)o->addr);
	memset(o, 0, sizeof *o);
}

/* Room for at least want bytes: a larger run, the bytes copied, unless mapped.  0 or -errno. */
static long make_room(struct shm_obj *o, uint64_t want)
{
	if (want <= o->room)
		return 0;
	if (o->mapped)
		return -EFBIG;   /* its mappings name its pages: they cannot move (PROCESSES.md 10) */
	if (want > CAP_SHARED_SIZE)
		return -ENOSPC;
	void *run = rt_shared_take((size_t)want);
	if (!run)
		return -ENOSPC;
	if (o->room) {
		memcpy(run, (void *)(uintptr_t)o->addr, (size_t)o->size);
		rt_shared_give_back((void *)(uintptr_t)o->addr);
	}
	o->addr = (uint64_t)(uintptr_t)run;
	o->room = rt_shared_map_size((uintptr_t)run);
	return 0;
}

static long set_size(struct shm_obj *o, uint64_t size)
{
	long r = make_room(o, size);
	if (r < 0)
		return r;
	if (size < o->size)   /* what lies beyond the end reads as zeros when it grows again */
		memset((char *)(uintptr_t)o->addr + size, 0, (size_t)(o->size - size));
	o->size = size;
	return 0;
}

int rt_shm_path(const char *abs)
{
	return !strncmp(abs, SHM_DIR, SHM_DIR_LEN) && abs[SHM_DIR_LEN];
}

/* The live object named abs, or 0 (under the lock). */
static struct shm_obj *find(struct shm_table *t, const char *abs)
{
	for (int i = 0; i < SHM_OBJECTS; i++)
		if (t->obj[i].used && t->obj[i].linked && !strcmp(t->obj[i].name, abs))
			return &t->obj[i];
	return 0;
}

long rt_shm_open(const char *abs, int flags, int mode, struct rt_file **out)
{
	if (strchr(abs + SHM_DIR_LEN, '/'))
		return -ENOENT;   /* /dev/shm has no directories */
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	struct rt_file *f = rt_file_new(&shm_ops, flags & (O_ACCMODE | O_APPEND | O_NONBLOCK));
	if (!f)
		return -ENFILE;
	struct shm_table *t = lock_table(flags & O_CREAT);
	struct shm_obj *o = t ? find(t, abs) : 0;
	long r = 0;
	if (!t)
		r = (flags & O_CREAT) ? -ENOSPC : -ENOENT;
	else if (o && (flags & O_CREAT) && (flags & O_EXCL))
		r = -EEXIST;
	else if (!o && !(flags & O_CREAT))
		r = -ENOENT;
	else if (!o) {
		for (int i = 0; i < SHM_OBJECTS && !o; i++)
			if (!t->obj[i].used)
				o = &t->obj[i];
		if (!o)
			r = -ENOSPC;   /* as a tmpfs out of inodes */
		else {
			memset(o, 0, sizeof *o);
			o->used = o->linked = 1;
			o->mode = (uint32_t)mode & 07777 & ~SHM_UMASK;
			o->ino = ++t->next_ino;
			memcpy(o->name, abs, strlen(abs) + 1);
		}
	} else if ((flags & O_TRUNC) && rt_file_may(f, 1)) {
		r = set_size(o, 0);
	}
	if (r == 0) {
		o->held_by[rt_proc_slot()]++;
		f->handle = (int)(o - t->obj);
	}
	if (t)
		unlock_table(t);
	if (r < 0) {
		free(f);   /* never installed, holding nothing */
		return r;
	}
	*out = f;
	return 0;
}

long rt_shm_unlink(const char *abs)
{
	struct shm_table *t = lock_table(0);
	struct shm_obj *o = t ? find(t, abs) : 0;
	if (o) {
		o->linked = 0;
		forget_if_unused(o);
	}
	if (t)
		unlock_table(t);
	return o ? 0 : -ENOENT;
}

static void fill_stat(const struct shm_obj *o, struct stat *st)
{
	st->st_mode = S_IFREG | o->mode;
	st->st_nlink = o->linked;
	st->st_size = (off_t)o->size;
	st->st_blocks = (blkcnt_t)((o->size + 511) / 512);
	st->st_ino = (ino_t)o->ino;
	st->st_blksize = 4096;
}

long rt_shm_stat(const char *abs, struct stat *st)
{
	struct shm_table *t = lock_table(0);
	struct shm_obj *o = t ? find(t, abs) : 0;
	if (o) {
		memset(st, 0, sizeof *st);
		st->st_dev = 0x100;
		fill_stat(o, st);
	}
	if (t)
		unlock_table(t);
	return o ? 0 : -ENOENT;
}

/* ---- an open object ---- */

/* f's object, its table locked (a file holds its object: it is there). */
static struct shm_obj *lock_obj(struct rt_file *f, struct shm_table **t)
{
	*t = lock_table(0);
	return &(*t)->obj[f->handle];
}

static long shm_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int write)
{
	struct shm_table *t;
	struct shm_obj *o = lock_obj(f, &t);
	uint64_t at = pos >= 0 ? (uint64_t)pos : (write && (f->flags & O_APPEND)) ? o->size : f->off;
	long r = 0;
	if (write && at + len > o->size)
		r = set_size(o, at + len);
	if (r == 0 && !write)
		len = at >= o->size ? 0 : len < o->size - at ? len : (size_t)(o->size - at);
	if (r == 0 && len) {
		char *bytes = (char *)(uintptr_t)o->addr + at;
		memcpy(write ? bytes : buf, write ? buf : bytes, len);
	}
	unlock_table(t);
	if (r < 0)
		return r;
	if (pos < 0)
		f->off = at + len;
	return (long)len;
}

static long shm_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return shm_one(f, buf, len, pos, 0);
}

static long shm_write_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return shm_one(f, buf, len, pos, 1);
}

static long shm_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 0) ? rt_file_rw_each(f, iov, iovcnt, pos, 0, shm_read_one) : -EBADF;
}

static long shm_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 1) ? rt_file_rw_each(f, iov, iovcnt, pos, 1, shm_write_one) : -EBADF;
}

static uint64_t size_of(struct rt_file *f)
{
	struct shm_table *t;
	uint64_t size = lock_obj(f, &t)->size;
	unlock_table(t);
	return size;
}

static long shm_llseek(struct rt_file *f, long off, int whence)
{
	return rt_file_seek(f, off, whence, size_of(f));
}

static void shm_fstat(struct rt_file *f, struct stat *st)
{
	struct shm_table *t;
	fill_stat(lock_obj(f, &t), st);
	unlock_table(t);
}

static long shm_truncate(struct rt_file *f, uint64_t size)
{
	if (!rt_file_may(f, 1))
		return -EINVAL;   /* Linux: not open for writing */
	struct shm_table *t;
	long r = set_size(lock_obj(f, &t), size);
	unlock_table(t);
	return r;
}

/* This process's slot lets go of one hold on object i (a file closed, a mapping unmapped). */
static void let_go(unsigned i)
{
	struct shm_table *t = lock_table(0);
	t->obj[i].held_by[rt_proc_slot()]--;
	forget_if_unused(&t->obj[i]);
	unlock_table(t);
}

static void shm_release(struct rt_file *f)
{
	let_go((unsigned)f->handle);
}

static void shm_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct shm_table *t;
	struct shm_obj *o = lock_obj(f, &t);
	r->kind = CAP_RFD_FILE;
	snprintf(r->u.file.path, sizeof r->u.file.path, "%s", o->name);
	r->u.file.size = o->size;
	r->u.file.offset = f->off;
	unlock_table(t);
}

/* A hold of object i that a fork copies: counted on our slot now (undo: the fork failed). */
static void fork_hold(unsigned i, int undo)
{
	struct shm_table *t = lock_table(0);
	t->obj[i].held_by[rt_proc_slot()] += undo ? -1 : 1;
	unlock_table(t);
}

/* The host named the child: that copy is the child's, or gone with it if it was lost already. */
static void forked_hold(unsigned i, unsigned child_slot, int child_pid)
{
	if (!child_slot || child_slot >= CAP_PROC_MAX)
		return;
	struct shm_table *t = lock_table(0);
	struct shm_obj *o = &t->obj[i];
	o->held_by[rt_proc_slot()]--;
	if (!rt_shared_slot_lost(child_slot, child_pid))
		o->held_by[child_slot]++;
	forget_if_unused(o);
	unlock_table(t);
}

static void shm_fork(struct rt_file *f, int undo)
{
	fork_hold((unsigned)f->handle, undo);
}

static void shm_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	forked_hold((unsigned)f->handle, child_slot, child_pid);
}

/* No poll: always ready, and epoll refuses it, as Linux does for regular files. */
static const struct rt_file_ops shm_ops = {
	.read = shm_read, .write = shm_write, .positional = 1, .llseek = shm_llseek,
	.fstat = shm_fstat, .truncate = shm_truncate, .release = shm_release, .report = shm_report,
	.fork = shm_fork, .forked = shm_forked,
};

int rt_shm_file(const struct rt_file *f)
{
	return f->ops == &shm_ops;
}

/* ---- mappings ---- */

long rt_shm_map(struct rt_file *f, size_t len, int prot, long off)
{
	if (off < 0 || (off & 4095))
		return -EINVAL;
	if (!rt_file_may(f, 0) || ((prot & PROT_WRITE) && !rt_file_may(f, 1)))
		return -EACCES;
	int m = 0;
	while (m < SHM_MAPPINGS && mappings[m].obj)
		m++;
	if (m == SHM_MAPPINGS)
		return -ENOMEM;
	struct shm_table *t;
	struct shm_obj *o = lock_obj(f, &t);
	/* Linux maps beyond the end too (touching it faults): here those pages are part of its run. */
	long r = make_room(o, (uint64_t)off + len);
	if (r == 0) {
		o->mapped = 1;
		o->held_by[rt_proc_slot()]++;
		mappings[m].obj = (uint32_t)f->handle + 1;
		mappings[m].addr = (uintptr_t)o->addr + (uintptr_t)off;
		r = (long)mappings[m].addr;
	}
	unlock_table(t);
	return r == -EFBIG || r == -ENOSPC ? -ENOMEM : r;
}

int rt_shm_unmap(uintptr_t addr)
{
	for (int m = SHM_MAPPINGS - 1; m >= 0; m--) {
		if (mappings[m].obj && mappings[m].addr == addr) {
			unsigned i = mappings[m].obj - 1;
			mappings[m].obj = 0;
			let_go(i);
			return 1;
		}
	}
	return 0;
}

void rt_shm_fork(int undo)
{
	for (int m = 0; m < SHM_MAPPINGS; m++)
		if (mappings[m].obj)
			fork_hold(mappings[m].obj - 1, undo);
}

void rt_shm_forked(unsigned child_slot, int child_pid)
{
	for (int m = 0; m < SHM_MAPPINGS; m++)
		if (mappings[m].obj)
			forked_hold(mappings[m].obj - 1, child_slot, child_pid);
}

void rt_shm_exiting(void)
{
	for (int m = 0; m < SHM_MAPPINGS; m++)
		if (mappings[m].obj)
			rt_shm_unmap(mappings[m].addr);
}

void rt_shm_lost(unsigned slot)
{
	struct shm_table *t = slot < CAP_PROC_MAX ? lock_table(0) : 0;
	if (!t)
		return;   /* no object was ever made */
	for (int i = 0; i < SHM_OBJECTS; i++) {
		struct shm_obj *o = &t->obj[i];
		if (o->used && o->held_by[slot]) {
			o->held_by[slot] = 0;
			forget_if_unused(o);
		}
	}
	unlock_table(t);
}
