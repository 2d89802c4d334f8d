/* countclient.c: the QEMU demo's ordinary client: asks images/counter for the next number every 10 ms over one TCP connection and reports progress and the longest wait. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One reply line into buf; 0 on success, -1 on EOF, error or a stop signal. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: countclient IP PORT\n");
		return 2;
	}
	/* No SA_RESTART: a stop signal interrupts a blocked read, so the summary still prints. */
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
		printf("client: cannot connect to %s:%s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	printf("client: connected to %s:%s\n", argv[1], argv[2]);
	unsigned long long first = 0, last = 0, answers = 0, errors = 0;
	double longest = 0, longest_at = 0;
	const struct timespec pace = { 0, 10 * 1000 * 1000 };
	char line[64];
	while (!stopping) {
		double t0 = now_ms();
		if (write(fd, "n\n", 2) != 2 || read_line(fd, line, sizeof line) < 0) {
			if (!stopping) {
				printf("client: connection lost after %llu answers: %s\n", answers,
				       errno ? strerror(errno) : "closed");
				errors++;
			}
			break;
		}
		double dt = now_ms() - t0;
		unsigned long long n = strtoull(line, NULL, 10);
		if (answers == 0)
			first = n;
		else if (n != last + 1) {
			printf("client: got %llu after %llu: not the next number\n", n, last);
			errors++;
		}
		last = n;
		answers++;
		if (dt > longest) {
			longest = dt;
			longest_at = (double)n;
		}
		if (answers % 100 == 0)
			printf("client: answers %llu last %llu\n", answers, last);
		nanosleep(&pace, NULL);
	}
	printf("client: done answers %llu first %llu last %llu longest_gap_ms %.1f at %.0f errors %llu\n",
	       answers, first, last, longest, longest_at, errors);
	close(fd);
	return errors ? 1 : 0;
}
