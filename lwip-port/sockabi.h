/* sockabi.h: pure translation between the Linux socket ABI and lwIP's constants and structs. */
#ifndef LP_SOCKABI_H
#define LP_SOCKABI_H

#include <stdint.h>
#include <sys/time.h>

/*
 * lwIP's <lwip/sockets.h> and musl's <sys/socket.h>/<netinet/in.h> cannot
 * share a translation unit, so Linux's values are spelled out here.
 * This header includes neither world: the unit test checks these numbers
 * against the host's real Linux headers, and sockabi.c against lwIP's.
 */

/* Address families, socket types, protocols. */
#define LP_LINUX_AF_UNSPEC   0
#define LP_LINUX_AF_INET     2
#define LP_LINUX_AF_INET6    10
#define LP_LINUX_SOCK_STREAM 1
#define LP_LINUX_SOCK_DGRAM  2
#define LP_LINUX_SOCK_RAW    3
#define LP_LINUX_IPPROTO_IP  0
#define LP_LINUX_IPPROTO_TCP 6
#define LP_LINUX_IPPROTO_UDP 17
#define LP_LINUX_SOCKADDR_IN_LEN 16   /* u16 family, u16 port, u32 addr, 8 zero bytes */

/* Socket option levels and names. */
#define LP_LINUX_SOL_SOCKET     1
#define LP_LINUX_SO_DEBUG       1
#define LP_LINUX_SO_REUSEADDR   2
#define LP_LINUX_SO_TYPE        3
#define LP_LINUX_SO_ERROR       4
#define LP_LINUX_SO_DONTROUTE   5
#define LP_LINUX_SO_BROADCAST   6
#define LP_LINUX_SO_SNDBUF      7
#define LP_LINUX_SO_RCVBUF      8
#define LP_LINUX_SO_KEEPALIVE   9
#define LP_LINUX_SO_OOBINLINE   10
#define LP_LINUX_SO_NO_CHECK    11
#define LP_LINUX_SO_PRIORITY    12
#define LP_LINUX_SO_LINGER      13
#define LP_LINUX_SO_REUSEPORT   15
#define LP_LINUX_SO_RCVLOWAT    18
#define LP_LINUX_SO_SNDLOWAT    19
#define LP_LINUX_SO_RCVTIMEO    20      /* SO_RCVTIMEO_OLD: 64-bit timeval on x86_64 */
#define LP_LINUX_SO_SNDTIMEO    21
#define LP_LINUX_SO_ACCEPTCONN  30
#define LP_LINUX_SO_SNDBUFFORCE 32
#define LP_LINUX_SO_RCVBUFFORCE 33
#define LP_LINUX_SO_PROTOCOL    38
#define LP_LINUX_SO_DOMAIN      39
#define LP_LINUX_SO_RCVTIMEO_NEW 66
#define LP_LINUX_SO_SNDTIMEO_NEW 67

#define LP_LINUX_TCP_NODELAY      1
#define LP_LINUX_TCP_MAXSEG       2
#define LP_LINUX_TCP_CORK         3
#define LP_LINUX_TCP_KEEPIDLE     4
#define LP_LINUX_TCP_KEEPINTVL    5
#define LP_LINUX_TCP_KEEPCNT      6
#define LP_LINUX_TCP_SYNCNT       7
#define LP_LINUX_TCP_LINGER2      8
#define LP_LINUX_TCP_DEFER_ACCEPT 9
#define LP_LINUX_TCP_WINDOW_CLAMP 10
#define LP_LINUX_TCP_QUICKACK     12
#define LP_LINUX_TCP_USER_TIMEOUT 18

#define LP_LINUX_IP_TOS          1
#define LP_LINUX_IP_TTL          2
#define LP_LINUX_IP_RECVERR      11
#define LP_LINUX_IP_MTU_DISCOVER 10
#define LP_LINUX_IP_FREEBIND     15

/* send/recv flags. */
#define LP_LINUX_MSG_OOB       0x1
#define LP_LINUX_MSG_PEEK      0x2
#define LP_LINUX_MSG_DONTROUTE 0x4
#define LP_LINUX_MSG_CTRUNC    0x8
#define LP_LINUX_MSG_TRUNC     0x20
#define LP_LINUX_MSG_DONTWAIT  0x40
#define LP_LINUX_MSG_EOR       0x80
#define LP_LINUX_MSG_WAITALL   0x100
#define LP_LINUX_MSG_CONFIRM   0x800
#define LP_LINUX_MSG_ERRQUEUE  0x2000
#define LP_LINUX_MSG_NOSIGNAL  0x4000
#define LP_LINUX_MSG_MORE      0x8000
#define LP_LINUX_MSG_CMSG_CLOEXEC 0x40000000

#define LP_LINUX_SHUT_RD   0
#define LP_LINUX_SHUT_WR   1
#define LP_LINUX_SHUT_RDWR 2

/* poll bits. */
#define LP_LINUX_POLLIN     0x001
#define LP_LINUX_POLLPRI    0x002
#define LP_LINUX_POLLOUT    0x004
#define LP_LINUX_POLLERR    0x008
#define LP_LINUX_POLLHUP    0x010
#define LP_LINUX_POLLNVAL   0x020
#define LP_LINUX_POLLRDNORM 0x040
#define LP_LINUX_POLLRDBAND 0x080
#define LP_LINUX_POLLWRNORM 0x100
#define LP_LINUX_POLLWRBAND 0x200
#define LP_LINUX_POLLRDHUP  0x2000

/* errno values the translation produces itself. */
#define LP_LINUX_EAGAIN       11
#define LP_LINUX_EFAULT       14
#define LP_LINUX_EINVAL       22
#define LP_LINUX_EDOM         33
#define LP_LINUX_ENOPROTOOPT  92
#define LP_LINUX_EPROTONOSUPPORT 93
#define LP_LINUX_EOPNOTSUPP   95
#define LP_LINUX_EAFNOSUPPORT 97
#define LP_LINUX_ECONNRESET   104
#define LP_LINUX_ECONNREFUSED 111

/* Sizes of lwIP's IPv4 socket address (BSD layout: u8 len, u8 family, port, addr, zero[8]). */
#define LP_LWIP_SOCKADDR_LEN 16

/*
 * Linux sockaddr -> lwIP sockaddr_in.  lwip_out must hold
 * LP_LWIP_SOCKADDR_LEN bytes.  allow_unspec: AF_UNSPEC is legal (connect
 * on UDP = disconnect).  Returns 0 or -EINVAL / -EAFNOSUPPORT / -EFAULT.
 */
int lp_abi_addr_from_linux(const void *linux_addr, uint32_t linux_len, int allow_unspec,
                           void *lwip_out, uint32_t *lwip_len);

/*
 * lwIP sockaddr -> Linux sockaddr_in, with Linux's truncation rule: copy at
 * most *linux_len bytes, then set *linux_len to the full size.
 */
void lp_abi_addr_to_linux(const void *lwip_addr, uint32_t lwip_len, void *linux_addr, uint32_t *linux_len);

/* MSG_* flags.  Flags lwIP cannot honor give -EOPNOTSUPP; harmless ones are dropped. */
int lp_abi_send_flags(int linux_flags, int *lwip_flags);
int lp_abi_recv_flags(int linux_flags, int *lwip_flags);   /* WAITALL/TRUNC: handled by the caller */
int lp_abi_msg_flags_to_linux(int lwip_msg_flags);          /* recvmsg's msg_flags out */

int lp_abi_shutdown_how(int linux_how);                    /* lwIP how, or -EINVAL */

int lp_abi_poll_events_to_lwip(int linux_events);
int lp_abi_poll_revents_to_linux(int lwip_revents);

/* Where a Linux socket option goes. */
enum lp_abi_opt_kind {
	LP_OPT_INT = 1,   /* int, passed to lwIP */
	LP_OPT_BOOL,      /* int; lwIP reads back flag bits, normalized to 0/1 */
	LP_OPT_TIMEVAL,   /* struct timeval, milliseconds inside lwIP */
	LP_OPT_LINGER,    /* struct linger { int l_onoff, l_linger; } both sides */
	LP_OPT_IGNORED,   /* accepted, no effect; reads back as `value` */
	LP_OPT_SNDBUF,    /* answered by lwip-port from its configuration */
	LP_OPT_RCVBUF,
	LP_OPT_MAXSEG,
	LP_OPT_PROTOCOL,
	LP_OPT_DOMAIN,
};

struct lp_abi_opt {
	int kind;          /* enum lp_abi_opt_kind */
	int level, name;   /* lwIP's, for the LP_OPT_INT/BOOL/TIMEVAL/LINGER kinds */
	int readonly;      /* setsockopt gives -ENOPROTOOPT */
	int value;         /* LP_OPT_IGNORED: what getsockopt reports */
};

/* 0 and *out filled, or -ENOPROTOOPT for options lwIP-port does not know. */
int lp_abi_sockopt(int linux_level, int linux_name, struct lp_abi_opt *out);

/* Linux's range checks for int options (TCP_KEEPIDLE 1..32767, IP_TTL -1..255, ...). */
int lp_abi_sockopt_value_ok(int linux_level, int linux_name, int value);

/*
 * SO_RCVTIMEO/SO_SNDTIMEO: Linux struct timeval (16 bytes) <-> the value
 * lwIP takes.  Validates like Linux (-EINVAL short, -EDOM bad usec; a
 * negative time means "no timeout"), and rounds a sub-millisecond timeout
 * up to 1 ms because lwIP stores milliseconds and 0 means forever.
 */
int lp_abi_timeout_from_linux(const void *val, uint32_t len, struct timeval *out);
void lp_abi_timeout_to_linux(const struct timeval *tv, void *val, uint32_t *len);

/* getsockopt's copy-out rule for an int: min(*len, 4) bytes, *len = that. */
int lp_abi_put_int(int value, void *val, uint32_t *len);
/* setsockopt's int: >= 4 bytes; at IPPROTO_IP level Linux also takes 1 byte (IP_TOS). */
int lp_abi_get_int(int linux_level, const void *val, uint32_t len, int *out);

#endif
