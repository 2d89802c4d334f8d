/* lifecycle.c: a plain POSIX app for lifecycle tests: exit codes, unsupported calls, serving until killed, a console to fill, computing without end, last words before an exit. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ptrace.h>
#include <unistd.h>

/* "exit N": print a line, exit with status N. */
static int do_exit(int code)
{
	printf("lifecycle: exiting with %d\n", code);
	fflush(stdout);
	return code;
}

/* "unsupported": ptrace twice; a capsule refuses with ENOSYS and says so once. */
static int do_unsupported(void)
{
	for (int i = 0; i < 2; i++) {
		long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
		printf("lifecycle: ptrace returned %ld, errno %s\n", r, r < 0 ? strerror(errno) : "-");
	}
	fflush(stdout);
	return 0;
}

static int listen_9200(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9200) };
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0) {
		perror("lifecycle: listen");
		return -1;
	}
	return s;
}

/* Answer "alive\n" to each connection on s, forever. */
static _Noreturn void serve_on(int s)
{
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (write(c, "alive\n", 6) != 6)
			perror("lifecycle: write");
		close(c);
	}
}

/* "serve": accept on TCP 9200 forever, answering "alive\n" to each connection. */
static int do_serve(void)
{
	int s = listen_9200();
	if (s < 0)
		return 1;
	printf("lifecycle: serving on 9200\n");
	fflush(stdout);
	serve_on(s);
}

/* "chatter N": at the first connection on 9200, N numbered lines on stdout, then "done\n"
 * to that connection; then serve.  (A console larger than caprun -d's log bound.) */
static int do_chatter(unsigned long n)
{
	int s = listen_9200();
	if (s < 0)
		return 1;
	printf("lifecycle: chatter waits on 9200\n");
	fflush(stdout);
	int c;
	while ((c = accept(s, NULL, NULL)) < 0)
		;
	for (unsigned long i = 1; i <= n; i++)
		printf("lifecycle: line %07lu of %lu\n", i, n);
	printf("lifecycle: chatter done\n");
	fflush(stdout);
	if (write(c, "done\n", 5) != 5)
		perror("lifecycle: write");
	close(c);
	serve_on(s);
}

/* "spin": serve until the first connection, answer it "spinning\n", then compute forever
 * without a system call (so the capsule never waits on its host again). */
static int do_spin(void)
{
	int s = listen_9200();
	if (s < 0)
		return 1;
	printf("lifecycle: spins at the first connection on 9200\n");
	fflush(stdout);
	int c;
	while ((c = accept(s, NULL, NULL)) < 0)
		;
	if (write(c, "spinning\n", 9) != 9)
		perror("lifecycle: write");
	close(c);
	for (volatile unsigned long n = 0;; n++)
		;
}

/* "lastword": answer the first connection on 9200 "last words\n", close it and exit 7 at once
 * (what the capsule sent just before its end must still reach the client). */
static int do_lastword(void)
{
	int s = listen_9200();
	if (s < 0)
		return 1;
	printf("lifecycle: last words on 9200\n");
	fflush(stdout);
	int c;
	while ((c = accept(s, NULL, NULL)) < 0)
		;
	if (write(c, "last words\n", 11) != 11)
		perror("lifecycle: write");
	close(c);
	return 7;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "exit") == 0)
		return do_exit(atoi(argv[2]));
	if (argc >= 2 && strcmp(argv[1], "unsupported") == 0)
		return do_unsupported();
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return do_serve();
	if (argc >= 2 && strcmp(argv[1], "spin") == 0)
		return do_spin();
	if (argc >= 2 && strcmp(argv[1], "lastword") == 0)
		return do_lastword();
	if (argc >= 3 && strcmp(argv[1], "chatter") == 0)
		return do_chatter(strtoul(argv[2], NULL, 10));
	fprintf(stderr, "usage: lifecycle exit N | unsupported | serve | chatter N | spin | lastword\n");
	return 64;
}
