/* arch/cc.h: lwIP's compiler/platform glue for the capsule (musl headers, Linux constants). */
#ifndef LP_ARCH_CC_H
#define LP_ARCH_CC_H

/*
 * Included before lwIP defines anything: with these, lwIP's sockets.h skips
 * its own fd_set, pollfd, POLL*, F_GETFL/F_SETFL, O_NONBLOCK, FIONREAD/FIONBIO
 * and struct timeval, and uses Linux's.  errno values are musl's (Linux's)
 * via LWIP_ERRNO_STDINCLUDE.
 */
#include <sys/time.h>
#include <sys/select.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <inttypes.h>
#include <sys/types.h>
#include <limits.h>

/* lwIP's sockets.h defines struct iovec unless `iovec` is a macro: use the system's (same layout). */
#define iovec iovec

/*
 * lwIP's socket table holds as many sockets as the largest --max-fds
 * (lwipopts.h), and sockets.h insists that FD_SETSIZE covers it.  lwIP's
 * select is off (LWIP_SOCKET_SELECT 0) and nothing on this side uses an
 * fd_set, so only the number changes, never a struct: apps see musl's 1024.
 */
#undef FD_SETSIZE
#define FD_SETSIZE 65536

/* lwIP's sockets.h defines the BSD SIOCATMARK after musl's; lwIP never uses it. */
#undef SIOCATMARK

/*
 * Debian's "port" patch makes sockets.c ask the port how to set and read
 * sockaddr lengths; lwIP's own sockaddr (ours) is BSD-style with sin_len.
 */
#define IP4ADDR_SOCKADDR_SET_LEN(sin)  ((sin)->sin_len = (u8_t)sizeof(struct sockaddr_in))
#define IPADDR_SOCKADDR_GET_LEN(addr)  ((addr)->sa.sa_len)

#define LWIP_NO_STDINT_H   0
#define LWIP_NO_INTTYPES_H 0
#define LWIP_NO_LIMITS_H   0
#define LWIP_NO_CTYPE_H    0

#define LWIP_PLATFORM_DIAG(x) do { printf x; } while (0)
#define LWIP_PLATFORM_ASSERT(msg) do { \
		fprintf(stderr, "lwip: assertion \"%s\" failed at %s:%d\n", (msg), __FILE__, __LINE__); \
		fflush(stderr); abort(); \
	} while (0)

#endif
