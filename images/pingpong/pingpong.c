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
 * With BULK_ADDR BULK_MIB after them (pingpong ADDR PORT ROUNDS MIB BULK_ADDR BULK_MIB) it
 * then sends BULK_MIB MiB one way to images/bulk's sink at BULK_ADDR:9 (its answer's count
 * checked) and reads as many from its source at BULK_ADDR:19, and prints
 *
 *   pingpong: to_mib_s=RATE mib=BULK_MIB
 *   pingpong: from_mib_s=RATE mib=BULK_MIB
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

/* total bytes to images/bulk's sink on fd, half-close, its answer's count checked; MiB/s or < 0. */
static double sink_rate(int fd, size_t total)
{
	static char buf[1 << 18];
	memset(buf, 0x5a, sizeof buf);
	double t0 = now_us();
	for (size_t sent = 0; sent < total;) {
		size_t want = total - sent < sizeof buf ? total - sent : sizeof buf;
		ssize_t n = write(fd, buf, want);
		if (n <= 0)
			return -1;
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	char line[80];
	size_t got = 0;
	for (ssize_t n; got < sizeof line - 1 && (n = read(fd, line + got, sizeof line - 1 - got)) > 0;)
		got += (size_t)n;
	line[got] = 0;
	double rate = (double)total / (1 << 20) / ((now_us() - t0) / 1e6);
	return strtoull(line, NULL, 10) == total ? rate : -1;
}

/* total bytes from images/bulk's source on fd, read to its EOF; MiB/s or < 0. */
static double source_rate(int fd, size_t total)
{
	static char buf[1 << 18];
	char req[32];
	int len = snprintf(req, sizeof req, "%zu\n", total);
	double t0 = now_us();
	if (write(fd, req, (size_t)len) != len)
		return -1;
	size_t got = 0;
	for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
		got += (size_t)n;
	double rate = (double)total / (1 << 20) / ((now_us() - t0) / 1e6);
	return got == total ? rate : -1;
}

/* One way to and from images/bulk at addr: two lines, or 1 after one line on failure. */
static int one_way(const char *addr, int mib)
{
	static const struct { int port; const char *what; double (*run)(int, size_t); } dirs[] = {
		{ 9, "to", sink_rate }, { 19, "from", source_rate },
	};
	for (int i = 0; i < 2; i++) {
		int fd = dial(addr, dirs[i].port);
		if (fd < 0)
			return 1;
		double r = dirs[i].run(fd, (size_t)mib << 20);
		close(fd);
		if (r < 0) {
			fprintf(stderr, "pingpong: %d MiB %s bulk at %s failed\n", mib, dirs[i].what, addr);
			return 1;
		}
		printf("pingpong: %s_mib_s=%.1f mib=%d\n", dirs[i].what, r, mib);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 7) {
		fprintf(stderr, "usage: pingpong ADDR PORT ROUNDS MIB [BULK_ADDR BULK_MIB]\n");
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
	return argc == 7 && atoi(argv[6]) > 0 ? one_way(argv[5], atoi(argv[6])) : 0;
}
