/* fdpass.c: descriptors passed over a socket pair (SCM_RIGHTS) within a process and to a forked child: a pipe's read end, a socket pair's end, one dropped by a plain read; plain POSIX C, the same output on Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Send one byte-tagged message with fd attached (fd < 0: none). */
static int send_fd(int sock, const char *tag, int fd)
{
	struct iovec v = { (void *)tag, strlen(tag) };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	if (fd >= 0) {
		m.msg_control = u.buf;
		m.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	return sendmsg(sock, &m, 0) < 0 ? -1 : 0;
}

/* Receive a message of up to len bytes into tag; the fd that came with it, or -1. */
static int recv_fd(int sock, char *tag, size_t len)
{
	struct iovec v = { tag, len - 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t n = recvmsg(sock, &m, 0);
	tag[n > 0 ? n : 0] = 0;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

static void read_all(const char *who, int fd)
{
	char buf[200];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	printf("%s read to the end: %s", who, buf);
}

/* In one process: a pipe's read end sent to ourselves. */
static void within_one_process(void)
{
	int sv[2], p[2];
	char tag[32];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pipe(p);
	send_fd(sv[0], "self", p[0]);
	close(p[0]);
	int got = recv_fd(sv[1], tag, sizeof tag);
	printf("one process: message %s with a descriptor: %s\n", tag, got >= 0 ? "yes" : "no");
	write(p[1], "through our own passed pipe\n", 28);
	close(p[1]);
	read_all("one process", got);
	close(got);
	close(sv[0]);
	close(sv[1]);
}

static int child(int sock)
{
	char tag[32];
	int fd = recv_fd(sock, tag, sizeof tag);
	printf("child: message %s with a descriptor: %s\n", tag, fd >= 0 ? "yes" : "no");
	read_all("child", fd);
	close(fd);
	fd = recv_fd(sock, tag, sizeof tag);
	printf("child: message %s with a descriptor: %s\n", tag, fd >= 0 ? "yes" : "no");
	write(fd, "the child writes through a passed socket\n", 41);
	close(fd);
	char plain[8] = { 0 };
	read(sock, plain, 4);   /* a plain read of a message with a descriptor: it is closed */
	printf("child: read() of message %s\n", plain);
	write(sock, "k", 1);
	return 0;
}

int main(void)
{
	setvbuf(stdout, 0, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	within_one_process();
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		_exit(child(sv[1]));
	}
	close(sv[1]);
	int p[2], q[2];
	pipe(p);
	send_fd(sv[0], "pipe", p[0]);
	close(p[0]);
	write(p[1], "through a pipe whose read end was passed\n", 41);
	close(p[1]);
	socketpair(AF_UNIX, SOCK_STREAM, 0, q);
	send_fd(sv[0], "pair", q[1]);
	close(q[1]);
	read_all("parent", q[0]);
	close(q[0]);
	int d[2];
	pipe(d);
	send_fd(sv[0], "drop", d[0]);
	close(d[0]);
	char k;
	read(sv[0], &k, 1);   /* the child has read it */
	errno = 0;
	ssize_t w = write(d[1], "x", 1);
	printf("write to a pipe whose passed read end was dropped: %s\n", w < 0 ? strerror(errno) : "written");
	int status;
	waitpid(pid, &status, 0);
	printf("child exited with %d\n", WEXITSTATUS(status));
	return 0;
}
