/* procs_spawn.c: starting caploader: clone, the loader's descriptors at their numbers, exec; without glibc's per-signal loop. */
#include "hosts/caprun/procs.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the child needs between clone and exec: read from, and its error written to,
 * caprun's own memory (CLONE_VM). */
struct spawn_plan {
	const char *path;
	char *argv[3];
	int from[6], to[6], n;   /* channel, memfd, image, filter, root memfd, TUN */
	int err;   /* the child's errno, when it failed before or in execve */
};

/*
 * The child, on a stack in caprun's memory: only system calls.  No signal
 * reset: the loader sets every disposition an exec kept (the ignored ones)
 * itself, and caprun installs no handler that could run here.  Not
 * instrumented: the sanitizer build's shadow of that stack is caprun's.
 */
__attribute__((no_sanitize("address", "undefined"))) static int spawn_child(void *arg)
{
	struct spawn_plan *p = arg;
	sigset_t none;
	if (setsid() < 0)   /* own session: ^C reaches caprun only; console reads never get SIGTTIN */
		goto fail;
	for (int i = 0; i < p->n; i++)
		if (dup2(p->from[i], p->to[i]) < 0)
			goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	char *envp[] = { NULL };
	execve(p->path, p->argv, envp);
fail:
	p->err = errno;
	_exit(127);
}

/*
 * clone and execve as posix_spawn does, without its child's loop over every
 * signal: glibc's asks the disposition of each one blocked in caprun (all of
 * them while it spawns) and sets it again, 128 system calls at every start,
 * about 1 us each here (docs/STARTUP.md section 15).  The child runs on this
 * frame's stack, warm already, while caprun waits for its exec (CLONE_VFORK).
 */
int procs_spawn_loader(const char *loader, int chan, int memfd, int img_fd, int filter_fd,
                       int root_memfd, int tun_fd, int held, pid_t *pid, char *err, size_t errlen)
{
	struct spawn_plan p = { .path = loader,
	                        .argv = { "caploader", held ? CAP_LOADER_HELD_ARG : NULL, NULL } };
	const int fds[][2] = { { chan, CAP_FD_CHANNEL }, { memfd, CAP_FD_MEMFD },
	                       { img_fd, CAP_FD_IMAGE }, { filter_fd, CAP_FD_FILTER },
	                       { root_memfd, CAP_FD_ROOTMEM }, { tun_fd, CAP_FD_TUN } };
	_Static_assert(sizeof fds / sizeof fds[0] == sizeof p.from / sizeof p.from[0],
	               "a slot for each of the loader's descriptors");
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
		if (fds[i][0] < 0)
			continue;
		if (fds[i][0] <= CAP_FD_TUN) {   /* a dup2 before its own could overwrite it */
			snprintf(err, errlen, "spawning %s: descriptor %d is one of the loader's own",
			         loader, fds[i][0]);
			return -1;
		}
		p.from[p.n] = fds[i][0];
		p.to[p.n++] = fds[i][1];
	}
	_Alignas(16) unsigned char stack[16384];
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t child = clone(spawn_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &p);
	int clone_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (child < 0) {
		snprintf(err, errlen, "spawning %s: %s", loader, strerror(clone_errno));
		return -1;
	}
	if (p.err) {   /* it failed before or in its exec, and exited: reap it */
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		snprintf(err, errlen, "spawning %s: %s", loader, strerror(p.err));
		return -1;
	}
	*pid = child;
	return 0;
}
