/* memtouch.c: TCP port 9003: touches N MiB of heap on request ("touch N") and answers "ping" with a count, for snapshot size and timing checks. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Commands, one per line, each answered with one line:
 *   touch N  -> "touched N total T": N more MiB of heap written (T MiB so far)
 *   ping     -> "pong K": K counts pings over all connections
 * Replies are short, so a client that waits for each reply never fills a
 * socket buffer: a reply is written whole or the client is dropped.
 */

#define PORT        9003
#define MAX_CLIENTS 1024
#define LINE_MAX_LEN 256

struct client {
	int fd;
	size_t len;
	char line[LINE_MAX_LEN];
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static unsigned long long pings, touched_mib;
static void *blocks;   /* every touched block, chained through its first word: kept reachable */

static int listen_tcp(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Allocate and write mib MiB (a byte in every page); the blocks are kept for good (they are the state). */
static int touch(unsigned long mib)
{
	for (unsigned long i = 0; i < mib; i++) {
		unsigned char *p = malloc(1 << 20);
		if (!p)
			return -1;
		for (size_t off = 0; off < (1 << 20); off += 4096)
			p[off] = (unsigned char)(off >> 12 | 1);
		/* Reachable from a global, so the compiler cannot drop the block or its writes. */
		memcpy(p, &blocks, sizeof blocks);
		blocks = p;
		touched_mib++;
	}
	return 0;
}

static void command(const char *line, char *out, size_t outlen)
{
	if (!strncmp(line, "touch ", 6)) {
		unsigned long mib = strtoul(line + 6, NULL, 10);
		if (touch(mib) < 0)
			snprintf(out, outlen, "out of memory after %llu MiB\n", touched_mib);
		else
			snprintf(out, outlen, "touched %lu total %llu\n", mib, touched_mib);
	} else if (!strcmp(line, "ping")) {
		snprintf(out, outlen, "pong %llu\n", ++pings);
	} else {
		snprintf(out, outlen, "unknown command\n");
	}
}

/* Returns -1 when the client should be dropped. */
static int serve_client(struct client *c)
{
	ssize_t n = read(c->fd, c->line + c->len, sizeof c->line - c->len);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
		char out[128];
		*nl = 0;
		command(c->line, out, sizeof out);
		size_t len = strlen(out);
		if (write(c->fd, out, len) != (ssize_t)len)
			return -1;
		c->len -= (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, c->len);
	}
	return c->len == sizeof c->line ? -1 : 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int lfd = listen_tcp(PORT);
	if (lfd < 0) {
		fprintf(stderr, "memtouch: cannot listen on TCP port %d: %s\n", PORT, strerror(errno));
		return 1;
	}
	printf("memtouch: listening on TCP port %d\n", PORT);

	static struct pollfd pfd[MAX_CLIENTS + 1];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++)
			pfd[i + 1] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "memtouch: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 1].revents && serve_client(&clients[i]) < 0) {
				close(clients[i].fd);
				clients[i] = clients[--nclients];
			}
		if (pfd[0].revents & POLLIN) {
			while (nclients < MAX_CLIENTS) {
				int fd = accept(lfd, NULL, NULL);
				if (fd < 0)
					break;
				if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
					close(fd);
					continue;
				}
				clients[nclients].fd = fd;
				clients[nclients].len = 0;
				nclients++;
			}
		}
	}
}
