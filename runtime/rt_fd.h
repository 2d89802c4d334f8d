/* rt_fd.h: open file descriptions and the objects behind them (runtime-internal). */
#ifndef RT_FD_H
#define RT_FD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "runtime/rt_host.h"
#include "runtime/rt_sched.h"

#define RT_MAX_FDS 1024
#define RT_PATH_MAX 256

enum rt_file_kind {
	RT_F_CONSOLE = 1, RT_F_PIPE_R, RT_F_PIPE_W, RT_F_TMPFILE, RT_F_DIR,
	RT_F_SOCKET, RT_F_EPOLL, RT_F_NULL, RT_F_ZERO, RT_F_RANDOM,
};

struct rt_pipe;
struct rt_tnode;
struct rt_epoll;

/* Shared by dup'ed descriptors, like a kernel struct file. */
struct rt_file {
	int refs;
	int kind;
	int flags;                  /* O_ACCMODE | O_APPEND | O_NONBLOCK */
	int console_fd;             /* RT_F_CONSOLE: 0, 1 or 2 */
	int sock;                   /* RT_F_SOCKET: lwIP handle */
	uint64_t off;
	struct rt_pipe *pipe;
	struct rt_tnode *node;      /* RT_F_TMPFILE, RT_F_DIR */
	struct rt_epoll *ep;
};

/* fd.c */
struct rt_file *rt_file_new(int kind, int flags);
int rt_fd_install(struct rt_file *f, int cloexec, int minfd);  /* fd or -EMFILE; consumes f's ref on success */
void rt_file_unref(struct rt_file *f);
struct rt_file *rt_fd_get(int fd);
int rt_file_poll(struct rt_file *f, int events);
long rt_sys_close(int fd);

/* pipe.c */
struct rt_pipe *rt_pipe_new(void);
long rt_pipe_read(struct rt_pipe *p, void *buf, size_t len, int nonblock);
long rt_pipe_write(struct rt_pipe *p, const void *buf, size_t len, int nonblock);
int  rt_pipe_poll(struct rt_pipe *p, int writer, int events);
long rt_pipe_nread(struct rt_pipe *p);
void rt_pipe_close(struct rt_pipe *p, int writer);
void rt_pipe_info(struct rt_pipe *p, int writer, uint32_t *buffered, uint32_t *capacity,
                  uint32_t *peer_open);
int  rt_pipe_owns_waitq(struct rt_pipe *p, const struct rt_waitq *q);
long rt_sys_pipe2(int *fds, int flags);

/* tmpfs.c: paths are absolute and normalized */
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
long rt_tmpfs_rmdir(const char *path);
long rt_tmpfs_unlink(const char *path);
long rt_tmpfs_rename(const char *from, const char *to);
long rt_tmpfs_getdents(struct rt_tnode *dir, uint64_t *pos, void *buf, size_t len);
/* "a/../b" -> "/b" relative to base; -ENAMETOOLONG / -ENOENT */
long rt_path_normalize(const char *base, const char *path, char *out);

/* socket.c */
long rt_socket_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int write);
void rt_socket_release(struct rt_file *f);

/* poll.c */
void rt_epoll_release(struct rt_epoll *ep);

#endif
