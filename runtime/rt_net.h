/* rt_net.h: what a network stack plugs into the runtime: socket operations, start-up, the packet sink. */
#ifndef RT_NET_H
#define RT_NET_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/rt_fd.h"

/*
 * The runtime knows no network stack by name.  A stack (lwip-port) registers
 * one struct rt_net_ops before main (a constructor) and the runtime calls
 * through it: socket() creates a file whose operations table (rt_fd.h) has
 * a .sock table, and the BSD socket calls in runtime/socket.c go through
 * that.  A capsule linked without a stack has no sockets (socket() fails
 * with EAFNOSUPPORT) but still freezes and resumes: the packet channel is
 * the runtime's (channel.c), and packets are dropped when no sink is set.
 *
 * Arguments use Linux's values and layouts (struct sockaddr_in, SOL_SOCKET
 * = 1, MSG_*), and every function returns >= 0 or -errno.  A call may block
 * the calling green thread unless nonblock is set.  iov: Linux struct iovec.
 */
struct rt_sock_ops {
	long (*bind)(struct rt_file *f, const void *addr, uint32_t len);
	long (*listen)(struct rt_file *f, int backlog);
	/* A new connected socket file in *out (flags: its O_NONBLOCK). */
	long (*accept)(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags,
	               struct rt_file **out);
	long (*connect)(struct rt_file *f, const void *addr, uint32_t len, int nonblock);
	long (*sendmsg)(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
	                int flags, int nonblock);
	long (*recvmsg)(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
	                int flags, int nonblock, int *msg_flags_out);
	long (*shutdown)(struct rt_file *f, int how);
	long (*getsockopt)(struct rt_file *f, int level, int name, void *val, uint32_t *len);
	long (*setsockopt)(struct rt_file *f, int level, int name, const void *val, uint32_t len);
	long (*getsockname)(struct rt_file *f, void *addr, uint32_t *len);
	long (*getpeername)(struct rt_file *f, void *addr, uint32_t *len);
};

struct rt_net_ops {
	/* Called by __wrap_main before the app's main: bring the stack up (< 0: the capsule exits). */
	int (*start)(void);
	/* A new socket file in *out (type without SOCK_NONBLOCK/CLOEXEC; flags: O_NONBLOCK or 0). */
	long (*socket)(int domain, int type, int protocol, int flags, struct rt_file **out);
	/*
	 * Running again after a freeze (a snapshot resumed in a new process, a
	 * migration's target, or a thaw in the same process): tell peers we are
	 * back.  paused_ns: how long we were frozen by the host's wall clock,
	 * < 0 if unknown.  Never blocks.
	 */
	void (*after_resume)(int64_t paused_ns);
	/* The freeze report: a name for a wait on one of the stack's own queues ("tcpip thread"), or 0. */
	const char *(*wait_name)(const struct rt_waitq *q, const char *why);
};

/* Once, before main (from a constructor). */
void rt_net_register(const struct rt_net_ops *ops);
/* The registered stack, or 0. */
const struct rt_net_ops *rt_net(void);

/*
 * The packet channel (channel.c).  The runtime reads every record; each
 * CAP_MSG_PACKET's IPv4 packet goes to the sink (called from the idle wait,
 * must not block; it may keep nothing that points into pkt).  The sink
 * returns < 0 when the stack cannot take more now: the runtime then stops
 * draining until the next idle wait, so the stack catches up first.
 */
void rt_channel_set_sink(int (*sink)(const void *pkt, size_t len, unsigned flags));
/* Sink flags: the host vouched for the packet's checksums (made on the host, or checked there). */
#define RT_PKT_CSUM_OK 1u
/* One plain IPv4 packet out, gathered from iov (at most RT_CHANNEL_MAX_IOV pieces). */
#define RT_CHANNEL_MAX_IOV 32
long rt_channel_send_packet(const struct rt_iovec *iov, int iovcnt);
/*
 * Where this process's packets go now (announcing the TUN to the host at
 * first use): 0 the channel, RT_TUN_BARE its TUN, RT_TUN_VNET its TUN with
 * offloads (capsule-abi/cap_abi.h, struct cap_vnet_hdr).
 */
#define RT_TUN_BARE 1
#define RT_TUN_VNET 2
int rt_tun_active(void);
/*
 * One packet out on a RT_TUN_VNET device: iov[0] is its struct cap_vnet_hdr
 * (offloads asked of the kernel), the rest the packet, in as many pieces as
 * writev takes.  -EPROTO when the path is no longer RT_TUN_VNET (the device
 * failed since the caller asked): the packet is lost, as on a lossy link.
 */
long rt_tun_send_vnet(const struct rt_iovec *iov, int iovcnt);

/*
 * sockrelay.c: TCP sockets pid 1 shared with other processes at a fork
 * (docs/PROCESSES.md, section 4).  rt_relay_lost: the process in slot ended
 * holding shared listeners (run by pid 1 on CAP_MSG_LOST).  The stack's own
 * sockets behind the shared ones, for pid 1's freeze report.
 */
void rt_relay_lost(unsigned slot);
/* pid 1 ending: hand the stack every datagram still waiting in a shared UDP socket's ring (udprelay.c). */
void rt_udp_flush(void);
void rt_relay_each_stack_socket(void (*fn)(struct rt_file *sock, void *arg), void *arg);

#endif
