/* test_rt_report.c: the freeze report's layout and wait descriptions, with the runtime's tables stubbed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <cmocka.h>

#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"

/* ---- stubs: a tiny capsule with 4 threads and 4 descriptors, each kind a fake table ---- */
static struct rt_thread threads[4];
static struct rt_waitq accept_q, pipe_rq, other_q, tcpip_q;
static struct rt_file files[4];
static int cond_word;   /* stands in for a waiter node on a thread's stack */

struct rt_thread *rt_self(void) { return &threads[0]; }
struct rt_thread *rt_thread_slot(int i) { return &threads[i]; }
int rt_thread_slots(void) { return 4; }
long rt_mem_total(void) { return 1 << 20; }
long rt_mem_free(void) { return (1 << 20) - 8192; }

struct rt_file *rt_fd_get(int fd)
{
	return fd >= 0 && fd < 4 && files[fd].ops ? &files[fd] : 0;
}

int rt_fd_high_water(void)
{
	return 4;
}

static void console_report(struct rt_file *f, struct cap_report_fd *r)
{
	(void)f;
	r->kind = CAP_RFD_CONSOLE;
}

/* A socket the way a stack reports it: its handle names its port; it owns accept_q. */
static void sock_report(struct rt_file *f, struct cap_report_fd *r)
{
	r->kind = CAP_RFD_TCP;
	r->u.sock.local_port = (uint16_t)(9000 + f->handle);
	r->u.sock.tcp_state = CAP_TCP_LISTEN;
}

static const char *sock_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)why;
	return q == &accept_q && f->handle == 7 ? "accept" : 0;
}

static void pipe_report(struct rt_file *f, struct cap_report_fd *r)
{
	(void)f;
	r->kind = CAP_RFD_PIPE_R;
	r->u.pipe.buffered = 5;
	r->u.pipe.capacity = 65536;
	r->u.pipe.peer_open = 1;
}

static const char *pipe_wait_name(struct rt_file *f, const struct rt_waitq *q, const char *why)
{
	(void)f; (void)why;
	return q == &pipe_rq ? "pipe read" : 0;
}

static void file_report(struct rt_file *f, struct cap_report_fd *r)
{
	r->kind = CAP_RFD_FILE;
	strcpy(r->u.file.path, "/tmp/data.txt");
	r->u.file.size = 1234;
	r->u.file.offset = f->off;
}

static const struct rt_file_ops console_ops = { .report = console_report };
static const struct rt_file_ops sock_ops = { .report = sock_report, .wait_name = sock_wait_name };
static const struct rt_file_ops pipe_ops = { .report = pipe_report, .wait_name = pipe_wait_name };
static const struct rt_file_ops file_ops = { .report = file_report };

/* The stack's own queues, which no descriptor owns. */
static const char *stack_wait_name(const struct rt_waitq *q, const char *why)
{
	(void)why;
	return q == &tcpip_q || q == &accept_q ? "tcpip thread" : 0;
}

/* pid 1's relayed sockets (sockrelay.c): the stack's socket behind one shared connection. */
static struct rt_file relayed;
static int relaying;
void rt_relay_each_stack_socket(void (*fn)(struct rt_file *sock, void *arg), void *arg)
{
	if (relaying)
		fn(&relayed, arg);
}

static const struct rt_net_ops fake_net = { .wait_name = stack_wait_name };
static const struct rt_net_ops *registered_net;
const struct rt_net_ops *rt_net(void) { return registered_net; }

static void setup_capsule(void)
{
	memset(threads, 0, sizeof threads);
	memset(files, 0, sizeof files);
	threads[0] = (struct rt_thread){ .tid = 1, .state = RT_T_BLOCKED, .why = "poll", .wq = &other_q };
	threads[1] = (struct rt_thread){ .tid = 2, .state = RT_T_BLOCKED, .why = "lwip mbox", .wq = &accept_q };
	threads[2] = (struct rt_thread){ .tid = 3, .state = RT_T_BLOCKED, .why = "futex", .wq = &other_q,
	                                 .rsp = (uint64_t)(uintptr_t)&cond_word - 64,
	                                 .futex_addr = &cond_word, .deadline = 777 };
	threads[3] = (struct rt_thread){ .tid = 4, .state = RT_T_BLOCKED, .why = "pipe read", .wq = &pipe_rq };
	files[0] = (struct rt_file){ .refs = 1, .ops = &console_ops, .flags = O_RDONLY };
	files[1] = (struct rt_file){ .refs = 1, .ops = &sock_ops, .flags = O_RDWR | O_NONBLOCK, .handle = 7 };
	files[2] = (struct rt_file){ .refs = 1, .ops = &pipe_ops };
	files[3] = (struct rt_file){ .refs = 1, .ops = &file_ops, .off = 10 };
	relayed = (struct rt_file){ .refs = 1, .ops = &sock_ops, .handle = 11 };
	relaying = 0;
	registered_net = &fake_net;
}

static void test_layout_and_names(void **state)
{
	(void)state;
	static unsigned char buf[8192];
	setup_capsule();
	uint32_t n = rt_report_write(buf, sizeof buf, 42);
	const struct cap_report_header *h = (const void *)buf;
	assert_int_equal(n, sizeof *h + 4 * sizeof(struct cap_report_thread) + 4 * sizeof(struct cap_report_fd));
	assert_int_equal(h->magic, CAP_REPORT_MAGIC);
	assert_int_equal(h->version, CAP_REPORT_VERSION);
	assert_int_equal(h->nthreads, 4);
	assert_int_equal(h->nfds, 4);
	assert_int_equal(h->truncated, 0);
	assert_int_equal(h->now_ns, 42);
	assert_int_equal(h->arena_used, 8192);

	const struct cap_report_thread *t = (const void *)(h + 1);
	assert_int_equal(t[0].state, CAP_THREAD_CURRENT);
	assert_string_equal(t[0].blocked_on, "poll");
	assert_string_equal(t[1].blocked_on, "accept fd 1");   /* a descriptor's wait before the stack's */
	assert_string_equal(t[2].blocked_on, "cond");
	assert_int_equal(t[2].deadline_ns, 777);
	assert_string_equal(t[3].blocked_on, "pipe read fd 2");

	const struct cap_report_fd *f = (const void *)(t + 4);
	assert_int_equal(f[0].kind, CAP_RFD_CONSOLE);
	assert_int_equal(f[1].kind, CAP_RFD_TCP);
	assert_int_equal(f[1].flags, O_RDWR | O_NONBLOCK);
	assert_int_equal(f[1].u.sock.local_port, 9007);
	assert_int_equal(f[2].kind, CAP_RFD_PIPE_R);
	assert_int_equal(f[2].u.pipe.buffered, 5);
	assert_int_equal(f[3].kind, CAP_RFD_FILE);
	assert_string_equal(f[3].u.file.path, "/tmp/data.txt");
	assert_int_equal(f[3].u.file.size, 1234);
	assert_int_equal(f[3].u.file.offset, 10);
}

/* The stack's sockets behind shared ones come after the table, as fd -1 with their state. */
static void test_relayed_sockets(void **state)
{
	(void)state;
	static unsigned char buf[8192];
	setup_capsule();
	relaying = 1;
	uint32_t n = rt_report_write(buf, sizeof buf, 1);
	const struct cap_report_header *h = (const void *)buf;
	assert_int_equal(h->nfds, 5);
	assert_int_equal(n, sizeof *h + 4 * sizeof(struct cap_report_thread) + 5 * sizeof(struct cap_report_fd));
	const struct cap_report_fd *f = (const void *)((const struct cap_report_thread *)(h + 1) + 4);
	assert_int_equal(f[4].fd, -1);
	assert_int_equal(f[4].kind, CAP_RFD_TCP);
	assert_int_equal(f[4].u.sock.local_port, 9011);
}

/* Without a stack, or when no descriptor owns the queue: the stack's name, else the reason given. */
static void test_waits_without_descriptor(void **state)
{
	(void)state;
	static unsigned char buf[8192];
	setup_capsule();
	threads[1].wq = &tcpip_q;
	rt_report_write(buf, sizeof buf, 1);
	const struct cap_report_thread *t = (const void *)((const struct cap_report_header *)buf + 1);
	assert_string_equal(t[1].blocked_on, "tcpip thread");
	registered_net = 0;
	rt_report_write(buf, sizeof buf, 1);
	assert_string_equal(t[1].blocked_on, "lwip mbox");
	assert_string_equal(t[3].blocked_on, "pipe read fd 2");
}

static void test_truncated(void **state)
{
	(void)state;
	static unsigned char buf[sizeof(struct cap_report_header) + 2 * sizeof(struct cap_report_thread) + 10];
	setup_capsule();
	uint32_t n = rt_report_write(buf, sizeof buf, 1);
	const struct cap_report_header *h = (const void *)buf;
	assert_int_equal(h->truncated, 1);
	assert_int_equal(h->nthreads, 2);
	assert_int_equal(h->nfds, 0);
	assert_int_equal(n, sizeof *h + 2 * sizeof(struct cap_report_thread));
	assert_int_equal(rt_report_write(buf, 8, 1), 0);   /* no room for a header at all */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_and_names),
		cmocka_unit_test(test_relayed_sockets),
		cmocka_unit_test(test_waits_without_descriptor),
		cmocka_unit_test(test_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
