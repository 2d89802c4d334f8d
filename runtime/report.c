/* report.c: the freeze report (capsule-abi/cap_report.h): threads, descriptors and TCP state at a freeze. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include "capsule-abi/cap_report.h"
#include "lwip-port/lp_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"

/* musl parks a condition-variable waiter on a node in its own stack frame, just above its rsp. */
#define COND_NODE_REACH (64 * 1024)

struct report_out {
	unsigned char *base;
	size_t cap, used;
	struct cap_report_header *hdr;
};

static void *report_take(struct report_out *o, size_t len)
{
	if (o->used + len > o->cap) {
		o->hdr->truncated = 1;
		return 0;
	}
	void *p = o->base + o->used;
	o->used += len;
	memset(p, 0, len);
	return p;
}

/* The descriptor whose file uses lwIP socket s, or -1. */
static int fd_of_socket(int s)
{
	for (int fd = 0; fd < RT_MAX_FDS; fd++) {
		struct rt_file *f = rt_fd_get(fd);
		if (f && f->kind == RT_F_SOCKET && f->sock == s)
			return fd;
	}
	return -1;
}

/* "pipe read fd 4" if q belongs to a pipe that has a descriptor; 0 otherwise. */
static int describe_pipe_wait(const struct rt_waitq *q, char *out, size_t len)
{
	for (int fd = 0; fd < RT_MAX_FDS; fd++) {
		struct rt_file *f = rt_fd_get(fd);
		if (!f || (f->kind != RT_F_PIPE_R && f->kind != RT_F_PIPE_W))
			continue;
		int side = rt_pipe_owns_waitq(f->pipe, q);
		if (side && (side == 1) == (f->kind == RT_F_PIPE_R)) {
			snprintf(out, len, "pipe %s fd %d", side == 1 ? "read" : "write", fd);
			return 1;
		}
	}
	return 0;
}

/* What a thread waits for, as specific as we can tell: "accept fd 3", "recv fd 5", "cond", ... */
static void describe_wait(const struct rt_thread *t, char *out, size_t len)
{
	const char *why = t->why ? t->why : "";
	int sock = -1;
	const char *lw = lp_report_wait(t->wq, why, &sock);
	if (lw) {
		int fd = sock >= 0 ? fd_of_socket(sock) : -1;
		if (fd >= 0)
			snprintf(out, len, "%s fd %d", lw, fd);
		else
			snprintf(out, len, "%s", lw);
		return;
	}
	if (!strcmp(why, "futex") && t->futex_addr) {
		uintptr_t a = (uintptr_t)t->futex_addr;
		if (a >= t->rsp && a - t->rsp < COND_NODE_REACH)
			snprintf(out, len, "cond");
		else
			snprintf(out, len, "futex %#lx", (unsigned long)a);
		return;
	}
	if (!strncmp(why, "pipe", 4) && describe_pipe_wait(t->wq, out, len))
		return;
	snprintf(out, len, "%s", why);
}

static void report_threads(struct report_out *o)
{
	const struct rt_thread *self = rt_self();
	for (int i = 0; i < rt_thread_slots(); i++) {
		const struct rt_thread *t = rt_thread_slot(i);
		if (t->state == RT_T_FREE || t->state == RT_T_DEAD)
			continue;
		struct cap_report_thread *r = report_take(o, sizeof *r);
		if (!r)
			return;
		r->tid = t->tid;
		r->state = t == self ? CAP_THREAD_CURRENT :
		           t->state == RT_T_BLOCKED ? CAP_THREAD_BLOCKED : CAP_THREAD_RUNNABLE;
		if (t->state == RT_T_BLOCKED)
			describe_wait(t, r->blocked_on, sizeof r->blocked_on);
		r->deadline_ns = (int64_t)t->deadline;
		o->hdr->nthreads++;
	}
}

static void report_file(const struct rt_file *f, struct cap_report_fd *r)
{
	uint32_t writer = f->kind == RT_F_PIPE_W;
	const char *dev = 0;
	switch (f->kind) {
	case RT_F_CONSOLE:
		r->kind = CAP_RFD_CONSOLE;
		break;
	case RT_F_PIPE_R:
	case RT_F_PIPE_W:
		r->kind = writer ? CAP_RFD_PIPE_W : CAP_RFD_PIPE_R;
		rt_pipe_info(f->pipe, (int)writer, &r->u.pipe.buffered, &r->u.pipe.capacity,
		             &r->u.pipe.peer_open);
		break;
	case RT_F_TMPFILE:
	case RT_F_DIR:
		r->kind = f->kind == RT_F_DIR ? CAP_RFD_DIR : CAP_RFD_FILE;
		snprintf(r->u.file.path, sizeof r->u.file.path, "%s", rt_tmpfs_path(f->node));
		r->u.file.size = f->kind == RT_F_DIR ? 0 : rt_tmpfs_size(f->node);
		r->u.file.offset = f->off;
		break;
	case RT_F_SOCKET: {
		int kind = f->sock >= 0 ? lp_report_socket(f->sock, &r->u.sock) : 0;
		r->kind = kind ? (uint32_t)kind : CAP_RFD_TCP;
		break;
	}
	case RT_F_EPOLL:
		r->kind = CAP_RFD_EPOLL;
		break;
	case RT_F_NULL:   dev = "/dev/null"; break;
	case RT_F_ZERO:   dev = "/dev/zero"; break;
	case RT_F_RANDOM: dev = "/dev/urandom"; break;
	default: break;
	}
	if (dev) {
		r->kind = CAP_RFD_DEV;
		snprintf(r->u.file.path, sizeof r->u.file.path, "%s", dev);
	}
}

static void report_fds(struct report_out *o)
{
	for (int fd = 0; fd < RT_MAX_FDS; fd++) {
		struct rt_file *f = rt_fd_get(fd);
		if (!f)
			continue;
		struct cap_report_fd *r = report_take(o, sizeof *r);
		if (!r)
			return;
		r->fd = fd;
		r->flags = (uint32_t)f->flags;
		report_file(f, r);
		o->hdr->nfds++;
	}
}

uint32_t rt_report_write(void *dst, size_t cap, int64_t now_ns)
{
	struct report_out o = { dst, cap, 0, 0 };
	if (cap < sizeof *o.hdr)
		return 0;
	o.hdr = dst;
	memset(o.hdr, 0, sizeof *o.hdr);
	o.used = sizeof *o.hdr;
	o.hdr->magic = CAP_REPORT_MAGIC;
	o.hdr->version = CAP_REPORT_VERSION;
	o.hdr->now_ns = now_ns;
	o.hdr->arena_size = (uint64_t)rt_mem_total();
	o.hdr->arena_used = (uint64_t)(rt_mem_total() - rt_mem_free());
	/* All threads first, then all descriptors: the layout cap_report.h promises. */
	report_threads(&o);
	if (!o.hdr->truncated)
		report_fds(&o);
	return (uint32_t)o.used;
}
