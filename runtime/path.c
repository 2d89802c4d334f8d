/* path.c: path-based system calls: open, stat, mkdir, mknod (FIFOs), unlink, rename, chdir, getcwd, access. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/rt_etc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_shm.h"
#include "runtime/rt_sys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

static char cwd[RT_PATH_MAX] = "/";

/* The working directory the host chose (caprun -w), checked there: set before main. */
void rt_path_set_start_dir(const char *dir)
{
	if (dir[0] == '/' && strlen(dir) < sizeof cwd)
		memcpy(cwd, dir, strlen(dir) + 1);
}

/* Is abs on one of the host's volumes (caprun -v)?  Then hostfs/hostfile serve it. */
static int on_volume(const char *abs, uint32_t *vflags)
{
	int vol;
	const char *rel;
	uint32_t flags;
	return rt_hostfs_lookup(abs, &vol, vflags ? vflags : &flags, &rel);
}

/* Resolve (dirfd, path) to an absolute, normalized path. */
static long resolve(int dirfd, const char *path, char *out)
{
	const char *base = cwd;
	if (!path)
		return -EFAULT;
	if (path[0] != '/' && dirfd != AT_FDCWD) {
		struct rt_file *f = rt_fd_get(dirfd);
		if (!f)
			return -EBADF;
		base = rt_file_dir_path(f);
		if (!base)
			return -ENOTDIR;
	}
	return rt_path_normalize(base, path, out);
}

static int std_stream(const char *path)
{
	if (!strcmp(path, "/dev/stdin")) return 0;
	if (!strcmp(path, "/dev/stdout")) return 1;
	if (!strcmp(path, "/dev/stderr")) return 2;
	if (!strcmp(path, "/dev/tty")) return 1;
	return -1;
}

long rt_sys_openat(int dirfd, const char *path, int flags, int mode)
{
	char abs[RT_PATH_MAX];
	long r = resolve(dirfd, path, abs);
	if (r < 0)
		return r;
	int cloexec = (flags & O_CLOEXEC) != 0;
	int keep = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
	const struct rt_file_ops *dev = rt_dev_ops(abs);
	int sfd = std_stream(abs);
	if (sfd >= 0)
		return rt_sys_dup(sfd, 0, cloexec);
	struct rt_file *f;
	if (rt_shm_path(abs) && !on_volume(abs, 0)) {   /* shm_open: shared by every process */
		r = rt_shm_open(abs, flags, mode, &f);
		return r < 0 ? r : rt_fd_install_new(f, cloexec);
	}
	if (on_volume(abs, 0)) {
		r = rt_hostfile_open(abs, flags, mode, &f);
		if (r < 0)
			return r;
		return rt_fd_install_new(f, cloexec);
	}
	/* Synthesized /etc files: after volume mounts (a -v at or above the path wins), before tmpfs. */
	r = rt_etcfile_open(abs, flags, &f);
	if (r != -ENOENT)
		return r < 0 ? r : rt_fd_install_new(f, cloexec);
	if (dev) {
		if (flags & O_DIRECTORY)
			return -ENOTDIR;
		f = rt_file_new(dev, keep);
		if (!f)
			return -ENFILE;
	} else {
		struct rt_tnode *n;
		r = rt_tmpfs_open(abs, flags, mode, &n);
		if (r < 0)
			return r;
		struct rt_pipe_ring *fifo = rt_tmpfs_fifo(n);
		if (fifo) {   /* a FIFO: an end of its ring (pipe.c); the node only names it */
			rt_tmpfs_unref(n);
			r = rt_fifo_open(fifo, flags, &f);
			return r < 0 ? r : rt_fd_install_new(f, cloexec);
		}
		f = rt_tmpfile_new(n, keep);
		if (!f) {
			rt_tmpfs_unref(n);
			return -ENFILE;
		}
	}
	return rt_fd_install_new(f, cloexec);
}

long rt_sys_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if (path && !path[0] && (flags & AT_EMPTY_PATH)) {
		if (dirfd == AT_FDCWD)
			return on_volume(cwd, 0) ? rt_hostfs_path_op(CAP_FOP_STAT, cwd, 0, 0, 0, st)
			                         : rt_tmpfs_stat(cwd, st);
		return rt_sys_fstat(dirfd, st);
	}
	char abs[RT_PATH_MAX];
	long r = resolve(dirfd, path, abs);
	if (r < 0)
		return r;
	const struct rt_file_ops *dev = rt_dev_ops(abs);
	if (dev) {
		rt_dev_stat(dev, st);
		return 0;
	}
	int sfd = std_stream(abs);
	if (sfd >= 0)
		return rt_sys_fstat(sfd, st);
	if (rt_shm_path(abs) && !on_volume(abs, 0))
		return rt_shm_stat(abs, st);
	if (on_volume(abs, 0))
		return rt_hostfs_path_op(CAP_FOP_STAT, abs, 0, (flags & AT_SYMLINK_NOFOLLOW) ? 1 : 0, 0, st);
	if (rt_etcfile_stat(abs, st) == 0)   /* after mounts, before tmpfs, as in open */
		return 0;
	return rt_tmpfs_stat(abs, st);
}

long rt_sys_faccessat(int dirfd, const char *path, int mode)
{
	struct stat st;
	char abs[RT_PATH_MAX];
	uint32_t vflags = 0;
	long r = rt_sys_fstatat(dirfd, path, &st, 0);
	if (r < 0)
		return r == -EACCES || r == -ENOTDIR || r == -EXDEV ? r : -ENOENT;
	if ((mode & W_OK) && resolve(dirfd, path, abs) == 0 && on_volume(abs, &vflags) &&
	    (vflags & CAP_FILE_VOL_RO))
		return -EROFS;
	return 0;
}

long rt_sys_mkdirat(int dirfd, const char *path, int mode)
{
	char abs[RT_PATH_MAX];
	long r = resolve(dirfd, path, abs);
	if (r >= 0 && on_volume(abs, 0))
		return rt_hostfs_path_op(CAP_FOP_MKDIR, abs, 0, 0, (uint32_t)mode, 0);
	return r < 0 ? r : rt_tmpfs_mkdir(abs, mode);
}

/* mknod(2): FIFOs in the capsule's own /tmp (mkfifo), regular files; no devices. */
long rt_sys_mknodat(int dirfd, const char *path, int mode, unsigned long dev)
{
	(void)dev;
	char abs[RT_PATH_MAX];
	long r = resolve(dirfd, path, abs);
	if (r < 0)
		return r;
	if (S_ISREG(mode) || !(mode & S_IFMT)) {
		r = rt_sys_openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
		return r < 0 ? r : rt_sys_close((int)r);
	}
	if (!S_ISFIFO(mode))
		return -EPERM;   /* devices and sockets: as for an unprivileged process */
	if (on_volume(abs, 0) || rt_dev_ops(abs) || std_stream(abs) >= 0)
		return -EPERM;   /* a FIFO on a volume would be the host's: not served */
	struct rt_pipe_ring *ring = rt_fifo_new();
	if (!ring)
		return -ENOSPC;   /* the shared window is full */
	r = rt_tmpfs_mkfifo(abs, mode, ring);
	if (r < 0)
		rt_shared_free(ring);
	return r;
}

long rt_sys_unlinkat(int dirfd, const char *path, int flags)
{
	char abs[RT_PATH_MAX];
	long r = resolve(dirfd, path, abs);
	if (r < 0)
		return r;
	if (rt_dev_ops(abs) || std_stream(abs) >= 0)
		return -EACCES;
	if (rt_shm_path(abs) && !on_volume(abs, 0))
		return (flags & AT_REMOVEDIR) ? -ENOTDIR : rt_shm_unlink(abs);   /* shm_unlink */
	if (on_volume(abs, 0))
		return rt_hostfs_path_op(CAP_FOP_UNLINK, abs, 0, (flags & AT_REMOVEDIR) ? 1 : 0, 0, 0);
	struct stat st;
	if (rt_etcfile_stat(abs, &st) == 0)
		return -EROFS;
	return (flags & AT_REMOVEDIR) ? rt_tmpfs_rmdir(abs) : rt_tmpfs_unlink(abs);
}

long rt_sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	char from[RT_PATH_MAX], to[RT_PATH_MAX];
	long r = resolve(olddirfd, oldpath, from);
	if (r < 0)
		return r;
	r = resolve(newdirfd, newpath, to);
	if (r < 0)
		return r;
	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	int from_vol = on_volume(from, 0), to_vol = on_volume(to, 0);
	if (from_vol != to_vol)
		return -EXDEV;
	if (from_vol)
		return rt_hostfs_path_op(CAP_FOP_RENAME, from, to, (uint32_t)flags, 0, 0);
	if ((flags & RENAME_NOREPLACE)) {
		struct stat st;
		if (rt_tmpfs_stat(to, &st) == 0)
			return -EEXIST;
	}
	return rt_tmpfs_rename(from, to);
}

long rt_sys_truncate(const char *path, long len)
{
	long fd = rt_sys_openat(AT_FDCWD, path, O_WRONLY, 0);
	if (fd < 0)
		return fd;
	long r = rt_sys_ftruncate((int)fd, len);
	rt_sys_close((int)fd);
	return r;
}

long rt_sys_chdir(const char *path)
{
	char abs[RT_PATH_MAX];
	struct stat st;
	long r = resolve(AT_FDCWD, path, abs);
	if (r < 0)
		return r;
	r = on_volume(abs, 0) ? rt_hostfs_path_op(CAP_FOP_STAT, abs, 0, 0, 0, &st) : rt_tmpfs_stat(abs, &st);
	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	memcpy(cwd, abs, strlen(abs) + 1);
	return 0;
}

long rt_sys_fchdir(int fd)
{
	struct rt_file *f = rt_fd_get(fd);
	if (!f)
		return -EBADF;
	const char *path = rt_file_dir_path(f);
	return path ? rt_sys_chdir(path) : -ENOTDIR;
}

long rt_sys_getcwd(char *buf, size_t size)
{
	size_t l = strlen(cwd) + 1;
	if (size < l)
		return -ERANGE;
	memcpy(buf, cwd, l);
	return (long)l;
}

long rt_sys_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	struct stat st;
	(void)buf;
	(void)size;
	long r = rt_sys_fstatat(dirfd, path, &st, 0);
	return r < 0 ? r : -EINVAL;   /* no symbolic links in a capsule */
}
