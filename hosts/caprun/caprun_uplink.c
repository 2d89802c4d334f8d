/* caprun_uplink.c: caprun's side of the caphostd uplink: connect, ATTACH, FROZEN, THAWED, DETACH. */
#include "hosts/formats/ctlproto.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/formats/uplink.h"
#include "capsule-abi/cap_abi.h"
#include "hosts/common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define UPLINK_BUF (4 << 20)
#define REATTACH_TIMEOUT_MS 5000   /* answered from caprun's word: no directory in between */

int caprun_uplink_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ctlsock_run_dir(),
	                     UPLINK_SOCK_NAME) >= sizeof sa.sun_path)
		return -1;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* No file, or a stale one nobody accepts on: run alone, exactly as without caphostd. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	int size = UPLINK_BUF;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

int caprun_uplink_send_record(int fd, const uint8_t *rec, size_t n)
{
	for (int tries = 0; tries < 200; tries++) {
		if (send(fd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd p = { fd, POLLOUT, 0 };
		poll(&p, 1, 10);
	}
	return -1;
}

int caprun_uplink_attach(int fd, const char *name, const struct uplink_attach *a, int timeout_ms,
                       uint32_t *ip_out, uint32_t *epoch, char *err, size_t errlen)
{
	static uint8_t buf[UPLINK_MAX];
	size_t n = uplink_encode_attach(buf, sizeof buf, name, a);
	if (!n || caprun_uplink_send_record(fd, buf, n)) {
		snprintf(err, errlen, "sending ATTACH: %s", n ? strerror(errno) : "bad name");
		return CAPRUN_UPLINK_NO_VERDICT;
	}
	int64_t deadline = clock_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = timeout_ms < 0 ? 1000 : deadline - clock_now_ms();
		if (left <= 0) {
			snprintf(err, errlen, "no answer to ATTACH within %d s", timeout_ms / 1000);
			return CAPRUN_UPLINK_NO_VERDICT;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			snprintf(err, errlen, "caphostd closed the uplink during ATTACH");
			return CAPRUN_UPLINK_NO_VERDICT;
		}
		struct uplink_msg m;
		if (uplink_decode(buf, (size_t)got, &m))
			continue;
		if (m.type == UPLINK_ERROR) {
			snprintf(err, errlen, "%s", m.u.error);
			return CAPRUN_UPLINK_REFUSED;
		}
		if (m.type == UPLINK_ATTACHED) {
			if (a->ip && m.u.attached.ip != a->ip) {
				snprintf(err, errlen, "caphostd gave another address than asked for");
				return CAPRUN_UPLINK_REFUSED;
			}
			*ip_out = m.u.attached.ip;
			*epoch = m.u.attached.epoch;
			return 0;
		}
		/* a PACKET before ATTACHED cannot happen: caphostd answers first */
	}
}

int caprun_uplink_reattach(struct host_relay *r, char *err, size_t errlen)
{
	int fd = caprun_uplink_connect();
	if (fd < 0)
		return CAPRUN_UPLINK_NO_VERDICT;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);   /* above the loader's fixed numbers, as at start */
	close(fd);
	if (high < 0)
		return CAPRUN_UPLINK_NO_VERDICT;
	struct uplink_attach a = { .ip = r->ip, .flags = UPLINK_ATTACH_REATTACH, .epoch = r->epoch,
	                           .mtu = r->snap_template.mtu,
	                           .state = r->migrating ? UPLINK_STATE_MIGRATING
	                                    : r->frozen ? UPLINK_STATE_FROZEN : UPLINK_STATE_RUNNING };
	uint32_t ip, epoch;
	int rc = caprun_uplink_attach(high, r->name, &a, REATTACH_TIMEOUT_MS, &ip, &epoch, err, errlen);
	if (rc) {
		close(high);
		return rc;
	}
	r->tun_fd = high;
	r->uplink_gen++;   /* the relay watches the new one, whoever attached it */
	r->stats.reattached++;
	fprintf(stderr, "caprun: capsule %s: attached again to caphostd (it restarted)\n", r->name);
	if (r->frozen)
		caprun_uplink_frozen(r);   /* the new caphostd (and the gateway, again) hold its peers */
	return 0;
}

void caprun_uplink_frozen(struct host_relay *r)
{
	if (r->tun_fd < 0)
		return;   /* no caphostd now: the reattach sends it */
	static uint8_t report[CAP_REPORT_SIZE];
	static uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_frozen_hdr) +
	                   UPLINK_FROZEN_MAX * TCPCONN_WIRE_LEN];
	struct cap_control ctl;
	size_t len = 0;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl &&
	    ctl.report_size <= sizeof report) {
		ssize_t got = pread(r->memfd, report, ctl.report_size,
		                    (off_t)CAP_MEMFD_OFFSET(CAP_REPORT_ADDR));
		len = got > 0 ? (size_t)got : 0;
	}
	/* No usable report still says FROZEN (with no sockets): UDP is held all the same. */
	size_t n = uplink_encode_frozen(rec, sizeof rec, report, len);
	if (n && caprun_uplink_send_record(r->tun_fd, rec, n))
		fprintf(stderr, "caprun: capsule %s: sending FROZEN to caphostd: %s\n", r->name,
		        strerror(errno));
}

void caprun_uplink_thawed(struct host_relay *r)
{
	uint8_t rec[UPLINK_HDR_LEN];
	if (r->tun_fd < 0)
		return;   /* no caphostd now: the reattach says "running" */
	size_t n = uplink_encode_simple(rec, sizeof rec, UPLINK_THAWED);
	if (caprun_uplink_send_record(r->tun_fd, rec, n))
		fprintf(stderr, "caprun: capsule %s: sending THAWED to caphostd: %s\n", r->name,
		        strerror(errno));
}

void caprun_uplink_detach(int fd, uint32_t reason)
{
	uint8_t rec[UPLINK_HDR_LEN + 4];
	size_t n = uplink_encode_detach(rec, sizeof rec, reason);
	if (fd >= 0 && n)
		caprun_uplink_send_record(fd, rec, n);
}

size_t caprun_uplink_take_packet(int fd, uint8_t *buf, const uint8_t **pkt)
{
	ssize_t n;
	do
		n = recv(fd, buf, UPLINK_MAX, MSG_DONTWAIT | MSG_PEEK);
	while (n < 0 && errno == EINTR);
	struct uplink_msg m;
	if (n <= 0 || uplink_decode(buf, (size_t)n, &m) || m.type != UPLINK_PACKET ||
	    recv(fd, buf, UPLINK_MAX, MSG_DONTWAIT) != n)
		return 0;
	*pkt = m.u.packet.pkt;
	return m.u.packet.len;
}

void caprun_uplink_kill_peer(int fd)
{
	struct ucred peer;
	socklen_t len = sizeof peer;
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) || peer.pid <= 0)
		return;
	int pidfd = (int)syscall(SYS_pidfd_open, peer.pid, 0);
	if (kill(peer.pid, SIGKILL) == 0 && pidfd >= 0) {
		struct pollfd p = { pidfd, POLLIN, 0 };
		poll(&p, 1, 5000);
	}
	if (pidfd >= 0)
		close(pidfd);
}
