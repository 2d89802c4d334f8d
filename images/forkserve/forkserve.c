/* forkserve.c: sockets and processes: a connection handed to a forked child (fork per connection), a listener inherited by pre-forked workers that each accept, children that make sockets of their own (dial), a listener and a connection handed over with SCM_RIGHTS (handoff), and a connection on a child's stdin and stdout across execve (inetd); plain POSIX C, the same behaviour on Linux. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_on(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
		perror("forkserve: listen");
		exit(1);
	}
	return s;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fork per connection: the child says who it is, then echoes every byte until end of file. */
static void echo_child(int c)
{
	char buf[65536];
	int n = snprintf(buf, sizeof buf, "pid %d\n", (int)getpid());
	if (write_all(c, buf, (size_t)n))
		_exit(2);
	for (;;) {
		ssize_t r = read(c, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			printf("child %d: read: %s\n", (int)getpid(), strerror(errno));
			fflush(stdout);
		}
		if (r <= 0)
			break;
		if (write_all(c, buf, (size_t)r))
			_exit(3);
	}
	close(c);
	_exit(0);
}

static int per_connection(int conns)
{
	int l = listen_on(9000);
	printf("forkserve: one process per connection on 9000, %d connections\n", conns);
	fflush(stdout);
	for (int i = 0; i < conns; i++) {
		int c = accept(l, 0, 0);
		if (c < 0) {
			perror("forkserve: accept");
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(l);
			echo_child(c);
		}
		close(c);   /* the connection is the child's now */
		if (pid < 0)
			perror("forkserve: fork");
	}
	int status, bad = 0;
	for (int i = 0; i < conns; i++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	printf("served %d connections, %d children failed\n", conns, bad);
	return bad != 0;
}

/* A pre-forked worker: each connection is one line in, one line out, until end of file;
 * "quit" ends the worker. */
static int worker(int l)
{
	for (;;) {
		int c = accept(l, 0, 0);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			return 4;
		}
		FILE *in = fdopen(c, "r");
		char line[512], out[600];
		while (in && fgets(line, sizeof line, in)) {
			line[strcspn(line, "\n")] = 0;
			int n = snprintf(out, sizeof out, "worker %d: %s\n", (int)getpid(), line);
			write_all(c, out, (size_t)n);
			if (!strcmp(line, "quit"))
				return 0;
		}
		if (in)
			fclose(in);
	}
}

static int prefork(int workers)
{
	int l = listen_on(9000);
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(worker(l));
	}
	close(l);   /* the parent only watches its workers */
	printf("forkserve: %d workers accept on 9000\n", workers);
	fflush(stdout);
	int status, ok = 0;
	for (int i = 0; i < workers; i++)
		if (wait(&status) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
	printf("%d of %d workers ended well\n", ok, workers);
	return ok != workers;
}

static int read_line(int fd, char *line, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t r = read(fd, line + n, 1);
		if (r <= 0)
			return -1;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = 0;
	return 0;
}

/* One line in, "child PID LABEL: LINE" out, then close. */
static void echo_line(int c, const char *label)
{
	char line[200], out[300];
	if (c < 0 || read_line(c, line, sizeof line))
		return;
	int n = snprintf(out, sizeof out, "child %d %s: %s\n", (int)getpid(), label, line);
	write_all(c, out, (size_t)n);
	close(c);
}

/* A child's own connection out: blocking connect, one line each way. */
static int dial_blocking(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
		perror("forkserve: child connect");
		return 1;
	}
	struct sockaddr_in me;
	socklen_t len = sizeof me;
	getsockname(s, (struct sockaddr *)&me, &len);
	char line[200];
	int n = snprintf(line, sizeof line, "child %d dials from port %s\n", (int)getpid(),
	                 ntohs(me.sin_port) ? "nonzero" : "0");
	if (write_all(s, line, (size_t)n) || read_line(s, line, sizeof line))
		return 2;
	printf("child %d read: %s\n", (int)getpid(), line);
	close(s);
	return 0;
}

/* A non-blocking connect to a port nobody listens on: EINPROGRESS, then the error. */
static int dial_refused(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("child %d: non-blocking connect: %s\n", (int)getpid(),
	       r == 0 ? "connected" : errno == EINPROGRESS ? "in progress" : strerror(errno));
	struct pollfd p = { s, POLLOUT, 0 };
	poll(&p, 1, 10000);
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
	printf("child %d: then: %s\n", (int)getpid(), err ? strerror(err) : "connected");
	close(s);
	return 0;
}

/* A child's own listener: one connection, one line each way. */
static int listen_own(int port)
{
	int l = listen_on(port);
	printf("child %d listens on %d\n", (int)getpid(), port);
	fflush(stdout);
	int c = accept(l, 0, 0);
	char line[200], out[300];
	if (c < 0 || read_line(c, line, sizeof line))
		return 3;
	int n = snprintf(out, sizeof out, "child %d heard: %s\n", (int)getpid(), line);
	write_all(c, out, (size_t)n);
	close(c);
	close(l);
	return 0;
}

static int dial(const char *ip, int port)
{
	int (*steps[3])(const char *, int) = { dial_blocking, dial_refused, 0 };
	setvbuf(stdout, 0, _IONBF, 0);
	for (int i = 0; i < 3; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(steps[i] ? steps[i](ip, port + i) : listen_own(9001));
		int status = 0;
		waitpid(pid, &status, 0);
		printf("child %d exited with %d\n", (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return 0;
}

/* Send fd over sock with one byte (SCM_RIGHTS). */
static int send_fd(int sock, int fd)
{
	char byte = 'f';
	struct iovec v = { &byte, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char byte;
	struct iovec v = { &byte, 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int fd = -1;
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/*
 * "handoff": descriptors handed over with SCM_RIGHTS after the fork: pid 1
 * sends its child a listener made after the fork, and later a connection it
 * accepted itself; the child serves both.
 */
static int handoff(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		int l = recv_fd(sv[1]);
		printf("child %d: got a listener\n", (int)getpid());
		fflush(stdout);
		int c = accept(l, 0, 0);
		echo_line(c, "from the passed listener");
		int d = recv_fd(sv[1]);
		echo_line(d, "on a passed connection");
		_exit(0);
	}
	close(sv[1]);
	int l = listen_on(9000), l2 = listen_on(9001);
	send_fd(sv[0], l);
	close(l);
	printf("forkserve: handing over on 9000 and 9001\n");
	fflush(stdout);
	int c = accept(l2, 0, 0);
	send_fd(sv[0], c);
	close(c);
	int status;
	waitpid(pid, &status, 0);
	printf("child exited with %d\n", WEXITSTATUS(status));
	return 0;
}

/*
 * "inetd": as inetd runs a service, the child puts the connection on its
 * stdin and stdout and execs the program again ("stdio"), which answers one
 * line through them.
 */
static int inetd(void)
{
	int l = listen_on(9000);
	printf("forkserve: inetd on 9000\n");
	fflush(stdout);
	int c = accept(l, 0, 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(l);
		dup2(c, 0);
		dup2(c, 1);
		close(c);
		execl("/proc/self/exe", "forkserve", "stdio", (char *)0);
		_exit(127);
	}
	close(c);
	int status;
	waitpid(pid, &status, 0);
	printf("service exited with %d\n", WEXITSTATUS(status));
	return 0;
}

static int stdio_service(void)
{
	char line[200];
	if (!fgets(line, sizeof line, stdin))
		return 1;
	printf("exec'd pid %d read: %s", (int)getpid(), line);
	return 0;
}

/*
 * "shutwr": shutdown(SHUT_WR) acts on the socket, not on one descriptor: the
 * child's ends the connection's sending for the parent's copy too (the parent
 * still holds it open): the client reads end of file, the parent's write
 * fails with EPIPE, and both still read what the client sends.
 */
static int shut_write(void)
{
	int l = listen_on(9000), ready[2];
	printf("forkserve: shutwr on 9000\n");
	fflush(stdout);
	int c = accept(l, 0, 0);
	if (c < 0 || pipe(ready))
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		static const char hello[] = "hello from the child\n";
		if (write_all(c, hello, sizeof hello - 1) || shutdown(c, SHUT_WR))
			_exit(2);
		if (write(c, "x", 1) < 0)
			printf("child's write after its shutdown: %s\n", strerror(errno));
		fflush(stdout);
		if (write(ready[1], "s", 1) != 1)
			_exit(3);
		char line[64];
		if (read_line(c, line, sizeof line) == 0)
			printf("child read: %s\n", line);
		fflush(stdout);
		_exit(0);
	}
	char s;
	if (read(ready[0], &s, 1) != 1)
		return 1;
	if (write(c, "y", 1) < 0)
		printf("parent's write after the child's shutdown: %s\n", strerror(errno));
	fflush(stdout);
	int status;
	waitpid(pid, &status, 0);
	printf("child exited with %d; parent closes its copy\n", WEXITSTATUS(status));
	close(c);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "perconn"))
		return per_connection(atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "prefork"))
		return prefork(atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "inetd"))
		return inetd();
	if (argc == 2 && !strcmp(argv[1], "stdio"))
		return stdio_service();
	if (argc == 2 && !strcmp(argv[1], "handoff"))
		return handoff();
	if (argc == 2 && !strcmp(argv[1], "shutwr"))
		return shut_write();
	if (argc == 4 && !strcmp(argv[1], "dial"))
		return dial(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: forkserve perconn CONNECTIONS | prefork WORKERS | inetd | handoff | shutwr | "
	                "dial IP PORT\n");
	return 2;
}
