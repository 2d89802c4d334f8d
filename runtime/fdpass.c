/* fdpass.c: descriptors passed over socket pairs (SCM_RIGHTS), between threads or processes of a capsule: each rides in the ring beside its message's first byte as a description of its rings (rt_pipe.h), and whoever reads that byte makes an open file of its own from it. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_sys.h"

static struct rt_passed_fd described(const struct rt_pipe_passed *rec, uint32_t i)
{
	struct rt_passed_fd d;
	memcpy(&d, rec->what[i], sizeof d);
	return d;
}

/* A description nobody will receive: its copy's counts go, as a close would take them. */
static void drop_one(const struct rt_passed_fd *d)
{
	if (d->kind == RT_PASS_LISTENER)
		rt_relay_listener_drop(d);
	if (d->kind == RT_PASS_TMPFILE)
		rt_tmpfile_passed_drop(d);
	if (d->in)
		rt_pipe_drop(d->in, 0, d->from_slot);
	if (d->out)
		rt_pipe_drop(d->out, 1, d->from_slot);
}

void rt_fdpass_drop(struct rt_pipe_passed *rec)
{
	for (uint32_t i = 0; i < rec->n && i < RT_PASSED_FDS; i++) {
		struct rt_passed_fd d = described(rec, i);
		drop_one(&d);
	}
	rec->n = 0;
}

struct rt_file *rt_fdpass_receive(const struct rt_passed_fd *d)
{
	switch (d->kind) {
	case RT_PASS_PIPE_R: case RT_PASS_PIPE_W: return rt_pipe_end_receive(d);
	case RT_PASS_UNIX: return rt_unix_end_receive(d);
	case RT_PASS_TCP: return rt_relay_end_receive(d);
	case RT_PASS_LISTENER: return rt_relay_listener_receive(d);
	case RT_PASS_TMPFILE: return rt_tmpfile_receive(d);
	default: return 0;
	}
}

/* The descriptors of m's SCM_RIGHTS messages, described into rec; 0 or -errno (none left counted). */
static long describe(const struct msghdr *m, struct rt_pipe_passed *rec)
{
	long err = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c && !err; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			err = c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS ? -EOPNOTSUPP : -EINVAL;
			break;
		}
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const unsigned char *fds = CMSG_DATA(c);
		for (size_t i = 0; i < n && !err; i++) {
			int fd;
			memcpy(&fd, fds + i * sizeof fd, sizeof fd);
			struct rt_file *f = rt_fd_get(fd);
			struct rt_passed_fd d;
			memset(&d, 0, sizeof d);
			if (f && !f->ops->pass && f->ops->sock && !f->ops->fork)
				rt_relay_share_now(f);   /* pid 1's own TCP socket: shared first (sockrelay.c) */
			if (!f)
				err = -EBADF;
			else if (rec->n == RT_PASSED_FDS)
				err = -ETOOMANYREFS;
			else if (!f->ops->pass)
				err = -EOPNOTSUPP;   /* console, files, epoll, ...: see docs/RUNNING.md */
			else
				err = f->ops->pass(f, &d);
			if (err)
				break;
			d.from_slot = rt_proc_slot();
			memcpy(rec->what[rec->n++], &d, sizeof d);
		}
	}
	if (err)
		rt_fdpass_drop(rec);
	return err;
}

long rt_fdpass_sendmsg(struct rt_file *f, const struct msghdr *m, int nonblock)
{
	struct rt_unix_end *e = f->priv;
	if (m->msg_name && m->msg_namelen)
		return -EISCONN;
	if (e->wr_shut)
		return -EPIPE;
	struct rt_pipe_passed rec;
	memset(&rec, 0, offsetof(struct rt_pipe_passed, what));
	long r = describe(m, &rec);
	if (r < 0)
		return r;
	const struct rt_iovec *iov = (const struct rt_iovec *)m->msg_iov;
	long total = 0;
	int sent_with = !rec.n;   /* the descriptors go with the first byte written */
	for (int i = 0; i < m->msg_iovlen; i++) {
		if (!iov[i].len)
			continue;
		r = rt_pipe_write_passed(e->out, iov[i].base, iov[i].len, nonblock || total, sent_with ? 0 : &rec);
		if (r < 0)
			break;
		sent_with = 1;
		total += r;
		if ((size_t)r < iov[i].len)
			break;
	}
	if (!sent_with)
		rt_fdpass_drop(&rec);   /* nothing written (or nothing to write): nothing passed */
	return total ? total : r < 0 ? r : 0;
}

/* Receive rec's descriptors: installed, and named in m's control buffer as far as it holds them. */
static void deliver(struct rt_pipe_passed *rec, struct msghdr *m, int flags)
{
	size_t room = m->msg_control ? m->msg_controllen : 0;
	size_t fit = room >= CMSG_LEN(0) ? (room - CMSG_LEN(0)) / sizeof(int) : 0;
	int fds[RT_PASSED_FDS], n = 0;
	for (uint32_t i = 0; i < rec->n; i++) {
		struct rt_passed_fd d = described(rec, i);
		if ((size_t)n >= fit) {
			drop_one(&d);   /* no room to name it: closed, and MSG_CTRUNC says so */
			m->msg_flags |= MSG_CTRUNC;
			continue;
		}
		struct rt_file *nf = rt_fdpass_receive(&d);
		long fd = nf ? rt_fd_install_new(nf, (flags & MSG_CMSG_CLOEXEC) != 0) : -ENOMEM;
		if (fd < 0) {
			m->msg_flags |= MSG_CTRUNC;   /* out of memory or descriptors: as Linux, it is lost */
			continue;
		}
		fds[n++] = (int)fd;
	}
	if (!n) {
		m->msg_controllen = 0;
		return;
	}
	struct cmsghdr *c = m->msg_control;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	m->msg_controllen = CMSG_SPACE(n * sizeof(int)) <= room ? CMSG_SPACE(n * sizeof(int)) : c->cmsg_len;
}

long rt_fdpass_recvmsg(struct rt_file *f, struct msghdr *m, int flags, int nonblock)
{
	struct rt_unix_end *e = f->priv;
	if (flags & ~(MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_NOSIGNAL))
		return -EOPNOTSUPP;   /* MSG_PEEK, MSG_OOB; MSG_WAITALL goes the plain way (socket.c) */
	m->msg_flags = 0;
	if (m->msg_name)
		m->msg_namelen = 0;   /* the peer is unnamed */
	if (e->rd_shut) {
		m->msg_controllen = 0;
		return 0;
	}
	const struct rt_iovec *iov = (const struct rt_iovec *)m->msg_iov;
	struct rt_pipe_passed rec;
	int got = 0;
	long total = 0, r = 0;
	for (int i = 0; i < m->msg_iovlen; i++) {
		if (!iov[i].len)
			continue;
		r = rt_pipe_read_passed(e->in, iov[i].base, iov[i].len, nonblock || total, &rec, &got);
		if (r <= 0)
			break;
		total += r;
		if (got || (size_t)r < iov[i].len)
			break;   /* a message with descriptors ends the read, as on Linux */
	}
	if (got)
		deliver(&rec, m, flags);
	else
		m->msg_controllen = 0;
	return total ? total : r;
}
