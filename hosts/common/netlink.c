/* netlink.c: TUN creation and the few rtnetlink requests caprun needs (link up, address, routes). */
#include "hosts/common/netlink.h"
#include "hosts/common/nlmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int netlink_tun_open(const char *ifname, int vnet, unsigned *ifindex)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || (*ifindex = if_nametoindex(ifname)) == 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct nlm_sock *netlink_open(void)
{
	return nlm_open(NETLINK_ROUTE, 0);
}

void netlink_close(struct nlm_sock *nl)
{
	nlm_close(nl);
}

/* Room for our largest request (a route: 16 + 12 + 2 * 8 bytes) with plenty to spare. */
#define REQUEST_BYTES 256

/* One rtnetlink request being built, and the sequence number its answer will carry. */
struct request {
	struct nlm_builder b;
	uint32_t seq;
	_Alignas(struct nlmsghdr) unsigned char buf[REQUEST_BYTES];
};

/* Start a request of type; NLM_F_ACK is added to flags, so the kernel always answers. */
static void request_start(struct request *r, uint16_t type, uint16_t flags)
{
	static unsigned last_seq;
	r->seq = (uint32_t)time(NULL) + ++last_seq;
	nlm_start(&r->b, r->buf, sizeof r->buf);
	nlm_msg(&r->b, type, (uint16_t)(NLM_F_ACK | flags), r->seq);
}

/* Send the request and wait for its ACK.  0, or -1 with errno (the kernel's answer). */
static int request_send(struct nlm_sock *nl, struct request *r)
{
	if (nlm_send(nl, &r->b) < 0)
		return -1;
	return nlm_await(nl, r->seq, NULL, NULL);
}

/* An RTM_NEWLINK request changing device ifindex; up also brings it up. */
static void link_change(struct request *r, unsigned ifindex, int up)
{
	struct ifinfomsg ifm = { .ifi_family = AF_UNSPEC, .ifi_index = (int)ifindex };
	if (up)
		ifm.ifi_flags = ifm.ifi_change = IFF_UP;
	request_start(r, RTM_NEWLINK, 0);
	nlm_put_family(&r->b, &ifm, sizeof ifm);
}

int netlink_link_up(struct nlm_sock *nl, unsigned ifindex, unsigned mtu)
{
	struct request r;
	link_change(&r, ifindex, 1);
	nlm_put_u32(&r.b, IFLA_MTU, mtu);
	return request_send(nl, &r);
}

/*
 * IFLA_INET6_ADDR_GEN_MODE none: the device gets no IPv6 link-local address, so
 * bringing it up starts no duplicate address detection and no router
 * solicitation, and the kernel queues none of its own IPv6 packets to the
 * capsule (which speaks IPv4 only).  It must be set before the link is up:
 * the kernel makes the address as the link comes up, before it reads
 * IFLA_AF_SPEC.
 */
static void put_no_ipv6_address(struct nlm_builder *b)
{
	uint8_t none = IN6_ADDR_GEN_MODE_NONE;
	struct nlattr *spec = nlm_nest_start(b, IFLA_AF_SPEC);
	struct nlattr *inet6 = nlm_nest_start(b, AF_INET6);
	nlm_put(b, IFLA_INET6_ADDR_GEN_MODE, &none, sizeof none);
	nlm_nest_end(b, inet6);
	nlm_nest_end(b, spec);
}

int netlink_link_prepare(struct nlm_sock *nl, unsigned ifindex, unsigned qlen)
{
	struct request r;
	link_change(&r, ifindex, 0);
	if (qlen)
		nlm_put_u32(&r.b, IFLA_TXQLEN, qlen);
	put_no_ipv6_address(&r.b);
	if (request_send(nl, &r) == 0)
		return 0;
	if (errno != EAFNOSUPPORT)
		return -1;
	/* A kernel without IPv6 (ipv6.disable=1): nothing to turn off; the queue alone. */
	if (!qlen)
		return 0;
	link_change(&r, ifindex, 0);
	nlm_put_u32(&r.b, IFLA_TXQLEN, qlen);
	return request_send(nl, &r);
}

int netlink_addr_add(struct nlm_sock *nl, unsigned ifindex, uint32_t addr, int prefix)
{
	struct request r;
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix,
	                         .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = ifindex };
	request_start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	nlm_put_family(&r.b, &ifa, sizeof ifa);
	nlm_put_u32(&r.b, IFA_LOCAL, addr);
	nlm_put_u32(&r.b, IFA_ADDRESS, addr);
	return request_send(nl, &r);
}

static int route_msg(struct nlm_sock *nl, uint16_t type, uint16_t flags, enum host_route_kind kind,
                     uint32_t dst, int prefix, unsigned ifindex)
{
	struct request r;
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = (unsigned char)prefix,
	                     .rtm_table = RT_TABLE_MAIN, .rtm_protocol = HOST_RTPROT_CAPSULE };
	int dev = kind != HOST_ROUTE_UNREACHABLE;
	rtm.rtm_type = dev ? RTN_UNICAST : RTN_UNREACHABLE;
	rtm.rtm_scope = dev ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	request_start(&r, type, flags);
	nlm_put_family(&r.b, &rtm, sizeof rtm);
	if (dev)
		nlm_put_u32(&r.b, RTA_OIF, ifindex);
	nlm_put_u32(&r.b, RTA_DST, dst);
	return request_send(nl, &r);
}

int netlink_route_add(struct nlm_sock *nl, enum host_route_kind kind, uint32_t dst, int prefix,
                      unsigned ifindex)
{
	return route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, kind, dst, prefix, ifindex);
}

int netlink_route_del(struct nlm_sock *nl, enum host_route_kind kind, uint32_t dst, int prefix,
                      unsigned ifindex)
{
	return route_msg(nl, RTM_DELROUTE, 0, kind, dst, prefix, ifindex);
}

int netlink_link_exists_with_prefix(const char *prefix, const char *except)
{
	struct if_nameindex *list = if_nameindex();
	int found = 0;
	if (!list)
		return 0;
	for (struct if_nameindex *p = list; p->if_index; p++)
		if (strncmp(p->if_name, prefix, strlen(prefix)) == 0 &&
		    !(except && strcmp(p->if_name, except) == 0))
			found = 1;
	if_freenameindex(list);
	return found;
}
