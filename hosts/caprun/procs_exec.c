/* procs_exec.c: execve of a capsule process: the new program started fresh by a new caploader in the same process slot, with the old one's hand-off above its stack (docs/PROCESSES.md, section 2b). */
#include "hosts/caprun/procs.h"
#include "hosts/caprun/lazyload.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/snapshot.h"
#include "hosts/common/fileio.h"
#include "hosts/caprun/volume.h"
#include "hosts/formats/execreq.h"
#include "capsule-abi/cap_image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SETTLE_MS 2000   /* how long a freeze waits for a process between CHECK and GO */

/* A program other than the capsule's own, shared by the processes that run it (forks). */
struct procs_image {
	struct host_image img;     /* validated; its bytes dropped (segments are read from fd) */
	char path[PATH_MAX];       /* the .cap file on the host: where a resume finds it again */
	int refs;
};

/* The program in the .cap file fd (which it closes): 0 with *out, or -1 with err. */
static int image_from_fd(int fd, struct procs_image **out, char *err, size_t errlen)
{
	char self[64];
	struct procs_image *im = calloc(1, sizeof *im);
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	ssize_t n = im ? readlink(self, im->path, sizeof im->path - 1) : -1;
	if (!im || n <= 0 || (size_t)n >= sizeof im->path - 1) {
		snprintf(err, errlen, "%s", im ? "its host path is not known" : "out of memory");
		free(im);
		close(fd);
		return -1;
	}
	if (image_open(self, &im->img, err, errlen)) {
		free(im);
		close(fd);
		return -1;
	}
	close(fd);
	im->img.fd = procs_high_fd(im->img.fd);   /* never one of the numbers a loader gets */
	im->refs = 1;
	*out = im;
	return 0;
}

struct procs_image *procs_image_load(const struct cap_snap_program *prog, char *err, size_t errlen)
{
	struct procs_image *im;
	char why[512];
	int fd = open(prog->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "its program %s: %s", prog->path, strerror(errno));
		return NULL;
	}
	if (image_from_fd(fd, &im, why, sizeof why)) {
		snprintf(err, errlen, "its program %s: %s", prog->path, why);
		return NULL;
	}
	if (im->img.hdr.build_id_len != prog->build_id_len ||
	    memcmp(im->img.hdr.build_id, prog->build_id, prog->build_id_len)) {
		snprintf(err, errlen, "its program %s is not the one it ran (%s): another build-id",
		         prog->path, prog->name);
		procs_image_unref(im);
		return NULL;
	}
	return im;
}

void procs_image_describe(const struct procs_image *im, struct cap_snap_program *out)
{
	memset(out, 0, sizeof *out);
	out->build_id_len = im->img.hdr.build_id_len;
	memcpy(out->build_id, im->img.hdr.build_id, sizeof out->build_id);
	snprintf(out->name, sizeof out->name, "%s", im->img.hdr.name);
	if (strlen(im->path) < sizeof out->path)
		memcpy(out->path, im->path, strlen(im->path) + 1);
}

const struct host_image *procs_image_img(const struct procs_image *im)
{
	return &im->img;
}

struct procs_image *procs_image_ref(struct procs_image *im)
{
	if (im)
		im->refs++;
	return im;
}

void procs_image_unref(struct procs_image *im)
{
	if (im && --im->refs == 0) {
		image_close(&im->img);
		free(im);
	}
}

const struct host_image *procs_image_of(struct host_relay *r, int slot)
{
	struct procs_image *im = r->procs->p[slot].img;
	return im ? &im->img : r->procs->img;
}

int procs_unsaveable_program(struct host_relay *r)
{
	for (int i = 0; r->procs && i < CAP_PROC_MAX; i++) {
		const struct procs_image *im = r->procs->p[i].img;
		if ((i == 0 || r->procs->p[i].used) && im &&
		    strlen(im->path) >= sizeof ((struct cap_snap_program *)0)->path)
			return i;
	}
	return -1;
}

/*
 * The program path names for the process in slot (*out NULL: the capsule's
 * own): the one it runs now as /proc/self/exe or by its name, the capsule's
 * own by its name, else a .cap file on one of its volumes.  0, or -1 with
 * errno for the capsule: ENOENT (nothing there), EACCES (a directory, or no
 * execute permission), ENOEXEC (not a valid .cap), or the volume's own.
 */
static int choose_program(struct host_relay *r, int slot, const char *path, struct procs_image **out)
{
	struct caprun_procs *ps = r->procs;
	struct procs_image *cur = ps->p[slot].img;
	*out = NULL;
	if (cur && !execreq_program(cur->img.hdr.name, path)) {
		*out = procs_image_ref(cur);
		return 0;
	}
	if (!execreq_program(ps->img->hdr.name, path))
		return 0;
	struct volumes *vs = slot ? ps->p[slot].vols : r->vols;
	int fd = vs ? volume_open_program(vs, path) : (errno = ENOENT, -1);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) {
		close(fd);   /* a directory, or a file nobody may execute: as Linux says */
		errno = EACCES;
		return -1;
	}
	char err[256];
	if (image_from_fd(fd, out, err, sizeof err)) {
		errno = ENOEXEC;   /* not a .cap: a shell then runs it as a script, as on Linux */
		return -1;
	}
	return 0;
}

/* An execve's request: its bytes, read from the process's memory, and what they say. */
struct exec_request {
	unsigned char *bytes;
	struct execreq q;
};

static void request_free(struct exec_request *x)
{
	execreq_free(&x->q);
	free(x->bytes);
	x->bytes = NULL;
}

/* Read the request m names from the process's memfd and check it (execreq.h); 0, or -1 with
 * errno for the capsule (EFAULT: outside its memory, EINVAL, E2BIG, ENOMEM). */
static int request_read(int memfd, const struct cap_proc_exec *m, int with_handoff,
                        struct exec_request *x)
{
	struct stat st;
	memset(x, 0, sizeof *x);
	if (m->len > EXECREQ_MAX) {
		errno = E2BIG;
		return -1;
	}
	if (m->addr < CAP_VBASE || fstat(memfd, &st) < 0 ||
	    CAP_MEMFD_OFFSET(m->addr) > (uint64_t)st.st_size ||
	    m->len > (uint64_t)st.st_size - CAP_MEMFD_OFFSET(m->addr)) {
		errno = EFAULT;
		return -1;
	}
	x->bytes = malloc(m->len ? m->len : 1);
	if (!x->bytes)
		return -1;
	if (pread(memfd, x->bytes, m->len, (off_t)CAP_MEMFD_OFFSET(m->addr)) != (ssize_t)m->len) {
		errno = EFAULT;
		return -1;
	}
	return execreq_parse(x->bytes, m->len, with_handoff, &x->q);
}

/* The new program's memory in fd: writable segments from the image file, the stack, the
 * hand-off, the control page.  0, or -1 with errno. */
static int fill_memory(int fd, const struct host_image *img, const struct host_layout *l,
                       const unsigned char *handoff, size_t handoff_len, uint64_t handoff_at)
{
	if (ftruncate(fd, (off_t)CAP_MEMFD_OFFSET(l->ctl.arena_base + l->ctl.arena_size)) < 0 ||
	    memlayout_write_segments(fd, img))
		return -1;
	if (fileio_pwrite_full(fd, l->stack_bytes, l->stack_len, CAP_MEMFD_OFFSET(l->ctl.initial_sp)) ||
	    fileio_pwrite_full(fd, handoff, handoff_len, CAP_MEMFD_OFFSET(handoff_at)) ||
	    fileio_pwrite_full(fd, &l->ctl, sizeof l->ctl, 0))
		return -1;
	return 0;
}

/*
 * Pid 1's memfd is the shared window of every process (they map it from this
 * very file): it is emptied in place but for the window, never replaced.
 */
static int empty_but_window(int fd)
{
	struct stat st;
	const off_t win = (off_t)CAP_MEMFD_OFFSET(CAP_SHARED_ADDR), win_end = win + (off_t)CAP_SHARED_SIZE;
	if (fstat(fd, &st) < 0 ||
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, win) < 0)
		return -1;
	return st.st_size > win_end &&
	       fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, win_end, st.st_size - win_end) < 0
	       ? -1 : 0;
}

/* The new program's control page: laid out afresh, but who it is stays. */
static void keep_identity(struct cap_control *c, const struct cap_control *old, int slot,
                          uint64_t reserve, uint32_t handoff_len)
{
	memcpy(c->name, old->name, sizeof c->name);
	c->ip = old->ip;
	c->netmask = old->netmask;
	c->gateway = old->gateway;
	c->mtu = old->mtu;
	c->max_fds = old->max_fds;
	c->proc_pid = old->proc_pid;
	c->proc_ppid = old->proc_ppid;
	c->proc_slot = old->proc_slot;
	c->proc_pgid = old->proc_pgid ? old->proc_pgid : old->proc_pid;
	c->proc_sid = old->proc_sid ? old->proc_sid : old->proc_pid;
	c->exec_handoff = CAP_STACK_TOP - reserve;
	c->exec_handoff_len = handoff_len;
	/* its clock goes on from the old program's (never backwards in one process) */
	c->mono_offset_ns = old->mono_offset_ns;
	/* pid 1's TUN device, if it had one, is the new program's too (it says DIRECT again) */
	c->host_flags |= old->host_flags & (CAP_HOST_DIRECT_TUN | CAP_HOST_TUN_VNET);
	for (uint32_t i = 0; slot && i < c->nmaps && i < CAP_MAX_MAPS; i++)
		if (c->maps[i].vaddr == CAP_SHARED_ADDR)
			c->maps[i].source = CAP_MAP_ROOT;
}

/* The old program waits for its end: no exit status of its own, and no CHILD for it. */
static void end_old(pid_t host_pid)
{
	kill(host_pid, SIGKILL);
	while (waitpid(host_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The channel of slot is now chan (the old one's end closed, the relay's epoll set told). */
static void swap_channel(struct host_relay *r, int *chan_fd, int chan)
{
	if (r->epoll_fd >= 0)
		epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, *chan_fd, NULL);
	close(*chan_fd);
	*chan_fd = chan;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = chan };
	if (r->epoll_fd >= 0 && epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, chan, &ev) < 0)
		fprintf(stderr, "caprun: capsule %s: exec: epoll_ctl: %s\n", r->name, strerror(errno));
}

/*
 * Start the program of x in slot in place of the process there.  0; -1 (said)
 * if nothing was changed; -2 (said) if the old program ended but no new one
 * started: the process is lost as if SIGKILL'd.
 */
static int replace(struct host_relay *r, int slot, const struct exec_request *x)
{
	struct caprun_procs *ps = r->procs;
	struct caprun_proc *p = &ps->p[slot];
	int root = slot == 0, pid = procs_pid_of(r, slot);
	pid_t *host_pid = root ? &r->child : &p->host_pid;
	char err[256];
	struct cap_control old;
	int memfd = procs_memfd_of(r, slot);
	if (pread(memfd, &old, sizeof old, 0) != (ssize_t)sizeof old) {
		fprintf(stderr, "caprun: capsule %s: exec: reading process %d: %s\n", r->name, pid,
		        strerror(errno));
		return -1;
	}
	uint64_t reserve = ((uint64_t)x->q.req.handoff_len + 15) & ~15ULL;
	struct memlayout_boot boot = { .envc = (int)x->q.req.envc, .envp = x->q.envp, .uid = x->q.req.uid,
	                               .gid = x->q.req.gid, .dns = ps->dns, .reserve_top = reserve,
	                               .arena_size = r->snap_template.arena_size };
	struct host_layout l;
	const struct host_image *im = p->exec_img ? &p->exec_img->img : ps->img;
	if (memlayout_prepare(im, (int)x->q.req.argc, x->q.argv, &boot, &l, err, sizeof err)) {
		fprintf(stderr, "caprun: capsule %s: exec in process %d: %s\n", r->name, pid, err);
		return -1;
	}
	keep_identity(&l.ctl, &old, slot, reserve, x->q.req.handoff_len);
	const unsigned char *handoff = x->q.handoff;
	int chan[2] = { -1, -1 }, result = -1;
	int fresh = root ? -1 : procs_high_fd(memfd_create("capsule-proc", MFD_CLOEXEC));
	if ((!root && (fresh < 0 || fill_memory(fresh, im, &l, handoff, x->q.req.handoff_len,
	                                          l.ctl.exec_handoff))) ||
	    procs_child_channel_pair(chan)) {
		fprintf(stderr, "caprun: capsule %s: exec in process %d: %s\n", r->name, pid,
		        strerror(errno));
		goto out;
	}
	/* From here on the old program is gone: ended before the new one runs, so the process
	 * is never two host processes at once. */
	end_old(*host_pid);
	result = -2;
	if (root && (empty_but_window(memfd) || fill_memory(memfd, im, &l, handoff,
	                                                    x->q.req.handoff_len, l.ctl.exec_handoff))) {
		fprintf(stderr, "caprun: capsule %s: exec in pid 1: %s\n", r->name, strerror(errno));
		goto out;
	}
	int tun = root && r->filter && !r->uplink ? r->tun_fd : -1;
	if (procs_spawn_loader(ps->loader, chan[1], root ? memfd : fresh, im->fd, ps->filter_fd,
	                       root ? -1 : r->memfd, tun, 0, host_pid, err, sizeof err)) {
		fprintf(stderr, "caprun: capsule %s: exec in process %d: %s\n", r->name, pid, err);
		goto out;
	}
	result = 0;
	procs_image_unref(p->img);   /* the program it runs from now on */
	p->img = p->exec_img;
	p->exec_img = NULL;
	if (root) {
		swap_channel(r, &r->chan_fd, chan[0]);
		if (r->direct && r->epoll_fd >= 0) {
			/* until the new program says DIRECT, the loop relays its TUN again */
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = r->tun_fd };
			epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->tun_fd, &ev);
		}
		r->direct = 0;
	} else {
		swap_channel(r, &p->chan_fd, chan[0]);
		close(p->memfd);
		p->memfd = fresh;
		fresh = -1;
	}
	chan[0] = -1;
out:
	memlayout_free(&l);
	if (fresh >= 0)
		close(fresh);
	if (chan[0] >= 0)
		close(chan[0]);
	if (chan[1] >= 0)
		close(chan[1]);
	return result;
}

/* What was held for slot while it changed programs: to the new one, in the order it came. */
static void flush_hold(struct host_relay *r, int slot)
{
	struct caprun_procs *ps = r->procs;
	struct procs_hold *h = &ps->hold[slot];
	int fd = slot ? ps->p[slot].chan_fd : r->chan_fd;
	ps->p[slot].exec_pending = 0;
	for (uint32_t i = 0; i < h->n; i++)
		if (procs_send_record(fd, h->rec[i].type, h->rec[i].payload, sizeof h->rec[i].payload))
			fprintf(stderr, "caprun: capsule %s: a record held for process %d: %s\n", r->name,
			        procs_pid_of(r, slot), strerror(errno));
	h->n = 0;
}

void procs_exec(struct host_relay *r, int slot, const unsigned char *payload, size_t len)
{
	struct caprun_procs *ps = r->procs;
	struct caprun_proc *p = &ps->p[slot];
	struct cap_proc_exec m;
	struct exec_request x = { 0 };
	if (len < sizeof m) {
		r->stats.drop_bad_record++;
		return;
	}
	memcpy(&m, payload, sizeof m);
	if (m.op == CAP_EXEC_CHECK) {
		struct cap_proc_rep ans = { 0, 0 };
		char err[256];
		/* pid 1 of a capsule still loading lazily: all of its memory first (its window stays) */
		if (!slot && r->lazy && lazyload_wait(r->lazy, err, sizeof err)) {
			fprintf(stderr, "caprun: capsule %s: exec: %s\n", r->name, err);
			ans.result = -EIO;
		} else if (p->exec_pending || ps->holding || r->freeze_seq || r->frozen || r->migrating ||
		    snapshot_busy())
			ans.flags = CAP_PROC_REP_AGAIN;   /* no freeze may see half an exec */
		else if (request_read(procs_memfd_of(r, slot), &m, 0, &x) ||
		         choose_program(r, slot, x.q.path, &p->exec_img))
			ans.result = -errno;
		if (!ans.result && !ans.flags)
			p->exec_pending = 1;   /* records for it wait for the new program from now on */
		request_free(&x);
		if (procs_send_record(slot ? p->chan_fd : r->chan_fd, CAP_MSG_EXECD, &ans, sizeof ans))
			fprintf(stderr, "caprun: capsule %s: answering an exec: %s\n", r->name, strerror(errno));
		return;
	}
	if (m.op != CAP_EXEC_GO || !p->exec_pending) {
		r->stats.drop_bad_record++;
		return;
	}
	int bad = request_read(procs_memfd_of(r, slot), &m, 1, &x);   /* its program: CHECK chose it */
	if (bad)
		fprintf(stderr, "caprun: capsule %s: exec in process %d: a bad request (%s)\n", r->name,
		        procs_pid_of(r, slot), strerror(errno));
	int done = bad ? -1 : replace(r, slot, &x);
	if (done == 0) {
		flush_hold(r, slot);
	} else {
		/* Past the point of no return (its descriptors are closed): it ends as SIGKILL'd, and
		 * its parent hears so (pid 1's end ends the capsule). */
		pid_t gone = slot ? p->host_pid : r->child;
		procs_image_unref(p->exec_img);
		p->exec_img = NULL;
		p->exec_pending = 0;
		ps->hold[slot].n = 0;
		p->killed_here = 1;
		if (done == -1)
			kill(gone, SIGKILL);   /* its end comes as SIGCHLD, as any other */
		else if (slot)
			procs_reaped(r, gone, SIGKILL);   /* reaped already: tell its parent now */
		else
			r->exec_lost = 1;   /* relay.c: the capsule ends as killed */
	}
	request_free(&x);
}

void procs_exec_settle(struct host_relay *r)
{
	static unsigned char buf[CAP_CHAN_MAX];
	struct caprun_procs *ps = r->procs;
	for (int waited = 0; ps && ps->p[0].exec_pending && waited < SETTLE_MS; waited += 10) {
		struct pollfd pf = { r->chan_fd, POLLIN, 0 };
		ssize_t n = poll(&pf, 1, 10) > 0 ? recv(r->chan_fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
		if (n > 0)
			channel_record(r, buf, (size_t)n);   /* pid 1's records, its GO among them */
		else if (n == 0 && channel_closed(r->chan_fd))
			break;
	}
	for (int i = 1; ps && i < CAP_PROC_MAX; i++) {
		struct caprun_proc *p = &ps->p[i];
		for (int waited = 0; p->used && p->exec_pending && waited < SETTLE_MS; waited += 10) {
			struct pollfd pf = { p->chan_fd, POLLIN, 0 };
			if (poll(&pf, 1, 10) > 0 && procs_child_channel(r, i, 64) < 0)
				break;   /* it ended: its SIGCHLD comes */
		}
	}
}
