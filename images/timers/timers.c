/* timers.c: a timerfd, an itimer, an eventfd and a signalfd held across snapshots; one line per timer tick. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define PERIOD_MS 100

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	/* The eventfd holds 42 all along: read and written back at every tick. */
	int efd = eventfd(42, EFD_NONBLOCK);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, 0);
	int sfd = signalfd(-1, &usr1, SFD_NONBLOCK);
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = { { 0, PERIOD_MS * 1000000L }, { 0, PERIOD_MS * 1000000L } };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, 0);
	struct itimerval itv = { { 0, PERIOD_MS * 1000 }, { 0, PERIOD_MS * 1000 } };
	if (efd < 0 || sfd < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, 0) < 0 ||
	    setitimer(ITIMER_REAL, &itv, 0) < 0) {
		perror("timers: setup");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = tfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	uint64_t total = 0;
	for (unsigned tick = 1;;) {
		struct epoll_event out;
		if (epoll_wait(ep, &out, 1, -1) != 1)
			continue;   /* EINTR: the itimer's handler ran */
		uint64_t n = 0, count = 0;
		if (read(tfd, &n, sizeof n) != sizeof n)
			continue;
		total += n;
		if (read(efd, &count, sizeof count) != sizeof count || write(efd, &count, sizeof count) < 0)
			count = 0;
		printf("tick %u timerfd %llu itimer %d eventfd %llu\n", tick++, (unsigned long long)total,
		       (int)alarms, (unsigned long long)count);
	}
}
