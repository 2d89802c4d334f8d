/* nlmsg.h: netlink messages built and read over the kernel's UAPI headers: a socket, a bounds-checked builder (nfnetlink batches too), a reply walker and attribute iterator (nlmsg.c). */
#ifndef HOST_NLMSG_H
#define HOST_NLMSG_H

/*
 * In-tree instead of libmnl because Debian ships no static libmnl.a and
 * caprun is linked statically (docs/STARTUP.md section 12).  Only what
 * netlink.c and caprun's tunfilter.c use.
 */

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

/* A bound netlink socket (its descriptor and the port id the kernel gave it). */
struct nlm_sock;

/*
 * A socket on bus (NETLINK_ROUTE, NETLINK_NETFILTER), close-on-exec, bound to
 * a port the kernel picks; receives give up after timeout_s seconds (0: they
 * wait for ever).  The socket, or NULL with errno.
 */
struct nlm_sock *nlm_open(int bus, unsigned timeout_s);
/* Close and free s (NULL: nothing); errno is kept. */
void nlm_close(struct nlm_sock *s);

/*
 * Messages written one after another into a caller's buffer (several of them
 * make an nfnetlink batch).  A put that does not fit writes nothing and marks
 * the builder overflowed: later puts do nothing, and nlm_send refuses it, so
 * a caller checks once, at the send.
 */
struct nlm_builder {
	unsigned char *buf;
	size_t size;
	size_t len;              /* bytes of the messages so far, the current one included */
	struct nlmsghdr *msg;    /* the message attributes go into; NULL before the first */
	int overflow;
};

void nlm_start(struct nlm_builder *b, void *buf, size_t size);
/* Begin a message after the previous one: header only, NLM_F_REQUEST added to flags. */
void nlm_msg(struct nlm_builder *b, uint16_t type, uint16_t flags, uint32_t seq);
/* The family header that follows the netlink header (ifinfomsg, rtmsg, nfgenmsg), copied in. */
void nlm_put_family(struct nlm_builder *b, const void *hdr, size_t len);
/* One attribute of the current message, padded to NLA_ALIGNTO with zeros. */
void nlm_put(struct nlm_builder *b, uint16_t type, const void *data, size_t len);
void nlm_put_u32(struct nlm_builder *b, uint16_t type, uint32_t v);
void nlm_put_u64(struct nlm_builder *b, uint16_t type, uint64_t v);
/* s with its terminating NUL, as the kernel's NLA_STRING and NLA_NUL_STRING policies take it. */
void nlm_put_str(struct nlm_builder *b, uint16_t type, const char *s);
/*
 * A nested attribute (NLA_F_NESTED set): the attributes put until
 * nlm_nest_end are its payload.  NULL once the builder overflowed;
 * nlm_nest_end(b, NULL) does nothing.
 */
struct nlattr *nlm_nest_start(struct nlm_builder *b, uint16_t type);
void nlm_nest_end(struct nlm_builder *b, struct nlattr *nest);
/* nfnetlink's NFNL_MSG_BATCH_BEGIN / _END around the messages for subsystem subsys (NFNL_SUBSYS_*). */
void nlm_batch_begin(struct nlm_builder *b, uint32_t seq, uint16_t subsys);
void nlm_batch_end(struct nlm_builder *b, uint32_t seq, uint16_t subsys);

/* Send every message in b to the kernel in one datagram.  0, or -1 with errno (EMSGSIZE: b overflowed). */
int nlm_send(struct nlm_sock *s, const struct nlm_builder *b);

/* What a walk hands its caller: one data message (type NLMSG_MIN_TYPE or above). */
typedef void nlm_data_fn(const struct nlmsghdr *msg, void *arg);

/*
 * The messages of one receive, in order, as far as the first that ends an
 * exchange.  Data messages go to fn (when not NULL).  1 when an
 * acknowledgement (NLMSG_ERROR with error 0) or NLMSG_DONE ended it, its
 * sequence number in *done_seq; 0 when every message was read and none did
 * (more will come); -1 with errno: the kernel's error from an NLMSG_ERROR,
 * ESRCH for a message to another port than portid (0: any), EINTR for an
 * interrupted dump, EBADMSG for a truncated message.
 */
int nlm_walk(const void *buf, size_t len, uint32_t portid, nlm_data_fn *fn, void *arg,
             uint32_t *done_seq);

/*
 * Receive and walk until the acknowledgement (or NLMSG_DONE) of message seq;
 * data messages go to fn.  Those of other messages are passed over, but an
 * error for any message ends the wait: in an nfnetlink batch only the last
 * message asks for an acknowledgement, and any earlier one may fail.
 * 0, or -1 with errno (nlm_walk's, or the receive's: EAGAIN when the
 * socket's timeout passed, ENOSPC for a message larger than our buffer).
 */
int nlm_await(struct nlm_sock *s, uint32_t seq, nlm_data_fn *fn, void *arg);

/* The attributes of a message or of a nested attribute, one at a time. */
struct nlm_attrs {
	const unsigned char *at;
	size_t left;
};

/* The attributes after msg's family header of family_len bytes. */
void nlm_attrs_of_msg(struct nlm_attrs *it, const struct nlmsghdr *msg, size_t family_len);
void nlm_attrs_of_nest(struct nlm_attrs *it, const struct nlattr *nest);
/* The next attribute, or NULL at the end and at one whose length runs past what is left. */
const struct nlattr *nlm_attr_next(struct nlm_attrs *it);

/* Type without the NLA_F_NESTED and NLA_F_NET_BYTEORDER flags; payload and its length. */
static inline uint16_t nlm_attr_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

static inline const void *nlm_attr_data(const struct nlattr *a)
{
	return (const unsigned char *)a + NLA_HDRLEN;
}

static inline size_t nlm_attr_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

#endif
