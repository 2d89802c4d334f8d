/* snapshot.c: caprun taking a snapshot: FREEZE, relay until FROZEN, write the memfd, THAW or stop. */
#include "hosts/caprun/relay.h"
#include "hosts/formats/snapfile.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FREEZE_TIMEOUT_MS 10000

static int64_t now_ns(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Send one control record (no payload); the channel is non-blocking, so wait a little for room. */
static int send_control(struct host_relay *r, int type, uint16_t seq)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, seq };
	for (int tries = 0; tries < 100; tries++) {
		if (send(r->chan_fd, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof h)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd p = { r->chan_fd, POLLOUT, 0 };
		poll(&p, 1, 10);
	}
	errno = EAGAIN;
	return -1;
}

void host_relay_thaw(struct host_relay *r)
{
	/*
	 * Time stood still for the capsule while it was frozen: continue its
	 * clock at frozen_at_ns (only ever forward), as a resume does, so lwIP's
	 * timers and the app's deadlines see no jump.
	 */
	struct cap_control ctl;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl) {
		int64_t offset = now_ns(CLOCK_MONOTONIC) - ctl.frozen_at_ns;
		if (offset > ctl.mono_offset_ns &&
		    pwrite(r->memfd, &offset, sizeof offset,
		           offsetof(struct cap_control, mono_offset_ns)) != (ssize_t)sizeof offset) {
			/* the capsule's clock jumps forward: harmless, TCP copes */
		}
	}
	if (send_control(r, CAP_MSG_THAW, 0)) {
		fprintf(stderr, "caprun: capsule %s: sending THAW: %s\n", r->name, strerror(errno));
		return;
	}
	r->frozen = 0;
	if (r->uplink)
		host_uplink_thawed(r);   /* caphostd releases the peers it held */
}

/*
 * After FREEZE: keep relaying the capsule's packets (sent before it froze)
 * to the TUN device until FROZEN.  0 when frozen, -1 with reply set.
 */
static int wait_frozen(struct host_relay *r, char *reply, size_t len)
{
	static unsigned char buf[CAP_CHAN_MAX];
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)FREEZE_TIMEOUT_MS * 1000000;
	for (;;) {
		int64_t left = (deadline - now_ns(CLOCK_MONOTONIC)) / 1000000;
		if (left <= 0) {
			r->thaw_on_frozen = 1;
			snprintf(reply, len, "error capsule %s did not freeze within %d s; it keeps running",
			         r->name, FREEZE_TIMEOUT_MS / 1000);
			return -1;
		}
		struct pollfd p = { r->chan_fd, POLLIN, 0 };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR) {
			snprintf(reply, len, "error poll: %s", strerror(errno));
			return -1;
		}
		if (n <= 0)
			continue;
		for (;;) {
			ssize_t m = recv(r->chan_fd, buf, sizeof buf, MSG_DONTWAIT);
			if (m < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (m == 0 && !host_relay_channel_closed(r->chan_fd)) {
				r->stats.drop_bad_record++;   /* an empty record, not the end */
				continue;
			}
			if (m <= 0) {
				snprintf(reply, len, "error capsule %s exited during the freeze", r->name);
				return -1;
			}
			if (host_relay_record(r, buf, (size_t)m) == CAP_MSG_FROZEN)
				return 0;
		}
	}
}

int host_relay_freeze(struct host_relay *r, char *reply, size_t len)
{
	static unsigned char buf[CAP_CHAN_MAX];
	/*
	 * What the capsule queued before this FREEZE is read first (relayed, or counted
	 * if it is a FROZEN nobody asked for); then a number it cannot guess: only the
	 * FROZEN that echoes it answers this FREEZE.
	 */
	for (int i = 0; i < 4096; i++) {
		ssize_t m = recv(r->chan_fd, buf, sizeof buf, MSG_DONTWAIT);
		if (m < 0 || (m == 0 && host_relay_channel_closed(r->chan_fd)))
			break;
		host_relay_record(r, buf, (size_t)m);
	}
	uint16_t seq = 0;
	while (!seq || seq == r->freeze_last)
		if (getrandom(&seq, sizeof seq, 0) != (ssize_t)sizeof seq)
			seq = (uint16_t)(r->freeze_last + 1);
	r->freeze_last = seq;
	r->freeze_seq = seq;
	if (send_control(r, CAP_MSG_FREEZE, r->freeze_seq)) {
		r->freeze_seq = 0;
		snprintf(reply, len, "error sending FREEZE to capsule %s: %s", r->name, strerror(errno));
		return -1;
	}
	return wait_frozen(r, reply, len);
}

static long ms_between(int64_t a, int64_t b)
{
	return (long)((b - a + 500000) / 1000000);
}

int host_relay_snapshot(struct host_relay *r, const char *path, int dirfd, int keep,
                        char *reply, size_t len)
{
	if (r->thaw_on_frozen) {
		snprintf(reply, len, "error capsule %s has not answered an earlier freeze yet", r->name);
		return 0;
	}
	/* The key first: a host that cannot authenticate a snapshot does not even freeze. */
	struct snap_key key;
	char kerr[PATH_MAX + 128];
	if (snapauth_key_for_writing(&key, kerr, sizeof kerr)) {
		snprintf(reply, len, "error snapshot key %s", kerr);
		return 0;
	}
	/* We are the loop: while we are in here, nothing is read from the TUN device. */
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	if (host_relay_freeze(r, reply, len)) {
		sodium_memzero(&key, sizeof key);
		return 0;
	}
	int64_t t1 = now_ns(CLOCK_MONOTONIC);

	struct cap_snap_header h = r->snap_template;
	struct cap_control ctl;
	char err[PATH_MAX + 256];
	uint64_t bytes = 0;
	int failed = 0;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		snprintf(err, sizeof err, "reading the control page: %s", strerror(errno));
		failed = 1;
	} else {
		h.frozen_at_ns = ctl.frozen_at_ns;
		h.taken_at_unix_ns = now_ns(CLOCK_REALTIME);
		failed = host_snap_write(r->memfd, &h, dirfd, path, &key, &bytes, err, sizeof err) != 0;
	}
	sodium_memzero(&key, sizeof key);
	int64_t t2 = now_ns(CLOCK_MONOTONIC);
	if (failed) {
		host_relay_thaw(r);   /* whatever keep was: a failed snapshot loses nothing */
		snprintf(reply, len, "error %s", err);
		return 0;
	}
	snprintf(reply, len, "ok %llu %ld %ld", (unsigned long long)bytes, ms_between(t0, t1),
	         ms_between(t1, t2));
	if (keep) {
		host_relay_thaw(r);
		return 0;
	}
	snprintf(r->saved_path, sizeof r->saved_path, "%s", path);
	return 1;
}
