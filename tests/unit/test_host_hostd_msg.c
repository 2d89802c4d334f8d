/* test_host_hostd_msg.c: unit tests for the uplink records (uplink.h) and the HOLD/FLUSH payloads (hostd_msg.h). */
#include "hosts/hostd_msg.h"
#include "hosts/uplink.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static uint8_t buf[UPLINK_MAX] __attribute__((aligned(8)));

static void attach_round_trip(void **state)
{
	(void)state;
	struct uplink_msg m;
	uint32_t ip = htonl(0xc6120009u);
	size_t n = uplink_encode_attach(buf, sizeof buf, "web_1.a-b", ip, UPLINK_ATTACH_RESUME, 0);
	assert_int_equal(n, UPLINK_HDR_LEN + sizeof(struct uplink_attach));
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.type, UPLINK_ATTACH);
	assert_int_equal(m.u.attach.ip, ip);
	assert_int_equal(m.u.attach.flags, UPLINK_ATTACH_RESUME);
	assert_string_equal(m.u.attach.name, "web_1.a-b");
	/* every truncation and one extra byte are refused */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(uplink_decode(buf, k, &m), -1);
	assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
}

static void attach_refusals(void **state)
{
	(void)state;
	struct uplink_msg m;
	size_t n = uplink_encode_attach(buf, sizeof buf, "ok", 0, 0, 0);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	/* resume without an address */
	n = uplink_encode_attach(buf, sizeof buf, "ok", 0, UPLINK_ATTACH_RESUME, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	/* unknown flag, bad names, garbage in the padding, header flags */
	n = uplink_encode_attach(buf, sizeof buf, "ok", 0, 2, 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	const char *bad[] = { "", ".dot", "-dash", "sp ace", "sl/ash" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		n = uplink_encode_attach(buf, sizeof buf, bad[i], 0, 0, 0);
		assert_int_equal(uplink_decode(buf, n, &m), -1);
	}
	n = uplink_encode_attach(buf, sizeof buf, "ok", 0, 0, 0);
	buf[UPLINK_HDR_LEN + 16 + 40] = 'x';
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = uplink_encode_attach(buf, sizeof buf, "ok", 0, 0, 0);
	buf[1] = 1;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	buf[1] = 0;
	buf[0] = 0;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	buf[0] = UPLINK_TYPE_MAX + 1;
	assert_int_equal(uplink_decode(buf, n, &m), -1);
}

static void other_records(void **state)
{
	(void)state;
	struct uplink_msg m;
	size_t n = uplink_encode_attached(buf, sizeof buf, htonl(0xc6120002u), 3);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.attached.epoch, 3);
	n = uplink_encode_attached(buf, sizeof buf, htonl(0xc6120002u), 0);
	assert_int_equal(uplink_decode(buf, n, &m), -1);   /* epochs start at 1 */
	n = uplink_encode_error(buf, sizeof buf, "address already in use");
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_string_equal(m.u.error, "address already in use");
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_THAWED);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(uplink_decode(buf, n + 1, &m), -1);
	n = uplink_encode_detach(buf, sizeof buf, UPLINK_DETACH_SAVED);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.detach_reason, UPLINK_DETACH_SAVED);
	n = uplink_encode_detach(buf, sizeof buf, 9);
	assert_int_equal(uplink_decode(buf, n, &m), -1);
	n = uplink_encode_simple(buf, sizeof buf, UPLINK_PACKET);
	assert_int_equal(uplink_decode(buf, n, &m), -1);   /* an empty packet */
	assert_int_equal(uplink_encode_attached(buf, 5, 1, 1), 0);   /* does not fit */
}

/* A freeze report with threads and a mix of descriptors: FROZEN keeps exactly the TCP ones. */
static void frozen_from_report(void **state)
{
	(void)state;
	static uint8_t rep[4096] __attribute__((aligned(8)));
	struct cap_report_header h = { .magic = CAP_REPORT_MAGIC, .version = 1, .nthreads = 2, .nfds = 3 };
	struct cap_report_fd fds[3];
	memset(rep, 0, sizeof rep);
	memset(fds, 0, sizeof fds);
	fds[0].kind = CAP_RFD_TCP;
	fds[0].u.sock.local_port = 9000;
	fds[1].kind = CAP_RFD_CONSOLE;
	fds[2].kind = CAP_RFD_TCP;
	fds[2].u.sock.local_port = 9001;
	memcpy(rep, &h, sizeof h);
	size_t off = sizeof h + 2 * sizeof(struct cap_report_thread);
	memcpy(rep + off, fds, sizeof fds);
	size_t len = off + sizeof fds;
	struct uplink_msg m;
	size_t n = uplink_encode_frozen(buf, sizeof buf, rep, len);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 2);
	assert_int_equal(m.u.frozen.socks[0].local_port, 9000);
	assert_int_equal(m.u.frozen.socks[1].local_port, 9001);
	/* a report that claims more descriptors than its bytes hold: only what is there */
	n = uplink_encode_frozen(buf, sizeof buf, rep, len - 1);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 1);
	/* no report at all: FROZEN with no sockets */
	n = uplink_encode_frozen(buf, sizeof buf, rep, 3);
	assert_int_equal(uplink_decode(buf, n, &m), 0);
	assert_int_equal(m.u.frozen.n, 0);
	/* the count must match the length */
	n = uplink_encode_frozen(buf, sizeof buf, rep, len);
	assert_int_equal(uplink_decode(buf, n - 1, &m), -1);
}

static void hold_round_trip(void **state)
{
	(void)state;
	static struct hostd_hold_msg a, b;
	static uint8_t p[HOSTD_HOLD_HDR + HOSTD_HOLD_MAX * HOSTD_HOLD_REC];
	memset(&a, 0, sizeof a);
	a.capsule_ip = htonl(0xc6120005u);
	a.epoch = 7;
	a.n = 3;
	for (uint32_t i = 0; i < a.n; i++) {
		struct cap_report_sock *s = &a.socks[i];
		s->local_ip = a.capsule_ip;
		s->remote_ip = htonl(0xc6130064u);
		s->local_port = 9000;
		s->remote_port = (uint16_t)(40000 + i);
		s->tcp_state = CAP_TCP_ESTABLISHED;
		s->snd_una = 0xfffffff0u + i;
		s->snd_nxt = 0xfffffff8u;
		s->rcv_nxt = 12345 * i;
		s->snd_wnd = 65535;
		s->rcv_wnd = 1 << 20;
		s->snd_scale = 7;
		s->rcv_scale = 4;
		s->mss = 1460;
	}
	size_t n = hostd_hold_encode(&a, p, sizeof p);
	assert_int_equal(n, hostd_hold_len(3));
	assert_int_equal(hostd_hold_decode(p, n, &b), 0);
	assert_int_equal(b.n, 3);
	assert_int_equal(b.epoch, 7);
	assert_memory_equal(b.socks, a.socks, 3 * sizeof a.socks[0]);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(hostd_hold_decode(p, k, &b), -1);
	assert_int_equal(hostd_hold_decode(p, n + 1, &b), -1);
	/* a connection of another capsule, a bad scale, a reserved byte, zero epoch */
	p[HOSTD_HOLD_HDR + HOSTD_HOLD_REC + 3] ^= 1;
	assert_int_equal(hostd_hold_decode(p, n, &b), -1);
	n = hostd_hold_encode(&a, p, sizeof p);
	p[HOSTD_HOLD_HDR + 36] = 15;
	assert_int_equal(hostd_hold_decode(p, n, &b), -1);
	n = hostd_hold_encode(&a, p, sizeof p);
	p[11] = 1;
	assert_int_equal(hostd_hold_decode(p, n, &b), -1);
	a.epoch = 0;
	n = hostd_hold_encode(&a, p, sizeof p);
	assert_int_equal(hostd_hold_decode(p, n, &b), -1);
	a.n = HOSTD_HOLD_MAX + 1;
	assert_int_equal(hostd_hold_encode(&a, p, sizeof p), 0);
}

static void flush_round_trip(void **state)
{
	(void)state;
	uint8_t p[HOSTD_FLUSH_LEN];
	uint32_t ip, epoch;
	hostd_flush_encode(htonl(0xc6120005u), 9, p);
	assert_int_equal(hostd_flush_decode(p, sizeof p, &ip, &epoch), 0);
	assert_int_equal(ip, htonl(0xc6120005u));
	assert_int_equal(epoch, 9);
	assert_int_equal(hostd_flush_decode(p, sizeof p - 1, &ip, &epoch), -1);
	hostd_flush_encode(htonl(0xc6120005u), 0, p);
	assert_int_equal(hostd_flush_decode(p, sizeof p, &ip, &epoch), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attach_round_trip),
		cmocka_unit_test(attach_refusals),
		cmocka_unit_test(other_records),
		cmocka_unit_test(frozen_from_report),
		cmocka_unit_test(hold_round_trip),
		cmocka_unit_test(flush_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
