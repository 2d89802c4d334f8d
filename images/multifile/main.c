/* main.c: multifile: TCP port 9002, answers each line with its word and character count. */
#define _POSIX_C_SOURCE 200809L

#include "textstats.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One client at a time: this program exists to show a multi-file build. */
static void serve(FILE *in, int fd)
{
	char line[4096], reply[64];
	while (fgets(line, sizeof line, in)) {
		struct textstats st = textstats_of(line, strlen(line));
		int n = textstats_format(&st, reply, sizeof reply);
		if (write(fd, reply, (size_t)n) != n)
			return;
	}
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 9002;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "multifile: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("multifile: listening on TCP port %d\n", port);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		FILE *in = fdopen(fd, "r");
		if (!in) {
			close(fd);
			continue;
		}
		serve(in, fd);
		fclose(in);   /* closes fd too */
	}
}
