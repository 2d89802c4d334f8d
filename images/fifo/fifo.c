/* fifo.c: named pipes (mkfifo) between a process and its child: opens that wait for the other side, O_NONBLOCK's ENXIO, bytes and end of file, stat, unlink; and a blocked pipe read a signal interrupts (EINTR), or not (SA_RESTART); plain POSIX C, the same output on Linux. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

/*
 * A read of a pipe a child writes, blocked when the child's SIGUSR1 comes:
 * without SA_RESTART it fails with EINTR, with it the read goes on and gets
 * the byte the child writes after the signal.
 */
static void read_through_a_signal(int restart)
{
	int data[2], ready[2];
	pipe(data);
	pipe(ready);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGUSR1, &sa, 0);
	handled = 0;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		read(ready[0], &c, 1);   /* the parent is about to block in its read */
		usleep(100000);
		kill(getppid(), SIGUSR1);
		usleep(100000);
		write(data[1], "x", 1);
		_exit(0);
	}
	write(ready[1], "r", 1);
	char c;
	errno = 0;
	ssize_t n = read(data[0], &c, 1);
	printf("%s: read %zd (%s), handler ran %d\n", restart ? "SA_RESTART" : "no SA_RESTART", n,
	       n < 0 ? strerror(errno) : "a byte", (int)handled);
	waitpid(pid, 0, 0);
	close(data[0]);
	close(data[1]);
	close(ready[0]);
	close(ready[1]);
}

int main(void)
{
	char path[64];
	setvbuf(stdout, 0, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof path, "/tmp/fifo-%d", (int)getpid());
	printf("mkfifo: %d\n", mkfifo(path, 0600));
	printf("mkfifo again: %s\n", mkfifo(path, 0600) ? strerror(errno) : "made");
	struct stat st;
	stat(path, &st);
	printf("a FIFO: %s, mode %o\n", S_ISFIFO(st.st_mode) ? "yes" : "no", (unsigned)(st.st_mode & 0777));
	int w = open(path, O_WRONLY | O_NONBLOCK);
	printf("open for writing, no reader, O_NONBLOCK: %s\n", w < 0 ? strerror(errno) : "opened");
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY);   /* waits for the parent's open */
		for (int i = 0; i < 1000; i++)
			dprintf(fd, "line %04d from the child\n", i);
		close(fd);
		_exit(0);
	}
	int fd = open(path, O_RDONLY);   /* waits for the child's open */
	char buf[4096];
	long total = 0, lines = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		total += n;
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	}
	printf("read %ld bytes, %ld lines, then end of file: %s\n", total, lines, n == 0 ? "yes" : "no");
	close(fd);
	int status;
	waitpid(pid, &status, 0);
	printf("child exited with %d\n", WEXITSTATUS(status));
	fd = open(path, O_RDONLY | O_NONBLOCK);
	printf("open for reading, O_NONBLOCK, no writer: %s\n", fd < 0 ? strerror(errno) : "opened");
	printf("read with no writer: %zd\n", fd < 0 ? (ssize_t)-2 : read(fd, buf, sizeof buf));
	w = open(path, O_WRONLY | O_NONBLOCK);
	printf("open for writing with a reader, O_NONBLOCK: %s\n", w < 0 ? strerror(errno) : "opened");
	printf("write: %zd\n", write(w, "hi\n", 3));
	printf("read: %zd\n", read(fd, buf, sizeof buf));
	close(w);
	close(fd);
	printf("unlink: %d\n", unlink(path));
	printf("stat after unlink: %s\n", stat(path, &st) ? strerror(errno) : "found");
	read_through_a_signal(0);
	read_through_a_signal(1);
	return 0;
}
