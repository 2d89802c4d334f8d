/* ticker.c: a capsule without a network stack: counts on stdout every 20 ms, each number passed through a pipe. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Linked with capcc --cap-no-net: there is no stack to make a socket with. */
	if (socket(AF_INET, SOCK_STREAM, 0) < 0)
		printf("ticker: no network (%s)\n", strerror(errno));
	int p[2];
	if (pipe(p) < 0) {
		perror("ticker: pipe");
		return 1;
	}
	/* The count lives in the capsule's memory and in the pipe: both must survive a snapshot. */
	for (unsigned long n = 1;; n++) {
		unsigned long got = 0;
		if (write(p[1], &n, sizeof n) != sizeof n || read(p[0], &got, sizeof got) != sizeof got) {
			perror("ticker: pipe");
			return 1;
		}
		printf("tick %lu\n", got);
		struct timespec pause = { 0, 20 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}
