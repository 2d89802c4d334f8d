/* threads.c: TCP port 9001, one pthread per connection: lines come back upper-cased; a mutex guards the total line count. */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096   /* longer lines are answered in pieces of this size */

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long lines_total;   /* lines seen by every thread together */

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static unsigned long long count_line(void)
{
	pthread_mutex_lock(&count_lock);
	unsigned long long total = ++lines_total;
	pthread_mutex_unlock(&count_lock);
	return total;
}

static int reply(int fd, char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		line[i] = (char)toupper((unsigned char)line[i]);
	count_line();
	return write_all(fd, line, len);
}

static void *serve_connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *line = malloc(LINE_MAX_LEN);
	size_t len = 0;
	unsigned long long mine = 0;

	while (line) {
		ssize_t n = read(fd, line + len, LINE_MAX_LEN - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		/* Answer every complete line; keep the unfinished tail for the next read. */
		size_t start = 0;
		for (size_t i = 0; i < len; i++) {
			if (line[i] != '\n')
				continue;
			if (reply(fd, line + start, i + 1 - start) < 0)
				goto done;
			mine++;
			start = i + 1;
		}
		if (start == 0 && len == LINE_MAX_LEN) {   /* an overlong line: answer this piece */
			if (reply(fd, line, len) < 0)
				goto done;
			mine++;
			start = len;
		}
		memmove(line, line + start, len - start);
		len -= start;
	}
	if (line && len > 0 && reply(fd, line, len) == 0)   /* last line without a newline */
		mine++;
done:
	pthread_mutex_lock(&count_lock);
	unsigned long long total = lines_total;
	pthread_mutex_unlock(&count_lock);
	printf("threads: connection closed after %llu lines; %llu lines in total\n", mine, total);
	free(line);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 9001;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 128) < 0) {
		fprintf(stderr, "threads: cannot listen on TCP port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("threads: listening on TCP port %d\n", port);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			fprintf(stderr, "threads: accept: %s\n", strerror(errno));
			return 1;
		}
		pthread_t t;
		int err = pthread_create(&t, &attr, serve_connection, (void *)(intptr_t)fd);
		if (err) {
			fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
			close(fd);
		}
	}
}
