/* calls.c: eventfd, timerfd, signalfd, itimers, pipe2/dup3/accept4 flags and epoll edge/oneshot, prctl, socketpair, one line per check (same output natively). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int failures;

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EAGAIN: return "EAGAIN";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EINTR: return "EINTR";
	case ENOSYS: return "ENOSYS";
	case EPERM: return "EPERM";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case EPIPE: return "EPIPE";
	case EISCONN: return "EISCONN";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "other";
	}
}

/* One check: its name, what it got and what it expected; both printed, so natively they match too. */
static void report(const char *what, const char *got, const char *want)
{
	int ok = !strcmp(got, want);
	if (!ok)
		failures++;
	printf("%s %s: %s%s%s\n", ok ? "ok" : "FAIL", what, got, ok ? "" : " want ", ok ? "" : want);
}

static void check_rc(const char *what, long rc, const char *want)
{
	report(what, rc < 0 ? err_name(errno) : "ok", want);
}

static void check_num(const char *what, unsigned long long got, unsigned long long want)
{
	char g[32], w[32];
	snprintf(g, sizeof g, "%llu", got);
	snprintf(w, sizeof w, "%llu", want);
	report(what, g, w);
}

static void check_true(const char *what, int cond)
{
	report(what, cond ? "yes" : "no", "yes");
}

static uint64_t now_ms(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int poll_in(int fd, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int n = poll(&p, 1, timeout_ms);
	return n == 1 && (p.revents & POLLIN);
}

static int epoll_count(int ep, int timeout_ms)
{
	struct epoll_event ev[4];
	int n;
	while ((n = epoll_wait(ep, ev, 4, timeout_ms)) < 0 && errno == EINTR)
		;
	return n;
}

static long read_u64(int fd, uint64_t *v)
{
	return read(fd, v, sizeof *v);
}

static long write_u64(int fd, uint64_t v)
{
	return write(fd, &v, sizeof v);
}

/* ---- eventfd ---- */

static void *eventfd_writer(void *arg)
{
	sleep_ms(20);
	write_u64(*(int *)arg, 9);
	return 0;
}

static void test_eventfd(void)
{
	uint64_t v = 0;
	int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	check_true("eventfd created", fd >= 0);
	check_true("eventfd cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	check_true("eventfd nonblock", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	check_num("eventfd read initval", read_u64(fd, &v) == 8 ? v : 0, 3);
	check_rc("eventfd read empty", read_u64(fd, &v), "EAGAIN");
	write_u64(fd, 5);
	write_u64(fd, 7);
	check_num("eventfd writes add up", read_u64(fd, &v) == 8 ? v : 0, 12);
	uint32_t small;
	write_u64(fd, 1);
	check_rc("eventfd read of 4 bytes", read(fd, &small, sizeof small), "EINVAL");
	check_rc("eventfd write of 4 bytes", write(fd, &small, sizeof small), "EINVAL");
	check_rc("eventfd write of UINT64_MAX", write_u64(fd, UINT64_MAX), "EINVAL");
	read_u64(fd, &v);
	check_rc("eventfd write to the maximum", write_u64(fd, 0xfffffffffffffffeULL), "ok");
	check_rc("eventfd write past the maximum", write_u64(fd, 1), "EAGAIN");
	struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
	poll(&p, 1, 0);
	check_num("eventfd full: poll", (unsigned)p.revents, POLLIN);
	read_u64(fd, &v);
	p.revents = 0;
	poll(&p, 1, 0);
	check_num("eventfd empty: poll", (unsigned)p.revents, POLLOUT);
	close(fd);

	fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	check_num("eventfd semaphore read 1", read_u64(fd, &v) == 8 ? v : 0, 1);
	check_num("eventfd semaphore read 2", read_u64(fd, &v) == 8 ? v : 0, 1);
	check_rc("eventfd semaphore read 3", read_u64(fd, &v), "EAGAIN");
	close(fd);
	check_rc("eventfd bad flags", eventfd(0, O_APPEND), "EINVAL");

	fd = eventfd(0, 0);
	pthread_t t;
	pthread_create(&t, 0, eventfd_writer, &fd);
	v = 0;
	check_num("eventfd blocking read woken by a thread", read_u64(fd, &v) == 8 ? v : 0, 9);
	pthread_join(t, 0);
	close(fd);
}

/* ---- timerfd ---- */

static void set_timer(int fd, int flags, long value_ms, long interval_ms, struct itimerspec *old)
{
	struct itimerspec its = {
		.it_value = { value_ms / 1000, (value_ms % 1000) * 1000000 },
		.it_interval = { interval_ms / 1000, (interval_ms % 1000) * 1000000 },
	};
	if (timerfd_settime(fd, flags, &its, old) < 0)
		printf("FAIL timerfd_settime: %s\n", err_name(errno));
}

static void test_timerfd(void)
{
	uint64_t v = 0;
	struct itimerspec cur;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	check_true("timerfd created", fd >= 0);
	check_true("timerfd cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	check_rc("timerfd read disarmed", read_u64(fd, &v), "EAGAIN");
	timerfd_gettime(fd, &cur);
	check_true("timerfd gettime disarmed", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);

	set_timer(fd, 0, 30, 0, 0);
	timerfd_gettime(fd, &cur);
	check_true("timerfd gettime armed", !cur.it_value.tv_sec && cur.it_value.tv_nsec > 0 &&
	           cur.it_value.tv_nsec <= 30000000);
	check_rc("timerfd read before expiry", read_u64(fd, &v), "EAGAIN");
	check_true("timerfd one-shot polls readable", poll_in(fd, 2000));
	check_num("timerfd one-shot expirations", read_u64(fd, &v) == 8 ? v : 0, 1);
	check_rc("timerfd one-shot read again", read_u64(fd, &v), "EAGAIN");
	timerfd_gettime(fd, &cur);
	check_true("timerfd one-shot disarmed after expiry", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);

	set_timer(fd, 0, 10, 10, 0);
	sleep_ms(65);
	v = 0;
	read_u64(fd, &v);
	check_true("timerfd interval counts several expirations", v >= 3 && v <= 7);
	timerfd_gettime(fd, &cur);
	check_true("timerfd interval kept", cur.it_interval.tv_nsec == 10000000 && cur.it_value.tv_nsec > 0);
	struct itimerspec old;
	set_timer(fd, 0, 0, 0, &old);
	check_true("timerfd settime returns the old interval", old.it_interval.tv_nsec == 10000000);
	check_rc("timerfd disarmed by zero", read_u64(fd, &v), "EAGAIN");

	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct itimerspec abs = { .it_value = { now.tv_sec, now.tv_nsec } };
	abs.it_value.tv_nsec += 20000000;
	if (abs.it_value.tv_nsec >= 1000000000) {
		abs.it_value.tv_sec++;
		abs.it_value.tv_nsec -= 1000000000;
	}
	check_rc("timerfd abstime settime", timerfd_settime(fd, TFD_TIMER_ABSTIME, &abs, 0), "ok");
	uint64_t t0 = now_ms(CLOCK_MONOTONIC);
	check_true("timerfd abstime polls readable", poll_in(fd, 2000));
	check_true("timerfd abstime not early", now_ms(CLOCK_MONOTONIC) - t0 >= 15);
	check_num("timerfd abstime expirations", read_u64(fd, &v) == 8 ? v : 0, 1);
	set_timer(fd, 0, 10000, 0, 0);
	set_timer(fd, 0, 0, 0, &old);
	check_true("timerfd old value is the time left", old.it_value.tv_sec == 9 || old.it_value.tv_sec == 10);
	close(fd);

	fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	struct timespec rnow;
	clock_gettime(CLOCK_REALTIME, &rnow);
	struct itimerspec past = { .it_value = { rnow.tv_sec - 10, 0 }, .it_interval = { 1, 0 } };
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &past, 0);
	v = 0;
	read_u64(fd, &v);
	check_true("timerfd realtime abstime in the past: 10 or 11 expirations at once", v == 10 || v == 11);
	close(fd);

	fd = timerfd_create(CLOCK_MONOTONIC, 0);
	set_timer(fd, 0, 20, 0, 0);
	check_num("timerfd blocking read", read_u64(fd, &v) == 8 ? v : 0, 1);

	struct itimerspec bad = { .it_value = { 0, 1000000000 } };
	check_rc("timerfd settime tv_nsec too big", timerfd_settime(fd, 0, &bad, 0), "EINVAL");
	check_rc("timerfd settime bad flags", timerfd_settime(fd, 0x100, &cur, 0), "EINVAL");
	close(fd);
	check_rc("timerfd settime closed fd", timerfd_settime(fd, 0, &cur, 0), "EBADF");
	int efd = eventfd(0, 0);
	check_rc("timerfd settime on an eventfd", timerfd_settime(efd, 0, &cur, 0), "EINVAL");
	check_rc("timerfd gettime on an eventfd", timerfd_gettime(efd, &cur), "EINVAL");
	close(efd);
	check_rc("timerfd_create bad clock", timerfd_create(12345, 0), "EINVAL");
	check_rc("timerfd_create bad flags", timerfd_create(CLOCK_MONOTONIC, O_APPEND), "EINVAL");

	/* With epoll, level-triggered: readable until read. */
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	set_timer(fd, 0, 15, 0, 0);
	check_num("timerfd epoll wakes on expiry", epoll_count(ep, 2000), 1);
	check_num("timerfd epoll still ready before read", epoll_count(ep, 0), 1);
	read_u64(fd, &v);
	check_num("timerfd epoll quiet after read", epoll_count(ep, 0), 0);
	close(ep);
	close(fd);
}

/* ---- signals: signalfd, itimers, alarm ---- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void test_signalfd(void)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	check_true("signalfd created", fd >= 0);
	check_true("signalfd cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	struct signalfd_siginfo si;
	check_rc("signalfd read nothing pending", read(fd, &si, sizeof si), "EAGAIN");
	check_rc("signalfd read short buffer", read(fd, &si, 16), "EINVAL");
	raise(SIGUSR1);
	check_true("signalfd polls readable", poll_in(fd, 1000));
	memset(&si, 0, sizeof si);
	check_num("signalfd read size", (unsigned long long)read(fd, &si, sizeof si), sizeof si);
	check_num("signalfd signo", si.ssi_signo, SIGUSR1);
	check_rc("signalfd read again", read(fd, &si, sizeof si), "EAGAIN");
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, 0);
	check_num("signalfd mask update keeps the fd", (unsigned long long)(signalfd(fd, &set, 0) == fd), 1);
	raise(SIGUSR2);
	raise(SIGUSR1);
	struct signalfd_siginfo two[2];
	check_num("signalfd reads two at once", (unsigned long long)read(fd, two, sizeof two), sizeof two);
	check_true("signalfd two signals", two[0].ssi_signo + two[1].ssi_signo == SIGUSR1 + SIGUSR2);
	int efd = eventfd(0, 0);
	check_rc("signalfd on an eventfd", signalfd(efd, &set, 0), "EINVAL");
	close(efd);
	check_rc("signalfd bad flags", signalfd(-1, &set, O_APPEND), "EINVAL");

	/* SIGALRM from an itimer, read through a blocking signalfd. */
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, 0);
	int afd = signalfd(-1, &alrm, 0);
	struct itimerval it = { .it_value = { 0, 20000 } };
	setitimer(ITIMER_REAL, &it, 0);
	memset(&si, 0, sizeof si);
	read(afd, &si, sizeof si);
	check_num("signalfd reads SIGALRM from setitimer", si.ssi_signo, SIGALRM);
	check_num("signalfd SIGALRM code is SI_KERNEL", (unsigned)si.ssi_code, (unsigned)SI_KERNEL);
	close(afd);
	close(fd);

	/* sigtimedwait: one pending, then a timeout. */
	raise(SIGUSR1);
	struct timespec ten = { 0, 10000000 };
	siginfo_t info;
	check_num("sigtimedwait takes the pending signal", (unsigned)sigtimedwait(&set, &info, &ten), SIGUSR1);
	check_rc("sigtimedwait times out", sigtimedwait(&set, &info, &ten), "EAGAIN");
	sigprocmask(SIG_SETMASK, &old, 0);
}

static void test_itimer(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval it = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } }, cur;
	check_rc("setitimer ITIMER_REAL", setitimer(ITIMER_REAL, &it, 0), "ok");
	getitimer(ITIMER_REAL, &cur);
	check_true("getitimer interval", cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 20000);
	check_true("getitimer value left", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 &&
	           cur.it_value.tv_usec <= 20000);
	alarms = 0;
	int paused = 0;
	while (alarms < 3 && paused < 100)
		if (pause() < 0 && errno == EINTR)
			paused++;
	check_true("pause returns EINTR for each SIGALRM", alarms >= 3 && paused >= 3);
	struct itimerval zero = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &zero, &cur);
	check_true("setitimer returns the old interval", cur.it_interval.tv_usec == 20000);
	getitimer(ITIMER_REAL, &cur);
	check_true("itimer disarmed", !cur.it_value.tv_sec && !cur.it_value.tv_usec);

	/* A sleep is interrupted by the handler, and says how much was left. */
	struct itimerval once = { .it_value = { 0, 30000 } };
	setitimer(ITIMER_REAL, &once, 0);
	struct timespec req = { 2, 0 }, rem = { 0, 0 };
	int r = nanosleep(&req, &rem);
	check_rc("nanosleep interrupted by SIGALRM", r, "EINTR");
	check_true("nanosleep remaining time", rem.tv_sec == 1 || (rem.tv_sec == 2 && rem.tv_nsec == 0) ? 1 :
	           rem.tv_sec >= 1);

	/* A poll with a timeout is interrupted too. */
	int fds[2];
	pipe(fds);
	setitimer(ITIMER_REAL, &once, 0);
	struct pollfd p = { fds[0], POLLIN, 0 };
	check_rc("poll interrupted by SIGALRM", poll(&p, 1, 2000), "EINTR");
	close(fds[0]);
	close(fds[1]);

	check_num("alarm with none set", alarm(5), 0);
	check_num("alarm returns the seconds left", alarm(0), 5);
	check_num("alarm cancelled", alarm(0), 0);
	check_rc("setitimer bad which", setitimer(99, &it, 0), "EINVAL");
	check_rc("getitimer bad which", getitimer(99, &cur), "EINVAL");
	struct itimerval badv = { .it_value = { 0, 1000000 } };
	check_rc("setitimer tv_usec too big", setitimer(ITIMER_REAL, &badv, 0), "EINVAL");
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, 0);
}

/* ---- pipe2, dup3, accept4, SO_REUSEPORT ---- */

static void test_flags(void)
{
	int p[2];
	check_rc("pipe2 O_CLOEXEC|O_NONBLOCK", pipe2(p, O_CLOEXEC | O_NONBLOCK), "ok");
	check_true("pipe2 both ends cloexec", fcntl(p[0], F_GETFD) == FD_CLOEXEC && fcntl(p[1], F_GETFD) == FD_CLOEXEC);
	check_true("pipe2 both ends nonblock", (fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK));
	char c;
	check_rc("pipe2 nonblock read empty", read(p[0], &c, 1), "EAGAIN");
	int q[2];
	check_rc("pipe2 bad flags", pipe2(q, O_APPEND), "EINVAL");
	check_rc("dup3 same fd", dup3(p[0], p[0], 0), "EINVAL");
	/* The system calls themselves: musl's dup3 and accept4 fall back to dup2/accept on bad flags. */
	check_rc("dup3 bad flags", syscall(SYS_dup3, p[0], 100, O_APPEND), "EINVAL");
	check_true("dup2 same fd returns it", dup2(p[0], p[0]) == p[0]);
	check_num("dup3 O_CLOEXEC", (unsigned long long)dup3(p[0], 100, O_CLOEXEC), 100);
	check_true("dup3 new fd cloexec", fcntl(100, F_GETFD) == FD_CLOEXEC);
	check_num("dup3 without flags", (unsigned long long)dup3(p[1], 100, 0), 100);
	check_true("dup3 replaced fd not cloexec", fcntl(100, F_GETFD) == 0);
	check_rc("dup3 bad old fd", dup3(999, 101, 0), "EBADF");
	close(100);
	close(p[0]);
	close(p[1]);

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	check_rc("setsockopt SO_REUSEPORT", setsockopt(ls, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), "ok");
	check_rc("setsockopt SO_REUSEADDR", setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "ok");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	bind(ls, (struct sockaddr *)&a, sizeof a);
	listen(ls, 8);
	getsockname(ls, (struct sockaddr *)&a, &al);
	int cs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(cs, (struct sockaddr *)&a, sizeof a);
	check_true("listener readable with a connection", poll_in(ls, 2000));
	check_rc("accept4 bad flags", syscall(SYS_accept4, ls, 0, 0, O_APPEND), "EINVAL");
	int as = accept4(ls, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
	check_true("accept4 SOCK_NONBLOCK|SOCK_CLOEXEC", as >= 0 && fcntl(as, F_GETFD) == FD_CLOEXEC &&
	           (fcntl(as, F_GETFL) & O_NONBLOCK));
	check_rc("accepted socket nonblocking read", read(as, &c, 1), "EAGAIN");
	/* EPOLLET on a TCP socket: a short write fills it; once the peer has read everything,
	 * that is "writable again" (nginx waits for this after a short sendfile). */
	int ep = epoll_create1(0);
	struct epoll_event wev = { .events = EPOLLOUT | EPOLLET, .data.fd = cs };
	epoll_ctl(ep, EPOLL_CTL_ADD, cs, &wev);
	check_num("ET tcp: writable once", epoll_count(ep, 1000), 1);
	static char big[8 << 20];
	long sent = write(cs, big, sizeof big);
	check_true("ET tcp: a short write", sent > 0 && sent < (long)sizeof big);
	long got = 0;
	while (got < sent && poll_in(as, 2000)) {
		long n = read(as, big, sizeof big);
		if (n <= 0)
			break;
		got += n;
	}
	check_true("ET tcp: the peer read it all", got == sent);
	check_num("ET tcp: writable again after the short write", epoll_count(ep, 2000), 1);
	close(ep);
	int ls2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check_true("socket SOCK_CLOEXEC", fcntl(ls2, F_GETFD) == FD_CLOEXEC);
	close(ls2);
	close(as);
	close(cs);
	close(ls);
}

/* ---- socketpair(AF_UNIX, SOCK_STREAM) ---- */

static void test_socketpair(void)
{
	int sv[2];
	char buf[16] = "";
	check_rc("socketpair AF_INET", socketpair(AF_INET, SOCK_STREAM, 0, sv), "EOPNOTSUPP");
	check_rc("socketpair AF_UNIX SOCK_STREAM|NONBLOCK|CLOEXEC",
	         socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), "ok");
	check_true("socketpair both ends cloexec, nonblock",
	           fcntl(sv[0], F_GETFD) == FD_CLOEXEC && (fcntl(sv[1], F_GETFL) & O_NONBLOCK));
	struct stat st;
	check_true("socketpair fstat S_ISSOCK", fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode));
	int v = -1;
	socklen_t vl = sizeof v;
	check_rc("socketpair getsockopt SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &vl), "ok");
	check_num("socketpair SO_TYPE", (unsigned long long)v, SOCK_STREAM);
	getsockopt(sv[1], SOL_SOCKET, SO_DOMAIN, &v, &vl);
	check_num("socketpair SO_DOMAIN", (unsigned long long)v, AF_UNIX);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	check_rc("socketpair getpeername", getpeername(sv[0], (struct sockaddr *)&ss, &sl), "ok");
	check_num("socketpair getpeername: unnamed", (unsigned long long)sl, sizeof(sa_family_t));
	check_rc("socketpair read empty", read(sv[1], buf, sizeof buf), "EAGAIN");
	check_num("socketpair write", (unsigned long long)write(sv[0], "ping", 4), 4);
	check_num("socketpair read", (unsigned long long)read(sv[1], buf, sizeof buf), 4);
	report("socketpair read data", buf, "ping");
	check_num("socketpair send back", (unsigned long long)send(sv[1], "pong!", 5, 0), 5);
	memset(buf, 0, sizeof buf);
	check_num("socketpair recv", (unsigned long long)recv(sv[0], buf, sizeof buf, 0), 5);
	report("socketpair recv data", buf, "pong!");
	check_rc("socketpair connect to an unnamed address", connect(sv[0], (struct sockaddr *)&ss, sl), "EINVAL");
	check_rc("socketpair listen", listen(sv[0], 1), "EINVAL");
	check_rc("socketpair shutdown SHUT_WR", shutdown(sv[0], SHUT_WR), "ok");
	struct pollfd pf = { .fd = sv[1], .events = POLLIN | POLLOUT | POLLRDHUP };
	poll(&pf, 1, 0);
	check_num("socketpair poll after the peer's SHUT_WR", (unsigned long long)pf.revents,
	          POLLIN | POLLOUT | POLLRDHUP);
	check_num("socketpair read after the peer's SHUT_WR: EOF", (unsigned long long)read(sv[1], buf, 1), 0);
	check_num("socketpair the other way still works", (unsigned long long)write(sv[1], "x", 1), 1);
	check_num("socketpair read it", (unsigned long long)read(sv[0], buf, 1), 1);
	check_rc("socketpair write after SHUT_WR", send(sv[0], "y", 1, MSG_NOSIGNAL), "EPIPE");
	/* nginx's EPOLLRDHUP probe: edge-triggered, the peer closes, one report with RDHUP and HUP */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLET | EPOLLIN | EPOLLRDHUP }, out;
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
	close(sv[0]);
	check_num("socketpair epoll after the peer closed", (unsigned long long)epoll_wait(ep, &out, 1, 1000), 1);
	check_num("socketpair epoll events", out.events, EPOLLIN | EPOLLRDHUP | EPOLLHUP);
	check_rc("socketpair send to a closed peer", send(sv[1], "z", 1, MSG_NOSIGNAL), "EPIPE");
	close(ep);
	close(sv[1]);
}

/* ---- prctl: what daemons set and read back ---- */

static void test_prctl(void)
{
	char name[16] = "";
	check_rc("prctl PR_SET_NAME", prctl(PR_SET_NAME, "calls-worker-with-a-long-name", 0, 0, 0), "ok");
	check_rc("prctl PR_GET_NAME", prctl(PR_GET_NAME, name, 0, 0, 0), "ok");
	report("prctl PR_GET_NAME gives the first 15 bytes", name, "calls-worker-wi");
	check_num("prctl PR_GET_DUMPABLE", (unsigned long long)prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	check_rc("prctl PR_SET_DUMPABLE 0", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "ok");
	check_num("prctl PR_GET_DUMPABLE after 0", (unsigned long long)prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	check_rc("prctl PR_SET_DUMPABLE 2", prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), "EINVAL");
	check_rc("prctl PR_SET_DUMPABLE 1", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "ok");
	check_num("prctl PR_GET_KEEPCAPS", (unsigned long long)prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 0);
	check_rc("prctl PR_SET_KEEPCAPS 1", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "ok");
	check_num("prctl PR_GET_KEEPCAPS after 1", (unsigned long long)prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 1);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	int sig = -1;
	check_rc("prctl PR_SET_PDEATHSIG SIGTERM", prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0), "ok");
	check_rc("prctl PR_GET_PDEATHSIG", prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0), "ok");
	check_num("prctl PR_GET_PDEATHSIG value", (unsigned long long)sig, SIGTERM);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	check_rc("prctl unknown option", prctl(0x7fff0001, 0, 0, 0, 0), "EINVAL");
}

/* ---- epoll: level, edge-triggered, one-shot ---- */

static void test_epoll(void)
{
	int p[2];
	char buf[16];
	pipe2(p, O_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.fd = p[0] };
	check_rc("epoll_ctl add EPOLLET", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), "ok");
	check_num("ET: nothing yet", epoll_count(ep, 0), 0);
	write(p[1], "a", 1);
	check_num("ET: data arrives", epoll_count(ep, 1000), 1);
	check_num("ET: data unread, no new edge", epoll_count(ep, 0), 0);
	write(p[1], "b", 1);
	check_num("ET: more data arrives", epoll_count(ep, 1000), 1);
	read(p[0], buf, 1);
	check_num("ET: partly read, no new edge", epoll_count(ep, 0), 0);
	while (read(p[0], buf, sizeof buf) > 0)
		;
	check_num("ET: drained", epoll_count(ep, 0), 0);
	write(p[1], "c", 1);
	check_num("ET: new data after draining", epoll_count(ep, 1000), 1);
	read(p[0], buf, sizeof buf);
	read(p[0], buf, sizeof buf);    /* EAGAIN */
	write(p[1], "d", 1);            /* arrives before the next wait */
	check_num("ET: data arriving between drain and wait", epoll_count(ep, 1000), 1);
	read(p[0], buf, sizeof buf);
	/* Drained by one short read (no EAGAIN), then fewer bytes than before arrive (nginx's
	 * keep-alive: a long request read whole, then a shorter one). */
	write(p[1], "0123456789", 10);
	check_num("ET: ten bytes", epoll_count(ep, 1000), 1);
	check_num("ET: one short read takes them", (unsigned long long)read(p[0], buf, sizeof buf), 10);
	write(p[1], "xyz", 3);
	check_num("ET: three new bytes after a short read", epoll_count(ep, 1000), 1);
	read(p[0], buf, sizeof buf);

	/* The write end, edge-triggered: writable once. */
	struct epoll_event wev = { .events = EPOLLOUT | EPOLLET, .data.fd = p[1] };
	epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &wev);
	check_num("ET: writable reported once", epoll_count(ep, 1000), 1);
	check_num("ET: writable not again", epoll_count(ep, 0), 0);
	epoll_ctl(ep, EPOLL_CTL_DEL, p[1], 0);

	/* One-shot: once, then nothing until EPOLL_CTL_MOD re-arms it. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	check_rc("epoll_ctl mod EPOLLONESHOT", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), "ok");
	write(p[1], "e", 1);
	check_num("ONESHOT: first event", epoll_count(ep, 1000), 1);
	check_num("ONESHOT: disarmed", epoll_count(ep, 0), 0);
	write(p[1], "f", 1);
	check_num("ONESHOT: still disarmed after more data", epoll_count(ep, 0), 0);
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	check_num("ONESHOT: re-armed by MOD", epoll_count(ep, 0), 1);
	check_num("ONESHOT: disarmed again", epoll_count(ep, 0), 0);

	/* Level-triggered: ready while data stays. */
	ev.events = EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev);
	check_num("LT: ready", epoll_count(ep, 0), 1);
	check_num("LT: still ready", epoll_count(ep, 0), 1);
	while (read(p[0], buf, sizeof buf) > 0)
		;
	check_num("LT: quiet when drained", epoll_count(ep, 0), 0);

	/* An eventfd, edge-triggered. */
	int efd = eventfd(0, EFD_NONBLOCK);
	struct epoll_event eev = { .events = EPOLLIN | EPOLLET, .data.fd = efd };
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &eev);
	write_u64(efd, 1);
	check_num("ET eventfd: written", epoll_count(ep, 1000), 1);
	check_num("ET eventfd: no new edge", epoll_count(ep, 0), 0);
	uint64_t v;
	read_u64(efd, &v);
	read_u64(efd, &v);
	write_u64(efd, 2);
	check_num("ET eventfd: written again after draining", epoll_count(ep, 1000), 1);
	close(efd);

	/* A closed descriptor leaves the set: its number, taken by a new file, is not in it until
	 * added again.  Many rounds with no wait between, so that a freed file's memory is handed
	 * out again too (nginx adds each connection it accepts, often at the number of the one it
	 * just closed: an EEXIST there made it drop the client). */
	unsigned mod_enoent = 0, add_ok = 0;
	for (int i = 0; i < 1000; i++) {
		int q[2];
		pipe2(q, O_NONBLOCK);
		struct epoll_event qev = { .events = EPOLLIN, .data.fd = q[0] };
		epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &qev);
		close(q[0]);
		close(q[1]);
		pipe2(q, O_NONBLOCK);   /* the same two numbers */
		mod_enoent += epoll_ctl(ep, EPOLL_CTL_MOD, q[0], &qev) < 0 && errno == ENOENT;
		add_ok += epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &qev) == 0;
		close(q[0]);
		close(q[1]);
	}
	check_num("closed, number reused: EPOLL_CTL_MOD says ENOENT (of 1000)", mod_enoent, 1000);
	check_num("closed, number reused: EPOLL_CTL_ADD succeeds (of 1000)", add_ok, 1000);
	check_num("closed descriptors report nothing", epoll_count(ep, 0), 0);
	close(ep);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	test_eventfd();
	test_timerfd();
	test_signalfd();
	test_itimer();
	test_flags();
	test_epoll();
	test_prctl();
	test_socketpair();
	printf("calls: %d failures\n", failures);
	return failures != 0;
}
