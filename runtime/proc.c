/* proc.c: processes of a capsule (docs/PROCESSES.md): fork as a copy the host makes and resumes, getpid/getppid, wait4/waitid and SIGCHLD, a child's exit. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_host.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

#define MAX_CHILDREN 256
#define FORK_STACK (96 * 1024)        /* a resuming loader needs 64 KiB below the saved rsp */
#define STASH_SIZE (512 * 1024)       /* records that arrive while the host copies us */

/* Who we are: pid 1 and parent 0 unless the host said otherwise at a fork. */
static int self_pid = 1, parent_pid = 0;
static unsigned self_slot;

enum { CHILD_FREE, CHILD_LIVE, CHILD_ZOMBIE };
static struct { int pid, state, status; } children[MAX_CHILDREN];
static struct rt_waitq child_waitq;
struct rt_waitq rt_proc_waitq;

static _Alignas(16) unsigned char fork_stack[FORK_STACK];
/*
 * While the host copies our memory we may write only what the child never
 * reads: the fork stack below the saved rsp, and these.  Records that
 * arrive meanwhile wait here, each a uint32_t length and the record.
 */
static unsigned char fork_rx[CAP_CHAN_MAX];
static unsigned char stash[STASH_SIZE];
static size_t stash_len;
static unsigned long stash_dropped;

int rt_proc_pid(void)
{
	return self_pid;
}

int rt_proc_ppid(void)
{
	return parent_pid;
}

unsigned rt_proc_slot(void)
{
	return self_slot;
}

static void send_record(int type, const void *payload, size_t len)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, 0 };
	struct rt_iovec iov[2] = { { &h, sizeof h }, { (void *)payload, len } };
	rt_host_channel_send(iov, len ? 2 : 1);
}

void rt_proc_wake(uint64_t mask)
{
	mask &= ~(1ULL << self_slot);
	if (!mask)
		return;
	struct cap_proc_wake w = { mask };
	send_record(CAP_MSG_WAKE, &w, sizeof w);
}

/* Wait for the host's CAP_MSG_FORKED; everything else is kept for later. */
static long await_forked(void)
{
	stash_len = 0;
	for (;;) {
		int cin = 0, cout = 0, con = 0, hup = 0;
		long r = rt_host_wait(0, 0, -1, &cin, &cout, &con, &hup, 0);
		if (r < 0 && r != -EINTR)
			rt_host_gone(0);
		while (cin || hup) {
			long n = rt_host_read(CAP_FD_CHANNEL, fork_rx, sizeof fork_rx);
			if (n == -EAGAIN || n == -EINTR)
				break;
			if (n <= 0)
				rt_host_gone(0);
			if (n >= (long)(sizeof(struct cap_chan_hdr) + sizeof(struct cap_proc_forked)) &&
			    fork_rx[0] == CAP_MSG_FORKED) {
				struct cap_proc_forked f;
				memcpy(&f, fork_rx + sizeof(struct cap_chan_hdr), sizeof f);
				return f.result;
			}
			uint32_t len = (uint32_t)n;
			if (stash_len + sizeof len + len > sizeof stash) {
				stash_dropped++;   /* a packet: TCP sends it again; nothing else comes this fast */
				continue;
			}
			memcpy(stash + stash_len, &len, sizeof len);
			memcpy(stash + stash_len + sizeof len, fork_rx, len);
			stash_len += sizeof len + len;
		}
	}
}

static void fork_file(struct rt_file *f, void *undo)
{
	if (f->ops->fork)
		f->ops->fork(f, undo != 0);
}

/* ---- sockets in a process other than pid 1: the stack is not here (section 4) ---- */

static void elsewhere_say(void)
{
	static int said;
	if (said++)
		return;
	char msg[128] = "capsule: process ";
	size_t l = strlen(msg);
	int pid = self_pid, digits = 1;
	for (int p = pid; p >= 10; p /= 10)
		digits *= 10;
	for (; digits; digits /= 10)
		msg[l++] = (char)('0' + pid / digits % 10);
	memcpy(msg + l, ": sockets in processes other than pid 1 are not supported yet\n", 63);
	rt_console_write(2, msg);
}

static long elsewhere_rw(struct rt_file *f, const struct rt_iovec *iov, int iovcnt, int64_t pos)
{
	(void)f; (void)iov; (void)iovcnt; (void)pos;
	elsewhere_say();
	return -EOPNOTSUPP;
}

static int elsewhere_poll(struct rt_file *f, int events)
{
	(void)f; (void)events;
	return POLLERR;
}

static void elsewhere_fstat(struct rt_file *f, struct stat *st)
{
	(void)f;
	st->st_mode = S_IFSOCK | 0777;
}

/* Closing it must not touch the copy of the stack in this process: nothing to release. */
static const struct rt_file_ops elsewhere_ops = {
	.read = elsewhere_rw, .write = elsewhere_rw, .poll = elsewhere_poll, .fstat = elsewhere_fstat,
};

static void socket_elsewhere(struct rt_file *f, void *arg)
{
	(void)arg;
	if (f->ops->sock)
		f->ops = &elsewhere_ops;
}

long rt_proc_socket_refused(void)
{
	elsewhere_say();
	return -EAFNOSUPPORT;
}

/* The child, first thing: it is a new process that knows only the forking thread. */
static void child_start(uint64_t fs)
{
	struct cap_control *c = RT_CONTROL;
	rt_sched_resumed(fs);
	self_pid = (int)c->proc_pid;
	parent_pid = (int)c->proc_ppid;
	self_slot = c->proc_slot;
	c->exit_signal = 0;
	memset(children, 0, sizeof children);
	rt_waitq_init(&child_waitq);
	rt_waitq_init(&rt_proc_waitq);
	rt_sched_forked();
	rt_signal_forked();
	rt_ready_hold = 0;   /* file answers awaited by threads that stayed behind */
	rt_console_watchers = 0;
	rt_fd_each_file(socket_elsewhere, 0);
}

struct fork_call {
	uint64_t fs;
	long result;
};

static void fork_on_stack(void *arg)
{
	struct fork_call *call = arg;
	struct cap_control *c = RT_CONTROL;
	/* The loader of the copy publishes its own vDSO; ours is not the child's. */
	uint64_t vdso = c->vdso_clock_gettime;
	c->vdso_clock_gettime = 0;
	if (rt_ctx_save(&c->resume_ctx, call->fs)) {
		child_start(c->resume_ctx.fs_base);
		call->result = 0;
		return;
	}
	send_record(CAP_MSG_FORK, 0, 0);
	call->result = await_forked();
	c->vdso_clock_gettime = vdso;
	/* What arrived meanwhile, as if it had just arrived (packets may run the stack's input). */
	rt_draining = 1;
	for (size_t at = 0; at < stash_len;) {
		uint32_t len;
		memcpy(&len, stash + at, sizeof len);
		rt_channel_record(stash + at + sizeof len, len);
		at += sizeof len + len;
	}
	rt_draining = 0;
	stash_len = 0;
}

long rt_sys_fork(void)
{
	int slot = -1;
	for (int i = 0; i < MAX_CHILDREN && slot < 0; i++)
		if (children[i].state == CHILD_FREE)
			slot = i;
	if (slot < 0)
		return -EAGAIN;
	rt_fd_each_file(fork_file, 0);   /* the child's copies of shared files count before it runs */
	struct fork_call call = { rt_self()->fs, -EAGAIN };
	rt_run_on_stack(fork_on_stack, &call, fork_stack + sizeof fork_stack);
	if (call.result < 0)
		rt_fd_each_file(fork_file, (void *)1);
	if (call.result > 0) {
		children[slot].pid = (int)call.result;
		children[slot].state = CHILD_LIVE;
	}
	rt_io_changed();   /* stashed records may have made files ready */
	return call.result;
}

/* Does the child table entry i answer a wait for pid (-1 any, > 0 that one, else any: no groups)? */
static int matches(int i, int pid)
{
	return children[i].state != CHILD_FREE && (pid <= 0 && pid != INT32_MIN ? 1 : children[i].pid == pid);
}

/* A zombie for pid: its index, -ECHILD if no child matches, -EAGAIN if they all live. */
static int find_zombie(int pid)
{
	int any = 0;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (!matches(i, pid))
			continue;
		any = 1;
		if (children[i].state == CHILD_ZOMBIE)
			return i;
	}
	return any ? -EAGAIN : -ECHILD;
}

/* Wait for a zombie matching pid: its index or -errno (ECHILD, EAGAIN with nohang). */
static int wait_zombie(int pid, int nohang)
{
	for (;;) {
		int i = find_zombie(pid);
		if (i != -EAGAIN || nohang)
			return i;
		if (rt_signal_deliver_unblocked())
			return -EINTR;
		rt_wait(&child_waitq, 0, "wait");
	}
}

long rt_sys_wait4(int pid, int *status, int options, void *rusage)
{
	if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD))
		return -EINVAL;
	int i = wait_zombie(pid, options & WNOHANG);
	if (i == -EAGAIN)
		return 0;
	if (i < 0)
		return i;
	int got = children[i].pid;
	if (status)
		*status = children[i].status;
	if (rusage)
		memset(rusage, 0, sizeof(struct rusage));
	children[i].state = CHILD_FREE;
	return got;
}

long rt_sys_waitid(int idtype, int id, void *info, int options, void *rusage)
{
	if (!(options & WEXITED) || (options & ~(WEXITED | WNOHANG | WNOWAIT | WSTOPPED | WCONTINUED)))
		return -EINVAL;
	int pid = idtype == P_ALL ? -1 : idtype == P_PID && id > 0 ? id : INT32_MIN;
	if (pid == INT32_MIN)
		return idtype == P_PID ? -EINVAL : -ECHILD;   /* no process groups yet */
	int i = wait_zombie(pid, options & WNOHANG);
	siginfo_t *si = info;
	if (si)
		memset(si, 0, sizeof *si);
	if (i == -EAGAIN)
		return 0;   /* WNOHANG: si_pid 0 says "none yet" */
	if (i < 0)
		return i;
	int ws = children[i].status;
	if (si) {
		si->si_signo = SIGCHLD;
		si->si_pid = children[i].pid;
		si->si_code = WIFEXITED(ws) ? CLD_EXITED : CLD_KILLED;
		si->si_status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws);
	}
	if (rusage)
		memset(rusage, 0, sizeof(struct rusage));
	if (!(options & WNOWAIT))
		children[i].state = CHILD_FREE;
	return 0;
}

/* A child ended (an orphan's end comes to pid 1): keep its zombie, tell the process. */
static void child_ended(const struct cap_proc_child *m)
{
	int i, free_slot = -1;
	for (i = 0; i < MAX_CHILDREN; i++) {
		if (children[i].state != CHILD_FREE && children[i].pid == m->pid)
			break;
		if (children[i].state == CHILD_FREE && free_slot < 0)
			free_slot = i;
	}
	if (i == MAX_CHILDREN)
		i = free_slot;
	if (i >= 0) {
		/* SIGCHLD ignored (or SA_NOCLDWAIT): Linux keeps no zombie either. */
		children[i].state = rt_signal_child_autoreap() ? CHILD_FREE : CHILD_ZOMBIE;
		children[i].pid = m->pid;
		children[i].status = m->status;
	}
	rt_wake_all(&child_waitq);
	rt_signal_post(SIGCHLD, WIFEXITED(m->status) ? CLD_EXITED : CLD_KILLED);
}

long rt_sys_kill(int pid, int sig)
{
	if (pid == self_pid || pid == 0 || pid == -1)
		return rt_sys_kill_self(sig);   /* no process groups yet: the caller's is itself */
	if (pid < 0 || sig < 0 || sig >= 65)
		return pid < 0 ? -ESRCH : -EINVAL;
	int known = pid == parent_pid && pid > 0, zombie = 0;
	for (int i = 0; i < MAX_CHILDREN && !known; i++)
		if (children[i].state != CHILD_FREE && children[i].pid == pid) {
			known = 1;
			zombie = children[i].state == CHILD_ZOMBIE;
		}
	if (!known)
		return -ESRCH;   /* only a parent and children are reached so far */
	if (sig && !zombie) {
		struct cap_proc_signal m = { pid, sig };
		send_record(CAP_MSG_KILL, &m, sizeof m);
	}
	return 0;
}

void rt_proc_record(int type, const void *payload, size_t len)
{
	if (type == CAP_MSG_CHILD && len >= sizeof(struct cap_proc_child)) {
		struct cap_proc_child m;
		memcpy(&m, payload, sizeof m);
		child_ended(&m);
	} else if (type == CAP_MSG_SIGNAL && len >= sizeof(struct cap_proc_signal)) {
		struct cap_proc_signal m;
		memcpy(&m, payload, sizeof m);
		rt_signal_post(m.sig, SI_USER);   /* runs at the next system call, as every signal here */
		rt_wake_all(&rt_proc_waitq);      /* and interrupts a wait for a shared pipe (pipe.c) */
	} else if (type == CAP_MSG_WAKE) {
		rt_wake_all(&rt_proc_waitq);
		rt_io_changed();
	}
	/* A FORKED outside a fork: nothing waits for it. */
}

void rt_proc_exiting(void)
{
	/* pid 1's end ends the capsule; a child's ends its pipe ends, so readers see EOF. */
	if (self_pid != 1 && !rt_draining)
		rt_fd_close_all();
}
