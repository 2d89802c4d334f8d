/* hostd_core.c: what every part of caphostd shares and no part owns: the peer table, the wire sender, the capsule table, the ways out (uplink, capgw). */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/*
 * The parts of caphostd (hostd_*.c) call downwards only: into this file,
 * the directory's job engine, the control-message sender, ... (the order is
 * in hostd.h).  Whatever must go back up (a parked packet routed again, a
 * NOTIFY) goes through d->ops, which caphostd.c fills and a test may fake.
 */

uint64_t hostd_core_next_seq(struct hostd *d)
{
	/* Seeded from the wall clock once, then consecutive (wire_seq_next): a
	 * restarted daemon starts above what its peers' replay windows saw. */
	return wire_seq_next(&d->seq_last, (uint64_t)clock_now_ns(CLOCK_REALTIME) / 1000000);
}

struct hostd_peer *hostd_core_peer(struct hostd *d, uint32_t host_id, int create)
{
	struct hostd_peer *free_slot = NULL;
	for (int i = 0; i < HOSTD_MAX_PEERS; i++) {
		if (d->peers[i].host_id == host_id)
			return &d->peers[i];
		if (!d->peers[i].host_id && !free_slot)
			free_slot = &d->peers[i];
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		d->cnt.peers_full++;
		return NULL;
	}
	memset(free_slot, 0, sizeof *free_slot);
	free_slot->host_id = host_id;
	wire_replay_init(&free_slot->replay);
	return free_slot;
}

int hostd_core_wire_sendmsg(struct hostd *d, const struct iovec *iov, int iovcnt, uint32_t addr,
                            uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = addr };
	struct msghdr m = { .msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = (struct iovec *)iov,
	                    .msg_iovlen = (size_t)iovcnt };
	if (sendmsg(d->udp_fd, &m, MSG_DONTWAIT) < 0)
		return -1;
	if (d->ncaptures)
		hostd_capture_wire(d, iov, iovcnt, d->listen_addr, d->listen_port, addr, port);
	return 0;
}

int hostd_core_send_wire(struct hostd *d, int type, uint32_t epoch, const uint8_t *payload,
                         size_t plen, uint32_t addr, uint16_t port)
{
	struct wire_hdr h = { .version = WIRE_VERSION, .type = (uint8_t)type,
	                      .network_id = d->network_id, .sender = d->host_id, .epoch = epoch };
	uint8_t hdr[WIRE_HDR_LEN], tag[WIRE_TAG_LEN];
	h.seq = hostd_core_next_seq(d);
	if (wire_seal(&h, payload, plen, d->data_key, hdr, tag) != WIRE_OK) {
		d->cnt.send_errors++;
		return -1;
	}
	if (d->faults_on) {
		/* testing only: the whole datagram meets the injected faults (hostd_netem.c) */
		static uint8_t dgram[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + WIRE_TAG_LEN];
		memcpy(dgram, hdr, sizeof hdr);
		if (plen)
			memcpy(dgram + sizeof hdr, payload, plen);
		memcpy(dgram + sizeof hdr + plen, tag, sizeof tag);
		hostd_netem_wire(d, dgram, plen + WIRE_OVERHEAD, addr, port);
		return 0;
	}
	struct iovec iov[3] = { { hdr, sizeof hdr }, { (void *)payload, plen }, { tag, sizeof tag } };
	if (d->ops.wire_out(d, iov, 3, addr, port) < 0) {
		d->cnt.send_errors++;
		return -1;
	}
	return 0;
}

void hostd_core_tun_emit(struct hostd *d, const uint8_t *pkt, size_t len)
{
	if (d->faults_on)
		hostd_netem_gw_write(d, pkt, len);
	else if (d->ops.tun_out)
		d->ops.tun_out(d, pkt, len);
	else
		d->cnt.gw_write_errors++;   /* not the gateway: no capgw to write to */
}

struct hostd_cap *hostd_core_cap_by_ip(struct hostd *d, uint32_t ip)
{
	for (int i = 0; i < d->caps_hw; i++)
		if (d->caps[i].state >= HCAP_RUNNING && d->caps[i].ip == ip)
			return &d->caps[i];
	return NULL;
}

const char *hostd_core_cap_state_name(const struct hostd_cap *c)
{
	static const char *const names[] = { "free", "connected", "attaching", "incoming", "running",
	                                     "frozen", "saved" };
	if (c->mig.active)
		return "migrating";
	return c->state >= 0 && c->state <= HCAP_SAVED ? names[c->state] : "unknown";
}

int hostd_core_uplink_sendmsg(struct hostd *d, const struct hostd_cap *c, const struct iovec *iov,
                              int iovcnt)
{
	(void)d;
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	if (c->fd < 0)
		return -1;
	return sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int hostd_core_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len)
{
	struct uplink_hdr h = { UPLINK_PACKET, 0, 0 };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)pkt, len } };
	if (d->ops.uplink_out(d, c, iov, 2) < 0) {
		d->cnt.deliver_full++;   /* as a congested link would: TCP retransmits */
		return -1;
	}
	c->pkts_in++;
	d->cnt.up_pkts_in++;
	if (d->ncaptures)
		hostd_capture_inner(d, HOSTD_CAPTURE_UPLINK, pkt, len);
	if (d->gap_tracking)
		hostd_gapwatch_packet(d, pkt, len);   /* from a migrating capsule to its peer here? */
	return 0;
}

void hostd_core_uplink_send(struct hostd *d, const struct hostd_cap *c, const uint8_t *rec, size_t n)
{
	struct iovec iov = { (void *)rec, n };
	if (n)
		d->ops.uplink_out(d, c, &iov, 1);
}

void hostd_core_xlate_from_dir(struct hostd *d, const struct dir_entry *e)
{
	struct xlate_entry x = { .capsule_ip = htonl(e->ip), .host_id = e->host_id,
	                         .locator_ip = htonl(e->host_addr), .port = e->data_port,
	                         .state = XLATE_REMOTE, .epoch = e->epoch,
	                         .last_used_ms = clock_now_ms() };
	if (e->host_id == d->host_id)
		return;   /* our own capsules: the uplink is the truth, not the directory's echo */
	if (!e->host_addr || !e->data_port)
		x.state = XLATE_UNKNOWN;   /* holder never said HELLO: no locator yet */
	xlate_update(&d->xt, &x);
}
