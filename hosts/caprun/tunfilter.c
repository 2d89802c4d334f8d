/* tunfilter.c: the kernel's source filter on a standalone capsule's TUN device (nftables, netdev ingress, counted) and the device's counters: what lets the capsule move its own packets. */
#include "hosts/caprun/tunfilter.h"
#include "hosts/common/nlmsg.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
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
 * Written as raw nfnetlink messages with hosts/common/nlmsg.c (which
 * caprun's rtnetlink requests use too): libnftables would pull a parser and
 * five libraries into every caprun's start.
 */

#define CHAIN "ingress"
#define REPLY_TIMEOUT_S 2
/* The install's batch is under 1 KB; the builder fails (EMSGSIZE) rather than overrun. */
#define BATCH_BYTES 8192
/* A single request, or the remove's three-message batch. */
#define REQUEST_BYTES 512

struct tunfilter {
	struct nlm_sock *nft;     /* NETLINK_NETFILTER: the table, its counters */
	struct nlm_sock *rt;      /* NETLINK_ROUTE: the device's own counters (opened when first read) */
	unsigned ifindex;
	char table[IFNAMSIZ];     /* the device's name */
	uint32_t seq;
};

/* An nf_tables message (netdev family) after the builder's previous one. */
static void nft_msg(struct nlm_builder *b, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nfgenmsg g = { .nfgen_family = NFPROTO_NETDEV, .version = NFNETLINK_V0, .res_id = 0 };
	nlm_msg(b, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type), flags, seq);
	nlm_put_family(b, &g, sizeof g);
}

static void table_msg(struct tunfilter *f, struct nlm_builder *b, uint16_t type, uint16_t flags)
{
	nft_msg(b, type, flags, ++f->seq);
	nlm_put_str(b, NFTA_TABLE_NAME, f->table);
}

static void chain_msg(struct tunfilter *f, struct nlm_builder *b)
{
	nft_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, ++f->seq);
	nlm_put_str(b, NFTA_CHAIN_TABLE, f->table);
	nlm_put_str(b, NFTA_CHAIN_NAME, CHAIN);
	struct nlattr *hook = nlm_nest_start(b, NFTA_CHAIN_HOOK);
	nlm_put_u32(b, NFTA_HOOK_HOOKNUM, htonl(NF_NETDEV_INGRESS));
	nlm_put_u32(b, NFTA_HOOK_PRIORITY, htonl(0));
	nlm_put_str(b, NFTA_HOOK_DEV, f->table);
	nlm_nest_end(b, hook);
	nlm_put_u32(b, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
	nlm_put_str(b, NFTA_CHAIN_TYPE, "filter");
}

/* The attributes naming one of our counters: a NEWOBJ's and a GETOBJ's. */
static void counter_name(struct tunfilter *f, struct nlm_builder *b, const char *name)
{
	nlm_put_str(b, NFTA_OBJ_TABLE, f->table);
	nlm_put_str(b, NFTA_OBJ_NAME, name);
	nlm_put_u32(b, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
}

static void counter_msg(struct tunfilter *f, struct nlm_builder *b, const char *name)
{
	nft_msg(b, NFT_MSG_NEWOBJ, NLM_F_CREATE, ++f->seq);
	counter_name(f, b, name);
	struct nlattr *data = nlm_nest_start(b, NFTA_OBJ_DATA);
	nlm_put_u64(b, NFTA_COUNTER_BYTES, 0);
	nlm_put_u64(b, NFTA_COUNTER_PACKETS, 0);
	nlm_nest_end(b, data);
}

/* One expression of a rule: its list element and data nests, left open for its attributes. */
static struct nlattr *expr_open(struct nlm_builder *b, const char *name, struct nlattr **data)
{
	struct nlattr *elem = nlm_nest_start(b, NFTA_LIST_ELEM);
	nlm_put_str(b, NFTA_EXPR_NAME, name);
	*data = nlm_nest_start(b, NFTA_EXPR_DATA);
	return elem;
}

static void expr_close(struct nlm_builder *b, struct nlattr *elem, struct nlattr *data)
{
	nlm_nest_end(b, data);
	nlm_nest_end(b, elem);
}

/*
 * One rule: load the packet's protocol (source 0) or its IPv4 source
 * address (source 1) into a register; if it is not want, count the packet
 * in the named counter and drop it.
 */
static void rule_msg(struct tunfilter *f, struct nlm_builder *b, uint16_t flags, int source,
                     const void *want, size_t wantlen, const char *counter)
{
	nft_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | flags, ++f->seq);
	nlm_put_str(b, NFTA_RULE_TABLE, f->table);
	nlm_put_str(b, NFTA_RULE_CHAIN, CHAIN);
	struct nlattr *list = nlm_nest_start(b, NFTA_RULE_EXPRESSIONS), *e, *d;
	if (source) {
		e = expr_open(b, "payload", &d);
		nlm_put_u32(b, NFTA_PAYLOAD_DREG, htonl(NFT_REG_1));
		nlm_put_u32(b, NFTA_PAYLOAD_BASE, htonl(NFT_PAYLOAD_NETWORK_HEADER));
		nlm_put_u32(b, NFTA_PAYLOAD_OFFSET, htonl(12));   /* the IPv4 source address */
		nlm_put_u32(b, NFTA_PAYLOAD_LEN, htonl(4));
	} else {
		e = expr_open(b, "meta", &d);
		nlm_put_u32(b, NFTA_META_DREG, htonl(NFT_REG_1));
		nlm_put_u32(b, NFTA_META_KEY, htonl(NFT_META_PROTOCOL));
	}
	expr_close(b, e, d);
	e = expr_open(b, "cmp", &d);
	nlm_put_u32(b, NFTA_CMP_SREG, htonl(NFT_REG_1));
	nlm_put_u32(b, NFTA_CMP_OP, htonl(NFT_CMP_NEQ));
	struct nlattr *value = nlm_nest_start(b, NFTA_CMP_DATA);
	nlm_put(b, NFTA_DATA_VALUE, want, wantlen);
	nlm_nest_end(b, value);
	expr_close(b, e, d);
	e = expr_open(b, "objref", &d);
	nlm_put_u32(b, NFTA_OBJREF_IMM_TYPE, htonl(NFT_OBJECT_COUNTER));
	nlm_put_str(b, NFTA_OBJREF_IMM_NAME, counter);
	expr_close(b, e, d);
	e = expr_open(b, "immediate", &d);
	nlm_put_u32(b, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
	struct nlattr *data = nlm_nest_start(b, NFTA_IMMEDIATE_DATA);
	struct nlattr *verdict = nlm_nest_start(b, NFTA_DATA_VERDICT);
	nlm_put_u32(b, NFTA_VERDICT_CODE, htonl(NF_DROP));
	nlm_nest_end(b, verdict);
	nlm_nest_end(b, data);
	expr_close(b, e, d);
	nlm_nest_end(b, list);
}

static void counter_cb(const struct nlmsghdr *msg, void *packets)
{
	struct nlm_attrs attrs, nested;
	const struct nlattr *a, *c;
	nlm_attrs_of_msg(&attrs, msg, sizeof(struct nfgenmsg));
	while ((a = nlm_attr_next(&attrs))) {
		if (nlm_attr_type(a) != NFTA_OBJ_DATA)
			continue;
		nlm_attrs_of_nest(&nested, a);
		while ((c = nlm_attr_next(&nested)))
			if (nlm_attr_type(c) == NFTA_COUNTER_PACKETS && nlm_attr_len(c) == sizeof(uint64_t)) {
				uint64_t be;
				memcpy(&be, nlm_attr_data(c), sizeof be);   /* 4-byte aligned only */
				*(uint64_t *)packets = be64toh(be);
			}
	}
}

/* One named counter's packets.  0, or -1 with errno. */
static int read_counter(struct tunfilter *f, const char *name, uint64_t *packets)
{
	_Alignas(struct nlmsghdr) unsigned char buf[REQUEST_BYTES];
	struct nlm_builder b;
	uint32_t seq = ++f->seq;
	nlm_start(&b, buf, sizeof buf);
	nft_msg(&b, NFT_MSG_GETOBJ, NLM_F_ACK, seq);
	counter_name(f, &b, name);
	*packets = 0;
	if (nlm_send(f->nft, &b) < 0)
		return -1;
	return nlm_await(f->nft, seq, counter_cb, packets);
}

static void link_cb(const struct nlmsghdr *msg, void *stats)
{
	struct nlm_attrs attrs;
	const struct nlattr *a;
	if (msg->nlmsg_type != RTM_NEWLINK)
		return;
	nlm_attrs_of_msg(&attrs, msg, sizeof(struct ifinfomsg));
	while ((a = nlm_attr_next(&attrs)))
		if (nlm_attr_type(a) == IFLA_STATS64 && nlm_attr_len(a) >= sizeof(struct rtnl_link_stats64))
			memcpy(stats, nlm_attr_data(a), sizeof(struct rtnl_link_stats64));
}

/* The device's own counters (rtnetlink, so the namespace is caprun's, whatever /sys shows). */
static int read_link(struct tunfilter *f, struct rtnl_link_stats64 *st)
{
	_Alignas(struct nlmsghdr) unsigned char buf[REQUEST_BYTES];
	struct nlm_builder b;
	struct ifinfomsg ifm = { .ifi_family = AF_UNSPEC, .ifi_index = (int)f->ifindex };
	uint32_t seq = ++f->seq;
	nlm_start(&b, buf, sizeof buf);
	nlm_msg(&b, RTM_GETLINK, NLM_F_ACK, seq);
	nlm_put_family(&b, &ifm, sizeof ifm);
	memset(st, 0, sizeof *st);
	if (!f->rt && !(f->rt = nlm_open(NETLINK_ROUTE, REPLY_TIMEOUT_S)))
		return -1;
	if (nlm_send(f->rt, &b) < 0)
		return -1;
	return nlm_await(f->rt, seq, link_cb, st);
}

/* The kernel's counters as they are: the device's since it was made, just before its filter. */
int tunfilter_counts(struct tunfilter *f, struct tunfilter_counts *c)
{
	struct rtnl_link_stats64 st;
	memset(c, 0, sizeof *c);
	if (!f) {
		errno = EINVAL;
		return -1;
	}
	if (read_link(f, &st) || read_counter(f, "spoofed", &c->spoofed) ||
	    read_counter(f, "malformed", &c->malformed))
		return -1;
	c->from_capsule = st.rx_packets;
	c->refused = st.rx_dropped;
	c->to_capsule = st.tx_packets;
	c->to_capsule_lost = st.tx_dropped;
	return 0;
}

static void free_filter(struct tunfilter *f)
{
	int e = errno;
	nlm_close(f->nft);
	nlm_close(f->rt);
	free(f);
	errno = e;
}

struct tunfilter *tunfilter_install(const char *ifname, unsigned ifindex, uint32_t ip, char *err,
                                    size_t errlen)
{
	struct tunfilter *f = calloc(1, sizeof *f);
	_Alignas(struct nlmsghdr) unsigned char batch[BATCH_BYTES];
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(f->table, sizeof f->table, "%s", ifname);
	f->ifindex = ifindex;
	f->nft = nlm_open(NETLINK_NETFILTER, REPLY_TIMEOUT_S);
	if (!f->nft) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		free_filter(f);
		return NULL;
	}
	/* One transaction: a stale table of this name (its caprun died) goes, the new one comes. */
	struct nlm_builder b;
	nlm_start(&b, batch, sizeof batch);
	nlm_batch_begin(&b, ++f->seq, NFNL_SUBSYS_NFTABLES);
	table_msg(f, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	table_msg(f, &b, NFT_MSG_DELTABLE, 0);
	table_msg(f, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	chain_msg(f, &b);
	counter_msg(f, &b, "malformed");
	counter_msg(f, &b, "spoofed");
	uint16_t ipv4 = htons(ETH_P_IP);
	rule_msg(f, &b, 0, 0, &ipv4, sizeof ipv4, "malformed");
	rule_msg(f, &b, NLM_F_ACK, 1, &ip, sizeof ip, "spoofed");
	uint32_t last = f->seq;
	nlm_batch_end(&b, ++f->seq, NFNL_SUBSYS_NFTABLES);
	/* No baseline to read: the counters are new, and so is the device (make_device), on
	 * which the kernel sent nothing of its own (no IPv6 address: netlink_link_prepare). */
	if (nlm_send(f->nft, &b) < 0 || nlm_await(f->nft, last, NULL, NULL)) {
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
	_Alignas(struct nlmsghdr) unsigned char batch[REQUEST_BYTES];
	struct nlm_builder b;
	nlm_start(&b, batch, sizeof batch);
	nlm_batch_begin(&b, ++f->seq, NFNL_SUBSYS_NFTABLES);
	table_msg(f, &b, NFT_MSG_DELTABLE, NLM_F_ACK);
	uint32_t last = f->seq;
	nlm_batch_end(&b, ++f->seq, NFNL_SUBSYS_NFTABLES);
	/* Best effort: a table left behind filters a device that is gone, and the next caprun
	 * of this name replaces it. */
	if (nlm_send(f->nft, &b) == 0)
		(void)nlm_await(f->nft, last, NULL, NULL);
	free_filter(f);
}
