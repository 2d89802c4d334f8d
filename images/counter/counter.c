/* counter.c: TCP port 9000: every line received is answered with the next number of one shared count. */
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

#define MAX_CLIENTS 1024
#define OUT_LIMIT   65536   /* stop reading a client whose replies pile up past this */

struct client {
	int fd;
	int eof;              /* peer finished sending: close once replies are out */
	char *out;
	size_t len, off, cap;
};

static struct client clients[MAX_CLIENTS];
static int nclients;

/* The capsule-wide count lives on the heap on purpose: it is state that must
 * survive with the capsule's memory (snapshot, migration), like any app's. */
static unsigned long long *count;

static int listen_tcp(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void drop_client(int i)
{
	close(clients[i].fd);
	free(clients[i].out);
	clients[i] = clients[--nclients];
}

static void accept_clients(int lfd)
{
	while (nclients < MAX_CLIENTS) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			close(fd);
			continue;
		}
		clients[nclients++] = (struct client){ .fd = fd };
	}
}

static int append_reply(struct client *c, unsigned long long n)
{
	char num[32];
	int len = snprintf(num, sizeof num, "%llu\n", n);
	if (c->len + (size_t)len > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		while (cap < c->len + (size_t)len)
			cap *= 2;
		char *out = realloc(c->out, cap);
		if (!out)
			return -1;
		c->out = out;
		c->cap = cap;
	}
	memcpy(c->out + c->len, num, (size_t)len);
	c->len += (size_t)len;
	return 0;
}

static int flush_client(struct client *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->out + c->off, c->len - c->off);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
	}
	c->len = c->off = 0;
	return 0;
}

static int read_lines(struct client *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof buf);
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n' && append_reply(c, ++*count) < 0)
			return -1;
	return 0;
}

/* Returns -1 when the client should be dropped. */
static int serve_client(struct client *c, short revents)
{
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->eof && read_lines(c) < 0)
		return -1;
	if (flush_client(c) < 0)
		return -1;
	return c->eof && c->off == c->len ? -1 : 0;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 9000;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	count = calloc(1, sizeof *count);
	int lfd = listen_tcp(port);
	if (!count || lfd < 0) {
		fprintf(stderr, "counter: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("counter: listening on TCP port %d\n", port);

	static struct pollfd pfd[MAX_CLIENTS + 1];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++) {
			struct client *c = &clients[i];
			short ev = 0;
			if (!c->eof && c->len - c->off < OUT_LIMIT)
				ev |= POLLIN;
			if (c->off < c->len)
				ev |= POLLOUT;
			pfd[i + 1] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "counter: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 1].revents && serve_client(&clients[i], pfd[i + 1].revents) < 0)
				drop_client(i);
		if (pfd[0].revents & POLLIN)
			accept_clients(lfd);
	}
}
