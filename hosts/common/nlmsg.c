/* nlmsg.c: netlink messages over the kernel's UAPI headers: the socket, a bounds-checked builder (nfnetlink batches too), the reply walker and attribute iterator. */
#include "hosts/common/nlmsg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Larger than any answer we ask for (a link's attributes with its stats are about 1.5 KB);
 * a longer one fails with ENOSPC instead of being cut. */
#define NLM_RECV_BYTES 8192

struct nlm_sock {
	int fd;
	uint32_t portid;   /* answers to another port are not ours */
};

struct nlm_sock *nlm_open(int bus, unsigned timeout_s)
{
	struct nlm_sock *s = malloc(sizeof *s);
	if (!s)
		return NULL;
	s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, bus);
	if (s->fd < 0) {
		free(s);
		return NULL;
	}
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK };   /* nl_pid 0: the kernel picks */
	socklen_t addrlen = sizeof addr;
	struct timeval tv = { (time_t)timeout_s, 0 };
	if (bind(s->fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&addr, &addrlen) < 0 ||
	    (timeout_s && setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)) {
		nlm_close(s);
		return NULL;
	}
	if (addrlen != sizeof addr || addr.nl_family != AF_NETLINK) {
		nlm_close(s);
		errno = EINVAL;
		return NULL;
	}
	s->portid = addr.nl_pid;
	return s;
}

void nlm_close(struct nlm_sock *s)
{
	if (!s)
		return;
	int e = errno;
	close(s->fd);
	free(s);
	errno = e;
}

void nlm_start(struct nlm_builder *b, void *buf, size_t size)
{
	b->buf = buf;
	b->size = size;
	b->len = 0;
	b->msg = NULL;
	b->overflow = 0;
}

/* n more zeroed bytes (a multiple of NLA_ALIGNTO) at the end of the current message, or NULL
 * when they do not fit: then nothing more is written. */
static unsigned char *grow(struct nlm_builder *b, size_t n)
{
	if (b->overflow || !b->msg || n > b->size - b->len) {
		b->overflow = 1;
		return NULL;
	}
	unsigned char *at = b->buf + b->len;
	memset(at, 0, n);
	b->len += n;
	b->msg->nlmsg_len += (uint32_t)n;   /* below size, which a datagram's length bounds */
	return at;
}

void nlm_msg(struct nlm_builder *b, uint16_t type, uint16_t flags, uint32_t seq)
{
	if (b->overflow || NLMSG_HDRLEN > b->size - b->len) {
		b->overflow = 1;
		return;
	}
	struct nlmsghdr *h = (struct nlmsghdr *)(b->buf + b->len);
	memset(h, 0, NLMSG_HDRLEN);
	h->nlmsg_len = NLMSG_HDRLEN;
	h->nlmsg_type = type;
	h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	h->nlmsg_seq = seq;
	b->len += NLMSG_HDRLEN;
	b->msg = h;
}

void nlm_put_family(struct nlm_builder *b, const void *hdr, size_t len)
{
	unsigned char *at = grow(b, NLMSG_ALIGN(len));
	if (at)
		memcpy(at, hdr, len);
}

void nlm_put(struct nlm_builder *b, uint16_t type, const void *data, size_t len)
{
	if (len > UINT16_MAX - NLA_HDRLEN) {   /* nla_len could not say it */
		b->overflow = 1;
		return;
	}
	struct nlattr *a = (struct nlattr *)grow(b, NLA_ALIGN(NLA_HDRLEN + len));
	if (!a)
		return;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	a->nla_type = type;
	memcpy((unsigned char *)a + NLA_HDRLEN, data, len);
}

void nlm_put_u32(struct nlm_builder *b, uint16_t type, uint32_t v)
{
	nlm_put(b, type, &v, sizeof v);
}

void nlm_put_u64(struct nlm_builder *b, uint16_t type, uint64_t v)
{
	nlm_put(b, type, &v, sizeof v);
}

void nlm_put_str(struct nlm_builder *b, uint16_t type, const char *s)
{
	nlm_put(b, type, s, strlen(s) + 1);
}

struct nlattr *nlm_nest_start(struct nlm_builder *b, uint16_t type)
{
	struct nlattr *nest = (struct nlattr *)grow(b, NLA_HDRLEN);
	if (nest)
		nest->nla_type = (uint16_t)(NLA_F_NESTED | type);
	return nest;
}

void nlm_nest_end(struct nlm_builder *b, struct nlattr *nest)
{
	if (!nest || b->overflow)
		return;
	size_t len = (size_t)(b->buf + b->len - (unsigned char *)nest);
	if (len > UINT16_MAX)
		b->overflow = 1;
	else
		nest->nla_len = (uint16_t)len;
}

static void batch_mark(struct nlm_builder *b, uint16_t type, uint32_t seq, uint16_t subsys)
{
	struct nfgenmsg g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(subsys) };
	nlm_msg(b, type, 0, seq);
	nlm_put_family(b, &g, sizeof g);
}

void nlm_batch_begin(struct nlm_builder *b, uint32_t seq, uint16_t subsys)
{
	batch_mark(b, NFNL_MSG_BATCH_BEGIN, seq, subsys);
}

void nlm_batch_end(struct nlm_builder *b, uint32_t seq, uint16_t subsys)
{
	batch_mark(b, NFNL_MSG_BATCH_END, seq, subsys);
}

int nlm_send(struct nlm_sock *s, const struct nlm_builder *b)
{
	static const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	if (b->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	return sendto(s->fd, b->buf, b->len, 0, (const struct sockaddr *)&kernel, sizeof kernel) < 0 ? -1 : 0;
}

int nlm_walk(const void *buf, size_t len, uint32_t portid, nlm_data_fn *fn, void *arg,
             uint32_t *done_seq)
{
	const unsigned char *p = buf;
	while (len > 0) {
		const struct nlmsghdr *m = (const struct nlmsghdr *)p;
		if (len < NLMSG_HDRLEN || m->nlmsg_len < NLMSG_HDRLEN || m->nlmsg_len > len) {
			errno = EBADMSG;
			return -1;
		}
		if (portid && m->nlmsg_pid && m->nlmsg_pid != portid) {
			errno = ESRCH;
			return -1;
		}
		if (m->nlmsg_flags & NLM_F_DUMP_INTR) {   /* the table changed under a dump */
			errno = EINTR;
			return -1;
		}
		if (m->nlmsg_type >= NLMSG_MIN_TYPE) {
			if (fn)
				fn(m, arg);
		} else if (m->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(m);
			if (m->nlmsg_len < NLMSG_LENGTH(sizeof *e)) {
				errno = EBADMSG;
				return -1;
			}
			if (e->error) {
				/* Negative from most subsystems; a few send it positive. */
				errno = e->error < 0 ? -e->error : e->error;
				return -1;
			}
			*done_seq = m->nlmsg_seq;
			return 1;
		} else if (m->nlmsg_type == NLMSG_DONE) {
			*done_seq = m->nlmsg_seq;
			return 1;
		}
		/* The last message's padding may be missing from the datagram. */
		size_t step = NLMSG_ALIGN(m->nlmsg_len);
		if (step > len)
			step = len;
		p += step;
		len -= step;
	}
	return 0;
}

/* One datagram from the kernel.  Its length, or -1 with errno (ENOSPC: it did not fit). */
static ssize_t receive(struct nlm_sock *s, void *buf, size_t size)
{
	struct sockaddr_nl from;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = recvmsg(s->fd, &mh, 0);
	if (n < 0)
		return -1;
	if (mh.msg_flags & MSG_TRUNC) {
		errno = ENOSPC;
		return -1;
	}
	if (mh.msg_namelen != sizeof from) {
		errno = EINVAL;
		return -1;
	}
	return n;
}

int nlm_await(struct nlm_sock *s, uint32_t seq, nlm_data_fn *fn, void *arg)
{
	_Alignas(struct nlmsghdr) unsigned char buf[NLM_RECV_BYTES];
	for (;;) {
		ssize_t n = receive(s, buf, sizeof buf);
		if (n < 0)
			return -1;
		uint32_t done_seq;
		int r = nlm_walk(buf, (size_t)n, s->portid, fn, arg, &done_seq);
		if (r < 0)
			return -1;
		if (r == 1 && done_seq == seq)
			return 0;
	}
}

void nlm_attrs_of_msg(struct nlm_attrs *it, const struct nlmsghdr *msg, size_t family_len)
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(family_len);
	it->at = (const unsigned char *)msg + off;
	it->left = msg->nlmsg_len > off ? msg->nlmsg_len - off : 0;
}

void nlm_attrs_of_nest(struct nlm_attrs *it, const struct nlattr *nest)
{
	it->at = (const unsigned char *)nest + NLA_HDRLEN;
	it->left = nest->nla_len > NLA_HDRLEN ? nest->nla_len - NLA_HDRLEN : 0;
}

const struct nlattr *nlm_attr_next(struct nlm_attrs *it)
{
	if (it->left < NLA_HDRLEN)
		return NULL;
	const struct nlattr *a = (const struct nlattr *)it->at;
	if (a->nla_len < NLA_HDRLEN || a->nla_len > it->left) {
		it->left = 0;   /* nothing after a bad length can be trusted */
		return NULL;
	}
	size_t step = (size_t)NLA_ALIGN(a->nla_len);
	if (step > it->left)
		step = it->left;
	it->at += step;
	it->left -= step;
	return a;
}
