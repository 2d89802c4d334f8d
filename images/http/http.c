/* http.c: small HTTP/1.1 server (keep-alive, pipelining) on port 80; GET / names the server's IP and counts requests. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define IN_MAX      16384   /* request head limit: larger heads get 431 */
#define OUT_LIMIT   65536   /* stop reading a client whose replies pile up past this */

struct client {
	int fd;
	int closing;          /* close once the output is written */
	char ip[INET_ADDRSTRLEN];   /* our address as this client reached us */
	char in[IN_MAX];
	size_t in_len;
	size_t body_left;     /* request body bytes still to skip */
	char *out;
	size_t out_len, out_off, out_cap;
};

static struct client *clients[MAX_CLIENTS];
static int nclients;
static unsigned long long requests_served;

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
	close(clients[i]->fd);
	free(clients[i]->out);
	free(clients[i]);
	clients[i] = clients[--nclients];
}

static void accept_clients(int lfd)
{
	while (nclients < MAX_CLIENTS) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;
		struct client *c = calloc(1, sizeof *c);
		struct sockaddr_in self;
		socklen_t slen = sizeof self;
		/* The address the client connected to is ours: no configuration needed. */
		if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
		    getsockname(fd, (struct sockaddr *)&self, &slen) < 0) {
			free(c);
			close(fd);
			continue;
		}
		inet_ntop(AF_INET, &self.sin_addr, c->ip, sizeof c->ip);
		c->fd = fd;
		clients[nclients++] = c;
	}
}

static int append(struct client *c, const char *data, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 1024;
		while (cap < c->out_len + len)
			cap *= 2;
		char *out = realloc(c->out, cap);
		if (!out)
			return -1;
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static int respond(struct client *c, int status, const char *reason, const char *body,
                   int head_only)
{
	char head[256];
	size_t blen = strlen(body);
	int hlen = snprintf(head, sizeof head,
	                    "HTTP/1.1 %d %s\r\n"
	                    "Content-Type: text/plain\r\n"
	                    "Content-Length: %zu\r\n"
	                    "Connection: %s\r\n\r\n",
	                    status, reason, blen, c->closing ? "close" : "keep-alive");
	if (append(c, head, (size_t)hlen) < 0)
		return -1;
	return head_only ? 0 : append(c, body, blen);
}

/* Value of header `name` in the head (lines after the request line), or NULL. */
static const char *header(char *head, const char *name, char *val, size_t vlen)
{
	size_t nlen = strlen(name);
	for (char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\r\n");
			if (n >= vlen)
				n = vlen - 1;
			memcpy(val, v, n);
			val[n] = 0;
			return val;
		}
	}
	return NULL;
}

/* Handle one complete request head of head_len bytes (NUL-terminated in place). */
static int handle_request(struct client *c, char *head)
{
	char method[16], path[1024], version[16], val[64];
	if (sscanf(head, "%15s %1023s %15s", method, path, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		c->closing = 1;
		return respond(c, 400, "Bad Request", "bad request\n", 0);
	}
	int keep_alive = strcmp(version, "HTTP/1.0") != 0;
	if (header(head, "Connection", val, sizeof val))
		keep_alive = strcasecmp(val, "close") != 0 &&
		             (keep_alive || strcasecmp(val, "keep-alive") == 0);
	if (header(head, "Content-Length", val, sizeof val))
		c->body_left = strtoull(val, NULL, 10);
	if (!keep_alive)
		c->closing = 1;

	requests_served++;
	int head_only = strcmp(method, "HEAD") == 0;
	if (strcmp(method, "GET") != 0 && !head_only)
		return respond(c, 405, "Method Not Allowed", "method not allowed\n", 0);
	if (strcmp(path, "/") != 0)
		return respond(c, 404, "Not Found", "not found\n", head_only);
	char body[128];
	snprintf(body, sizeof body, "Hello from capsule %s: %llu requests served so far\n",
	         c->ip, requests_served);
	return respond(c, 200, "OK", body, head_only);
}

/* Consume every complete request in the input buffer. */
static int parse_requests(struct client *c)
{
	for (;;) {
		if (c->body_left) {
			size_t n = c->body_left < c->in_len ? c->body_left : c->in_len;
			memmove(c->in, c->in + n, c->in_len - n);
			c->in_len -= n;
			c->body_left -= n;
			if (c->body_left)
				return 0;
		}
		if (c->closing)
			return 0;   /* nothing after a "Connection: close" request is served */
		char *end = NULL;
		for (size_t i = 3; i < c->in_len && !end; i++)
			if (memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0)
				end = c->in + i + 1;
		if (!end) {
			if (c->in_len == IN_MAX - 1) {
				c->closing = 1;
				return respond(c, 431, "Request Header Fields Too Large", "too large\n", 0);
			}
			return 0;
		}
		end[-2] = 0;   /* keep the last header's \r\n, cut the blank line */
		if (handle_request(c, c->in) < 0)
			return -1;
		size_t used = (size_t)(end - c->in);
		memmove(c->in, end, c->in_len - used);
		c->in_len -= used;
	}
}

static int flush_client(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	return 0;
}

/* Returns -1 when the client should be dropped. */
static int serve_client(struct client *c, short revents)
{
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->closing) {
		ssize_t n = read(c->fd, c->in + c->in_len, IN_MAX - 1 - c->in_len);
		if (n == 0)
			return -1;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (n > 0) {
			c->in_len += (size_t)n;
			if (parse_requests(c) < 0)
				return -1;
		}
	}
	if (flush_client(c) < 0)
		return -1;
	return c->closing && c->out_off == c->out_len ? -1 : 0;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 80;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = listen_tcp(port);
	if (lfd < 0) {
		fprintf(stderr, "http: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("http: listening on TCP port %d\n", port);

	static struct pollfd pfd[MAX_CLIENTS + 1];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++) {
			struct client *c = clients[i];
			short ev = 0;
			if (!c->closing && c->out_len - c->out_off < OUT_LIMIT)
				ev |= POLLIN;
			if (c->out_off < c->out_len)
				ev |= POLLOUT;
			pfd[i + 1] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "http: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 1].revents && serve_client(clients[i], pfd[i + 1].revents) < 0)
				drop_client(i);
		if (pfd[0].revents & POLLIN)
			accept_clients(lfd);
	}
}
