/* netlink.h: the host side of a capsule's link: a TUN device, its address and routes (rtnetlink). */
#ifndef HOST_NETLINK_H
#define HOST_NETLINK_H

#include <stddef.h>
#include <stdint.h>

struct nlm_sock;

/* Create TUN device ifname (IFF_TUN|IFF_NO_PI, and IFF_VNET_HDR when vnet: hosts/common/tunvnet.h),
 * non-blocking, close-on-exec: its fd, or -1 with errno. */
int netlink_tun_open(const char *ifname, int vnet, unsigned *ifindex);

/* An rtnetlink socket (hosts/common/nlmsg.h), or NULL with errno; netlink_close(NULL) does nothing. */
struct nlm_sock *netlink_open(void);
void netlink_close(struct nlm_sock *nl);

/* Set the link's MTU and bring it up.  0, or -1 with errno. */
int netlink_link_up(struct nlm_sock *nl, unsigned ifindex, unsigned mtu);
/*
 * Before the link is up: give it no IPv6 address (the kernel then sends
 * nothing of its own on it) and, unless qlen is 0, a transmit queue of qlen
 * packets.  0, or -1 with errno.
 */
int netlink_link_prepare(struct nlm_sock *nl, unsigned ifindex, unsigned qlen);
/* Add addr/prefix (network order) to the link.  0, or -1 with errno. */
int netlink_addr_add(struct nlm_sock *nl, unsigned ifindex, uint32_t addr, int prefix);

/*
 * Our routes carry their own protocol number, so caprun can tell them from
 * an administrator's (`ip route` shows "proto 202"), and a delete matches
 * only ours.
 */
#define HOST_RTPROT_CAPSULE 202

enum host_route_kind { HOST_ROUTE_DEV, HOST_ROUTE_UNREACHABLE };
/*
 * Add (with NLM_F_EXCL: errno EEXIST if present) or delete a route in the
 * main table: dst/prefix (network order) via ifindex, or unreachable.
 * 0, or -1 with errno.
 */
int netlink_route_add(struct nlm_sock *nl, enum host_route_kind kind, uint32_t dst, int prefix,
                      unsigned ifindex);
int netlink_route_del(struct nlm_sock *nl, enum host_route_kind kind, uint32_t dst, int prefix,
                      unsigned ifindex);

/* 1 if a network interface whose name starts with prefix exists (other than except, if given). */
int netlink_link_exists_with_prefix(const char *prefix, const char *except);

#endif
