/* proc.c: processes of a capsule (docs/PROCESSES.md): fork as a copy the host makes and resumes, getpid/getppid, wait4/waitid and SIGCHLD, kill, process groups and sessions, a child's exit. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_fileshare.h"
#include "runtime/rt_host.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_net.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_shm.h"
#include "runtime/rt_sys.h"
#include "runtime/rt_timer.h"

#define MAX_CHILDREN RT_PROC_MAX_CHILDREN
#define FORK_STACK (96 * 1024)        /* a resuming loader needs 64 KiB below the saved rsp */
#define STASH_SIZE (512 * 1024)       /* records that arrive while the host copies us */

/* Who we are: pid 1 and parent 0 unless the host said otherwise at a fork. */
static int self_pid = 1;
static unsigned self_slot;

enum { CHILD_FREE, CHILD_LIVE, CHILD_ZOMBIE };
static struct { int pid, state, status, pgid; } children[MAX_CHILDREN];
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
	/* The host writes pid 1 there when our parent ends before us (an orphan's new parent). */
	return self_pid == 1 ? 0 : (int)__atomic_load_n(&RT_CONTROL->proc_ppid, __ATOMIC_RELAXED);
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

/* Wait for the host's record of type (its payload into out); everything else is kept for later. */
static void await_record(int type, void *out, size_t len)
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
			if (n >= (long)(sizeof(struct cap_chan_hdr) + len) && fork_rx[0] == type) {
				memcpy(out, fork_rx + sizeof(struct cap_chan_hdr), len);
				return;
			}
			uint32_t rec_len = (uint32_t)n;
			if (stash_len + sizeof rec_len + rec_len > sizeof stash) {
				stash_dropped++;   /* a packet: TCP sends it again; nothing else comes this fast */
				continue;
			}
			memcpy(stash + stash_len, &rec_len, sizeof rec_len);
			memcpy(stash + stash_len + sizeof rec_len, fork_rx, rec_len);
			stash_len += sizeof rec_len + rec_len;
		}
	}
}

/* What arrived while we waited, as if it had just arrived (packets may run the stack's input). */
static void replay_stash(void)
{
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
	static const char tail[] = ": a socket pid 1 had not shared at the fork (neither connected nor "
	                           "listening, or the fork was not fork()) does not work here\n";
	char msg[32 + sizeof tail] = "capsule: process ";   /* the pid has at most 10 digits */
	size_t l = strlen(msg);
	int pid = self_pid, digits = 1;
	for (int p = pid; p >= 10; p /= 10)
		digits *= 10;
	for (; digits; digits /= 10)
		msg[l++] = (char)('0' + pid / digits % 10);
	memcpy(msg + l, tail, sizeof tail);
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

/*
 * A socket pair's end and a socket pid 1 shared before the fork (sockrelay.c)
 * live in memory every process sees: they work here.  Whatever else of the
 * stack's this copy holds (a TCP socket not connected yet) does not.
 */
static void socket_elsewhere(struct rt_file *f, void *arg)
{
	(void)arg;
	if (f->ops->sock && !f->ops->fork)
		f->ops = &elsewhere_ops;
}

static void forked_file(struct rt_file *f, void *answer)
{
	const struct cap_proc_forked *a = answer;
	if (f->ops->forked)
		f->ops->forked(f, a->child_slot, a->result);
}

/* The child, first thing: it is a new process that knows only the forking thread. */
static void child_start(uint64_t fs)
{
	struct cap_control *c = RT_CONTROL;
	rt_sched_resumed(fs);
	self_pid = (int)c->proc_pid;
	self_slot = c->proc_slot;
	c->exit_signal = 0;
	memset(children, 0, sizeof children);
	rt_waitq_init(&child_waitq);
	rt_waitq_init(&rt_proc_waitq);
	rt_sched_forked();
	rt_signal_forked();
	rt_itimer_forked();
	rt_ready_hold = 0;   /* file answers awaited by threads that stayed behind */
	rt_console_watchers = 0;
	rt_fd_each_file(socket_elsewhere, 0);
	rt_mem_forked_child();   /* what we map counts in the budget under our slot */
	/* Our copies of shared ends and memory: the parent counted them on our slot already. */
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
	struct cap_proc_forked f;
	await_record(CAP_MSG_FORKED, &f, sizeof f);
	call->result = f.result;
	if (f.result > 0) {
		/* Before anything else runs here: from now on a CAP_MSG_LOST of the child's slot
		 * (it may be killed before it ever runs) takes its copies away. */
		rt_fd_each_file(forked_file, &f);
		rt_shared_forked(f.child_slot, f.result);
		rt_shm_forked(f.child_slot, f.result);
	}
	c->vdso_clock_gettime = vdso;
	replay_stash();
}

long rt_sys_fork(void)
{
	int slot = -1;
	for (int i = 0; i < MAX_CHILDREN && slot < 0; i++)
		if (children[i].state == CHILD_FREE)
			slot = i;
	if (slot < 0)
		return -EAGAIN;
	long budget = rt_mem_fork_budget();   /* the child's copy of our memory must fit the capsule's */
	if (budget < 0)
		return budget;
	rt_fd_each_file(fork_file, 0);   /* the child's copies of shared files count before it runs */
	rt_shm_fork(0);                  /* and of shm_open mappings */
	struct fork_call call = { rt_self()->fs, -EAGAIN };
	rt_run_on_stack(fork_on_stack, &call, fork_stack + sizeof fork_stack);
	if (call.result < 0) {
		rt_fd_each_file(fork_file, (void *)1);
		rt_shm_fork(1);
	}
	if (call.result > 0) {
		children[slot].pid = (int)call.result;
		children[slot].state = CHILD_LIVE;
		children[slot].pgid = rt_proc_pgid();   /* a child starts in its parent's group */
	}
	rt_io_changed();   /* stashed records may have made files ready */
	return call.result;
}

/* What a wait waits for: any child, one pid, or the children of one process group. */
enum { WAIT_ANY, WAIT_PID, WAIT_PGID };
struct wait_for {
	int kind, id;
};

static int matches(int i, struct wait_for w)
{
	if (children[i].state == CHILD_FREE)
		return 0;
	return w.kind == WAIT_ANY || (w.kind == WAIT_PID ? children[i].pid : children[i].pgid) == w.id;
}

/* A zombie for w: its index, -ECHILD if no child matches, -EAGAIN if they all live. */
static int find_zombie(struct wait_for w)
{
	int any = 0;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (!matches(i, w))
			continue;
		any = 1;
		if (children[i].state == CHILD_ZOMBIE)
			return i;
	}
	return any ? -EAGAIN : -ECHILD;
}

/* Wait for a zombie matching w: its index or -errno (ECHILD, EAGAIN with nohang). */
static int wait_zombie(struct wait_for w, int nohang)
{
	for (;;) {
		int i = find_zombie(w);
		if (i != -EAGAIN || nohang)
			return i;
		if (rt_signal_interrupts())
			return -EINTR;
		rt_wait(&child_waitq, 0, "wait");
	}
}

long rt_sys_wait4(int pid, int *status, int options, void *rusage)
{
	if (options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD))
		return -EINVAL;
	if (pid == INT32_MIN)
		return -ESRCH;   /* Linux: -INT_MIN is no group */
	struct wait_for w = { pid == -1 ? WAIT_ANY : pid > 0 ? WAIT_PID : WAIT_PGID,
	                      pid > 0 ? pid : pid == 0 ? rt_proc_pgid() : -pid };
	int i = wait_zombie(w, options & WNOHANG);
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
	struct wait_for w = { WAIT_ANY, 0 };
	if (idtype == P_PID && id > 0)
		w = (struct wait_for){ WAIT_PID, id };
	else if (idtype == P_PGID && id >= 0)
		w = (struct wait_for){ WAIT_PGID, id ? id : rt_proc_pgid() };   /* 0: ours (Linux 5.4) */
	else if (idtype != P_ALL)
		return -EINVAL;
	int i = wait_zombie(w, options & WNOHANG);
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

static int child_index(int pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i].state != CHILD_FREE && children[i].pid == pid)
			return i;
	return -1;
}

/* A child ended (an orphan's end comes to pid 1): keep its zombie, tell the process. */
static void child_ended(const struct cap_proc_child *m)
{
	int i = child_index(m->pid);
	for (int k = 0; k < MAX_CHILDREN && i < 0; k++)
		if (children[k].state == CHILD_FREE) {
			i = k;
			children[i].pgid = 0;   /* an orphan we never knew: in no group a wait names */
		}
	if (i >= 0) {
		/* SIGCHLD ignored (or SA_NOCLDWAIT): Linux keeps no zombie either. */
		children[i].state = rt_signal_child_autoreap() ? CHILD_FREE : CHILD_ZOMBIE;
		children[i].pid = m->pid;
		children[i].status = m->status;
	}
	rt_wake_all(&child_waitq);
	rt_signal_post(SIGCHLD, WIFEXITED(m->status) ? CLD_EXITED : CLD_KILLED);
}

/* ---- questions for the host: kill to any process or group, groups and sessions ---- */

/* A question to the host and its answer, asked on fork's stack (ask_and_wait). */
struct host_question {
	int type, reply_type;
	const void *req;
	size_t len;
	struct cap_proc_rep rep;
};

static void ask_on_stack(void *arg)
{
	struct host_question *q = arg;
	send_record(q->type, q->req, q->len);
	await_record(q->reply_type, &q->rep, sizeof q->rep);
	replay_stash();   /* a child's end or a signal that came meanwhile is in our state now */
}

/*
 * Ask and wait for the answer (fork's wait, on fork's stack: records that
 * come meanwhile run after it).  While the capsule is being frozen or copied
 * the host says "again": sleep a millisecond, letting the freeze happen.
 */
static struct cap_proc_rep ask_and_wait(int type, const void *req, size_t len, int reply_type)
{
	struct host_question q = { type, reply_type, req, len, { -EIO, 0 } };
	for (;;) {
		rt_run_on_stack(ask_on_stack, &q, fork_stack + sizeof fork_stack);
		rt_io_changed();   /* stashed records may have made files ready */
		if (!(q.rep.flags & CAP_PROC_REP_AGAIN))
			return q.rep;
		struct rt_waitq never = RT_WAITQ_INIT;
		rt_wait(&never, rt_now_ns() + 1000000, "host busy");
	}
}

static struct cap_proc_rep ask_host(uint32_t op, int a, int b)
{
	struct cap_proc_req req = { op, a, b, 0 };
	return ask_and_wait(CAP_MSG_PROC_REQ, &req, sizeof req, CAP_MSG_PROC_REP);
}

int rt_proc_pgid(void)
{
	uint32_t g = RT_CONTROL->proc_pgid;   /* the host writes it (cap_abi.h): read at every use */
	return g ? (int)g : self_pid;
}

static int own_sid(void)
{
	uint32_t s = RT_CONTROL->proc_sid;
	return s ? (int)s : self_pid;
}

long rt_sys_getpgid(int pid)
{
	if (pid == 0 || pid == self_pid)
		return rt_proc_pgid();
	int i = pid > 0 ? child_index(pid) : -1;
	if (i >= 0 && children[i].state == CHILD_ZOMBIE && children[i].pgid)
		return children[i].pgid;   /* the host forgot it; its group is still its parent's to know */
	long r = pid < 0 ? -ESRCH : ask_host(CAP_PROC_GETPGID, pid, 0).result;
	/* Ended, its end not here yet: a zombie to be, whose group we know. */
	return r == -ESRCH && i >= 0 && children[i].pgid ? children[i].pgid : r;
}

long rt_sys_getsid(int pid)
{
	if (pid == 0 || pid == self_pid)
		return own_sid();
	return pid < 0 ? -ESRCH : ask_host(CAP_PROC_GETSID, pid, 0).result;
}

long rt_sys_setpgid(int pid, int pgid)
{
	if (pid < 0 || pgid < 0)
		return -EINVAL;
	long r = ask_host(CAP_PROC_SETPGID, pid, pgid).result;
	int i = r == 0 && pid ? child_index(pid) : -1;
	if (i >= 0)
		children[i].pgid = pgid ? pgid : pid;   /* a wait that follows must see it at once */
	return r;
}

long rt_sys_setsid(void)
{
	return ask_host(CAP_PROC_SETSID, 0, 0).result;
}

long rt_sys_kill(int pid, int sig)
{
	if (sig < 0 || sig >= 65)
		return -EINVAL;
	if (pid == self_pid)
		return rt_sys_kill_self(sig);
	int i = pid > 0 ? child_index(pid) : -1;
	if (i >= 0 && children[i].state == CHILD_ZOMBIE)
		return 0;   /* a zombie is there and feels nothing */
	struct cap_proc_rep a = ask_host(CAP_PROC_KILL, pid, sig);
	if (a.result == 0 && (a.flags & CAP_PROC_REP_SELF))
		return rt_sys_kill_self(sig);   /* a group with the caller in it: after the others */
	return a.result == -ESRCH && i >= 0 ? 0 : a.result;   /* our child ended: a zombie to be */
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
	} else if (type == CAP_MSG_PGID && len >= sizeof(struct cap_proc_pgid)) {
		struct cap_proc_pgid m;
		memcpy(&m, payload, sizeof m);
		int i = child_index(m.pid);
		if (i >= 0)
			children[i].pgid = m.pgid;
	} else if (type == CAP_MSG_ADOPTED && len >= sizeof(struct cap_proc_pgid) && self_pid == 1) {
		/* An orphan is ours now: its exit comes here, and wait4 may reap it (as init's). */
		struct cap_proc_pgid m;
		memcpy(&m, payload, sizeof m);
		for (int i = 0; i < MAX_CHILDREN && child_index(m.pid) < 0; i++) {
			if (children[i].state != CHILD_FREE)
				continue;
			children[i].pid = m.pid;
			children[i].state = CHILD_LIVE;
			children[i].pgid = m.pgid;
		}
	} else if (type == CAP_MSG_LOST && len >= sizeof(struct cap_proc_lost) && self_pid == 1) {
		/* A process ended holding shared ends: take them away, then let the host reuse its slot. */
		struct cap_proc_lost m;
		memcpy(&m, payload, sizeof m);
		rt_shared_lost(m.slot, m.pid);   /* first: a parent not yet told of that child sees it */
		rt_pipes_lost(m.slot);
		rt_relay_lost(m.slot);
		rt_shm_lost(m.slot);
		rt_offcells_lost(m.slot);
		send_record(CAP_MSG_LOST, &m, sizeof m);
	} else if (type == CAP_MSG_WAKE) {
		rt_wake_all(&rt_proc_waitq);
		rt_io_changed();
	}
	/* A FORKED outside a fork, a PROC_REP outside a question: nothing waits for it. */
}

/* ---- execve (exec.c): asking the host, and what of this file survives ---- */

long rt_proc_exec_check(const void *req, uint32_t len)
{
	struct cap_proc_exec m = { CAP_EXEC_CHECK, len, (uint64_t)(uintptr_t)req };
	return ask_and_wait(CAP_MSG_EXEC, &m, sizeof m, CAP_MSG_EXECD).result;
}

_Noreturn void rt_proc_exec_go(const void *req, uint32_t len)
{
	struct cap_proc_exec m = { CAP_EXEC_GO, len, (uint64_t)(uintptr_t)req };
	send_record(CAP_MSG_EXEC, &m, sizeof m);
	/* The host ends this program once the new one runs: read nothing more, records are its. */
	rt_host_park();
}

int rt_proc_exec_children(struct cap_exec_child *out, int max)
{
	int n = 0;
	for (int i = 0; i < MAX_CHILDREN && n < max; i++)
		if (children[i].state != CHILD_FREE)
			out[n++] = (struct cap_exec_child){ children[i].pid, children[i].pgid,
			                                    children[i].state == CHILD_ZOMBIE, children[i].status };
	return n;
}

void rt_proc_exec_start(const struct cap_exec_child *kids, int n)
{
	struct cap_control *c = RT_CONTROL;
	self_pid = c->proc_pid ? (int)c->proc_pid : 1;   /* 0: the capsule's first process */
	self_slot = c->proc_slot;
	for (int i = 0; i < n && i < MAX_CHILDREN; i++) {
		children[i].pid = kids[i].pid;
		children[i].pgid = kids[i].pgid;
		children[i].state = kids[i].zombie ? CHILD_ZOMBIE : CHILD_LIVE;
		children[i].status = kids[i].status;
	}
}

void rt_proc_exiting(void)
{
	/* pid 1's end ends the capsule; a child's ends its pipe ends, so readers see EOF. */
	if (self_pid == 1 && !rt_draining)
		rt_udp_flush();   /* datagrams processes sent leave, as their sendto promised */
	if (self_pid != 1 && !rt_draining) {
		rt_fd_close_all();
		rt_shared_exiting();
		rt_shm_exiting();
		rt_mem_exiting();
	}
}
