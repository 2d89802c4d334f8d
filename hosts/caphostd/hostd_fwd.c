/* hostd_fwd.c: caphostd's data plane, receiving side: unwrap and check datagrams from other hosts, then DATA by the redirect rule, REDIRECT, HOLD, FLUSH, SYNC, ACK; the directory's NOTIFY. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define REDIRECTS_PER_SEC 20   /* per sender: redirects are cheap, but never a flood */

static void send_redirect(struct hostd *d, struct hostd_peer *p, uint32_t capsule_ip,
                          const struct xlate_decision *dec, const struct sockaddr_in *to)
{
	uint64_t now = clock_now_ms();
	if (now / 1000 != p->redirect_ms / 1000)
		p->redirects_in_ms = 0;
	p->redirect_ms = now;
	if (++p->redirects_in_ms > REDIRECTS_PER_SEC) {
		d->cnt.redirect_rate_limited++;
		return;
	}
	struct wire_redirect r = { .capsule_ip = capsule_ip };
	if (dec->reply == XLATE_REPLY_ENTRY) {
		r.host_id = dec->info.host_id;
		r.locator_ip = dec->info.state == XLATE_REMOTE ? dec->info.locator_ip : d->listen_addr;
		r.port = dec->info.state == XLATE_REMOTE ? dec->info.port : d->listen_port;
		r.epoch = dec->info.epoch;
	}
	uint8_t pl[WIRE_REDIRECT_LEN];
	wire_redirect_encode(&r, pl);
	if (hostd_core_send_wire(d, WIRE_REDIRECT, 0, pl, sizeof pl, to->sin_addr.s_addr,
	                    ntohs(to->sin_port)) == 0)
		d->cnt.redirect_out++;
}

static void data_in(struct hostd *d, struct hostd_peer *p, const struct wire_hdr *h,
                    const uint8_t *pkt, size_t len, const struct sockaddr_in *from)
{
	uint32_t src, dst;
	ipv4_addrs(pkt, &src, &dst);
	d->cnt.data_in++;
	if (!hostd_in_net(d, dst)) {
		/* only the gateway writes to ordinary peers, and only as a capsule */
		if (!d->gateway)
			d->cnt.drop_not_gateway++;
		else if (!hostd_in_net(d, src))
			d->cnt.gw_src_not_capsule++;
		else
			hostd_batch_gw_write(d, pkt, len);   /* joined with the pieces before it */
		return;
	}
	struct xlate_decision dec;
	xlate_route_in(&d->xt, dst, h->epoch, &dec);
	if (dec.reply != XLATE_REPLY_NONE)
		send_redirect(d, p, dst, &dec, from);
	if (dec.action == XLATE_DELIVER) {
		struct hostd_cap *c = hostd_core_cap_by_ip(d, dst);
		if (c && c->state == HCAP_RUNNING)
			hostd_batch_deliver(d, c, pkt, len);   /* joined with the pieces before it */
		else
			d->cnt.drop_held++;
	} else if (dec.action == XLATE_HOLD) {
		d->cnt.drop_held++;
	} else {
		d->cnt.drop_epoch++;
	}
}

static void redirect_in(struct hostd *d, const struct wire_hdr *h, const uint8_t *pl, size_t len)
{
	struct wire_redirect r;
	if (wire_redirect_decode(pl, len, &r) != WIRE_OK) {
		d->cnt.redirect_bad++;
		return;
	}
	d->cnt.redirect_in++;
	const struct xlate_entry *x = xlate_lookup(&d->xt, r.capsule_ip);
	if (x && (x->state == XLATE_LOCAL || x->state == XLATE_FROZEN))
		return;   /* ours: our uplink knows better than anyone's cache */
	if (r.host_id == 0) {
		/* "ask the directory": forget what the sender contradicted; the next packet looks up */
		if (x && x->host_id == h->sender)
			xlate_delete(&d->xt, r.capsule_ip);
		return;
	}
	if (r.host_id == d->host_id)
		return;
	struct xlate_entry e = { .capsule_ip = r.capsule_ip, .host_id = r.host_id,
	                         .locator_ip = r.locator_ip, .port = r.port, .state = XLATE_REMOTE,
	                         .epoch = r.epoch };
	xlate_update(&d->xt, &e);
}

/* HOLD from a capsule's host: hold (unless out of date), then acknowledge either way. */
static void hold_in(struct hostd *d, const struct wire_hdr *h, const uint8_t *pl, size_t len,
                    const struct sockaddr_in *from)
{
	static struct hostd_hold_msg m;
	if (!d->gateway || hostd_msg_hold_decode(pl, len, &m)) {
		d->cnt.hold_bad++;
		return;
	}
	d->cnt.hold_in++;
	clock_trace("gw hold-in");
	/* No room (-1): no ACK, so the sender tries again; a slot may be free by then. */
	if (hostd_hold_start(d, &m, h->sender) >= 0)
		hostd_ctl_ack_send(d, HOSTD_CTL_HOLD, m.capsule_ip, m.epoch, m.id, from);
}

static void flush_in(struct hostd *d, const struct wire_hdr *h, const uint8_t *pl, size_t len,
                     const struct sockaddr_in *from)
{
	struct hostd_flush_msg m;
	if (!d->gateway || hostd_msg_flush_decode(pl, len, &m)) {
		d->cnt.hold_bad++;
		return;
	}
	d->cnt.flush_in++;
	clock_trace("gw flush-in");
	struct hostd_stamp st = { m.epoch, h->sender, m.id };
	/* The sender runs it now at epoch: where the held bytes go (an older epoch is refused). */
	struct xlate_entry e = { .capsule_ip = m.capsule_ip, .host_id = h->sender,
	                         .locator_ip = from->sin_addr.s_addr, .port = ntohs(from->sin_port),
	                         .state = XLATE_REMOTE, .epoch = m.epoch };
	if (h->sender != d->host_id)
		xlate_update(&d->xt, &e);
	/* FLUSH from where it runs means what FLUSH_TO to there means: a migration queue for
	 * it goes first (it holds what came before the capsule froze), then the held bytes;
	 * each only if this FLUSH is newer than what made it (a late copy changes nothing). */
	const struct xlate_entry *x = xlate_lookup(&d->xt, m.capsule_ip);
	if (x && x->state == XLATE_REMOTE && x->host_id == h->sender && x->epoch == m.epoch)
		hostd_sync_release_stamped(d, m.capsule_ip, st);
	if (hostd_hold_release_stamped(d, m.capsule_ip, st))
		d->cnt.flush_stale++;
	hostd_ctl_ack_send(d, HOSTD_CTL_FLUSH, m.capsule_ip, m.epoch, m.id, from);
}

/* SYNC-type messages: the peer side (SYNC, FLUSH_TO) or, SYNC_ACK, the source side of a migration. */
static void sync_msg_in(struct hostd *d, const struct wire_hdr *h, const uint8_t *pl, size_t len,
                        const struct sockaddr_in *from)
{
	struct hostd_sync_msg m;
	if (hostd_msg_sync_decode(pl, len, &m)) {
		d->cnt.sync_bad++;
		return;
	}
	switch (m.kind) {
	case HOSTD_SYNC:
		d->cnt.sync_in++;
		hostd_sync_in(d, h, &m, from);
		break;
	case HOSTD_SYNC_ACK:
		d->cnt.sync_acks_in++;
		if (m.host_id != h->sender) {
			d->cnt.sync_bad++;   /* a peer acknowledges for itself only */
			return;
		}
		hostd_mig_ack(d, h->sender, &m);
		break;
	default:
		hostd_sync_flush_to_in(d, h, &m, from);
	}
}

void hostd_fwd_datagram(struct hostd *d, const uint8_t *buf, size_t n, const struct sockaddr_in *from)
{
	struct wire_hdr h;
	const uint8_t *pl;
	size_t plen;
	int err = wire_decode(buf, n, d->data_key, d->network_id, &h, &pl, &plen);
	if (err == WIRE_OK && h.sender == d->host_id)
		err = WIRE_E_BAD_SENDER;   /* our own key, our own id: a reflection, not a peer */
	struct hostd_peer *p = err == WIRE_OK ? hostd_core_peer(d, h.sender, 1) : NULL;
	if (err == WIRE_OK && !p)
		return;
	if (err == WIRE_OK)
		err = wire_replay_check(&p->replay, h.seq);
	wire_count(&d->wc, err);
	if (err != WIRE_OK)
		return;
	wire_replay_commit(&p->replay, h.seq);
	/* An authenticated packet tells where its sender is: the locator for replies and the gateway. */
	p->addr = from->sin_addr.s_addr;
	p->port = ntohs(from->sin_port);
	if (h.type != WIRE_DATA)
		hostd_batch_flush(d);   /* what it does may deliver too: what came before goes first */
	switch (h.type) {
	case WIRE_DATA: data_in(d, p, &h, pl, plen, from); break;
	case WIRE_REDIRECT: redirect_in(d, &h, pl, plen); break;
	case WIRE_HOLD: hold_in(d, &h, pl, plen, from); break;
	case WIRE_FLUSH: flush_in(d, &h, pl, plen, from); break;
	case WIRE_SYNC: sync_msg_in(d, &h, pl, plen, from); break;
	case WIRE_ACK: hostd_ctl_ack_in(d, h.sender, pl, plen); break;
	case WIRE_GAPS: hostd_gapask_in(d, h.sender, pl, plen, from); break;
	default: d->cnt.hold_bad++; break;
	}
}

/*
 * With UDP_GRO on (caphostd.c) one read may return several datagrams of one
 * sender back to back, each gso bytes long but the last: the pieces of a
 * segment a peer cut (hostd_batch.c).  Each is checked alone; what they
 * carry for one connection is joined on its way up.
 */
void hostd_fwd_input(struct hostd *d)
{
	static uint8_t buf[65536 + 4096];
	int limit = readpace_limit(&d->pace_udp), i;
	for (i = 0; i < limit; i++) {
		struct sockaddr_in from;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
		                    .msg_iovlen = 1, .msg_control = ctl.buf,
		                    .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(d->udp_fd, &m, MSG_DONTWAIT);
		if (n < 0)
			break;
		size_t gso = (size_t)n;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
				int v;
				memcpy(&v, CMSG_DATA(c), sizeof v);
				if (v > 0)
					gso = (size_t)v;
			}
		if (m.msg_flags & MSG_TRUNC)
			d->cnt.wire_truncated++;   /* cannot be: a read holds what GRO joins */
		hostd_batch_read_begin(d);
		for (size_t off = 0; off < (size_t)n; off += gso) {
			size_t len = (size_t)n - off < gso ? (size_t)n - off : gso;
			if (d->ncaptures) {
				struct iovec one = { buf + off, len };
				hostd_capture_wire(d, &one, 1, from.sin_addr.s_addr, ntohs(from.sin_port),
				                   d->listen_addr, d->listen_port);
			}
			hostd_fwd_datagram(d, buf + off, len, &from);
		}
		hostd_batch_read_end(d);
	}
	readpace_learn(&d->pace_udp, limit, i);
}

void hostd_fwd_notify(struct hostd *d, const struct dir_entry *e)
{
	uint32_t ip = htonl(e->ip);
	d->cnt.notifies++;
	struct hostd_cap *c = hostd_core_cap_by_ip(d, ip);
	if (e->host_id == 0) {
		/* released for good: forget it everywhere (a capsule attached here would not be released) */
		if (!c || c->state == HCAP_SAVED) {
			xlate_delete(&d->xt, ip);
			if (c)
				c->state = HCAP_FREE;
		}
		hostd_hold_drop(d, ip);
		return;
	}
	if (e->host_id == d->host_id)
		return;
	if (c && c->state == HCAP_SAVED) {
		/* our snapshot resumed elsewhere: it is theirs now; we keep nothing for it */
		c->state = HCAP_FREE;
		xlate_delete(&d->xt, ip);
	}
	hostd_core_xlate_from_dir(d, e);
	/* A live migration's MOVE comes before its target attached the capsule: bytes the
	 * holder acknowledged, sent there now, would be lost.  Its FLUSH / FLUSH_TO comes
	 * once it runs (and the migration queue tells us one is under way). */
	if (hostd_hold_is_held(d, ip) && !hostd_sync_pending(d, ip))
		hostd_hold_release(d, ip);
}
