/* sockabi.c: pure Linux <-> lwIP socket ABI translation (constants, sockaddr, flags, options). */
#include <errno.h>
#include <string.h>

#include "lwip/opt.h"
#include "lwip/sockets.h"

#include "lwip-port/sockabi.h"

/*
 * cc.h makes lwIP take poll bits, errno values and struct timeval from the
 * C library's headers, so those already are Linux's; check it here once
 * instead of trusting it.
 */
_Static_assert(POLLIN == LP_LINUX_POLLIN && POLLOUT == LP_LINUX_POLLOUT &&
               POLLERR == LP_LINUX_POLLERR && POLLHUP == LP_LINUX_POLLHUP &&
               POLLNVAL == LP_LINUX_POLLNVAL, "lwIP uses Linux poll bits");
_Static_assert(EAGAIN == LP_LINUX_EAGAIN && EINVAL == LP_LINUX_EINVAL &&
               ECONNRESET == LP_LINUX_ECONNRESET && EAFNOSUPPORT == LP_LINUX_EAFNOSUPPORT &&
               ENOPROTOOPT == LP_LINUX_ENOPROTOOPT && EOPNOTSUPP == LP_LINUX_EOPNOTSUPP,
               "lwIP uses Linux errno values");
_Static_assert(sizeof(struct sockaddr_in) == LP_LWIP_SOCKADDR_LEN, "lwIP sockaddr_in size");
_Static_assert(sizeof(struct timeval) == 16, "64-bit struct timeval");
_Static_assert(sizeof(struct linger) == 8, "struct linger is two ints");
_Static_assert(AF_INET == LP_LINUX_AF_INET && SOCK_STREAM == LP_LINUX_SOCK_STREAM &&
               SOCK_DGRAM == LP_LINUX_SOCK_DGRAM, "same family and type numbers");
_Static_assert(SHUT_RD == LP_LINUX_SHUT_RD && SHUT_WR == LP_LINUX_SHUT_WR &&
               SHUT_RDWR == LP_LINUX_SHUT_RDWR, "same shutdown values");

/* Linux's struct sockaddr_in, byte for byte. */
struct lp_linux_sockaddr_in {
	uint16_t sin_family;
	uint16_t sin_port;      /* network order */
	uint32_t sin_addr;      /* network order */
	uint8_t  sin_zero[8];
};
_Static_assert(sizeof(struct lp_linux_sockaddr_in) == LP_LINUX_SOCKADDR_IN_LEN, "Linux sockaddr_in");

int lp_abi_addr_from_linux(const void *linux_addr, uint32_t linux_len, int allow_unspec,
                           void *lwip_out, uint32_t *lwip_len)
{
	struct lp_linux_sockaddr_in in;
	struct sockaddr_in out;
	uint16_t family;

	if (!linux_addr)
		return -EFAULT;
	if (linux_len < sizeof(family))
		return -EINVAL;
	memcpy(&family, linux_addr, sizeof(family));
	memset(&out, 0, sizeof(out));
	out.sin_len = sizeof(out);
	if (family == LP_LINUX_AF_UNSPEC && allow_unspec) {
		out.sin_family = AF_UNSPEC;
	} else if (family == LP_LINUX_AF_INET) {
		if (linux_len < sizeof(in))
			return -EINVAL;
		memcpy(&in, linux_addr, sizeof(in));
		out.sin_family = AF_INET;
		out.sin_port = in.sin_port;
		out.sin_addr.s_addr = in.sin_addr;
	} else {
		return -EAFNOSUPPORT;
	}
	memcpy(lwip_out, &out, sizeof(out));
	*lwip_len = sizeof(out);
	return 0;
}

void lp_abi_addr_to_linux(const void *lwip_addr, uint32_t lwip_len, void *linux_addr, uint32_t *linux_len)
{
	struct sockaddr_in in;
	struct lp_linux_sockaddr_in out;
	uint32_t n;

	memset(&out, 0, sizeof(out));
	if (lwip_len >= 2)
		memcpy(&in, lwip_addr, lwip_len < sizeof(in) ? lwip_len : sizeof(in));
	if (lwip_len < sizeof(in) || in.sin_family != AF_INET) {
		/* Nothing bound yet: Linux reports 0.0.0.0:0 for an AF_INET socket. */
		out.sin_family = LP_LINUX_AF_INET;
	} else {
		out.sin_family = LP_LINUX_AF_INET;
		out.sin_port = in.sin_port;
		out.sin_addr = in.sin_addr.s_addr;
	}
	n = *linux_len < sizeof(out) ? *linux_len : (uint32_t)sizeof(out);
	if (linux_addr && n)
		memcpy(linux_addr, &out, n);
	*linux_len = sizeof(out);
}

int lp_abi_send_flags(int linux_flags, int *lwip_flags)
{
	int f = 0;
	if (linux_flags & LP_LINUX_MSG_OOB)
		return -EOPNOTSUPP;
	if (linux_flags & LP_LINUX_MSG_DONTWAIT)
		f |= MSG_DONTWAIT;
	if (linux_flags & LP_LINUX_MSG_MORE)
		f |= MSG_MORE;
	/*
	 * NOSIGNAL: capsules raise no SIGPIPE from lwip-port (the runtime
	 * decides); DONTROUTE, EOR, CONFIRM have no meaning on this link.
	 */
	*lwip_flags = f;
	return 0;
}

int lp_abi_recv_flags(int linux_flags, int *lwip_flags)
{
	int f = 0;
	if (linux_flags & LP_LINUX_MSG_OOB)
		return -EOPNOTSUPP;
	if (linux_flags & LP_LINUX_MSG_ERRQUEUE)
		return -EAGAIN;   /* no error queue: always empty, as Linux says then */
	if (linux_flags & LP_LINUX_MSG_PEEK)
		f |= MSG_PEEK;
	if (linux_flags & LP_LINUX_MSG_DONTWAIT)
		f |= MSG_DONTWAIT;
	*lwip_flags = f;
	return 0;
}

int lp_abi_msg_flags_to_linux(int lwip_msg_flags)
{
	int f = 0;
	if (lwip_msg_flags & MSG_TRUNC)
		f |= LP_LINUX_MSG_TRUNC;
	if (lwip_msg_flags & MSG_CTRUNC)
		f |= LP_LINUX_MSG_CTRUNC;
	return f;
}

int lp_abi_shutdown_how(int linux_how)
{
	switch (linux_how) {
	case LP_LINUX_SHUT_RD:   return SHUT_RD;
	case LP_LINUX_SHUT_WR:   return SHUT_WR;
	case LP_LINUX_SHUT_RDWR: return SHUT_RDWR;
	default:                 return -EINVAL;
	}
}

static const struct { int linux_bit, lwip_bit; } lp_poll_bits[] = {
	{ LP_LINUX_POLLIN, POLLIN }, { LP_LINUX_POLLOUT, POLLOUT },
	{ LP_LINUX_POLLERR, POLLERR }, { LP_LINUX_POLLHUP, POLLHUP },
	{ LP_LINUX_POLLNVAL, POLLNVAL },
};

int lp_abi_poll_events_to_lwip(int linux_events)
{
	int e = 0;
	/* lwIP only evaluates POLLIN/POLLOUT; the *NORM variants mean the same for sockets. */
	if (linux_events & LP_LINUX_POLLRDNORM)
		linux_events |= LP_LINUX_POLLIN;
	if (linux_events & LP_LINUX_POLLWRNORM)
		linux_events |= LP_LINUX_POLLOUT;
	for (size_t i = 0; i < sizeof(lp_poll_bits) / sizeof(lp_poll_bits[0]); i++)
		if (linux_events & lp_poll_bits[i].linux_bit)
			e |= lp_poll_bits[i].lwip_bit;
	return e;
}

int lp_abi_poll_revents_to_linux(int lwip_revents)
{
	int r = 0;
	for (size_t i = 0; i < sizeof(lp_poll_bits) / sizeof(lp_poll_bits[0]); i++)
		if (lwip_revents & lp_poll_bits[i].lwip_bit)
			r |= lp_poll_bits[i].linux_bit;
	return r;
}

struct lp_opt_row {
	int linux_level, linux_name;
	struct lp_abi_opt opt;
};

#define LWIP_OPT(kind, level, name)     { (kind), (level), (name), 0, 0 }
#define LWIP_RO(kind, level, name)      { (kind), (level), (name), 1, 0 }
#define LOCAL_OPT(kind, ro)             { (kind), 0, 0, (ro), 0 }
#define IGNORED(value)                  { LP_OPT_IGNORED, 0, 0, 0, (value) }

static const struct lp_opt_row lp_opt_table[] = {
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_DEBUG,      IGNORED(0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_REUSEADDR,  LWIP_OPT(LP_OPT_BOOL, SOL_SOCKET, SO_REUSEADDR) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_TYPE,       LWIP_RO(LP_OPT_INT, SOL_SOCKET, SO_TYPE) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_ERROR,      LWIP_RO(LP_OPT_INT, SOL_SOCKET, SO_ERROR) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_DONTROUTE,  IGNORED(0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_BROADCAST,  LWIP_OPT(LP_OPT_BOOL, SOL_SOCKET, SO_BROADCAST) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_SNDBUF,     LOCAL_OPT(LP_OPT_SNDBUF, 0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_SNDBUFFORCE, LOCAL_OPT(LP_OPT_SNDBUF, 0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_RCVBUF,     LOCAL_OPT(LP_OPT_RCVBUF, 0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_RCVBUFFORCE, LOCAL_OPT(LP_OPT_RCVBUF, 0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_KEEPALIVE,  LWIP_OPT(LP_OPT_BOOL, SOL_SOCKET, SO_KEEPALIVE) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_OOBINLINE,  IGNORED(0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_NO_CHECK,   LWIP_OPT(LP_OPT_BOOL, SOL_SOCKET, SO_NO_CHECK) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_PRIORITY,   IGNORED(0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_LINGER,     LWIP_OPT(LP_OPT_LINGER, SOL_SOCKET, SO_LINGER) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_REUSEPORT,  IGNORED(0) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_RCVLOWAT,   IGNORED(1) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_SNDLOWAT,   IGNORED(1) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_RCVTIMEO,   LWIP_OPT(LP_OPT_TIMEVAL, SOL_SOCKET, SO_RCVTIMEO) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_SNDTIMEO,   LWIP_OPT(LP_OPT_TIMEVAL, SOL_SOCKET, SO_SNDTIMEO) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_RCVTIMEO_NEW, LWIP_OPT(LP_OPT_TIMEVAL, SOL_SOCKET, SO_RCVTIMEO) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_SNDTIMEO_NEW, LWIP_OPT(LP_OPT_TIMEVAL, SOL_SOCKET, SO_SNDTIMEO) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_ACCEPTCONN, LWIP_RO(LP_OPT_BOOL, SOL_SOCKET, SO_ACCEPTCONN) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_PROTOCOL,   LOCAL_OPT(LP_OPT_PROTOCOL, 1) },
	{ LP_LINUX_SOL_SOCKET, LP_LINUX_SO_DOMAIN,     LOCAL_OPT(LP_OPT_DOMAIN, 1) },

	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_NODELAY,      LWIP_OPT(LP_OPT_BOOL, IPPROTO_TCP, TCP_NODELAY) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_MAXSEG,       LOCAL_OPT(LP_OPT_MAXSEG, 0) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_CORK,         IGNORED(0) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_KEEPIDLE,     LWIP_OPT(LP_OPT_INT, IPPROTO_TCP, TCP_KEEPIDLE) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_KEEPINTVL,    LWIP_OPT(LP_OPT_INT, IPPROTO_TCP, TCP_KEEPINTVL) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_KEEPCNT,      LWIP_OPT(LP_OPT_INT, IPPROTO_TCP, TCP_KEEPCNT) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_SYNCNT,       IGNORED(6) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_LINGER2,      IGNORED(60) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_DEFER_ACCEPT, IGNORED(0) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_WINDOW_CLAMP, IGNORED(0) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_QUICKACK,     IGNORED(1) },
	{ LP_LINUX_IPPROTO_TCP, LP_LINUX_TCP_USER_TIMEOUT, IGNORED(0) },

	{ LP_LINUX_IPPROTO_IP, LP_LINUX_IP_TOS,          LWIP_OPT(LP_OPT_INT, IPPROTO_IP, IP_TOS) },
	{ LP_LINUX_IPPROTO_IP, LP_LINUX_IP_TTL,          LWIP_OPT(LP_OPT_INT, IPPROTO_IP, IP_TTL) },
	{ LP_LINUX_IPPROTO_IP, LP_LINUX_IP_RECVERR,      IGNORED(0) },
	{ LP_LINUX_IPPROTO_IP, LP_LINUX_IP_MTU_DISCOVER, IGNORED(0) },
	{ LP_LINUX_IPPROTO_IP, LP_LINUX_IP_FREEBIND,     IGNORED(0) },
};

int lp_abi_sockopt(int linux_level, int linux_name, struct lp_abi_opt *out)
{
	for (size_t i = 0; i < sizeof(lp_opt_table) / sizeof(lp_opt_table[0]); i++) {
		if (lp_opt_table[i].linux_level == linux_level && lp_opt_table[i].linux_name == linux_name) {
			*out = lp_opt_table[i].opt;
			return 0;
		}
	}
	return -ENOPROTOOPT;
}

int lp_abi_sockopt_value_ok(int linux_level, int linux_name, int value)
{
	if (linux_level == LP_LINUX_IPPROTO_TCP) {
		switch (linux_name) {
		case LP_LINUX_TCP_KEEPIDLE:
		case LP_LINUX_TCP_KEEPINTVL: return value >= 1 && value <= 32767;
		case LP_LINUX_TCP_KEEPCNT:   return value >= 1 && value <= 127;
		}
	}
	if (linux_level == LP_LINUX_IPPROTO_IP) {
		switch (linux_name) {
		case LP_LINUX_IP_TTL: return value == -1 || (value >= 1 && value <= 255);
		case LP_LINUX_IP_TOS: return value >= 0 && value <= 255;
		}
	}
	return 1;
}

/* Linux's struct timeval on x86_64 (also __kernel_sock_timeval for the _NEW options). */
struct lp_linux_timeval {
	int64_t tv_sec;
	int64_t tv_usec;
};

int lp_abi_timeout_from_linux(const void *val, uint32_t len, struct timeval *out)
{
	struct lp_linux_timeval tv;
	if (!val)
		return -EFAULT;
	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	memset(out, 0, sizeof(*out));
	if (tv.tv_sec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
		return 0;   /* no timeout */
	/* lwIP keeps an int of milliseconds: clamp, and never round a real timeout down to "forever". */
	if (tv.tv_sec > INT32_MAX / 1000 - 1) {
		out->tv_sec = INT32_MAX / 1000 - 1;
		return 0;
	}
	out->tv_sec = (time_t)tv.tv_sec;
	out->tv_usec = (suseconds_t)(((tv.tv_usec + 999) / 1000) * 1000);
	if (out->tv_usec >= 1000000) {
		out->tv_sec++;
		out->tv_usec -= 1000000;
	}
	return 0;
}

void lp_abi_timeout_to_linux(const struct timeval *tv, void *val, uint32_t *len)
{
	struct lp_linux_timeval out = { tv->tv_sec, tv->tv_usec };
	uint32_t n = *len < sizeof(out) ? *len : (uint32_t)sizeof(out);
	if (val && n)
		memcpy(val, &out, n);
	*len = n;
}

int lp_abi_put_int(int value, void *val, uint32_t *len)
{
	uint32_t n = *len < sizeof(value) ? *len : (uint32_t)sizeof(value);
	if (n && !val)
		return -EFAULT;
	if (n)
		memcpy(val, &value, n);
	*len = n;
	return 0;
}

int lp_abi_get_int(int linux_level, const void *val, uint32_t len, int *out)
{
	if (!val)
		return -EFAULT;
	if (len >= sizeof(int)) {
		memcpy(out, val, sizeof(int));
		return 0;
	}
	if (linux_level == LP_LINUX_IPPROTO_IP && len >= 1) {
		*out = *(const unsigned char *)val;
		return 0;
	}
	return -EINVAL;
}
