/* procs_mig.c: a capsule of several processes in a live migration: the process section made for the stream (source) and read from it (target), one clock after the pull, the other processes served while pre-copy runs. */
#include "hosts/caprun/procs_mig.h"
#include "hosts/common/clock.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapprocs.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int procs_mig_section(struct host_relay *r, const struct cap_snap_header *h,
                      struct mig_procs_src *src, uint32_t *nprocs, char *err, size_t errlen)
{
	static struct procs_frozen f;   /* 260 KiB of held records: not on the stack */
	struct cap_snap_header_ext x = { 0 };
	src->fd = -1;
	*nprocs = 1;
	/* Their own memfds: nothing runs until the move ends (thaw or kill). */
	if (procs_frozen_collect(r, &f, 0, err, errlen))
		return -1;
	if (f.set.n == 0) {
		procs_frozen_release(&f);
		return 0;
	}
	int fd = procs_high_fd(memfd_create("capsule-procs", MFD_CLOEXEC));
	if (fd < 0) {
		snprintf(err, errlen, "memfd for the process table: %s", strerror(errno));
		procs_frozen_release(&f);
		return -1;
	}
	int rc = snapprocs_write(fd, 0, h, &x, &f.set, err, errlen);
	*nprocs = f.set.n;
	procs_frozen_release(&f);
	if (rc) {
		close(fd);
		return -1;
	}
	src->fd = fd;
	src->size = x.procs_size;
	memcpy(src->hash, x.procs_hash, sizeof src->hash);
	return 0;
}

int procs_mig_read(struct host_snap *s, int fd, uint64_t size,
                   const uint8_t hash[MIG_PROCS_HASH_LEN], char *err, size_t errlen)
{
	_Static_assert(MIG_PROCS_HASH_LEN == sizeof s->hext.procs_hash, "the section's hash");
	s->hext.procs_size = size;
	memcpy(s->hext.procs_hash, hash, sizeof s->hext.procs_hash);
	return snapprocs_read_section(fd, 0, &s->hdr, &s->hext, &s->procs, err, errlen);
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
