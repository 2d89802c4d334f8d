/* hostd_uplink.c: caphostd's side of the caprun uplink: accept, read records, packets to the router, FROZEN/THAWED/DETACH, ATTACH and MIG_* handed to their modules. */
#include "hosts/caphostd/hostd.h"
#include "hosts/common/tcpmss.h"
#include "hosts/formats/uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define UPLINK_SOCKBUF (4 << 20)

void hostd_uplink_accept(struct hostd *d)
{
	for (;;) {
		int fd = accept4(d->up_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		int idx = -1;
		for (int i = 0; i < HOSTD_MAX_CAPS && idx < 0; i++)
			if (d->caps[i].state == HCAP_FREE)
				idx = i;
		if (idx < 0) {
			d->cnt.up_attach_refused++;
			close(fd);
			continue;
		}
		int size = UPLINK_SOCKBUF;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = HOSTD_EV_CAP + (uint64_t)idx };
		if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		if (idx >= d->caps_hw)
			d->caps_hw = idx + 1;
		uint32_t gen = d->caps[idx].gen + 1;
		memset(&d->caps[idx], 0, sizeof d->caps[idx]);
		d->caps[idx].gen = gen;   /* a job still asking for the slot's last capsule sees it went */
		d->caps[idx].state = HCAP_CONNECTED;
		d->caps[idx].fd = fd;
	}
}

/* The capsule left by migration: the directory names its new host, nothing of it stays here. */
static void forget_migrated(struct hostd *d, struct hostd_cap *c)
{
	const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
	/* Our own entry would hold its packets forever: drop it, the next packet asks the directory.
	 * A REMOTE entry (set when the MOVE won) stays, so late packets get REDIRECTs. */
	if (x && (x->state == XLATE_LOCAL || x->state == XLATE_FROZEN))
		xlate_delete(&d->xt, c->ip);
	/* Bytes a local gateway holder acknowledged must reach the new host, never be dropped. */
	if (hostd_hold_is_held(d, c->ip))
		hostd_hold_release(d, c->ip);
	memset(&c->mig, 0, sizeof c->mig);
	c->state = HCAP_FREE;
}

/* Nobody runs it here any more and the directory must not say we do. */
static void forget_local(struct hostd *d, struct hostd_cap *c)
{
	const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
	if (x && (x->state == XLATE_LOCAL || x->state == XLATE_FROZEN))
		xlate_delete(&d->xt, c->ip);
	hostd_hold_drop(d, c->ip);
	memset(&c->mig, 0, sizeof c->mig);
	c->state = HCAP_FREE;
}

/*
 * Forget a capsule's uplink.  What the directory must hear depends on how
 * far the capsule got here (docs/MIGRATION.md section 7):
 *   - not attached (connecting, attaching, incoming): nothing is ours, or
 *     the attach job undoes it when its answer comes;
 *   - arrived by migration, never started (no STARTING): back to its source;
 *   - moved away by migration: nothing stays;
 *   - its caprun died while migrating it away: an orphan job waits for the
 *     target's pull (after MIG_END) or releases it;
 *   - saved: its entry stays ours (it lives on disk);
 *   - exited: the address goes back to the directory.
 */
static void detach(struct hostd *d, struct hostd_cap *c, uint32_t reason)
{
	if (c->fd >= 0) {
		epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state < HCAP_RUNNING) {
		c->state = HCAP_FREE;
		return;
	}
	if (c->mig_source && reason != UPLINK_DETACH_MIGRATED) {
		hostd_dir_return(d, c->ip, c->epoch, c->mig_source);
		forget_local(d, c);
		return;
	}
	if (reason == UPLINK_DETACH_MIGRATED || (c->mig.active && c->mig.moved)) {
		/* Without MIG_DONE the target's own FLUSH_TO (at its ATTACH) releases the peers:
		 * flushing to it from here could reach it before it runs the capsule. */
		forget_migrated(d, c);
		return;
	}
	if (c->mig.active && reason != UPLINK_DETACH_SAVED) {
		/* The peers' queues stay: the target's FLUSH_TO or their timeout ends them.
		 * Forgotten first: the orphan job must not find it still attached here. */
		uint32_t ip = c->ip, epoch = c->mig.epoch ? c->mig.epoch : c->epoch;
		int end_sent = c->mig.end_sent;
		forget_local(d, c);
		hostd_dir_orphan(d, ip, epoch, end_sent);
		return;
	}
	if (reason == UPLINK_DETACH_SAVED) {
		/* On disk: its entry stays ours until it resumes somewhere; the NOTIFY tells us where. */
		c->state = HCAP_SAVED;
		memset(&c->mig, 0, sizeof c->mig);
		struct xlate_entry x = { .capsule_ip = c->ip, .state = XLATE_FROZEN, .epoch = c->epoch };
		xlate_update(&d->xt, &x);
		hostd_dir_report(d, c, DIR_STATE_SAVED);
		hostd_resolve_refresh(d, c->ip);   /* it may have resumed elsewhere already */
		return;
	}
	hostd_dir_release(d, c->ip, c->epoch);
	forget_local(d, c);
}

static void on_packet(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	if (c->state != HCAP_RUNNING && c->state != HCAP_FROZEN) {
		d->cnt.up_not_attached++;
		return;
	}
	if (ipv4_check(pkt, len, IPV4_CHECK_CSUM) != IPV4_OK) {
		d->cnt.up_malformed++;
		return;
	}
	ipv4_addrs(pkt, &src, &dst);
	if (src != c->ip) {
		d->cnt.up_spoofed++;   /* caprun checks too: a second line of defence */
		return;
	}
	c->pkts_out++;
	d->cnt.up_pkts_out++;
	uint8_t syn[TCPMSS_SYN_MAX];
	/* Between capsules a large MSS stays: what does not fit the wire is cut into pieces that
	 * do and joined again on the other host (hostd_batch.c), so bulk moves in 64 KiB
	 * segments end to end.  Toward an ordinary peer, or from a capsule on a small link, it
	 * is lowered: there a full segment would be cut into one full piece and a small one. */
	int keep = hostd_in_net(d, dst) && tcpmss_of(pkt, len) >= HOSTD_KEEP_MSS;
	if (!keep && tcpmss_clamp(pkt, len, d->wire_mss, syn, sizeof syn)) {
		pkt = syn;   /* its peer will send segments that fit the wire wrapped */
		d->cnt.mss_clamped++;
	}
	if (d->ncaptures)
		hostd_capture_inner(d, HOSTD_CAPTURE_UPLINK, pkt, len);
	hostd_route_packet(d, pkt, len);
}

/* Which records a capsule's uplink may send in its state. */
static int record_allowed(const struct hostd_cap *c, const struct uplink_msg *m)
{
	if (m->type == UPLINK_ATTACH)
		return c->state == HCAP_CONNECTED ||
		       (c->state == HCAP_INCOMING && (m->u.attach.flags & UPLINK_ATTACH_MIGRATED) &&
		        m->u.attach.ip == c->ip && m->u.attach.epoch == c->epoch);
	if (m->type == UPLINK_DETACH)
		return c->state != HCAP_CONNECTED;
	return c->state >= HCAP_RUNNING && c->state != HCAP_SAVED;
}

void hostd_uplink_input(struct hostd *d, int idx)
{
	static uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));
	struct hostd_cap *c = &d->caps[idx];
	int limit = readpace_limit(&c->pace), i;
	for (i = 0; i < limit && c->fd >= 0; i++) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			readpace_learn(&c->pace, limit, i);
			return;
		}
		/*
		 * caprun closing with our packets unread in its queue sets ECONNRESET,
		 * which recv reports once BEFORE the records still queued for us (its
		 * DETACH among them): read on, only end of file means it is gone.
		 */
		if (n < 0 && errno == ECONNRESET)
			continue;
		if (n <= 0) {
			detach(d, c, UPLINK_DETACH_EXITED);   /* caprun gone without DETACH: it exited */
			return;
		}
		struct uplink_msg m;
		if (uplink_decode(buf, (size_t)n, &m)) {
			d->cnt.up_malformed++;
			continue;
		}
		if (!record_allowed(c, &m)) {
			d->cnt.up_not_attached++;   /* ATTACH first, once (INCOMING: then MIGRATED) */
			continue;
		}
		switch (m.type) {
		case UPLINK_ATTACH:
			hostd_attach_start(d, c, &m.u.attach);
			break;
		case UPLINK_STARTING:
			/* From now on a dead caprun means a dead capsule, not one to hand back. */
			c->mig_source = 0;
			d->cnt.mig_started++;
			clock_trace("tgthostd starting");
			hostd_mig_arrived(d, c);   /* the peers' queues and the gateway's hold: here now */
			hostd_dir_state(d, c->ip, c->epoch, DIR_STATE_RUNNING, 1);   /* the source waits */
			break;
		case UPLINK_MIG_END:
			if (c->mig.active)
				c->mig.end_sent = 1;
			else
				d->cnt.mig_out_of_order++;
			break;
		case UPLINK_PACKET:
			on_packet(d, c, m.u.packet.pkt, m.u.packet.len);
			break;
		case UPLINK_FROZEN: {
			c->state = HCAP_FROZEN;
			struct xlate_entry x = { .capsule_ip = c->ip, .state = XLATE_FROZEN, .epoch = c->epoch };
			xlate_update(&d->xt, &x);
			hostd_gw_send_hold(d, c, m.u.frozen.recs, m.u.frozen.n);
			/* Not for a migration's freeze: the MOVE that ends it resets the state, a
			 * thaw reports running, a FENCE frozen; this durable commit came in the
			 * middle of the downtime, and the target's MOVE sometimes queued behind it. */
			if (!c->mig.active)
				hostd_dir_report(d, c, DIR_STATE_FROZEN);
			break;
		}
		case UPLINK_THAWED: {
			c->state = HCAP_RUNNING;
			struct xlate_entry x = { .capsule_ip = c->ip, .state = XLATE_LOCAL, .epoch = c->epoch };
			xlate_update(&d->xt, &x);
			hostd_gw_send_flush(d, c);
			hostd_dir_report(d, c, DIR_STATE_RUNNING);
			break;
		}
		case UPLINK_DETACH:
			detach(d, c, m.u.detach_reason);
			return;
		case UPLINK_MIG_PREPARE:
			hostd_mig_prepare(d, c, &m.u.mig_prepare);
			break;
		case UPLINK_MIG_DIR:
			hostd_mig_dir(d, c, &m.u.mig_dir);
			break;
		case UPLINK_MIG_DONE:
			hostd_mig_done(d, c, &m.u.mig_done);
			break;
		default:
			d->cnt.up_malformed++;   /* caphostd -> caprun types */
		}
	}
	readpace_learn(&c->pace, limit, i);
}
