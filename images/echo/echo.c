/* echo.c: TCP echo server (RFC 862) on port 7, serving many clients at once with poll(). */
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
#define BUF_SIZE    65536

/* Bytes read but not yet written back.  While some are pending we stop
 * reading from that client: the client's own send window does the rest. */
struct client {
	int fd;
	size_t len, off;
	char *buf;
};

static struct client clients[MAX_CLIENTS];
static int nclients;

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
	free(clients[i].buf);
	clients[i] = clients[--nclients];
}

static void accept_clients(int lfd)
{
	while (nclients < MAX_CLIENTS) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;   /* EAGAIN: no more for now; other errors: try next time */
		char *buf = malloc(BUF_SIZE);
		if (!buf || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			free(buf);
			close(fd);
			continue;
		}
		clients[nclients++] = (struct client){ .fd = fd, .buf = buf };
	}
}

/* Write what is pending; returns -1 if the client is gone. */
static int flush_client(struct client *c)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
	}
	c->len = c->off = 0;
	return 0;
}

/* Returns -1 when the client should be dropped (EOF or error). */
static int serve_client(struct client *c, short revents)
{
	if (c->off < c->len)
		return (revents & (POLLOUT | POLLERR | POLLHUP)) ? flush_client(c) : 0;
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	ssize_t n = read(c->fd, c->buf, BUF_SIZE);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	c->len = (size_t)n;
	c->off = 0;
	return flush_client(c);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = listen_tcp(port);
	if (lfd < 0) {
		fprintf(stderr, "echo: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("echo: listening on TCP port %d\n", port);

	static struct pollfd pfd[MAX_CLIENTS + 1];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++) {
			struct client *c = &clients[i];
			pfd[i + 1] = (struct pollfd){ .fd = c->fd,
			                              .events = c->off < c->len ? POLLOUT : POLLIN };
		}
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echo: poll: %s\n", strerror(errno));
			return 1;
		}
		/* Backwards, so dropping client i (moving the last one into its
		 * slot) never skips a client whose revents we still need. */
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 1].revents && serve_client(&clients[i], pfd[i + 1].revents) < 0)
				drop_client(i);
		if (pfd[0].revents & POLLIN)
			accept_clients(lfd);
	}
}
