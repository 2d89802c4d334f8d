/* fileoff.c: a file's offset shared by the processes that inherited its descriptor (a volume file in a capsule): a child's write or read moves the parent's offset, two children write one after the other through one descriptor as `{ a; b; } > out` does, lseek seen across, an exec'd program goes on from it; the output equals the same program's on Linux. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[512];

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		perror("write");
}

static void reap(pid_t pid)
{
	int st;
	waitpid(pid, &st, 0);
}

static pid_t fork_flushed(void)
{
	fflush(stdout);
	return fork();
}

static void show(int fd, const char *what)
{
	char buf[256] = { 0 };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = '|';
	printf("%s: offset %ld, the file: %s\n", what, (long)lseek(fd, 0, SEEK_CUR), n > 0 ? buf : "");
}

/* A child writes between two writes of ours, through the descriptor it inherited. */
static void write_between(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	put(fd, "A\n");
	pid_t c = fork_flushed();
	if (c == 0) {
		put(fd, "B\n");
		_exit(0);
	}
	reap(c);
	put(fd, "C\n");
	show(fd, "parent, child, parent");
	close(fd);
}

/* `{ a; b; } > out`: two children in turn, each writing lines through stdio on one descriptor. */
static void two_children_in_turn(void)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int k = 0; k < 2; k++) {
		pid_t c = fork_flushed();
		if (c == 0) {
			FILE *f = fdopen(fd, "w");
			for (int i = 1; i <= 500; i++)
				fprintf(f, "child %d line %d\n", k + 1, i);
			fclose(f);
			_exit(0);
		}
		reap(c);
	}
	put(fd, "the parent's last line\n");
	struct stat st;
	fstat(fd, &st);
	printf("two children in turn, then the parent: offset %ld, size %ld\n",
	       (long)lseek(fd, 0, SEEK_CUR), (long)st.st_size);
	close(fd);
	FILE *f = fopen(path, "r");
	char line[64], first[64] = "", last[64] = "";
	int lines = 0, in_order = 1, prev_k = 1, prev_i = 0;
	while (f && fgets(line, sizeof line, f)) {
		int k, i;
		if (!lines++)
			snprintf(first, sizeof first, "%s", line);
		snprintf(last, sizeof last, "%s", line);
		if (sscanf(line, "child %d line %d", &k, &i) == 2) {
			in_order &= (k == prev_k && i == prev_i + 1) || (k == prev_k + 1 && i == 1);
			prev_k = k;
			prev_i = i;
		}
	}
	if (f)
		fclose(f);
	printf("%d lines, in order: %s, first: %slast: %s", lines, in_order ? "yes" : "no", first, last);
}

/* A child reads and seeks: the parent goes on from where the child left the offset. */
static void read_and_seek(void)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	put(fd, "0123456789");
	lseek(fd, 0, SEEK_SET);
	pid_t c = fork_flushed();
	if (c == 0) {
		char b[3];
		_exit(read(fd, b, 3) == 3 ? 0 : 1);
	}
	reap(c);
	char buf[16] = { 0 };
	ssize_t n = read(fd, buf, 4);
	printf("after the child read 3 bytes, the parent reads %zd: %s\n", n, buf);
	c = fork_flushed();
	if (c == 0)
		_exit(lseek(fd, 1, SEEK_SET) == 1 ? 0 : 1);
	reap(c);
	printf("after the child's lseek to 1, the parent is at %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	close(fd);
}

/* An exec'd child (this program again) appends through the descriptor: the offset goes on. */
static void across_exec(const char *self)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	put(fd, "before\n");
	pid_t c = fork_flushed();
	if (c == 0) {
		dup2(fd, 1);
		execl(self, "fileoff", "child-writes", (char *)0);
		_exit(127);
	}
	reap(c);
	put(fd, "after\n");
	show(fd, "a child exec'd in between");
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "child-writes")) {
		printf("from the exec'd child\n");
		return 0;
	}
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	snprintf(path, sizeof path, "%s/fileoff.%d", dir, (int)getpid());   /* never printed */
	write_between();
	two_children_in_turn();
	read_and_seek();
	across_exec(argc > 2 ? argv[2] : "/proc/self/exe");
	printf("unlink: %d\n", unlink(path));
	return 0;
}
