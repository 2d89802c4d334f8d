/* memlayout.c: lays a capsule out in its memfd: control page, .data bytes, initial stack, arena size. */
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/lazyload.h"
#include "hosts/common/clock.h"
#include "hosts/common/fileio.h"
#include "hosts/caprun/stackbuild.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

/* Room for argv strings and vectors at the top of the 8 MiB stack window. */
#define STACK_ARGS_MAX (256 * 1024)

static int fill_random(void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom((char *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static uint32_t console_flags_now(void);

uint32_t memlayout_flags_now(void)
{
	/* AT_HWCAP2 bit 1: the kernel lets user space use wrfsbase. */
	return (getauxval(AT_HWCAP2) & 2) ? CAP_HOST_FSGSBASE : 0;
}

/* The clock offset that makes the capsule's monotonic time read capsule_ns now. */
static int64_t offset_from(int64_t capsule_ns)
{
	return clock_now_ns(CLOCK_MONOTONIC) - capsule_ns;
}

int memlayout_prepare(const struct host_image *img, int argc, char *const *argv,
                      const struct memlayout_boot *boot, struct host_layout *out, char *err,
                      size_t errlen)
{
	struct cap_control *ctl = &out->ctl;
	memset(out, 0, sizeof *out);
	ctl->magic = CAP_CONTROL_MAGIC;
	ctl->abi_version = CAP_ABI_VERSION;
	ctl->size = sizeof *ctl;
	if (elfload_plan_build(&img->elf_info, boot->arena_size ? boot->arena_size : img->hdr.mem_size,
	                       ctl, err, errlen))
		return -1;

	struct stackbuild_args a = {
		.argc = argc, .argv = argv, .envc = boot->envc, .envp = boot->envp,
		.entry = img->elf_info.entry, .phdr = img->elf_info.phdr_addr,
		.phnum = img->elf_info.phnum, .phent = img->elf_info.phentsize,
		.uid = boot->uid, .euid = boot->uid, .gid = boot->gid, .egid = boot->gid,
		.dns = boot->dns,
		.hwcap = getauxval(AT_HWCAP), .hwcap2 = getauxval(AT_HWCAP2),
	};
	if (fill_random(a.random, sizeof a.random) ||
	    fill_random(ctl->random_seed, sizeof ctl->random_seed)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	unsigned char *window = calloc(1, STACK_ARGS_MAX);
	if (!window) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint64_t sp;
	uint64_t top = CAP_STACK_TOP - boot->reserve_top;
	if (stackbuild_write(window, STACK_ARGS_MAX, top, &a, &sp, err, errlen)) {
		free(window);
		return -1;
	}
	out->stack_len = top - sp;
	out->stack_bytes = window;
	memmove(window, window + (STACK_ARGS_MAX - out->stack_len), out->stack_len);
	ctl->initial_sp = sp;

	/* The capsule's clock starts at 1 s: never 0, never a jump later. */
	ctl->mono_offset_ns = offset_from(1000000000);
	ctl->console_flags = console_flags_now();
	ctl->host_flags = memlayout_flags_now();
	ctl->state = CAP_STATE_LOADING;
	return 0;
}

void memlayout_free(struct host_layout *l)
{
	free(l->stack_bytes);
	l->stack_bytes = NULL;
}

int memlayout_write_segments(int fd, const struct host_image *img)
{
	for (unsigned i = 0; i < img->elf_info.nsegs; i++) {
		const struct host_elf_segment *s = &img->elf_info.segs[i];
		if ((s->prot & CAP_PROT_W) && s->filesz &&
		    fileio_copy_range(img->fd, CAP_IMAGE_HEADER_SIZE + s->offset, fd,
		                      CAP_MEMFD_OFFSET(s->vaddr), s->filesz))
			return -1;
	}
	return 0;
}

int memlayout_memfd_create(const struct host_image *img, const struct host_layout *l,
                      char *err, size_t errlen)
{
	int fd = memfd_create("capsule", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)CAP_MEMFD_OFFSET(l->ctl.arena_base + l->ctl.arena_size)) < 0 ||
	    memlayout_write_segments(fd, img))
		goto fail;
	if (fileio_pwrite_full(fd, l->stack_bytes, l->stack_len, CAP_MEMFD_OFFSET(l->ctl.initial_sp)) ||
	    fileio_pwrite_full(fd, &l->ctl, sizeof l->ctl, CAP_MEMFD_OFFSET(CAP_CONTROL_ADDR)))
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "filling the capsule memfd: %s", strerror(errno));
	close(fd);
	return -1;
}

static uint32_t console_flags_now(void)
{
	return (isatty(0) ? CAP_CONSOLE_IN_TTY : 0) | (isatty(1) ? CAP_CONSOLE_OUT_TTY : 0) |
	       (isatty(2) ? CAP_CONSOLE_ERR_TTY : 0);
}

int memlayout_memfd_from_snapshot(struct host_snap *s, const struct host_image *img,
                             const char *name, struct lazyload **lazy, char *err, size_t errlen)
{
	int fd = memfd_create("capsule", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)s->hdr.memfd_size) < 0) {
		snprintf(err, errlen, "sizing the capsule memfd: %s", strerror(errno));
		goto fail;
	}
	if (lazy) {
		*lazy = lazyload_prepare(s, fd, err, errlen);
		if (!*lazy)
			goto fail;
	} else if (snapfile_restore(s, fd, err, errlen)) {
		goto fail;
	}
	if (memlayout_memfd_resume_prepare(fd, &s->hdr, img, name, err, errlen))
		goto fail;
	if (lazy && memlayout_memfd_host_flags(fd, CAP_HOST_LAZY_LOAD, 0))
		goto ioerr;
	return fd;
ioerr:
	snprintf(err, errlen, "filling the capsule memfd: %s", strerror(errno));
fail:
	if (lazy) {
		lazyload_free(*lazy);
		*lazy = NULL;
	}
	close(fd);
	return -1;
}

int memlayout_memfd_host_flags(int fd, uint32_t set, uint32_t clear)
{
	uint32_t flags;
	off_t at = offsetof(struct cap_control, host_flags);
	if (pread(fd, &flags, sizeof flags, at) != (ssize_t)sizeof flags)
		return -1;
	flags = (flags | set) & ~clear;
	return fileio_pwrite_full(fd, &flags, sizeof flags, (uint64_t)at);
}

int memlayout_memfd_restart_clock(int fd)
{
	struct cap_control ctl;
	if (pread(fd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl)
		return -1;
	int64_t offset = offset_from(ctl.frozen_at_ns);
	return fileio_pwrite_full(fd, &offset, sizeof offset, offsetof(struct cap_control, mono_offset_ns));
}

int memlayout_memfd_resume_prepare(int fd, const struct cap_snap_header *h, const struct host_image *img,
                              const char *name, char *err, size_t errlen)
{
	struct cap_control ctl;
	if (pread(fd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		snprintf(err, errlen, "reading the capsule memfd: %s", strerror(errno));
		return -1;
	}
	/* A snapshot file was checked when it was opened; a migrated memfd is checked here. */
	if (cap_snap_check_control(&ctl, h, err, errlen))
		return -1;
	/* Text pages come from the image on this host: the plan is made afresh. */
	if (elfload_plan_build(&img->elf_info, h->arena_size, &ctl, err, errlen))
		return -1;
	snprintf(ctl.name, sizeof ctl.name, "%s", name);
	ctl.boot_mode = CAP_BOOT_RESUME;
	ctl.host_flags = memlayout_flags_now();
	ctl.console_flags = console_flags_now();
	ctl.mono_offset_ns = offset_from(ctl.frozen_at_ns);
	ctl.fault_syscall = 0;
	ctl.fault_ip = 0;
	if (fileio_pwrite_full(fd, &ctl, sizeof ctl, CAP_MEMFD_OFFSET(CAP_CONTROL_ADDR))) {
		snprintf(err, errlen, "filling the capsule memfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}
