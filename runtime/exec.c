/* exec.c: execve in a capsule process (docs/PROCESSES.md, section 2b): the host starts the new program in this process's slot; descriptors, children and signal state go across in a hand-off the new program reads at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_ident.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_relay.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_sys.h"

static int count(char *const *v, size_t *bytes)
{
	int n = 0;
	for (; v && v[n]; n++)
		*bytes += strlen(v[n]) + 1;
	return n;
}

static char *put(char *at, const char *s)
{
	size_t l = strlen(s) + 1;
	memcpy(at, s, l);
	return at + l;
}

/* The old program's side: every descriptor without FD_CLOEXEC whose kind can cross. */
struct fd_saver {
	struct cap_exec_fd *out;
	int n, max;
	struct rt_file **files;    /* files[i]: the open file of index i, once each */
	int nfiles;
};

/* The open file's index in the hand-off, or -1 if it cannot cross (then it is closed). */
static int file_index(struct fd_saver *s, struct rt_file *f, struct cap_exec_fd *e)
{
	for (int i = 0; i < s->nfiles; i++)
		if (s->files[i] == f) {
			for (int k = 0; k < s->n; k++)
				if (s->out[k].file == (uint32_t)i) {
					uint32_t fd = (uint32_t)e->fd;
					*e = s->out[k];
					e->fd = (int32_t)fd;
					return i;
				}
		}
	int console = rt_console_number(f), dev = rt_dev_number(f), dir, reopen;
	void *shared;
	if (rt_hostfile_exec_save(f, e->path, sizeof e->path, &dir, &reopen, &shared) == 0) {
		e->kind = CAP_EXEC_FD_HOSTFILE;   /* closed below, opened again by name in the new program */
		e->a = (uint64_t)(uintptr_t)shared;
		e->b = (uint64_t)reopen;
		e->c = (uint64_t)dir;
	} else if (console >= 0) {
		e->kind = CAP_EXEC_FD_CONSOLE;
		e->a = (uint64_t)console;
	} else if (dev) {
		e->kind = CAP_EXEC_FD_DEV;
		e->a = (uint64_t)dev;
	} else if (f->ops->pass && f->ops->pass(f, e->path) == 0) {
		/*
		 * Pipe and FIFO ends, socket pair ends, TCP sockets several processes
		 * share, /tmp files (their open file description): described as
		 * SCM_RIGHTS passes them (fdpass.c).  Rings move into the shared window
		 * (if they were private) and count one more end, the new program's;
		 * closing ours below leaves the count as it was.  A full window
		 * refuses: then it is closed like any other.
		 */
		struct rt_passed_fd d;
		memcpy(&d, e->path, sizeof d);
		d.from_slot = rt_proc_slot();
		memcpy(e->path, &d, sizeof d);
		e->kind = CAP_EXEC_FD_PASSED;
	} else {
		return -1;   /* pid 1's own sockets, UDP, epoll sets, eventfds, timerfds, /tmp directories: closed */
	}
	e->flags = (uint32_t)f->flags;
	e->off = f->off;
	s->files[s->nfiles] = f;
	return s->nfiles++;
}

static void save_fd(int fd, struct rt_file *f, int cloexec, void *arg)
{
	struct fd_saver *s = arg;
	if (cloexec || s->n >= s->max)
		return;
	struct cap_exec_fd *e = &s->out[s->n];
	memset(e, 0, sizeof *e);
	e->fd = fd;
	int i = file_index(s, f, e);
	if (i < 0)
		return;
	e->file = (uint32_t)i;
	s->n++;
}

long rt_sys_execve(const char *path, char *const *argv, char *const *envp)
{
	if (!path)
		return -EFAULT;
	if (rt_proc_pid() == 1 && rt_relay_active()) {
		/*
		 * The stack, and the relay serving the sockets other processes share,
		 * live in pid 1's memory, which an exec replaces (docs/PROCESSES.md 2b).
		 */
		static int said;
		if (!said++)
			rt_console_write(2, "capsule: pid 1 cannot execve while it shares sockets with "
			                 "other processes (EBUSY)\n");
		return -EBUSY;
	}
	/* The host finds a program on a volume by its absolute path, as the capsule sees it. */
	char cwd[RT_PATH_MAX], abs_path[RT_PATH_MAX];
	if (rt_sys_getcwd(cwd, sizeof cwd) < 0)
		strcpy(cwd, "/");
	long bad = rt_path_normalize(cwd, path, abs_path);
	if (bad < 0)
		return bad;
	path = abs_path;
	size_t strings = strlen(path) + 1;
	int argc = count(argv, &strings), envc = count(envp, &strings);
	if (strings > CAP_EXEC_STRINGS_MAX)
		return -E2BIG;
	int maxfds = rt_fd_high_water();
	size_t off = (sizeof(struct cap_exec_req) + strings + 7) & ~(size_t)7;
	size_t len = off + sizeof(struct cap_exec_handoff) + (size_t)maxfds * sizeof(struct cap_exec_fd) +
	             RT_PROC_MAX_CHILDREN * sizeof(struct cap_exec_child);
	unsigned char *blob = calloc(1, len);
	struct rt_file **files = calloc((size_t)maxfds + 1, sizeof *files);
	if (!blob || !files) {
		free(blob);
		free(files);
		return -ENOMEM;
	}
	struct cap_exec_req *req = (struct cap_exec_req *)blob;
	*req = (struct cap_exec_req){ CAP_EXEC_MAGIC, (uint32_t)argc, (uint32_t)envc, (uint32_t)strings,
	                              (uint32_t)off, 0, (uint32_t)rt_sys_ident(SYS_getuid, 0, 0, 0),
	                              (uint32_t)rt_sys_ident(SYS_getgid, 0, 0, 0) };
	char *at = put((char *)(req + 1), path);
	for (int i = 0; i < argc; i++)
		at = put(at, argv[i]);
	for (int i = 0; i < envc; i++)
		at = put(at, envp[i]);
	long r = rt_proc_exec_check(blob, (uint32_t)len);
	if (r < 0) {
		free(blob);
		free(files);
		return r;
	}
	/* Past the point of no return: the host holds every record for us until the new program. */
	struct cap_exec_handoff *h = (struct cap_exec_handoff *)(blob + off);
	h->magic = CAP_EXEC_HANDOFF_MAGIC;
	h->umask = 022;
	rt_signal_exec_save(&h->sig_ignored, &h->sig_pending);
	h->sig_blocked = rt_self()->sigmask;
	if (rt_sys_getcwd(h->cwd, sizeof h->cwd) < 0)
		strcpy(h->cwd, "/");
	struct cap_exec_fd *fds = (struct cap_exec_fd *)(h + 1);
	struct fd_saver s = { fds, 0, maxfds, files, 0 };
	rt_fd_each_fd(save_fd, &s);
	h->nfds = (uint32_t)s.n;
	h->nchildren = (uint32_t)rt_proc_exec_children((struct cap_exec_child *)(fds + s.n),
	                                                RT_PROC_MAX_CHILDREN);
	req->handoff_len = (uint32_t)(sizeof *h + h->nfds * sizeof *fds +
	                              h->nchildren * sizeof(struct cap_exec_child));
	/* Each end that crossed was counted once more above: closing ours leaves the new program's. */
	rt_fd_close_all();
	rt_shared_exiting();
	rt_proc_exec_go(blob, (uint32_t)(off + req->handoff_len));
}

/* ---- the new program's side, before its main ---- */

static struct rt_file *adopt(const struct cap_exec_fd *e)
{
	int flags = (int)e->flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
	if (e->kind == CAP_EXEC_FD_CONSOLE && e->a < 3)
		return rt_console_file((int)e->a);
	if (e->kind == CAP_EXEC_FD_DEV && rt_dev_ops_of((int)e->a)) {
		struct rt_file *f = rt_file_new(rt_dev_ops_of((int)e->a), flags);
		if (f)
			f->off = e->off;
		return f;
	}
	if (e->kind == CAP_EXEC_FD_HOSTFILE) {
		struct rt_file *f = rt_hostfile_exec_adopt(e->path, sizeof e->path, (int)(e->c & 1),
		                                           (int)e->b, flags, (void *)(uintptr_t)e->a);
		if (f)
			f->off = e->off;
		return f;
	}
	if (e->kind != CAP_EXEC_FD_PASSED) {
		/* kinds 2-4: pipe and pair ends as a runtime before December 2026 described them */
		char msg[160];
		snprintf(msg, sizeof msg, "capsule: exec: descriptor %d came as kind %u, which this "
		         "program's runtime does not take (built with another version?): closed\n",
		         (int)e->fd, (unsigned)e->kind);
		rt_console_write(2, msg);
		return 0;
	}
	struct rt_passed_fd d;
	memcpy(&d, e->path, sizeof d);
	if ((d.in && !rt_shared_contains((uintptr_t)d.in)) || (d.out && !rt_shared_contains((uintptr_t)d.out)))
		return 0;   /* not rings of this capsule's window: nothing to take over */
	return rt_fdpass_receive(&d);
}

void rt_exec_adopt(void)
{
	struct cap_control *c = RT_CONTROL;
	const struct cap_exec_handoff *h = (const struct cap_exec_handoff *)(uintptr_t)c->exec_handoff;
	if (!h || c->exec_handoff_len < sizeof *h || h->magic != CAP_EXEC_HANDOFF_MAGIC ||
	    sizeof *h + (uint64_t)h->nfds * sizeof(struct cap_exec_fd) +
	    (uint64_t)h->nchildren * sizeof(struct cap_exec_child) > c->exec_handoff_len)
		return;
	const struct cap_exec_fd *fds = (const struct cap_exec_fd *)(h + 1);
	rt_proc_exec_start((const struct cap_exec_child *)(fds + h->nfds), (int)h->nchildren);
	rt_signal_exec_restore(h->sig_ignored, h->sig_pending, h->sig_blocked);
	char cwd[sizeof h->cwd];
	memcpy(cwd, h->cwd, sizeof cwd);
	cwd[sizeof cwd - 1] = 0;
	rt_path_set_start_dir(cwd);
	rt_fd_exec_reset();
	/* One file per index (dup'ed descriptors share it). */
	int n = (int)h->nfds;
	struct rt_file **files = calloc((size_t)n + 1, sizeof *files);
	for (int k = 0; files && k < n; k++) {
		const struct cap_exec_fd *e = &fds[k];
		if (e->file >= (uint32_t)n)
			continue;
		struct rt_file *f = files[e->file];
		if (f)
			f->refs++;
		else
			f = files[e->file] = adopt(e);
		if (f && rt_fd_install_at(f, e->fd, 0) < 0)
			rt_file_unref(f);
	}
	free(files);
}
