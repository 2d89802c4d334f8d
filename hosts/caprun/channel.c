/* channel.c: the capsule's channel, shared by caprun's parts: one record from the capsule handled (packets out to the host, READY, FROZEN), packets in from the uplink, FREEZE and THAW. */
#include "hosts/caprun/caprun_detach.h"
#include "hosts/caprun/channel.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/volume.h"
#include "hosts/common/clock.h"
#include "hosts/common/ipv4.h"
#include "hosts/common/tunvnet.h"
#include "hosts/formats/uplink.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * The relay loop (relay.c), a snapshot (snapshot.c) and a live migration
 * (caprun_mig.c) all read the channel while they run; what they do with a
 * record is here, once, so none of them calls another.
 */

#define FREEZE_TIMEOUT_MS 10000

/* One uplink PACKET record to the capsule (the header rewritten in place). */
void channel_from_uplink(struct host_relay *r, unsigned char *rec, size_t n)
{
	struct cap_chan_hdr h = { CAP_MSG_PACKET, 0, 0 };
	memcpy(rec, &h, sizeof h);
	if (send(r->chan_fd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		r->stats.drop_host_full++;
	else
		r->stats.packets_in++;
}

/* One checked packet from the capsule to the host: the TUN device or the uplink. */
static void packet_out(struct host_relay *r, const unsigned char *p, size_t n)
{
	ssize_t w;
	if (r->uplink && r->tun_fd < 0) {
		r->stats.drop_host_full++;   /* no caphostd at the moment: as a link that is down */
		return;
	}
	if (r->uplink) {
		struct uplink_hdr h = { UPLINK_PACKET, 0, 0 };
		struct iovec iov[2] = { { &h, sizeof h }, { (void *)p, n } };
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
		w = sendmsg(r->tun_fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		w = tunvnet_write(r->tun_fd, r->tun_vnet, p, n);
	}
	if (w < 0) {
		r->stats.drop_host_full++;
	} else {
		r->stats.packets_out++;
		if (r->filter && !r->uplink)
			r->tun_host_writes++;   /* the device counts it too */
	}
}

/*
 * CAP_MSG_DIRECT: the capsule reads and writes its TUN device itself from
 * now on, so the loop stops reading it (packets it relayed meanwhile reach
 * the capsule through the channel, which it still reads).  Only a capsule
 * that was given the device may say so.
 */
static void direct_begin(struct host_relay *r)
{
	if (!r->filter || r->uplink || r->direct) {
		r->stats.drop_bad_record++;
		return;
	}
	if (r->epoll_fd >= 0)
		epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, r->tun_fd, NULL);
	r->direct = 1;
	/* Only a capsule that speaks the header is given a vnet device (CAP_HOST_TUN_VNET), so it
	 * takes what the offloads bring: open checksums, TCP segments past the MTU.  Without them
	 * it still works, as on a bare device. */
	if (r->tun_vnet && tunvnet_offload_on(r->tun_fd))
		fprintf(stderr, "caprun: capsule %s: TUNSETOFFLOAD: %s; the kernel sums and segments\n",
		        r->name, strerror(errno));
}

static uint64_t minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * The device counts every packet through it, whoever moved it; caprun's
 * own share (relayed, held) is already in its stats, so the capsule's is
 * the rest.  Counted from the filter's start, so packets the capsule wrote
 * before it said CAP_MSG_DIRECT are on the books too.
 */
void channel_stats(struct host_relay *r, struct host_relay_stats *out)
{
	struct tunfilter_counts k;
	*out = r->stats;
	if (!r->filter || r->uplink || tunfilter_counts(r->filter, &k))
		return;
	out->packets_in += minus(k.to_capsule, r->tun_host_reads);
	out->packets_out += minus(k.from_capsule, r->tun_host_writes + k.spoofed + k.malformed);
	out->drop_spoofed += k.spoofed;
	out->drop_malformed += k.malformed + k.refused;
	out->drop_host_full += k.to_capsule_lost;
}

/*
 * A capsule may only speak as itself: an IPv4 packet whose source is the
 * capsule's own address.  Anything else is dropped and counted, so a
 * compromised capsule cannot forge another capsule's (or host's) traffic.
 */
static int packet_acceptable(struct host_relay *r, const unsigned char *p, size_t n)
{
	uint32_t src;
	if (ipv4_check(p, n, 0) != IPV4_OK) {
		r->stats.drop_malformed++;
		return 0;
	}
	memcpy(&src, p + 12, sizeof src);
	if (src != r->ip) {
		r->stats.drop_spoofed++;
		return 0;
	}
	return 1;
}

/* Send one record, waiting a little for room (the channel is non-blocking). */
static int send_waiting(struct host_relay *r, const void *rec, size_t n)
{
	for (int tries = 0; tries < 100; tries++) {
		if (send(r->chan_fd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd p = { r->chan_fd, POLLOUT, 0 };
		poll(&p, 1, 10);
	}
	errno = EAGAIN;
	return -1;
}

/*
 * A file request: served at once, unless a freeze is pending or the capsule
 * is frozen: then it is dropped, and the capsule sends it again after the
 * freeze (cap_file.h), so every request runs exactly once.
 */
static void file_request(struct host_relay *r, const unsigned char *p, size_t n)
{
	static unsigned char out[VOLUME_REPLY_MAX];
	static struct volumes none;
	if (!r->vols) {
		volume_init(&none);
		r->vols = &none;
	}
	if (r->freeze_seq || r->frozen) {
		r->file_requests_deferred++;
		return;
	}
	size_t len = volume_serve(r->vols, p, n, out);
	if (!len)
		r->stats.drop_bad_record++;
	else if (send_waiting(r, out, len))
		fprintf(stderr, "caprun: capsule %s: answering a file request: %s\n", r->name, strerror(errno));
}

int channel_record(struct host_relay *r, const unsigned char *rec, size_t n)
{
	struct cap_chan_hdr h;
	if (n < sizeof h) {
		r->stats.drop_bad_record++;   /* the capsule only hurts itself */
		return 0;
	}
	memcpy(&h, rec, sizeof h);
	/* FROZEN only as the answer to our pending FREEZE: its number, once. */
	if (h.type == CAP_MSG_FROZEN && (!r->freeze_seq || h.seq != r->freeze_seq || h.flags)) {
		r->stats.drop_bad_record++;
		return 0;
	}
	if (h.type == CAP_MSG_PACKET) {
		if (!packet_acceptable(r, rec + sizeof h, n - sizeof h))
			return h.type;
		if (!r->traced_first_packet++)
			clock_trace("first-packet-out");
		packet_out(r, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_FILE_REQ) {
		file_request(r, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_FORK) {
		procs_fork(r, 0);   /* refused unless the relay loop itself reads (procs.c) */
	} else if (h.type == CAP_MSG_WAKE && n >= sizeof h + sizeof(struct cap_proc_wake)) {
		struct cap_proc_wake w;
		memcpy(&w, rec + sizeof h, sizeof w);
		procs_wake(r, 0, w.procs);
	} else if (h.type == CAP_MSG_KILL && n >= sizeof h + sizeof(struct cap_proc_signal)) {
		struct cap_proc_signal m;
		memcpy(&m, rec + sizeof h, sizeof m);
		procs_kill(r, 0, m.pid, m.sig);
	} else if (h.type == CAP_MSG_PROC_REQ) {
		procs_request(r, 0, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_EXEC) {
		procs_exec(r, 0, rec + sizeof h, n - sizeof h);   /* pid 1's channel may change here */
	} else if (h.type == CAP_MSG_LOST) {
		procs_lost_done(r, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_DIRECT) {
		direct_begin(r);
	} else if (h.type == CAP_MSG_READY && !r->ready_seen) {
		r->ready_seen = 1;
		clock_trace("ready");
		caprun_detach_ready();   /* caprun -d: the caller may return now */
		if (r->addr[0]) {   /* caprun --no-net: no address, and stdout is the program's alone */
			printf("capsule %s running at %s\n", r->name, r->addr);
			fflush(stdout);
		}
	} else if (h.type == CAP_MSG_FROZEN) {
		r->freeze_seq = 0;   /* answered */
		r->frozen = 1;
		/* caphostd holds the capsule's ordinary peers from now until THAWED or a resume */
		if (r->uplink)
			caprun_uplink_frozen(r);
		if (r->thaw_on_frozen) {
			r->thaw_on_frozen = 0;
			channel_thaw(r);
		}
	} else if (h.type != CAP_MSG_READY) {
		r->stats.drop_bad_record++;   /* FREEZE, THAW (ours to send) or unknown */
		return 0;
	}
	return h.type;
}

/* recv said 0: the end of the channel, or a zero-length record the capsule sent? */
int channel_closed(int fd)
{
	struct pollfd p = { fd, POLLIN | POLLRDHUP, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/* Send one control record (no payload); the channel is non-blocking, so wait a little for room. */
static int send_control(struct host_relay *r, int type, uint16_t seq)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, seq };
	return send_waiting(r, &h, sizeof h);
}

void channel_thaw(struct host_relay *r)
{
	/*
	 * Time stood still for the capsule while it was frozen: continue its
	 * clock at frozen_at_ns (only ever forward), as a resume does, so lwIP's
	 * timers and the app's deadlines see no jump.
	 */
	struct cap_control ctl;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl) {
		/* Several processes continue together from the last one's freeze (procs_snap.c). */
		int64_t at = r->frozen_at_all > ctl.frozen_at_ns ? r->frozen_at_all : ctl.frozen_at_ns;
		int64_t offset = clock_now_ns(CLOCK_MONOTONIC) - at;
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
		caprun_uplink_thawed(r);   /* caphostd releases the peers it held */
}

/*
 * After FREEZE: keep relaying the capsule's packets (sent before it froze)
 * to the TUN device until FROZEN.  0 when frozen, -1 with reply set.
 */
static int wait_frozen(struct host_relay *r, char *reply, size_t len)
{
	static unsigned char buf[CAP_CHAN_MAX];
	int64_t deadline = clock_now_ns(CLOCK_MONOTONIC) + (int64_t)FREEZE_TIMEOUT_MS * 1000000;
	for (;;) {
		int64_t left = (deadline - clock_now_ns(CLOCK_MONOTONIC)) / 1000000;
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
			if (m == 0 && !channel_closed(r->chan_fd)) {
				r->stats.drop_bad_record++;   /* an empty record, not the end */
				continue;
			}
			if (m <= 0) {
				snprintf(reply, len, "error capsule %s exited during the freeze", r->name);
				return -1;
			}
			if (channel_record(r, buf, (size_t)m) == CAP_MSG_FROZEN)
				return 0;
		}
	}
}

int channel_freeze(struct host_relay *r, char *reply, size_t len)
{
	if (channel_freeze_send(r, reply, len))
		return -1;
	return wait_frozen(r, reply, len);
}

int channel_freeze_send(struct host_relay *r, char *reply, size_t len)
{
	static unsigned char buf[CAP_CHAN_MAX];
	/*
	 * What the capsule queued before this FREEZE is read first (relayed, or counted
	 * if it is a FROZEN nobody asked for); then a number it cannot guess: only the
	 * FROZEN that echoes it answers this FREEZE.
	 */
	for (int i = 0; i < 4096; i++) {
		ssize_t m = recv(r->chan_fd, buf, sizeof buf, MSG_DONTWAIT);
		if (m < 0 || (m == 0 && channel_closed(r->chan_fd)))
			break;
		channel_record(r, buf, (size_t)m);
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
	return 0;
}
