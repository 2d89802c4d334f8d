/* channel.c: the packet channel (fd 3) is the runtime's: control records here, packets to the stack's sink. */
#include <errno.h>
#include <string.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"

/* Records read per idle wake-up: the rest wait until the stack caught up. */
#define RX_BATCH 256

static int (*packet_sink)(const void *pkt, size_t len);
static unsigned char rx_record[CAP_CHAN_MAX];
/* Records the runtime could not use: empty or short ones, packets with no stack or refused by it. */
static unsigned long rx_dropped;

void rt_channel_set_sink(int (*sink)(const void *pkt, size_t len))
{
	packet_sink = sink;
}

long rt_channel_send_packet(const struct rt_iovec *iov, int iovcnt)
{
	struct cap_chan_hdr hdr = { .type = CAP_MSG_PACKET, .flags = 0, .seq = 0 };
	struct rt_iovec all[1 + RT_CHANNEL_MAX_IOV];
	if (iovcnt < 0 || iovcnt > RT_CHANNEL_MAX_IOV)
		return -EINVAL;
	all[0] = (struct rt_iovec){ &hdr, sizeof hdr };
	memcpy(&all[1], iov, (size_t)iovcnt * sizeof *iov);
	return rt_host_channel_send(all, 1 + iovcnt);
}

/*
 * The drain's own stack: a sink may run the network stack's input right
 * there (lwip-port does), deeper than a small green-thread stack allows.
 */
static unsigned char drain_stack[64 * 1024] __attribute__((aligned(16)));

int rt_draining;   /* the drain runs: nothing may block (rt_wait checks) */

static void drain_on_stack(void *arg);

/* Called from the idle wait when the channel is readable: reads what is there, never blocks. */
void rt_channel_drain(void)
{
	rt_draining = 1;
	rt_run_on_stack(drain_on_stack, 0, drain_stack + sizeof drain_stack);
	rt_draining = 0;
}

static void drain_on_stack(void *arg)
{
	(void)arg;
	for (int i = 0; i < RX_BATCH; i++) {
		long n = rt_host_read(CAP_FD_CHANNEL, rx_record, sizeof rx_record);
		if (n == -EAGAIN || n == -EINTR || n == 0)
			return;
		if (n < 0) {
			if (rx_dropped++ == 0)
				rt_console_write(2, "capsule: packet channel read failed\n");
			return;
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
		if (hdr.type != CAP_MSG_PACKET) {
			rt_freeze_control(hdr.type, hdr.seq);
			return;   /* a control record (freeze...) acts before any later packet */
		}
		if (n == (long)sizeof hdr || !packet_sink) {
			rx_dropped++;
			continue;
		}
		if (packet_sink(rx_record + sizeof hdr, (size_t)n - sizeof hdr) < 0) {
			rx_dropped++;   /* the stack is full: let it catch up first */
			return;
		}
	}
}
