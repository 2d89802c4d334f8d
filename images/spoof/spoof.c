/* spoof.c: test image playing a compromised capsule: writes forged packets straight to its TUN device (or the host channel) and records out of turn to the channel. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../capsule-abi/cap_abi.h"   /* how fd 8 frames packets: host_flags */

/*
 * Not a plain app: it bypasses the runtime and lwIP with a raw write(2) on
 * fd 8, the capsule's own TUN device, or where it has none on fd 3, the
 * packet channel (the sandbox allows that call on those fds), to check that
 * the HOST (the kernel's filter, or caprun) refuses packets whose source is
 * not the capsule's.
 * `spoof records` writes channel records out of turn instead (an empty
 * one, a short one, FROZEN nobody asked for, the host's own types, an
 * unknown type): the host must count each and go on.
 */
static long raw_write(int fd, const void *buf, unsigned long len)
{
	long ret;
	__asm__ volatile ("syscall" : "=a"(ret) : "a"(1L), "D"((long)fd), "S"(buf), "d"(len)
	                  : "rcx", "r11", "memory");
	return ret;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One channel record: 4-byte header (type 1 = packet) + IPv4/UDP to 198.18.0.1:5555. */
static void send_forged(uint32_t src, const char *text, int version)
{
	uint8_t rec[4 + 20 + 8 + 64] = { 1, 0, 0, 0 };
	uint8_t *ip = rec + 4, *udp = ip + 20;
	size_t plen = strlen(text), total = 20 + 8 + plen;
	uint32_t dst = inet_addr("198.18.0.1");
	ip[0] = (uint8_t)(version << 4 | 5);
	ip[2] = (uint8_t)(total >> 8);
	ip[3] = (uint8_t)total;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	uint16_t c = ip_checksum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[0] = 0x30, udp[1] = 0x39;               /* source port 12345 */
	udp[2] = 5555 >> 8, udp[3] = 5555 & 0xff;   /* destination port 5555 */
	udp[4] = (uint8_t)((8 + plen) >> 8), udp[5] = (uint8_t)(8 + plen);
	memcpy(udp + 8, text, plen);                /* UDP checksum 0: none */
	/* Where this capsule's packets go: its own TUN device (fd 8) when the host gave it one
	 * (the kernel's filter must stop these there; behind an all-zero struct cap_vnet_hdr when
	 * the device has offloads), else the channel, as a record. */
	const struct cap_control *ctl = (const struct cap_control *)CAP_CONTROL_ADDR;
	uint8_t framed[sizeof(struct cap_vnet_hdr) + sizeof rec] = { 0 };
	size_t vnet = ctl->host_flags & CAP_HOST_TUN_VNET ? sizeof(struct cap_vnet_hdr) : 0;
	memcpy(framed + vnet, ip, total);
	if (raw_write(8, framed, vnet + total) != -9 /* EBADF: no TUN */)
		return;
	raw_write(3, rec, 4 + total);
}

/* Seven records the host must count and ignore; then a genuine datagram proves the channel lives. */
static _Noreturn void records(int s)
{
	static const uint8_t bad[][4] = {
		{ 4, 0, 0, 0 },        /* FROZEN, no freeze asked for, number 0 */
		{ 4, 0, 1, 0 },        /* FROZEN with a guessed number */
		{ 5, 0, 0, 0 },        /* THAW: the host's to send */
		{ 3, 0, 9, 0 },        /* FREEZE: the host's to send */
		{ 99, 0, 0, 0 },       /* unknown type */
	};
	raw_write(3, "", 0);       /* an empty record: not the end of the channel */
	raw_write(3, bad[0], 2);   /* shorter than a header */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		raw_write(3, bad[i], sizeof bad[i]);
	if (send(s, "after-records", 13, 0) != 13)
		perror("spoof: send");
	printf("spoof: records done\n");
	fflush(stdout);
	for (;;)
		sleep(1000);
}

int main(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5555) };
	struct sockaddr_in me;
	socklen_t len = sizeof me;
	to.sin_addr.s_addr = inet_addr("198.18.0.1");
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&to, sizeof to) < 0 ||
	    getsockname(s, (struct sockaddr *)&me, &len) < 0) {
		perror("spoof: socket");
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "records") == 0)
		records(s);
	for (int i = 0; i < 3; i++)
		send_forged(inet_addr("198.18.77.77"), "spoofed", 4);
	send_forged(me.sin_addr.s_addr, "not-ipv4", 6);
	send_forged(me.sin_addr.s_addr, "raw-genuine", 4);
	if (send(s, "genuine", 7, 0) != 7)
		perror("spoof: send");
	printf("spoof: done\n");
	fflush(stdout);
	for (;;)
		sleep(1000);
}
