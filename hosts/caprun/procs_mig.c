/* procs_mig.c: a capsule of several processes in a live migration: the other processes pre-copied in pid 1's rounds, their table and changed pages frozen (source), restored from the stream (target), one clock after the pull, their channels served while pre-copy runs. */
#include "hosts/caprun/procs_mig.h"
#include "hosts/common/clock.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapprocs.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- source: the other processes pre-copied in pid 1's rounds ---- */

void procs_precopy_init(struct host_relay *r, struct procs_precopy *pp, uint64_t memfd_size,
                        long max_downtime_ms)
{
	memset(pp, 0, sizeof *pp);
	for (int i = 1; r->procs && i < CAP_PROC_MAX; i++) {
		const struct caprun_proc *p = &r->procs->p[i];
		struct procs_kid *k = &pp->k[i];
		char err[256];
		if (!p->used)
			continue;
		/* Its own descriptor: a process that ends meanwhile closes its memfd (procs.c). */
		k->memfd = fcntl(p->memfd, F_DUPFD_CLOEXEC, 10);
		if (k->memfd < 0 || precopy_init(&k->pc, p->host_pid, k->memfd, memfd_size,
		                                 max_downtime_ms, err, sizeof err)) {
			if (k->memfd >= 0)
				close(k->memfd);
			pp->untracked++;   /* it moves frozen, all of it */
			continue;
		}
		k->pid = p->pid;
		k->host_pid = p->host_pid;
		pp->tracked++;
	}
}

static void kid_drop(struct procs_precopy *pp, struct procs_kid *k)
{
	precopy_free(&k->pc);
	close(k->memfd);
	k->pid = 0;
	pp->tracked--;
}

/* The process k tracks is still this capsule's (it may have ended during the rounds). */
static int kid_alive(const struct host_relay *r, const struct procs_kid *k)
{
	for (int i = 1; i < CAP_PROC_MAX; i++)
		if (r->procs->p[i].used && r->procs->p[i].pid == k->pid &&
		    r->procs->p[i].host_pid == k->host_pid)
			return 1;
	return 0;
}

int procs_precopy_round(struct host_relay *r, struct procs_precopy *pp, procs_send_fn send, void *ctx)
{
	for (int i = 1; i < CAP_PROC_MAX; i++) {
		struct procs_kid *k = &pp->k[i];
		if (!k->pid)
			continue;
		if (!kid_alive(r, k)) {
			kid_drop(pp, k);   /* ended: nothing of it moves */
			continue;
		}
		int go = precopy_look(&k->pc), more = 0;
		if (go < 0) {
			kid_drop(pp, k);   /* the tracker failed: all of it moves frozen */
			pp->untracked++;
			continue;
		}
		if (go == 0)
			continue;          /* what it has left moves frozen */
		uint64_t off, bytes = 0;
		size_t len;
		while ((more = precopy_next(&k->pc, &off, &len)) > 0) {
			if (send(ctx, k->pid, off, k->pc.chunk, len))
				return -1;
			bytes += len;
		}
		if (more < 0) {
			kid_drop(pp, k);
			pp->untracked++;
			continue;
		}
		precopy_round_done(&k->pc, bytes);
	}
	return 0;
}

void procs_precopy_free(struct procs_precopy *pp)
{
	for (int i = 1; i < CAP_PROC_MAX; i++)
		if (pp->k[i].pid)
			kid_drop(pp, &pp->k[i]);
}

/* ---- source, frozen: the table, then each process's pages ---- */

int procs_mig_table(struct host_relay *r, const struct cap_snap_header *h, struct procs_mig_out *o,
                    char *err, size_t errlen)
{
	static struct procs_frozen f;   /* 260 KiB of held records: not on the stack */
	memset(o, 0, sizeof *o);
	o->src.fd = -1;
	o->nprocs = 1;
	/* Their own memfds: nothing runs until the move ends (thaw or kill). */
	if (procs_frozen_collect(r, &f, 0, err, errlen))
		return -1;
	if (f.set.n == 0) {
		procs_frozen_release(&f);
		return 0;
	}
	int fd = procs_high_fd(memfd_create("capsule-procs", MFD_CLOEXEC));
	if (fd < 0 || snapprocs_table_write(fd, h, &f.set, &o->tab, err, errlen)) {
		if (fd < 0)
			snprintf(err, errlen, "memfd for the process table: %s", strerror(errno));
		else
			close(fd);
		procs_frozen_release(&f);
		return -1;
	}
	o->src.fd = fd;
	o->src.size = o->tab.size;
	memcpy(o->src.hash, o->tab.hash, sizeof o->src.hash);
	for (uint32_t i = 1; i < f.set.n; i++)
		o->src.p[o->src.n++] = (struct mig_proc_mem){ .pid = f.src[i].pid, .memfd = f.src[i].memfd,
		                                              .ext = o->tab.ext[i],
		                                              .nextents = o->tab.nextents[i] };
	o->nprocs = f.set.n;
	procs_frozen_release(&f);
	return 0;
}

/* Frozen: what changed in k's process since its rounds, inside its extents p. */
static int send_changed(int sock, struct mig_tx *tx, struct procs_kid *k, const struct mig_proc_mem *p,
                        uint8_t *rec)
{
	uint64_t off;
	size_t len, n;
	int more, rc = precopy_final_look(&k->pc) ? MIG_E_IO : MIG_OK;
	while (rc == MIG_OK && (more = precopy_final_next(&k->pc, p->ext, p->nextents, &off, &len)) != 0) {
		rc = more < 0 ? MIG_E_IO
		     : migstream_tx_proc_pages(tx, p->pid, off, k->pc.chunk, len, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(sock, rec, n);
	}
	return rc;
}

int procs_mig_send_frozen(int sock, struct mig_tx *tx, struct procs_mig_out *o,
                          struct procs_precopy *pp, uint8_t *chunk, uint8_t *rec)
{
	int rc = migstream_send_procs(sock, tx, &o->src, chunk, rec);
	for (uint32_t i = 0; rc == MIG_OK && i < o->src.n; i++) {
		const struct mig_proc_mem *p = &o->src.p[i];
		struct procs_kid *k = NULL;
		for (int s = 1; pp && s < CAP_PROC_MAX && !k; s++)
			if (pp->k[s].pid == p->pid)
				k = &pp->k[s];
		rc = k ? send_changed(sock, tx, k, p, rec) : migstream_send_proc_mem(sock, tx, p, chunk, rec);
	}
	o->frozen_bytes = o->src.size + tx->proc_pages_frozen;
	return rc;
}

void procs_mig_out_free(struct procs_mig_out *o)
{
	if (o->src.fd >= 0)
		close(o->src.fd);
	o->src.fd = -1;
	snapprocs_table_free(&o->tab);
}

uint64_t procs_mig_whole_bytes(struct procs_mig_out *o)
{
	o->frozen_bytes = o->src.fd >= 0 ? o->src.size : 0;
	for (uint32_t i = 0; i < o->src.n; i++)
		for (uint32_t k = 0; k < o->src.p[i].nextents; k++)
			o->frozen_bytes += o->src.p[i].ext[k].length;
	return o->frozen_bytes;
}

int procs_mig_describe(const struct procs_mig_out *o, const struct procs_precopy *pp, char *line,
                       size_t len)
{
	if (o->src.fd < 0)
		return 0;
	snprintf(line, len, "processes %u: %u pre-copied with pid 1, %u all while frozen; frozen: "
	         "their table and pages, %.1f MiB", o->nprocs, pp->tracked, o->nprocs - 1 - pp->tracked,
	         (double)o->frozen_bytes / 1048576.0);
	return 1;
}

int procs_mig_mark_window(const struct host_relay *r, struct precopy *pc)
{
	if (!r->procs || r->procs->next_pid <= 2)
		return 0;   /* it never forked: nobody else ever wrote the window */
	return precopy_mark_data(pc, CAP_MEMFD_OFFSET(CAP_SHARED_ADDR), CAP_SHARED_SIZE);
}

/* ---- target ---- */

int procs_mig_restore(struct host_snap *s, const struct mig_rx *rx, struct mig_procs_dst *dst,
                      const struct host_image *img, const char *name, int root_memfd,
                      struct procs_restored *out, char *err, size_t errlen)
{
	out->n = 0;
	for (int i = 0; i < CAP_PROC_MAX; i++) {
		out->memfd[i] = -1;
		out->img[i] = NULL;
	}
	if (!rx->procs_size)
		return 0;
	if (snapprocs_read_table(dst->table_fd, rx->procs_size, rx->procs_hash, &s->hdr, &s->procs, err,
	                         errlen))
		return -1;
	const struct snap_procs *t = s->procs;
	out->n = t->t.nprocs;
	for (uint32_t i = 1; i < out->n; i++) {
		int32_t pid = t->e[i].pid;
		uint32_t k = 0;
		while (k < dst->n && dst->pid[k] != pid)
			k++;
		struct cap_snap_header own = s->hdr;   /* its extents, for the punch */
		own.nextents = t->e[i].nextents;
		if (k == dst->n || !migstream_rx_proc_covered(rx, pid, t->ext[i], t->e[i].nextents)) {
			snprintf(err, errlen, "process %d: its memory did not all arrive", pid);
			goto fail;
		}
		/* Pages sent in a round that it gave back since: holes, as on the source. */
		if (migstream_punch_outside(dst->memfd[k], &own, t->ext[i])) {
			snprintf(err, errlen, "process %d: %s", pid, strerror(errno));
			goto fail;
		}
		out->memfd[i] = procs_high_fd(dst->memfd[k]);   /* now ours (closed there) */
		dst->memfd[k] = -1;
		if (out->memfd[i] < 0) {
			snprintf(err, errlen, "process %d: %s", pid, strerror(errno));
			goto fail;
		}
	}
	if (procs_restore_finish(s, img, name, root_memfd, out, err, errlen) == 0)
		return 0;
fail:
	procs_restored_close(out);
	return -1;
}

int procs_restore_clock(const struct procs_restored *pr, int root_memfd)
{
	struct cap_control ctl;
	int64_t latest = 0;
	for (uint32_t i = 0; i < pr->n || i == 0; i++) {
		int fd = i ? pr->memfd[i] : root_memfd;
		if (pread(fd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl)
			return -1;
		if (ctl.frozen_at_ns > latest)
			latest = ctl.frozen_at_ns;
	}
	int64_t offset = clock_now_ns(CLOCK_MONOTONIC) - latest;
	for (uint32_t i = 0; i < pr->n || i == 0; i++) {
		int fd = i ? pr->memfd[i] : root_memfd;
		if (pwrite(fd, &offset, sizeof offset, offsetof(struct cap_control, mono_offset_ns)) !=
		    (ssize_t)sizeof offset)
			return -1;
	}
	return 0;
}

int procs_poll_add(const struct host_relay *r, struct pollfd *pf, int max)
{
	int n = 0;
	for (int i = 1; r->procs && i < CAP_PROC_MAX && n < max; i++)
		if (r->procs->p[i].used)
			pf[n++] = (struct pollfd){ r->procs->p[i].chan_fd, POLLIN, 0 };
	return n;
}

void procs_poll_serve(struct host_relay *r, const struct pollfd *pf, int n)
{
	for (int k = 0; k < n; k++) {
		if (!pf[k].revents)
			continue;
		for (int i = 1; i < CAP_PROC_MAX; i++) {
			struct caprun_proc *p = &r->procs->p[i];
			if (!p->used || p->chan_fd != pf[k].fd)
				continue;
			if (procs_child_channel(r, i, 64) < 0) {
				/* It ended (its channel closes as it exits): reap it, tell its parent. */
				pid_t pid = p->host_pid;
				int ws = 0;
				while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
					;
				procs_reaped(r, pid, ws);
			}
			break;
		}
	}
}
