/* pingpong.c: a benchmark client for an echo server: median 64-byte round trip and echo throughput, printed as one line each. */
#define _POSIX_C_SOURCE 200809L

/*
 *   pingpong ADDR PORT ROUNDS MIB
 *
 * Connects to an echo server (RFC 862, e.g. images/echo) at ADDR:PORT, makes
 * 50 warm-up and then ROUNDS timed 64-byte round trips on one connection,
 * then echoes MIB MiB through a second one (writing and reading at once, in
 * one poll loop), and prints
 *
 *   pingpong: rtt_us=MEDIAN rounds=ROUNDS
 *   pingpong: echo_mib_s=RATE mib=MIB
 *
 * Plain POSIX: the same source runs as a capsule (capsule to capsule) and
 * built natively with gcc (the baseline), so both sides measure alike
 * (tests/bench/hostbench.py).  Exit status 1 on any failure, with a line.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int dial(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "pingpong: bad address %s\n", addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "pingpong: connect %s:%d: %s\n", addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int round_trip(int fd)
{
	char msg[64], got[64];
	memset(msg, 'r', sizeof msg);
	size_t off = 0;
	while (off < sizeof msg) {
		ssize_t n = write(fd, msg + off, sizeof msg - off);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	for (off = 0; off < sizeof got;) {
		ssize_t n = read(fd, got + off, sizeof got - off);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Echo total bytes through fd: write and read in one poll loop; MiB/s, or < 0 on failure. */
static double echo_rate(int fd, size_t total)
{
	static char buf[1 << 16];
	memset(buf, 0xa5, sizeof buf);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -1;
	size_t sent = 0, got = 0;
	double t0 = now_us();
	while (got < total) {
		struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };
		if (poll(&p, 1, 30000) <= 0)
			return -1;
		if ((p.revents & POLLOUT) && sent < total) {
			size_t want = total - sent < sizeof buf ? total - sent : sizeof buf;
			ssize_t n = write(fd, buf, want);
			if (n < 0 && errno != EAGAIN)
				return -1;
			if (n > 0)
				sent += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			static char in[1 << 16];
			ssize_t n = read(fd, in, sizeof in);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				return -1;
			if (n > 0)
				got += (size_t)n;
		}
	}
	return (double)total / (1 << 20) / ((now_us() - t0) / 1e6);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: pingpong ADDR PORT ROUNDS MIB\n");
		return 2;
	}
	int port = atoi(argv[2]), rounds = atoi(argv[3]), mib = atoi(argv[4]);
	if (rounds > 0) {
		double *t = malloc(sizeof *t * (size_t)rounds);
		int fd = dial(argv[1], port);
		if (!t || fd < 0)
			return 1;
		for (int i = 0; i < 50; i++)
			if (round_trip(fd)) {
				fprintf(stderr, "pingpong: warm-up round trip %d failed\n", i);
				return 1;
			}
		for (int i = 0; i < rounds; i++) {
			double t0 = now_us();
			if (round_trip(fd)) {
				fprintf(stderr, "pingpong: round trip %d failed\n", i);
				return 1;
			}
			t[i] = now_us() - t0;
		}
		close(fd);
		qsort(t, (size_t)rounds, sizeof *t, cmp_double);
		printf("pingpong: rtt_us=%.2f rounds=%d\n", t[rounds / 2], rounds);
		fflush(stdout);
		free(t);
	}
	if (mib > 0) {
		int fd = dial(argv[1], port);
		if (fd < 0)
			return 1;
		double r = echo_rate(fd, (size_t)mib << 20);
		close(fd);
		if (r < 0) {
			fprintf(stderr, "pingpong: echo of %d MiB failed\n", mib);
			return 1;
		}
		printf("pingpong: echo_mib_s=%.1f mib=%d\n", r, mib);
		fflush(stdout);
	}
	return 0;
}
