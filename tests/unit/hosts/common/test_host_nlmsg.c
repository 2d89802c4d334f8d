/* test_host_nlmsg.c: unit tests for the in-tree netlink messages: attribute layout, nesting, a builder out of room, nfnetlink batches, the reply walker and attribute iterator on hand-made buffers. */
#include "hosts/common/nlmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define GUARD 0xaa

static _Alignas(struct nlmsghdr) unsigned char buf[1024];

/* The builder over buf, every byte GUARD first: what it did not write stays GUARD. */
static void start(struct nlm_builder *b, size_t size)
{
	memset(buf, GUARD, sizeof buf);
	nlm_start(b, buf, size);
}

static const struct nlattr *at(size_t off)
{
	return (const struct nlattr *)(buf + off);
}

static void test_attr_layout(void **st)
{
	(void)st;
	struct nlm_builder b;
	struct ifinfomsg ifm = { .ifi_family = AF_UNSPEC, .ifi_index = 7 };
	const unsigned char five[5] = { 1, 2, 3, 4, 5 };
	start(&b, sizeof buf);
	nlm_msg(&b, RTM_NEWLINK, NLM_F_ACK, 42);
	nlm_put_family(&b, &ifm, sizeof ifm);          /* 16 bytes at 16 */
	nlm_put_str(&b, IFLA_IFNAME, "abc");           /* 4 + 4 at 32 */
	nlm_put(&b, 99, five, sizeof five);            /* 4 + 5, padded to 12, at 40 */
	nlm_put_u64(&b, 100, 0x0102030405060708ull);   /* 4 + 8 at 52 */
	nlm_put_u32(&b, IFLA_MTU, 1400);               /* 4 + 4 at 64 */
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	assert_false(b.overflow);
	assert_int_equal(b.len, 72);
	assert_int_equal(h->nlmsg_len, 72);
	assert_int_equal(h->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(h->nlmsg_seq, 42);
	assert_int_equal(h->nlmsg_pid, 0);
	assert_memory_equal(buf + NLMSG_HDRLEN, &ifm, sizeof ifm);
	assert_int_equal(at(32)->nla_len, 8);
	assert_int_equal(at(32)->nla_type, IFLA_IFNAME);
	assert_string_equal((const char *)buf + 36, "abc");
	assert_int_equal(at(40)->nla_len, 9);          /* the length says 5, not the padding */
	assert_memory_equal(buf + 44, five, sizeof five);
	assert_memory_equal(buf + 49, "\0\0\0", 3);    /* padding zeroed */
	assert_int_equal(at(52)->nla_len, 12);
	uint64_t v64;
	memcpy(&v64, buf + 56, sizeof v64);
	assert_true(v64 == 0x0102030405060708ull);
	assert_int_equal(at(64)->nla_len, 8);
	uint32_t v32;
	memcpy(&v32, buf + 68, sizeof v32);
	assert_int_equal(v32, 1400);
	assert_int_equal(buf[72], GUARD);

	/* Read back: the same attributes, in order, their payload lengths unpadded. */
	struct nlm_attrs it;
	const struct nlattr *a;
	size_t want[] = { 4, 5, 8, 4 }, n = 0;
	nlm_attrs_of_msg(&it, h, sizeof ifm);
	while ((a = nlm_attr_next(&it)))
		assert_int_equal(nlm_attr_len(a), want[n++]);
	assert_int_equal(n, 4);
}

static void test_nest(void **st)
{
	(void)st;
	struct nlm_builder b;
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC };
	start(&b, sizeof buf);
	nlm_msg(&b, 0x100, 0, 1);
	nlm_put_family(&b, &g, sizeof g);                 /* attributes from 20 */
	struct nlattr *outer = nlm_nest_start(&b, 4);
	nlm_put_u32(&b, 1, 11);
	struct nlattr *inner = nlm_nest_start(&b, 2);
	nlm_put_u32(&b, 3, 33);
	nlm_put_str(&b, 5, "xy");
	nlm_nest_end(&b, inner);
	nlm_nest_end(&b, outer);
	nlm_put_u32(&b, 6, 66);
	assert_false(b.overflow);
	assert_ptr_equal(outer, at(20));
	assert_int_equal(outer->nla_type, NLA_F_NESTED | 4);
	assert_int_equal(inner->nla_len, 4 + 8 + 8);      /* its two children */
	assert_int_equal(outer->nla_len, 4 + 8 + inner->nla_len);
	assert_int_equal(((const struct nlmsghdr *)buf)->nlmsg_len, 20 + outer->nla_len + 8);

	/* The iterator sees the nest's children inside it and what follows it outside. */
	struct nlm_attrs top, in, in2;
	const struct nlattr *a, *c;
	nlm_attrs_of_msg(&top, (const struct nlmsghdr *)buf, sizeof g);
	a = nlm_attr_next(&top);
	assert_int_equal(nlm_attr_type(a), 4);             /* NLA_F_NESTED masked off */
	nlm_attrs_of_nest(&in, a);
	c = nlm_attr_next(&in);
	assert_int_equal(nlm_attr_type(c), 1);
	c = nlm_attr_next(&in);
	assert_int_equal(nlm_attr_type(c), 2);
	nlm_attrs_of_nest(&in2, c);
	assert_int_equal(nlm_attr_type(nlm_attr_next(&in2)), 3);
	c = nlm_attr_next(&in2);
	assert_string_equal(nlm_attr_data(c), "xy");
	assert_null(nlm_attr_next(&in2));
	assert_null(nlm_attr_next(&in));
	a = nlm_attr_next(&top);
	assert_int_equal(nlm_attr_type(a), 6);
	assert_null(nlm_attr_next(&top));
}

static void test_out_of_room(void **st)
{
	(void)st;
	struct nlm_builder b;
	start(&b, 40);
	nlm_msg(&b, 0x100, 0, 1);
	nlm_put_u32(&b, 1, 1);                             /* 24 bytes so far */
	nlm_put_str(&b, 2, "twenty bytes and more");    /* 4 + 22 > 16 left */
	assert_true(b.overflow);
	assert_int_equal(b.len, 24);
	nlm_put_u32(&b, 3, 3);                             /* would fit, but the message is lost */
	assert_null(nlm_nest_start(&b, 4));
	nlm_nest_end(&b, NULL);
	nlm_msg(&b, 0x100, 0, 2);
	assert_int_equal(b.len, 24);
	assert_int_equal(((const struct nlmsghdr *)buf)->nlmsg_len, 24);
	for (size_t i = 24; i < sizeof buf; i++)
		assert_int_equal(buf[i], GUARD);
	errno = 0;
	assert_int_equal(nlm_send(NULL, &b), -1);          /* refused before the socket is used */
	assert_int_equal(errno, EMSGSIZE);

	/* Not even a header fits. */
	start(&b, NLMSG_HDRLEN - 4);
	nlm_msg(&b, 0x100, 0, 1);
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf[0], GUARD);

	/* A payload nla_len cannot say. */
	static unsigned char big[70000];
	start(&b, sizeof buf);
	nlm_msg(&b, 0x100, 0, 1);
	nlm_put(&b, 1, big, sizeof big);
	assert_true(b.overflow);
	assert_int_equal(buf[NLMSG_HDRLEN], GUARD);
}

/* What a walk saw: the data messages' types and sequence numbers. */
struct seen {
	int n;
	uint16_t type[8];
	uint32_t seq[8];
};

static void record(const struct nlmsghdr *msg, void *arg)
{
	struct seen *s = arg;
	s->type[s->n] = msg->nlmsg_type;
	s->seq[s->n++] = msg->nlmsg_seq;
}

static void test_batch(void **st)
{
	(void)st;
	struct nlm_builder b;
	struct nfgenmsg g = { .nfgen_family = NFPROTO_NETDEV };
	start(&b, sizeof buf);
	nlm_batch_begin(&b, 10, NFNL_SUBSYS_NFTABLES);
	nlm_msg(&b, NFNL_SUBSYS_NFTABLES << 8 | 1, NLM_F_CREATE, 11);
	nlm_put_family(&b, &g, sizeof g);
	nlm_put_str(&b, 1, "cap-x");                      /* 20 + 12 = 32 bytes */
	nlm_msg(&b, NFNL_SUBSYS_NFTABLES << 8 | 2, NLM_F_ACK, 12);
	nlm_put_family(&b, &g, sizeof g);
	nlm_batch_end(&b, 13, NFNL_SUBSYS_NFTABLES);
	assert_false(b.overflow);
	assert_int_equal(b.len, 20 + 32 + 20 + 20);

	const struct nlmsghdr *first = (const struct nlmsghdr *)buf;
	const struct nlmsghdr *last = (const struct nlmsghdr *)(buf + b.len - 20);
	const struct nfgenmsg *fg = NLMSG_DATA(first), *lg = NLMSG_DATA(last);
	assert_int_equal(first->nlmsg_len, 20);
	assert_int_equal(first->nlmsg_flags, NLM_F_REQUEST);
	assert_int_equal(fg->nfgen_family, AF_UNSPEC);
	assert_int_equal(fg->version, NFNETLINK_V0);
	assert_int_equal(fg->res_id, htons(NFNL_SUBSYS_NFTABLES));
	assert_int_equal(last->nlmsg_len, 20);
	assert_int_equal(lg->res_id, htons(NFNL_SUBSYS_NFTABLES));

	/* Walked as the kernel reads it: four messages back to back, in order. */
	struct seen s = { 0 };
	uint32_t done = 0;
	assert_int_equal(nlm_walk(buf, b.len, 0, record, &s, &done), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.type[0], NFNL_MSG_BATCH_BEGIN);
	assert_int_equal(s.type[1], NFNL_SUBSYS_NFTABLES << 8 | 1);
	assert_int_equal(s.type[2], NFNL_SUBSYS_NFTABLES << 8 | 2);
	assert_int_equal(s.type[3], NFNL_MSG_BATCH_END);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.seq[i], 10 + i);
}

/* A kernel answer in buf at off: a header, and for NLMSG_ERROR its nlmsgerr.  The next offset. */
static size_t answer(size_t off, uint16_t type, uint32_t seq, uint32_t pid, int error)
{
	struct nlmsghdr h = { .nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = type, .nlmsg_seq = seq, .nlmsg_pid = pid };
	if (type == NLMSG_ERROR) {
		struct nlmsgerr e = { .error = error };
		h.nlmsg_len = NLMSG_LENGTH(sizeof e);
		memcpy(buf + off + NLMSG_HDRLEN, &e, sizeof e);
	}
	memcpy(buf + off, &h, sizeof h);
	return off + NLMSG_ALIGN(h.nlmsg_len);
}

static void test_walk_answers(void **st)
{
	(void)st;
	struct seen s = { 0 };
	uint32_t done = 0;

	/* A data message, then the acknowledgement: the data is handed over, the ack ends it. */
	size_t len = answer(0, RTM_NEWLINK, 7, 500, 0);
	len = answer(len, NLMSG_ERROR, 7, 500, 0);
	assert_int_equal(nlm_walk(buf, len, 500, record, &s, &done), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(done, 7);

	/* NLMSG_DONE ends a walk the same way. */
	len = answer(0, NLMSG_DONE, 8, 0, 0);
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), 1);
	assert_int_equal(done, 8);

	/* Data alone: more to read. */
	len = answer(0, RTM_NEWLINK, 9, 0, 0);
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), 0);

	/* The kernel's error, negative or (a few subsystems) positive. */
	len = answer(0, NLMSG_ERROR, 9, 500, -EEXIST);
	errno = 0;
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), -1);
	assert_int_equal(errno, EEXIST);
	len = answer(0, NLMSG_ERROR, 9, 500, ENOENT);
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), -1);
	assert_int_equal(errno, ENOENT);

	/* Another port's message; an interrupted dump. */
	len = answer(0, NLMSG_ERROR, 9, 501, 0);
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), -1);
	assert_int_equal(errno, ESRCH);
	len = answer(0, RTM_NEWLINK, 9, 500, 0);
	((struct nlmsghdr *)buf)->nlmsg_flags = NLM_F_DUMP_INTR;
	assert_int_equal(nlm_walk(buf, len, 500, NULL, NULL, &done), -1);
	assert_int_equal(errno, EINTR);
}

static void test_walk_truncated(void **st)
{
	(void)st;
	uint32_t done;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	size_t len = answer(0, NLMSG_ERROR, 1, 0, 0);

	errno = 0;   /* the ack cut short: no room for its nlmsgerr */
	assert_int_equal(nlm_walk(buf, len - 4, 0, NULL, NULL, &done), -1);
	assert_int_equal(errno, EBADMSG);
	h->nlmsg_len = NLMSG_HDRLEN;   /* an NLMSG_ERROR too short for nlmsgerr */
	errno = 0;
	assert_int_equal(nlm_walk(buf, len, 0, NULL, NULL, &done), -1);
	assert_int_equal(errno, EBADMSG);
	h->nlmsg_len = 8;              /* shorter than its own header */
	errno = 0;
	assert_int_equal(nlm_walk(buf, len, 0, NULL, NULL, &done), -1);
	assert_int_equal(errno, EBADMSG);
	errno = 0;                     /* fewer bytes than a header */
	assert_int_equal(nlm_walk(buf, 10, 0, NULL, NULL, &done), -1);
	assert_int_equal(errno, EBADMSG);

	/* Attributes: one whose length runs past its message, one shorter than its header. */
	struct nlm_builder b;
	struct nlm_attrs it;
	start(&b, sizeof buf);
	nlm_msg(&b, RTM_NEWLINK, 0, 1);
	nlm_put_u32(&b, 1, 1);
	nlm_put_u32(&b, 2, 2);
	h->nlmsg_len -= 4;             /* the second attribute loses its payload */
	nlm_attrs_of_msg(&it, h, 0);
	assert_non_null(nlm_attr_next(&it));
	assert_null(nlm_attr_next(&it));
	h->nlmsg_len += 4;
	((struct nlattr *)(buf + NLMSG_HDRLEN))->nla_len = 2;
	nlm_attrs_of_msg(&it, h, 0);
	assert_null(nlm_attr_next(&it));
	assert_null(nlm_attr_next(&it));   /* and stays at the end */

	/* A nest claiming more than its message holds. */
	start(&b, sizeof buf);
	nlm_msg(&b, RTM_NEWLINK, 0, 1);
	struct nlattr *nest = nlm_nest_start(&b, 1);
	nlm_put_u32(&b, 2, 2);
	nlm_nest_end(&b, nest);
	nest->nla_len = 40;
	nlm_attrs_of_msg(&it, h, 0);
	assert_null(nlm_attr_next(&it));

	/* A family header longer than the message: no attributes. */
	nlm_attrs_of_msg(&it, h, 64);
	assert_null(nlm_attr_next(&it));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attr_layout),
		cmocka_unit_test(test_nest),
		cmocka_unit_test(test_out_of_room),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_walk_answers),
		cmocka_unit_test(test_walk_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
