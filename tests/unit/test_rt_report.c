/* test_rt_report.c: the freeze report's layout and wait descriptions, with the runtime's tables stubbed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <cmocka.h>

#include "capsule-abi/cap_report.h"
#include "lwip-port/lp_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"

/* ---- stubs: a tiny capsule with 3 threads and 4 descriptors ---- */
static struct rt_thread threads[4];
static struct rt_waitq accept_q, pipe_rq, other_q;
static struct rt_file files[4];
static struct rt_pipe *fake_pipe = (struct rt_pipe *)&pipe_rq;
static int cond_word;   /* stands in for a waiter node on a thread's stack */

struct rt_thread *rt_self(void) { return &threads[0]; }
struct rt_thread *rt_thread_slot(int i) { return &threads[i]; }
int rt_thread_slots(void) { return 4; }
long rt_mem_total(void) { return 1 << 20; }
long rt_mem_free(void) { return (1 << 20) - 8192; }
const char *rt_tmpfs_path(struct rt_tnode *n) { (void)n; return "/tmp/data.txt"; }
uint64_t rt_tmpfs_size(struct rt_tnode *n) { (void)n; return 1234; }

struct rt_file *rt_fd_get(int fd)
{
	return fd >= 0 && fd < 4 && files[fd].kind ? &files[fd] : 0;
}

void rt_pipe_info(struct rt_pipe *p, int writer, uint32_t *buffered, uint32_t *capacity,
                  uint32_t *peer_open)
{
	(void)p; (void)writer;
	*buffered = 5; *capacity = 65536; *peer_open = 1;
}

int rt_pipe_owns_waitq(struct rt_pipe *p, const struct rt_waitq *q)
{
	return p == fake_pipe && q == &pipe_rq ? 1 : 0;
}

const char *lp_report_wait(const struct rt_waitq *q, const char *why, int *sock)
{
	(void)why;
	*sock = -1;
	if (q != &accept_q)
		return 0;
	*sock = 7;
	return "accept";
}

int lp_report_socket(int s, struct cap_report_sock *out)
{
	memset(out, 0, sizeof *out);
	out->local_port = (uint16_t)(9000 + s);
	out->tcp_state = CAP_TCP_LISTEN;
	return CAP_RFD_TCP;
}

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
	files[0] = (struct rt_file){ .refs = 1, .kind = RT_F_CONSOLE, .flags = O_RDONLY };
	files[1] = (struct rt_file){ .refs = 1, .kind = RT_F_SOCKET, .flags = O_RDWR | O_NONBLOCK, .sock = 7 };
	files[2] = (struct rt_file){ .refs = 1, .kind = RT_F_PIPE_R, .pipe = fake_pipe };
	files[3] = (struct rt_file){ .refs = 1, .kind = RT_F_TMPFILE, .off = 10 };
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
	assert_string_equal(t[1].blocked_on, "accept fd 1");   /* lwIP socket 7 is fd 1 */
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
		cmocka_unit_test(test_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
