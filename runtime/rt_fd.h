/* rt_fd.h: open file descriptions, the operations table behind each kind, and the descriptor table. */
#ifndef RT_FD_H
#define RT_FD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "runtime/rt_host.h"
#include "runtime/rt_sched.h"

#define RT_MAX_FDS 65536          /* the table's size: CAP_MAX_FDS_MAX, the largest --max-fds */
#define RT_DEFAULT_FDS 1024       /* CAP_MAX_FDS_DEFAULT */
#define RT_PATH_MAX 256

struct rt_file;
struct rt_sock_ops;
struct cap_report_fd;

/*
 * What one kind of file does, like the kernel's struct file_operations: the
 * fd layer calls through this table and never asks which kind a file is.
 * Every function returns >= 0 or -errno (Linux values); a null entry gets
 * the default named beside it.  Kinds: console (console.c), pipes (pipe.c),
 * /tmp files and directories (tmpfile.c), /etc's synthesized files
 * (etcfile.c), devices (dev.c), epoll sets (poll.c), eventfds, timerfds and
 * signalfds (eventfd.c, timerfd.c, signalfd.c), and sockets, which a network
 * stack registers (rt_net.h).
 */
struct rt_file_ops {
	/* iovcnt is checked (0..1024); pos >= 0 only if positional (pread); pos < 0: the file offset. */
	long (*read)(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos);   /* -EINVAL */
	long (*write)(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos);  /* -EINVAL */
	int positional;                                              /* pread/pwrite allowed (else -ESPIPE) */
	long (*llseek)(struct rt_file *f, long off, int whence);     /* -ESPIPE */
	/* Readiness now: POLL* bits among events, plus POLLERR/POLLHUP.  Null: always ready, and epoll refuses it. */
	int (*poll)(struct rt_file *f, int events);
	/* Waiting for this file needs the idle wait to watch the host's console input. */
	int (*watches_console)(struct rt_file *f);
	long (*nread)(struct rt_file *f);                            /* FIONREAD; -ENOTTY */
	long (*ioctl)(struct rt_file *f, unsigned long req, long arg);  /* others; -ENOTTY */
	void (*fstat)(struct rt_file *f, struct stat *st);           /* st holds defaults; mode 0600 */
	long (*truncate)(struct rt_file *f, uint64_t size);          /* -EINVAL */
	long (*fsync)(struct rt_file *f, int datasync);              /* 0: nothing to flush */
	long (*getdents)(struct rt_file *f, void *buf, size_t len);  /* -ENOTDIR */
	const char *(*dir_path)(struct rt_file *f);                  /* a directory's path; 0: not one */
	void (*release)(struct rt_file *f);                          /* the last reference is gone */
	/* The freeze report: fill r->kind and r->u (r->fd and r->flags are done). */
	void (*report)(struct rt_file *f, struct cap_report_fd *r);
	/* Is a thread blocked on q (reason why) waiting for this file?  Then name the wait ("recv"). */
	const char *(*wait_name)(struct rt_file *f, const struct rt_waitq *q, const char *why);
	const struct rt_sock_ops *sock;                              /* socket calls; 0: -ENOTSOCK */
	/*
	 * fork: another process of the capsule holds a copy of this open file
	 * from now on (undo 1: the fork failed after all).  Kinds whose object
	 * lives on in both processes count it here (docs/PROCESSES.md); null:
	 * each process has its own copy from then on.
	 */
	void (*fork)(struct rt_file *f, int undo);
	/* In the parent, once the host answered: the copy counted by fork is the child's
	 * (child_pid, in child_slot) from now on. */
	void (*forked)(struct rt_file *f, unsigned child_slot, int child_pid);
	/*
	 * SCM_RIGHTS (fdpass.c): describe this open file into what (a struct
	 * rt_passed_fd) for another process, counting the copy in flight on this
	 * process's slot as fork does; 0 or -errno.  Null: cannot be passed.
	 */
	long (*pass)(struct rt_file *f, void *what);
};

/* Shared by dup'ed descriptors, like a kernel struct file. */
struct rt_file {
	int refs;
	int flags;                  /* O_ACCMODE | O_APPEND | O_NONBLOCK | O_ASYNC */
	int owner;                  /* F_SETOWN's pid (no SIGIO is sent) */
	const struct rt_file_ops *ops;
	void *priv;                 /* the kind's object: pipe, tmpfs node, epoll set */
	int handle;                 /* the kind's number: console 0-2, a stack's socket handle */
	uint64_t off;
	unsigned eagain_in, eagain_out;  /* reads, writes that failed with EAGAIN: edges for EPOLLET (poll.c) */
	unsigned visit;             /* rt_fd_each_file's mark: each open file once */
	/* Never reused in this process (rt_file_new): names the open file where its address,
	 * which malloc hands out again once it is freed, cannot (poll.c's epoll sets) */
	uint64_t serial;
};

/* fd.c */
void rt_fd_init(void);
struct rt_file *rt_file_new(const struct rt_file_ops *ops, int flags);
int rt_fd_install(struct rt_file *f, int cloexec, int minfd);  /* fd or -EMFILE; consumes f's ref on success */
long rt_fd_install_new(struct rt_file *f, int cloexec);         /* the same, dropping f on failure */
void rt_file_unref(struct rt_file *f);
struct rt_file *rt_fd_get(int fd);
int rt_file_poll(struct rt_file *f, int events);
void rt_file_stat(struct rt_file *f, struct stat *st);
int rt_fd_poll(int fd, int events);                         /* revents now, or POLLNVAL */
int rt_file_watches_console(struct rt_file *f);             /* f may be 0 */
const char *rt_file_dir_path(struct rt_file *f);            /* 0: not a directory */
long rt_sys_close(int fd);
/* fn once for every open file in the descriptor table (dup'ed descriptors share one). */
void rt_fd_each_file(void (*fn)(struct rt_file *f, void *arg), void *arg);
void rt_fd_close_all(void);                                 /* a process of the capsule ends */
/* fn for every descriptor, with its number and close-on-exec flag (an execve's hand-off). */
void rt_fd_each_fd(void (*fn)(int fd, struct rt_file *f, int cloexec, void *arg), void *arg);
/* A new program after an execve: an empty table (not even the console), then each descriptor
 * handed over at its number (f's reference is the table's; -EBADF if taken or out of range). */
void rt_fd_exec_reset(void);
int rt_fd_install_at(struct rt_file *f, int fd, int cloexec);
/*
 * Limits: the capacity is the capsule's --max-fds, fixed at start (also its
 * TCP connection capacity); the soft and hard RLIMIT_NOFILE lie below it.
 * New descriptors are numbered below the soft limit.
 */
void rt_fd_set_capacity(int n);
int rt_fd_capacity(void);
int rt_fd_limit(void);                                      /* the soft limit */
long rt_fd_getrlimit(uint64_t *cur, uint64_t *max);
long rt_fd_setrlimit(uint64_t cur, uint64_t max);           /* -EPERM above the capacity */
int rt_fd_high_water(void);                                 /* 1 + the highest fd ever used */
/* Does f's access mode (O_RDONLY, O_WRONLY, O_RDWR) allow reading, or writing? */
int rt_file_may(const struct rt_file *f, int write);
/* Read or write buffer by buffer with one(); a read blocks only for its first byte. */
long rt_file_rw_each(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos, int write,
                     long (*one)(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock));
/* A directory's read and write, as Linux answers them (EISDIR, EBADF): for the kinds' tables. */
long rt_file_dir_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos);
long rt_file_dir_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos);
/* lseek on a file of size end. */
long rt_file_seek(struct rt_file *f, long off, int whence, uint64_t end);

long rt_sys_fsync(int fd, int datasync);
/* sendfile(2): from any positional (regular) file to any writable descriptor. */
long rt_sys_sendfile(int out_fd, int in_fd, long *offset, size_t count);

/* pipe.c */
long rt_sys_pipe2(int *fds, int flags);

/* tmpfs.c: paths are absolute and normalized */
struct rt_tnode;
long rt_tmpfs_open(const char *path, int flags, int mode, struct rt_tnode **out);
void rt_tmpfs_ref(struct rt_tnode *n);
void rt_tmpfs_unref(struct rt_tnode *n);
int  rt_tmpfs_is_dir(struct rt_tnode *n);
const char *rt_tmpfs_path(struct rt_tnode *n);
long rt_tmpfs_read(struct rt_tnode *n, void *buf, size_t len, uint64_t off);
long rt_tmpfs_write(struct rt_tnode *n, const void *buf, size_t len, uint64_t off);
long rt_tmpfs_truncate(struct rt_tnode *n, uint64_t size);
uint64_t rt_tmpfs_size(struct rt_tnode *n);
void rt_tmpfs_fstat(struct rt_tnode *n, struct stat *st);
long rt_tmpfs_stat(const char *path, struct stat *st);
long rt_tmpfs_mkdir(const char *path, int mode);
/* A FIFO named path whose bytes go through ring (pipe.c, rt_fifo_new); its ring, or 0: not a FIFO. */
struct rt_pipe_ring;
long rt_tmpfs_mkfifo(const char *path, int mode, struct rt_pipe_ring *ring);
struct rt_pipe_ring *rt_tmpfs_fifo(struct rt_tnode *n);
long rt_tmpfs_rmdir(const char *path);
long rt_tmpfs_unlink(const char *path);
long rt_tmpfs_rename(const char *from, const char *to);
long rt_tmpfs_getdents(struct rt_tnode *dir, uint64_t *pos, void *buf, size_t len);
/* path.c: the working directory caprun -w chose, before main */
void rt_path_set_start_dir(const char *dir);
/* One getdents64 record at buf + *used (of len), *used moved past it: 0, or -1 if it does not fit. */
int rt_dirent_put(void *buf, size_t len, size_t *used, uint64_t ino, int64_t off, int type,
                  const char *name);
/* "a/../b" -> "/b" relative to base; -ENAMETOOLONG / -ENOENT */
long rt_path_normalize(const char *base, const char *path, char *out);

/* tmpfile.c: a tmpfs node as an open file (a regular file or a directory) */
struct rt_file *rt_tmpfile_new(struct rt_tnode *n, int flags);

/* dev.c: /dev/null, /dev/zero, /dev/urandom */
const struct rt_file_ops *rt_dev_ops(const char *path);
void rt_dev_stat(const struct rt_file_ops *ops, struct stat *st);

/* console.c: descriptors 0, 1 and 2 */
struct rt_file *rt_console_file(int fd);
int rt_console_number(const struct rt_file *f);             /* 0..2, or -1: not the console */
/* dev.c, for an execve's hand-off: 1 /dev/null, 2 /dev/zero, 3 /dev/urandom, 0 not a device */
int rt_dev_number(const struct rt_file *f);
const struct rt_file_ops *rt_dev_ops_of(int number);         /* 0 if unknown */

#endif
