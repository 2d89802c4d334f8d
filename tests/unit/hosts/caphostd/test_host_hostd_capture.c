/* test_host_hostd_capture.c: unit tests for caphostd's capture clients (hostd_capture.c): the answer and the pcap stream, which packets are recorded, drops instead of waiting for a slow client, the client leaving, refusals. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

static struct hostd d;
static int client = -1;

static uint32_t ip(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static int setup(void **state)
{
	(void)state;
	memset(&d, 0, sizeof d);
	d.net = 0xc6120000u;   /* 198.18.0.0/16 */
	d.mask = 0xffff0000u;
	d.listen_addr = ip("198.19.0.1");
	d.listen_port = 7471;
	d.ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(d.ep >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hostd_capture_stop_all(&d);
	close(d.ep);
	if (client >= 0)
		close(client);
	client = -1;
	return 0;
}

/* Ask for a capture; returns caphostd's side (handed over) and leaves ours in client. */
static void start(const char *req)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	client = sv[1];
	hostd_capture_start(&d, sv[0], req);
}

/* Exactly n bytes from the client's side (they must be there already). */
static void take(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(client, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

static int nothing_waiting(void)
{
	uint8_t b;
	return recv(client, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static void packet(uint8_t *p, size_t len, const char *src, const char *dst)
{
	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	uint32_t s = ip(src), t = ip(dst);
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &t, 4);
}

static void answer_and_stream(void **state)
{
	(void)state;
	start("198.18.0.2 wire\n");
	char line[16];
	take(line, 14);
	assert_memory_equal(line, "ok 198.18.0.2\n", 14);
	struct capture_global g;
	take(&g, sizeof g);
	assert_int_equal(capture_global_check(&g), 0);
	assert_int_equal(d.ncaptures, 1);

	/* inner: to or from the capsule, at the uplink; others not */
	uint8_t p[60], rec[CAPTURE_REC_LEN + 60];
	packet(p, sizeof p, "198.19.0.100", "198.18.0.2");
	hostd_capture_inner(&d, HOSTD_CAPTURE_UPLINK, p, sizeof p);
	take(rec, sizeof rec);
	struct capture_rec r;
	memcpy(&r, rec, sizeof r);
	assert_int_equal(r.incl_len, 60);
	assert_int_equal(r.orig_len, 60);
	assert_memory_equal(rec + CAPTURE_REC_LEN, p, sizeof p);
	packet(p, sizeof p, "198.19.0.100", "198.18.0.3");
	hostd_capture_inner(&d, HOSTD_CAPTURE_UPLINK, p, sizeof p);
	assert_true(nothing_waiting());

	/* capgw: left out while the capsule runs here (its uplink shows the packet) */
	packet(p, sizeof p, "198.18.0.2", "198.19.0.100");
	d.caps[0].state = HCAP_RUNNING;
	d.caps[0].ip = ip("198.18.0.2");
	hostd_capture_inner(&d, HOSTD_CAPTURE_CAPGW, p, sizeof p);
	assert_true(nothing_waiting());
	d.caps[0].state = HCAP_FROZEN;   /* frozen: the holder's ACKs show on capgw only */
	hostd_capture_inner(&d, HOSTD_CAPTURE_CAPGW, p, sizeof p);
	take(rec, sizeof rec);

	/* wire: a SYNC naming the capsule, behind the outer headers this host would write */
	uint8_t dg[WIRE_HDR_LEN + 32 + WIRE_TAG_LEN] = { WIRE_VERSION, WIRE_SYNC };
	dg[25] = 32;
	uint32_t x = ip("198.18.0.2");
	memcpy(dg + WIRE_HDR_LEN + 4, &x, 4);
	struct iovec iov[2] = { { dg, 20 }, { dg + 20, sizeof dg - 20 } };
	hostd_capture_wire(&d, iov, 2, d.listen_addr, 7471, ip("198.19.0.4"), 7471);
	uint8_t wrec[CAPTURE_REC_LEN + CAPTURE_OUTER_LEN + sizeof dg];
	take(wrec, sizeof wrec);
	memcpy(&r, wrec, sizeof r);
	assert_int_equal(r.incl_len, CAPTURE_OUTER_LEN + sizeof dg);
	const uint8_t *o = wrec + CAPTURE_REC_LEN;
	assert_int_equal(o[9], 17);
	assert_memory_equal(o + 12, &d.listen_addr, 4);
	assert_memory_equal(o + CAPTURE_OUTER_LEN, dg, sizeof dg);
	assert_true(nothing_waiting());
	assert_int_equal(d.cnt.capture_records, 3);
	assert_int_equal(d.cnt.capture_dropped, 0);
}

static void no_wire_without_asking(void **state)
{
	(void)state;
	start("198.18.0.2\n");
	uint8_t skip[14 + CAPTURE_GLOBAL_LEN];
	take(skip, sizeof skip);
	uint8_t dg[WIRE_HDR_LEN + 16 + WIRE_TAG_LEN] = { WIRE_VERSION, WIRE_FLUSH };
	dg[25] = 16;
	uint32_t x = ip("198.18.0.2");
	memcpy(dg + WIRE_HDR_LEN, &x, 4);
	struct iovec iov = { dg, sizeof dg };
	hostd_capture_wire(&d, &iov, 1, 1, 1, 2, 2);
	assert_true(nothing_waiting());
}

/* A client that reads nothing: records are dropped and counted, never waited for; what was
 * kept arrives whole once it reads, and its leaving frees the capture. */
static void slow_client_drops(void **state)
{
	(void)state;
	start("198.18.0.2\n");
	static uint8_t p[60000];
	packet(p, sizeof p, "198.18.0.2", "198.19.0.100");
	for (int i = 0; i < 400 && d.cnt.capture_dropped == 0; i++)
		hostd_capture_inner(&d, HOSTD_CAPTURE_UPLINK, p, sizeof p);
	assert_true(d.cnt.capture_dropped > 0);
	uint64_t kept = d.cnt.capture_records;
	assert_true(kept > 0);
	/* read everything: header line, global header, then only whole records */
	int fl = fcntl(client, F_GETFL);
	fcntl(client, F_SETFL, fl & ~O_NONBLOCK);
	uint8_t skip[14 + CAPTURE_GLOBAL_LEN];
	take(skip, sizeof skip);
	for (uint64_t n = 0; n < kept; n++) {
		struct capture_rec r;
		for (;;) {   /* caphostd sends the rest when the socket has room (EPOLLOUT) */
			ssize_t got = recv(client, &r, sizeof r, MSG_PEEK | MSG_DONTWAIT);
			if (got == (ssize_t)sizeof r)
				break;
			hostd_capture_event(&d, 0, EPOLLOUT);
		}
		take(&r, sizeof r);
		assert_int_equal(r.incl_len, sizeof p);
		size_t left = r.incl_len;
		while (left) {
			ssize_t got = recv(client, p, left, MSG_DONTWAIT);
			if (got <= 0) {
				hostd_capture_event(&d, 0, EPOLLOUT);
				continue;
			}
			left -= (size_t)got;
		}
	}
	hostd_capture_event(&d, 0, EPOLLOUT);
	assert_true(nothing_waiting());
	/* the client leaves */
	close(client);
	client = -1;
	hostd_capture_event(&d, 0, EPOLLIN);
	assert_int_equal(d.ncaptures, 0);
	assert_null(d.captures[0].buf);
}

static void refusals(void **state)
{
	(void)state;
	char line[128];
	const char *bad[] = { "198.18.0.2 wires\n", "\n", "nosuch\n", "8.8.8.8\n" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		start(bad[i]);
		ssize_t n = recv(client, line, sizeof line - 1, MSG_DONTWAIT);
		assert_true(n > 6);
		line[n] = 0;
		assert_memory_equal(line, "error ", 6);
		assert_int_equal(recv(client, line, 1, MSG_DONTWAIT), 0);   /* closed */
		close(client);
		client = -1;
	}
	assert_int_equal(d.ncaptures, 0);
	/* by name: a capsule attached here */
	d.caps[3].state = HCAP_RUNNING;
	d.caps[3].ip = ip("198.18.0.9");
	strcpy(d.caps[3].name, "web");
	start("web\n");
	take(line, 14);
	assert_memory_equal(line, "ok 198.18.0.9\n", 14);
	/* all slots taken: the next one is refused */
	int keep[CAPTURE_MAX];
	keep[0] = client;
	for (int i = 1; i < CAPTURE_MAX; i++) {
		start("198.18.0.9\n");
		keep[i] = client;
	}
	assert_int_equal(d.ncaptures, CAPTURE_MAX);
	start("198.18.0.9\n");
	ssize_t n = recv(client, line, sizeof line - 1, MSG_DONTWAIT);
	assert_true(n > 6);
	assert_memory_equal(line, "error ", 6);
	close(client);
	client = -1;
	for (int i = 0; i < CAPTURE_MAX; i++)
		close(keep[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(answer_and_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(no_wire_without_asking, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_client_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
