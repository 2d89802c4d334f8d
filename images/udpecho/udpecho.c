/* udpecho.c: UDP echo server (RFC 862) on port 7: every datagram goes back to its sender. */
/*
 * `udpecho PORT GATE`: reads nothing until a TCP connection to port GATE
 * arrives, so datagrams pile up in the socket's queue: tests see the queue's
 * bound and the drops counted past it (capctl stats: rx_socket_full).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7;
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "udpecho: cannot bind UDP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	if (argc > 2) {
		int gate = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in ga = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])),
		                          .sin_addr.s_addr = htonl(INADDR_ANY) };
		if (gate < 0 || bind(gate, (struct sockaddr *)&ga, sizeof ga) < 0 || listen(gate, 1) < 0) {
			fprintf(stderr, "udpecho: cannot listen on TCP port %s: %s\n", argv[2],
			        strerror(errno));
			return 1;
		}
		printf("udpecho: listening on UDP port %d, reading once TCP port %s is connected\n",
		       port, argv[2]);
		int c = accept(gate, NULL, NULL);
		if (c < 0) {
			fprintf(stderr, "udpecho: accept: %s\n", strerror(errno));
			return 1;
		}
		close(c);
		close(gate);
	}
	printf("udpecho: listening on UDP port %d\n", port);

	static char buf[65536];   /* the largest datagram UDP can carry */
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof peer;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "udpecho: recvfrom: %s\n", strerror(errno));
			return 1;
		}
		/* A lost reply is fine for UDP echo: the sender retries. */
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen);
	}
}
