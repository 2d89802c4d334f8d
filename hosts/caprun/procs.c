/* procs.c: a capsule's processes on the host side: fork as a sparse copy of one process's memfd resumed by a new caploader, exits turned into CAP_MSG_CHILD, wake-ups between processes (docs/PROCESSES.md). */
#include "hosts/caprun/procs.h"
#include "hosts/caprun/lazyload.h"
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/volume.h"
#include "hosts/formats/image.h"
#include "hosts/common/signame.h"
#include "capsule-abi/cap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHAN_BUF   (1 << 20)   /* a child has no network: file answers and wake-ups only */
#define SEND_TRIES 200         /* x 10 ms: a process that reads nothing for 2 s loses the record */
#define BATCH      64          /* records read from one child per wake-up */

void procs_init(struct caprun_procs *ps, const char *loader, int img_fd, int filter_fd)
{
	/* Not the hold area (256 KiB, read only below each slot's n, which the caller's zeroed
	 * storage starts at 0): clearing it wrote 65 pages at every start, about 1 ms here, and
	 * kept them in every caprun (docs/STARTUP.md section 5). */
	memset(ps, 0, offsetof(struct caprun_procs, hold));
	ps->next_pid = 2;
	ps->loader = loader;
	ps->img_fd = img_fd;
	ps->filter_fd = filter_fd;
}

int procs_count(const struct caprun_procs *ps)
{
	return ps ? 1 + ps->children : 0;
}

int procs_high_fd(int fd)
{
	if (fd < 0 || fd >= 10)
		return fd;
	int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return h;
}

int procs_child_channel_pair(int chan[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
		return -1;
	chan[0] = procs_high_fd(chan[0]);
	chan[1] = procs_high_fd(chan[1]);
	int size = CHAN_BUF;
	for (int i = 0; i < 2; i++) {
		setsockopt(chan[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		setsockopt(chan[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
		fcntl(chan[i], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

int procs_send_record(int fd, int type, const void *payload, size_t len)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, 0 };
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)payload, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	for (int tries = 0; tries < SEND_TRIES; tries++) {
		if (sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd p = { fd, POLLOUT, 0 };
		poll(&p, 1, 10);
	}
	return -1;
}

static int chan_of(struct host_relay *r, int slot)
{
	return slot == 0 ? r->chan_fd : r->procs->p[slot].chan_fd;
}

int procs_deliver(struct host_relay *r, int slot, int type, const void *payload, size_t len)
{
	struct caprun_procs *ps = r->procs;
	int exec_pending = ps && ps->p[slot].exec_pending;   /* slot 0 too: pid 1's exec */
	if (!ps || !(ps->holding || exec_pending) || len > sizeof ps->hold[0].rec[0].payload ||
	    !cap_proc_held_type((unsigned)type)) {
		if (procs_send_record(chan_of(r, slot), type, payload, len) == 0)
			return 0;
		/* Its end of the channel is closed: it has just ended (a signal, its exit) and is
		 * not reaped yet; its end comes as SIGCHLD, its parent hears of it then.  What it
		 * would have read is nobody's now, as a signal to an exiting process on Linux is
		 * delivered, not an error. */
		return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
	}
	/*
	 * Frozen, or about to be: a process reads nothing but THAW now, and would
	 * lose it.  Held until the thaw, or written into the snapshot.  One WAKE
	 * says all a WAKE can say.  A process between its exec's CHECK and GO
	 * likewise: the new program reads them (procs_exec.c).
	 */
	struct procs_hold *h = &ps->hold[slot];
	for (uint32_t i = 0; i < h->n && type == CAP_MSG_WAKE; i++)
		if (h->rec[i].type == CAP_MSG_WAKE)
			return 0;
	if (h->n == CAP_SNAP_HELD_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	struct cap_snap_held *rec = &h->rec[h->n++];
	memset(rec, 0, sizeof *rec);
	rec->type = (uint8_t)type;
	memcpy(rec->payload, payload, len);
	return 0;
}

int procs_memfd_of(struct host_relay *r, int slot)
{
	return slot == 0 ? r->memfd : r->procs->p[slot].memfd;
}

int procs_pid_of(struct host_relay *r, int slot)
{
	return slot == 0 ? 1 : r->procs->p[slot].pid;
}

int procs_slot_of(struct host_relay *r, int pid)
{
	if (pid == 1)
		return 0;
	for (int i = 1; r->procs && i < CAP_PROC_MAX; i++)
		if (r->procs->p[i].used && r->procs->p[i].pid == pid)
			return i;
	return -1;
}

/*
 * The data of from (its holes stay holes) into to, page cache to page cache,
 * except the shared window: a child maps that from pid 1's memfd.  0 or -1.
 */
int procs_copy_sparse(int from, int to, off_t size)
{
	const off_t skip = (off_t)CAP_MEMFD_OFFSET(CAP_SHARED_ADDR), skip_end = skip + (off_t)CAP_SHARED_SIZE;
	off_t pos = 0;
	while (pos < size) {
		if (pos >= skip && pos < skip_end)
			pos = skip_end;
		off_t data = lseek(from, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return 0;   /* only a hole is left */
		if (data < 0)
			return -1;
		if (data >= skip && data < skip_end) {
			pos = skip_end;
			continue;
		}
		off_t hole = lseek(from, data, SEEK_HOLE);
		if (hole < 0)
			return -1;
		if (data < skip && hole > skip)
			hole = skip;
		loff_t in = data, out = data;
		while (in < hole) {
			ssize_t n = copy_file_range(from, &in, to, &out, (size_t)(hole - in), 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
				static unsigned char buf[1 << 20];
				size_t want = hole - in < (off_t)sizeof buf ? (size_t)(hole - in) : sizeof buf;
				n = pread(from, buf, want, in);
				if (n > 0 && pwrite(to, buf, (size_t)n, out) != n)
					n = -1;
				if (n > 0)
					in += n, out += n;
			}
			if (n <= 0)
				return -1;
		}
		pos = hole;
	}
	return 0;
}

/*
 * Tests only: CAPSULE_TEST_FORK_HELD=N starts the capsule's Nth fork held
 * (its loader stops itself before it reads any of the child's memory, and
 * nobody continues it), so a test can kill a child that never ran
 * (test_procs.py, docs/PROCESSES.md section 6).
 */
static int test_hold_this_fork(void)
{
	static unsigned long forks;
	const char *n = getenv("CAPSULE_TEST_FORK_HELD");
	return ++forks && n && strtoul(n, NULL, 10) == forks;
}

/* Make the copy of process from in slot; its pid, or -errno. */
static int make_child(struct host_relay *r, int from, int slot)
{
	struct caprun_procs *ps = r->procs;
	struct caprun_proc *p = &ps->p[slot];
	char err[256];
	int chan[2] = { -1, -1 }, memfd = -1, result = -ENOMEM;
	struct stat st;
	struct cap_control ctl;
	int parent = procs_memfd_of(r, from);
	/* A resumed capsule still loading lazily has holes where its memory is yet to come:
	 * the copy must see all of it (lazyload.h), as a snapshot must. */
	if (r->lazy && lazyload_wait(r->lazy, err, sizeof err)) {
		fprintf(stderr, "caprun: capsule %s: fork: %s\n", r->name, err);
		return -EIO;
	}
	memfd = procs_high_fd(memfd_create("capsule-proc", MFD_CLOEXEC));
	if (memfd < 0 || fstat(parent, &st) < 0 || ftruncate(memfd, st.st_size) < 0 ||
	    procs_copy_sparse(parent, memfd, st.st_size) < 0 ||
	    pread(memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		fprintf(stderr, "caprun: capsule %s: fork: copying process %d: %s\n", r->name,
		        procs_pid_of(r, from), strerror(errno));
		goto fail;
	}
	/* The copy resumes where the parent saved its context; who it is, it reads here. */
	ctl.boot_mode = CAP_BOOT_RESUME;
	ctl.proc_pid = (uint32_t)ps->next_pid;
	ctl.proc_ppid = (uint32_t)procs_pid_of(r, from);
	ctl.proc_slot = (uint32_t)slot;
	/* The child is in its parent's group and session (0 there: the parent's own pid). */
	if (!ctl.proc_pgid)
		ctl.proc_pgid = (uint32_t)procs_pid_of(r, from);
	if (!ctl.proc_sid)
		ctl.proc_sid = (uint32_t)procs_pid_of(r, from);
	ctl.exit_signal = 0;
	ctl.host_flags &= ~(CAP_HOST_DIRECT_TUN | CAP_HOST_TUN_VNET);   /* the TUN is the first process's: a child has none */
	ctl.fault_syscall = 0;
	ctl.fault_ip = 0;
	for (uint32_t i = 0; i < ctl.nmaps && i < CAP_MAX_MAPS; i++)
		if (ctl.maps[i].vaddr == CAP_SHARED_ADDR)
			ctl.maps[i].source = CAP_MAP_ROOT;
	if (pwrite(memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl || procs_child_channel_pair(chan)) {
		fprintf(stderr, "caprun: capsule %s: fork: %s\n", r->name, strerror(errno));
		goto fail;
	}
	struct volumes *parent_vols = from ? ps->p[from].vols : r->vols;
	p->vols = malloc(sizeof *p->vols);
	if (!p->vols) {
		fprintf(stderr, "caprun: capsule %s: fork: out of memory\n", r->name);
		goto fail;
	}
	if (parent_vols ? volume_copy(parent_vols, p->vols) : (volume_init(p->vols), 0)) {
		fprintf(stderr, "caprun: capsule %s: fork: copying open files: %s\n", r->name, strerror(errno));
		free(p->vols);
		p->vols = NULL;
		goto fail;
	}
	if (procs_spawn_loader(ps->loader, chan[1], memfd, procs_image_of(r, from)->fd, ps->filter_fd,
	                       r->memfd, -1, test_hold_this_fork(), &p->host_pid, err, sizeof err)) {
		fprintf(stderr, "caprun: capsule %s: fork: %s\n", r->name, err);
		result = -EAGAIN;
		goto fail_vols;
	}
	close(chan[1]);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = chan[0] };
	if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, chan[0], &ev) < 0)
		fprintf(stderr, "caprun: capsule %s: fork: epoll_ctl: %s\n", r->name, strerror(errno));
	p->used = 1;
	p->pid = ps->next_pid++;
	p->ppid = procs_pid_of(r, from);
	p->chan_fd = chan[0];
	p->memfd = memfd;
	p->img = procs_image_ref(ps->p[from].img);   /* the child runs its parent's program */
	ps->children++;
	return p->pid;
fail_vols:
	volume_close_all(p->vols);
	free(p->vols);
	p->vols = NULL;
fail:
	if (memfd >= 0)
		close(memfd);
	if (chan[0] >= 0)
		close(chan[0]);
	if (chan[1] >= 0)
		close(chan[1]);
	return result;
}

void procs_fork(struct host_relay *r, int from)
{
	struct caprun_procs *ps = r->procs;
	struct cap_proc_forked ans = { -EAGAIN, 0 };
	int slot = 0;
	for (int i = 1; ps && i < CAP_PROC_MAX && !slot; i++)
		if (!ps->p[i].used && !ps->p[i].lost_pending)
			slot = i;
	/* Never inside a snapshot's or migration's wait: no snapshot may see half a fork. */
	if (ps && slot && r->fork_ok && !ps->holding && !r->freeze_seq && !r->frozen && !r->migrating &&
	    !snapshot_busy())
		ans.result = make_child(r, from, slot);
	if (ans.result > 0)
		ans.child_slot = (uint32_t)slot;   /* the parent counts the child's shared ends there */
	if (procs_send_record(chan_of(r, from), CAP_MSG_FORKED, &ans, sizeof ans))
		fprintf(stderr, "caprun: capsule %s: answering a fork: %s\n", r->name, strerror(errno));
}

void procs_wake(struct host_relay *r, int from, uint64_t mask)
{
	struct cap_proc_wake w = { 0 };
	for (int i = 0; r->procs && i < CAP_PROC_MAX; i++) {
		if (!(mask & (1ULL << i)) || i == from || (i && !r->procs->p[i].used))
			continue;
		if (procs_deliver(r, i, CAP_MSG_WAKE, &w, sizeof w))
			fprintf(stderr, "caprun: capsule %s: waking process %d: %s\n", r->name, procs_pid_of(r, i),
			        strerror(errno));
	}
}

void procs_kill(struct host_relay *r, int from, int pid, int sig)
{
	struct caprun_procs *ps = r->procs;
	int to = procs_slot_of(r, pid);
	if (!ps || to < 0 || to == from || sig < 1 || sig > 64)
		return;   /* it ended meanwhile, or nonsense: nothing to do */
	if (sig == SIGKILL) {
		if (to)
			ps->p[to].killed_here = 1;
		kill(to ? ps->p[to].host_pid : r->child, SIGKILL);   /* its end comes as SIGCHLD */
		return;
	}
	struct cap_proc_signal m = { procs_pid_of(r, from), sig };
	if (procs_deliver(r, to, CAP_MSG_SIGNAL, &m, sizeof m))
		fprintf(stderr, "caprun: capsule %s: signal %d to process %d: %s\n", r->name, sig, pid,
		        strerror(errno));
}

/* One record from the child in slot. */
static void child_record(struct host_relay *r, int slot, const unsigned char *rec, size_t n)
{
	static unsigned char out[VOLUME_REPLY_MAX];
	struct caprun_proc *p = &r->procs->p[slot];
	struct cap_chan_hdr h;
	if (n < sizeof h) {
		r->stats.drop_bad_record++;
		return;
	}
	memcpy(&h, rec, sizeof h);
	if (h.type == CAP_MSG_FORK) {
		procs_fork(r, slot);
	} else if (h.type == CAP_MSG_WAKE && n >= sizeof h + sizeof(struct cap_proc_wake)) {
		struct cap_proc_wake w;
		memcpy(&w, rec + sizeof h, sizeof w);
		procs_wake(r, slot, w.procs);
	} else if (h.type == CAP_MSG_KILL && n >= sizeof h + sizeof(struct cap_proc_signal)) {
		struct cap_proc_signal m;
		memcpy(&m, rec + sizeof h, sizeof m);
		procs_kill(r, slot, m.pid, m.sig);
	} else if (h.type == CAP_MSG_EXEC) {
		procs_exec(r, slot, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_PROC_REQ) {
		procs_request(r, slot, rec + sizeof h, n - sizeof h);
	} else if (h.type == CAP_MSG_FROZEN) {
		/* Only the answer to our pending FREEZE: its number, once. */
		if (!p->freeze_seq || h.seq != p->freeze_seq || h.flags) {
			r->stats.drop_bad_record++;
			return;
		}
		p->freeze_seq = 0;
		p->frozen = 1;
		if (p->thaw_on_frozen) {
			p->thaw_on_frozen = 0;
			p->frozen = 0;
			procs_send_record(p->chan_fd, CAP_MSG_THAW, NULL, 0);
		}
	} else if (h.type == CAP_MSG_FILE_REQ && (r->procs->holding || p->freeze_seq || p->frozen)) {
		/* As pid 1's (channel.c): dropped while freezing, sent again after the freeze. */
		r->file_requests_deferred++;
	} else if (h.type == CAP_MSG_FILE_REQ) {
		size_t len = volume_serve(p->vols, rec + sizeof h, n - sizeof h, out);
		if (!len) {
			r->stats.drop_bad_record++;
			return;
		}
		/* The answer is a whole record already (its header included). */
		struct pollfd pf = { p->chan_fd, POLLOUT, 0 };
		for (int tries = 0; send(p->chan_fd, out, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
		                    (errno == EAGAIN || errno == EINTR) && tries < SEND_TRIES; tries++)
			poll(&pf, 1, 10);
	} else if (h.type != CAP_MSG_READY) {
		r->stats.drop_bad_record++;   /* packets too: the TCP/IP stack is pid 1's */
	}
}

/* Read what the child in slot sent; at its end, stop watching (its exit comes as SIGCHLD). */
int procs_child_channel(struct host_relay *r, int slot, int limit)
{
	static unsigned char buf[CAP_CHAN_MAX];
	struct caprun_proc *p = &r->procs->p[slot];
	for (int i = 0; i < limit && p->used; i++) {
		ssize_t n = recv(p->chan_fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 && !channel_closed(p->chan_fd)) {
			r->stats.drop_bad_record++;
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			if (r->epoll_fd >= 0)
				epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, p->chan_fd, NULL);
			return -1;
		}
		if (n < 0)
			return 0;
		child_record(r, slot, buf, (size_t)n);
	}
	return 0;
}

void procs_watch_all(struct host_relay *r)
{
	for (int i = 1; r->procs && i < CAP_PROC_MAX; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = r->procs->p[i].chan_fd };
		if (r->procs->p[i].used && epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0 &&
		    errno != EEXIST)
			fprintf(stderr, "caprun: capsule %s: epoll_ctl: %s\n", r->name, strerror(errno));
	}
}

int procs_channel(struct host_relay *r, int fd)
{
	for (int i = 1; r->procs && i < CAP_PROC_MAX; i++) {
		if (r->procs->p[i].used && r->procs->p[i].chan_fd == fd) {
			r->fork_ok = 1;
			procs_child_channel(r, i, BATCH);
			r->fork_ok = 0;
			return 1;
		}
	}
	return 0;
}

/*
 * An orphan's parent is pid 1 from now on: in our table, in its control page
 * (getppid), and for pid 1, which may wait for it (CAP_MSG_ADOPTED).
 */
static void reparent(struct host_relay *r, int slot)
{
	struct caprun_procs *ps = r->procs;
	uint32_t one = 1, pgid = 0;
	int fd = procs_memfd_of(r, slot);
	ps->p[slot].ppid = 1;
	if (pread(fd, &pgid, sizeof pgid, offsetof(struct cap_control, proc_pgid)) != (ssize_t)sizeof pgid ||
	    pwrite(fd, &one, sizeof one, offsetof(struct cap_control, proc_ppid)) != (ssize_t)sizeof one)
		fprintf(stderr, "caprun: capsule %s: telling process %d its parent is pid 1: %s\n", r->name,
		        ps->p[slot].pid, strerror(errno));
	struct cap_proc_pgid m = { ps->p[slot].pid, pgid ? (int32_t)pgid : ps->p[slot].pid };
	if (procs_deliver(r, 0, CAP_MSG_ADOPTED, &m, sizeof m))
		fprintf(stderr, "caprun: capsule %s: telling pid 1 it adopted %d: %s\n", r->name, m.pid,
		        strerror(errno));
}

/* The wait status the capsule sees for a host process that ended with ws. */
static int capsule_status(struct host_relay *r, int slot, int ws)
{
	struct cap_control ctl;
	int have = pread(r->procs->p[slot].memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl;
	if (have && ctl.fault_syscall) {
		fprintf(stderr, "caprun: capsule %s: process %d killed: forbidden system call (nr %u)\n",
		        r->name, r->procs->p[slot].pid, ctl.fault_syscall - 1);
		return SIGSYS;
	}
	if (WIFSIGNALED(ws) && !r->procs->p[slot].killed_here) {
		const char *abbrev = signame(WTERMSIG(ws));
		fprintf(stderr, "caprun: capsule %s: process %d (host pid %ld) killed from outside by "
		        "signal SIG%s\n", r->name, r->procs->p[slot].pid, (long)r->procs->p[slot].host_pid,
		        abbrev ? abbrev : "?");
	}
	if (WIFSIGNALED(ws))
		return WTERMSIG(ws);
	if (have && ctl.exit_signal > 0 && ctl.exit_signal < 65)
		return (int)ctl.exit_signal;   /* the runtime's default action for a signal */
	return (WEXITSTATUS(ws) & 0xff) << 8;
}

static void forget(struct caprun_proc *p)
{
	close(p->chan_fd);
	close(p->memfd);
	procs_image_unref(p->img);
	procs_image_unref(p->exec_img);
	if (p->vols) {
		volume_close_all(p->vols);
		free(p->vols);
	}
	memset(p, 0, sizeof *p);
}

int procs_reaped(struct host_relay *r, pid_t host_pid, int ws)
{
	struct caprun_procs *ps = r->procs;
	int slot = 0;
	for (int i = 1; ps && i < CAP_PROC_MAX && !slot; i++)
		if (ps->p[i].used && ps->p[i].host_pid == host_pid)
			slot = i;
	if (!slot)
		return 0;
	struct caprun_proc *p = &ps->p[slot];
	/* What it sent before it ended comes first (its last wake-ups, above all). */
	r->fork_ok = 0;
	procs_child_channel(r, slot, 1 << 20);
	struct cap_proc_child m = { p->pid, capsule_status(r, slot, ws) };
	int to = 0;   /* its parent, or pid 1 if the parent is gone */
	for (int i = 1; i < CAP_PROC_MAX; i++) {
		if (ps->p[i].used && ps->p[i].pid == p->ppid)
			to = i;
		if (ps->p[i].used && ps->p[i].ppid == p->pid)
			reparent(r, i);   /* its orphans go to pid 1 */
	}
	ps->hold[slot].n = p->exec_pending && !ps->holding ? 0 : ps->hold[slot].n;   /* held for a program that never came */
	forget(p);
	ps->children--;
	/*
	 * Killed by a host signal, it closed nothing: pid 1 takes its shared ends
	 * and holds away first (so readers see end of file), and until pid 1 says
	 * so no new process gets its slot, whose counts those are.
	 */
	if (WIFSIGNALED(ws)) {
		struct cap_proc_lost lost = { (uint32_t)slot, m.pid };
		p->lost_pending = 1;
		if (procs_deliver(r, 0, CAP_MSG_LOST, &lost, sizeof lost))
			fprintf(stderr, "caprun: capsule %s: telling pid 1 that %d ended holding shared "
			        "ends: %s\n", r->name, m.pid, strerror(errno));
	}
	if (procs_deliver(r, to, CAP_MSG_CHILD, &m, sizeof m))
		fprintf(stderr, "caprun: capsule %s: telling process %d that %d ended: %s\n", r->name,
		        procs_pid_of(r, to), m.pid, strerror(errno));
	return 1;
}

void procs_lost_done(struct host_relay *r, const unsigned char *payload, size_t len)
{
	struct cap_proc_lost m;
	if (!r->procs || len < sizeof m) {
		r->stats.drop_bad_record++;
		return;
	}
	memcpy(&m, payload, sizeof m);
	if (m.slot > 0 && m.slot < CAP_PROC_MAX)
		r->procs->p[m.slot].lost_pending = 0;
}

void procs_background(struct caprun_procs *ps)
{
	for (int i = 1; ps && i < CAP_PROC_MAX; i++)
		if (ps->p[i].used)
			setpriority(PRIO_PROCESS, (id_t)ps->p[i].host_pid, 19);
}

void procs_kill_all(struct caprun_procs *ps)
{
	for (int i = 1; ps && i < CAP_PROC_MAX; i++) {
		struct caprun_proc *p = &ps->p[i];
		if (!p->used)
			continue;
		kill(p->host_pid, SIGKILL);
		while (waitpid(p->host_pid, NULL, 0) < 0 && errno == EINTR)
			;
		forget(p);
		ps->children--;
	}
	if (ps) {   /* pid 1's program, if it exec'd another */
		procs_image_unref(ps->p[0].img);
		procs_image_unref(ps->p[0].exec_img);
		ps->p[0].img = ps->p[0].exec_img = NULL;
	}
}
