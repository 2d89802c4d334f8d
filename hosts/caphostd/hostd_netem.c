/* hostd_netem.c: caphostd's test-only fault injection (--net-faults): every host-to-host datagram and the gateway's TUN traffic pass netem's verdicts and its timer queue, then go out (or in) through d->ops. */
#include "hosts/caphostd/hostd.h"

#include <stdlib.h>
#include <sys/uio.h>

/*
 * Off by default: with no --net-faults, nothing here runs and every packet
 * goes out the moment it is made.  With it, each packet gets one verdict
 * (netem_decide): lost, or one or two copies, each sent now or queued until
 * its delay is over.  The queue is driven by caphostd's loop (next_timeout ->
 * hostd_netem_tick), so a delayed packet leaves within a millisecond or so of
 * its time.  Each fault is counted (fault_* in `stats`).
 */

#define NETEM_QUEUE_ITEMS 8192
#define NETEM_QUEUE_BYTES (64u << 20)

enum { NETEM_WIRE = 1, NETEM_GW_WRITE = 2, NETEM_GW_READ = 3 };

int hostd_netem_init(struct hostd *d)
{
	return d->faults_on ? netem_queue_init(&d->fault_q, NETEM_QUEUE_ITEMS, NETEM_QUEUE_BYTES) : 0;
}

void hostd_netem_free(struct hostd *d)
{
	if (d->faults_on)
		netem_queue_free(&d->fault_q);
}

/* The real ways out (and in), at once: d->ops, which know nothing of faults. */
static void deliver(struct hostd *d, int kind, const uint8_t *p, size_t len, uint32_t addr,
                    uint16_t port)
{
	if (kind == NETEM_WIRE) {
		struct iovec iov = { (void *)p, len };
		if (d->ops.wire_out(d, &iov, 1, addr, port) < 0)
			d->cnt.send_errors++;
	} else if (kind == NETEM_GW_WRITE) {
		if (d->ops.tun_out)
			d->ops.tun_out(d, p, len);
		else
			d->cnt.gw_write_errors++;
	} else if (d->ops.tun_in) {
		d->ops.tun_in(d, p, len);
	}
}

/* One verdict for one packet of the given path; copies go now or into the queue. */
static void apply(struct hostd *d, int kind, const uint8_t *p, size_t len, uint32_t addr,
                  uint16_t port)
{
	struct netem_verdict v;
	int wire = kind == NETEM_WIRE;
	netem_decide(&d->faults, &d->fault_rng, &v);
	if (v.lost) {
		(*(wire ? &d->cnt.fault_wire_lost : &d->cnt.fault_gw_lost))++;
		return;
	}
	if (v.copies == 2)
		(*(wire ? &d->cnt.fault_wire_dup : &d->cnt.fault_gw_dup))++;
	if (v.reordered)
		(*(wire ? &d->cnt.fault_wire_reordered : &d->cnt.fault_gw_reordered))++;
	uint64_t now = clock_now_ms();
	for (int i = 0; i < v.copies; i++) {
		if (v.delay_ms[i] == 0) {
			deliver(d, kind, p, len, addr, port);
			continue;
		}
		(*(wire ? &d->cnt.fault_wire_delayed : &d->cnt.fault_gw_delayed))++;
		if (netem_queue_push(&d->fault_q, now + v.delay_ms[i], kind, addr, port, p, len))
			d->cnt.fault_queue_full++;   /* a link with a full buffer drops */
	}
}

void hostd_netem_wire(struct hostd *d, const uint8_t *dgram, size_t len, uint32_t addr,
                      uint16_t port)
{
	apply(d, NETEM_WIRE, dgram, len, addr, port);
}

void hostd_netem_gw_write(struct hostd *d, const uint8_t *pkt, size_t len)
{
	apply(d, NETEM_GW_WRITE, pkt, len, 0, 0);
}

void hostd_netem_gw_read(struct hostd *d, const uint8_t *pkt, size_t len)
{
	apply(d, NETEM_GW_READ, pkt, len, 0, 0);
}

int hostd_netem_tick(struct hostd *d, uint64_t now)
{
	struct netem_item it;
	if (!d->faults_on)
		return -1;
	/* What a delivery sends in turn gets its own verdict and, delayed, its own later time. */
	while (netem_queue_pop_due(&d->fault_q, now, &it)) {
		deliver(d, it.kind, it.data, it.len, it.addr, it.port);
		free(it.data);
	}
	long w = netem_queue_wait(&d->fault_q, now);
	return w < 0 ? -1 : w > 1000 ? 1000 : (int)w;
}
