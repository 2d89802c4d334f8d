/* relay.c: caprun's epoll loop moving IP packets between the TUN device and the capsule's channel. */
#include "hosts/caprun/relay.h"
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/consolelog.h"
#include "hosts/formats/uplink.h"
#include "capsule-abi/cap_abi.h"
#include "hosts/common/clock.h"
#include "hosts/common/tunvnet.h"
#include "hosts/common/readpace.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REATTACH_EVERY_MS 200   /* without caphostd: look for a new one this often */
/*
 * r->later runs this long after the loop starts: past a migration's downtime and the
 * flush of what the gateway and the peers held, whose packets the loop relays.  Before,
 * in caprun's path to this loop, an incoming capsule's receive buffers (about 1 MiB,
 * 0.2-1.8 ms to unmap here) delayed the capsule's first packets (docs/DOWNTIME.md).
 */
#define RELAY_LATER_MS 50

/* Uplink -> channel, a batch of records.  Returns 1 when caphostd closed the uplink. */
static int uplink_to_channel(struct host_relay *r, unsigned char *buf)
{
	int limit = readpace_limit(&r->pace_tun), i;
	for (i = 0; i < limit; i++) {
		ssize_t n = recv(r->tun_fd, buf, UPLINK_MAX, MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0) {
			readpace_learn(&r->pace_tun, limit, i);
			return errno == EAGAIN || errno == EINTR ? 0 : 1;
		}
		struct uplink_msg m;
		if (uplink_decode(buf, (size_t)n, &m) || m.type != UPLINK_PACKET) {
			r->stats.drop_malformed++;
			continue;
		}
		channel_from_uplink(r, buf, (size_t)n);
	}
	readpace_learn(&r->pace_tun, limit, i);
	return 0;
}

/* TUN -> channel.  A full channel drops the packet, as a congested link would. */
static void tun_to_channel(struct host_relay *r, unsigned char *buf)
{
	struct cap_chan_hdr h = { CAP_MSG_PACKET, 0, 0 };
	memcpy(buf, &h, sizeof h);
	int limit = readpace_limit(&r->pace_tun), i;
	for (i = 0; i < limit; i++) {
		ssize_t n = tunvnet_read(r->tun_fd, r->tun_vnet, buf + sizeof h, CAP_MTU_MAX);
		if (n <= 0)
			break;
		if (r->filter)
			r->tun_host_reads++;   /* the device counted it: not the capsule's own read */
		if (send(r->chan_fd, buf, sizeof h + (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			r->stats.drop_host_full++;
		else
			r->stats.packets_in++;
	}
	readpace_learn(&r->pace_tun, limit, i);
}

/* channel -> TUN, plus control messages.  Returns 1 when the channel is closed. */
static int channel_to_tun(struct host_relay *r, unsigned char *buf)
{
	int limit = readpace_limit(&r->pace_chan), i;
	for (i = 0; i < limit; i++) {
		ssize_t n = recv(r->chan_fd, buf, CAP_CHAN_MAX, MSG_DONTWAIT);
		if (n == 0 && !channel_closed(r->chan_fd)) {
			r->stats.drop_bad_record++;   /* an empty record: counted, never an end */
			continue;
		}
		if (n == 0)
			return 1;
		if (n < 0) {
			readpace_learn(&r->pace_chan, limit, i);
			return errno == EAGAIN || errno == EINTR ? 0 : 1;
		}
		channel_record(r, buf, (size_t)n);
	}
	readpace_learn(&r->pace_chan, limit, i);
	return 0;
}

/*
 * The capsule's first process ended: what it sent just before (its last
 * replies, a FIN) still waits in its channel, and goes out before we stop.
 */
static void drain_channel(struct host_relay *r, unsigned char *buf)
{
	for (int i = 0; i < 65536; i++) {
		ssize_t n = recv(r->chan_fd, buf, CAP_CHAN_MAX, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		channel_record(r, buf, (size_t)n);
	}
}

/* Reap what ended: 1 when it was the capsule's first process (*wstatus set); other processes'
 * ends go to their parents (procs.c). */
static int reap(struct host_relay *r, int *wstatus)
{
	int root = 0;
	for (;;) {
		int ws;
		pid_t p = waitpid(-1, &ws, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return root;
		if (p == r->child) {
			*wstatus = ws;
			root = 1;
		} else if (!consolelog_reaped(p)) {
			procs_reaped(r, p, ws);
		}
	}
}

int relay_run(struct host_relay *r, int *wstatus)
{
	static unsigned char buf[UPLINK_MAX > CAP_CHAN_MAX ? UPLINK_MAX : CAP_CHAN_MAX];
	int result = -1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		fprintf(stderr, "caprun: epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	r->epoll_fd = ep;
	int fds[4] = { r->sig_fd, r->tun_fd, r->chan_fd, r->ctl_fd };
	for (int i = 0; i < 4; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
		if (fds[i] >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			fprintf(stderr, "caprun: epoll_ctl: %s\n", strerror(errno));
			goto out;
		}
	}
	procs_watch_all(r);   /* a resumed capsule's other processes */
	int64_t later_at = r->later ? (int64_t)clock_now_ms() + RELAY_LATER_MS : 0;
	unsigned watched = r->uplink_gen;   /* which uplink the epoll set holds */
	int watched_wake = -1;              /* a --keep-running snapshot's pre-copy (snapshot.h) */
	for (;;) {
		struct epoll_event evs[8];
		if (r->exec_lost) {   /* pid 1's exec ended its old program and could not start the new */
			*wstatus = SIGKILL;
			result = 0;
			goto out;
		}
		int wake = snapshot_wake_fd();
		if (wake != watched_wake && wake >= 0) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = wake };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) < 0 && errno != EEXIST) {
				fprintf(stderr, "caprun: epoll_ctl: %s\n", strerror(errno));
				goto out;
			}
		}
		watched_wake = wake;
		/* A new uplink (ours below, or one a migration or snapshot attached while it was the
		 * loop): watch it.  The old one was closed, which took it out of the set. */
		if (r->uplink_gen != watched && r->tun_fd >= 0) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = r->tun_fd };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, r->tun_fd, &ev) < 0 && errno != EEXIST) {
				fprintf(stderr, "caprun: epoll_ctl: %s\n", strerror(errno));
				goto out;
			}
			watched = r->uplink_gen;
		}
		int lost = r->uplink && r->tun_fd < 0;
		int timeout = lost ? REATTACH_EVERY_MS : -1;
		if (r->later) {
			int64_t now = (int64_t)clock_now_ms();
			if (now >= later_at) {
				void (*later)(void *) = r->later;
				r->later = NULL;
				later(r->later_arg);
				continue;
			}
			if (timeout < 0 || later_at - now < timeout)
				timeout = (int)(later_at - now);
		}
		int n = epoll_wait(ep, evs, 8, timeout);
		if (lost && (int64_t)clock_now_ms() >= r->reattach_due_ms) {
			r->reattach_due_ms = clock_now_ms() + REATTACH_EVERY_MS;
			char err[UPLINK_ERROR_MAX + 64];
			int rc = caprun_uplink_reattach(r, err, sizeof err);
			if (rc == CAPRUN_UPLINK_REFUSED) {
				fprintf(stderr, "caprun: capsule %s: caphostd: %s; stopping this copy\n",
				        r->name, err);
				result = HOST_RELAY_STALE;
				goto out;
			}
			continue;   /* attached again: watched at the top */
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "caprun: epoll_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == r->tun_fd && r->uplink) {
				if (uplink_to_channel(r, buf)) {
					/* The capsule keeps running, cut off from the network until a
					 * caphostd is back (restarted): then it attaches again. */
					fprintf(stderr, "caprun: capsule %s: caphostd closed the uplink; "
					        "attaching again when one is back\n", r->name);
					fflush(stderr);
					epoll_ctl(ep, EPOLL_CTL_DEL, r->tun_fd, NULL);
					close(r->tun_fd);
					r->tun_fd = -1;
				}
			} else if (fd == r->tun_fd) {
				if (!r->direct)   /* else the capsule's own now: an event from before */
					tun_to_channel(r, buf);
			} else if (fd == r->chan_fd) {
				r->fork_ok = 1;
				int closed = channel_to_tun(r, buf);
				r->fork_ok = 0;
				if (closed)
					epoll_ctl(ep, EPOLL_CTL_DEL, r->chan_fd, NULL);
			} else if (fd == watched_wake) {
				snapshot_precopied(r);   /* freeze for the rest, thaw, start the writer */
			} else if (fd == r->ctl_fd) {
				/* A snapshot or a migration may block the loop: by design (they relay
				 * what the capsule still sends while they wait). */
				int done = ctlserve_accept(r);
				if (done) {
					result = done == 2 ? HOST_RELAY_MIGRATED : HOST_RELAY_SAVED;
					goto out;
				}
			} else if (fd == r->sig_fd) {
				struct signalfd_siginfo si;
				while (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
					if (si.ssi_signo != SIGCHLD) {
						result = (int)si.ssi_signo;
						goto out;
					}
				}
				if (reap(r, wstatus)) {
					drain_channel(r, buf);
					result = 0;
					goto out;
				}
			} else if (procs_channel(r, fd)) {
				/* a child process's records, served */
			}
		}
	}
out:
	r->epoll_fd = -1;
	close(ep);
	return result;
}
