/* hostd_uplink.c: caphostd's side of the caprun uplink: ATTACH via the directory, packets, FROZEN/THAWED/DETACH, MIG_* dispatch. */
#include "hosts/caphostd/hostd.h"
#include "hosts/formats/uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define UPLINK_SOCKBUF (4 << 20)

struct hostd_cap *hostd_cap_by_ip(struct hostd *d, uint32_t ip)
{
	for (int i = 0; i < HOSTD_MAX_CAPS; i++)
		if (d->caps[i].state >= HCAP_RUNNING && d->caps[i].ip == ip)
			return &d->caps[i];
	return NULL;
}

int hostd_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	struct uplink_hdr h = { UPLINK_PACKET, 0, 0 };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)pkt, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	if (sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		d->cnt.deliver_full++;   /* as a congested link would: TCP retransmits */
		return -1;
	}
	c->pkts_in++;
	d->cnt.up_pkts_in++;
	return 0;
}

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
		uint32_t gen = d->caps[idx].gen + 1;
		memset(&d->caps[idx], 0, sizeof d->caps[idx]);
		d->caps[idx].gen = gen;   /* a job still asking for the slot's last capsule sees it went */
		d->caps[idx].state = HCAP_CONNECTED;
		d->caps[idx].fd = fd;
	}
}

void hostd_uplink_send(const struct hostd_cap *c, const uint8_t *rec, size_t n)
{
	if (n && c->fd >= 0)
		send(c->fd, rec, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Tell the directory how c runs now, so `capctl ps --all` on any host shows
 * it.  Asynchronous; a failure is counted, the capsule goes on regardless
 * (a migration's source waits for "running" from its target: that report
 * is retried until the directory has it). */
void hostd_report_state(struct hostd *d, const struct hostd_cap *c, int state)
{
	/* Retried until the directory has it (a newer report replaces a pending one): a
	 * gateway's hold and a migration's source both go by it. */
	hostd_dir_state(d, c->ip, c->epoch, state, 1);
}

const char *hostd_cap_state_name(const struct hostd_cap *c)
{
	static const char *const names[] = { "free", "connected", "attaching", "incoming", "running",
	                                     "frozen", "saved" };
	if (c->mig.active)
		return "migrating";
	return c->state >= 0 && c->state <= HCAP_SAVED ? names[c->state] : "unknown";
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
	if (hostd_is_held(d, c->ip))
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
		hostd_report_state(d, c, DIR_STATE_SAVED);
		hostd_dir_refresh(d, c->ip);   /* it may have resumed elsewhere already */
		return;
	}
	hostd_dir_release(d, c->ip, c->epoch);
	forget_local(d, c);
}

void hostd_uplink_attached(struct hostd *d, struct hostd_cap *c, uint32_t ip, uint32_t epoch)
{
	uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_attached)];
	struct hostd_cap *other = hostd_cap_by_ip(d, ip);
	if (other && other != c) {
		other->state = HCAP_FREE;   /* its own snapshot resumed here: this record replaces it */
		memset(&other->mig, 0, sizeof other->mig);
	}
	int migrated_in = c->mig_source != 0;
	int resumed = (c->attach_flags & (UPLINK_ATTACH_RESUME | UPLINK_ATTACH_REATTACH)) != 0;
	int frozen = c->state == HCAP_FROZEN;   /* a reattach of a frozen capsule */
	c->state = frozen ? HCAP_FROZEN : HCAP_RUNNING;
	c->ip = ip;
	c->epoch = epoch;
	struct xlate_entry x = { .capsule_ip = ip, .state = frozen ? XLATE_FROZEN : XLATE_LOCAL,
	                         .epoch = epoch };
	if (xlate_update(&d->xt, &x) != XLATE_OK) {
		xlate_delete(&d->xt, ip);   /* a stale REMOTE of a newer epoch cannot exist: the move just won */
		xlate_update(&d->xt, &x);
	}
	d->cnt.up_attach++;
	hostd_uplink_send(c, rec, uplink_encode_attached(rec, sizeof rec, ip, epoch));
	if (frozen)
		return;   /* its FROZEN record follows: the gateway keeps (or starts) holding */
	if (migrated_in)
		return;   /* the peers' queues and the gateway's hold come here at STARTING, when it
		           * runs: released now, they would die with a caprun that dies before that */
	if (resumed)
		hostd_send_flush(d, c);   /* whatever the gateway held for it comes here now (a FLUSH
		                           * lost while our predecessor died, too) */
	hostd_report_state(d, c, DIR_STATE_RUNNING);   /* after the flush: held peers come first */
}

void hostd_uplink_refused(struct hostd *d, struct hostd_cap *c, const char *err)
{
	uint8_t rec[UPLINK_HDR_LEN + UPLINK_ERROR_MAX];
	d->cnt.up_attach_refused++;
	hostd_uplink_send(c, rec, uplink_encode_error(rec, sizeof rec, err));
	/* Refused: nothing of it is ours (a stale reattached copy is not released either). */
	if (c->fd >= 0) {
		epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state >= HCAP_RUNNING) {
		const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
		if (x && (x->state == XLATE_LOCAL || x->state == XLATE_FROZEN))
			xlate_delete(&d->xt, c->ip);
	}
	memset(&c->mig, 0, sizeof c->mig);
	c->mig_source = 0;
	c->state = HCAP_FREE;
}

static void on_packet(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	uint32_t src, dst;
	if (c->state != HCAP_RUNNING && c->state != HCAP_FROZEN) {
		d->cnt.up_not_attached++;
		return;
	}
	if (wire_ipv4_check(pkt, len) != WIRE_OK) {
		d->cnt.up_malformed++;
		return;
	}
	wire_ipv4_addrs(pkt, &src, &dst);
	if (src != c->ip) {
		d->cnt.up_spoofed++;   /* caprun checks too: a second line of defence */
		return;
	}
	c->pkts_out++;
	d->cnt.up_pkts_out++;
	hostd_route(d, pkt, len);
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
	for (int i = 0; i < 64 && c->fd >= 0; i++) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
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
			hostd_send_hold(d, c, m.u.frozen.socks, m.u.frozen.n);
			hostd_report_state(d, c, DIR_STATE_FROZEN);
			break;
		}
		case UPLINK_THAWED: {
			c->state = HCAP_RUNNING;
			struct xlate_entry x = { .capsule_ip = c->ip, .state = XLATE_LOCAL, .epoch = c->epoch };
			xlate_update(&d->xt, &x);
			hostd_send_flush(d, c);
			hostd_report_state(d, c, DIR_STATE_RUNNING);
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
}
