/* snapshot.c: caprun taking a snapshot: freeze the capsule (channel.c), write the memfd, thaw it or stop. */
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/held.h"
#include "hosts/common/clock.h"
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

static long ms_between(int64_t a, int64_t b)
{
	return (long)((b - a + 500000) / 1000000);
}

int snapshot_take(struct host_relay *r, const char *path, int dirfd, int keep,
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
	int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
	if (channel_freeze(r, reply, len)) {
		sodium_memzero(&key, sizeof key);
		return 0;
	}
	int64_t t1 = clock_now_ns(CLOCK_MONOTONIC);
	/*
	 * Stopping: what peers sent since the freeze would die with the TUN device, and
	 * a client whose request it was would wait for its retransmission timeout after
	 * the resume.  Into the capsule's memory with it (held.c); if anything below
	 * fails the capsule is thawed and takes the packets from there itself.  Best
	 * effort: a packet that cannot be held is lost, as on any network.
	 */
	struct held_result held;
	if (!keep)
		(void)held_collect(r, &held);

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
		h.taken_at_unix_ns = clock_now_ns(CLOCK_REALTIME);
		failed = snapfile_write(r->memfd, &h, dirfd, path, &key, &bytes, err, sizeof err) != 0;
	}
	sodium_memzero(&key, sizeof key);
	int64_t t2 = clock_now_ns(CLOCK_MONOTONIC);
	if (failed) {
		channel_thaw(r);   /* whatever keep was: a failed snapshot loses nothing */
		snprintf(reply, len, "error %s", err);
		return 0;
	}
	snprintf(reply, len, "ok %llu %ld %ld", (unsigned long long)bytes, ms_between(t0, t1),
	         ms_between(t1, t2));
	if (keep) {
		channel_thaw(r);
		return 0;
	}
	snprintf(r->saved_path, sizeof r->saved_path, "%s", path);
	return 1;
}
