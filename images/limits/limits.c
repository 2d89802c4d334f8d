/* limits.c: the descriptor limit (getrlimit/setrlimit, pipe(2) at it) and a TCP server that keeps every connection it can accept. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT 7000
#define MAX_CONNS 70000

static struct pollfd pfds[MAX_CONNS + 1];

static const char *outcome(int rc)
{
	return rc == 0 ? "ok" : errno == EPERM ? "EPERM" : errno == EINVAL ? "EINVAL" :
	       errno == EMFILE ? "EMFILE" : errno == EBADF ? "EBADF" : "other";
}

/* Every descriptor still free, taken (eventfds) into opened[]; how many.  errno: why the next failed. */
static int take_free_fds(int *opened)
{
	int n = 0, fd;
	while (n < MAX_CONNS && (fd = eventfd(0, 0)) >= 0)
		opened[n++] = fd;
	return n;
}

static void close_fds(const int *opened, int n)
{
	int err = errno;
	while (n)
		close(opened[--n]);
	errno = err;
}

/* How many descriptors can still be opened, then closed again. */
static int count_free_fds(void)
{
	static int opened[MAX_CONNS];
	int n = take_free_fds(opened);
	close_fds(opened, n);
	return n;
}

/* pipe(2) with no descriptor free, then with one: EMFILE both times, and nothing left open. */
static void check_pipe_at_limit(void)
{
	static int opened[MAX_CONNS];
	int n = take_free_fds(opened), p[2];
	const char *none = outcome(pipe(p));
	if (n)
		close(opened[--n]);
	const char *one = outcome(pipe(p));
	int left = count_free_fds();
	close_fds(opened, n);
	printf("pipe with no descriptor free: %s, with one: %s, then free: %d\n", none, one, left);
}

static void check_limits(void)
{
	struct rlimit rl, orig;
	getrlimit(RLIMIT_NOFILE, &orig);
	printf("nofile %llu %llu\n", (unsigned long long)orig.rlim_cur, (unsigned long long)orig.rlim_max);
	rl.rlim_cur = rl.rlim_max = orig.rlim_max + 1;
	printf("setrlimit above the limit: %s\n", outcome(setrlimit(RLIMIT_NOFILE, &rl)));
	rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
	printf("setrlimit unlimited: %s\n", outcome(setrlimit(RLIMIT_NOFILE, &rl)));
	int before = count_free_fds();
	printf("free descriptors: %d (then %s)\n", before, errno == EMFILE ? "EMFILE" : "other");
	rl.rlim_cur = 16;
	rl.rlim_max = orig.rlim_max;
	printf("setrlimit soft 16: %s\n", outcome(setrlimit(RLIMIT_NOFILE, &rl)));
	printf("free descriptors below 16: %d\n", count_free_fds());
	check_pipe_at_limit();
	printf("dup2 to fd 16: %s\n", outcome(dup2(0, 16) < 0 ? -1 : 0));
	printf("setrlimit back: %s\n", outcome(setrlimit(RLIMIT_NOFILE, &orig)));
	printf("free descriptors again: %d\n", count_free_fds());
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	check_limits();
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 128) < 0) {
		perror("limits: listen");
		return 1;
	}
	printf("listening on %d\n", PORT);
	pfds[0] = (struct pollfd){ ls, POLLIN, 0 };
	int n = 1, accepted = 0;
	for (;;) {
		if (poll(pfds, (nfds_t)n, -1) < 0)
			continue;
		if (pfds[0].revents & POLLIN) {
			int c = accept(ls, 0, 0);
			if (c >= 0 && n <= MAX_CONNS) {
				pfds[n++] = (struct pollfd){ c, POLLIN, 0 };
				accepted++;
			} else if (c < 0 && errno == EMFILE) {
				/* Out of descriptors: keep serving what we have, accept no more. */
				printf("accept: EMFILE after %d connections\n", accepted);
				pfds[0].fd = -1;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!pfds[i].revents)
				continue;
			char buf[256];
			ssize_t r = read(pfds[i].fd, buf, sizeof buf);
			if (r > 0) {
				write(pfds[i].fd, buf, (size_t)r);
			} else if (r == 0 || errno != EAGAIN) {
				close(pfds[i].fd);
				pfds[i--] = pfds[--n];
			}
		}
	}
}
