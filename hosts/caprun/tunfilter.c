/* tunfilter.c: the kernel's source filter on a standalone capsule's TUN device (nftables, netdev ingress, counted) and the device's counters: what lets the capsule move its own packets. */
#include "hosts/caprun/tunfilter.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/*
 * Why a filter in the kernel: once the capsule writes its TUN device itself,
 * caprun no longer sees its packets, so it cannot check their sources; the
 * kernel must.  Reverse-path filtering would do it without a table, but the
 * kernel applies max(conf/all/rp_filter, conf/DEV/rp_filter), and a host
 * with all = 2 (loose, a common systemd default) would let a capsule forge
 * the address of any other capsule routed on that host; and it counts its
 * drops per namespace, not per device.  A netdev ingress chain on the device
 * sees every packet the capsule writes before IP does, whatever the
 * sysctls, and its named counters are this capsule's alone (capctl stats).
 *
 *   table netdev cap-NAME {
 *     counter malformed; counter spoofed
 *     chain ingress { type filter hook ingress device cap-NAME priority 0; policy accept;
 *       meta protocol != ip counter name malformed drop
 *       ip saddr != CAPSULE-IP counter name spoofed drop } }
 *
 * Written as raw nfnetlink messages with libmnl (which caprun links for
 * rtnetlink already): libnftables would pull a parser and five libraries
 * into every caprun's start.
 */

#define CHAIN "ingress"
#define REPLY_TIMEOUT_S 2
#define BATCH_BYTES 8192

struct tunfilter {
	struct mnl_socket *nft;   /* NETLINK_NETFILTER: the table, its counters */
	struct mnl_socket *rt;    /* NETLINK_ROUTE: the device's own counters */
	unsigned ifindex;
	char table[IFNAMSIZ];     /* the device's name */
	uint32_t seq;
	struct tunfilter_counts base;   /* at the start: what the device counted before */
};

static struct mnl_socket *open_netlink(int bus)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	if (!nl)
		return NULL;
	struct timeval tv = { REPLY_TIMEOUT_S, 0 };
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
		int e = errno;
		mnl_socket_close(nl);
		errno = e;
		return NULL;
	}
	return nl;
}

/* An nf_tables message header (netdev family) at the batch's current end. */
static struct nlmsghdr *nft_msg(void *at, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	nlh->nlmsg_type = (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type);
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);
	g->nfgen_family = NFPROTO_NETDEV;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

/* BATCH_BEGIN or BATCH_END: a transaction's brackets. */
static void batch_mark(struct mnl_nlmsg_batch *b, uint16_t type, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b));
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(NFNL_SUBSYS_NFTABLES);
	mnl_nlmsg_batch_next(b);
}

static void table_msg(struct tunfilter *f, struct mnl_nlmsg_batch *b, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = nft_msg(mnl_nlmsg_batch_current(b), type, flags, ++f->seq);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, f->table);
	mnl_nlmsg_batch_next(b);
}

static void chain_msg(struct tunfilter *f, struct mnl_nlmsg_batch *b)
{
	struct nlmsghdr *nlh = nft_msg(mnl_nlmsg_batch_current(b), NFT_MSG_NEWCHAIN, NLM_F_CREATE, ++f->seq);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, f->table);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, CHAIN);
	struct nlattr *hook = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
	mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM, htonl(NF_NETDEV_INGRESS));
	mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl(0));
	mnl_attr_put_strz(nlh, NFTA_HOOK_DEV, f->table);
	mnl_attr_nest_end(nlh, hook);
	mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TYPE, "filter");
	mnl_nlmsg_batch_next(b);
}

static void counter_msg(struct tunfilter *f, struct mnl_nlmsg_batch *b, const char *name)
{
	struct nlmsghdr *nlh = nft_msg(mnl_nlmsg_batch_current(b), NFT_MSG_NEWOBJ, NLM_F_CREATE, ++f->seq);
	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, f->table);
	mnl_attr_put_strz(nlh, NFTA_OBJ_NAME, name);
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	struct nlattr *data = mnl_attr_nest_start(nlh, NFTA_OBJ_DATA);
	mnl_attr_put_u64(nlh, NFTA_COUNTER_BYTES, 0);
	mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_nlmsg_batch_next(b);
}

/* One expression of a rule: its list element and data nests, left open for its attributes. */
static struct nlattr *expr_open(struct nlmsghdr *nlh, const char *name, struct nlattr **data)
{
	struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name);
	*data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
	return elem;
}

static void expr_close(struct nlmsghdr *nlh, struct nlattr *elem, struct nlattr *data)
{
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, elem);
}

/*
 * One rule: load the packet's protocol (source 0) or its IPv4 source
 * address (source 1) into a register; if it is not want, count the packet
 * in the named counter and drop it.
 */
static void rule_msg(struct tunfilter *f, struct mnl_nlmsg_batch *b, uint16_t flags, int source,
                     const void *want, size_t wantlen, const char *counter)
{
	struct nlmsghdr *nlh = nft_msg(mnl_nlmsg_batch_current(b), NFT_MSG_NEWRULE,
	                               NLM_F_CREATE | NLM_F_APPEND | flags, ++f->seq);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, f->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, CHAIN);
	struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS), *e, *d;
	if (source) {
		e = expr_open(nlh, "payload", &d);
		mnl_attr_put_u32(nlh, NFTA_PAYLOAD_DREG, htonl(NFT_REG_1));
		mnl_attr_put_u32(nlh, NFTA_PAYLOAD_BASE, htonl(NFT_PAYLOAD_NETWORK_HEADER));
		mnl_attr_put_u32(nlh, NFTA_PAYLOAD_OFFSET, htonl(12));   /* the IPv4 source address */
		mnl_attr_put_u32(nlh, NFTA_PAYLOAD_LEN, htonl(4));
	} else {
		e = expr_open(nlh, "meta", &d);
		mnl_attr_put_u32(nlh, NFTA_META_DREG, htonl(NFT_REG_1));
		mnl_attr_put_u32(nlh, NFTA_META_KEY, htonl(NFT_META_PROTOCOL));
	}
	expr_close(nlh, e, d);
	e = expr_open(nlh, "cmp", &d);
	mnl_attr_put_u32(nlh, NFTA_CMP_SREG, htonl(NFT_REG_1));
	mnl_attr_put_u32(nlh, NFTA_CMP_OP, htonl(NFT_CMP_NEQ));
	struct nlattr *value = mnl_attr_nest_start(nlh, NFTA_CMP_DATA);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, wantlen, want);
	mnl_attr_nest_end(nlh, value);
	expr_close(nlh, e, d);
	e = expr_open(nlh, "objref", &d);
	mnl_attr_put_u32(nlh, NFTA_OBJREF_IMM_TYPE, htonl(NFT_OBJECT_COUNTER));
	mnl_attr_put_strz(nlh, NFTA_OBJREF_IMM_NAME, counter);
	expr_close(nlh, e, d);
	e = expr_open(nlh, "immediate", &d);
	mnl_attr_put_u32(nlh, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
	struct nlattr *data = mnl_attr_nest_start(nlh, NFTA_IMMEDIATE_DATA);
	struct nlattr *verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
	mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(NF_DROP));
	mnl_attr_nest_end(nlh, verdict);
	mnl_attr_nest_end(nlh, data);
	expr_close(nlh, e, d);
	mnl_attr_nest_end(nlh, list);
	mnl_nlmsg_batch_next(b);
}

/*
 * Read answers on nl until the acknowledgement of message seq (the one that
 * asked for it); data messages go to cb.  0, or -1 with errno: the kernel's
 * error for any message, or EAGAIN when nothing came in time.
 */
static int await_ack(struct mnl_socket *nl, uint32_t seq, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned portid = mnl_socket_get_portid(nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
		if (n < 0)
			return -1;
		/* Not checked against seq: in a batch only the last message asks for an
		 * acknowledgement, and an error for any earlier one ends the wait. */
		int r = mnl_cb_run(buf, (size_t)n, 0, portid, cb, data);
		if (r == MNL_CB_ERROR)
			return -1;
		const struct nlmsghdr *last = (const struct nlmsghdr *)buf;
		if (r == MNL_CB_STOP && last->nlmsg_seq == seq)
			return 0;
	}
}

static int counter_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a, *c;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_OBJ_DATA)
			continue;
		mnl_attr_for_each_nested(c, a)
			if (mnl_attr_get_type(c) == NFTA_COUNTER_PACKETS &&
			    mnl_attr_get_payload_len(c) == sizeof(uint64_t))
				*(uint64_t *)data = be64toh(mnl_attr_get_u64(c));
	}
	return MNL_CB_OK;
}

/* One named counter's packets.  0, or -1 with errno. */
static int read_counter(struct tunfilter *f, const char *name, uint64_t *packets)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = ++f->seq;
	struct nlmsghdr *nlh = nft_msg(buf, NFT_MSG_GETOBJ, NLM_F_ACK, seq);
	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, f->table);
	mnl_attr_put_strz(nlh, NFTA_OBJ_NAME, name);
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	*packets = 0;
	if (mnl_socket_sendto(f->nft, nlh, nlh->nlmsg_len) < 0)
		return -1;
	return await_ack(f->nft, seq, counter_cb, packets);
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a;
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg))
		if (mnl_attr_get_type(a) == IFLA_STATS64 &&
		    mnl_attr_get_payload_len(a) >= sizeof(struct rtnl_link_stats64))
			memcpy(data, mnl_attr_get_payload(a), sizeof(struct rtnl_link_stats64));
	return MNL_CB_OK;
}

/* The device's own counters (rtnetlink, so the namespace is caprun's, whatever /sys shows). */
static int read_link(struct tunfilter *f, struct rtnl_link_stats64 *st)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++f->seq;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = (int)f->ifindex;
	memset(st, 0, sizeof *st);
	if (mnl_socket_sendto(f->rt, nlh, nlh->nlmsg_len) < 0)
		return -1;
	return await_ack(f->rt, nlh->nlmsg_seq, link_cb, st);
}

/* The kernel's counters as they are (the device's since it was made). */
static int read_all(struct tunfilter *f, struct tunfilter_counts *c)
{
	struct rtnl_link_stats64 st;
	memset(c, 0, sizeof *c);
	if (read_link(f, &st) || read_counter(f, "spoofed", &c->spoofed) ||
	    read_counter(f, "malformed", &c->malformed))
		return -1;
	c->from_capsule = st.rx_packets;
	c->refused = st.rx_dropped;
	c->to_capsule = st.tx_packets;
	c->to_capsule_lost = st.tx_dropped;
	return 0;
}

int tunfilter_counts(struct tunfilter *f, struct tunfilter_counts *c)
{
	if (!f) {
		memset(c, 0, sizeof *c);
		errno = EINVAL;
		return -1;
	}
	if (read_all(f, c))
		return -1;
	c->from_capsule -= f->base.from_capsule;   /* counters only grow */
	c->refused -= f->base.refused;
	c->to_capsule -= f->base.to_capsule;
	c->to_capsule_lost -= f->base.to_capsule_lost;
	return 0;
}

static void free_filter(struct tunfilter *f)
{
	int e = errno;
	if (f->nft)
		mnl_socket_close(f->nft);
	if (f->rt)
		mnl_socket_close(f->rt);
	free(f);
	errno = e;
}

struct tunfilter *tunfilter_install(const char *ifname, unsigned ifindex, uint32_t ip, char *err,
                                    size_t errlen)
{
	struct tunfilter *f = calloc(1, sizeof *f);
	char batch[BATCH_BYTES];
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(f->table, sizeof f->table, "%s", ifname);
	f->ifindex = ifindex;
	f->nft = open_netlink(NETLINK_NETFILTER);
	f->rt = open_netlink(NETLINK_ROUTE);
	if (!f->nft || !f->rt) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		free_filter(f);
		return NULL;
	}
	/* One transaction: a stale table of this name (its caprun died) goes, the new one comes. */
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(batch, sizeof batch);
	batch_mark(b, NFNL_MSG_BATCH_BEGIN, ++f->seq);
	table_msg(f, b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	table_msg(f, b, NFT_MSG_DELTABLE, 0);
	table_msg(f, b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	chain_msg(f, b);
	counter_msg(f, b, "malformed");
	counter_msg(f, b, "spoofed");
	uint16_t ipv4 = htons(ETH_P_IP);
	rule_msg(f, b, 0, 0, &ipv4, sizeof ipv4, "malformed");
	rule_msg(f, b, NLM_F_ACK, 1, &ip, sizeof ip, "spoofed");
	uint32_t last = f->seq;
	batch_mark(b, NFNL_MSG_BATCH_END, ++f->seq);
	int r = mnl_socket_sendto(f->nft, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0 ? -1
	        : await_ack(f->nft, last, NULL, NULL);
	mnl_nlmsg_batch_stop(b);
	if (r || read_all(f, &f->base)) {
		snprintf(err, errlen, "no nftables source filter on %s: %s", ifname, strerror(errno));
		free_filter(f);
		return NULL;
	}
	return f;
}

void tunfilter_remove(struct tunfilter *f)
{
	if (!f)
		return;
	char batch[BATCH_BYTES];
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(batch, sizeof batch);
	batch_mark(b, NFNL_MSG_BATCH_BEGIN, ++f->seq);
	table_msg(f, b, NFT_MSG_DELTABLE, NLM_F_ACK);
	uint32_t last = f->seq;
	batch_mark(b, NFNL_MSG_BATCH_END, ++f->seq);
	/* Best effort: a table left behind filters a device that is gone, and the next caprun
	 * of this name replaces it. */
	if (mnl_socket_sendto(f->nft, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) >= 0)
		(void)await_ack(f->nft, last, NULL, NULL);
	mnl_nlmsg_batch_stop(b);
	free_filter(f);
}
