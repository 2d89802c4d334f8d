/* hostfile.c: a file or directory on a host volume as an open file: its state kept here, its bytes asked of the host (hostfs.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fileshare.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"

/*
 * Everything needed to open the file again lives here, in capsule memory:
 * which volume (by its path in the capsule, not the host's index), the
 * path on it, the flags, and (in struct rt_file, or once another process
 * holds the description too, in the shared window) the offset.  After a
 * resume the first call on the file opens it again by name on whatever
 * host the capsule is on now; if that fails the descriptor gives EIO.
 */
struct hostfile {
	char mount[CAP_FILE_MOUNT_MAX];
	char rel[RT_PATH_MAX];
	char abs[RT_PATH_MAX];
	int reopen_flags;       /* access mode, O_APPEND, O_DIRECTORY: never create or truncate again */
	int handle;             /* our number for it at the host */
	int volume;             /* the host's index of the volume, in generation gen */
	unsigned gen;
	int broken;             /* could not be opened again: EIO */
	struct rt_offcell *shared;   /* since a fork: the offset every holder moves (fileshare.c) */
};

static const struct rt_file_ops hostfile_ops, hostdir_ops;
static unsigned char handle_used[CAP_FILE_HANDLES];

static int handle_alloc(void)
{
	for (int i = 0; i < CAP_FILE_HANDLES; i++)
		if (!handle_used[i]) {
			handle_used[i] = 1;
			return i;
		}
	return -1;
}

static void break_file(struct hostfile *h, const char *why)
{
	char msg[RT_PATH_MAX + 160];
	h->broken = 1;
	snprintf(msg, sizeof msg, "capsule: %s: cannot open it again after the move (%s); its descriptor "
	         "now gives EIO\n", h->abs, why);
	rt_console_write(2, msg);
}

/* Opened in this generation, or opened again now (after a resume). */
static long ensure_open(struct hostfile *h)
{
	while (!h->broken && h->gen != rt_hostfs_generation()) {
		unsigned gen = rt_hostfs_generation();
		int vol = rt_hostfs_volume_index(h->mount);
		if (vol < 0) {
			break_file(h, "its volume is not given on this host");
			break;
		}
		struct cap_file_stat st;
		struct rt_hostfs_call c = { .req = { .op = CAP_FOP_OPEN, .volume = (uint16_t)vol,
		                                     .handle = (uint32_t)h->handle,
		                                     .flags = (uint32_t)h->reopen_flags },
		                            .name = h->rel, .buf = &st, .buflen = sizeof st };
		long r = rt_hostfs_call(&c);
		if (r == RT_HOSTFS_RETRY)
			continue;
		if (r < 0) {
			break_file(h, r == -ENOENT ? "no such file there" : "the host refused it");
			break;
		}
		h->volume = vol;
		h->gen = gen;
	}
	return h->broken ? -EIO : 0;
}

/* A call on the open handle, opening it again first if the capsule moved meanwhile. */
static long handle_call(struct hostfile *h, struct rt_hostfs_call *c)
{
	for (;;) {
		long r = ensure_open(h);
		if (r < 0)
			return r;
		c->req.handle = (uint32_t)h->handle;
		c->req.volume = (uint16_t)h->volume;
		r = rt_hostfs_call(c);
		if (r != RT_HOSTFS_RETRY)
			return r;
	}
}

long rt_hostfile_open(const char *abs, int flags, int mode, struct rt_file **out)
{
	int acc = flags & O_ACCMODE;
	int writes = acc != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
	struct hostfile *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->handle = handle_alloc();
	if (h->handle < 0) {
		free(h);
		return -ENFILE;
	}
	long r;
	struct cap_file_stat st;
	for (;;) {
		uint32_t vflags;
		const char *rel;
		if (!rt_hostfs_lookup(abs, &h->volume, &vflags, &rel)) {
			r = -ENOENT;
			break;
		}
		if ((vflags & CAP_FILE_VOL_RO) && writes) {
			r = -EROFS;
			break;
		}
		snprintf(h->mount, sizeof h->mount, "%s", rt_hostfs_volume_mount(h->volume));
		snprintf(h->rel, sizeof h->rel, "%s", rel);
		h->gen = rt_hostfs_generation();
		int sent = flags & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_NOFOLLOW);
		struct rt_hostfs_call c = { .req = { .op = CAP_FOP_OPEN, .volume = (uint16_t)h->volume,
		                                     .handle = (uint32_t)h->handle, .flags = (uint32_t)sent,
		                                     .mode = (uint32_t)mode },
		                            .name = h->rel, .buf = &st, .buflen = sizeof st };
		r = rt_hostfs_call(&c);
		if (r != RT_HOSTFS_RETRY)
			break;
	}
	if (r < 0) {
		handle_used[h->handle] = 0;
		free(h);
		return r;
	}
	snprintf(h->abs, sizeof h->abs, "%s", abs);
	h->reopen_flags = flags & (O_ACCMODE | O_APPEND | O_DIRECTORY);
	int dir = S_ISDIR(st.mode);
	struct rt_file *f = rt_file_new(dir ? &hostdir_ops : &hostfile_ops,
	                                flags & (O_ACCMODE | O_APPEND | O_NONBLOCK));
	if (!f) {
		struct rt_hostfs_call c = { .req = { .op = CAP_FOP_CLOSE } };
		handle_call(h, &c);
		handle_used[h->handle] = 0;
		free(h);
		return -ENFILE;
	}
	f->priv = h;
	*out = f;
	return 0;
}

/* pos < 0: at the file offset (the end, appending), which then moves on. */
static long hostfile_xfer(struct rt_file *f, void *buf, size_t len, int64_t pos, int write)
{
	struct hostfile *h = f->priv;
	int append = write && (f->flags & O_APPEND), claimed = pos < 0 && h->shared && !append;
	uint64_t at = pos >= 0 ? (uint64_t)pos : claimed ? rt_offcell_claim(h->shared, len) : f->off;
	uint64_t end = 0;
	size_t total = 0;
	long err = 0;
	while (total < len) {
		size_t chunk = len - total < CAP_FILE_DATA_MAX ? len - total : CAP_FILE_DATA_MAX;
		struct rt_hostfs_call c = { .req = { .op = write ? CAP_FOP_PWRITE : CAP_FOP_PREAD,
		                                     .len = (uint32_t)chunk, .offset = at + total },
		                            .data = (char *)buf + total, .buf = (char *)buf + total,
		                            .buflen = write ? 0 : chunk };
		long r = handle_call(h, &c);
		if (r < 0) {
			err = r;
			break;
		}
		total += (size_t)r;
		end = c.size;
		if ((size_t)r < chunk)
			break;
	}
	if (pos < 0) {
		if (claimed)
			rt_offcell_settle(h->shared, at, len, total);
		if (total || !err) {
			f->off = append ? end : at + total;
			if (h->shared && !claimed)
				rt_offcell_set(h->shared, f->off);   /* an append: where the host wrote */
		}
	}
	return total ? (long)total : err;
}

static long hostfile_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return hostfile_xfer(f, buf, len, pos, 0);
}

static long hostfile_write_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)nonblock;
	return hostfile_xfer(f, buf, len, pos, 1);
}

static long hostfile_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 0) ? rt_file_rw_each(f, iov, iovcnt, pos, 0, hostfile_read_one) : -EBADF;
}

static long hostfile_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_may(f, 1) ? rt_file_rw_each(f, iov, iovcnt, pos, 1, hostfile_write_one) : -EBADF;
}

static long host_fstat(struct rt_file *f, struct stat *st)
{
	struct hostfile *h = f->priv;
	struct cap_file_stat cs;
	struct rt_hostfs_call c = { .req = { .op = CAP_FOP_FSTAT }, .buf = &cs, .buflen = sizeof cs };
	long r = handle_call(h, &c);
	if (r == 0)
		rt_hostfs_stat_out(&cs, st, h->volume);
	return r;
}

static void hostfile_fstat(struct rt_file *f, struct stat *st)
{
	struct stat got;
	if (host_fstat(f, &got) == 0)
		*st = got;
}

/* The offset this process last saw, brought up to date if other processes share it. */
static uint64_t offset_now(struct rt_file *f)
{
	struct hostfile *h = f->priv;
	if (h->shared)
		f->off = rt_offcell_get(h->shared);
	return f->off;
}

static long hostfile_llseek(struct rt_file *f, long off, int whence)
{
	struct hostfile *h = f->priv;
	struct stat st = { 0 };
	if (whence == SEEK_END) {
		long r = host_fstat(f, &st);
		if (r < 0)
			return r;
	}
	offset_now(f);
	long r = rt_file_seek(f, off, whence, (uint64_t)st.st_size);
	if (r >= 0 && h->shared)
		rt_offcell_set(h->shared, f->off);
	return r;
}

static long hostfile_nread(struct rt_file *f)
{
	struct stat st;
	long r = host_fstat(f, &st);
	if (r < 0)
		return r;
	uint64_t off = offset_now(f);
	return (uint64_t)st.st_size > off ? (long)((uint64_t)st.st_size - off) : 0;
}

static long hostfile_truncate(struct rt_file *f, uint64_t size)
{
	struct rt_hostfs_call c = { .req = { .op = CAP_FOP_TRUNCATE, .offset = size } };
	return rt_file_may(f, 1) ? handle_call(f->priv, &c) : -EINVAL;
}

static long hostfile_fsync(struct rt_file *f, int datasync)
{
	struct rt_hostfs_call c = { .req = { .op = CAP_FOP_FSYNC, .flags = datasync ? 1u : 0u } };
	return handle_call(f->priv, &c);
}

static void hostfile_release(struct rt_file *f)
{
	struct hostfile *h = f->priv;
	/* A handle from an older generation is not open at this host: nothing to close. */
	if (!h->broken && h->gen == rt_hostfs_generation()) {
		struct rt_hostfs_call c = { .req = { .op = CAP_FOP_CLOSE, .handle = (uint32_t)h->handle } };
		rt_hostfs_call(&c);
	}
	handle_used[h->handle] = 0;
	if (h->shared)
		rt_offcell_hold(h->shared, -1);
	free(h);
}

/* A fork: the description lives on in both processes, so its offset moves into the window. */
static void hostfile_fork(struct rt_file *f, int undo)
{
	struct hostfile *h = f->priv;
	if (!undo && !h->shared)
		h->shared = rt_offcell_new(f->off);   /* held once, ours; 0 (table full): apart as before */
	if (h->shared)
		rt_offcell_hold(h->shared, undo ? -1 : 1);   /* the child's copy, on our slot for now */
}

static void hostfile_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	struct hostfile *h = f->priv;
	if (h->shared)
		rt_offcell_forked(h->shared, child_slot, child_pid);
}

static void hostfile_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct hostfile *h = f->priv;
	r->kind = f->ops == &hostdir_ops ? CAP_RFD_DIR : CAP_RFD_FILE;
	size_t l = strnlen(h->abs, sizeof r->u.file.path - 1);   /* truncated if longer */
	memcpy(r->u.file.path, h->abs, l);
	r->u.file.path[l] = 0;
	r->u.file.size = 0;   /* the host knows; a freeze asks nothing of it */
	r->u.file.offset = offset_now(f);
}

int rt_hostfile_exec_save(struct rt_file *f, char *path, size_t len, int *dir, int *flags,
                          void **shared)
{
	if (f->ops != &hostfile_ops && f->ops != &hostdir_ops)
		return -1;
	struct hostfile *h = f->priv;
	size_t m = strlen(h->mount) + 1, r = strlen(h->rel) + 1, a = strlen(h->abs) + 1;
	if (h->broken || m + r + a > len)
		return -1;
	memcpy(path, h->mount, m);
	memcpy(path + m, h->rel, r);
	memcpy(path + m + r, h->abs, a);
	*dir = f->ops == &hostdir_ops;
	*flags = h->reopen_flags;
	*shared = h->shared;
	offset_now(f);
	if (h->shared)
		rt_offcell_hold(h->shared, 1);   /* the new program's; our close takes ours away */
	return 0;
}

struct rt_file *rt_hostfile_exec_adopt(const char *path, size_t len, int dir, int reopen_flags,
                                       int flags, void *shared)
{
	const char *mount = path, *rel = memchr(mount, 0, len);
	const char *abs = rel ? memchr(rel + 1, 0, len - (size_t)(rel + 1 - path)) : 0;
	if (!abs || !memchr(abs + 1, 0, len - (size_t)(abs + 1 - path)))
		return 0;
	rel++;
	abs++;
	struct hostfile *h = calloc(1, sizeof *h);
	struct rt_file *f = h ? rt_file_new(dir ? &hostdir_ops : &hostfile_ops, flags) : 0;
	if (!f || (h->handle = handle_alloc()) < 0) {
		free(h);
		free(f);
		return 0;
	}
	snprintf(h->mount, sizeof h->mount, "%s", mount);
	snprintf(h->rel, sizeof h->rel, "%s", rel);
	snprintf(h->abs, sizeof h->abs, "%s", abs);
	h->reopen_flags = reopen_flags & (O_ACCMODE | O_APPEND | O_DIRECTORY);
	h->gen = rt_hostfs_generation() - 1;   /* not open here yet: opened again at its first use */
	h->shared = shared && rt_offcell_valid(shared) ? shared : 0;
	f->priv = h;
	return f;
}

/* No poll: always ready, and epoll refuses regular files and directories, as Linux does. */
static const struct rt_file_ops hostfile_ops = {
	.read = hostfile_read,
	.write = hostfile_write,
	.positional = 1,
	.llseek = hostfile_llseek,
	.nread = hostfile_nread,
	.fstat = hostfile_fstat,
	.truncate = hostfile_truncate,
	.fsync = hostfile_fsync,
	.release = hostfile_release,
	.report = hostfile_report,
	.fork = hostfile_fork,
	.forked = hostfile_forked,
};

static long hostdir_llseek(struct rt_file *f, long off, int whence)
{
	return whence == SEEK_SET ? rt_file_seek(f, off, whence, 0) : -EINVAL;
}

/* f->off is the host's position cookie: it stays valid when the directory is opened again. */
static long hostdir_getdents(struct rt_file *f, void *buf, size_t len)
{
	struct rt_hostfs_call c = { .req = { .op = CAP_FOP_GETDENTS, .offset = f->off,
	                                     .len = (uint32_t)(len < CAP_FILE_DATA_MAX ? len : CAP_FILE_DATA_MAX) },
	                            .buf = buf, .buflen = len < CAP_FILE_DATA_MAX ? len : CAP_FILE_DATA_MAX };
	long r = handle_call(f->priv, &c);
	if (r > 0)
		f->off = c.size;
	return r;
}

static const char *hostdir_path(struct rt_file *f)
{
	return ((struct hostfile *)f->priv)->abs;
}

static const struct rt_file_ops hostdir_ops = {
	.read = rt_file_dir_read,
	.write = rt_file_dir_write,
	.llseek = hostdir_llseek,
	.fstat = hostfile_fstat,
	.fsync = hostfile_fsync,
	.getdents = hostdir_getdents,
	.dir_path = hostdir_path,
	.release = hostfile_release,
	.report = hostfile_report,
};
