/* rt_host.h: the runtime's only doors to the host kernel (the raw syscalls the sandbox allows). */
#ifndef RT_HOST_H
#define RT_HOST_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every function returns >= 0 or -errno, like a raw syscall.  These are the
 * only places in the capsule that execute a `syscall` instruction; the
 * seccomp filter the host installs allows exactly these (with fd checks).
 */
struct rt_iovec { void *base; size_t len; };   /* layout of struct iovec */

long rt_host_read(int fd, void *buf, size_t len);
long rt_host_write(int fd, const void *buf, size_t len);
long rt_host_writev(int fd, const struct rt_iovec *iov, int iovcnt);
/*
 * Wait for the channel (and console input if want_console, and the TUN
 * device, CAP_FD_TUN, unless tun_in is NULL) with a timeout in ns (-1:
 * forever).  channel_hup: the host closed its end (or it failed).  *tun_in:
 * 1 readable, 0 not, -1 the device failed (or is not there).
 */
long rt_host_wait(int want_channel_out, int want_console, int64_t timeout_ns,
                  int *channel_in, int *channel_out, int *console_in, int *channel_hup, int *tun_in);
long rt_host_clock(int clockid, int64_t *ns);   /* host CLOCK_MONOTONIC / CLOCK_REALTIME */
long rt_host_getrandom(void *buf, size_t len);
long rt_host_set_fs(uint64_t base);
long rt_host_discard(void *addr, size_t len);  /* madvise(MADV_REMOVE): give pages back */
_Noreturn void rt_host_exit(int code);

/* Send one message on the packet channel (header + payload as iovecs); waits for room. */
/* Sleep until the host ends this process (an execve's old program): reads nothing. */
_Noreturn void rt_host_park(void);
long rt_host_channel_send(const struct rt_iovec *iov, int iovcnt);

#endif
