/* tmpfs.c: the capsule's in-memory file system: "/" and "/dev" read-only, "/tmp" writable and one for every process of the capsule (its nodes and bytes in the shared window: tmpstore.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_tmpstore.h"

/*
 * "/", "/dev", "/etc" and "/tmp" never change: each process keeps them in
 * its own memory (the same address in every process), so a capsule that
 * never makes a file in /tmp never touches the shared window for it.
 */
enum { BASE_ROOT, BASE_DEV, BASE_ETC, BASE_TMP, BASE_NODES };
static struct rt_tnode base[BASE_NODES];

static void base_init(void)
{
	static const char *const paths[BASE_NODES] = { "/", "/dev", "/etc", "/tmp" };   /* /etc: etcfile.c */
	if (base[BASE_ROOT].used)
		return;
	for (int i = 0; i < BASE_NODES; i++) {
		base[i].used = base[i].is_dir = 1;
		base[i].mode = i == BASE_TMP ? 01777 : 0755;
		base[i].writable_dir = i == BASE_TMP;
		base[i].ino = 2 + (uint64_t)i;
		base[i].mtime_ns = rt_tmpstore_now_ns();
		strcpy(base[i].path, paths[i]);
	}
}

static int is_base(const struct rt_tnode *n)
{
	return n >= base && n < base + BASE_NODES;
}

/* Only /tmp holds files: a call about any other path need not make the file system. */
static int under_tmp(const char *path)
{
	return !strncmp(path, "/tmp/", 5);
}

long rt_path_normalize(const char *base, const char *path, char *out)
{
	char tmp[2 * RT_PATH_MAX + 2];
	size_t bl = strlen(base), pl = strlen(path);
	if (!pl)
		return -ENOENT;
	if (pl >= RT_PATH_MAX || bl >= RT_PATH_MAX)
		return -ENAMETOOLONG;
	if (path[0] == '/') {
		memcpy(tmp, path, pl + 1);
	} else {
		memcpy(tmp, base, bl);
		tmp[bl] = '/';
		memcpy(tmp + bl + 1, path, pl + 1);
	}
	/* Walk components, dropping "." and resolving ".." lexically. */
	size_t o = 0;
	char *s = tmp;
	out[0] = '/';
	o = 1;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		char *e = s;
		while (*e && *e != '/')
			e++;
		size_t cl = (size_t)(e - s);
		if (cl == 1 && s[0] == '.') {
			/* nothing */
		} else if (cl == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 1 && out[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
		} else {
			if (o + cl + 2 >= RT_PATH_MAX)
				return -ENAMETOOLONG;
			if (o > 1)
				out[o++] = '/';
			memcpy(out + o, s, cl);
			o += cl;
		}
		s = e;
	}
	out[o] = 0;
	return 0;
}

/* The node at path, or 0; h may be 0 (no file system made yet: only the fixed directories). */
static struct rt_tnode *lookup(struct rt_tmphead *h, const char *path)
{
	base_init();
	for (int i = 0; i < BASE_NODES; i++)
		if (!strcmp(base[i].path, path))
			return &base[i];
	struct rt_tnode *n;
	for (uint32_t i = 0; h && (n = rt_tmpstore_node(h, i)); i++)
		if (n->used && n->path[0] && !strcmp(n->path, path))
			return n;
	return 0;
}

/* The directory that would hold path, or an error. */
static long parent_of(struct rt_tmphead *h, const char *path, struct rt_tnode **out)
{
	char dir[RT_PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t l = (size_t)(slash - path);
	if (!strcmp(path, "/"))
		return -EEXIST;
	if (l == 0)
		l = 1;
	memcpy(dir, path, l);
	dir[l] = 0;
	struct rt_tnode *d = lookup(h, dir);
	if (!d)
		return -ENOENT;
	if (!d->is_dir)
		return -ENOTDIR;
	*out = d;
	return 0;
}

/* A node whose name is gone and that nobody holds goes, pages and all. */
static void forget_if_unused(struct rt_tmphead *h, struct rt_tnode *n)
{
	if (!is_base(n) && !n->path[0] && n->opens <= 0)
		rt_tmpstore_node_free(h, n);
}

/* A new node at path in a writable directory: 0 or -errno (EEXIST, ENOENT, EACCES, ENOSPC). */
static long new_node(struct rt_tmphead *h, const char *path, int is_dir, int mode, struct rt_tnode **out)
{
	struct rt_tnode *d;
	if (lookup(h, path))
		return -EEXIST;
	long r = parent_of(h, path, &d);
	if (r < 0)
		return r;
	if (!d->writable_dir)
		return -EACCES;
	if (!h || !(*out = rt_tmpstore_node_new(h)))
		return -ENOSPC;
	(*out)->is_dir = (uint32_t)is_dir;
	(*out)->writable_dir = (uint32_t)is_dir;
	(*out)->mode = (uint32_t)mode & 07777;
	(*out)->mtime_ns = rt_tmpstore_now_ns();
	strcpy((*out)->path, path);
	return 0;
}

static void unlock(struct rt_tmphead *h)
{
	if (h)
		rt_tmpstore_unlock(h);
}

long rt_tmpfs_open(const char *path, int flags, int mode, struct rt_tnode **out)
{
	struct rt_tmphead *h = rt_tmpstore_lock((flags & O_CREAT) && under_tmp(path));
	struct rt_tnode *n = lookup(h, path);
	int acc = flags & O_ACCMODE;
	long r = 0;
	if (n && (flags & O_CREAT) && (flags & O_EXCL))
		r = -EEXIST;
	else if (!n && !(flags & O_CREAT))
		r = -ENOENT;
	else if (!n)
		r = new_node(h, path, 0, mode, &n);
	if (r == 0 && n->is_dir && (acc != O_RDONLY || (flags & O_TRUNC)))
		r = -EISDIR;
	else if (r == 0 && !n->is_dir && (flags & O_DIRECTORY))
		r = -ENOTDIR;
	if (r == 0 && !n->is_dir && (flags & O_TRUNC) && acc != O_RDONLY)
		rt_tmpstore_truncate(h, n, 0);
	if (r == 0 && !is_base(n))
		n->opens++;
	unlock(h);
	if (r == 0)
		*out = n;
	return r;
}

void rt_tmpfs_ref(struct rt_tnode *n)
{
	if (is_base(n))
		return;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	n->opens++;
	unlock(h);
}

void rt_tmpfs_unref(struct rt_tnode *n)
{
	if (is_base(n))
		return;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	n->opens--;
	forget_if_unused(h, n);
	unlock(h);
}

int rt_tmpfs_is_dir(struct rt_tnode *n)
{
	return (int)n->is_dir;
}

/* A copy: another process may rename it meanwhile.  Valid until this process's next call. */
const char *rt_tmpfs_path(struct rt_tnode *n)
{
	static char copy[RT_PATH_MAX];
	struct rt_tmphead *h = is_base(n) ? 0 : rt_tmpstore_lock(0);
	strcpy(copy, n->path[0] ? n->path : "/");
	unlock(h);
	return copy;
}

uint64_t rt_tmpfs_size(struct rt_tnode *n)
{
	struct rt_tmphead *h = is_base(n) ? 0 : rt_tmpstore_lock(0);
	uint64_t size = n->size;
	unlock(h);
	return size;
}

long rt_tmpfs_read(struct rt_tnode *n, void *buf, size_t len, uint64_t off)
{
	if (n->is_dir)
		return -EISDIR;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = rt_tmpstore_read(h, n, buf, len, off);
	unlock(h);
	return r;
}

long rt_tmpfs_write(struct rt_tnode *n, const void *buf, size_t len, uint64_t off)
{
	if (n->is_dir)
		return -EISDIR;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = rt_tmpstore_write(h, n, buf, len, off);
	unlock(h);
	return r;
}

long rt_tmpfs_truncate(struct rt_tnode *n, uint64_t size)
{
	if (n->is_dir)
		return -EISDIR;
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = rt_tmpstore_truncate(h, n, size);
	unlock(h);
	return r;
}

static void fill_stat(const struct rt_tnode *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 0x101;
	st->st_ino = n->ino;
	st->st_mode = (n->is_dir ? S_IFDIR : n->fifo ? S_IFIFO : S_IFREG) | n->mode;
	st->st_nlink = n->path[0] ? (n->is_dir ? 2 : 1) : 0;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_mtim.tv_sec = n->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = n->mtime_ns % 1000000000;
	st->st_atim = st->st_ctim = st->st_mtim;
}

void rt_tmpfs_fstat(struct rt_tnode *n, struct stat *st)
{
	struct rt_tmphead *h = is_base(n) ? 0 : rt_tmpstore_lock(0);
	fill_stat(n, st);
	unlock(h);
}

long rt_tmpfs_stat(const char *path, struct stat *st)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	struct rt_tnode *n = lookup(h, path);
	if (n)
		fill_stat(n, st);
	unlock(h);
	return n ? 0 : -ENOENT;
}

long rt_tmpfs_mkdir(const char *path, int mode)
{
	struct rt_tmphead *h = rt_tmpstore_lock(under_tmp(path));
	struct rt_tnode *n;
	long r = new_node(h, path, 1, mode, &n);
	unlock(h);
	return r;
}

long rt_tmpfs_mkfifo(const char *path, int mode, struct rt_pipe_ring *ring)
{
	struct rt_tmphead *h = rt_tmpstore_lock(under_tmp(path));
	struct rt_tnode *n;
	long r = new_node(h, path, 0, mode, &n);
	if (r == 0)
		n->fifo = (uint64_t)(uintptr_t)ring;
	unlock(h);
	return r;
}

struct rt_pipe_ring *rt_tmpfs_fifo(struct rt_tnode *n)
{
	return (struct rt_pipe_ring *)(uintptr_t)n->fifo;   /* set once, at the node's making */
}

static int has_children(struct rt_tmphead *h, const char *path)
{
	size_t l = strlen(path);
	struct rt_tnode *n;
	for (uint32_t i = 0; h && (n = rt_tmpstore_node(h, i)); i++)
		if (n->used && !strncmp(n->path, path, l) && n->path[l] == '/')
			return 1;
	return 0;
}

/* Its name goes; the node too unless a descriptor holds it (under the lock). */
static void unname(struct rt_tmphead *h, struct rt_tnode *n)
{
	n->path[0] = 0;
	forget_if_unused(h, n);
}

static long remove_node(struct rt_tmphead *h, const char *path, int want_dir)
{
	struct rt_tnode *n = lookup(h, path), *d;
	if (!n)
		return -ENOENT;
	long r = parent_of(h, path, &d);
	if (r < 0)
		return r == -EEXIST ? -EBUSY : r;
	if (!d->writable_dir)
		return -EACCES;
	if (want_dir && !n->is_dir)
		return -ENOTDIR;
	if (!want_dir && n->is_dir)
		return -EISDIR;
	if (want_dir && has_children(h, path))
		return -ENOTEMPTY;
	unname(h, n);
	return 0;
}

long rt_tmpfs_rmdir(const char *path)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = remove_node(h, path, 1);
	unlock(h);
	return r;
}

long rt_tmpfs_unlink(const char *path)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = remove_node(h, path, 0);
	unlock(h);
	return r;
}

/* Is c from itself or below it (from is l bytes)? */
static int at_or_below(const char *c, const char *from, size_t l)
{
	return !strncmp(c, from, l) && (!c[l] || c[l] == '/');
}

static long rename_locked(struct rt_tmphead *h, const char *from, const char *to)
{
	struct rt_tnode *n = lookup(h, from), *d, *c;
	if (!n)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	long r = parent_of(h, from, &d);
	if (r < 0 || !d->writable_dir)
		return r < 0 ? -EBUSY : -EACCES;
	r = parent_of(h, to, &d);
	if (r < 0)
		return r;
	if (!d->writable_dir)
		return -EACCES;
	size_t fl = strlen(from), tl = strlen(to);
	if (at_or_below(to, from, fl))
		return -EINVAL;   /* into itself */
	struct rt_tnode *old = lookup(h, to);
	if (old) {
		if (old->is_dir != n->is_dir)
			return old->is_dir ? -EISDIR : -ENOTDIR;
		if (old->is_dir && has_children(h, to))
			return -ENOTEMPTY;
	}
	/* Every new name must fit before any changes: the move is all or nothing. */
	for (uint32_t i = 0; (c = rt_tmpstore_node(h, i)); i++)
		if (c->used && c->path[0] && at_or_below(c->path, from, fl) && tl + strlen(c->path + fl) >= RT_PATH_MAX)
			return -ENAMETOOLONG;
	if (old)
		unname(h, old);
	/* Move the node and, for a directory, everything below it. */
	for (uint32_t i = 0; (c = rt_tmpstore_node(h, i)); i++) {
		if (!c->used || !c->path[0] || !at_or_below(c->path, from, fl))
			continue;
		memmove(c->path + tl, c->path + fl, strlen(c->path + fl) + 1);
		memcpy(c->path, to, tl);
	}
	return 0;
}

long rt_tmpfs_rename(const char *from, const char *to)
{
	struct rt_tmphead *h = rt_tmpstore_lock(0);
	long r = rename_locked(h, from, to);
	unlock(h);
	return r;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int rt_dirent_put(void *buf, size_t len, size_t *used, uint64_t ino, int64_t off, int type,
                  const char *name)
{
	size_t nl = strlen(name);
	size_t rec = (sizeof(struct linux_dirent64) + nl + 1 + 7) & ~(size_t)7;
	if (*used + rec > len)
		return -1;
	struct linux_dirent64 *d = (void *)((char *)buf + *used);
	d->d_ino = ino;
	d->d_off = off;
	d->d_reclen = (unsigned short)rec;
	d->d_type = (unsigned char)type;
	memcpy(d->d_name, name, nl + 1);
	*used += rec;
	return 0;
}

/*
 * Entries are ".", "..", then direct children in the order of the node
 * table; *pos is 2 + the table index to look at next, so a directory read
 * while other processes add and remove entries neither repeats nor skips
 * one that stays.
 */
long rt_tmpfs_getdents(struct rt_tnode *dir, uint64_t *pos, void *buf, size_t len)
{
	base_init();
	struct rt_tmphead *h = is_base(dir) && dir != &base[BASE_TMP] ? 0 : rt_tmpstore_lock(0);
	char dp[RT_PATH_MAX];
	strcpy(dp, dir->path);
	size_t dl = strlen(dp), used = 0;
	long r = 0;
	for (uint64_t p = *pos; dp[0] && r == 0; p++) {
		const char *name;
		uint64_t ino;
		int type;
		struct rt_tnode *c = 0;
		if (p == 0) {
			name = "."; ino = dir->ino; type = DT_DIR;
		} else if (p == 1) {
			name = ".."; ino = 1; type = DT_DIR;
		} else {
			if (dir == &base[BASE_ROOT]) {   /* newest first, as they were made */
				static const int root_children[] = { BASE_TMP, BASE_ETC, BASE_DEV };
				if (p - 2 >= sizeof root_children / sizeof root_children[0])
					break;
				c = &base[root_children[p - 2]];
			} else if (!h || !(c = rt_tmpstore_node(h, (uint32_t)(p - 2)))) {
				break;   /* "/dev" and "/etc" hold no node */
			}
			const char *cp = c->path;
			size_t skip = dl == 1 ? 0 : dl;   /* the children of "/" follow its only slash */
			if (!c->used || !cp[0] || strncmp(cp, dp, dl) || cp[skip] != '/' || strchr(cp + skip + 1, '/'))
				continue;
			name = cp + skip + 1;
			ino = c->ino;
			type = c->is_dir ? DT_DIR : c->fifo ? DT_FIFO : DT_REG;
		}
		if (rt_dirent_put(buf, len, &used, ino, (int64_t)p + 1, type, name))
			r = used ? 0 : -EINVAL;
		else
			*pos = p + 1;
	}
	unlock(h);
	return r < 0 ? r : (long)used;
}
