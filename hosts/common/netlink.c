/* netlink.c: TUN creation and the few rtnetlink requests caprun needs (link up, address, routes). */
#include "hosts/common/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
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

struct mnl_socket *netlink_open(void)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(nl);
		return NULL;
	}
	return nl;
}

void netlink_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}

/* Send one request and wait for its ACK.  0, or -1 with errno (the kernel's answer). */
static int nl_transact(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	static unsigned last_seq;
	unsigned seq = nlh->nlmsg_seq = (unsigned)time(NULL) + ++last_seq;
	unsigned portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
		if (n < 0)
			return -1;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r == MNL_CB_ERROR)
			return -1;   /* libmnl set errno from the kernel's error */
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* An RTM_NEWLINK request changing device ifindex, in buf; its ifinfomsg in *ifm. */
static struct nlmsghdr *link_change(char *buf, unsigned ifindex, struct ifinfomsg **ifm)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	*ifm = mnl_nlmsg_put_extra_header(nlh, sizeof **ifm);
	(*ifm)->ifi_family = AF_UNSPEC;
	(*ifm)->ifi_index = (int)ifindex;
	return nlh;
}

int netlink_link_up(struct mnl_socket *nl, unsigned ifindex, unsigned mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh = link_change(buf, ifindex, &ifm);
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_transact(nl, nlh);
}

int netlink_link_txqlen(struct mnl_socket *nl, unsigned ifindex, unsigned qlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh = link_change(buf, ifindex, &ifm);
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, qlen);
	return nl_transact(nl, nlh);
}

int netlink_addr_add(struct mnl_socket *nl, unsigned ifindex, uint32_t addr, int prefix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
	return nl_transact(nl, nlh);
}

static int route_msg(struct mnl_socket *nl, int type, unsigned flags, enum host_route_kind kind,
                     uint32_t dst, int prefix, unsigned ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = (unsigned char)prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = HOST_RTPROT_CAPSULE;
	if (kind == HOST_ROUTE_UNREACHABLE) {
		rtm->rtm_type = RTN_UNREACHABLE;
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	} else {
		rtm->rtm_type = RTN_UNICAST;
		rtm->rtm_scope = RT_SCOPE_LINK;
		mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	}
	mnl_attr_put_u32(nlh, RTA_DST, dst);
	return nl_transact(nl, nlh);
}

int netlink_route_add(struct mnl_socket *nl, enum host_route_kind kind, uint32_t dst, int prefix,
                      unsigned ifindex)
{
	return route_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, kind, dst, prefix, ifindex);
}

int netlink_route_del(struct mnl_socket *nl, enum host_route_kind kind, uint32_t dst, int prefix,
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
