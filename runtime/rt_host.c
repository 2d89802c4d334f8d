/* rt_host.c: the capsule's only raw system calls (exactly the sandbox's allowlist), and the vDSO clock. */
#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_host.h"

/* Linux x86_64 numbers and constants, spelled out so no header can redirect them. */
#define NR_READ          0
#define NR_WRITE         1
#define NR_WRITEV        20
#define NR_MADVISE       28
#define NR_EXIT          60
#define NR_ARCH_PRCTL    158
#define NR_EXIT_GROUP    231
#define NR_CLOCK_GETTIME 228
#define NR_PPOLL         271
#define NR_GETRANDOM     318

#define ARCH_SET_FS      0x1002
#define MADV_REMOVE_     9
#define POLLIN_          0x001
#define POLLOUT_         0x004
#define POLLERR_         0x008
#define POLLHUP_         0x010
#define POLLNVAL_        0x020
#define EAGAIN_          11
#define EINTR_           4

struct host_timespec { int64_t sec, nsec; };
struct host_pollfd { int fd; short events, revents; };

static inline long raw1(long n, long a1)
{
	long r;
	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a1) : "rcx", "r11", "memory");
	return r;
}

static inline long raw2(long n, long a1, long a2)
{
	long r;
	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
	return r;
}

static inline long raw3(long n, long a1, long a2, long a3)
{
	long r;
	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a1), "S"(a2), "d"(a3)
	                  : "rcx", "r11", "memory");
	return r;
}

static inline long raw5(long n, long a1, long a2, long a3, long a4, long a5)
{
	long r;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
	                  : "rcx", "r11", "memory");
	return r;
}

long rt_host_read(int fd, void *buf, size_t len)
{
	long r;
	do r = raw3(NR_READ, fd, (long)buf, (long)len); while (r == -EINTR_);
	return r;
}

long rt_host_write(int fd, const void *buf, size_t len)
{
	long r;
	do r = raw3(NR_WRITE, fd, (long)buf, (long)len); while (r == -EINTR_);
	return r;
}

long rt_host_writev(int fd, const struct rt_iovec *iov, int iovcnt)
{
	long r;
	do r = raw3(NR_WRITEV, fd, (long)iov, iovcnt); while (r == -EINTR_);
	return r;
}

static long host_ppoll(struct host_pollfd *fds, int nfds, int64_t timeout_ns)
{
	struct host_timespec ts, *tsp = 0;
	if (timeout_ns >= 0) {
		ts.sec = timeout_ns / 1000000000;
		ts.nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	return raw5(NR_PPOLL, (long)fds, nfds, (long)tsp, 0, 8);
}

long rt_host_wait(int want_channel_out, int want_console, int64_t timeout_ns,
                  int *channel_in, int *channel_out, int *console_in, int *channel_hup, int *tun_in)
{
	struct host_pollfd fds[3];
	int n = 1, console = -1, tun = -1;
	fds[0].fd = CAP_FD_CHANNEL;
	fds[0].events = POLLIN_ | (want_channel_out ? POLLOUT_ : 0);
	fds[0].revents = 0;
	if (want_console) {
		console = n++;
		fds[console].fd = CAP_FD_CONSOLE_IN;
		fds[console].events = POLLIN_;
		fds[console].revents = 0;
	}
	if (tun_in) {
		tun = n++;
		fds[tun].fd = CAP_FD_TUN;
		fds[tun].events = POLLIN_;
		fds[tun].revents = 0;
		*tun_in = 0;
	}
	long r = host_ppoll(fds, n, timeout_ns);
	if (r == -EINTR_)
		r = 0;
	if (r < 0)
		return r;
	/*
	 * Hangup is reported apart from "readable": the drain reads what is left
	 * and returns quietly on end of file, so only the caller can tell that
	 * the host is gone (and a capsule without a host must exit, not spin).
	 */
	*channel_in = (fds[0].revents & POLLIN_) != 0;
	*channel_out = (fds[0].revents & POLLOUT_) != 0;
	*channel_hup = (fds[0].revents & (POLLERR_ | POLLHUP_ | POLLNVAL_)) != 0;
	*console_in = console >= 0 && (fds[console].revents & (POLLIN_ | POLLERR_ | POLLHUP_)) != 0;
	if (tun >= 0)   /* -1: the device is not (or no longer) usable */
		*tun_in = (fds[tun].revents & (POLLERR_ | POLLHUP_ | POLLNVAL_)) ? -1
		          : (fds[tun].revents & POLLIN_) != 0;
	return r;
}

/*
 * Clocks without a system call: the kernel's vDSO, which this process's
 * loader found and left mapped (cap_control.vdso_clock_gettime).  Read at
 * every call, never cached: after a resume or a migration it is another
 * process's vDSO, maybe another kernel's, at another address.  The vDSO
 * itself falls back to the clock_gettime system call when the host's clock
 * source cannot be read from user space.
 */
typedef int (*vdso_clock_fn)(int, struct host_timespec *);

long rt_host_clock(int clockid, int64_t *ns)
{
	struct host_timespec ts;
	uint64_t vdso = ((const volatile struct cap_control *)CAP_CONTROL_ADDR)->vdso_clock_gettime;
	long r = vdso ? ((vdso_clock_fn)(uintptr_t)vdso)(clockid, &ts)
	              : raw2(NR_CLOCK_GETTIME, clockid, (long)&ts);
	if (r < 0)
		return r;
	*ns = ts.sec * 1000000000 + ts.nsec;
	return 0;
}

long rt_host_getrandom(void *buf, size_t len)
{
	long r;
	do r = raw3(NR_GETRANDOM, (long)buf, (long)len, 0); while (r == -EINTR_);
	return r;
}

long rt_host_set_fs(uint64_t base)
{
	return raw2(NR_ARCH_PRCTL, ARCH_SET_FS, (long)base);
}

/*
 * Give pages back, then say so in the control page's discard journal
 * (capsule-abi/cap_abi.h): a host copying our memory while we run learns
 * from it that these pages changed without a write.  The entry comes after
 * the discard and the count after the entry, so a host that sees the count
 * sees the entry, and a page it copies after that is the discarded one.
 */
long rt_host_discard(void *addr, size_t len)
{
	volatile struct cap_control *c = (volatile struct cap_control *)CAP_CONTROL_ADDR;
	long r = 0;
	/* While caprun still loads a snapshot, a hole would be refilled with stale bytes: zero it. */
	if (c->host_flags & CAP_HOST_LAZY_LOAD)
		__builtin_memset(addr, 0, len);
	else
		r = raw3(NR_MADVISE, (long)addr, (long)len, MADV_REMOVE_);
	uint64_t seq = c->discard_seq;
	volatile struct cap_discard *d = &c->discards[seq % CAP_DISCARD_LOG];
	d->offset = CAP_MEMFD_OFFSET((uintptr_t)addr);
	d->length = len;
	__atomic_store_n(&c->discard_seq, seq + 1, __ATOMIC_RELEASE);
	return r;
}

_Noreturn void rt_host_exit(int code)
{
	for (;;) {
		raw1(NR_EXIT_GROUP, code);
		raw1(NR_EXIT, code);
	}
}

_Noreturn void rt_host_park(void)
{
	/* events 0: only the host's end (POLLHUP, POLLERR) wakes it; records stay unread */
	for (;;) {
		struct host_pollfd p = { CAP_FD_CHANNEL, 0, 0 };
		long r = host_ppoll(&p, 1, -1);
		if (r > 0 && (p.revents & (POLLHUP_ | POLLERR_)))
			rt_host_exit(127);   /* caprun is gone: nobody will start the new program */
	}
}

long rt_host_channel_send(const struct rt_iovec *iov, int iovcnt)
{
	for (;;) {
		long r = rt_host_writev(CAP_FD_CHANNEL, iov, iovcnt);
		if (r != -EAGAIN_)
			return r;
		/* The host is behind: wait for room (the whole capsule waits; rare). */
		struct host_pollfd p = { CAP_FD_CHANNEL, POLLOUT_, 0 };
		r = host_ppoll(&p, 1, -1);
		if (r < 0 && r != -EINTR_)
			return r;
		if (p.revents & (POLLERR_ | POLLHUP_))
			return -32; /* EPIPE: the host is gone */
	}
}
