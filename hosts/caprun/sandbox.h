/* sandbox.h: the capsule's seccomp allowlist, compiled to BPF for the loader. */
#ifndef HOST_SANDBOX_H
#define HOST_SANDBOX_H

#include <stddef.h>

/*
 * The allowlist, compiled when caprun was built (sandbox_gen.c; brief: read
 * fd 0|3|8, write/writev fd 1|2|3|8, ppoll, clock_gettime, getrandom,
 * arch_prctl(ARCH_SET_FS), madvise(MADV_REMOVE), exit, exit_group; anything
 * else traps with SIGSYS), in a close-on-exec memfd holding the raw struct
 * sock_filter[] at offset 0; or -1 with err filled.
 */
int sandbox_filter_fd(char *err, size_t errlen);

/* Name of x86_64 syscall nr ("getpid"), or NULL. */
const char *sandbox_syscall_name(int nr);

#endif
