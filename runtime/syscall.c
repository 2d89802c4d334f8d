/* syscall.c: __capsule_syscall, where every musl system call lands: dispatch to the runtime's handlers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <time.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_ident.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"
#include "rt_sysnames.h"   /* generated: static const char *const rt_sysnames[] */

#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define NR_MAX 512

static unsigned char reported[NR_MAX / 8];

static void put_num(char *buf, size_t *l, long v)
{
	char t[24];
	int n = 0;
	if (v < 0) { buf[(*l)++] = '-'; v = -v; }
	do t[n++] = (char)('0' + v % 10); while ((v /= 10) && n < 20);
	while (n)
		buf[(*l)++] = t[--n];
}

static long unsupported(long n)
{
	if (n >= 0 && n < NR_MAX && (reported[n / 8] & (1 << (n % 8))))
		return -ENOSYS;
	if (n >= 0 && n < NR_MAX)
		reported[n / 8] |= (unsigned char)(1 << (n % 8));
	char msg[128] = "capsule: unsupported system call ";
	size_t l = 33;
	const char *name = n >= 0 && (unsigned long)n < sizeof rt_sysnames / sizeof rt_sysnames[0] &&
	                   rt_sysnames[n] ? rt_sysnames[n] : "?";
	for (; *name && l < 90; name++)
		msg[l++] = *name;
	msg[l++] = ' '; msg[l++] = '('; msg[l++] = 'n'; msg[l++] = 'r'; msg[l++] = ' ';
	put_num(msg, &l, n);
	msg[l++] = ')';
	msg[l++] = '\n';
	msg[l] = 0;
	rt_console_write(2, msg);
	return -ENOSYS;
}

static int64_t timespec_timeout(const void *ts)
{
	return ts ? (int64_t)rt_timespec_ns(ts) : -1;
}

static int64_t timeval_timeout(const struct timeval *tv)
{
	if (!tv)
		return -1;
	if (tv->tv_sec < 0 || tv->tv_usec < 0)
		return 0;
	return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

static long arch_prctl(int code, unsigned long addr)
{
	switch (code) {
	case ARCH_SET_FS:
		rt_sched_set_fs(addr);
		return 0;
	case ARCH_GET_FS:
		*(unsigned long *)addr = rt_self()->fs;
		return 0;
	default:
		return -EINVAL;
	}
}

#define P(x) ((void *)(x))

static long dispatch(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	switch (n) {
	/* --- event descriptors and timers (rt_timer.h) --- */
	case SYS_eventfd: return rt_sys_eventfd2((unsigned)a1, 0);
	case SYS_eventfd2: return rt_sys_eventfd2((unsigned)a1, (int)a2);
	case SYS_timerfd_create: return rt_sys_timerfd_create((int)a1, (int)a2);
	case SYS_timerfd_settime: return rt_sys_timerfd_settime((int)a1, (int)a2, P(a3), P(a4));
	case SYS_timerfd_gettime: return rt_sys_timerfd_gettime((int)a1, P(a2));
	case SYS_signalfd: return rt_sys_signalfd4((int)a1, P(a2), (size_t)a3, 0);
	case SYS_signalfd4: return rt_sys_signalfd4((int)a1, P(a2), (size_t)a3, (int)a4);
	case SYS_setitimer: return rt_sys_setitimer((int)a1, P(a2), P(a3));
	case SYS_getitimer: return rt_sys_getitimer((int)a1, P(a2));
	case SYS_alarm: return rt_sys_alarm((unsigned)a1);
	case SYS_pause: return rt_sys_pause();
	case SYS_rt_sigtimedwait: return rt_sys_rt_sigtimedwait(P(a1), P(a2), P(a3), (size_t)a4);

	/* --- files and descriptors --- */
	case SYS_read: return rt_sys_read((int)a1, P(a2), (size_t)a3);
	case SYS_write: return rt_sys_write((int)a1, P(a2), (size_t)a3);
	case SYS_readv: return rt_sys_rwv((int)a1, P(a2), (int)a3, 0);
	case SYS_writev: return rt_sys_rwv((int)a1, P(a2), (int)a3, 1);
	case SYS_pread64: return rt_sys_prw((int)a1, P(a2), (size_t)a3, a4, 0);
	case SYS_pwrite64: return rt_sys_prw((int)a1, P(a2), (size_t)a3, a4, 1);
	case SYS_preadv: return rt_sys_prwv((int)a1, P(a2), (int)a3, a4, 0);
	case SYS_pwritev: return rt_sys_prwv((int)a1, P(a2), (int)a3, a4, 1);
	case SYS_lseek: return rt_sys_lseek((int)a1, a2, (int)a3);
	case SYS_close: return rt_sys_close((int)a1);
	case SYS_dup: return rt_sys_dup((int)a1, 0, 0);
	case SYS_dup2: return rt_sys_dup3((int)a1, (int)a2, 0, 1);
	case SYS_dup3: return rt_sys_dup3((int)a1, (int)a2, (int)a3, 0);
	case SYS_fcntl: return rt_sys_fcntl((int)a1, (int)a2, a3);
	case SYS_ioctl: return rt_sys_ioctl((int)a1, (unsigned long)a2, a3);
	case SYS_fstat: return rt_sys_fstat((int)a1, P(a2));
	case SYS_stat: return rt_sys_fstatat(AT_FDCWD, P(a1), P(a2), 0);
	case SYS_lstat: return rt_sys_fstatat(AT_FDCWD, P(a1), P(a2), AT_SYMLINK_NOFOLLOW);
	case SYS_newfstatat: return rt_sys_fstatat((int)a1, P(a2), P(a3), (int)a4);
	case SYS_open: return rt_sys_openat(AT_FDCWD, P(a1), (int)a2, (int)a3);
	case SYS_creat: return rt_sys_openat(AT_FDCWD, P(a1), O_CREAT | O_WRONLY | O_TRUNC, (int)a2);
	case SYS_openat: return rt_sys_openat((int)a1, P(a2), (int)a3, (int)a4);
	case SYS_access: return rt_sys_faccessat(AT_FDCWD, P(a1), (int)a2);
	case SYS_faccessat: return rt_sys_faccessat((int)a1, P(a2), (int)a3);
	case SYS_faccessat2: return rt_sys_faccessat((int)a1, P(a2), (int)a3);
	case SYS_mkdir: return rt_sys_mkdirat(AT_FDCWD, P(a1), (int)a2);
	case SYS_mkdirat: return rt_sys_mkdirat((int)a1, P(a2), (int)a3);
	case SYS_mknod: return rt_sys_mknodat(AT_FDCWD, P(a1), (int)a2, (unsigned long)a3);
	case SYS_mknodat: return rt_sys_mknodat((int)a1, P(a2), (int)a3, (unsigned long)a4);
	case SYS_rmdir: return rt_sys_unlinkat(AT_FDCWD, P(a1), AT_REMOVEDIR);
	case SYS_unlink: return rt_sys_unlinkat(AT_FDCWD, P(a1), 0);
	case SYS_unlinkat: return rt_sys_unlinkat((int)a1, P(a2), (int)a3);
	case SYS_rename: return rt_sys_renameat(AT_FDCWD, P(a1), AT_FDCWD, P(a2), 0);
	case SYS_renameat: return rt_sys_renameat((int)a1, P(a2), (int)a3, P(a4), 0);
	case SYS_renameat2: return rt_sys_renameat((int)a1, P(a2), (int)a3, P(a4), (int)a5);
	case SYS_truncate: return rt_sys_truncate(P(a1), a2);
	case SYS_ftruncate: return rt_sys_ftruncate((int)a1, a2);
	case SYS_getdents64: return rt_sys_getdents64((int)a1, P(a2), (size_t)a3);
	case SYS_getcwd: return rt_sys_getcwd(P(a1), (size_t)a2);
	case SYS_chdir: return rt_sys_chdir(P(a1));
	case SYS_fchdir: return rt_sys_fchdir((int)a1);
	case SYS_readlink: return rt_sys_readlinkat(AT_FDCWD, P(a1), P(a2), (size_t)a3);
	case SYS_readlinkat: return rt_sys_readlinkat((int)a1, P(a2), P(a3), (size_t)a4);
	case SYS_pipe: return rt_sys_pipe2(P(a1), 0);
	case SYS_pipe2: return rt_sys_pipe2(P(a1), (int)a2);
	case SYS_fsync: return rt_sys_fsync((int)a1, 0);
	case SYS_fdatasync: return rt_sys_fsync((int)a1, 1);
	case SYS_sendfile: return rt_sys_sendfile((int)a1, (int)a2, P(a3), (size_t)a4);
	case SYS_sync: case SYS_syncfs:
		return 0;
	case SYS_fchmod: case SYS_fchmodat: case SYS_chmod: case SYS_fchown: case SYS_fchownat:
	case SYS_chown: case SYS_lchown: case SYS_utimensat: case SYS_fadvise64: case SYS_flock:
		return 0;
	case SYS_umask: return 022;
	case SYS_statx: return -ENOSYS;   /* musl falls back to fstatat */

	/* --- sockets --- */
	case SYS_socket: return rt_sys_socket((int)a1, (int)a2, (int)a3);
	case SYS_socketpair: return rt_sys_socketpair((int)a1, (int)a2, (int)a3, P(a4));
	case SYS_bind: return rt_sys_bind((int)a1, P(a2), (unsigned)a3);
	case SYS_listen: return rt_sys_listen((int)a1, (int)a2);
	case SYS_accept: return rt_sys_accept4((int)a1, P(a2), P(a3), 0);
	case SYS_accept4: return rt_sys_accept4((int)a1, P(a2), P(a3), (int)a4);
	case SYS_connect: return rt_sys_connect((int)a1, P(a2), (unsigned)a3);
	case SYS_sendto: return rt_sys_sendto((int)a1, P(a2), (size_t)a3, (int)a4, P(a5), (unsigned)a6);
	case SYS_recvfrom: return rt_sys_recvfrom((int)a1, P(a2), (size_t)a3, (int)a4, P(a5), P(a6));
	case SYS_sendmsg: return rt_sys_sendmsg((int)a1, P(a2), (int)a3);
	case SYS_recvmsg: return rt_sys_recvmsg((int)a1, P(a2), (int)a3);
	case SYS_sendmmsg: return rt_sys_sendmmsg((int)a1, P(a2), (unsigned)a3, (int)a4);
	case SYS_recvmmsg: return rt_sys_recvmmsg((int)a1, P(a2), (unsigned)a3, (int)a4);
	case SYS_shutdown: return rt_sys_shutdown((int)a1, (int)a2);
	case SYS_getsockopt: return rt_sys_getsockopt((int)a1, (int)a2, (int)a3, P(a4), P(a5));
	case SYS_setsockopt: return rt_sys_setsockopt((int)a1, (int)a2, (int)a3, P(a4), (unsigned)a5);
	case SYS_getsockname: return rt_sys_getsockname((int)a1, P(a2), P(a3));
	case SYS_getpeername: return rt_sys_getpeername((int)a1, P(a2), P(a3));

	/* --- readiness --- */
	case SYS_poll: return rt_sys_poll(P(a1), (unsigned long)a2, a3 < 0 ? -1 : a3 * 1000000);
	case SYS_ppoll: return rt_sys_poll(P(a1), (unsigned long)a2, timespec_timeout(P(a3)));
	case SYS_select: return rt_sys_select((int)a1, P(a2), P(a3), P(a4), timeval_timeout(P(a5)));
	case SYS_pselect6: return rt_sys_select((int)a1, P(a2), P(a3), P(a4), timespec_timeout(P(a5)));
	case SYS_epoll_create: return a1 <= 0 ? -EINVAL : rt_sys_epoll_create1(0);
	case SYS_epoll_create1: return rt_sys_epoll_create1((int)a1);
	case SYS_epoll_ctl: return rt_sys_epoll_ctl((int)a1, (int)a2, (int)a3, P(a4));
	case SYS_epoll_wait: return rt_sys_epoll_wait((int)a1, P(a2), (int)a3, (int)a4);
	case SYS_epoll_pwait: return rt_sys_epoll_wait((int)a1, P(a2), (int)a3, (int)a4);

	/* --- memory --- */
	case SYS_mmap: return rt_mmap((uintptr_t)a1, (size_t)a2, (int)a3, (int)a4, (int)a5, a6);
	case SYS_munmap: return rt_munmap((uintptr_t)a1, (size_t)a2);
	case SYS_mremap: return rt_mremap((uintptr_t)a1, (size_t)a2, (size_t)a3, (int)a4, (uintptr_t)a5);
	case SYS_mprotect: case SYS_madvise: case SYS_mlock: case SYS_munlock:
		return 0;
	case SYS_msync: return rt_msync((uintptr_t)a1, (size_t)a2, (int)a3);
	case SYS_brk: return rt_brk((uintptr_t)a1);

	/* --- threads and time --- */
	case SYS_futex: return rt_futex(P(a1), (int)a2, (int)a3, P(a4), P(a5), (int)a6);
	case SYS_set_tid_address: return rt_set_tid_address(P(a1));
	case SYS_gettid: return rt_tid();
	case SYS_exit: rt_thread_syscall_exit((int)a1);
	case SYS_exit_group: rt_exit_capsule((int)a1);
	case SYS_sched_yield: rt_yield(); return 0;
	case SYS_arch_prctl: return arch_prctl((int)a1, (unsigned long)a2);
	case SYS_set_robust_list: case SYS_membarrier:
		return 0;
	case SYS_get_robust_list: return -ENOSYS;
	case SYS_rseq: return -ENOSYS;
	case SYS_clock_gettime: return rt_clock_gettime((int)a1, P(a2));
	case SYS_clock_getres: return rt_clock_getres((int)a1, P(a2));
	case SYS_gettimeofday: return rt_gettimeofday(P(a1));
	case SYS_time: return rt_time(P(a1));
	case SYS_nanosleep: return rt_nanosleep(P(a1), P(a2));
	case SYS_clock_nanosleep: return rt_clock_nanosleep((int)a1, (int)a2, P(a3), P(a4));
	case SYS_sched_getaffinity: return rt_sys_sched_getaffinity((size_t)a2, P(a3));
	case SYS_sched_setaffinity: case SYS_setpriority: case SYS_sched_setscheduler:
	case SYS_sched_setparam:
		return 0;
	case SYS_getpriority: return 20;
	case SYS_sched_getscheduler: return 0;

	/* --- signals --- */
	case SYS_rt_sigaction: return rt_sys_rt_sigaction((int)a1, P(a2), P(a3), (size_t)a4);
	case SYS_rt_sigprocmask: return rt_sys_rt_sigprocmask((int)a1, P(a2), P(a3), (size_t)a4);
	case SYS_rt_sigpending: return rt_sys_rt_sigpending(P(a1), (size_t)a2);
	case SYS_rt_sigsuspend: return rt_sys_rt_sigsuspend(P(a1), (size_t)a2);
	case SYS_sigaltstack: return rt_sys_sigaltstack(P(a1), P(a2));
	case SYS_kill: return rt_sys_kill((int)a1, (int)a2);
	case SYS_tkill: return rt_sys_kill_self((int)a2);   /* handlers run on the caller */
	case SYS_tgkill:   /* another process: its one thread id is its pid */
		return a1 == rt_proc_pid() ? rt_sys_kill_self((int)a3) : a1 == a2 ? rt_sys_kill((int)a1, (int)a3) : -ESRCH;
	case SYS_rt_sigreturn: return -ENOSYS;

	/* --- identity and limits --- */
	case SYS_getpid: return rt_proc_pid();
	case SYS_getpgrp: return rt_proc_pgid();
	case SYS_getpgid: return rt_sys_getpgid((int)a1);
	case SYS_getsid: return rt_sys_getsid((int)a1);
	case SYS_setpgid: return rt_sys_setpgid((int)a1, (int)a2);
	case SYS_setsid: return rt_sys_setsid();
	case SYS_getppid: return rt_proc_ppid();

	/* --- processes (proc.c, docs/PROCESSES.md) --- */
	case SYS_fork: case SYS_vfork: return rt_sys_fork();   /* vfork: a fork, which it may be */
	case SYS_clone:   /* clone(SIGCHLD) is fork; threads come through __capsule_clone */
		return (a1 & ~0xffL) == 0 && (a1 & 0xff) == SIGCHLD ? rt_sys_fork() : unsupported(n);
	case SYS_execve: return rt_sys_execve(P(a1), P(a2), P(a3));
	case SYS_wait4: return rt_sys_wait4((int)a1, P(a2), (int)a3, P(a4));
	case SYS_waitid: return rt_sys_waitid((int)a1, (int)a2, P(a3), (int)a4, P(a5));
	case SYS_getuid: case SYS_geteuid: case SYS_getgid: case SYS_getegid: case SYS_getresuid:
	case SYS_getresgid: case SYS_setuid: case SYS_setgid: case SYS_setreuid: case SYS_setregid:
	case SYS_setresuid: case SYS_setresgid: case SYS_setfsuid: case SYS_setfsgid:
	case SYS_setgroups: case SYS_getgroups: case SYS_sethostname: case SYS_setdomainname:
		return rt_sys_ident(n, a1, a2, a3);
	case SYS_uname: return rt_sys_uname(P(a1));
	case SYS_getrandom: return rt_sys_getrandom(P(a1), (size_t)a2, (unsigned)a3);
	case SYS_prlimit64: return a1 && a1 != 1 ? -ESRCH : rt_sys_prlimit((int)a2, P(a3), P(a4));
	case SYS_getrlimit: return rt_sys_prlimit((int)a1, 0, P(a2));
	case SYS_setrlimit: return rt_sys_prlimit((int)a1, P(a2), 0);
	case SYS_sysinfo: return rt_sys_sysinfo(P(a1));
	case SYS_getrusage: return rt_sys_getrusage((int)a1, P(a2));
	case SYS_times: return rt_sys_times(P(a1));
	case SYS_prctl: return rt_sys_prctl((int)a1, (unsigned long)a2, (unsigned long)a3, (unsigned long)a4, (unsigned long)a5);

	default:
		return unsupported(n);
	}
}

/* An I/O call on descriptor a1 that would have blocked: the edge EPOLLET waits for (poll.c). */
static void note_eagain(long n, long fd)
{
	struct rt_file *f;
	switch (n) {
	case SYS_read: case SYS_readv: case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg:
	case SYS_accept: case SYS_accept4:
		if ((f = rt_fd_get((int)fd)))
			f->eagain_in++;
		break;
	case SYS_write: case SYS_writev: case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
	case SYS_sendfile:   /* a1 is out_fd */
		if ((f = rt_fd_get((int)fd)))
			f->eagain_out++;
		break;
	default:
		break;
	}
}

static size_t iov_bytes(const struct iovec *iov, long cnt)
{
	size_t sum = 0;
	for (long i = 0; i < cnt; i++)
		sum += iov[i].iov_len;
	return sum;
}

/*
 * A read or write that moved less than it was given is an edge for EPOLLET as an EAGAIN
 * is.  A short read drained the descriptor, so what arrives next is new even if it is
 * fewer bytes than the last report saw (nginx reads a keep-alive request with one short
 * recv and then waits for EPOLLIN); a short write filled it (nginx after a short
 * sendfile waits for EPOLLOUT), and Linux reports "writable again" once room frees up
 * even if the descriptor never looked unwritable to a poll in between.  The call
 * succeeded, so its iovecs were readable.
 */
static void note_short_io(long n, long a1, long a2, long a3, long a4, long r)
{
	size_t want;
	switch (n) {
	case SYS_read: case SYS_recvfrom: case SYS_write: case SYS_sendto: want = (size_t)a3; break;
	case SYS_sendfile: want = (size_t)a4; break;
	case SYS_readv: case SYS_writev: want = iov_bytes((const struct iovec *)a2, a3); break;
	case SYS_recvmsg: case SYS_sendmsg: {
		const struct msghdr *m = (const struct msghdr *)a2;
		want = iov_bytes(m->msg_iov, (long)m->msg_iovlen);
		break;
	}
	default:
		return;
	}
	if ((size_t)r < want && (r > 0 || n == SYS_write || n == SYS_writev || n == SYS_sendto ||
	                         n == SYS_sendmsg || n == SYS_sendfile))
		note_eagain(n, a1);   /* a read of 0 is end of file: no edge to wait for */
}

/*
 * A write to a pipe or socket pair nobody reads any more: SIGPIPE first, as on
 * Linux (its default action ends the process: `yes | head` ends quietly), then
 * EPIPE if it was ignored, blocked or handled.  Network sockets are left as
 * they were (EPIPE only; servers ignore SIGPIPE anyway).
 */
static void sigpipe(long fd)
{
	struct rt_file *f = rt_fd_get((int)fd);
	void *ring;
	if (f && (rt_pipe_end_of(f, &ring) >= 0 || rt_unix_is_pair_end(f)))
		rt_sys_kill_self(SIGPIPE);
}

long __capsule_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	/* A signal a timer posted runs here, on the first thread to make a call that lets it through. */
	if (__builtin_expect(rt_signal_pending_bits != 0, 0))
		rt_signal_deliver_unblocked();
	long r = dispatch(n, a1, a2, a3, a4, a5, a6);
	if (__builtin_expect(r == -EPIPE, 0) && (n == SYS_write || n == SYS_writev))
		sigpipe(a1);
	if (__builtin_expect(r == -EAGAIN, 0))
		note_eagain(n, a1);
	else if (r >= 0 && (n == SYS_read || n == SYS_readv || n == SYS_recvfrom || n == SYS_recvmsg ||
	                    n == SYS_write || n == SYS_writev || n == SYS_sendto || n == SYS_sendmsg ||
	                    n == SYS_sendfile))
		note_short_io(n, a1, a2, a3, a4, r);
	return r;
}
