/* sandbox.c: the capsule's seccomp allowlist (BPF compiled at build time by sandbox_gen.c) handed to the loader in a memfd. */
#include "hosts/caprun/sandbox.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sandbox_bpf.h"   /* $(GEN): sandbox_bpf[], sandbox_names[] */

int sandbox_filter_fd(char *err, size_t errlen)
{
	int fd = memfd_create("capsule-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	if (fileio_pwrite_full(fd, sandbox_bpf, sizeof sandbox_bpf, 0)) {
		snprintf(err, errlen, "writing the seccomp filter: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

const char *sandbox_syscall_name(int nr)
{
	if (nr < 0 || (size_t)nr >= sizeof sandbox_names / sizeof sandbox_names[0])
		return NULL;
	return sandbox_names[nr];
}
