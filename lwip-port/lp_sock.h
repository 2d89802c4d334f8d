/* lp_sock.h: lwIP sockets seen through the Linux ABI; lwip-port's socket files (sockfile.c) call these. */
#ifndef LP_SOCK_H
#define LP_SOCK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Every argument uses Linux's values and struct layouts (struct sockaddr_in
 * with a 16-bit family, SOL_SOCKET = 1, MSG_DONTWAIT = 0x40, POLLIN = 1, ...);
 * every function returns >= 0 or -errno (Linux errno values).  Inside,
 * lwip-port translates to lwIP's own constants and structs, which cannot
 * share a translation unit with musl's <sys/socket.h>.
 *
 * `s` is an lwIP socket handle returned by lp_socket/lp_accept.
 * iov points to Linux `struct iovec` (layout of struct rt_iovec).
 * A call may block the calling green thread unless `nonblock` is set.
 */

/* Bring up lwIP: tcpip thread, the channel netif with the control page's address. */
int  lp_init(void);

long lp_socket(int domain, int type, int protocol);  /* type without SOCK_NONBLOCK/CLOEXEC */
/* One past the highest socket index ever handed out: table scans stop there (sockets.c). */
int lp_sock_limit(void);
long lp_bind(int s, const void *addr, uint32_t addrlen);
long lp_listen(int s, int backlog);
long lp_accept(int s, void *addr, uint32_t *addrlen, int nonblock);
long lp_connect(int s, const void *addr, uint32_t addrlen, int nonblock);
long lp_sendmsg(int s, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                int linux_flags, int nonblock);
long lp_recvmsg(int s, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                int linux_flags, int nonblock, int *linux_msg_flags_out);
long lp_shutdown(int s, int how);
long lp_close(int s);
long lp_getsockopt(int s, int level, int name, void *val, uint32_t *len);
long lp_setsockopt(int s, int level, int name, const void *val, uint32_t len);
long lp_getsockname(int s, void *addr, uint32_t *addrlen);
long lp_getpeername(int s, void *addr, uint32_t *addrlen);
long lp_nread(int s);   /* bytes readable now (FIONREAD) */

/* Readiness now, without blocking: Linux POLL* bits among `events` plus POLLERR/POLLHUP. */
int  lp_poll(int s, int events);

#endif
