/* tmpfs.c: the capsule's in-memory file system: "/" and "/dev" read-only, "/tmp" writable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runtime/rt_fd.h"

struct rt_tnode {
	char *path;                 /* absolute; NULL once unlinked */
	int is_dir;
	int mode;
	int writable_dir;           /* files may be created inside */
	unsigned char *data;
	size_t size, cap;
	int opens;                  /* open file descriptions */
	struct rt_pipe_ring *fifo;  /* a FIFO (mkfifo): its ring in the shared window (pipe.c) */
	uint64_t ino;
	int64_t mtime_ns;
	struct rt_tnode *next;
};

static struct rt_tnode *nodes;
static uint64_t next_ino = 2;
static int tmpfs_ready;

static int64_t now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct rt_tnode *add_node(const char *path, int is_dir, int mode)
{
	struct rt_tnode *n = calloc(1, sizeof *n);
	if (!n)
		return 0;
	n->path = strdup(path);
	if (!n->path) {
		free(n);
		return 0;
	}
	n->is_dir = is_dir;
	n->mode = mode;
	n->ino = next_ino++;
	n->mtime_ns = now_ns();
	n->next = nodes;
	nodes = n;
	return n;
}

static void tmpfs_init(void)
{
	if (tmpfs_ready)
		return;
	tmpfs_ready = 1;
	add_node("/", 1, 0755);
	add_node("/dev", 1, 0755);
	add_node("/etc", 1, 0755);   /* read-only; its files are synthesized (etcfile.c) */
	struct rt_tnode *tmp = add_node("/tmp", 1, 01777);
	if (tmp)
		tmp->writable_dir = 1;
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

static struct rt_tnode *lookup(const char *path)
{
	tmpfs_init();
	for (struct rt_tnode *n = nodes; n; n = n->next)
		if (n->path && !strcmp(n->path, path))
			return n;
	return 0;
}

/* The directory that would hold path, or an error. */
static long parent_of(const char *path, struct rt_tnode **out)
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
	struct rt_tnode *d = lookup(dir);
	if (!d)
		return -ENOENT;
	if (!d->is_dir)
		return -ENOTDIR;
	*out = d;
	return 0;
}

static void free_node(struct rt_tnode *n)
{
	struct rt_tnode **pp = &nodes;
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp)
		*pp = n->next;
	free(n->path);
	free(n->data);
	free(n);
}

static void maybe_free(struct rt_tnode *n)
{
	if (!n->path && !n->opens)
		free_node(n);
}

long rt_tmpfs_open(const char *path, int flags, int mode, struct rt_tnode **out)
{
	struct rt_tnode *n = lookup(path);
	int acc = flags & O_ACCMODE;
	if (n && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (!n) {
		if (!(flags & O_CREAT))
			return -ENOENT;
		struct rt_tnode *d;
		long r = parent_of(path, &d);
		if (r < 0)
			return r;
		if (!d->writable_dir)
			return -EACCES;
		n = add_node(path, 0, mode & 07777);
		if (!n)
			return -ENOSPC;
		n->writable_dir = 0;
	}
	if (n->is_dir && (acc != O_RDONLY || (flags & O_TRUNC)))
		return -EISDIR;
	if (!n->is_dir && (flags & O_DIRECTORY))
		return -ENOTDIR;
	if (!n->is_dir && (flags & O_TRUNC) && acc != O_RDONLY)
		rt_tmpfs_truncate(n, 0);
	n->opens++;
	*out = n;
	return 0;
}

void rt_tmpfs_ref(struct rt_tnode *n)
{
	n->opens++;
}

void rt_tmpfs_unref(struct rt_tnode *n)
{
	n->opens--;
	maybe_free(n);
}

int rt_tmpfs_is_dir(struct rt_tnode *n)
{
	return n->is_dir;
}

const char *rt_tmpfs_path(struct rt_tnode *n)
{
	return n->path ? n->path : "/";
}

uint64_t rt_tmpfs_size(struct rt_tnode *n)
{
	return n->size;
}

long rt_tmpfs_read(struct rt_tnode *n, void *buf, size_t len, uint64_t off)
{
	if (n->is_dir)
		return -EISDIR;
	if (off >= n->size)
		return 0;
	size_t avail = n->size - (size_t)off;
	if (len > avail)
		len = avail;
	memcpy(buf, n->data + off, len);
	return (long)len;
}

static int reserve(struct rt_tnode *n, size_t want)
{
	if (want <= n->cap)
		return 0;
	size_t cap = n->cap ? n->cap : 256;
	while (cap < want) {
		if (cap > (SIZE_MAX >> 1))
			return -EFBIG;
		cap *= 2;
	}
	unsigned char *d = realloc(n->data, cap);
	if (!d)
		return -ENOSPC;
	n->data = d;
	n->cap = cap;
	return 0;
}

long rt_tmpfs_truncate(struct rt_tnode *n, uint64_t size)
{
	if (n->is_dir)
		return -EISDIR;
	if (size > (1ULL << 40))
		return -EFBIG;
	if (size > n->size) {
		int r = reserve(n, (size_t)size);
		if (r < 0)
			return r;
		memset(n->data + n->size, 0, (size_t)size - n->size);
	}
	n->size = (size_t)size;
	n->mtime_ns = now_ns();
	return 0;
}

long rt_tmpfs_write(struct rt_tnode *n, const void *buf, size_t len, uint64_t off)
{
	if (n->is_dir)
		return -EISDIR;
	if (off > (1ULL << 40) || len > (1ULL << 40))
		return -EFBIG;
	size_t end = (size_t)off + len;
	int r = reserve(n, end);
	if (r < 0)
		return r;
	if (off > n->size)
		memset(n->data + n->size, 0, (size_t)off - n->size);
	memcpy(n->data + off, buf, len);
	if (end > n->size)
		n->size = end;
	n->mtime_ns = now_ns();
	return (long)len;
}

void rt_tmpfs_fstat(struct rt_tnode *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = 0x101;
	st->st_ino = n->ino;
	st->st_mode = (n->is_dir ? S_IFDIR : n->fifo ? S_IFIFO : S_IFREG) | n->mode;
	st->st_nlink = n->path ? (n->is_dir ? 2 : 1) : 0;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_mtim.tv_sec = n->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = n->mtime_ns % 1000000000;
	st->st_atim = st->st_ctim = st->st_mtim;
}

long rt_tmpfs_stat(const char *path, struct stat *st)
{
	struct rt_tnode *n = lookup(path);
	if (!n)
		return -ENOENT;
	rt_tmpfs_fstat(n, st);
	return 0;
}

/* A new node at path in a writable directory: 0 or -errno (EEXIST, ENOENT, EACCES, ENOSPC). */
static long new_node(const char *path, int is_dir, int mode, struct rt_tnode **out)
{
	struct rt_tnode *d;
	if (lookup(path))
		return -EEXIST;
	long r = parent_of(path, &d);
	if (r < 0)
		return r;
	if (!d->writable_dir)
		return -EACCES;
	*out = add_node(path, is_dir, mode & 07777);
	return *out ? 0 : -ENOSPC;
}

long rt_tmpfs_mkdir(const char *path, int mode)
{
	struct rt_tnode *n;
	long r = new_node(path, 1, mode, &n);
	if (r == 0)
		n->writable_dir = 1;
	return r;
}

long rt_tmpfs_mkfifo(const char *path, int mode, struct rt_pipe_ring *ring)
{
	struct rt_tnode *n;
	long r = new_node(path, 0, mode, &n);
	if (r == 0)
		n->fifo = ring;
	return r;
}

struct rt_pipe_ring *rt_tmpfs_fifo(struct rt_tnode *n)
{
	return n->fifo;
}

static int has_children(const char *path)
{
	size_t l = strlen(path);
	for (struct rt_tnode *n = nodes; n; n = n->next)
		if (n->path && !strncmp(n->path, path, l) && n->path[l] == '/')
			return 1;
	return 0;
}

static long remove_node(const char *path, int want_dir)
{
	struct rt_tnode *n = lookup(path), *d;
	if (!n)
		return -ENOENT;
	long r = parent_of(path, &d);
	if (r < 0)
		return r == -EEXIST ? -EBUSY : r;
	if (!d->writable_dir)
		return -EACCES;
	if (want_dir && !n->is_dir)
		return -ENOTDIR;
	if (!want_dir && n->is_dir)
		return -EISDIR;
	if (want_dir && has_children(path))
		return -ENOTEMPTY;
	free(n->path);
	n->path = 0;
	maybe_free(n);
	return 0;
}

long rt_tmpfs_rmdir(const char *path)
{
	return remove_node(path, 1);
}

long rt_tmpfs_unlink(const char *path)
{
	return remove_node(path, 0);
}

long rt_tmpfs_rename(const char *from, const char *to)
{
	struct rt_tnode *n = lookup(from), *d;
	if (!n)
		return -ENOENT;
	if (!strcmp(from, to))
		return 0;
	long r = parent_of(from, &d);
	if (r < 0 || !d->writable_dir)
		return r < 0 ? -EBUSY : -EACCES;
	r = parent_of(to, &d);
	if (r < 0)
		return r;
	if (!d->writable_dir)
		return -EACCES;
	size_t fl = strlen(from);
	if (!strncmp(to, from, fl) && to[fl] == '/')
		return -EINVAL;   /* into itself */
	struct rt_tnode *old = lookup(to);
	if (old) {
		if (old->is_dir != n->is_dir)
			return old->is_dir ? -EISDIR : -ENOTDIR;
		if (old->is_dir && has_children(to))
			return -ENOTEMPTY;
		free(old->path);
		old->path = 0;
		maybe_free(old);
	}
	/* Move the node and, for a directory, everything below it. */
	size_t tl = strlen(to);
	for (struct rt_tnode *c = nodes; c; c = c->next) {
		if (!c->path || strncmp(c->path, from, fl) || (c->path[fl] && c->path[fl] != '/'))
			continue;
		size_t rest = strlen(c->path + fl);
		if (tl + rest >= RT_PATH_MAX)
			return -ENAMETOOLONG;
		char *np = malloc(tl + rest + 1);
		if (!np)
			return -ENOMEM;
		memcpy(np, to, tl);
		memcpy(np + tl, c->path + fl, rest + 1);
		free(c->path);
		c->path = np;
	}
	return 0;
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

/* Entries are ".", "..", then direct children in list order; *pos counts entries. */
long rt_tmpfs_getdents(struct rt_tnode *dir, uint64_t *pos, void *buf, size_t len)
{
	if (!dir->path)
		return 0;
	const char *dp = dir->path;
	size_t dl = strlen(dp);
	size_t used = 0;
	uint64_t idx = 0;
	struct rt_tnode *c = nodes;
	for (;;) {
		const char *name;
		uint64_t ino;
		int type;
		if (idx == 0) {
			name = "."; ino = dir->ino; type = DT_DIR;
		} else if (idx == 1) {
			name = ".."; ino = 1; type = DT_DIR;
		} else {
			while (c) {
				const char *p = c->path;
				if (p && strcmp(p, dp) && !strncmp(p, dp, dl) &&
				    (dl == 1 || p[dl] == '/') && !strchr(p + dl + (dl > 1), '/'))
					break;
				c = c->next;
			}
			if (!c)
				break;
			name = c->path + dl + (dl > 1);
			ino = c->ino;
			type = c->is_dir ? DT_DIR : c->fifo ? DT_FIFO : DT_REG;
		}
		if (idx >= *pos) {
			if (rt_dirent_put(buf, len, &used, ino, (int64_t)idx + 1, type, name))
				return used ? (long)used : -EINVAL;
			*pos = idx + 1;
		}
		if (idx >= 2)
			c = c->next;
		idx++;
	}
	return (long)used;
}
