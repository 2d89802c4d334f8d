/* hostd_uplink.c: caphostd's side of the caprun uplink: ATTACH via the directory, packets, FROZEN/THAWED/DETACH, MIG_* dispatch. */
#include "hosts/hostd.h"
#include "hosts/uplink.h"

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
		memset(&d->caps[idx], 0, sizeof d->caps[idx]);
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
 * it.  Best effort: a failure is counted, the capsule goes on regardless. */
void hostd_report_state(struct hostd *d, const struct hostd_cap *c, int state)
{
	if (dirc_state(d->dir, ntohl(c->ip), c->epoch, state, NULL) == 0)
		d->cnt.dir_states++;
	else
		d->cnt.dir_state_errors++;
}

const char *hostd_cap_state_name(const struct hostd_cap *c)
{
	static const char *const names[] = { "free", "attaching", "running", "frozen", "saved" };
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

/* Forget a capsule's uplink; exited: also give its address back to the directory. */
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
	if (reason == UPLINK_DETACH_MIGRATED || (c->mig.active && c->mig.moved)) {
		/* Without MIG_DONE the target's own FLUSH_TO (at its ATTACH) releases the peers:
		 * flushing to it from here could reach it before it runs the capsule. */
		forget_migrated(d, c);
		return;
	}
	int migrating = c->mig.active;
	if (reason == UPLINK_DETACH_SAVED || migrating) {
		/*
		 * On disk: its entry stays ours until it resumes somewhere; the NOTIFY tells us
		 * where.  A caprun gone in the middle of a migration (after MIG_PREPARE, before
		 * MIG_DONE) is treated alike: its target may hold a confirmed copy and pull the
		 * entry ("runs on the target"), so releasing it here could lose the capsule.
		 * The peers' queues stay: the target's FLUSH_TO or their timeout ends them.
		 */
		struct dir_entry e;
		c->state = HCAP_SAVED;
		struct xlate_entry x = { .capsule_ip = c->ip, .state = XLATE_FROZEN, .epoch = c->epoch };
		xlate_update(&d->xt, &x);
		if (!migrating)
			hostd_report_state(d, c, DIR_STATE_SAVED);   /* a migrating one is not on disk */
		c->mig.ready_sent = 1;                    /* nothing left to answer */
		c->mig.decided = 1;                       /* nobody refreshes the peers' queues */
		if (dirc_lookup(d->dir, ntohl(c->ip), 1, &e) == 0 && e.host_id != d->host_id)
			hostd_notify(d, &e);   /* it already resumed elsewhere */
		return;
	}
	uint32_t cur;
	if (dirc_release(d->dir, ntohl(c->ip), c->epoch, &cur) < 0)
		d->cnt.dir_errors++;
	xlate_delete(&d->xt, c->ip);
	hostd_hold_drop(d, c->ip);
	c->state = HCAP_FREE;
}

/*
 * A capsule that arrived by live migration (started at epoch a->epoch) and
 * that the directory does not name us for yet: the pull, one MOVE here at
 * exactly that epoch (the source went silent).  Never at a newer epoch:
 * that one belongs to a source that fenced, and the capsule runs there.
 */
static int pull_migrated(struct hostd *d, const struct uplink_attach *a, uint32_t *ip,
                         uint32_t *epoch, char *err, size_t errlen)
{
	uint32_t got = 0;
	const char *addr = inet_ntoa(*(const struct in_addr *)&a->ip);
	int r = dirc_move(d->dir, ntohl(a->ip), d->host_id, a->epoch, &got);
	if (r == 0) {
		*ip = a->ip;
		*epoch = got;
		return 0;
	}
	if (r == DIR_E_STALE_EPOCH)
		snprintf(err, errlen, "directory: the source kept capsule %s (epoch %u)", addr, got);
	else
		snprintf(err, errlen, "directory refused the move of %s at epoch %u: %s", addr, a->epoch,
		         r > 0 ? dir_error_name(r) : "no answer");
	return -1;
}

/* Fresh: CREATE.  Resume: MOVE the entry here (or keep it if it is ours; CREATE if unknown).
 * Migrated: keep it if it is ours, else pull it at the migration's epoch only. */
static int attach_dir(struct hostd *d, const struct uplink_attach *a, uint32_t *ip, uint32_t *epoch,
                      char *err, size_t errlen)
{
	int r;
	if (a->ip && !hostd_in_net(d, a->ip)) {
		snprintf(err, errlen, "address not in this host's capsule network");
		return -1;
	}
	if (a->flags & UPLINK_ATTACH_RESUME) {
		struct dir_entry e;
		r = dirc_lookup(d->dir, ntohl(a->ip), 0, &e);
		if (r == 0 && e.host_id == d->host_id) {
			*ip = a->ip;   /* ours already (a migration's source committed) */
			*epoch = e.epoch;
			return 0;
		}
		if (a->flags & UPLINK_ATTACH_MIGRATED)
			return pull_migrated(d, a, ip, epoch, err, errlen);
		if (r == 0) {
			for (int tries = 0; tries < 3; tries++) {
				uint32_t got = 0;
				r = dirc_move(d->dir, ntohl(a->ip), d->host_id, e.epoch, &got);
				if (r == 0) {
					*ip = a->ip;
					*epoch = got;
					return 0;
				}
				if (r != DIR_E_STALE_EPOCH)
					break;
				e.epoch = got;   /* moved meanwhile: try again at the current epoch */
			}
		} else if (r == DIR_E_NOT_FOUND) {
			r = 0;   /* the directory never knew it (e.g. a snapshot of a lone host): create */
		}
		if (r != 0) {
			snprintf(err, errlen, "directory refused the move of %s: %s",
			         inet_ntoa(*(const struct in_addr *)&a->ip),
			         r > 0 ? dir_error_name(r) : "no answer");
			return -1;
		}
	}
	uint32_t hip = 0;
	r = dirc_create(d->dir, a->name, ntohl(a->ip), &hip, epoch);
	if (r) {
		snprintf(err, errlen, "directory: %s", r > 0 ? (r == DIR_E_IP_IN_USE ? "address already in use"
		                                               : dir_error_name(r)) : "no answer");
		return -1;
	}
	*ip = htonl(hip);
	return 0;
}

static void on_attach(struct hostd *d, struct hostd_cap *c, const struct uplink_attach *a)
{
	uint8_t rec[UPLINK_HDR_LEN + UPLINK_ERROR_MAX];
	char err[UPLINK_ERROR_MAX];
	uint32_t ip = 0, epoch = 0;
	struct hostd_cap *other = a->ip ? hostd_cap_by_ip(d, a->ip) : NULL;
	if (other && other->state != HCAP_SAVED) {
		snprintf(err, sizeof err, "address %s already in use on this host",
		         inet_ntoa(*(const struct in_addr *)&a->ip));
		goto refuse;
	}
	if (attach_dir(d, a, &ip, &epoch, err, sizeof err))
		goto refuse;
	if (other) {
		other->state = HCAP_FREE;   /* its own snapshot resumed here: this record replaces it */
		memset(&other->mig, 0, sizeof other->mig);
	}
	c->state = HCAP_RUNNING;
	c->ip = ip;
	c->epoch = epoch;
	snprintf(c->name, sizeof c->name, "%s", a->name);
	struct xlate_entry x = { .capsule_ip = ip, .state = XLATE_LOCAL, .epoch = epoch };
	if (xlate_update(&d->xt, &x) != XLATE_OK) {
		xlate_delete(&d->xt, ip);   /* a stale REMOTE of a newer epoch cannot exist: the move just won */
		xlate_update(&d->xt, &x);
	}
	d->cnt.up_attach++;
	hostd_uplink_send(c, rec, uplink_encode_attached(rec, sizeof rec, ip, epoch));
	if (a->flags & UPLINK_ATTACH_MIGRATED)
		hostd_mig_arrived(d, c);  /* the peers' queues and the gateway's hold come here now */
	else if (a->flags & UPLINK_ATTACH_RESUME)
		hostd_send_flush(d, c);   /* whatever the gateway held for it comes here now */
	hostd_report_state(d, c, DIR_STATE_RUNNING);   /* after the flush: the held peers come first */
	return;
refuse:
	d->cnt.up_attach_refused++;
	hostd_uplink_send(c, rec, uplink_encode_error(rec, sizeof rec, err));
	detach(d, c, UPLINK_DETACH_EXITED);
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
		if ((c->state == HCAP_CONNECTED) != (m.type == UPLINK_ATTACH)) {
			d->cnt.up_not_attached++;   /* ATTACH first and only once */
			continue;
		}
		switch (m.type) {
		case UPLINK_ATTACH:
			on_attach(d, c, &m.u.attach);
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
