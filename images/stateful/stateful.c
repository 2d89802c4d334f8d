/* stateful.c: TCP port 9002: a capsule whose threads sit in accept, read, a pipe read and a condition wait, reporting its pipe, /tmp file and clocks on request. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Made to be snapshotted: every kind of blocked thread and every kind of
 * descriptor state the runtime keeps, each observable from outside.
 *
 *   main thread     waits on a condition variable until a client says "wake"
 *   accept thread   blocks in accept() on port 9002
 *   one per client  blocks in read() on its connection
 *   pipe reader     blocks in read() on the feed pipe
 *   held pipe       written at start, read piece by piece by "pipe N"
 *   /tmp file       written at start, left at offset FILE_START_OFFSET
 *
 * Commands, one per line, each answered with one line:
 *   hello            -> "hello"
 *   file             -> "file offset=O size=S rest=<bytes from O to the end>"
 *   read N           -> "read <up to N bytes from the file offset>" (advances it)
 *   pipe N           -> "pipe <up to N bytes from the held pipe>"
 *   feed WORD        -> "fed WORD" once the pipe reader thread has read WORD
 *   wake             -> "woke K" once the main thread has woken for the K-th time
 *   clock            -> "clock MONO_NS REAL_NS"
 *   print TEXT       -> prints "stateful: TEXT" on the console, answers "printed"
 */

#define PORT              9002
#define FILE_PATH         "/tmp/stateful.txt"
#define FILE_TEXT         "alpha-beta-gamma-delta"
#define FILE_START_OFFSET 6
#define HELD_TEXT         "pipe-data-one"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static unsigned long wake_requests, wakes_done;   /* main thread's wake-ups */
static unsigned long feeds_read;                  /* words the pipe reader has read */
static char last_feed[256];

static int file_fd = -1;
static int held_pipe[2] = { -1, -1 };
static int feed_pipe[2] = { -1, -1 };

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

static long long now_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *pipe_reader(void *arg)
{
	(void)arg;
	char buf[sizeof last_feed];
	for (;;) {
		ssize_t n = read(feed_pipe[0], buf, sizeof buf - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		buf[n] = 0;
		printf("stateful: pipe reader got %s\n", buf);
		pthread_mutex_lock(&lock);
		memcpy(last_feed, buf, (size_t)n + 1);
		feeds_read++;
		pthread_cond_broadcast(&changed);
		pthread_mutex_unlock(&lock);
	}
}

/* One command line (without its newline) -> one reply line in out. */
static void command(char *line, char *out, size_t outlen)
{
	char buf[512];
	if (!strcmp(line, "hello")) {
		snprintf(out, outlen, "hello");
	} else if (!strcmp(line, "file")) {
		off_t off = lseek(file_fd, 0, SEEK_CUR);
		off_t size = lseek(file_fd, 0, SEEK_END);
		lseek(file_fd, off, SEEK_SET);
		ssize_t n = pread(file_fd, buf, sizeof buf - 1, off);
		buf[n > 0 ? n : 0] = 0;
		snprintf(out, outlen, "file offset=%lld size=%lld rest=%s", (long long)off,
		         (long long)size, buf);
	} else if (!strncmp(line, "read ", 5) || !strncmp(line, "pipe ", 5)) {
		size_t want = (size_t)strtoul(line + 5, NULL, 10);
		if (want > sizeof buf - 1)
			want = sizeof buf - 1;
		ssize_t n = read(line[0] == 'r' ? file_fd : held_pipe[0], buf, want);
		buf[n > 0 ? n : 0] = 0;
		snprintf(out, outlen, "%.4s %s", line, buf);
	} else if (!strncmp(line, "feed ", 5)) {
		pthread_mutex_lock(&lock);
		unsigned long want = feeds_read + 1;
		pthread_mutex_unlock(&lock);
		write_all(feed_pipe[1], line + 5, strlen(line + 5));
		pthread_mutex_lock(&lock);
		while (feeds_read < want)
			pthread_cond_wait(&changed, &lock);
		snprintf(out, outlen, "fed %s", last_feed);
		pthread_mutex_unlock(&lock);
	} else if (!strcmp(line, "wake")) {
		pthread_mutex_lock(&lock);
		unsigned long want = ++wake_requests;
		pthread_cond_broadcast(&changed);
		while (wakes_done < want)
			pthread_cond_wait(&changed, &lock);
		snprintf(out, outlen, "woke %lu", want);
		pthread_mutex_unlock(&lock);
	} else if (!strcmp(line, "clock")) {
		snprintf(out, outlen, "clock %lld %lld", now_ns(CLOCK_MONOTONIC), now_ns(CLOCK_REALTIME));
	} else if (!strncmp(line, "print ", 6)) {
		printf("stateful: %s\n", line + 6);
		snprintf(out, outlen, "printed");
	} else {
		snprintf(out, outlen, "unknown command");
	}
}

static void *serve_connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char line[512], out[1024];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, line + len, sizeof line - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(line, '\n', len)) != NULL) {
			*nl = 0;
			command(line, out, sizeof out - 1);
			strcat(out, "\n");
			if (write_all(fd, out, strlen(out)) < 0)
				goto done;
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len);
		}
		if (len == sizeof line - 1)   /* overlong line: drop it */
			len = 0;
	}
done:
	close(fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			fprintf(stderr, "stateful: accept: %s\n", strerror(errno));
			return NULL;
		}
		pthread_t t;
		if (pthread_create(&t, &attr, serve_connection, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}

static int setup(void)
{
	file_fd = open(FILE_PATH, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (file_fd < 0 || write_all(file_fd, FILE_TEXT, strlen(FILE_TEXT)) < 0 ||
	    lseek(file_fd, FILE_START_OFFSET, SEEK_SET) != FILE_START_OFFSET)
		return -1;
	if (pipe(held_pipe) < 0 || pipe(feed_pipe) < 0 ||
	    write_all(held_pipe[1], HELD_TEXT, strlen(HELD_TEXT)) < 0)
		return -1;
	return 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (setup() < 0 || lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "stateful: cannot set up: %s\n", strerror(errno));
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, pipe_reader, NULL) != 0 ||
	    pthread_create(&t, NULL, acceptor, (void *)(intptr_t)lfd) != 0) {
		fprintf(stderr, "stateful: cannot start threads\n");
		return 1;
	}
	printf("stateful: listening on TCP port %d\n", PORT);

	pthread_mutex_lock(&lock);
	for (;;) {
		while (wakes_done == wake_requests)
			pthread_cond_wait(&changed, &lock);
		wakes_done++;
		printf("stateful: main thread woke up (%lu)\n", wakes_done);
		pthread_cond_broadcast(&changed);
	}
}
