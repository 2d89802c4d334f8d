/* tcphold_tun.c: test tool: a minimal TCP server on a TUN device that hands its connections to tcphold on command. */
#include "hosts/caphostd/tcphold.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: tcphold_tun IFNAME SERVER_IP PORT SILENT_PORT
 *
 * Plays "the capsule" for tests/integration/test_tcphold.py: answers SYNs to
 * SERVER_IP:PORT and SERVER_IP:SILENT_PORT, sends "hi\n" on each new
 * connection, consumes data (counting bytes and an FNV-1a hash).  Commands
 * on stdin:
 *   hold     freeze: every connection on PORT goes to tcphold; SILENT_PORT
 *            connections get no answer at all (the control: they must die)
 *   release  tcphold_release + re-injection into the live endpoint, then live again
 * Prints "ready", "holding", "released N", and on a peer FIN
 * "closed PORT bytes=N hash=H" (then answers FIN).  No options beyond
 * timestamps (so MSS 536, no window scaling); never sends a RST.
 */

#define WIN      16384          /* our receive window, and the hold buffer: one window */
#define MAXCONN  8

struct tconn {
	int      used, est, greeted, silent, holding, closed;
	uint32_t peer_ip;
	uint16_t peer_port, port;
	uint32_t snd_nxt, rcv_nxt, ts_recent;
	int      ts_ok;
	uint64_t bytes, hash;
	struct tcphold_conn h;
	uint8_t  hbuf[WIN];
};

static struct tconn conns[MAXCONN];
static int tun_fd;
static uint32_t server_ip;
static uint16_t port_main, port_silent;
static uint32_t ts_last;   /* our TSval clock, never backwards (raised to tcphold's floor on release) */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static uint32_t tsval(void)
{
	uint32_t v = (uint32_t)now_ms();
	if ((int32_t)(v - ts_last) > 0)
		ts_last = v;
	return ts_last;
}

static void send_pkt(const uint8_t *p, size_t n)
{
	if (n && write(tun_fd, p, n) < 0)
		fprintf(stderr, "tcphold_tun: write: %s\n", strerror(errno));
}

static void send_seg(struct tconn *c, uint8_t flags, const void *data, size_t n)
{
	uint8_t p[600];
	size_t len = tcphold_pkt_build(p, sizeof p, server_ip, c->peer_ip, c->port, c->peer_port,
	                           c->snd_nxt, c->rcv_nxt, flags, WIN, c->ts_ok, tsval(),
	                           c->ts_recent, data, n);
	send_pkt(p, len);
}

static struct tconn *find(const struct tcphold_seg *g)
{
	for (int i = 0; i < MAXCONN; i++)
		if (conns[i].used && conns[i].peer_ip == g->src && conns[i].peer_port == g->sport &&
		    conns[i].port == g->dport)
			return &conns[i];
	return NULL;
}

static void consume(struct tconn *c, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		c->hash ^= d[i];
		c->hash *= 0x100000001b3ull;
	}
	c->bytes += n;
	c->rcv_nxt += (uint32_t)n;
}

/* The live endpoint: a tiny, in-order-only TCP receiver. */
static void live_input(const struct tcphold_seg *g)
{
	struct tconn *c = find(g);
	if (!c) {
		if (!(g->flags & TCPHOLD_SYN) || (g->flags & TCPHOLD_ACK) ||
		    (g->dport != port_main && g->dport != port_silent))
			return;   /* no RST for strays either: this tool never sends one */
		for (int i = 0; i < MAXCONN && !c; i++)
			if (!conns[i].used)
				c = &conns[i];
		if (!c)
			return;
		memset(c, 0, sizeof *c);
		c->used = 1;
		c->peer_ip = g->src;
		c->peer_port = g->sport;
		c->port = g->dport;
		c->silent = g->dport == port_silent;
		c->rcv_nxt = g->seq + 1;
		c->snd_nxt = 0x70000000u + g->sport;
		c->ts_ok = g->has_ts;
		c->ts_recent = g->ts_val;
		c->hash = 0xcbf29ce484222325ull;
		send_seg(c, TCPHOLD_SYN | TCPHOLD_ACK, NULL, 0);
		c->snd_nxt++;
		return;
	}
	if (c->closed)
		return;
	if (g->flags & TCPHOLD_SYN) {
		c->snd_nxt--;   /* retransmitted SYN: repeat the SYN-ACK */
		send_seg(c, TCPHOLD_SYN | TCPHOLD_ACK, NULL, 0);
		c->snd_nxt++;
		return;
	}
	if (g->has_ts && c->ts_ok)
		c->ts_recent = g->ts_val;
	if (!c->est && (g->flags & TCPHOLD_ACK) && g->ack == c->snd_nxt) {
		c->est = 1;
		send_seg(c, TCPHOLD_ACK | TCPHOLD_PSH, "hi\n", 3);
		c->snd_nxt += 3;
	}
	int fin = (g->flags & TCPHOLD_FIN) != 0;
	if (g->dlen == 0 && !fin)
		return;
	if (g->seq == c->rcv_nxt) {
		consume(c, g->data, g->dlen);
		if (fin) {
			c->rcv_nxt++;
			c->closed = 1;
			printf("closed %u bytes=%llu hash=%016llx\n", c->port,
			       (unsigned long long)c->bytes, (unsigned long long)c->hash);
			fflush(stdout);
			send_seg(c, TCPHOLD_FIN | TCPHOLD_ACK, NULL, 0);
			c->snd_nxt++;
			return;
		}
	}
	send_seg(c, TCPHOLD_ACK, NULL, 0);
}

static void tun_input(const uint8_t *p, size_t n)
{
	struct tcphold_seg g;
	if (tcphold_pkt_parse(p, n, &g) != 0 || !g.csum_ok || g.dst != server_ip)
		return;
	struct tconn *c = find(&g);
	if (c && c->holding) {
		if (c->silent)
			return;   /* the control group: nobody answers */
		uint8_t out[TCPHOLD_ACK_MAX];
		size_t out_len;
		tcphold_input(&c->h, p, n, now_ms(), out, sizeof out, &out_len);
		send_pkt(out, out_len);
		return;
	}
	live_input(&g);
}

static void hold_all(void)
{
	uint64_t now = now_ms();
	for (int i = 0; i < MAXCONN; i++) {
		struct tconn *c = &conns[i];
		if (!c->used || !c->est)
			continue;
		struct tcpconn s = {
			.capsule_ip = server_ip, .peer_ip = c->peer_ip, .capsule_port = c->port,
			.peer_port = c->peer_port, .snd_nxt = c->snd_nxt, .snd_una = c->snd_nxt,
			.rcv_nxt = c->rcv_nxt, .snd_wnd = 65535, .rcv_wnd = WIN, .ts_ok = (uint8_t)c->ts_ok,
			.ts_mode = TCPHOLD_TS_ELAPSED, .ts_val = ts_last, .ts_recent = c->ts_recent,
			.ts_val_ms = now,
		};
		tcphold_init(&c->h, &s, c->hbuf, WIN);
		c->holding = 1;
	}
	printf("holding\n");
	fflush(stdout);
}

static void release_all(void)
{
	size_t total = 0;
	for (int i = 0; i < MAXCONN; i++) {
		struct tconn *c = &conns[i];
		if (!c->used || !c->holding)
			continue;
		c->holding = 0;
		if (c->silent)
			continue;
		uint8_t ack[TCPHOLD_ACK_MAX], seg[700];
		size_t ack_len, n, off = 0, len;
		const uint8_t *data;
		uint32_t floor;
		tcphold_release(&c->h, now_ms(), WIN, ack, sizeof ack, &ack_len, &data, &n, &floor);
		if (c->ts_ok && (int32_t)(floor - ts_last) > 0)
			ts_last = floor;   /* the resumed endpoint never sends a TSval below the holder's */
		/* Re-inject the held bytes as segments from the peer, through the live endpoint. */
		while (tcphold_reinject_next(&c->h, &off, 536, seg, sizeof seg, &len) == 1) {
			struct tcphold_seg g;
			if (tcphold_pkt_parse(seg, len, &g) != 0 || !g.csum_ok) {
				fprintf(stderr, "tcphold_tun: bad re-injected segment\n");
				exit(1);
			}
			live_input(&g);
		}
		total += n;
		send_pkt(ack, ack_len);
	}
	printf("released %zu\n", total);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: tcphold_tun IFNAME SERVER_IP PORT SILENT_PORT\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[2], &server_ip) != 1) {
		fprintf(stderr, "tcphold_tun: bad address %s\n", argv[2]);
		return 2;
	}
	port_main = (uint16_t)atoi(argv[3]);
	port_silent = (uint16_t)atoi(argv[4]);
	tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { 0 };
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", argv[1]);
	if (tun_fd < 0 || ioctl(tun_fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tcphold_tun: tun %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	ts_last = (uint32_t)now_ms();
	printf("ready\n");
	fflush(stdout);
	static uint8_t buf[70000];
	char line[64];
	for (;;) {
		struct pollfd p[2] = { { tun_fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents & POLLIN) {
			ssize_t n = read(tun_fd, buf, sizeof buf);
			if (n > 0)
				tun_input(buf, (size_t)n);
		}
		if (p[1].revents & (POLLIN | POLLHUP)) {
			if (!fgets(line, sizeof line, stdin))
				return 0;
			if (strncmp(line, "hold", 4) == 0)
				hold_all();
			else if (strncmp(line, "release", 7) == 0)
				release_all();
		}
	}
}
