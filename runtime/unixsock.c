/* unixsock.c: socketpair(AF_UNIX, SOCK_STREAM): two connected ends, each reading one pipe (rt_pipe.h) and writing the other, shared across fork like pipes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_net.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_sys.h"

/*
 * One end (struct rt_unix_end, rt_pipe.h): it reads `in` and writes `out`; its peer has
 * them the other way round.  shutdown(SHUT_RD) closes its reading of `in` (the peer's
 * writes then fail with EPIPE once no end reads, as on Linux), SHUT_WR ends the writing of
 * `out` for every end of this socket, in whichever process (the peer reads end of file after
 * what is buffered; a copy a fork made gets EPIPE).  Everything is in the capsule's memory,
 * so a pair moves with a snapshot.
 */

static struct rt_unix_end *end_of(struct rt_file *f)
{
	return f->priv;
}

static long end_read_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)pos;
	struct rt_unix_end *e = end_of(f);
	return e->rd_shut ? 0 : rt_pipe_read(e->in, buf, len, nonblock);
}

static long end_write_one(struct rt_file *f, void *buf, size_t len, int64_t pos, int nonblock)
{
	(void)pos;
	struct rt_unix_end *e = end_of(f);
	return e->wr_shut ? -EPIPE : rt_pipe_write(e->out, buf, len, nonblock);
}

static long end_read(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 0, end_read_one);
}

static long end_write(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	return rt_file_rw_each(f, iov, iovcnt, pos, 1, end_write_one);
}

/*
 * As Linux's unix_poll: readable with data or once nothing more can come (the peer
 * shut its writing or closed: POLLIN | POLLRDHUP); POLLHUP when neither direction is
 * left; writable while there is room (a write to a closed peer then fails with EPIPE).
 */
static int end_poll(struct rt_file *f, int events)
{
	struct rt_unix_end *e = end_of(f);
	int r = 0;
	int rd_over = e->rd_shut || (rt_pipe_poll(e->in, 0, 0) & POLLHUP);
	int wr_over = e->wr_shut || (rt_pipe_poll(e->out, 1, 0) & POLLERR);
	if (rd_over || (!e->rd_shut && (rt_pipe_poll(e->in, 0, POLLIN) & POLLIN)))
		r |= POLLIN | POLLRDNORM;
	if (rd_over)
		r |= POLLRDHUP;
	if (!e->wr_shut && (rt_pipe_poll(e->out, 1, POLLOUT) & POLLOUT))
		r |= POLLOUT | POLLWRNORM;
	if (rd_over && wr_over)
		r |= POLLHUP;
	return r & (events | POLLHUP);
}

static long end_nread(struct rt_file *f)
{
	struct rt_unix_end *e = end_of(f);
	return e->rd_shut ? 0 : rt_pipe_nread(e->in);
}

static void end_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
	st->st_blksize = 4096;
}

static void end_shut(struct rt_unix_end *e, int rd, int wr)
{
	if (rd && !e->rd_shut) {
		e->rd_shut = 1;
		rt_pipe_close(e->in, 0);
	}
	if (wr && !e->wr_shut) {
		e->wr_shut = 1;
		rt_pipe_close(e->out, 1);
	}
}

static void end_release(struct rt_file *f)
{
	struct rt_unix_end *e = end_of(f);
	end_shut(e, 1, 1);
	free(e);
}

static void end_report(struct rt_file *f, struct cap_report_fd *r)
{
	struct rt_unix_end *e = end_of(f);
	uint32_t peer_reads = 0, peer_writes = 0;
	r->kind = CAP_RFD_UNIX;
	r->u.pipe.capacity = RT_PIPE_SIZE;
	if (!e->rd_shut)
		rt_pipe_info(e->in, 0, &r->u.pipe.buffered, &r->u.pipe.capacity, &peer_writes);
	if (!e->wr_shut)
		rt_pipe_info(e->out, 1, &(uint32_t){ 0 }, &(uint32_t){ 0 }, &peer_reads);
	r->u.pipe.peer_open = peer_reads || peer_writes;
}

static const char *end_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)why;
	struct rt_unix_end *e = end_of(f);
	if (!e->rd_shut && rt_pipe_owns_waitq(e->in, q) == 1)
		return "unix recv";
	if (!e->wr_shut && rt_pipe_owns_waitq(e->out, q) == 2)
		return "unix send";
	return 0;
}

/* ---- the socket calls ---- */

static long already_connected(struct rt_file *f, const void *addr, uint32_t len)
{
	(void)f; (void)addr; (void)len;
	return -EINVAL;   /* bind: Linux's answer for a connected pair's end too (autobound) */
}

static long no_listen(struct rt_file *f, int backlog)
{
	(void)f; (void)backlog;
	return -EINVAL;
}

static long no_accept(struct rt_file *f, void *addr, uint32_t *len, int nonblock, int flags, struct rt_file **out)
{
	(void)f; (void)addr; (void)len; (void)nonblock; (void)flags; (void)out;
	return -EINVAL;
}

static long no_connect(struct rt_file *f, const void *addr, uint32_t len, int nonblock)
{
	(void)f; (void)addr; (void)nonblock;
	return len <= sizeof(sa_family_t) ? -EINVAL : -EISCONN;   /* Linux checks the address first */
}

/* One call's nonblock wins over the file's O_NONBLOCK for rt_file_rw_each. */
static long with_nonblock(struct rt_file *f, int nonblock, const void *iov, int iovcnt, int write)
{
	int saved = f->flags;
	if (nonblock)
		f->flags |= O_NONBLOCK;
	long r = write ? end_write(f, iov, iovcnt, -1) : end_read(f, iov, iovcnt, -1);
	f->flags = saved;
	return r;
}

static long end_sendmsg(struct rt_file *f, const void *iov, int iovcnt, const void *addr, uint32_t addrlen,
                        int flags, int nonblock)
{
	if (addr && addrlen)
		return -EISCONN;
	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_EOR | MSG_MORE))
		return -EOPNOTSUPP;
	return with_nonblock(f, nonblock, iov, iovcnt, 1);
}

static long end_recvmsg(struct rt_file *f, const void *iov, int iovcnt, void *addr, uint32_t *addrlen,
                        int flags, int nonblock, int *msg_flags_out)
{
	if (flags & ~(MSG_DONTWAIT | MSG_WAITALL | MSG_CMSG_CLOEXEC))
		return -EOPNOTSUPP;   /* MSG_PEEK, MSG_OOB, ... */
	*msg_flags_out = 0;
	if (addr && addrlen)
		*addrlen = 0;   /* the peer is unnamed */
	const struct rt_iovec *v = iov;
	long total = with_nonblock(f, nonblock, iov, iovcnt, 0);
	if (!(flags & MSG_WAITALL) || nonblock || total <= 0)
		return total;
	size_t want = 0;
	for (int i = 0; i < iovcnt; i++)
		want += v[i].len;
	while ((size_t)total < want) {   /* until full or end of file */
		size_t skip = (size_t)total;
		int i = 0;
		while (skip >= v[i].len)
			skip -= v[i++].len;
		struct rt_iovec first = { (char *)v[i].base + skip, v[i].len - skip };
		long r = with_nonblock(f, 0, &first, 1, 0);
		if (r <= 0)
			break;
		total += r;
	}
	return total;
}

static long end_shutdown(struct rt_file *f, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	struct rt_unix_end *e = end_of(f);
	if (how != SHUT_RD && !e->wr_shut)
		rt_pipe_shut_writes(e->out);   /* for every process holding this socket, as on Linux */
	end_shut(e, how != SHUT_WR, how != SHUT_RD);
	return 0;
}

static long end_getsockopt(struct rt_file *f, int level, int name, void *val, uint32_t *len)
{
	(void)f;
	if (level != SOL_SOCKET)
		return -EOPNOTSUPP;
	int v;
	switch (name) {
	case SO_TYPE: v = SOCK_STREAM; break;
	case SO_DOMAIN: v = AF_UNIX; break;
	case SO_PROTOCOL: case SO_ERROR: case SO_ACCEPTCONN: v = 0; break;
	case SO_SNDBUF: case SO_RCVBUF: v = RT_PIPE_SIZE; break;
	default: return -ENOPROTOOPT;
	}
	if (*len < sizeof v)
		return -EINVAL;
	memcpy(val, &v, sizeof v);
	*len = sizeof v;
	return 0;
}

static long end_setsockopt(struct rt_file *f, int level, int name, const void *val, uint32_t len)
{
	(void)f; (void)val;
	if (level != SOL_SOCKET)
		return -EOPNOTSUPP;
	if (len < sizeof(int))
		return -EINVAL;
	switch (name) {
	case SO_SNDBUF: case SO_RCVBUF: case SO_SNDBUFFORCE: case SO_RCVBUFFORCE:
	case SO_PASSCRED: case SO_KEEPALIVE: case SO_REUSEADDR:
		return 0;   /* the buffers stay 64 KiB */
	default:
		return -ENOPROTOOPT;
	}
}

/* Both ends are unnamed: just the family. */
static long end_name(struct rt_file *f, void *addr, uint32_t *len)
{
	(void)f;
	sa_family_t fam = AF_UNIX;
	memcpy(addr, &fam, *len < sizeof fam ? *len : sizeof fam);
	*len = sizeof fam;
	return 0;
}

/* A fork: the child holds this end too, so both rings become shared (pipe.c). */
static void end_fork(struct rt_file *f, int undo)
{
	struct rt_unix_end *e = end_of(f);
	if (!e->rd_shut)
		rt_pipe_fork(e->in, 0, undo);
	if (!e->wr_shut)
		rt_pipe_fork(e->out, 1, undo);
}

static void end_forked(struct rt_file *f, unsigned child_slot, int child_pid)
{
	struct rt_unix_end *e = end_of(f);
	if (!e->rd_shut)
		rt_pipe_forked(e->in, 0, child_slot, child_pid);
	if (!e->wr_shut)
		rt_pipe_forked(e->out, 1, child_slot, child_pid);
}

/* SCM_RIGHTS: both rings counted as a copy in flight (as at a fork). */
long rt_unix_end_pass(struct rt_file *f, void *what)
{
	struct rt_unix_end *e = end_of(f);
	end_fork(f, 0);
	if ((!e->rd_shut && !rt_pipe_is_shared(e->in)) || (!e->wr_shut && !rt_pipe_is_shared(e->out))) {
		end_fork(f, 1);
		return -ENOMEM;   /* the shared window is full */
	}
	struct rt_passed_fd *d = what;
	d->kind = RT_PASS_UNIX;
	d->flags = f->flags;
	d->rd_shut = e->rd_shut;
	d->wr_shut = e->wr_shut;
	d->in = e->rd_shut ? 0 : rt_pipe_ring_of(e->in);
	d->out = e->wr_shut ? 0 : rt_pipe_ring_of(e->out);
	return 0;
}

/* An end on pipes in and out (0 for a direction shut down; shut bit 0: reading, bit 1: writing). */
static struct rt_file *end_adopt(struct rt_pipe *in, struct rt_pipe *out, int shut, int flags)
{
	struct rt_unix_end *e = calloc(1, sizeof *e);
	struct rt_file *f = e ? rt_file_new(&rt_unix_stream_ops, flags) : 0;
	if (!f) {
		free(e);
		return 0;
	}
	*e = (struct rt_unix_end){ .in = in, .out = out, .rd_shut = (shut & 1) != 0, .wr_shut = (shut & 2) != 0 };
	f->priv = e;
	return f;
}

struct rt_file *rt_unix_end_receive(const struct rt_passed_fd *d)
{
	struct rt_pipe *in = d->in ? rt_pipe_adopt(d->in, 0, d->from_slot) : 0;
	struct rt_pipe *out = d->out ? rt_pipe_adopt(d->out, 1, d->from_slot) : 0;
	/* No memory for a handle: that direction is shut, its count given up. */
	if (d->in && !in)
		rt_pipe_drop(d->in, 0, d->from_slot);
	if (d->out && !out)
		rt_pipe_drop(d->out, 1, d->from_slot);
	int shut = (d->rd_shut || !in ? 1 : 0) | (d->wr_shut || !out ? 2 : 0);
	struct rt_file *f = end_adopt(in, out, shut, d->flags);
	if (!f) {   /* no memory: the descriptor is closed */
		if (in)
			rt_pipe_close(in, 0);
		if (out)
			rt_pipe_close(out, 1);
	}
	return f;
}

const struct rt_sock_ops rt_unix_stream_sock_ops = {
	.bind = already_connected, .listen = no_listen, .accept = no_accept, .connect = no_connect,
	.sendmsg = end_sendmsg, .recvmsg = end_recvmsg, .shutdown = end_shutdown,
	.getsockopt = end_getsockopt, .setsockopt = end_setsockopt,
	.getsockname = end_name, .getpeername = end_name,
};

const struct rt_file_ops rt_unix_stream_ops = {
	.read = end_read, .write = end_write, .poll = end_poll, .nread = end_nread,
	.fstat = end_fstat, .release = end_release, .report = end_report, .wait_name = end_wait_name,
	.fork = end_fork, .forked = end_forked, .pass = rt_unix_end_pass, .sock = &rt_unix_stream_sock_ops,
};

int rt_unix_is_pair_end(const struct rt_file *f)
{
	return f->ops == &rt_unix_stream_ops;
}

long rt_unix_socketpair(int type, int *sv)
{
	int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
	if ((type & ~flags) != SOCK_STREAM)
		return -EOPNOTSUPP;   /* SOCK_DGRAM, SOCK_SEQPACKET: not yet */
	struct rt_pipe *a2b = rt_pipe_new(), *b2a = rt_pipe_new();
	struct rt_unix_end *ea = calloc(1, sizeof *ea), *eb = calloc(1, sizeof *eb);
	int fl = O_RDWR | ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0);
	struct rt_file *fa = rt_file_new(&rt_unix_stream_ops, fl), *fb = rt_file_new(&rt_unix_stream_ops, fl);
	if (!a2b || !b2a || !ea || !eb || !fa || !fb) {
		if (a2b) { rt_pipe_close(a2b, 0); rt_pipe_close(a2b, 1); }
		if (b2a) { rt_pipe_close(b2a, 0); rt_pipe_close(b2a, 1); }
		free(ea); free(eb); free(fa); free(fb);
		return -ENOMEM;
	}
	*ea = (struct rt_unix_end){ .in = b2a, .out = a2b };
	*eb = (struct rt_unix_end){ .in = a2b, .out = b2a };
	fa->priv = ea;
	fb->priv = eb;
	int cloexec = (flags & SOCK_CLOEXEC) != 0;
	long a = rt_fd_install_new(fa, cloexec);
	if (a < 0) {
		rt_file_unref(fb);
		return a;
	}
	long b = rt_fd_install_new(fb, cloexec);
	if (b < 0) {
		rt_sys_close((int)a);
		return b;
	}
	sv[0] = (int)a;
	sv[1] = (int)b;
	return 0;
}
