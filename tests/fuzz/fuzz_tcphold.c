/* fuzz_tcphold.c: libFuzzer target: arbitrary packets fed to a held TCP connection and the UDP holder. */
#include "hosts/caphostd/tcphold.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* Everything we send must parse back as a checksummed pure ACK or a re-injected data segment, never RST. */
static void check_out(const uint8_t *p, size_t len)
{
	struct tcphold_seg g;
	if (len == 0)
		return;
	if (tcphold_pkt_parse(p, len, &g) != 0 || !g.csum_ok || (g.flags & TCPHOLD_RST) ||
	    (g.flags & TCPHOLD_SYN) || !(g.flags & TCPHOLD_ACK))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t hold[512], qbuf[1024], out[TCPHOLD_ACK_MAX], seg[700];
	struct tcpconn s = {
		.capsule_ip = htonl(0xc6120002u), .peer_ip = htonl(0xc6130005u),
		.capsule_port = 80, .peer_port = 40000, .snd_nxt = 1000, .snd_una = 990,
		.rcv_nxt = 0xfffffff0u, .snd_wnd = 5000, .rcv_wnd = 512,
	};
	if (size > 0) {
		/* The first byte picks options, so the fuzzer explores timestamps and scaling too. */
		s.ts_ok = data[0] & 1;
		s.ts_mode = (data[0] >> 1) & 1;
		s.wscale_ours = (data[0] >> 2) & 15;
		s.ts_val = 0xfffffff0u;
		data++;
		size--;
	}
	struct tcphold_conn c;
	tcphold_init(&c, &s, hold, sizeof hold);
	struct tcphold_udp q;
	tcphold_udp_init(&q, qbuf, sizeof qbuf, 8);
	/* Split the input into packets: 2-byte length prefix each; the packets are rewritten
	 * to carry our 4-tuple when long enough, so the fuzzer gets past the tuple check. */
	uint64_t now = 0;
	while (size >= 2) {
		size_t n = (size_t)(data[0] << 8 | data[1]) % 1500;
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		uint8_t *pkt = malloc(n ? n : 1);
		memcpy(pkt, data, n);
		if (n >= 24 && (pkt[0] & 0x0f) == 5) {
			memcpy(pkt + 12, &s.peer_ip, 4);
			memcpy(pkt + 16, &s.capsule_ip, 4);
			pkt[20] = (uint8_t)(s.peer_port >> 8);
			pkt[21] = (uint8_t)s.peer_port;
			pkt[22] = (uint8_t)(s.capsule_port >> 8);
			pkt[23] = (uint8_t)s.capsule_port;
		}
		size_t out_len;
		int r = tcphold_input(&c, pkt, n, now, out, sizeof out, &out_len);
		check_out(out, out_len);
		if (r == TCPHOLD_NOT_MINE && out_len)
			abort();
		if (c.used > c.cap)
			abort();
		tcphold_udp_push(&q, pkt, n);
		free(pkt);
		data += n;
		size -= n;
		now += 37;
	}
	size_t out_len, n, off = 0, qcur = 0, plen;
	const uint8_t *held, *p;
	uint32_t floor;
	tcphold_release(&c, now, 0, out, sizeof out, &out_len, &held, &n, &floor);
	check_out(out, out_len);
	while (tcphold_reinject_next(&c, &off, 100, seg, sizeof seg, &out_len) == 1)
		check_out(seg, out_len);
	if (off != c.used + c.fin_held)
		abort();
	while (tcphold_udp_next(&q, &qcur, &p, &plen) == 1)
		if (plen < 20)
			abort();
	return 0;
}
