/* report.c: the freeze report (capsule-abi/cap_report.h): threads, descriptors and TCP state at a freeze. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"

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

/* "recv fd 5" if a thread blocked on q (reason why) waits for a descriptor's file; 0 otherwise. */
static int describe_file_wait(const struct rt_waitq *q, const char *why, char *out, size_t len)
{
	for (int fd = 0; fd < rt_fd_high_water(); fd++) {
		struct rt_file *f = rt_fd_get(fd);
		const char *name = f && f->ops->wait_name ? f->ops->wait_name(f, q, why) : 0;
		if (name) {
			snprintf(out, len, "%s fd %d", name, fd);
			return 1;
		}
	}
	return 0;
}

/* What a thread waits for, as specific as we can tell: "accept fd 3", "recv fd 5", "cond", ... */
static void describe_wait(const struct rt_thread *t, char *out, size_t len)
{
	const char *why = t->why ? t->why : "";
	const struct rt_net_ops *net = rt_net();
	if (describe_file_wait(t->wq, why, out, len))
		return;
	const char *stack_wait = net && net->wait_name ? net->wait_name(t->wq, why) : 0;
	if (stack_wait) {
		snprintf(out, len, "%s", stack_wait);
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

/*
 * pid 1: the stack's sockets behind the ones its processes share
 * (sockrelay.c), as fd -1, with their sequence numbers: a gateway holds
 * those connections while the capsule is frozen.
 */
static void report_stack_socket(struct rt_file *f, void *arg)
{
	struct report_out *o = arg;
	struct cap_report_fd *r = o->hdr->truncated ? 0 : report_take(o, sizeof *r);
	if (!r)
		return;
	r->fd = -1;
	r->flags = (uint32_t)f->flags;
	if (f->ops->report)
		f->ops->report(f, r);
	o->hdr->nfds++;
}

static void report_fds(struct report_out *o)
{
	for (int fd = 0; fd < rt_fd_high_water(); fd++) {
		struct rt_file *f = rt_fd_get(fd);
		if (!f)
			continue;
		struct cap_report_fd *r = report_take(o, sizeof *r);
		if (!r)
			return;
		r->fd = fd;
		r->flags = (uint32_t)f->flags;
		if (f->ops->report)
			f->ops->report(f, r);
		o->hdr->nfds++;
	}
	rt_relay_each_stack_socket(report_stack_socket, o);
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
