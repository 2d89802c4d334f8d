/* test_rt_poll.c: poll, select and epoll (runtime/poll.c) on the host, over fake files and a fake scheduler. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <cmocka.h>

#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"

/* ---- a fake kind whose readiness (and bytes to read) the test sets ---- */
struct fake { int ready; int console; long nread; };

static int fake_poll(struct rt_file *f, int events)
{
	return ((struct fake *)f->priv)->ready & (events | POLLERR | POLLHUP);
}

static int fake_watches(struct rt_file *f)
{
	return ((struct fake *)f->priv)->console;
}

static long fake_nread(struct rt_file *f)
{
	return ((struct fake *)f->priv)->nread;
}

static const struct rt_file_ops fake_ops = {
	.poll = fake_poll, .watches_console = fake_watches, .nread = fake_nread,
};
static const struct rt_file_ops always_ready_ops = { 0 };   /* no poll: a regular file */

static struct rt_file consoles[3];
struct rt_file *rt_console_file(int fd)
{
	consoles[fd] = (struct rt_file){ .refs = 2, .ops = &always_ready_ops, .handle = fd };
	return &consoles[fd];
}

/* ---- a fake scheduler: rt_wait runs "another thread" (wake_action) or times out ---- */
int rt_console_watchers;
static int waits, watchers_seen, io_changes;
static uint64_t deadline_seen;
static struct fake *wake_target;
static int wake_with;

int rt_wait(struct rt_waitq *q, uint64_t deadline_ns, const char *why)
{
	assert_ptr_equal(q, &rt_io_waitq);
	assert_string_equal(why, "poll");
	waits++;
	watchers_seen = rt_console_watchers;
	deadline_seen = deadline_ns;
	if (!wake_target)
		return -ETIMEDOUT;
	wake_target->ready = wake_with;
	wake_target = 0;
	return 0;
}

uint64_t rt_now_ns(void)
{
	return 1000;
}

void rt_io_changed(void)
{
	io_changes++;
}

/* Signals: the test raises one by setting signal_handlers_to_run (a handler that runs in a wait). */
static int signal_handlers_to_run;
int rt_signal_deliver_unblocked(void)
{
	int n = signal_handlers_to_run;
	signal_handlers_to_run = 0;
	return n;
}

static int open_fake(struct fake *k, int ready)
{
	k->ready = ready;
	k->console = 0;
	k->nread = 0;
	struct rt_file *f = rt_file_new(&fake_ops, O_RDWR);
	assert_non_null(f);
	f->priv = k;
	return (int)rt_fd_install_new(f, 0);
}

static void reset_scheduler(void)
{
	waits = watchers_seen = io_changes = 0;
	deadline_seen = 0;
	wake_target = 0;
}

static void test_poll_now_and_later(void **state)
{
	(void)state;
	struct fake a, b;
	int fa = open_fake(&a, POLLOUT), fb = open_fake(&b, 0);
	struct pollfd p[3] = { { fa, POLLIN | POLLOUT, 0 }, { fb, POLLIN, 0 }, { 900, POLLIN, 0 } };
	reset_scheduler();
	assert_int_equal(rt_sys_poll(p, 3, 0), 2);
	assert_int_equal(p[0].revents, POLLOUT);
	assert_int_equal(p[1].revents, 0);
	assert_int_equal(p[2].revents, POLLNVAL);
	assert_int_equal(waits, 0);
	/* Nothing ready: sleep until another thread makes b readable. */
	struct pollfd q = { fb, POLLIN, 0 };
	wake_target = &b;
	wake_with = POLLIN | POLLHUP;
	assert_int_equal(rt_sys_poll(&q, 1, -1), 1);
	assert_int_equal(q.revents, POLLIN | POLLHUP);   /* POLLHUP even unasked */
	assert_int_equal(waits, 1);
	assert_int_equal(deadline_seen, 0);
	/* A timeout: one wait with a deadline, then one last look. */
	b.ready = 0;
	reset_scheduler();
	assert_int_equal(rt_sys_poll(&q, 1, 5000), 0);
	assert_int_equal(waits, 1);
	assert_int_equal(deadline_seen, 6000);
	assert_int_equal(rt_sys_poll(&q, RT_DEFAULT_FDS + 1, 0), -EINVAL);
	rt_sys_close(fa);
	rt_sys_close(fb);
}

static void test_console_watch_while_waiting(void **state)
{
	(void)state;
	struct fake c;
	int fc = open_fake(&c, 0);
	c.console = 1;
	struct pollfd p = { fc, POLLIN, 0 };
	reset_scheduler();
	assert_int_equal(rt_sys_poll(&p, 1, 10), 0);
	assert_int_equal(watchers_seen, 1);
	assert_int_equal(rt_console_watchers, 0);   /* given back */
	p.events = POLLOUT;                           /* only reading needs console input */
	reset_scheduler();
	rt_sys_poll(&p, 1, 10);
	assert_int_equal(watchers_seen, 0);
	rt_sys_close(fc);
}

static void test_select_sets(void **state)
{
	(void)state;
	struct fake a, b;
	int fa = open_fake(&a, POLLIN), fb = open_fake(&b, POLLOUT);
	fd_set r, w;
	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(fa, &r);
	FD_SET(fb, &r);
	FD_SET(fb, &w);
	reset_scheduler();
	assert_int_equal(rt_sys_select(fb + 1, &r, &w, 0, 0), 2);
	assert_true(FD_ISSET(fa, &r));
	assert_false(FD_ISSET(fb, &r));
	assert_true(FD_ISSET(fb, &w));
	FD_ZERO(&r);
	FD_SET(77, &r);
	assert_int_equal(rt_sys_select(78, &r, 0, 0, 0), -EBADF);
	assert_int_equal(rt_sys_select(-1, 0, 0, 0, 0), -EINVAL);
	rt_sys_close(fa);
	rt_sys_close(fb);
}

static void test_epoll(void **state)
{
	(void)state;
	struct fake a, b;
	int fa = open_fake(&a, 0), fb = open_fake(&b, 0);
	int ep = (int)rt_sys_epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 11 }, out[4];
	reset_scheduler();
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev), 0);
	assert_int_equal(io_changes, 1);   /* a waiter may now have something to see */
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev), -EEXIST);
	ev.events = EPOLLOUT | EPOLLONESHOT;
	ev.data.u64 = 22;
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_MOD, fb, &ev), -ENOENT);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fb, &ev), 0);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), -EPERM);
	assert_int_equal(rt_sys_epoll_ctl(fa, EPOLL_CTL_ADD, fb, &ev), -EINVAL);   /* fa is no epoll set */
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, 500, &ev), -EBADF);

	/* A file without poll is always ready: epoll refuses it, as Linux refuses regular files. */
	struct rt_file *plain = rt_file_new(&always_ready_ops, O_RDONLY);
	int fp = (int)rt_fd_install_new(plain, 0);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fp, &ev), -EPERM);
	rt_sys_close(fp);

	/* Waits until b becomes writable; ONESHOT then disables it. */
	wake_target = &b;
	wake_with = POLLOUT;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 4, -1), 1);
	assert_int_equal(out[0].events, EPOLLOUT);
	assert_int_equal(out[0].data.u64, 22);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 4, 0), 0);
	a.ready = POLLIN;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 4, 0), 1);
	assert_int_equal(out[0].data.u64, 11);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 0, 0), -EINVAL);
	/* A closed descriptor leaves the set. */
	rt_sys_close(fa);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 4, 0), 0);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_DEL, fb, 0), 0);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_DEL, fb, 0), -ENOENT);
	/* The set itself is never ready, and cannot be read. */
	assert_int_equal(rt_fd_poll(ep, POLLIN | POLLOUT), 0);
	char c;
	assert_int_equal(rt_sys_read(ep, &c, 1), -EINVAL);
	rt_sys_close(fb);
	rt_sys_close(ep);
}

/* EPOLLET: once per edge (became ready, more to read, or ready again after an EAGAIN), not per scan. */
static void test_epoll_edge_triggered(void **state)
{
	(void)state;
	struct fake a;
	int fa = open_fake(&a, 0);
	int ep = (int)rt_sys_epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 7 }, out[2];
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev), 0);
	reset_scheduler();
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	a.ready = POLLIN;
	a.nread = 10;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(out[0].events, EPOLLIN);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);      /* unread: no new edge */
	a.nread = 4;                                                 /* partly read */
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	a.nread = 20;                                                /* new data */
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	struct rt_file *f = rt_fd_get(fa);
	f->eagain_in++;                                              /* drained, then refilled */
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	a.ready = 0;                                                 /* gone, then back: an edge */
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	a.ready = POLLIN;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	/* A write EAGAIN makes no read edge; POLLOUT's own edge needs one. */
	f->eagain_out++;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	ev.events = EPOLLOUT | EPOLLET;
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_MOD, fa, &ev), 0);
	a.ready = POLLOUT;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	f->eagain_out++;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	/* A wait that blocks returns at the edge another thread makes. */
	a.ready = 0;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	wake_target = &a;
	wake_with = POLLOUT;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, -1), 1);
	rt_sys_close(ep);
	rt_sys_close(fa);
}

static void test_epoll_oneshot(void **state)
{
	(void)state;
	struct fake a;
	int fa = open_fake(&a, POLLIN);
	int ep = (int)rt_sys_epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 3 }, out[2];
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev), 0);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	a.nread = 100;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_MOD, fa, &ev), 0);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(out[0].data.u64, 3);
	/* One-shot and edge-triggered together: re-armed, what is ready now counts once more. */
	ev.events = EPOLLIN | EPOLLONESHOT | EPOLLET;
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_MOD, fa, &ev), 0);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 1);
	assert_int_equal(rt_sys_epoll_wait(ep, out, 2, 0), 0);
	rt_sys_close(ep);
	rt_sys_close(fa);
}

/* A signal handler that runs during the wait: EINTR, unless something is ready too (Linux's order). */
static void test_wait_interrupted_by_signal(void **state)
{
	(void)state;
	struct fake a, b;
	int fa = open_fake(&a, 0), fb = open_fake(&b, 0);
	struct pollfd p = { fa, POLLIN, 0 };
	reset_scheduler();
	signal_handlers_to_run = 1;
	assert_int_equal(rt_sys_poll(&p, 1, -1), -EINTR);
	signal_handlers_to_run = 1;
	wake_target = &a;
	wake_with = POLLIN;
	assert_int_equal(rt_sys_poll(&p, 1, -1), 1);
	int ep = (int)rt_sys_epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN }, out[1];
	assert_int_equal(rt_sys_epoll_ctl(ep, EPOLL_CTL_ADD, fb, &ev), 0);
	signal_handlers_to_run = 1;
	assert_int_equal(rt_sys_epoll_wait(ep, out, 1, 1000), -EINTR);
	rt_sys_close(ep);
	rt_sys_close(fa);
	rt_sys_close(fb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_now_and_later),
		cmocka_unit_test(test_console_watch_while_waiting),
		cmocka_unit_test(test_select_sets),
		cmocka_unit_test(test_epoll),
		cmocka_unit_test(test_epoll_edge_triggered),
		cmocka_unit_test(test_epoll_oneshot),
		cmocka_unit_test(test_wait_interrupted_by_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
