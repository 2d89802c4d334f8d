/* channel.c: the runtime's packet doors: the host channel (fd 3: control records here, packets to the stack's sink) and, when a standalone host gives one, its own TUN device (fd 8). */
#include <errno.h>
#include <string.h>
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_held.h"
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"

/* Records read per idle wake-up: the rest wait until the stack caught up. */
#define RX_BATCH 256

static int (*packet_sink)(const void *pkt, size_t len, unsigned flags);
/* A channel record, or a packet from the TUN behind its struct cap_vnet_hdr. */
static unsigned char rx_record[CAP_CHAN_MAX + sizeof(struct cap_vnet_hdr)];
/* Records the runtime could not use: empty or short ones, packets with no stack or refused by it. */
static unsigned long rx_dropped;

void rt_channel_set_sink(int (*sink)(const void *pkt, size_t len, unsigned flags))
{
	packet_sink = sink;
}

/*
 * The TUN device.  A standalone caprun that put a kernel source filter on
 * the capsule's TUN device passes it as CAP_FD_TUN and says so in
 * host_flags (CAP_HOST_DIRECT_TUN, per process: a resume may land on a host
 * without it, a forked process never has it).  This process then tells the
 * host once (CAP_MSG_DIRECT, so caprun stops reading the device) and from
 * then on reads and writes bare packets there: no relay, no host wake-up.
 * CAP_HOST_TUN_VNET instead: the same, each packet behind a struct
 * cap_vnet_hdr, and the kernel offloads checksums and TCP segmentation
 * (docs/FASTPATH.md section 10).
 */
static int tun_announced;   /* CAP_MSG_DIRECT sent by this process (a resume clears it) */
static int tun_broken;      /* the device failed: back to the channel */

int rt_tun_active(void)
{
	uint32_t host = RT_CONTROL->host_flags;
	int kind = host & CAP_HOST_TUN_VNET ? RT_TUN_VNET : host & CAP_HOST_DIRECT_TUN ? RT_TUN_BARE : 0;
	if (tun_broken || !kind)
		return 0;
	if (!tun_announced) {
		struct cap_chan_hdr h = { .type = CAP_MSG_DIRECT, .flags = 0, .seq = 0 };
		struct rt_iovec iov = { &h, sizeof h };
		if (rt_host_channel_send(&iov, 1) < 0)
			return 0;
		tun_announced = 1;
	}
	return kind;
}

void rt_tun_forget(void)
{
	tun_announced = 0;
	tun_broken = 0;
}

void rt_tun_failed(void)
{
	if (!tun_broken)
		rt_console_write(2, "capsule: the TUN device failed; packets go through the host channel\n");
	tun_broken = 1;
}

long rt_channel_send_packet(const struct rt_iovec *iov, int iovcnt)
{
	struct cap_chan_hdr hdr = { .type = CAP_MSG_PACKET, .flags = 0, .seq = 0 };
	struct rt_iovec all[1 + RT_CHANNEL_MAX_IOV];
	if (iovcnt < 0 || iovcnt > RT_CHANNEL_MAX_IOV)
		return -EINVAL;
	int tun = rt_tun_active();
	if (tun == RT_TUN_BARE) {
		long r = rt_host_writev(CAP_FD_TUN, iov, iovcnt);   /* one packet, no header */
		if (r == -EBADF)
			rt_tun_failed();
		return r;
	}
	if (tun == RT_TUN_VNET) {
		static const struct cap_vnet_hdr nothing_offloaded;
		all[0] = (struct rt_iovec){ (void *)&nothing_offloaded, sizeof nothing_offloaded };
		memcpy(&all[1], iov, (size_t)iovcnt * sizeof *iov);
		long r = rt_tun_send_vnet(all, 1 + iovcnt);
		return r < 0 ? r : r - (long)sizeof nothing_offloaded;
	}
	all[0] = (struct rt_iovec){ &hdr, sizeof hdr };
	memcpy(&all[1], iov, (size_t)iovcnt * sizeof *iov);
	return rt_host_channel_send(all, 1 + iovcnt);
}

long rt_tun_send_vnet(const struct rt_iovec *iov, int iovcnt)
{
	if (iovcnt < 1 || iov[0].len != sizeof(struct cap_vnet_hdr))
		return -EINVAL;
	if (rt_tun_active() != RT_TUN_VNET)
		return -EPROTO;   /* the device failed since the caller asked: this packet is lost */
	long r = rt_host_writev(CAP_FD_TUN, iov, iovcnt);
	if (r == -EBADF)
		rt_tun_failed();
	return r;
}

/*
 * The drain's own stack: a sink may run the network stack's input right
 * there (lwip-port does), deeper than a small green-thread stack allows.
 */
static unsigned char drain_stack[64 * 1024] __attribute__((aligned(16)));

int rt_draining;   /* the drain runs: nothing may block (rt_wait checks) */

/*
 * Records to read per wake-up.  A lone packet (a request) takes one read;
 * reading on until EAGAIN, to learn that nothing else waits, would cost a
 * second system call per packet.  So read one and let the next ppoll report
 * the rest; but when records queue up (a bulk transfer) read them all per
 * wake-up, up to RX_BATCH.  Learnt as caprun's relay does: a full read that
 * found at most one record goes back to single reads, and every PROBE_EVERY
 * single reads one full read looks whether a queue built.
 */
#define PROBE_EVERY 8
static unsigned char rx_burst, rx_singles;

static int drain_records(int limit);

static void drain_on_stack(void *arg)
{
	int full = *(const int *)arg || rx_burst || ++rx_singles >= PROBE_EVERY;
	int limit = full ? RX_BATCH : 1;
	if (full)
		rx_singles = 0;
	int got = drain_records(limit);
	if (full && got >= 0)
		rx_burst = got > 1;
}

/*
 * Called from the idle wait when the channel is readable (all: the host hung
 * up, read what is left): reads what is there, never blocks.
 */
void rt_channel_drain(int all)
{
	rt_draining = 1;
	rt_run_on_stack(drain_on_stack, &all, drain_stack + sizeof drain_stack);
	rt_draining = 0;
}

/*
 * What a packet's struct cap_vnet_hdr vouches for: made on this host (its
 * checksum left open) or checked by the kernel.  Nothing else in it matters
 * on the way in: a GSO packet is one large TCP segment the stack takes whole.
 */
static unsigned tun_packet_flags(const unsigned char *vnet_hdr)
{
	struct cap_vnet_hdr h;
	memcpy(&h, vnet_hdr, sizeof h);
	return h.flags & (CAP_VNET_F_NEEDS_CSUM | CAP_VNET_F_DATA_VALID) ? RT_PKT_CSUM_OK : 0;
}

/* Packets from the TUN device, paced as the channel's records are (one per lone packet). */
static unsigned char tun_burst, tun_singles;

static void tun_drain_on_stack(void *arg)
{
	(void)arg;
	int full = tun_burst || ++tun_singles >= PROBE_EVERY;
	int limit = full ? RX_BATCH : 1, i;
	size_t skip = RT_CONTROL->host_flags & CAP_HOST_TUN_VNET ? sizeof(struct cap_vnet_hdr) : 0;
	if (full)
		tun_singles = 0;
	for (i = 0; i < limit; i++) {
		long n = rt_host_read(CAP_FD_TUN, rx_record, sizeof rx_record);
		if (n == -EAGAIN || n == -EINTR || n == 0)
			break;
		if (n < 0) {
			rt_tun_failed();
			return;
		}
		if (!packet_sink || n <= (long)skip) {
			rx_dropped++;
			continue;
		}
		if (packet_sink(rx_record + skip, (size_t)n - skip, skip ? tun_packet_flags(rx_record) : 0) < 0) {
			rx_dropped++;   /* the stack is full: the rest waits in the device's queue */
			return;
		}
	}
	if (full)
		tun_burst = i > 1;
}

/* Called from the idle wait when the TUN device is readable: never blocks. */
void rt_tun_drain(void)
{
	rt_draining = 1;
	rt_run_on_stack(tun_drain_on_stack, 0, drain_stack + sizeof drain_stack);
	rt_draining = 0;
}

/* Up to limit records; how many were read, or -1 when a control record or a full stack ended it. */
static int drain_records(int limit)
{
	int i;
	for (i = 0; i < limit; i++) {
		long n = rt_host_read(CAP_FD_CHANNEL, rx_record, sizeof rx_record);
		if (n == -EAGAIN || n == -EINTR || n == 0)
			return i;
		if (n < 0) {
			if (rx_dropped++ == 0)
				rt_console_write(2, "capsule: packet channel read failed\n");
			return i;
		}
		struct cap_chan_hdr hdr;
		if (n < (long)sizeof hdr) {
			rx_dropped++;
			continue;
		}
		memcpy(&hdr, rx_record, sizeof hdr);
		if (hdr.type == CAP_MSG_FILE_REP) {
			rt_hostfs_reply(rx_record + sizeof hdr, (size_t)n - sizeof hdr);
			continue;
		}
		if (hdr.type == CAP_MSG_CHILD || hdr.type == CAP_MSG_WAKE || hdr.type == CAP_MSG_FORKED ||
		    hdr.type == CAP_MSG_SIGNAL || hdr.type == CAP_MSG_PGID || hdr.type == CAP_MSG_PROC_REP ||
		    hdr.type == CAP_MSG_LOST || hdr.type == CAP_MSG_ADOPTED) {
			rt_proc_record(hdr.type, rx_record + sizeof hdr, (size_t)n - sizeof hdr);
			continue;
		}
		if (hdr.type != CAP_MSG_PACKET) {
			rt_freeze_control(hdr.type, hdr.seq);
			return -1;   /* a control record (freeze...) acts before any later packet */
		}
		if (n == (long)sizeof hdr || !packet_sink) {
			rx_dropped++;
			continue;
		}
		if (packet_sink(rx_record + sizeof hdr, (size_t)n - sizeof hdr, 0) < 0) {
			rx_dropped++;   /* the stack is full: let it catch up first */
			return -1;
		}
	}
	return i;
}

/*
 * One record read while a fork waited for the host (proc.c), handled as the
 * drain would have: called with rt_draining set, on a stack deep enough.
 */
void rt_channel_record(const unsigned char *rec, size_t n)
{
	struct cap_chan_hdr hdr;
	if (n < sizeof hdr) {
		rx_dropped++;
		return;
	}
	memcpy(&hdr, rec, sizeof hdr);
	if (hdr.type == CAP_MSG_FILE_REP)
		rt_hostfs_reply(rec + sizeof hdr, n - sizeof hdr);
	else if (hdr.type == CAP_MSG_CHILD || hdr.type == CAP_MSG_WAKE || hdr.type == CAP_MSG_SIGNAL ||
	         hdr.type == CAP_MSG_PGID || hdr.type == CAP_MSG_PROC_REP || hdr.type == CAP_MSG_LOST ||
	         hdr.type == CAP_MSG_ADOPTED)
		rt_proc_record(hdr.type, rec + sizeof hdr, n - sizeof hdr);
	else if (hdr.type != CAP_MSG_PACKET)
		rt_freeze_control(hdr.type, hdr.seq);
	else if (n == sizeof hdr || !packet_sink || packet_sink(rec + sizeof hdr, n - sizeof hdr, 0) < 0)
		rx_dropped++;
}

/*
 * After a freeze (a resume, or a thaw after a stop that failed): packets the
 * host queued for us meanwhile and moved into our memory (cap_held.h, area
 * of size bytes) go to the stack as if they had just arrived, and the area
 * is marked empty.  The host wrote it: each record is checked against what
 * is left of the area.  Returns the packets delivered.
 */
unsigned rt_channel_take_held(void *area, size_t size)
{
	struct cap_held_header *h = area;
	if (size < sizeof *h || h->magic != CAP_HELD_MAGIC)
		return 0;
	const unsigned char *p = (const unsigned char *)(h + 1);
	uint64_t left = h->bytes;
	if (left > size - sizeof *h)
		left = size - sizeof *h;
	unsigned delivered = 0;
	for (uint32_t i = 0; i < h->count; i++) {
		struct cap_held_record rec;
		if (left < sizeof rec)
			break;
		memcpy(&rec, p, sizeof rec);
		if (rec.len == 0 || rec.len > CAP_MTU_MAX || CAP_HELD_STEP(rec.len) > left)
			break;
		if (!packet_sink || packet_sink(p + sizeof rec, rec.len, 0) < 0)
			rx_dropped++;
		else
			delivered++;
		p += CAP_HELD_STEP(rec.len);
		left -= CAP_HELD_STEP(rec.len);
	}
	h->magic = 0;
	return delivered;
}
