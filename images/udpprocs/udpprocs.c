/* udpprocs.c: UDP sockets in a forked child and shared across fork: a child's own client (boundaries, truncation, EAGAIN, connect's filter), also after an execve, a child's socket inherited by its own child, a child's server, a socket pid 1 shares with its child, a full receive queue, and a name looked up in a child; plain POSIX C, the same behaviour on Linux. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void die(const char *what)
{
	say("pid %d: %s: %s\n", (int)getpid(), what, strerror(errno));
	_exit(1);
}

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		say("bad address %s\n", ip);
		exit(2);
	}
	return a;
}

static int udp_socket(int flags)
{
	int s = socket(AF_INET, SOCK_DGRAM | flags, 0);
	if (s < 0)
		die("socket");
	return s;
}

/* A blocking UDP socket bound to port on every address. */
static int udp_bound(int port)
{
	int s = udp_socket(0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (bind(s, (struct sockaddr *)&any, sizeof any))
		die("bind");
	return s;
}

static int bound_port(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	if (getsockname(s, (struct sockaddr *)&a, &len))
		die("getsockname");
	return ntohs(a.sin_port);
}

static const char *who(const struct sockaddr_in *a)
{
	static char buf[64];
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
	snprintf(buf, sizeof buf, "%s:%d", ip, ntohs(a->sin_port));
	return buf;
}

/* Fork fn(arg) as a child. */
static pid_t start_child(void (*fn)(const char **), const char **arg)
{
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		fn(arg);
		_exit(0);
	}
	return c;
}

/* Wait for child c and say how it ended; its exit status. */
static int reap(pid_t c)
{
	int st;
	if (waitpid(c, &st, 0) != c)
		die("waitpid");
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	say("child %d exited with %d\n", (int)c, code);
	return code;
}

static int in_child(void (*fn)(const char **), const char **arg)
{
	return reap(start_child(fn, arg));
}

/*
 * client HOST PORT: the child's own socket against an echo server outside:
 * EAGAIN while empty, three datagrams back one by one (a short buffer
 * truncates, MSG_TRUNC), options, then connect's filter (the test sends
 * from another port first) and connect(AF_UNSPEC).
 */
static void client_child(const char **arg)
{
	int me = (int)getpid();
	struct sockaddr_in srv = addr_of(arg[0], atoi(arg[1])), from;
	socklen_t fl = sizeof from;
	int s = udp_socket(SOCK_NONBLOCK), one = 1, big = 1 << 20;
	char buf[4096];
	if (recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) < 0 && errno == EAGAIN)
		say("child %d: empty, O_NONBLOCK: EAGAIN\n", me);
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big) == 0 &&
	    setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) == 0 &&
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0)
		say("child %d: SO_RCVBUF, SO_BROADCAST, SO_REUSEADDR accepted\n", me);
	static char mid[1000], large[3000];
	memset(mid, 'm', sizeof mid);
	memset(large, 'L', sizeof large);
	if (sendto(s, "one", 3, 0, (struct sockaddr *)&srv, sizeof srv) != 3 ||
	    sendto(s, mid, sizeof mid, 0, (struct sockaddr *)&srv, sizeof srv) != (ssize_t)sizeof mid ||
	    sendto(s, large, sizeof large, 0, (struct sockaddr *)&srv, sizeof srv) != (ssize_t)sizeof large)
		die("sendto");
	say("child %d: sent from port %s\n", me, bound_port(s) ? "nonzero" : "0");
	struct pollfd p = { s, POLLIN, 0 };
	if (poll(&p, 1, 10000) != 1 || !(p.revents & POLLIN))
		die("poll");
	ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
	if (n < 0)
		die("recvfrom");
	say("child %d: got %zd bytes from %s: %.*s\n", me, n, who(&from), (int)n, buf);
	struct iovec v = { buf, 10 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	while ((n = recvmsg(s, &m, 0)) < 0 && errno == EAGAIN)
		poll(&p, 1, 10000);
	say("child %d: recvmsg into 10 bytes: %zd, %s, %.*s\n", me, n,
	    (m.msg_flags & MSG_TRUNC) ? "MSG_TRUNC" : "whole", (int)(n > 0 ? n : 0), buf);
	while ((n = recv(s, buf, 10, MSG_TRUNC)) < 0 && errno == EAGAIN)
		poll(&p, 1, 10000);
	say("child %d: recv(MSG_TRUNC) into 10 bytes says %zd\n", me, n);
	if (recv(s, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN)
		say("child %d: all read, MSG_DONTWAIT: EAGAIN\n", me);
	int t = udp_socket(0);
	struct timeval tv = { 0, 100000 }, got_tv;
	socklen_t tl = sizeof got_tv;
	if (setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
	    getsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &got_tv, &tl) || got_tv.tv_usec != 100000)
		die("SO_RCVTIMEO");
	if (recv(t, buf, sizeof buf, 0) < 0 && errno == EAGAIN)
		say("child %d: blocking, SO_RCVTIMEO 100 ms: EAGAIN\n", me);
	close(t);

	/* connect: only the server's datagrams come in now. */
	if (connect(s, (struct sockaddr *)&srv, sizeof srv))
		die("connect");
	struct sockaddr_in peer;
	socklen_t pl = sizeof peer;
	if (getpeername(s, (struct sockaddr *)&peer, &pl))
		die("getpeername");
	say("child %d: connected to %s, port %d\n", me, who(&peer), bound_port(s));
	if (send(s, "filter", 6, 0) != 6)
		die("send");
	while ((n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) < 0 && errno == EAGAIN)
		poll(&p, 1, 10000);
	say("child %d: connected, got %.*s from %s\n", me, (int)(n > 0 ? n : 0), buf, who(&from));
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	if (connect(s, &unspec, sizeof unspec))
		die("connect AF_UNSPEC");
	pl = sizeof peer;
	if (getpeername(s, (struct sockaddr *)&peer, &pl) < 0 && errno == ENOTCONN &&
	    send(s, "x", 1, 0) < 0 && errno == EDESTADDRREQ)
		say("child %d: dissolved: getpeername ENOTCONN, send EDESTADDRREQ\n", me);
	if (sendto(s, "open", 4, 0, (struct sockaddr *)&srv, sizeof srv) != 4)
		die("sendto");
	while ((n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) < 0 && errno == EAGAIN)
		poll(&p, 1, 10000);
	say("child %d: unconnected, got %.*s from another port: %s\n", me, (int)(n > 0 ? n : 0), buf,
	    from.sin_port != srv.sin_port ? "yes" : "no");
	close(s);
}

/*
 * server PORT: a child serves UDP on PORT (each datagram answered with
 * "child N: " and it, until "quit"), waiting in epoll; a second child's bind
 * of the same port fails, a bind to port 0 gets one, and binding that socket
 * again fails.
 */
static int bound_pipe[2];

static void server_child(const char **arg)
{
	int me = (int)getpid(), port = atoi(arg[0]);
	int s = udp_bound(port), ep = epoll_create1(0);
	struct sockaddr_in from;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev))
		die("epoll");
	say("child %d: serving udp %d\n", me, bound_port(s));
	if (bound_pipe[1] > 0 && write(bound_pipe[1], "b", 1) != 1)
		die("write");
	char buf[65536], out[65600];
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) != 1)
			continue;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		int k = snprintf(out, sizeof out, "child %d: ", me);
		memcpy(out + k, buf, (size_t)n);
		sendto(s, out, (size_t)k + (size_t)n, 0, (struct sockaddr *)&from, fl);
		if (n == 4 && !memcmp(buf, "quit", 4))
			break;
	}
	close(s);
}

static void bind_again_child(const char **arg)
{
	int me = (int)getpid(), s = udp_socket(0), t = udp_socket(0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(arg[0])) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		say("child %d: bind of a port in use: %s\n", me, errno == EADDRINUSE ? "EADDRINUSE" : strerror(errno));
	a.sin_port = 0;
	if (bind(t, (struct sockaddr *)&a, sizeof a) == 0)
		say("child %d: bind to port 0 gives port %s\n", me, bound_port(t) ? "nonzero" : "0");
	if (bind(t, (struct sockaddr *)&a, sizeof a) < 0 && errno == EINVAL)
		say("child %d: a second bind of that socket: EINVAL\n", me);
	close(s);
	close(t);
}

static int server(int port)
{
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	const char *arg[] = { ps };
	if (pipe(bound_pipe))
		die("pipe");
	pid_t c = start_child(server_child, arg);
	/* The second child starts once the first has bound the port. */
	int rc = 0;
	char b;
	if (read(bound_pipe[0], &b, 1) == 1)
		rc |= in_child(bind_again_child, arg);
	return reap(c) || rc;
}

/*
 * shared PORT HOST TPORT: pid 1's socket bound to PORT before the fork; both
 * processes say hello to HOST:TPORT through it, then answer every datagram
 * (waiting in select) with who read it, until each reads a "quit".
 */
static int answer_until_quit(int s, const char *me, const struct sockaddr_in *test)
{
	char buf[2048], out[2100];
	int n_answered = 0;
	int k = snprintf(out, sizeof out, "hello from %s", me);
	if (sendto(s, out, (size_t)k, 0, (const struct sockaddr *)test, sizeof *test) != k)
		die("sendto hello");
	for (;;) {
		fd_set r;
		FD_ZERO(&r);
		FD_SET(s, &r);
		if (select(s + 1, &r, 0, 0, 0) != 1)
			continue;
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;   /* the other process read it first */
		if (n == 4 && !memcmp(buf, "quit", 4))
			return n_answered;
		k = snprintf(out, sizeof out, "%s: %.*s", me, (int)n, buf);
		sendto(s, out, (size_t)k, 0, (struct sockaddr *)&from, fl);
		n_answered++;
	}
}

static int shared(int port, const char *host, int tport)
{
	int s = udp_bound(port);
	struct sockaddr_in test = addr_of(host, tport);
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		int n = answer_until_quit(s, "pid 2", &test);
		say("pid 2 answered %d\n", n);
		_exit(0);
	}
	int n = answer_until_quit(s, "pid 1", &test);
	int st;
	waitpid(c, &st, 0);
	say("pid 1 answered %d; child exited with %d\n", n, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/*
 * sink PORT: a child binds PORT and does not read it until a datagram comes
 * on PORT+1; then it takes what its socket kept (datagrams numbered by their
 * first 4 bytes) and answers how many, and whether each came after the last;
 * it ends at the next datagram on PORT+1.
 */
static void sink_child(const char **arg)
{
	int me = (int)getpid(), port = atoi(arg[0]);
	int s = udp_bound(port), go = udp_bound(port + 1);
	struct sockaddr_in from;
	say("child %d: sink on %d, go on %d\n", me, port, port + 1);
	char buf[65536];
	socklen_t fl = sizeof from;
	if (recvfrom(go, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) < 0)
		die("recvfrom");
	int kept = 0, in_order = 1;
	long last = -1;
	struct pollfd p = { s, POLLIN, 0 };
	while (poll(&p, 1, 1000) == 1) {   /* what is still on its way gets a second */
		ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 4)
			continue;
		unsigned seq;
		memcpy(&seq, buf, sizeof seq);
		in_order &= (long)seq > last;
		last = seq;
		kept++;
	}
	int k = snprintf(buf, sizeof buf, "kept %d, %s", kept, in_order ? "in order" : "out of order");
	sendto(go, buf, (size_t)k, 0, (struct sockaddr *)&from, fl);
	recv(go, buf, sizeof buf, 0);   /* ends at the next one (the test read the counters) */
}

/* One datagram to the connected peer and its echo back, said as who. */
static void talk(int s, const char *who)
{
	char msg[64], buf[64];
	int k = snprintf(msg, sizeof msg, "from %s %d", who, (int)getpid());
	if (send(s, msg, (size_t)k, 0) != k)
		die("send");
	ssize_t n = recv(s, buf, sizeof buf, 0);
	if (n < 0)
		die("recv");
	say("%s %d: got back %.*s\n", who, (int)getpid(), (int)n, buf);
}

/* family HOST PORT: a child's own connected socket, inherited by its child, which talks first. */
static void family_child(const char **arg)
{
	struct sockaddr_in srv = addr_of(arg[0], atoi(arg[1]));
	int s = udp_socket(0);
	if (connect(s, (struct sockaddr *)&srv, sizeof srv))
		die("connect");
	pid_t g = fork();
	if (g < 0)
		die("fork");
	if (g == 0) {
		talk(s, "grandchild");
		_exit(0);
	}
	reap(g);
	talk(s, "child");
	close(s);
}

/* exec-client HOST PORT: the same client in a child that execs the program first (a shell's way). */
static void exec_child(const char **arg)
{
	char *argv[] = { "udpprocs", "client-here", (char *)arg[0], (char *)arg[1], 0 };
	execv("/proc/self/exe", argv);
	die("execv");
}

/*
 * unshared: pid 1's TCP socket neither connected nor listening at the fork is
 * not shared (a capsule's child cannot use it; on Linux it could), while its
 * UDP socket is: the child says what each gives.
 */
static int tcp_fd, udp_fd;

static void unshared_child(const char **arg)
{
	(void)arg;
	int me = (int)getpid();
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	char c;
	ssize_t n = read(tcp_fd, &c, 1);
	say("child %d: tcp socket: read: %s\n", me, n < 0 ? strerror(errno) : "read");
	say("child %d: tcp socket: send: %s\n", me, send(tcp_fd, "x", 1, MSG_NOSIGNAL) < 0 ? strerror(errno) : "sent");
	say("child %d: udp socket: %s\n", me, getsockname(udp_fd, (struct sockaddr *)&a, &len) == 0 &&
	    ntohs(a.sin_port) == 7600 ? "bound to 7600" : strerror(errno));
}

/* dns NAME: a forked child looks NAME up (musl's resolver: UDP to the capsule's name server). */
static void dns_child(const char **arg)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int e = getaddrinfo(arg[0], "80", &hints, &res);
	if (e) {
		say("child %d: %s: %s\n", (int)getpid(), arg[0], gai_strerror(e));
		_exit(1);
	}
	say("child %d: %s is %s\n", (int)getpid(), arg[0],
	    who((struct sockaddr_in *)res->ai_addr));
	freeaddrinfo(res);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "client"))
		return in_child(client_child, (const char **)argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "exec-client"))
		return in_child(exec_child, (const char **)argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "client-here")) {
		client_child((const char **)argv + 2);
		return 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "family"))
		return in_child(family_child, (const char **)argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]));
	if (argc >= 5 && !strcmp(argv[1], "shared"))
		return shared(atoi(argv[2]), argv[3], atoi(argv[4]));
	if (argc >= 2 && !strcmp(argv[1], "unshared")) {
		tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
		udp_fd = udp_bound(7600);
		return in_child(unshared_child, 0);
	}
	if (argc >= 3 && !strcmp(argv[1], "sink"))
		return in_child(sink_child, (const char **)argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "serve-here")) {   /* pid 1 serves, no fork: for comparisons */
		server_child((const char **)argv + 2);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "dns"))
		return in_child(dns_child, (const char **)argv + 2);
	fprintf(stderr, "usage: udpprocs client HOST PORT | exec-client HOST PORT | family HOST PORT | server PORT | serve-here PORT | shared PORT HOST TPORT | "
	        "sink PORT | unshared | dns NAME\n");
	return 2;
}
