/* relay.c: caprun's epoll loop moving IP packets between the TUN device and the capsule's channel. */
#include "hosts/relay.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 64   /* packets moved per wake-up per direction, so neither side starves */

/* TUN -> channel.  A full channel drops the packet, as a congested link would. */
static void tun_to_channel(const struct host_relay *r, unsigned char *buf)
{
	struct cap_chan_hdr h = { CAP_MSG_PACKET, 0, 0 };
	memcpy(buf, &h, sizeof h);
	for (int i = 0; i < BATCH; i++) {
		ssize_t n = read(r->tun_fd, buf + sizeof h, CAP_MTU_MAX);
		if (n <= 0)
			return;
		send(r->chan_fd, buf, sizeof h + (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

/* channel -> TUN, plus control messages.  Returns 1 when the channel is closed. */
static int channel_to_tun(const struct host_relay *r, unsigned char *buf, int *ready_seen)
{
	for (int i = 0; i < BATCH; i++) {
		ssize_t n = recv(r->chan_fd, buf, CAP_CHAN_MAX, MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : 1;
		struct cap_chan_hdr h;
		if ((size_t)n < sizeof h)
			continue;   /* malformed record: ignore, the capsule only hurts itself */
		memcpy(&h, buf, sizeof h);
		if (h.type == CAP_MSG_PACKET && (size_t)n > sizeof h) {
			if (write(r->tun_fd, buf + sizeof h, (size_t)n - sizeof h) < 0) {
				/* dropped: bad packet or TUN queue full */
			}
		} else if (h.type == CAP_MSG_READY && !*ready_seen) {
			*ready_seen = 1;
			printf("capsule %s running at %s\n", r->name, r->addr);
			fflush(stdout);
		}
	}
	return 0;
}

static int reap(pid_t child, int *wstatus)
{
	pid_t p;
	do
		p = waitpid(child, wstatus, WNOHANG);
	while (p < 0 && errno == EINTR);
	return p == child;
}

int host_relay_run(const struct host_relay *r, int *wstatus)
{
	static unsigned char buf[CAP_CHAN_MAX];
	int ready_seen = 0, result = -1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		fprintf(stderr, "caprun: epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	int fds[3] = { r->sig_fd, r->tun_fd, r->chan_fd };
	for (int i = 0; i < 3; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			fprintf(stderr, "caprun: epoll_ctl: %s\n", strerror(errno));
			goto out;
		}
	}
	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "caprun: epoll_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == r->tun_fd) {
				tun_to_channel(r, buf);
			} else if (fd == r->chan_fd) {
				if (channel_to_tun(r, buf, &ready_seen))
					epoll_ctl(ep, EPOLL_CTL_DEL, r->chan_fd, NULL);
			} else if (fd == r->sig_fd) {
				struct signalfd_siginfo si;
				while (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
					if (si.ssi_signo != SIGCHLD) {
						result = (int)si.ssi_signo;
						goto out;
					}
				}
				if (reap(r->child, wstatus)) {
					result = 0;
					goto out;
				}
			}
		}
	}
out:
	close(ep);
	return result;
}
