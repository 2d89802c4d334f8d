/* membudget.c: a capsule's processes share one memory budget (docs/PROCESSES.md, section 2): what a child may map depends on what its parent holds, and a fork whose copy would not fit fails; built with a 256 MiB arena. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024 * 1024UL)

/* Map (untouched) n MiB: say whether it worked. */
static void *take(const char *who, unsigned long n)
{
	void *p = mmap(0, n * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("%s: mmap %lu MiB: %s\n", who, n, p == MAP_FAILED ? strerror(errno) : "ok");
	return p == MAP_FAILED ? 0 : p;
}

int main(void)
{
	setvbuf(stdout, 0, _IONBF, 0);
	void *a = take("parent", 100);
	pid_t pid = fork();
	if (pid < 0) {
		printf("fork with 100 MiB mapped: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		take("child", 100);   /* its copy of the parent's 100, the parent's own 100: no room */
		void *b = take("child", 40);
		if (b)
			memset(b, 1, 4096);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("child exited with %d\n", WEXITSTATUS(status));
	void *c = take("parent, the child gone", 100);
	pid = fork();
	if (pid == 0)
		_exit(0);
	printf("fork with 200 MiB mapped: %s\n", pid < 0 ? strerror(errno) : "ok");
	if (pid > 0)
		waitpid(pid, &status, 0);
	munmap(c, 100 * MiB);
	pid = fork();
	if (pid == 0)
		_exit(take("second child", 40) ? 0 : 1);
	waitpid(pid, &status, 0);   /* its line first, then ours */
	printf("fork after unmapping 100 MiB: %s\n", pid < 0 ? strerror(errno) : "ok");
	printf("second child exited with %d\n", WEXITSTATUS(status));
	munmap(a, 100 * MiB);
	return 0;
}
