/* stackbuild.h: the SysV x86_64 initial process stack (argc, argv, envp, auxv) a capsule starts on. */
#ifndef HOST_STACKBUILD_H
#define HOST_STACKBUILD_H

#include <stddef.h>
#include <stdint.h>

struct stackbuild_args {
	int argc;
	char *const *argv;
	int envc;
	char *const *envp;
	uint64_t entry, phdr, phnum, phent;   /* from the validated ELF */
	uint64_t uid, euid, gid, egid;
	uint64_t hwcap, hwcap2;               /* the host CPU's, so musl/apps can pick code paths */
	uint8_t random[16];                   /* AT_RANDOM bytes */
	const char *dns;                      /* CAP_AT_DNS's string (capsule-abi/cap_auxv.h), or NULL */
};

/*
 * Lay the stack out in window, a host buffer standing for the len bytes just
 * below capsule address top_va.  On success *sp is the capsule's initial rsp
 * (16-byte aligned, pointing at argc) and the bytes [*sp, top_va) of the
 * window are the ones to copy.  No AT_SYSINFO_EHDR: the capsule gets no vDSO.
 */
int stackbuild_write(uint8_t *window, size_t len, uint64_t top_va,
                     const struct stackbuild_args *a, uint64_t *sp, char *err, size_t errlen);

#endif
