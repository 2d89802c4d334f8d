/* test_lp_sockabi.c: the lwip-port Linux <-> lwIP socket ABI translation, checked against the host's Linux headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include "lwip-port/sockabi.h"

/* lwIP 2.1.3's own values (lwip/sockets.h), which this file cannot include next to glibc's. */
#define LWIP_SOL_SOCKET   0xfff
#define LWIP_SO_REUSEADDR 0x0004
#define LWIP_SO_KEEPALIVE 0x0008
#define LWIP_SO_BROADCAST 0x0020
#define LWIP_SO_ACCEPTCONN 0x0002
#define LWIP_SO_LINGER    0x0080
#define LWIP_SO_RCVTIMEO  0x1006
#define LWIP_SO_SNDTIMEO  0x1005
#define LWIP_SO_ERROR     0x1007
#define LWIP_SO_TYPE      0x1008
#define LWIP_SO_NO_CHECK  0x100a
#define LWIP_TCP_NODELAY  0x01
#define LWIP_TCP_KEEPIDLE 0x03
#define LWIP_TCP_KEEPINTVL 0x04
#define LWIP_TCP_KEEPCNT  0x05
#define LWIP_MSG_PEEK     0x01
#define LWIP_MSG_DONTWAIT 0x08
#define LWIP_MSG_MORE     0x10
#define LWIP_MSG_TRUNC    0x04
#define LWIP_MSG_CTRUNC   0x08

static void test_linux_constants(void **state)
{
	(void)state;
	assert_int_equal(LP_LINUX_AF_UNSPEC, AF_UNSPEC);
	assert_int_equal(LP_LINUX_AF_INET, AF_INET);
	assert_int_equal(LP_LINUX_AF_INET6, AF_INET6);
	assert_int_equal(LP_LINUX_SOCK_STREAM, SOCK_STREAM);
	assert_int_equal(LP_LINUX_SOCK_DGRAM, SOCK_DGRAM);
	assert_int_equal(LP_LINUX_SOCK_RAW, SOCK_RAW);
	assert_int_equal(LP_LINUX_IPPROTO_IP, IPPROTO_IP);
	assert_int_equal(LP_LINUX_IPPROTO_TCP, IPPROTO_TCP);
	assert_int_equal(LP_LINUX_IPPROTO_UDP, IPPROTO_UDP);
	assert_int_equal(LP_LINUX_SOCKADDR_IN_LEN, sizeof(struct sockaddr_in));

	assert_int_equal(LP_LINUX_SOL_SOCKET, SOL_SOCKET);
	assert_int_equal(LP_LINUX_SO_DEBUG, SO_DEBUG);
	assert_int_equal(LP_LINUX_SO_REUSEADDR, SO_REUSEADDR);
	assert_int_equal(LP_LINUX_SO_TYPE, SO_TYPE);
	assert_int_equal(LP_LINUX_SO_ERROR, SO_ERROR);
	assert_int_equal(LP_LINUX_SO_DONTROUTE, SO_DONTROUTE);
	assert_int_equal(LP_LINUX_SO_BROADCAST, SO_BROADCAST);
	assert_int_equal(LP_LINUX_SO_SNDBUF, SO_SNDBUF);
	assert_int_equal(LP_LINUX_SO_RCVBUF, SO_RCVBUF);
	assert_int_equal(LP_LINUX_SO_KEEPALIVE, SO_KEEPALIVE);
	assert_int_equal(LP_LINUX_SO_OOBINLINE, SO_OOBINLINE);
	assert_int_equal(LP_LINUX_SO_NO_CHECK, SO_NO_CHECK);
	assert_int_equal(LP_LINUX_SO_PRIORITY, SO_PRIORITY);
	assert_int_equal(LP_LINUX_SO_LINGER, SO_LINGER);
	assert_int_equal(LP_LINUX_SO_REUSEPORT, SO_REUSEPORT);
	assert_int_equal(LP_LINUX_SO_RCVLOWAT, SO_RCVLOWAT);
	assert_int_equal(LP_LINUX_SO_SNDLOWAT, SO_SNDLOWAT);
	assert_int_equal(LP_LINUX_SO_RCVTIMEO, SO_RCVTIMEO);
	assert_int_equal(LP_LINUX_SO_SNDTIMEO, SO_SNDTIMEO);
	assert_int_equal(LP_LINUX_SO_ACCEPTCONN, SO_ACCEPTCONN);
	assert_int_equal(LP_LINUX_SO_SNDBUFFORCE, SO_SNDBUFFORCE);
	assert_int_equal(LP_LINUX_SO_RCVBUFFORCE, SO_RCVBUFFORCE);
	assert_int_equal(LP_LINUX_SO_PROTOCOL, SO_PROTOCOL);
	assert_int_equal(LP_LINUX_SO_DOMAIN, SO_DOMAIN);

	assert_int_equal(LP_LINUX_TCP_NODELAY, TCP_NODELAY);
	assert_int_equal(LP_LINUX_TCP_MAXSEG, TCP_MAXSEG);
	assert_int_equal(LP_LINUX_TCP_CORK, TCP_CORK);
	assert_int_equal(LP_LINUX_TCP_KEEPIDLE, TCP_KEEPIDLE);
	assert_int_equal(LP_LINUX_TCP_KEEPINTVL, TCP_KEEPINTVL);
	assert_int_equal(LP_LINUX_TCP_KEEPCNT, TCP_KEEPCNT);
	assert_int_equal(LP_LINUX_TCP_SYNCNT, TCP_SYNCNT);
	assert_int_equal(LP_LINUX_TCP_LINGER2, TCP_LINGER2);
	assert_int_equal(LP_LINUX_TCP_DEFER_ACCEPT, TCP_DEFER_ACCEPT);
	assert_int_equal(LP_LINUX_TCP_WINDOW_CLAMP, TCP_WINDOW_CLAMP);
	assert_int_equal(LP_LINUX_TCP_QUICKACK, TCP_QUICKACK);
	assert_int_equal(LP_LINUX_TCP_USER_TIMEOUT, TCP_USER_TIMEOUT);

	assert_int_equal(LP_LINUX_IP_TOS, IP_TOS);
	assert_int_equal(LP_LINUX_IP_TTL, IP_TTL);
	assert_int_equal(LP_LINUX_IP_RECVERR, IP_RECVERR);
	assert_int_equal(LP_LINUX_IP_MTU_DISCOVER, IP_MTU_DISCOVER);
	assert_int_equal(LP_LINUX_IP_FREEBIND, IP_FREEBIND);

	assert_int_equal(LP_LINUX_MSG_OOB, MSG_OOB);
	assert_int_equal(LP_LINUX_MSG_PEEK, MSG_PEEK);
	assert_int_equal(LP_LINUX_MSG_DONTROUTE, MSG_DONTROUTE);
	assert_int_equal(LP_LINUX_MSG_CTRUNC, MSG_CTRUNC);
	assert_int_equal(LP_LINUX_MSG_TRUNC, MSG_TRUNC);
	assert_int_equal(LP_LINUX_MSG_DONTWAIT, MSG_DONTWAIT);
	assert_int_equal(LP_LINUX_MSG_EOR, MSG_EOR);
	assert_int_equal(LP_LINUX_MSG_WAITALL, MSG_WAITALL);
	assert_int_equal(LP_LINUX_MSG_CONFIRM, MSG_CONFIRM);
	assert_int_equal(LP_LINUX_MSG_ERRQUEUE, MSG_ERRQUEUE);
	assert_int_equal(LP_LINUX_MSG_NOSIGNAL, MSG_NOSIGNAL);
	assert_int_equal(LP_LINUX_MSG_MORE, MSG_MORE);
	assert_int_equal(LP_LINUX_MSG_CMSG_CLOEXEC, MSG_CMSG_CLOEXEC);

	assert_int_equal(LP_LINUX_SHUT_RD, SHUT_RD);
	assert_int_equal(LP_LINUX_SHUT_WR, SHUT_WR);
	assert_int_equal(LP_LINUX_SHUT_RDWR, SHUT_RDWR);

	assert_int_equal(LP_LINUX_POLLIN, POLLIN);
	assert_int_equal(LP_LINUX_POLLPRI, POLLPRI);
	assert_int_equal(LP_LINUX_POLLOUT, POLLOUT);
	assert_int_equal(LP_LINUX_POLLERR, POLLERR);
	assert_int_equal(LP_LINUX_POLLHUP, POLLHUP);
	assert_int_equal(LP_LINUX_POLLNVAL, POLLNVAL);
	assert_int_equal(LP_LINUX_POLLRDNORM, POLLRDNORM);
	assert_int_equal(LP_LINUX_POLLRDBAND, POLLRDBAND);
	assert_int_equal(LP_LINUX_POLLWRNORM, POLLWRNORM);
	assert_int_equal(LP_LINUX_POLLWRBAND, POLLWRBAND);
	assert_int_equal(LP_LINUX_POLLRDHUP, POLLRDHUP);

	assert_int_equal(LP_LINUX_EAGAIN, EAGAIN);
	assert_int_equal(LP_LINUX_EFAULT, EFAULT);
	assert_int_equal(LP_LINUX_EINVAL, EINVAL);
	assert_int_equal(LP_LINUX_EDOM, EDOM);
	assert_int_equal(LP_LINUX_ENOPROTOOPT, ENOPROTOOPT);
	assert_int_equal(LP_LINUX_EPROTONOSUPPORT, EPROTONOSUPPORT);
	assert_int_equal(LP_LINUX_EOPNOTSUPP, EOPNOTSUPP);
	assert_int_equal(LP_LINUX_EAFNOSUPPORT, EAFNOSUPPORT);
	assert_int_equal(LP_LINUX_ECONNRESET, ECONNRESET);
	assert_int_equal(LP_LINUX_ECONNREFUSED, ECONNREFUSED);
}

static struct sockaddr_in linux_addr(const char *ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static void test_addr_from_linux(void **state)
{
	(void)state;
	struct sockaddr_in a = linux_addr("198.18.0.2", 8080);
	unsigned char out[LP_LWIP_SOCKADDR_LEN];
	uint32_t outlen = 0;

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a), 0, out, &outlen), 0);
	assert_int_equal(outlen, 16);
	assert_int_equal(out[0], 16);                 /* sin_len */
	assert_int_equal(out[1], 2);                  /* 8-bit family AF_INET */
	assert_int_equal(out[2], 8080 >> 8);          /* port, network order */
	assert_int_equal(out[3], 8080 & 0xff);
	assert_memory_equal(out + 4, "\xc6\x12\x00\x02", 4);
	for (int i = 8; i < 16; i++)
		assert_int_equal(out[i], 0);

	/* A bigger buffer (sockaddr_storage) is fine; a short one is not. */
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &a, sizeof(a));
	assert_int_equal(lp_abi_addr_from_linux(&ss, sizeof(ss), 0, out, &outlen), 0);
	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a) - 1, 0, out, &outlen), -EINVAL);
	assert_int_equal(lp_abi_addr_from_linux(&a, 1, 0, out, &outlen), -EINVAL);
	assert_int_equal(lp_abi_addr_from_linux(&a, 0, 0, out, &outlen), -EINVAL);
	assert_int_equal(lp_abi_addr_from_linux(NULL, 16, 0, out, &outlen), -EFAULT);

	/* Other families. */
	a.sin_family = AF_INET6;
	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a), 0, out, &outlen), -EAFNOSUPPORT);
	a.sin_family = AF_UNIX;
	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a), 1, out, &outlen), -EAFNOSUPPORT);
	a.sin_family = AF_UNSPEC;
	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a), 0, out, &outlen), -EAFNOSUPPORT);
	assert_int_equal(lp_abi_addr_from_linux(&a, 2, 1, out, &outlen), 0);
	assert_int_equal(out[1], 0);
	assert_int_equal(outlen, 16);
}

static void test_addr_to_linux(void **state)
{
	(void)state;
	struct sockaddr_in a = linux_addr("198.19.255.254", 65535), back;
	unsigned char lw[LP_LWIP_SOCKADDR_LEN];
	uint32_t lwlen, len;

	assert_int_equal(lp_abi_addr_from_linux(&a, sizeof(a), 0, lw, &lwlen), 0);

	memset(&back, 0xaa, sizeof(back));
	len = sizeof(back);
	lp_abi_addr_to_linux(lw, lwlen, &back, &len);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_memory_equal(&back, &a, sizeof(a));

	/* Bigger buffer: 16 bytes written, length 16. */
	struct sockaddr_storage ss;
	memset(&ss, 0xaa, sizeof(ss));
	len = sizeof(ss);
	lp_abi_addr_to_linux(lw, lwlen, &ss, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(&ss, &a, sizeof(a));
	assert_int_equal(((unsigned char *)&ss)[16], 0xaa);

	/* Truncation: only len bytes written, full size reported. */
	unsigned char small[6];
	memset(small, 0xaa, sizeof(small));
	len = 4;
	lp_abi_addr_to_linux(lw, lwlen, small, &len);
	assert_int_equal(len, 16);
	assert_memory_equal(small, &a, 4);
	assert_int_equal(small[4], 0xaa);
	len = 0;
	lp_abi_addr_to_linux(lw, lwlen, NULL, &len);
	assert_int_equal(len, 16);

	/* Nothing known: 0.0.0.0:0 AF_INET. */
	len = sizeof(back);
	lp_abi_addr_to_linux(lw, 0, &back, &len);
	assert_int_equal(len, 16);
	assert_int_equal(back.sin_family, AF_INET);
	assert_int_equal(back.sin_port, 0);
	assert_int_equal(back.sin_addr.s_addr, 0);
}

static void test_send_flags(void **state)
{
	(void)state;
	int f = -1;
	assert_int_equal(lp_abi_send_flags(0, &f), 0);
	assert_int_equal(f, 0);
	assert_int_equal(lp_abi_send_flags(MSG_DONTWAIT, &f), 0);
	assert_int_equal(f, LWIP_MSG_DONTWAIT);
	assert_int_equal(lp_abi_send_flags(MSG_MORE, &f), 0);
	assert_int_equal(f, LWIP_MSG_MORE);
	assert_int_equal(lp_abi_send_flags(MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE | MSG_EOR | MSG_CONFIRM |
	                                   MSG_DONTROUTE, &f), 0);
	assert_int_equal(f, LWIP_MSG_DONTWAIT | LWIP_MSG_MORE);
	assert_int_equal(lp_abi_send_flags(MSG_NOSIGNAL, &f), 0);
	assert_int_equal(f, 0);
	assert_int_equal(lp_abi_send_flags(MSG_OOB, &f), -EOPNOTSUPP);
	/* Every single Linux bit either maps or is refused; none leaks through raw. */
	for (int bit = 0; bit < 31; bit++) {
		int lin = 1 << bit;
		f = 0;
		int r = lp_abi_send_flags(lin, &f);
		if (r == 0)
			assert_int_equal(f & ~(LWIP_MSG_DONTWAIT | LWIP_MSG_MORE), 0);
		else
			assert_int_equal(r, -EOPNOTSUPP);
	}
}

static void test_recv_flags(void **state)
{
	(void)state;
	int f = -1;
	assert_int_equal(lp_abi_recv_flags(0, &f), 0);
	assert_int_equal(f, 0);
	assert_int_equal(lp_abi_recv_flags(MSG_PEEK, &f), 0);
	assert_int_equal(f, LWIP_MSG_PEEK);
	assert_int_equal(lp_abi_recv_flags(MSG_DONTWAIT, &f), 0);
	assert_int_equal(f, LWIP_MSG_DONTWAIT);
	assert_int_equal(lp_abi_recv_flags(MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC |
	                                   MSG_CMSG_CLOEXEC | MSG_NOSIGNAL, &f), 0);
	assert_int_equal(f, LWIP_MSG_PEEK | LWIP_MSG_DONTWAIT);   /* WAITALL/TRUNC: done by sockets.c */
	assert_int_equal(lp_abi_recv_flags(MSG_OOB, &f), -EOPNOTSUPP);
	assert_int_equal(lp_abi_recv_flags(MSG_ERRQUEUE, &f), -EAGAIN);
	for (int bit = 0; bit < 31; bit++) {
		f = 0;
		if (lp_abi_recv_flags(1 << bit, &f) == 0)
			assert_int_equal(f & ~(LWIP_MSG_PEEK | LWIP_MSG_DONTWAIT), 0);
	}

	assert_int_equal(lp_abi_msg_flags_to_linux(0), 0);
	assert_int_equal(lp_abi_msg_flags_to_linux(LWIP_MSG_TRUNC), MSG_TRUNC);
	assert_int_equal(lp_abi_msg_flags_to_linux(LWIP_MSG_CTRUNC), MSG_CTRUNC);
	assert_int_equal(lp_abi_msg_flags_to_linux(LWIP_MSG_TRUNC | LWIP_MSG_CTRUNC), MSG_TRUNC | MSG_CTRUNC);
}

static void test_shutdown(void **state)
{
	(void)state;
	assert_int_equal(lp_abi_shutdown_how(SHUT_RD), 0);
	assert_int_equal(lp_abi_shutdown_how(SHUT_WR), 1);
	assert_int_equal(lp_abi_shutdown_how(SHUT_RDWR), 2);
	assert_int_equal(lp_abi_shutdown_how(3), -EINVAL);
	assert_int_equal(lp_abi_shutdown_how(-1), -EINVAL);
}

static void test_poll_bits(void **state)
{
	(void)state;
	/* lwIP takes the C library's poll bits (arch/cc.h), so the mapping is the identity. */
	const int bits[] = { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL };
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		assert_int_equal(lp_abi_poll_events_to_lwip(bits[i]), bits[i]);
		assert_int_equal(lp_abi_poll_revents_to_linux(bits[i]), bits[i]);
	}
	assert_int_equal(lp_abi_poll_events_to_lwip(POLLRDNORM), POLLIN);
	assert_int_equal(lp_abi_poll_events_to_lwip(POLLWRNORM), POLLOUT);
	assert_int_equal(lp_abi_poll_events_to_lwip(POLLIN | POLLOUT | POLLPRI | POLLRDHUP), POLLIN | POLLOUT);
	assert_int_equal(lp_abi_poll_revents_to_linux(POLLIN | POLLOUT | POLLERR), POLLIN | POLLOUT | POLLERR);
	assert_int_equal(lp_abi_poll_events_to_lwip(0), 0);
}

static void expect_opt(int level, int name, int kind, int lwip_level, int lwip_name, int readonly)
{
	struct lp_abi_opt o;
	memset(&o, 0x55, sizeof(o));
	assert_int_equal(lp_abi_sockopt(level, name, &o), 0);
	assert_int_equal(o.kind, kind);
	if (kind <= LP_OPT_LINGER) {
		assert_int_equal(o.level, lwip_level);
		assert_int_equal(o.name, lwip_name);
	}
	assert_int_equal(o.readonly, readonly);
}

static void test_sockopt_table(void **state)
{
	(void)state;
	expect_opt(SOL_SOCKET, SO_REUSEADDR, LP_OPT_BOOL, LWIP_SOL_SOCKET, LWIP_SO_REUSEADDR, 0);
	expect_opt(SOL_SOCKET, SO_KEEPALIVE, LP_OPT_BOOL, LWIP_SOL_SOCKET, LWIP_SO_KEEPALIVE, 0);
	expect_opt(SOL_SOCKET, SO_BROADCAST, LP_OPT_BOOL, LWIP_SOL_SOCKET, LWIP_SO_BROADCAST, 0);
	expect_opt(SOL_SOCKET, SO_NO_CHECK, LP_OPT_BOOL, LWIP_SOL_SOCKET, LWIP_SO_NO_CHECK, 0);
	expect_opt(SOL_SOCKET, SO_TYPE, LP_OPT_INT, LWIP_SOL_SOCKET, LWIP_SO_TYPE, 1);
	expect_opt(SOL_SOCKET, SO_ERROR, LP_OPT_INT, LWIP_SOL_SOCKET, LWIP_SO_ERROR, 1);
	expect_opt(SOL_SOCKET, SO_ACCEPTCONN, LP_OPT_BOOL, LWIP_SOL_SOCKET, LWIP_SO_ACCEPTCONN, 1);
	expect_opt(SOL_SOCKET, SO_LINGER, LP_OPT_LINGER, LWIP_SOL_SOCKET, LWIP_SO_LINGER, 0);
	expect_opt(SOL_SOCKET, SO_RCVTIMEO, LP_OPT_TIMEVAL, LWIP_SOL_SOCKET, LWIP_SO_RCVTIMEO, 0);
	expect_opt(SOL_SOCKET, SO_SNDTIMEO, LP_OPT_TIMEVAL, LWIP_SOL_SOCKET, LWIP_SO_SNDTIMEO, 0);
	expect_opt(SOL_SOCKET, LP_LINUX_SO_RCVTIMEO_NEW, LP_OPT_TIMEVAL, LWIP_SOL_SOCKET, LWIP_SO_RCVTIMEO, 0);
	expect_opt(SOL_SOCKET, LP_LINUX_SO_SNDTIMEO_NEW, LP_OPT_TIMEVAL, LWIP_SOL_SOCKET, LWIP_SO_SNDTIMEO, 0);
	expect_opt(SOL_SOCKET, SO_SNDBUF, LP_OPT_SNDBUF, 0, 0, 0);
	expect_opt(SOL_SOCKET, SO_RCVBUF, LP_OPT_RCVBUF, 0, 0, 0);
	expect_opt(SOL_SOCKET, SO_REUSEPORT, LP_OPT_IGNORED, 0, 0, 0);
	expect_opt(SOL_SOCKET, SO_PROTOCOL, LP_OPT_PROTOCOL, 0, 0, 1);
	expect_opt(SOL_SOCKET, SO_DOMAIN, LP_OPT_DOMAIN, 0, 0, 1);
	expect_opt(IPPROTO_TCP, TCP_NODELAY, LP_OPT_BOOL, IPPROTO_TCP, LWIP_TCP_NODELAY, 0);
	expect_opt(IPPROTO_TCP, TCP_KEEPIDLE, LP_OPT_INT, IPPROTO_TCP, LWIP_TCP_KEEPIDLE, 0);
	expect_opt(IPPROTO_TCP, TCP_KEEPINTVL, LP_OPT_INT, IPPROTO_TCP, LWIP_TCP_KEEPINTVL, 0);
	expect_opt(IPPROTO_TCP, TCP_KEEPCNT, LP_OPT_INT, IPPROTO_TCP, LWIP_TCP_KEEPCNT, 0);
	expect_opt(IPPROTO_TCP, TCP_MAXSEG, LP_OPT_MAXSEG, 0, 0, 0);
	expect_opt(IPPROTO_IP, IP_TOS, LP_OPT_INT, IPPROTO_IP, 1, 0);
	expect_opt(IPPROTO_IP, IP_TTL, LP_OPT_INT, IPPROTO_IP, 2, 0);

	struct lp_abi_opt o;
	assert_int_equal(lp_abi_sockopt(SOL_SOCKET, SO_PASSCRED, &o), -ENOPROTOOPT);
	assert_int_equal(lp_abi_sockopt(SOL_SOCKET, SO_BINDTODEVICE, &o), -ENOPROTOOPT);
	assert_int_equal(lp_abi_sockopt(IPPROTO_IPV6, 26 /* IPV6_V6ONLY */, &o), -ENOPROTOOPT);
	assert_int_equal(lp_abi_sockopt(IPPROTO_IP, IP_ADD_MEMBERSHIP, &o), -ENOPROTOOPT);
	assert_int_equal(lp_abi_sockopt(IPPROTO_TCP, TCP_INFO, &o), -ENOPROTOOPT);
	assert_int_equal(lp_abi_sockopt(0xfff, LWIP_SO_REUSEADDR, &o), -ENOPROTOOPT);   /* lwIP's level is not Linux's */

	/* Exhaustive: every known option is well-formed, and only Linux levels are accepted. */
	const int levels[] = { IPPROTO_IP, SOL_SOCKET, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, 0xfff, 255, -1 };
	int known = 0;
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		for (int name = -2; name < 128; name++) {
			int r = lp_abi_sockopt(levels[l], name, &o);
			if (r != 0) {
				assert_int_equal(r, -ENOPROTOOPT);
				continue;
			}
			known++;
			assert_true(levels[l] == IPPROTO_IP || levels[l] == SOL_SOCKET || levels[l] == IPPROTO_TCP);
			assert_true(o.kind >= LP_OPT_INT && o.kind <= LP_OPT_DOMAIN);
			if (o.kind <= LP_OPT_LINGER)
				assert_true(o.level == LWIP_SOL_SOCKET || o.level == IPPROTO_TCP || o.level == IPPROTO_IP);
			assert_true(o.readonly == 0 || o.readonly == 1);
		}
	}
	assert_true(known >= 40);
}

static void test_sockopt_values(void **state)
{
	(void)state;
	assert_true(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPIDLE, 1));
	assert_true(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPIDLE, 32767));
	assert_false(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPIDLE, 0));
	assert_false(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPINTVL, 32768));
	assert_true(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPCNT, 127));
	assert_false(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_KEEPCNT, 128));
	assert_true(lp_abi_sockopt_value_ok(IPPROTO_IP, IP_TTL, -1));
	assert_false(lp_abi_sockopt_value_ok(IPPROTO_IP, IP_TTL, 0));
	assert_false(lp_abi_sockopt_value_ok(IPPROTO_IP, IP_TTL, 256));
	assert_true(lp_abi_sockopt_value_ok(IPPROTO_TCP, TCP_NODELAY, 5));

	int v = 0x11223344, got = 0;
	unsigned char buf[8];
	uint32_t len = sizeof(buf);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(lp_abi_put_int(v, buf, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, &v, 4);
	assert_int_equal(buf[4], 0xaa);
	len = 2;
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(lp_abi_put_int(v, buf, &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(buf[2], 0xaa);

	assert_int_equal(lp_abi_get_int(SOL_SOCKET, &v, 4, &got), 0);
	assert_int_equal(got, v);
	assert_int_equal(lp_abi_get_int(SOL_SOCKET, &v, 8, &got), 0);
	assert_int_equal(lp_abi_get_int(SOL_SOCKET, &v, 3, &got), -EINVAL);
	assert_int_equal(lp_abi_get_int(IPPROTO_TCP, &v, 1, &got), -EINVAL);
	unsigned char tos = 0x10;
	assert_int_equal(lp_abi_get_int(IPPROTO_IP, &tos, 1, &got), 0);
	assert_int_equal(got, 0x10);
	assert_int_equal(lp_abi_get_int(SOL_SOCKET, NULL, 4, &got), -EFAULT);
}

static void test_timeouts(void **state)
{
	(void)state;
	struct timeval in, out;
	uint32_t len;

	in = (struct timeval){ 1, 500000 };
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_int_equal(out.tv_sec, 1);
	assert_int_equal(out.tv_usec, 500000);

	in = (struct timeval){ 0, 1 };   /* rounds up to 1 ms, never to "forever" */
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_int_equal(out.tv_sec, 0);
	assert_int_equal(out.tv_usec, 1000);

	in = (struct timeval){ 2, 999999 };
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_int_equal(out.tv_sec, 3);
	assert_int_equal(out.tv_usec, 0);

	in = (struct timeval){ 0, 0 };
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_int_equal(out.tv_sec, 0);
	assert_int_equal(out.tv_usec, 0);

	in = (struct timeval){ -5, 0 };   /* negative: no timeout, like Linux */
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_int_equal(out.tv_sec, 0);
	assert_int_equal(out.tv_usec, 0);

	in = (struct timeval){ 0x7fffffffffffLL, 0 };   /* clamped so lwIP's int of ms cannot overflow */
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), 0);
	assert_true(out.tv_sec > 0 && out.tv_sec * 1000 + out.tv_usec / 1000 < 0x7fffffff);

	in = (struct timeval){ 0, 1000000 };
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), -EDOM);
	in = (struct timeval){ 0, -1 };
	assert_int_equal(lp_abi_timeout_from_linux(&in, sizeof(in), &out), -EDOM);
	assert_int_equal(lp_abi_timeout_from_linux(&in, 8, &out), -EINVAL);
	assert_int_equal(lp_abi_timeout_from_linux(NULL, 16, &out), -EFAULT);

	struct timeval tv = { 7, 250000 }, back;
	memset(&back, 0, sizeof(back));
	len = sizeof(back);
	lp_abi_timeout_to_linux(&tv, &back, &len);
	assert_int_equal(len, 16);
	assert_int_equal(back.tv_sec, 7);
	assert_int_equal(back.tv_usec, 250000);
	len = 8;
	memset(&back, 0, sizeof(back));
	lp_abi_timeout_to_linux(&tv, &back, &len);
	assert_int_equal(len, 8);
	assert_int_equal(back.tv_sec, 7);
	assert_int_equal(back.tv_usec, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linux_constants),
		cmocka_unit_test(test_addr_from_linux),
		cmocka_unit_test(test_addr_to_linux),
		cmocka_unit_test(test_send_flags),
		cmocka_unit_test(test_recv_flags),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_poll_bits),
		cmocka_unit_test(test_sockopt_table),
		cmocka_unit_test(test_sockopt_values),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
