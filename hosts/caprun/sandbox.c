/* sandbox.c: builds the capsule's seccomp allowlist with libseccomp and exports the BPF to a memfd. */
#include "hosts/caprun/sandbox.h"
#include "capsule-abi/cap_abi.h"

#include <asm/prctl.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALLOW(ctx, name, ...) \
	seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), __VA_ARGS__)

static int add_rules(scmp_filter_ctx ctx)
{
	int r = 0;
	/* Console in, the packet channel and the capsule's own TUN device (a standalone host
	 * passes it as fd 8 behind a kernel source filter; elsewhere fd 8 is closed: EBADF). */
	r |= ALLOW(ctx, read, 1, SCMP_A0(SCMP_CMP_EQ, 0));
	r |= ALLOW(ctx, read, 1, SCMP_A0(SCMP_CMP_EQ, CAP_FD_CHANNEL));
	r |= ALLOW(ctx, read, 1, SCMP_A0(SCMP_CMP_EQ, CAP_FD_TUN));
	/* Console out/err, the packet channel and the TUN device. */
	static const int out_fds[] = { 1, 2, CAP_FD_CHANNEL, CAP_FD_TUN };
	for (size_t i = 0; i < sizeof out_fds / sizeof out_fds[0]; i++) {
		r |= ALLOW(ctx, write, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)out_fds[i]));
		r |= ALLOW(ctx, writev, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)out_fds[i]));
	}
	r |= ALLOW(ctx, ppoll, 0);
	r |= ALLOW(ctx, clock_gettime, 0);
	r |= ALLOW(ctx, getrandom, 0);
	r |= ALLOW(ctx, arch_prctl, 1, SCMP_A0(SCMP_CMP_EQ, ARCH_SET_FS));
	r |= ALLOW(ctx, madvise, 1, SCMP_A2(SCMP_CMP_EQ, MADV_REMOVE));
	r |= ALLOW(ctx, exit, 0);
	r |= ALLOW(ctx, exit_group, 0);
	return r;
}

int sandbox_filter_fd(char *err, size_t errlen)
{
	int fd = -1, r;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* Foreign ABIs (i386 int 0x80, x32) are not reported, just killed. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* The loader sets no_new_privs itself, before loading. */
	r |= seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	r |= add_rules(ctx);
	if (r) {
		snprintf(err, errlen, "building the seccomp filter failed");
		goto out;
	}
	fd = memfd_create("capsule-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		snprintf(err, errlen, "exporting the seccomp filter: %s", strerror(-r));
		close(fd);
		fd = -1;
	}
out:
	seccomp_release(ctx);
	return fd;
}

const char *sandbox_syscall_name(int nr)
{
	static char name[64];
	char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
	if (!s)
		return NULL;
	snprintf(name, sizeof name, "%s", s);
	free(s);
	return name;
}
