/* test_rt_events.c: eventfd and timerfd (runtime/eventfd.c, timerfd.c, timers.c) on the host, with a fake clock and scheduler. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <cmocka.h>

#include "capsule-abi/cap_report.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

#define MS 1000000ULL

/* ---- a fake clock: virtual and wall time move together when the test says ---- */
static uint64_t fake_now = 1000 * MS;
static uint64_t fake_real = 1700000000ULL * 1000 * MS;

uint64_t rt_now_ns(void)
{
	return fake_now;
}

long rt_host_clock(int clockid, int64_t *ns)
{
	*ns = (int64_t)(clockid == CLOCK_REALTIME ? fake_real : fake_now);
	return 0;
}

static void advance(uint64_t ns)
{
	fake_now += ns;
	fake_real += ns;
}

int rt_timespec_valid(const void *p)
{
	const struct timespec *ts = p;
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

uint64_t rt_timespec_ns(const void *p)
{
	const struct timespec *ts = p;
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

/* ---- a fake scheduler: a blocked reader sleeps until the earliest timer, as the idle wait does ---- */
static int waits, wakes, io_changes;
static struct rt_file consoles[3];
static const struct rt_file_ops console_ops = { 0 };

struct rt_file *rt_console_file(int fd)
{
	consoles[fd] = (struct rt_file){ .refs = 2, .ops = &console_ops, .handle = fd };
	return &consoles[fd];
}

int rt_wait(struct rt_waitq *q, uint64_t deadline_ns, const char *why)
{
	(void)q; (void)deadline_ns; (void)why;
	waits++;
	uint64_t next = rt_timers_run(fake_now);
	assert_true(next != 0);   /* a wait nothing will ever end would hang the capsule */
	advance(next - fake_now);
	rt_timers_run(fake_now);
	return 0;
}

int rt_wake_all(struct rt_waitq *q)
{
	(void)q;
	wakes++;
	return 0;
}

void rt_io_changed(void)
{
	io_changes++;
}

/* ---- helpers ---- */

static long read_u64(int fd, uint64_t *v)
{
	return rt_sys_read(fd, v, sizeof *v);
}

static long write_u64(int fd, uint64_t v)
{
	return rt_sys_write(fd, &v, sizeof v);
}

static void report_of(int fd, struct cap_report_fd *r)
{
	struct rt_file *f = rt_fd_get(fd);
	memset(r, 0, sizeof *r);
	f->ops->report(f, r);
}

static void test_timer_expirations(void **state)
{
	(void)state;
	uint64_t due = 100;
	assert_int_equal(rt_timer_expirations(&due, 0, 99), 0);
	assert_int_equal(due, 100);
	assert_int_equal(rt_timer_expirations(&due, 0, 100), 1);
	assert_int_equal(due, 0);                        /* one-shot: done */
	assert_int_equal(rt_timer_expirations(&due, 0, 500), 0);
	due = 100;
	assert_int_equal(rt_timer_expirations(&due, 10, 135), 4);   /* 100, 110, 120, 130 */
	assert_int_equal(due, 140);
	assert_int_equal(rt_timer_expirations(&due, 10, 139), 0);
}

static void test_eventfd(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_int_equal(rt_sys_eventfd2(0, 0x1234), -EINVAL);
	int fd = (int)rt_sys_eventfd2(5, EFD_NONBLOCK);
	assert_true(fd >= 3);
	assert_int_equal(rt_fd_poll(fd, POLLIN | POLLOUT), POLLIN | POLLOUT);
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(v, 5);
	assert_int_equal(read_u64(fd, &v), -EAGAIN);
	assert_int_equal(rt_fd_poll(fd, POLLIN | POLLOUT), POLLOUT);
	uint32_t small = 0;
	assert_int_equal(rt_sys_read(fd, &small, sizeof small), -EINVAL);
	assert_int_equal(write_u64(fd, UINT64_MAX), -EINVAL);
	assert_int_equal(write_u64(fd, 0xfffffffffffffffeULL), 8);
	assert_int_equal(write_u64(fd, 1), -EAGAIN);
	assert_int_equal(write_u64(fd, 0), 8);   /* adding nothing always fits */
	assert_int_equal(rt_fd_poll(fd, POLLIN | POLLOUT), POLLIN);
	struct cap_report_fd r;
	report_of(fd, &r);
	assert_int_equal(r.kind, CAP_RFD_EVENTFD);
	assert_true(r.u.eventfd.count == 0xfffffffffffffffeULL);
	rt_sys_close(fd);

	fd = (int)rt_sys_eventfd2(2, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(rt_sys_fcntl(fd, F_GETFD, 0), FD_CLOEXEC);
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(v, 1);
	report_of(fd, &r);
	assert_int_equal(r.u.eventfd.count, 1);
	assert_int_equal(r.u.eventfd.semaphore, 1);
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(read_u64(fd, &v), -EAGAIN);
	rt_sys_close(fd);
}

static void set_ms(int fd, int flags, uint64_t value_ns, uint64_t interval_ms, struct itimerspec *old)
{
	struct itimerspec its = {
		.it_value = { (time_t)(value_ns / 1000000000ULL), (long)(value_ns % 1000000000ULL) },
		.it_interval = { (time_t)(interval_ms / 1000), (long)(interval_ms % 1000 * MS) },
	};
	assert_int_equal(rt_sys_timerfd_settime(fd, flags, &its, old), 0);
}

static void test_timerfd_monotonic(void **state)
{
	(void)state;
	uint64_t v = 0;
	struct itimerspec cur;
	assert_int_equal(rt_sys_timerfd_create(99, 0), -EINVAL);
	assert_int_equal(rt_sys_timerfd_create(CLOCK_MONOTONIC, 0x40), -EINVAL);
	int fd = (int)rt_sys_timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	assert_int_equal(read_u64(fd, &v), -EAGAIN);
	set_ms(fd, 0, 50 * MS, 10, 0);
	assert_int_equal(rt_timers_armed, 1);
	assert_int_equal(rt_fd_poll(fd, POLLIN), 0);
	advance(49 * MS);
	assert_int_equal(read_u64(fd, &v), -EAGAIN);
	rt_sys_timerfd_gettime(fd, &cur);
	assert_int_equal(cur.it_value.tv_nsec, 1 * MS);
	assert_int_equal(cur.it_interval.tv_nsec, 10 * MS);
	advance(1 * MS);
	assert_int_equal(rt_fd_poll(fd, POLLIN), POLLIN);
	advance(25 * MS);                    /* expiries at 50, 60, 70 */
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(v, 3);
	rt_sys_timerfd_gettime(fd, &cur);
	assert_int_equal(cur.it_value.tv_nsec, 5 * MS);
	/* The scheduler fires it when due, with nobody looking: readers and pollers are woken. */
	int before = io_changes;
	advance(5 * MS);
	uint64_t next = rt_timers_run(fake_now);
	assert_int_equal(next, fake_now + 10 * MS);
	assert_true(io_changes > before);
	struct cap_report_fd r;
	report_of(fd, &r);
	assert_int_equal(r.kind, CAP_RFD_TIMERFD);
	assert_int_equal(r.u.timer.expirations, 1);
	assert_int_equal(r.u.timer.next_ns, 10 * MS);
	assert_int_equal(r.u.timer.interval_ns, 10 * MS);
	assert_int_equal(r.u.timer.clock, CLOCK_MONOTONIC);
	/* settime disarms, resets the count and returns the old setting. */
	struct itimerspec old;
	set_ms(fd, 0, 0, 0, &old);
	assert_int_equal(old.it_interval.tv_nsec, 10 * MS);
	assert_int_equal(old.it_value.tv_nsec, 10 * MS);
	assert_int_equal(read_u64(fd, &v), -EAGAIN);
	assert_int_equal(rt_timers_armed, 0);
	/* Absolute, already past: one expiry at once. */
	set_ms(fd, TFD_TIMER_ABSTIME, fake_now - 5 * MS, 0, 0);
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(v, 1);
	rt_sys_timerfd_gettime(fd, &cur);
	assert_int_equal(cur.it_value.tv_sec + cur.it_value.tv_nsec, 0);
	struct itimerspec bad = { .it_value = { 0, 1000000000L } };
	assert_int_equal(rt_sys_timerfd_settime(fd, 0, &bad, 0), -EINVAL);
	assert_int_equal(rt_sys_timerfd_settime(fd, 0x8, &cur, 0), -EINVAL);
	assert_int_equal(rt_sys_timerfd_settime(500, 0, &cur, 0), -EBADF);
	assert_int_equal(rt_sys_timerfd_settime(0, 0, &cur, 0), -EINVAL);   /* the console */
	rt_sys_close(fd);
}

static void test_timerfd_blocking_and_realtime(void **state)
{
	(void)state;
	uint64_t v = 0;
	int fd = (int)rt_sys_timerfd_create(CLOCK_MONOTONIC, 0);
	set_ms(fd, 0, 30 * MS, 0, 0);
	waits = 0;
	uint64_t t0 = fake_now;
	assert_int_equal(read_u64(fd, &v), 8);   /* blocks until the scheduler fires it */
	assert_int_equal(v, 1);
	assert_int_equal(waits, 1);
	assert_int_equal(fake_now - t0, 30 * MS);
	rt_sys_close(fd);
	assert_int_equal(rt_timers_armed, 0);    /* closing disarms */

	/* Wall clock: an absolute time, and the scheduler sleeps the right virtual time for it. */
	fd = (int)rt_sys_timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	set_ms(fd, TFD_TIMER_ABSTIME, fake_real + 20 * MS, 1000, 0);
	assert_int_equal(rt_timers_run(fake_now), fake_now + 20 * MS);
	advance(20 * MS + 2000 * MS);            /* 20 ms, then two more periods */
	assert_int_equal(read_u64(fd, &v), 8);
	assert_int_equal(v, 3);
	struct cap_report_fd r;
	report_of(fd, &r);
	assert_int_equal(r.u.timer.clock, CLOCK_REALTIME);
	rt_sys_close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_expirations),
		cmocka_unit_test(test_eventfd),
		cmocka_unit_test(test_timerfd_monotonic),
		cmocka_unit_test(test_timerfd_blocking_and_realtime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
