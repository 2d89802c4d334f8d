/* test_rt_channel.c: the runtime's packet channel (runtime/channel.c) on the host, with a scripted host and a fake stack. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_file.h"
#include "capsule-abi/cap_held.h"
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"

/* ---- the host: records queued for reading, and what was sent ---- */
struct record { unsigned char bytes[64]; long len; };
static struct record queue[16];
static int queued, next_read;
static unsigned char sent[256];
static size_t sent_len;

/* ---- the TUN device (CAP_FD_TUN): packets queued for reading, the last one written ---- */
static const char *tun_queue[8];
static int tun_queued, tun_next, tun_reads, tun_writes;
static long tun_error;   /* nonzero: every call on the device fails with it */
static unsigned char tun_sent[64];
static size_t tun_sent_len;
static struct cap_vnet_hdr tun_vnet_in;   /* with CAP_HOST_TUN_VNET: read before each packet */

long rt_host_read(int fd, void *buf, size_t len)
{
	if (fd == CAP_FD_TUN) {
		tun_reads++;
		if (tun_error)
			return tun_error;
		if (tun_next == tun_queued)
			return -EAGAIN;
		const char *p = tun_queue[tun_next++];
		size_t skip = 0;
		if (RT_CONTROL->host_flags & CAP_HOST_TUN_VNET) {
			skip = sizeof tun_vnet_in;
			memcpy(buf, &tun_vnet_in, skip);
		}
		memcpy((char *)buf + skip, p, strlen(p) < len - skip ? strlen(p) : len - skip);
		return (long)(skip + strlen(p));
	}
	assert_int_equal(fd, CAP_FD_CHANNEL);
	if (next_read == queued)
		return -EAGAIN;
	struct record *r = &queue[next_read++];
	long n = r->len < (long)len ? r->len : (long)len;
	memcpy(buf, r->bytes, (size_t)n);
	return n;
}

long rt_host_channel_send(const struct rt_iovec *iov, int iovcnt)
{
	sent_len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(sent + sent_len, iov[i].base, iov[i].len);
		sent_len += iov[i].len;
	}
	return (long)sent_len;
}

long rt_host_writev(int fd, const struct rt_iovec *iov, int iovcnt)
{
	assert_int_equal(fd, CAP_FD_TUN);   /* the channel's sends go through rt_host_channel_send */
	tun_writes++;
	if (tun_error)
		return tun_error;
	tun_sent_len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(tun_sent + tun_sent_len, iov[i].base, iov[i].len);
		tun_sent_len += iov[i].len;
	}
	return (long)tun_sent_len;
}

/* The drain runs on a stack of its own in the capsule; here on the test's. */
void rt_run_on_stack(void (*fn)(void *), void *arg, void *stack_top)
{
	(void)stack_top;
	fn(arg);
}

void rt_console_write(int fd, const char *s)
{
	(void)fd;
	(void)s;
}

static void push(int type, unsigned seq, const char *payload)
{
	struct record *r = &queue[queued++];
	struct cap_chan_hdr h = { (uint8_t)type, 0, (uint16_t)seq };
	memcpy(r->bytes, &h, sizeof h);
	size_t n = payload ? strlen(payload) : 0;
	if (n)
		memcpy(r->bytes + sizeof h, payload, n);
	r->len = (long)(sizeof h + n);
}

/* ---- the runtime's freeze side and a fake stack ---- */
static int controls, control_type;
static unsigned control_seq;

void rt_freeze_control(int type, unsigned seq)
{
	controls++;
	control_type = type;
	control_seq = seq;
}

/* ---- the file client (hostfs.c): answers to file requests ---- */
static char file_reply[64];
static int file_replies;

void rt_hostfs_reply(const void *p, size_t n)
{
	memcpy(file_reply, p, n);
	file_reply[n] = 0;
	file_replies++;
}

/* ---- processes (proc.c): a child's end, a wake-up ---- */
static int proc_records, proc_type;
static char proc_payload[64];

void rt_proc_record(int type, const void *payload, size_t len)
{
	proc_records++;
	proc_type = type;
	memcpy(proc_payload, payload, len);
	proc_payload[len] = 0;
}

static char delivered[16][64];
static unsigned delivered_flags[16];
static int ndelivered, refuse_after = 100;

static int sink(const void *pkt, size_t len, unsigned flags)
{
	if (ndelivered >= refuse_after)
		return -1;
	delivered_flags[ndelivered] = flags;
	memcpy(delivered[ndelivered], pkt, len);
	delivered[ndelivered++][len] = 0;
	return 0;
}

static void reset(void)
{
	queued = next_read = controls = ndelivered = file_replies = proc_records = 0;
	refuse_after = 100;
	rt_channel_set_sink(sink);
}

static void test_packets_go_to_the_sink(void **state)
{
	(void)state;
	reset();
	push(CAP_MSG_PACKET, 0, "first");
	push(CAP_MSG_PACKET, 0, 0);          /* empty: dropped */
	push(CAP_MSG_PACKET, 0, "second");
	rt_channel_drain(1);
	assert_int_equal(ndelivered, 2);
	assert_string_equal(delivered[0], "first");
	assert_string_equal(delivered[1], "second");
	assert_int_equal(next_read, queued);
}

static void test_control_records_stop_the_drain(void **state)
{
	(void)state;
	reset();
	push(CAP_MSG_PACKET, 0, "before");
	push(CAP_MSG_FREEZE, 9, 0);
	push(CAP_MSG_PACKET, 0, "after");
	rt_channel_drain(1);
	assert_int_equal(controls, 1);
	assert_int_equal(control_type, CAP_MSG_FREEZE);
	assert_int_equal(control_seq, 9);
	assert_int_equal(ndelivered, 1);      /* the freeze acts before any later packet */
	assert_int_equal(next_read, 2);
	rt_channel_drain(1);
	assert_int_equal(ndelivered, 2);
}

/* A file answer goes to the file client and the drain goes on (it is no control record). */
static void test_file_answers_go_to_the_file_client(void **state)
{
	(void)state;
	reset();
	push(CAP_MSG_FILE_REP, 0, "answer");
	push(CAP_MSG_PACKET, 0, "packet");
	rt_channel_drain(1);
	assert_int_equal(file_replies, 1);
	assert_string_equal(file_reply, "answer");
	assert_int_equal(ndelivered, 1);
	assert_int_equal(controls, 0);
}

static void test_process_records_go_to_proc(void **state)
{
	(void)state;
	reset();
	push(CAP_MSG_CHILD, 0, "child-end");
	push(CAP_MSG_PACKET, 0, "packet");
	push(CAP_MSG_WAKE, 0, "wake");
	rt_channel_drain(1);
	assert_int_equal(proc_records, 2);
	assert_int_equal(proc_type, CAP_MSG_WAKE);
	assert_string_equal(proc_payload, "wake");
	assert_int_equal(ndelivered, 1);
	assert_int_equal(controls, 0);   /* neither stops the drain as a control record does */
	/* the same record read earlier (a fork's stash) goes the same way */
	unsigned char rec[16];
	struct cap_chan_hdr h = { CAP_MSG_CHILD, 0, 0 };
	memcpy(rec, &h, sizeof h);
	memcpy(rec + sizeof h, "late", 4);
	rt_channel_record(rec, sizeof h + 4);
	assert_int_equal(proc_records, 3);
	assert_int_equal(proc_type, CAP_MSG_CHILD);
	assert_string_equal(proc_payload, "late");
}

static void test_without_a_stack_and_when_it_is_full(void **state)
{
	(void)state;
	reset();
	rt_channel_set_sink(0);               /* linked without a network stack */
	push(CAP_MSG_PACKET, 0, "lost");
	push(CAP_MSG_THAW, 0, 0);
	rt_channel_drain(1);
	assert_int_equal(ndelivered, 0);
	assert_int_equal(controls, 1);        /* control records still arrive */
	reset();
	refuse_after = 1;
	push(CAP_MSG_PACKET, 0, "a");
	push(CAP_MSG_PACKET, 0, "b");
	push(CAP_MSG_PACKET, 0, "c");
	rt_channel_drain(1);
	assert_int_equal(ndelivered, 1);
	assert_int_equal(next_read, 2);       /* stopped after the refused one: the stack catches up */
}

/*
 * A lone packet is read with one call (no read that returns EAGAIN after
 * it); a queue that builds up is read whole per wake-up, and reading one at
 * a time comes back when a full read finds at most one record.
 */
static void test_reads_one_until_a_queue_builds(void **state)
{
	(void)state;
	reset();
	rt_channel_drain(1);                  /* nothing there: back to single reads */
	push(CAP_MSG_PACKET, 0, "a");
	push(CAP_MSG_PACKET, 0, "b");
	push(CAP_MSG_PACKET, 0, "c");
	rt_channel_drain(0);
	assert_int_equal(ndelivered, 1);      /* one read, the rest waits for the next wake-up */
	int calls = 1;
	while (next_read < queued) {
		rt_channel_drain(0);
		calls++;
		assert_int_equal(ndelivered, calls);
	}
	while (calls < 7) {                   /* wake-ups with nothing there: no probe yet */
		rt_channel_drain(0);
		calls++;
	}
	push(CAP_MSG_PACKET, 0, "d");
	push(CAP_MSG_PACKET, 0, "e");
	push(CAP_MSG_PACKET, 0, "f");
	rt_channel_drain(0);                  /* the eighth: a full read finds a queue */
	assert_int_equal(ndelivered, 6);
	push(CAP_MSG_PACKET, 0, "g");
	push(CAP_MSG_PACKET, 0, "h");
	rt_channel_drain(0);                  /* a queue: read whole */
	assert_int_equal(ndelivered, 8);
	push(CAP_MSG_PACKET, 0, "i");
	rt_channel_drain(0);                  /* read whole, found one: single reads again */
	assert_int_equal(ndelivered, 9);
	push(CAP_MSG_PACKET, 0, "j");
	push(CAP_MSG_PACKET, 0, "k");
	rt_channel_drain(0);
	assert_int_equal(ndelivered, 10);
	assert_string_equal(delivered[9], "j");
}

static void test_send_packet_adds_the_header(void **state)
{
	(void)state;
	struct rt_iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	assert_int_equal(rt_channel_send_packet(iov, 2), sizeof(struct cap_chan_hdr) + 5);
	struct cap_chan_hdr h;
	memcpy(&h, sent, sizeof h);
	assert_int_equal(h.type, CAP_MSG_PACKET);
	assert_int_equal(h.seq, 0);
	assert_memory_equal(sent + sizeof h, "abcde", 5);
	assert_int_equal(rt_channel_send_packet(iov, RT_CHANNEL_MAX_IOV + 1), -EINVAL);
}

/* ---- the capsule's own TUN device (CAP_HOST_DIRECT_TUN) ---- */
static void tun_reset(uint32_t host_flags)
{
	reset();
	RT_CONTROL->host_flags = host_flags;
	rt_tun_forget();
	tun_queued = tun_next = tun_reads = tun_writes = 0;
	tun_error = 0;
	sent_len = 0;
}

/* Without the host's word, fd 8 is never touched: packets go on the channel. */
static void test_no_tun_without_the_flag(void **state)
{
	(void)state;
	tun_reset(0);
	assert_int_equal(rt_tun_active(), 0);
	struct rt_iovec iov = { "pkt", 3 };
	assert_int_equal(rt_channel_send_packet(&iov, 1), sizeof(struct cap_chan_hdr) + 3);
	assert_int_equal(tun_writes, 0);
	assert_int_equal(sent[0], CAP_MSG_PACKET);
}

/* With it: CAP_MSG_DIRECT once per process, then bare packets on fd 8, both ways. */
static void test_tun_announced_once_then_used(void **state)
{
	(void)state;
	tun_reset(CAP_HOST_DIRECT_TUN);
	struct rt_iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	assert_int_equal(rt_channel_send_packet(iov, 2), 5);   /* no header */
	assert_int_equal(sent_len, sizeof(struct cap_chan_hdr));
	assert_int_equal(sent[0], CAP_MSG_DIRECT);            /* told the host first */
	assert_memory_equal(tun_sent, "abcde", 5);
	sent_len = 0;
	assert_int_equal(rt_channel_send_packet(iov, 1), 2);
	assert_int_equal(sent_len, 0);                         /* once only */
	assert_int_equal(tun_writes, 2);
	/* in: one read per lone packet, as on the channel */
	tun_queue[tun_queued++] = "in1";
	rt_tun_drain();
	assert_int_equal(ndelivered, 1);
	assert_string_equal(delivered[0], "in1");
	assert_int_equal(tun_reads, 1);
	/* a resume is a new process: it tells its (new) host again */
	rt_tun_forget();
	assert_int_equal(rt_tun_active(), 1);
	assert_int_equal(sent[0], CAP_MSG_DIRECT);
	assert_int_equal(sent_len, sizeof(struct cap_chan_hdr));
}

/* A device that fails (EBADF: not there) sends the capsule back to the channel, for good. */
static void test_tun_failure_falls_back_to_the_channel(void **state)
{
	(void)state;
	tun_reset(CAP_HOST_DIRECT_TUN);
	tun_error = -EBADF;
	struct rt_iovec iov = { "xy", 2 };
	assert_int_equal(rt_channel_send_packet(&iov, 1), -EBADF);
	assert_int_equal(rt_tun_active(), 0);
	assert_int_equal(rt_channel_send_packet(&iov, 1), sizeof(struct cap_chan_hdr) + 2);
	assert_int_equal(sent[0], CAP_MSG_PACKET);
	tun_reset(CAP_HOST_DIRECT_TUN);
	assert_int_equal(rt_tun_active(), 1);
	rt_tun_failed();   /* the idle wait saw POLLNVAL or POLLERR on it */
	assert_int_equal(rt_tun_active(), 0);
	RT_CONTROL->host_flags = 0;
}

/* CAP_HOST_TUN_VNET: each packet behind a struct cap_vnet_hdr both ways; what it vouches for reaches the sink. */
static void test_tun_vnet_header_both_ways(void **state)
{
	(void)state;
	tun_reset(CAP_HOST_TUN_VNET);
	assert_int_equal(rt_tun_active(), RT_TUN_VNET);
	assert_int_equal(sent[0], CAP_MSG_DIRECT);
	/* out, a plain packet: behind an all-zero header (nothing offloaded), its length returned */
	struct rt_iovec iov = { "abcde", 5 };
	assert_int_equal(rt_channel_send_packet(&iov, 1), 5);
	struct cap_vnet_hdr zero = { 0 };
	assert_int_equal(tun_sent_len, sizeof zero + 5);
	assert_memory_equal(tun_sent, &zero, sizeof zero);
	assert_memory_equal(tun_sent + sizeof zero, "abcde", 5);
	/* out, offloads asked: the caller's header as it is */
	struct cap_vnet_hdr vh = { .flags = CAP_VNET_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 16 };
	struct rt_iovec two[2] = { { &vh, sizeof vh }, { "xy", 2 } };
	assert_int_equal(rt_tun_send_vnet(two, 2), sizeof vh + 2);
	assert_memory_equal(tun_sent, &vh, sizeof vh);
	/* in: NEEDS_CSUM and DATA_VALID vouch for the checksums; no flag, and the stack checks them */
	tun_vnet_in = (struct cap_vnet_hdr){ .flags = CAP_VNET_F_NEEDS_CSUM, .gso_type = CAP_VNET_GSO_TCPV4 };
	tun_queue[tun_queued++] = "made-here";
	rt_tun_drain();
	tun_vnet_in = (struct cap_vnet_hdr){ .flags = 0 };
	tun_queue[tun_queued++] = "from-afar";
	rt_tun_drain();
	tun_vnet_in = (struct cap_vnet_hdr){ .flags = CAP_VNET_F_DATA_VALID };
	tun_queue[tun_queued++] = "checked";
	rt_tun_drain();
	tun_queue[tun_queued++] = "";   /* a header and nothing else: dropped */
	rt_tun_drain();
	assert_int_equal(ndelivered, 3);
	assert_string_equal(delivered[0], "made-here");
	assert_int_equal(delivered_flags[0], RT_PKT_CSUM_OK);
	assert_string_equal(delivered[1], "from-afar");
	assert_int_equal(delivered_flags[1], 0);
	assert_string_equal(delivered[2], "checked");
	assert_int_equal(delivered_flags[2], RT_PKT_CSUM_OK);
	/* a bare device (section 9) takes no header: asking for offloads there fails */
	tun_reset(CAP_HOST_DIRECT_TUN);
	assert_int_equal(rt_tun_active(), RT_TUN_BARE);
	assert_int_equal(rt_tun_send_vnet(two, 2), -EPROTO);
	tun_queue[tun_queued++] = "bare";
	rt_tun_drain();
	assert_int_equal(delivered_flags[0], 0);
	assert_string_equal(delivered[0], "bare");
	RT_CONTROL->host_flags = 0;
}

/* ---- packets the host held while the capsule was frozen (cap_held.h) ---- */
static _Alignas(8) unsigned char area[256];
static size_t area_at;

static void held_start(void)
{
	memset(area, 0xee, sizeof area);
	area_at = sizeof(struct cap_held_header);
}

static void held_add(const char *pkt, uint32_t len)
{
	struct cap_held_record rec = { len, 0 };
	memcpy(area + area_at, &rec, sizeof rec);
	memcpy(area + area_at + sizeof rec, pkt, len);
	area_at += CAP_HELD_STEP(len);
}

static void held_seal(uint32_t count, uint32_t bytes)
{
	struct cap_held_header h = { CAP_HELD_MAGIC, count, bytes, 0 };
	memcpy(area, &h, sizeof h);
}

static void test_held_packets_go_to_the_sink_in_order(void **state)
{
	(void)state;
	reset();
	held_start();
	held_add("first", 5);
	held_add("second!!", 8);   /* exactly 8-aligned */
	held_add("x", 1);
	held_seal(3, (uint32_t)(area_at - sizeof(struct cap_held_header)));
	assert_int_equal(rt_channel_take_held(area, sizeof area), 3);
	assert_int_equal(ndelivered, 3);
	assert_string_equal(delivered[0], "first");
	assert_string_equal(delivered[1], "second!!");
	assert_string_equal(delivered[2], "x");
	/* taken: a second look finds nothing */
	assert_int_equal(rt_channel_take_held(area, sizeof area), 0);
	assert_int_equal(ndelivered, 3);
}

static void test_held_area_is_checked(void **state)
{
	(void)state;
	reset();
	memset(area, 0, sizeof area);                /* never written: empty */
	assert_int_equal(rt_channel_take_held(area, sizeof area), 0);
	held_start();
	held_add("ok", 2);
	held_add("long", 4);
	/* the second record claims more than the area holds: delivery stops before it */
	struct cap_held_record bad = { 100000, 0 };
	memcpy(area + sizeof(struct cap_held_header) + CAP_HELD_STEP(2), &bad, sizeof bad);
	held_seal(2, (uint32_t)(area_at - sizeof(struct cap_held_header)));
	assert_int_equal(rt_channel_take_held(area, sizeof area), 1);
	assert_string_equal(delivered[0], "ok");
	/* a count beyond the bytes, and bytes beyond the area: only what fits */
	reset();
	held_start();
	held_add("one", 3);
	held_seal(5, 0xffffffffu);
	memset(area + area_at, 0, sizeof area - area_at);   /* a zero-length record ends it */
	assert_int_equal(rt_channel_take_held(area, sizeof area), 1);
	/* a stack that refuses: counted, not delivered */
	reset();
	refuse_after = 0;
	held_start();
	held_add("no", 2);
	held_seal(1, (uint32_t)(area_at - sizeof(struct cap_held_header)));
	assert_int_equal(rt_channel_take_held(area, sizeof area), 0);
	assert_int_equal(rt_channel_take_held(area, 8), 0);   /* smaller than a header */
}

int main(void)
{
	/* The runtime reads host_flags in the control page, at its fixed address: a page there. */
	if (mmap((void *)CAP_CONTROL_ADDR, CAP_PAGE_SIZE, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != (void *)CAP_CONTROL_ADDR)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packets_go_to_the_sink),
		cmocka_unit_test(test_control_records_stop_the_drain),
		cmocka_unit_test(test_file_answers_go_to_the_file_client),
		cmocka_unit_test(test_process_records_go_to_proc),
		cmocka_unit_test(test_without_a_stack_and_when_it_is_full),
		cmocka_unit_test(test_reads_one_until_a_queue_builds),
		cmocka_unit_test(test_send_packet_adds_the_header),
		cmocka_unit_test(test_no_tun_without_the_flag),
		cmocka_unit_test(test_tun_announced_once_then_used),
		cmocka_unit_test(test_tun_failure_falls_back_to_the_channel),
		cmocka_unit_test(test_tun_vnet_header_both_ways),
		cmocka_unit_test(test_held_packets_go_to_the_sink_in_order),
		cmocka_unit_test(test_held_area_is_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
