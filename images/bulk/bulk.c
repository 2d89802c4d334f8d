/* bulk.c: one-way bulk TCP server: port 9 sinks a stream and answers its length and checksums, port 19 sends N bytes of a known pattern. */
#define _POSIX_C_SOURCE 200809L

/*
 *   bulk [SINK_PORT [SOURCE_PORT]]      (default 9 and 19)
 *
 * Sink (port 9, as RFC 863's discard): reads everything a client sends; at
 * its EOF (the client's shutdown of its write side) answers one line
 *
 *   COUNT SUM1 SUM2\n      COUNT decimal, SUM1 and SUM2 16 hex digits
 *
 * where the stream is taken as little-endian 64-bit words (the last one
 * padded with zero bytes), SUM1 is their sum and SUM2 the sum of SUM1 after
 * each word (Fletcher's two sums, both mod 2^64: SUM2 changes when words
 * move), and closes.  The sums cost about a cycle per word, so the sink
 * runs at the speed of the transfer, not of the check.
 *
 * Source (port 19, as RFC 864's chargen): reads a decimal byte count and a
 * newline, sends that many bytes, byte i of the stream being i % 251, then
 * shuts down its write side and closes at the client's EOF.  Anything else
 * than digits and a newline (up to 20 digits) gets the line
 * "bulk: bad request: want a byte count and a newline" and a close.
 *
 * Plain POSIX: the same source is a capsule (images/build.mk) and, built
 * with gcc, the native baseline of tests/bench/bench.py's one-way rows.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS    64
#define IO_SIZE        (256 * 1024)
#define PATTERN_PERIOD 251          /* prime: no power-of-two boundary lines up with it */
#define BAD_REQUEST    "bulk: bad request: want a byte count and a newline\n"

enum phase {
	SINK_READ,      /* sink: counting the client's bytes */
	SINK_REPLY,     /* sink: EOF seen, the answer line being written */
	SOURCE_ASK,     /* source: reading the byte count */
	SOURCE_SEND,    /* source: sending the pattern */
	SOURCE_REPLY,   /* source: writing the bad-request line */
	SOURCE_DRAIN,   /* source: write side shut, waiting for the client's EOF */
};

struct client {
	int fd;
	enum phase phase;
	uint64_t count, sum1, sum2;   /* sink: bytes so far, Fletcher sums of whole words */
	unsigned char part[8];        /* sink: a word's first bytes, until the rest arrives */
	unsigned npart;
	uint64_t left;                /* source: bytes still to send */
	char line[64];                /* the answer line, or the request being read */
	size_t len, off;
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static unsigned char io_buf[IO_SIZE];
static unsigned char pattern[IO_SIZE + PATTERN_PERIOD];   /* pattern[i] = i % 251 */

static int listen_tcp(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void accept_clients(int lfd, enum phase first)
{
	while (nclients < MAX_CLIENTS) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;   /* EAGAIN: no more for now; other errors: try next time */
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			close(fd);
			continue;
		}
		clients[nclients++] = (struct client){ .fd = fd, .phase = first };
	}
}

static void drop_client(int i)
{
	close(clients[i].fd);
	clients[i] = clients[--nclients];
}

static uint64_t load_le64(const unsigned char *p)
{
	/* gcc merges this into one load on a little-endian CPU */
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static void sink_add(struct client *c, const unsigned char *p, size_t n)
{
	c->count += n;
	if (c->npart) {   /* finish the word an earlier read began */
		size_t k = n < 8 - c->npart ? n : 8 - c->npart;
		memcpy(c->part + c->npart, p, k);
		c->npart += (unsigned)k;
		p += k;
		n -= k;
		if (c->npart < 8)
			return;
		c->sum1 += load_le64(c->part);
		c->sum2 += c->sum1;
		c->npart = 0;
	}
	uint64_t s1 = c->sum1, s2 = c->sum2;
	for (; n >= 8; p += 8, n -= 8) {
		s1 += load_le64(p);
		s2 += s1;
	}
	c->sum1 = s1;
	c->sum2 = s2;
	memcpy(c->part, p, n);
	c->npart = (unsigned)n;
}

static void sink_finish(struct client *c)
{
	if (c->npart) {   /* the last word, padded with zero bytes */
		memset(c->part + c->npart, 0, 8 - c->npart);
		c->sum1 += load_le64(c->part);
		c->sum2 += c->sum1;
	}
	c->len = (size_t)snprintf(c->line, sizeof c->line, "%" PRIu64 " %016" PRIx64 " %016" PRIx64 "\n",
	                          c->count, c->sum1, c->sum2);
	c->off = 0;
	c->phase = SINK_REPLY;
}

/* A request line so far: 1 when complete and good (left set), 0 when more is needed, -1 bad. */
static int parse_request(struct client *c)
{
	char *nl = memchr(c->line, '\n', c->len);
	if (!nl)
		return c->len > 20 ? -1 : 0;
	if (nl == c->line || (size_t)(nl - c->line) + 1 != c->len)
		return -1;   /* empty, or bytes after the newline: not this protocol */
	uint64_t n = 0;
	for (char *d = c->line; d < nl; d++) {
		if (*d < '0' || *d > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*d - '0');
	}
	c->left = n;
	return 1;
}

/* Writes what is left of c->line; 1 when all is out, 0 to wait, -1 when the client is gone. */
static int write_line(struct client *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->line + c->off, c->len - c->off);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
	}
	return 1;
}

static int source_send(struct client *c)
{
	while (c->left) {
		size_t k = c->left < IO_SIZE ? (size_t)c->left : IO_SIZE;
		ssize_t n = write(c->fd, pattern + c->count % PATTERN_PERIOD, k);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->count += (uint64_t)n;
		c->left -= (uint64_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	c->phase = SOURCE_DRAIN;
	return 0;
}

/* One readable or writable client; -1 when it should be dropped. */
static int serve_client(struct client *c)
{
	ssize_t n;
	switch (c->phase) {
	case SINK_READ:
		while ((n = read(c->fd, io_buf, IO_SIZE)) > 0)
			sink_add(c, io_buf, (size_t)n);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		sink_finish(c);   /* EOF: the line usually goes out at once */
		/* fall through */
	case SINK_REPLY:
		return write_line(c) ? -1 : 0;   /* written (or gone): done either way */
	case SOURCE_ASK:
		n = read(c->fd, c->line + c->len, sizeof c->line - 1 - c->len);
		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
		c->len += (size_t)n;
		switch (parse_request(c)) {
		case 0:
			return 0;
		case 1:
			c->phase = SOURCE_SEND;
			return source_send(c);
		}
		memcpy(c->line, BAD_REQUEST, sizeof BAD_REQUEST - 1);
		c->len = sizeof BAD_REQUEST - 1;
		c->off = 0;
		c->phase = SOURCE_REPLY;
		/* fall through */
	case SOURCE_REPLY:
		n = write_line(c);
		if (n <= 0)
			return (int)n;
		shutdown(c->fd, SHUT_WR);
		c->phase = SOURCE_DRAIN;
		return 0;
	case SOURCE_SEND:
		return source_send(c);
	case SOURCE_DRAIN:   /* close only at the client's EOF: unread bytes would make a close a reset */
		while ((n = read(c->fd, io_buf, IO_SIZE)) > 0)
			;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	}
	return -1;
}

static short wanted(const struct client *c)
{
	return c->phase == SINK_REPLY || c->phase == SOURCE_SEND || c->phase == SOURCE_REPLY
	       ? POLLOUT : POLLIN;
}

int main(int argc, char **argv)
{
	int sink_port = argc > 1 ? atoi(argv[1]) : 9;
	int source_port = argc > 2 ? atoi(argv[2]) : 19;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof pattern; i++)
		pattern[i] = (unsigned char)(i % PATTERN_PERIOD);

	int lfd[2] = { listen_tcp(sink_port), -1 };
	if (lfd[0] >= 0)
		lfd[1] = listen_tcp(source_port);
	if (lfd[0] < 0 || lfd[1] < 0) {
		fprintf(stderr, "bulk: cannot listen on TCP port %d: %s\n",
		        lfd[0] < 0 ? sink_port : source_port, strerror(errno));
		return 1;
	}
	printf("bulk: listening on TCP ports %d (sink) and %d (source)\n", sink_port, source_port);

	static struct pollfd pfd[MAX_CLIENTS + 2];
	for (;;) {
		for (int l = 0; l < 2; l++)
			pfd[l] = (struct pollfd){ .fd = lfd[l], .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++)
			pfd[i + 2] = (struct pollfd){ .fd = clients[i].fd, .events = wanted(&clients[i]) };
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "bulk: poll: %s\n", strerror(errno));
			return 1;
		}
		/* Backwards, so dropping client i (the last one moves into its slot)
		 * never skips a client whose revents are still to be served. */
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 2].revents && serve_client(&clients[i]) < 0)
				drop_client(i);
		if (pfd[0].revents & POLLIN)
			accept_clients(lfd[0], SINK_READ);
		if (pfd[1].revents & POLLIN)
			accept_clients(lfd[1], SOURCE_ASK);
	}
}
