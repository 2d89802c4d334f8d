/* hostd_batch.c: caphostd's wire batching: a TCP segment too large for the wire leaves cut into wire-sized pieces in one GSO send; the pieces one read brings are joined per connection before they go up to the capsule. */
#include "hosts/caphostd/hostd.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#define GSO_MAX_SEGS 64                  /* the kernel's UDP_MAX_SEGMENTS (6.1) */
#define GSO_MAX_BYTES 65507              /* one UDP payload: what a send may carry in all */

/* Every piece of one cut packet, sealed, back to back: the packet's bytes once, and per piece
 * its headers again (IPv4 20, TCP up to 60) and the wire's (tcpseg.h bounds the count). */
static uint8_t batch[65535 + TCPSEG_MAX_PIECES * (20 + 60 + WIRE_OVERHEAD)];

/* Each datagram of buf through d->ops.wire_out (no GSO seam, or captures or faults on). */
static int send_each(struct hostd *d, const uint8_t *buf, size_t len, size_t dgram, uint32_t addr,
                     uint16_t port)
{
	int rc = 0;
	for (size_t off = 0; off < len; off += dgram) {
		size_t n = len - off < dgram ? len - off : dgram;
		struct iovec iov = { (void *)(buf + off), n };
		if (d->faults_on)
			hostd_netem_wire(d, buf + off, n, addr, port);
		else if (d->ops.wire_out(d, &iov, 1, addr, port) < 0)
			rc = -1;
	}
	return rc;
}

int hostd_batch_wire_gso(struct hostd *d, const uint8_t *buf, size_t len, size_t dgram,
                         uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = addr };
	size_t per_send = GSO_MAX_BYTES / dgram;
	if (per_send > GSO_MAX_SEGS)
		per_send = GSO_MAX_SEGS;
	for (size_t off = 0; off < len; off += per_send * dgram) {
		size_t n = len - off < per_send * dgram ? len - off : per_send * dgram;
		union {
			char buf[CMSG_SPACE(sizeof(uint16_t))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { (void *)(buf + off), n };
		struct msghdr m = { .msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov,
		                    .msg_iovlen = 1 };
		if (n > dgram) {
			memset(&ctl, 0, sizeof ctl);
			m.msg_control = ctl.buf;
			m.msg_controllen = sizeof ctl.buf;
			struct cmsghdr *c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t seg = (uint16_t)dgram;
			memcpy(CMSG_DATA(c), &seg, sizeof seg);
		}
		if (sendmsg(d->udp_fd, &m, MSG_DONTWAIT) < 0) {
			/* A kernel or device without UDP segmentation: one datagram per call from now on. */
			if (m.msg_control && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT ||
			                      errno == EOPNOTSUPP)) {
				d->cnt.wire_gso_off++;
				d->ops.wire_out_gso = NULL;
				return send_each(d, buf + off, len - off, dgram, addr, port);
			}
			return -1;
		}
		d->cnt.wire_gso_sends++;
	}
	return 0;
}

int hostd_batch_send_data(struct hostd *d, uint32_t epoch, const uint8_t *pkt, size_t len,
                          uint32_t addr, uint16_t port)
{
	size_t payload = tcpseg_piece_payload(pkt, len, d->wire_inner_max);
	if (!payload)
		return hostd_core_send_wire(d, WIRE_DATA, epoch, pkt, len, addr, port);
	unsigned n = tcpseg_pieces(pkt, len, payload);
	size_t dgram = 0, off = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *at = batch + off;
		size_t plen = tcpseg_piece(pkt, len, payload, i, at + WIRE_HDR_LEN);
		struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_DATA,
		                      .network_id = d->network_id, .sender = d->host_id,
		                      .epoch = epoch, .seq = hostd_core_next_seq(d) };
		if (wire_seal(&h, at + WIRE_HDR_LEN, plen, d->data_key, at,
		              at + WIRE_HDR_LEN + plen) != WIRE_OK) {
			d->cnt.send_errors++;
			return -1;
		}
		if (!i)
			dgram = plen + WIRE_OVERHEAD;   /* every piece but the last is this long */
		off += plen + WIRE_OVERHEAD;
	}
	d->cnt.wire_cut++;
	d->cnt.wire_pieces += n;
	int rc;
	if (d->faults_on || d->ncaptures || !d->ops.wire_out_gso)
		rc = send_each(d, batch, off, dgram, addr, port);   /* each seen as it leaves */
	else
		rc = d->ops.wire_out_gso(d, batch, off, dgram, addr, port);
	if (rc < 0)
		d->cnt.send_errors++;
	return rc;
}

void hostd_batch_deliver_whole(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt,
                               size_t len)
{
	size_t mtu = c->mtu ? c->mtu : 1500;   /* a caprun that does not say: the smallest usual link */
	size_t payload = tcpseg_piece_payload(pkt, len, mtu);
	if (!payload) {
		hostd_core_deliver(d, c, pkt, len);
		return;
	}
	unsigned n = tcpseg_pieces(pkt, len, payload);
	for (unsigned i = 0; i < n; i++) {
		size_t plen = tcpseg_piece(pkt, len, payload, i, batch);
		hostd_core_deliver(d, c, batch, plen);
	}
}

void hostd_batch_read_begin(struct hostd *d)
{
	d->joining = 1;
}

/* One packet on to where a join goes: capsule c's uplink, or capgw when c is NULL. */
static void pass_on(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	if (!c)
		d->ops.gw_write(d, pkt, len);
	else if (c->state == HCAP_RUNNING)
		hostd_core_deliver(d, c, pkt, len);
	else
		d->cnt.drop_held++;
}

void hostd_batch_flush(struct hostd *d)
{
	if (!d->join.len)
		return;
	unsigned pieces = d->join.pieces;
	size_t len = tcpseg_join_take(&d->join);
	if (pieces > 1) {
		d->cnt.join_segments++;
		d->cnt.join_pieces += pieces;
	}
	pass_on(d, d->join_to, d->join_buf, len);
}

void hostd_batch_read_end(struct hostd *d)
{
	hostd_batch_flush(d);
	d->joining = 0;
}

/*
 * pkt for c (NULL: capgw) joined onto what is being joined for the same, or
 * else what was joined goes first and pkt starts a join of its own when it
 * may (start: it is one to start from; cap: the most the join may hold, 0 for
 * nothing joined), or goes at once.
 */
static void join(struct hostd *d, struct hostd_cap *c, int start, size_t cap, const uint8_t *pkt,
                 size_t len)
{
	if (d->joining && cap) {
		if (d->join.len && d->join_to == c && tcpseg_join_add(&d->join, pkt, len))
			return;
		hostd_batch_flush(d);
		d->join.buf = d->join_buf;
		d->join.cap = cap;
		d->join_to = c;
		if (start && tcpseg_join_add(&d->join, pkt, len))
			return;
	} else {
		hostd_batch_flush(d);
	}
	pass_on(d, c, pkt, len);   /* not one to join: at once, in order */
}

void hostd_batch_gw_write(struct hostd *d, const uint8_t *pkt, size_t len)
{
	/* One IPv4 packet at most, and only from a piece that fills the wire: capgw cuts the
	 * joined segment into such pieces again (hostd_gw_tun_write), so the peer gets segments
	 * of the size the capsule sent.  Shorter segments (a peer whose MSS is below the wire's)
	 * that one read brought together go as they came: cut at the wire's size they would
	 * exceed what the peer announced. */
	join(d, NULL, len == d->wire_inner_max, 65535, pkt, len);
}

void hostd_batch_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	join(d, c, 1, c->mtu, pkt, len);   /* within its link (ATTACH; 0: nothing joined) */
}
