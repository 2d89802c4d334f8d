/* volume.c: a capsule's volumes on this host: -v parsing, paths confined beneath HOSTDIR, and the file requests served there. */
#include "hosts/caprun/volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The capsule is untrusted: every name it sends is resolved by the kernel
 * beneath the volume's directory (openat2 RESOLVE_BENEATH: no "..", no
 * absolute symlink, no symlink leading out; RESOLVE_NO_MAGICLINKS: no
 * /proc-style links), and only regular files and directories are opened,
 * never blocking (no FIFOs, no devices).
 */
#define RESOLVE_HOW (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
#define OPEN_FLAGS_ALLOWED (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_NOFOLLOW)
#define RENAME_NOREPLACE_ 1

void volume_init(struct volumes *vs)
{
	memset(vs, 0, sizeof *vs);
	for (int i = 0; i < CAP_FILE_HANDLES; i++)
		vs->handle_fd[i] = -1;
}

void volume_close_all(struct volumes *vs)
{
	for (int i = 0; i < CAP_FILE_HANDLES; i++)
		if (vs->handle_fd[i] >= 0)
			close(vs->handle_fd[i]);
	for (int i = 0; i < vs->n; i++)
		close(vs->v[i].dirfd);
	volume_init(vs);
}

/* Absolute, no empty, "." or ".." component, no trailing slash, not "/", not /tmp or /dev (the capsule's own). */
int volume_copy(const struct volumes *from, struct volumes *to)
{
	*to = *from;
	for (int i = 0; i < to->n; i++)
		to->v[i].dirfd = -1;
	for (int i = 0; i < CAP_FILE_HANDLES; i++)
		to->handle_fd[i] = -1;
	int ok = 1;
	for (int i = 0; i < from->n; i++)
		ok &= (to->v[i].dirfd = fcntl(from->v[i].dirfd, F_DUPFD_CLOEXEC, 10)) >= 0;
	for (int i = 0; i < CAP_FILE_HANDLES; i++)
		if (from->handle_fd[i] >= 0)
			ok &= (to->handle_fd[i] = fcntl(from->handle_fd[i], F_DUPFD_CLOEXEC, 10)) >= 0;
	if (ok)
		return 0;
	for (int i = 0; i < to->n; i++)
		if (to->v[i].dirfd >= 0)
			close(to->v[i].dirfd);
	to->n = 0;
	volume_close_all(to);
	return -1;
}

static int mount_ok(const char *p)
{
	size_t l = strlen(p);
	if (p[0] != '/' || l < 2 || l >= CAP_FILE_MOUNT_MAX || p[l - 1] == '/' || strstr(p, "//") ||
	    strstr(p, "/./") || strstr(p, "/../") || (l >= 2 && !strcmp(p + l - 2, "/.")) ||
	    (l >= 3 && !strcmp(p + l - 3, "/..")))
		return 0;
	static const char *const own[] = { "/tmp", "/dev" };
	for (int i = 0; i < 2; i++) {
		size_t o = strlen(own[i]);
		if (!strncmp(p, own[i], o) && (p[o] == 0 || p[o] == '/'))
			return 0;
	}
	return 1;
}

int volume_add(struct volumes *vs, const char *spec, char *err, size_t errlen)
{
	char buf[PATH_MAX + CAP_FILE_MOUNT_MAX + 8];
	if (strlen(spec) >= sizeof buf) {
		snprintf(err, errlen, "-v %.40s...: too long", spec);
		return -1;
	}
	strcpy(buf, spec);
	char *colon = strchr(buf, ':');
	if (!colon || colon == buf) {
		snprintf(err, errlen, "-v %s: expected HOSTDIR:PATH[:ro]", spec);
		return -1;
	}
	*colon = 0;
	char *mount = colon + 1, *opt = strchr(mount, ':');
	int ro = 0;
	if (opt) {
		*opt++ = 0;
		if (strcmp(opt, "ro") && strcmp(opt, "rw")) {
			snprintf(err, errlen, "-v %s: the option after PATH is ro or rw", spec);
			return -1;
		}
		ro = !strcmp(opt, "ro");
	}
	if (!mount_ok(mount)) {
		snprintf(err, errlen, "-v %s: PATH must be absolute and normalized, not /, /tmp or /dev, "
		         "under %d bytes", spec, CAP_FILE_MOUNT_MAX);
		return -1;
	}
	for (int i = 0; i < vs->n; i++)
		if (!strcmp(vs->v[i].mount, mount)) {
			snprintf(err, errlen, "-v %s: %s is given twice", spec, mount);
			return -1;
		}
	if (vs->n == CAP_FILE_VOLUMES) {
		snprintf(err, errlen, "-v %s: at most %d volumes", spec, CAP_FILE_VOLUMES);
		return -1;
	}
	int fd = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "-v %s: %s: %s", spec, buf, strerror(errno));
		return -1;
	}
	struct volume *v = &vs->v[vs->n++];
	v->dirfd = fd;
	v->ro = ro;
	snprintf(v->mount, sizeof v->mount, "%s", mount);
	return 0;
}

static int open_beneath(int dirfd, const char *name, uint64_t flags, uint64_t mode)
{
	/* openat2 refuses a mode without O_CREAT: the capsule's is kept only where it means something */
	struct open_how how = { .flags = flags | O_CLOEXEC, .mode = (flags & O_CREAT) ? mode : 0,
	                        .resolve = RESOLVE_HOW };
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

/* The volume that holds dir, and dir's name relative to it ("." for its root); 0 if none. */
static const struct volume *volume_of(const struct volumes *vs, const char *dir, const char **rel)
{
	const struct volume *best = 0;
	size_t bl = 0;
	for (int i = 0; i < vs->n; i++) {
		size_t l = strlen(vs->v[i].mount);
		if (!strncmp(dir, vs->v[i].mount, l) && (dir[l] == 0 || dir[l] == '/') && l > bl) {
			best = &vs->v[i];
			bl = l;
		}
	}
	if (best)
		*rel = dir[bl] ? dir + bl + 1 : ".";
	return best;
}

int volume_open_program(const struct volumes *vs, const char *path)
{
	const char *rel;
	const struct volume *v = path[0] == '/' ? volume_of(vs, path, &rel) : 0;
	if (!v) {
		errno = ENOENT;
		return -1;
	}
	int fd = open_beneath(v->dirfd, rel, O_RDONLY, 0);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

int volume_check_workdir(const struct volumes *vs, const char *dir, char *err, size_t errlen)
{
	const char *rel;
	if (!strcmp(dir, "/") || !strcmp(dir, "/tmp"))
		return 0;
	if (strlen(dir) >= CAP_FILE_MOUNT_MAX || dir[0] != '/') {
		snprintf(err, errlen, "-w %s: must be an absolute path under %d bytes", dir, CAP_FILE_MOUNT_MAX);
		return -1;
	}
	const struct volume *v = volume_of(vs, dir, &rel);
	int fd = v ? open_beneath(v->dirfd, rel, O_PATH | O_DIRECTORY, 0) : -ENOENT;
	if (fd < 0) {
		snprintf(err, errlen, "-w %s: %s", dir, v ? strerror(-fd)
		         : "not a directory on a volume (-v) nor /tmp");
		return -1;
	}
	close(fd);
	return 0;
}

/* Into the answer's payload, which sits at an odd place in the record: copied, never cast. */
static void stat_out(const struct stat *st, void *dst)
{
	struct cap_file_stat o;
	memset(&o, 0, sizeof o);
	o.ino = st->st_ino;
	o.size = (uint64_t)st->st_size;
	o.blocks = (uint64_t)st->st_blocks;
	o.atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec;
	o.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	o.ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	o.mode = st->st_mode;
	o.nlink = (uint32_t)st->st_nlink;
	o.uid = st->st_uid;
	o.gid = st->st_gid;
	o.blksize = (uint32_t)st->st_blksize;
	memcpy(dst, &o, sizeof o);
}

/* Split "a/b/c" into the parent's fd (beneath the volume) and "c".  fd or -errno. */
static int open_parent(const struct volume *v, const char *name, char *last, size_t lastlen)
{
	char parent[CAP_FILE_NAME_MAX];
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || strlen(base) >= lastlen)
		return -EINVAL;
	strcpy(last, base);
	if (slash) {
		memcpy(parent, name, (size_t)(slash - name));
		parent[slash - name] = 0;
	} else {
		strcpy(parent, ".");
	}
	return open_beneath(v->dirfd, parent[0] ? parent : ".", O_PATH | O_DIRECTORY, 0);
}

static long op_open(struct volumes *vs, const struct volume *v, const struct cap_file_req_view *q,
                    void *payload, size_t *plen)
{
	uint32_t flags = q->req.flags & OPEN_FLAGS_ALLOWED;
	int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
	if ((flags & O_ACCMODE) == O_ACCMODE)
		return -EINVAL;
	if (v->ro && writes)
		return -EROFS;
	int *slot = &vs->handle_fd[q->req.handle];
	if (*slot < 0 && vs->open_count >= CAP_FILE_HANDLES)
		return -ENFILE;
	int fd = open_beneath(v->dirfd, q->name, flags | O_NONBLOCK | O_NOCTTY, q->req.mode & 07777);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		close(fd);
		return -ENXIO;   /* FIFOs, sockets, devices: not served */
	}
	if (S_ISDIR(st.st_mode) && writes) {
		close(fd);
		return -EISDIR;
	}
	if (*slot >= 0)
		close(*slot);   /* the capsule opens a number again (after a resume) */
	else
		vs->open_count++;
	*slot = fd;
	stat_out(&st, payload);
	*plen = sizeof(struct cap_file_stat);
	return 0;
}

static long op_handle(struct volumes *vs, const struct cap_file_req_view *q, void *payload,
                      size_t *plen, uint64_t *size)
{
	const struct cap_file_req *r = &q->req;
	int fd = vs->handle_fd[r->handle];
	struct stat st;
	long n;
	if (fd < 0)
		return -EBADF;
	switch (r->op) {
	case CAP_FOP_CLOSE:
		close(fd);
		vs->handle_fd[r->handle] = -1;
		vs->open_count--;
		return 0;
	case CAP_FOP_PREAD:
		n = pread(fd, payload, r->len, (off_t)r->offset);
		if (n < 0)
			return -errno;
		*plen = (size_t)n;
		return n;
	case CAP_FOP_PWRITE:
		/* with O_APPEND Linux's pwrite appends: the size after tells the capsule where it wrote */
		n = pwrite(fd, q->data, r->len, (off_t)r->offset);
		if (n < 0)
			return -errno;
		if (!fstat(fd, &st))
			*size = (uint64_t)st.st_size;
		return n;
	case CAP_FOP_FSTAT:
		if (fstat(fd, &st))
			return -errno;
		stat_out(&st, payload);
		*plen = sizeof(struct cap_file_stat);
		return 0;
	case CAP_FOP_TRUNCATE:
		return ftruncate(fd, (off_t)r->offset) ? -errno : 0;
	case CAP_FOP_FSYNC:
		return ((r->flags & 1) ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
	case CAP_FOP_GETDENTS:
		if (lseek(fd, (off_t)r->offset, SEEK_SET) < 0)
			return -errno;
		n = syscall(SYS_getdents64, fd, payload, r->len);
		if (n < 0)
			return -errno;
		*plen = (size_t)n;
		*size = (uint64_t)lseek(fd, 0, SEEK_CUR);
		return n;
	default:
		return -EINVAL;
	}
}

static long op_path(const struct volume *v, const struct cap_file_req_view *q, void *payload, size_t *plen)
{
	char last[256], last2[256];
	const struct cap_file_req *r = &q->req;
	struct stat st;
	long res = 0;
	if (r->op == CAP_FOP_STAT) {
		int fd = open_beneath(v->dirfd, q->name, O_PATH | ((r->flags & 1) ? O_NOFOLLOW : 0), 0);
		if (fd < 0)
			return fd;
		res = fstat(fd, &st) ? -errno : 0;
		close(fd);
		if (!res) {
			stat_out(&st, payload);
			*plen = sizeof(struct cap_file_stat);
		}
		return res;
	}
	if (v->ro)
		return -EROFS;
	int pfd = open_parent(v, q->name, last, sizeof last);
	if (pfd < 0)
		return pfd;
	if (r->op == CAP_FOP_MKDIR) {
		res = mkdirat(pfd, last, r->mode & 07777) ? -errno : 0;
	} else if (r->op == CAP_FOP_UNLINK) {
		res = unlinkat(pfd, last, (r->flags & 1) ? AT_REMOVEDIR : 0) ? -errno : 0;
	} else {
		int pfd2 = open_parent(v, q->name2, last2, sizeof last2);
		if (pfd2 < 0) {
			close(pfd);
			return pfd2;
		}
		/* by number: musl 1.2.3 has no renameat2 wrapper */
		res = syscall(SYS_renameat2, pfd, last, pfd2, last2,
			      r->flags & RENAME_NOREPLACE_) ? -errno : 0;
		close(pfd2);
	}
	close(pfd);
	return res;
}

size_t volume_serve(struct volumes *vs, const void *rec, size_t n, unsigned char *out)
{
	struct cap_file_req_view q;
	if (cap_file_req_decode(rec, n, &q)) {
		vs->bad_records++;
		return 0;
	}
	struct cap_chan_hdr h = { CAP_MSG_FILE_REP, 0, 0 };
	struct cap_file_rep rep = { .id = q.req.id, .result = 0, .size = 0 };
	unsigned char *payload = out + sizeof h + sizeof rep;
	size_t plen = 0;
	long res;
	const struct volume *v = q.req.volume < vs->n ? &vs->v[q.req.volume] : 0;
	switch (q.req.op) {
	case CAP_FOP_VOLUMES:
		for (int i = 0; i < vs->n; i++) {
			struct cap_file_volume cv = { .flags = vs->v[i].ro ? CAP_FILE_VOL_RO : 0 };
			memcpy(cv.path, vs->v[i].mount, sizeof cv.path);
			memcpy(payload + plen, &cv, sizeof cv);
			plen += sizeof cv;
		}
		res = vs->n;
		break;
	case CAP_FOP_OPEN:
		res = v ? op_open(vs, v, &q, payload, &plen) : -ENOENT;
		break;
	case CAP_FOP_STAT: case CAP_FOP_MKDIR: case CAP_FOP_UNLINK: case CAP_FOP_RENAME:
		res = v ? op_path(v, &q, payload, &plen) : -ENOENT;
		break;
	default:
		res = op_handle(vs, &q, payload, &plen, &rep.size);
		break;
	}
	rep.result = (int32_t)res;
	memcpy(out, &h, sizeof h);
	memcpy(out + sizeof h, &rep, sizeof rep);
	return sizeof h + sizeof rep + plen;
}
