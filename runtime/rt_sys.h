/* rt_sys.h: the runtime's system call handlers, called by syscall.c (each returns value or -errno). */
#ifndef RT_SYS_H
#define RT_SYS_H

#include <stddef.h>
#include <sys/stat.h>
#include "runtime/rt_fd.h"

/* fd.c */
long rt_sys_read(int fd, void *buf, size_t len);
long rt_sys_write(int fd, const void *buf, size_t len);
long rt_sys_rwv(int fd, const void *iov, int iovcnt, int write);
long rt_sys_prw(int fd, void *buf, size_t len, long off, int write);
long rt_sys_prwv(int fd, const void *iov, int iovcnt, long off, int write);
long rt_sys_lseek(int fd, long off, int whence);
long rt_sys_dup3(int oldfd, int newfd, int flags, int allow_same);
long rt_sys_dup(int fd, int minfd, int cloexec);
long rt_sys_fcntl(int fd, int cmd, long arg);
long rt_sys_ioctl(int fd, unsigned long req, long arg);
long rt_sys_fstat(int fd, struct stat *st);
long rt_sys_ftruncate(int fd, long len);
long rt_sys_getdents64(int fd, void *buf, size_t len);

/* path.c */
long rt_sys_openat(int dirfd, const char *path, int flags, int mode);
long rt_sys_fstatat(int dirfd, const char *path, struct stat *st, int flags);
long rt_sys_faccessat(int dirfd, const char *path, int mode);
long rt_sys_mkdirat(int dirfd, const char *path, int mode);
long rt_sys_mknodat(int dirfd, const char *path, int mode, unsigned long dev);
long rt_sys_unlinkat(int dirfd, const char *path, int flags);
long rt_sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);
long rt_sys_truncate(const char *path, long len);
long rt_sys_chdir(const char *path);
long rt_sys_fchdir(int fd);
long rt_sys_getcwd(char *buf, size_t size);
long rt_sys_readlinkat(int dirfd, const char *path, char *buf, size_t size);

/* socket.c */
long rt_sys_socket(int domain, int type, int protocol);
long rt_sys_socketpair(int domain, int type, int protocol, int *sv);
long rt_sys_bind(int fd, const void *addr, unsigned len);
long rt_sys_listen(int fd, int backlog);
long rt_sys_accept4(int fd, void *addr, unsigned *len, int flags);
long rt_sys_connect(int fd, const void *addr, unsigned len);
long rt_sys_sendto(int fd, const void *buf, size_t len, int flags, const void *addr, unsigned alen);
long rt_sys_recvfrom(int fd, void *buf, size_t len, int flags, void *addr, unsigned *alen);
long rt_sys_sendmsg(int fd, const void *msg, int flags);
long rt_sys_recvmsg(int fd, void *msg, int flags);
long rt_sys_sendmmsg(int fd, void *msgs, unsigned n, int flags);
long rt_sys_recvmmsg(int fd, void *msgs, unsigned n, int flags);
long rt_sys_shutdown(int fd, int how);
long rt_sys_getsockopt(int fd, int level, int name, void *val, unsigned *len);
long rt_sys_setsockopt(int fd, int level, int name, const void *val, unsigned len);
long rt_sys_getsockname(int fd, void *addr, unsigned *len);
long rt_sys_getpeername(int fd, void *addr, unsigned *len);

/* poll.c */
long rt_sys_poll(void *fds, unsigned long nfds, int64_t timeout_ns);
long rt_sys_select(int n, void *rfds, void *wfds, void *efds, int64_t timeout_ns);
long rt_sys_epoll_create1(int flags);
long rt_sys_epoll_ctl(int epfd, int op, int fd, void *ev);
long rt_sys_epoll_wait(int epfd, void *evs, int maxevents, int timeout_ms);

/* signal.c */
long rt_sys_rt_sigaction(int sig, const void *act, void *old, size_t setsize);
long rt_sys_rt_sigprocmask(int how, const void *set, void *old, size_t setsize);
long rt_sys_sigaltstack(const void *ss, void *old);
long rt_sys_kill_self(int sig);
long rt_sys_rt_sigpending(void *set, size_t setsize);
long rt_sys_rt_sigsuspend(const void *set, size_t setsize);

/* unixsock.c: socketpair(AF_UNIX, SOCK_STREAM [| SOCK_NONBLOCK | SOCK_CLOEXEC]) into sv; 0 or -errno. */
long rt_unix_socketpair(int type, int *sv);
int rt_unix_is_pair_end(const struct rt_file *f);
/* fdpass.c: sendmsg/recvmsg on a socket pair's end with descriptors (SCM_RIGHTS); struct msghdr. */
struct msghdr;
long rt_fdpass_sendmsg(struct rt_file *f, const struct msghdr *m, int nonblock);
long rt_fdpass_recvmsg(struct rt_file *f, struct msghdr *m, int flags, int nonblock);

/* misc.c */
long rt_sys_uname(void *buf);
long rt_sys_prlimit(int resource, const void *newlim, void *oldlim);
long rt_sys_sysinfo(void *info);
long rt_sys_sched_getaffinity(size_t len, void *mask);
long rt_sys_getrandom(void *buf, size_t len, unsigned flags);
long rt_sys_getrusage(int who, void *ru);
long rt_sys_times(void *buf);
long rt_sys_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
#endif
