/* procs_snap.c: every process of a capsule frozen at its safe point at once, with the records between them held; the frozen table for a snapshot; a snapshot of several processes resumed with its tree (docs/PROCESSES.md section 7). */
#include "hosts/caprun/procs_snap.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/volume.h"
#include "hosts/common/clock.h"
#include "hosts/formats/snapfile.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FREEZE_TIMEOUT_MS 10000

static int chan_of(struct host_relay *r, int slot)
{
	return slot == 0 ? r->chan_fd : r->procs->p[slot].chan_fd;
}

/* A control record with a sequence number (FREEZE), waiting a little for room. */
static int send_control(int fd, int type, uint16_t seq)
{
	struct cap_chan_hdr h = { (uint8_t)type, 0, seq };
	for (int tries = 0; tries < 200; tries++) {
		if (send(fd, &h, sizeof h, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof h)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		struct pollfd p = { fd, POLLOUT, 0 };
		poll(&p, 1, 10);
	}
	errno = EAGAIN;
	return -1;
}

static uint16_t new_seq(void)
{
	uint16_t seq = 0;
	while (!seq)
		if (getrandom(&seq, sizeof seq, 0) != (ssize_t)sizeof seq)
			seq = (uint16_t)(clock_now_ns(CLOCK_MONOTONIC) | 1);
	return seq;
}

/* The freeze is over: what was held goes to each process, in the order it came. */
static void flush_holds(struct host_relay *r)
{
	struct caprun_procs *ps = r->procs;
	ps->holding = 0;
	for (int slot = 0; slot < CAP_PROC_MAX; slot++) {
		struct procs_hold *h = &ps->hold[slot];
		for (uint32_t i = 0; i < h->n && (slot == 0 || ps->p[slot].used); i++)
			if (procs_send_record(chan_of(r, slot), h->rec[i].type, h->rec[i].payload,
			                      sizeof h->rec[i].payload))
				fprintf(stderr, "caprun: capsule %s: a record held for slot %d: %s\n", r->name,
				        slot, strerror(errno));
		h->n = 0;
	}
}

/* Every process frozen (pid 1 and each child still in the table)? */
static int all_frozen(struct host_relay *r)
{
	if (!r->frozen)
		return 0;
	for (int i = 1; i < CAP_PROC_MAX; i++)
		if (r->procs->p[i].used && !r->procs->p[i].frozen)
			return 0;
	return 1;
}

/* A child's channel ended during the freeze: it exited; reap it now (its CHILD is held). */
static void child_ended(struct host_relay *r, int slot)
{
	pid_t pid = r->procs->p[slot].host_pid;
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	procs_reaped(r, pid, ws);
}

/* Read pid 1's channel as the freeze wait does (channel.c); -1 when it ended. */
static int root_channel(struct host_relay *r)
{
	static unsigned char buf[CAP_CHAN_MAX];
	for (;;) {
		ssize_t m = recv(r->chan_fd, buf, sizeof buf, MSG_DONTWAIT);
		if (m < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (m == 0 && !channel_closed(r->chan_fd)) {
			r->stats.drop_bad_record++;
			continue;
		}
		if (m <= 0)
			return -1;
		channel_record(r, buf, (size_t)m);
	}
}

/* Undo a freeze that failed: thaw who froze, the rest when their FROZEN comes late. */
static void freeze_failed(struct host_relay *r)
{
	struct caprun_procs *ps = r->procs;
	for (int i = 1; i < CAP_PROC_MAX; i++) {
		struct caprun_proc *p = &ps->p[i];
		if (!p->used)
			continue;
		if (p->frozen) {
			p->frozen = 0;
			procs_send_record(p->chan_fd, CAP_MSG_THAW, NULL, 0);
		} else if (p->freeze_seq) {
			p->thaw_on_frozen = 1;
		}
	}
	if (r->frozen)
		channel_thaw(r);
	else if (r->freeze_seq)
		r->thaw_on_frozen = 1;
	flush_holds(r);
}

int procs_freeze_all(struct host_relay *r, char *reply, size_t len)
{
	struct caprun_procs *ps = r->procs;
	procs_exec_settle(r);   /* a process between its exec's CHECK and GO finishes it first */
	int foreign = procs_unsaveable_program(r);
	if (foreign >= 0) {
		snprintf(reply, len, "error process %d of capsule %s runs a program (%s) whose host path "
		         "is too long for a snapshot", procs_pid_of(r, foreign), r->name,
		         procs_image_of(r, foreign)->hdr.name);
		return -1;
	}
	if (!ps || !ps->children)
		return channel_freeze(r, reply, len);
	for (int i = 1; i < CAP_PROC_MAX; i++)
		if (ps->p[i].used && ps->p[i].thaw_on_frozen) {
			/* Its late FROZEN would answer the old FREEZE, never a new one. */
			snprintf(reply, len, "error process %d of capsule %s has not answered an earlier "
			         "freeze yet", ps->p[i].pid, r->name);
			return -1;
		}
	ps->holding = 1;
	if (channel_freeze_send(r, reply, len)) {
		flush_holds(r);
		return -1;
	}
	for (int i = 1; i < CAP_PROC_MAX; i++) {
		struct caprun_proc *p = &ps->p[i];
		if (p->used && procs_child_channel(r, i, 4096) < 0)
			child_ended(r, i);   /* what it sent before the FREEZE comes first */
		if (!p->used)
			continue;
		p->freeze_seq = new_seq();
		p->frozen = 0;
		if (send_control(p->chan_fd, CAP_MSG_FREEZE, p->freeze_seq)) {
			snprintf(reply, len, "error sending FREEZE to process %d of capsule %s: %s", p->pid,
			         r->name, strerror(errno));
			freeze_failed(r);
			return -1;
		}
	}
	int64_t deadline = clock_now_ns(CLOCK_MONOTONIC) + (int64_t)FREEZE_TIMEOUT_MS * 1000000;
	while (!all_frozen(r)) {
		struct pollfd pf[CAP_PROC_MAX];
		int slot_of[CAP_PROC_MAX], n = 0;
		int64_t left = (deadline - clock_now_ns(CLOCK_MONOTONIC)) / 1000000;
		if (left <= 0) {
			int late = 1;
			for (int i = 1; i < CAP_PROC_MAX && r->frozen && late == 1; i++)
				if (ps->p[i].used && !ps->p[i].frozen)
					late = ps->p[i].pid;
			snprintf(reply, len, "error process %d of capsule %s did not freeze within %d s; it "
			         "keeps running", late, r->name, FREEZE_TIMEOUT_MS / 1000);
			freeze_failed(r);
			return -1;
		}
		if (!r->frozen) {
			pf[n] = (struct pollfd){ r->chan_fd, POLLIN, 0 };
			slot_of[n++] = 0;
		}
		for (int i = 1; i < CAP_PROC_MAX; i++)
			if (ps->p[i].used && !ps->p[i].frozen) {
				pf[n] = (struct pollfd){ ps->p[i].chan_fd, POLLIN, 0 };
				slot_of[n++] = i;
			}
		int got = poll(pf, (nfds_t)n, (int)left);
		if (got < 0 && errno != EINTR) {
			snprintf(reply, len, "error poll: %s", strerror(errno));
			freeze_failed(r);
			return -1;
		}
		for (int k = 0; got > 0 && k < n; k++) {
			if (!pf[k].revents)
				continue;
			if (slot_of[k] == 0 && root_channel(r) < 0) {
				snprintf(reply, len, "error capsule %s exited during the freeze", r->name);
				freeze_failed(r);
				return -1;
			}
			if (slot_of[k] && ps->p[slot_of[k]].used &&
			    procs_child_channel(r, slot_of[k], 64) < 0)
				child_ended(r, slot_of[k]);
		}
	}
	return 0;
}

/* The capsule's clock at the latest freeze of its processes (each froze at its own moment). */
static int64_t latest_freeze(struct host_relay *r)
{
	struct cap_control ctl;
	int64_t latest = 0;
	for (int i = 0; i < CAP_PROC_MAX; i++) {
		int fd = i == 0 ? r->memfd : r->procs->p[i].used ? r->procs->p[i].memfd : -1;
		if (fd >= 0 && pread(fd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl &&
		    ctl.frozen_at_ns > latest)
			latest = ctl.frozen_at_ns;
	}
	return latest;
}

/* The clock offset that continues at frozen_at, written into memfd if it moves forward. */
static void continue_clock(int memfd, int64_t offset)
{
	int64_t old;
	if (pread(memfd, &old, sizeof old, offsetof(struct cap_control, mono_offset_ns)) ==
	        (ssize_t)sizeof old && offset > old &&
	    pwrite(memfd, &offset, sizeof offset, offsetof(struct cap_control, mono_offset_ns)) !=
	        (ssize_t)sizeof offset) {
		/* its clock jumps forward: harmless, TCP copes */
	}
}

void procs_thaw_all(struct host_relay *r)
{
	struct caprun_procs *ps = r->procs;
	if (!ps) {
		channel_thaw(r);
		return;
	}
	int64_t latest = latest_freeze(r);
	int64_t offset = clock_now_ns(CLOCK_MONOTONIC) - latest;
	for (int i = 1; i < CAP_PROC_MAX; i++) {
		struct caprun_proc *p = &ps->p[i];
		if (!p->used || !p->frozen)
			continue;
		continue_clock(p->memfd, offset);
		p->frozen = 0;
		if (procs_send_record(p->chan_fd, CAP_MSG_THAW, NULL, 0))
			fprintf(stderr, "caprun: capsule %s: sending THAW to process %d: %s\n", r->name,
			        p->pid, strerror(errno));
	}
	r->frozen_at_all = latest;
	channel_thaw(r);
	r->frozen_at_all = 0;
	flush_holds(r);
}

int procs_frozen_collect(struct host_relay *r, struct procs_frozen *f, int copy, char *err,
                         size_t errlen)
{
	struct caprun_procs *ps = r->procs;
	for (int i = 0; i < CAP_PROC_MAX; i++)
		f->copies[i] = -1;
	f->set = (struct snapprocs_set){ f->src, 0, 0 };
	f->collected = 1;
	/* One process running the capsule's own program and nothing held for it: a version 3
	 * file, as ever. */
	if (!ps || (!ps->children && !ps->hold[0].n && !ps->p[0].img))
		return 0;
	uint32_t n = 0;
	for (int slot = 0; slot < CAP_PROC_MAX; slot++) {
		struct caprun_proc *p = &ps->p[slot];
		if (slot && !p->used)
			continue;
		struct procs_hold *h = &ps->hold[slot];
		memcpy(f->held[n], h->rec, (size_t)h->n * sizeof h->rec[0]);
		f->src[n] = (struct snapprocs_src){ .pid = slot ? p->pid : 1, .ppid = slot ? p->ppid : 0,
		                                    .slot = (uint32_t)slot, .memfd = slot ? p->memfd : -1,
		                                    .nheld = h->n, .held = f->held[n] };
		if (p->img) {   /* pid 1's too: p[0].img is its program since an exec */
			procs_image_describe(p->img, &f->programs[n]);
			f->src[n].program = &f->programs[n];
		}
		if (slot && copy) {
			struct stat st;
			int fd = procs_high_fd(memfd_create("capsule-snapshot", MFD_CLOEXEC));
			f->copies[n] = fd;
			if (fd < 0 || fstat(p->memfd, &st) < 0 || ftruncate(fd, st.st_size) < 0 ||
			    procs_copy_sparse(p->memfd, fd, st.st_size) < 0) {
				snprintf(err, errlen, "copying the memory of process %d: %s", p->pid,
				         strerror(errno));
				f->set.n = n + 1;
				procs_frozen_release(f);
				return -1;
			}
			f->src[n].memfd = fd;
		}
		n++;
	}
	f->set.n = n;
	f->set.next_pid = (uint32_t)ps->next_pid;
	return 0;
}

void procs_frozen_release(struct procs_frozen *f)
{
	if (!f->collected)
		return;   /* its copies[] were never set: 0 is not a copy */
	f->collected = 0;
	for (int i = 0; i < CAP_PROC_MAX; i++) {
		if (f->copies[i] >= 0)
			close(f->copies[i]);
		f->copies[i] = -1;
	}
	f->set.n = 0;
}

int procs_restore_prepare(const struct host_snap *s, const struct host_image *img, const char *name,
                          int root_memfd, struct procs_restored *out, char *err, size_t errlen)
{
	out->n = s->procs ? s->procs->t.nprocs : 0;
	for (int i = 0; i < CAP_PROC_MAX; i++) {
		out->memfd[i] = -1;
		out->img[i] = NULL;
	}
	if (!s->procs)
		return 0;
	for (uint32_t i = 1; i < out->n; i++) {
		int fd = procs_high_fd(memfd_create("capsule-proc", MFD_CLOEXEC));
		out->memfd[i] = fd;
		if (fd < 0 || ftruncate(fd, (off_t)s->hdr.memfd_size) < 0) {
			snprintf(err, errlen, "process %d: memfd: %s", s->procs->e[i].pid, strerror(errno));
			goto fail;
		}
		if (snapprocs_restore(s, i, fd, err, errlen))
			goto fail;
	}
	if (procs_restore_finish(s, img, name, root_memfd, out, err, errlen) == 0)
		return 0;
fail:
	procs_restored_close(out);
	return -1;
}

/* Entry i's program into out->img[i] if an exec changed it: its file again, the very same
 * build.  0, or -1 with err. */
static int program_of(const struct host_snap *s, uint32_t i, struct procs_restored *out, char *err,
                      size_t errlen)
{
	uint32_t k = s->procs->e[i].program;
	struct cap_snap_program p;
	char why[700];
	if (!k)
		return 0;
	memcpy(&p, &s->procs->programs[k - 1], sizeof p);
	if (!(out->img[i] = procs_image_load(&p, why, sizeof why))) {
		snprintf(err, errlen, "process %d: %s", s->procs->e[i].pid, why);
		return -1;
	}
	return 0;
}

int procs_restore_finish(const struct host_snap *s, const struct host_image *img, const char *name,
                         int root_memfd, struct procs_restored *out, char *err, size_t errlen)
{
	struct cap_control ctl;
	if (pread(root_memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		snprintf(err, errlen, "reading the capsule memfd: %s", strerror(errno));
		return -1;
	}
	int64_t latest = ctl.frozen_at_ns;
	char why[700];
	if (program_of(s, 0, out, err, errlen))
		return -1;
	/* Pid 1's page was made for the capsule's own program: again, for the one it runs. */
	if (out->img[0] && memlayout_memfd_resume_prepare(root_memfd, &s->hdr, procs_image_img(out->img[0]),
	                                                  name, why, sizeof why)) {
		snprintf(err, errlen, "pid 1: %s", why);
		return -1;
	}
	for (uint32_t i = 1; i < out->n; i++) {
		int fd = out->memfd[i];
		if (program_of(s, i, out, err, errlen))
			return -1;
		const struct host_image *im = out->img[i] ? procs_image_img(out->img[i]) : img;
		/* Its control page for this host, as pid 1's (it is checked there too). */
		if (memlayout_memfd_resume_prepare(fd, &s->hdr, im, name, why, sizeof why) ||
		    pread(fd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
			snprintf(err, errlen, "process %d: %s", s->procs->e[i].pid, why);
			return -1;
		}
		for (uint32_t k = 0; k < ctl.nmaps && k < CAP_MAX_MAPS; k++)
			if (ctl.maps[k].vaddr == CAP_SHARED_ADDR)
				ctl.maps[k].source = CAP_MAP_ROOT;   /* the shared window is pid 1's */
		if (pwrite(fd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
			snprintf(err, errlen, "process %d: %s", s->procs->e[i].pid, strerror(errno));
			return -1;
		}
		if (ctl.frozen_at_ns > latest)
			latest = ctl.frozen_at_ns;
	}
	/* One clock for the capsule: every process continues from the last one's freeze. */
	int64_t offset = clock_now_ns(CLOCK_MONOTONIC) - latest;
	for (uint32_t i = 0; i < out->n; i++) {
		int fd = i ? out->memfd[i] : root_memfd;
		if (pwrite(fd, &offset, sizeof offset, offsetof(struct cap_control, mono_offset_ns)) !=
		    (ssize_t)sizeof offset) {
			snprintf(err, errlen, "setting the clock: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

void procs_restored_close(struct procs_restored *pr)
{
	for (int i = 0; i < CAP_PROC_MAX; i++) {
		if (pr->memfd[i] >= 0)
			close(pr->memfd[i]);
		pr->memfd[i] = -1;
		procs_image_unref(pr->img[i]);
		pr->img[i] = NULL;
	}
}

/* Start entry i of the snapshot's table in its slot, from its memfd and with its program
 * (which it takes). */
static int start_one(struct host_relay *r, const struct cap_snap_proc *e, int *memfd,
                     struct procs_image **img, char *err, size_t errlen)
{
	struct caprun_procs *ps = r->procs;
	struct caprun_proc *p = &ps->p[e->slot];
	int chan[2];
	if (procs_child_channel_pair(chan)) {
		snprintf(err, errlen, "process %d: socketpair: %s", e->pid, strerror(errno));
		return -1;
	}
	p->vols = malloc(sizeof *p->vols);
	if (!p->vols || (r->vols ? volume_copy(r->vols, p->vols) : (volume_init(p->vols), 0))) {
		snprintf(err, errlen, "process %d: its volumes: %s", e->pid, strerror(errno));
		free(p->vols);
		p->vols = NULL;
		close(chan[0]);
		close(chan[1]);
		return -1;
	}
	char why[256];
	/* No TUN device: only pid 1 moves packets (a forked process never has one either). */
	int img_fd = *img ? procs_image_img(*img)->fd : ps->img_fd;
	if (procs_spawn_loader(ps->loader, chan[1], *memfd, img_fd, ps->filter_fd, r->memfd, -1, 0,
	                       &p->host_pid, why, sizeof why)) {
		snprintf(err, errlen, "process %d: %s", e->pid, why);
		volume_close_all(p->vols);
		free(p->vols);
		p->vols = NULL;
		close(chan[0]);
		close(chan[1]);
		return -1;
	}
	close(chan[1]);
	p->used = 1;
	p->pid = e->pid;
	p->ppid = e->ppid;
	p->chan_fd = chan[0];
	p->memfd = *memfd;
	*memfd = -1;
	p->img = *img;
	*img = NULL;
	ps->children++;
	return 0;
}

int procs_restore_start(struct host_relay *r, const struct host_snap *s, struct procs_restored *pr,
                        char *err, size_t errlen)
{
	const struct snap_procs *t = s->procs;
	if (!t)
		return 0;
	r->procs->next_pid = (int)t->t.next_pid;
	for (uint32_t i = 1; i < pr->n; i++)
		if (start_one(r, &t->e[i], &pr->memfd[i], &pr->img[i], err, errlen))
			return -1;
	/* What was on its way to each process when the capsule froze: the first it reads. */
	for (uint32_t i = 0; i < pr->n; i++) {
		for (uint32_t k = 0; k < t->e[i].nheld; k++) {
			struct cap_snap_held h;
			memcpy(&h, &t->held[i][k], sizeof h);
			if (procs_send_record(chan_of(r, (int)t->e[i].slot), h.type, h.payload,
			                      sizeof h.payload)) {
				snprintf(err, errlen, "process %d: a held record: %s", t->e[i].pid,
				         strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}
