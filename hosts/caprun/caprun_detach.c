/* caprun_detach.c: caprun -d: run in the background with the console in RUN_DIR/NAME.log (consolelog.h); the caller returns once the capsule runs. */
#include "hosts/caprun/caprun_detach.h"
#include "hosts/caprun/consolelog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_FAILED 125   /* caprun.h's EXIT_FAILURE_SETUP */

/* The background caprun's end of the pipe to the waiting caller: "L NAME\n" once the console
 * is in the log, "R\n" once the capsule runs; -1 without -d. */
static int notify_fd = -1;

static void say(const char *s)
{
	if (notify_fd >= 0) {
		ssize_t w = write(notify_fd, s, strlen(s));   /* the caller gone: nothing to tell */
		(void)w;
	}
}

void caprun_detach_start(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC)) {
		fprintf(stderr, "caprun: -d: pipe: %s\n", strerror(errno));
		exit(EXIT_FAILED);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "caprun: -d: fork: %s\n", strerror(errno));
		exit(EXIT_FAILED);
	}
	if (pid == 0) {
		close(p[0]);
		notify_fd = p[1];
		setsid();   /* the terminal's ^C and hangup are no longer ours */
		return;
	}
	close(p[1]);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	char buf[512], name[256] = "";
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0 ||
	                              (r < 0 && errno == EINTR)))
		n += r > 0 ? (size_t)r : 0;
	buf[n] = 0;
	sscanf(buf, "L %255s", name);
	if (strstr(buf, "R\n")) {
		printf("%s\n", name);
		exit(fflush(stdout) ? EXIT_FAILED : 0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (name[0])
		fprintf(stderr, "caprun: capsule %s ended before it ran (capctl logs %s)\n", name, name);
	exit(WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_FAILED);
}

int caprun_detach_console(const char *name, size_t log_size)
{
	if (notify_fd < 0)
		return 0;
	if (consolelog_start(name, log_size))
		return -1;
	char line[300];
	snprintf(line, sizeof line, "L %s\n", name);
	say(line);
	return 0;
}

void caprun_detach_ready(void)
{
	say("R\n");
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
