/* relayer.c: TCP relay: each client accepted on PORT gets its own outgoing connection to TARGET, bytes copied both ways. */
#define _POSIX_C_SOURCE 200809L

/*
 *   relayer PORT TARGET_IP TARGET_PORT [KEEPALIVE_S]
 *
 * A capsule that connects OUT: for every client accepted on PORT it opens a
 * TCP connection to TARGET_IP:TARGET_PORT and relays bytes in both
 * directions, so one client stream exercises two connections (the client's
 * and the relayer's own to the target).  Plain POSIX; builds natively with
 * any C compiler as well.
 *
 * Per direction one buffer: while it holds bytes not yet written, the
 * source is not read, so a slow side slows the other (its TCP window does
 * the rest), and memory stays bounded.  With KEEPALIVE_S, the connections to
 * the target send keepalive probes after that many idle seconds, every
 * KEEPALIVE_S seconds, and give up after two unanswered; a read or write
 * that fails is printed with its error.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define BUF_SIZE  65536

struct pipe_dir {          /* bytes read from one side, waiting to go to the other */
	char *buf;
	size_t len, off;
	int eof;               /* the source finished: nothing more will come */
	unsigned long long moved;   /* bytes delivered to the other side so far */
};

struct pair {
	int fd[2];             /* 0: client, 1: target */
	struct pipe_dir dir[2];   /* dir[i]: read from fd[i], written to fd[1 - i] */
	unsigned id;
};

static struct pair pairs[MAX_PAIRS];
static int npairs;
static unsigned next_id = 1;
static struct sockaddr_in target;
static int keepalive_s;   /* 0: no keepalive probes */

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
		close(fd);
		return -1;
	}
	return fd;
}

/* A blocking connect: the relayer has nothing else to do until the target answers. */
static int connect_target(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	int one = 1, two = 2;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (keepalive_s && (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0 ||
	                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive_s, sizeof keepalive_s) < 0 ||
	                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive_s, sizeof keepalive_s) < 0 ||
	                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &two, sizeof two) < 0))
		printf("relayer: keepalive: %s\n", strerror(errno));
	return fd;
}

static void drop_pair(int i)
{
	struct pair *p = &pairs[i];
	/* Both totals, so a test can compare them with what the client sent and got back. */
	printf("relayer: pair %u closed: %llu bytes client->target, %llu bytes target->client\n",
	       p->id, p->dir[0].moved, p->dir[1].moved);
	close(p->fd[0]);
	close(p->fd[1]);
	free(p->dir[0].buf);
	free(p->dir[1].buf);
	pairs[i] = pairs[--npairs];
}

static void accept_one(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return;   /* EAGAIN: nobody waiting after all */
	int out = connect_target();
	if (out < 0) {
		printf("relayer: connect to %s:%u: %s\n", inet_ntoa(target.sin_addr),
		       ntohs(target.sin_port), strerror(errno));
		close(fd);
		return;
	}
	char *b0 = malloc(BUF_SIZE), *b1 = malloc(BUF_SIZE);
	if (!b0 || !b1 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(out, F_SETFL, O_NONBLOCK) < 0) {
		free(b0);
		free(b1);
		close(fd);
		close(out);
		return;
	}
	struct pair *p = &pairs[npairs++];
	*p = (struct pair){ .fd = { fd, out }, .id = next_id++ };
	p->dir[0].buf = b0;
	p->dir[1].buf = b1;
	printf("relayer: pair %u connected to %s:%u\n", p->id, inet_ntoa(target.sin_addr),
	       ntohs(target.sin_port));
}

/* A read or write on side s of p failed: say which and why (the pair ends). */
static int broken(const struct pair *p, const char *how, int s)
{
	printf("relayer: pair %u: %s the %s: %s\n", p->id, how, s ? "target" : "client",
	       strerror(errno));
	return -1;
}

/* Move bytes for direction d of p; returns -1 when the pair is finished or broken. */
static int pump(struct pair *p, int d, short rev_src, short rev_dst)
{
	struct pipe_dir *q = &p->dir[d];
	int src = p->fd[d], dst = p->fd[1 - d];
	if (q->off == q->len && !q->eof && (rev_src & (POLLIN | POLLERR | POLLHUP))) {
		ssize_t n = read(src, q->buf, BUF_SIZE);
		if (n == 0)
			q->eof = 1;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return broken(p, "reading from", d);
		else if (n > 0)
			q->len = (size_t)n, q->off = 0;
		rev_dst |= POLLOUT;   /* try writing right away */
	}
	while (q->off < q->len && (rev_dst & (POLLOUT | POLLERR | POLLHUP))) {
		ssize_t n = write(dst, q->buf + q->off, q->len - q->off);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n < 0)
			return broken(p, "writing to", 1 - d);
		q->off += (size_t)n;
		q->moved += (unsigned long long)n;
	}
	if (q->off == q->len)
		q->off = q->len = 0;
	return q->eof && q->len == 0 ? -1 : 0;   /* one side finished: end the pair */
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: relayer PORT TARGET_IP TARGET_PORT [KEEPALIVE_S]\n");
		return 2;
	}
	keepalive_s = argc == 5 ? atoi(argv[4]) : 0;
	int port = atoi(argv[1]);
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
		fprintf(stderr, "relayer: %s: not an IPv4 address\n", argv[2]);
		return 2;
	}
	int lfd = listen_tcp(port);
	if (lfd < 0) {
		fprintf(stderr, "relayer: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("relayer: listening on TCP port %d\n", port);

	static struct pollfd pfd[1 + 2 * MAX_PAIRS];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = npairs < MAX_PAIRS ? POLLIN : 0 };
		for (int i = 0; i < npairs; i++) {
			struct pair *p = &pairs[i];
			for (int s = 0; s < 2; s++) {
				short ev = 0;
				if (p->dir[s].off == p->dir[s].len && !p->dir[s].eof)
					ev |= POLLIN;              /* room to read from side s */
				if (p->dir[1 - s].off < p->dir[1 - s].len)
					ev |= POLLOUT;             /* bytes waiting for side s */
				pfd[1 + 2 * i + s] = (struct pollfd){ .fd = p->fd[s], .events = ev };
			}
		}
		int polled = npairs;
		if (poll(pfd, 1 + 2 * (nfds_t)polled, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "relayer: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = polled - 1; i >= 0; i--) {
			short r0 = pfd[1 + 2 * i].revents, r1 = pfd[2 + 2 * i].revents;
			if (!r0 && !r1)
				continue;
			if (pump(&pairs[i], 0, r0, r1) < 0 || pump(&pairs[i], 1, r1, r0) < 0)
				drop_pair(i);
		}
		if (pfd[0].revents & POLLIN)
			accept_one(lfd);
	}
}
