/* memlayout.h: fills a capsule's memfd (data segments, initial stack) and its control page plan. */
#ifndef HOST_MEMLAYOUT_H
#define HOST_MEMLAYOUT_H

#include "capsule-abi/cap_abi.h"
#include "hosts/formats/image.h"
#include "hosts/formats/snapfile.h"

#include <stddef.h>

/* What a fresh capsule starts with besides its arguments (hosts/caprun/caprun_env.c). */
struct memlayout_boot {
	int envc;
	char *const *envp;          /* "NAME=VALUE" */
	uint32_t uid, gid;          /* the capsule's own starting identity (AT_UID, AT_GID) */
	const char *dns;            /* name servers for CAP_AT_DNS, "ADDR\n..."; NULL: none */
	uint64_t reserve_top;       /* bytes kept free below CAP_STACK_TOP (an execve's hand-off), 16-aligned */
	uint64_t arena_size;        /* 0: the image's memory size; an exec: the capsule's, whatever
	                             * program it runs (one layout for all its processes) */
};

/*
 * Compute everything that needs no kernel object: the load plan, the initial
 * stack (argv = argv[0..argc), the environment and identity of boot) and the
 * host part of ctl except name/ip/netmask/gateway/mtu, which the caller
 * fills.  stack_bytes (malloc'd) are the bytes of [ctl.initial_sp, CAP_STACK_TOP).
 */
struct host_layout {
	struct cap_control ctl;
	unsigned char *stack_bytes;   /* [ctl.initial_sp, CAP_STACK_TOP - boot's reserve_top) */
	size_t stack_len;
};
int memlayout_prepare(const struct host_image *img, int argc, char *const *argv,
                      const struct memlayout_boot *boot, struct host_layout *out, char *err,
                      size_t errlen);
void memlayout_free(struct host_layout *l);

/* CAP_HOST_* facts about this machine, for control->host_flags (start and resume). */
uint32_t memlayout_flags_now(void);

/* The image's writable segments' file bytes into fd at their addresses.  0, or -1 with errno. */
int memlayout_write_segments(int fd, const struct host_image *img);

/*
 * Create the capsule's memfd (close-on-exec), size it for the arena, write
 * the writable segments' file bytes, the stack and the control page.
 * Returns the fd or -1 with err.
 */
int memlayout_memfd_create(const struct host_image *img, const struct host_layout *l,
                      char *err, size_t errlen);

/*
 * Resume: create the memfd from a validated snapshot, then rewrite the host
 * part of its control page for this host and this image: the load plan
 * (maps, entry, arena), boot_mode RESUME, host_flags, console_flags, the
 * clock offset (capsule time continues at frozen_at_ns) and name.  The
 * capsule's own part (resume context, state, IP) is left as it froze.
 * lazy NULL: every extent is written now.  Otherwise only what the loader
 * touches unregistered is (lazyload_prepare), host_flags gets
 * CAP_HOST_LAZY_LOAD and *lazy the loader to start with the capsule.
 * Returns the fd or -1 with err.
 */
struct lazyload;
int memlayout_memfd_from_snapshot(struct host_snap *s, const struct host_image *img,
                             const char *name, struct lazyload **lazy, char *err, size_t errlen);
/*
 * The second half of that, for a memfd already holding a frozen capsule's
 * memory (copied from a file, or received by live migration): check its
 * control page, make it resumable here.  0, or -1 with err.
 */
int memlayout_memfd_resume_prepare(int fd, const struct cap_snap_header *h, const struct host_image *img,
                              const char *name, char *err, size_t errlen);
/*
 * Set the clock offset again, for a capsule prepared a while before it
 * starts (a migration waits for COMMIT in between): its time continues
 * from where it froze, not from when it was prepared.  0 or -1.
 */
int memlayout_memfd_restart_clock(int fd);
/* The control page's host_flags in memfd fd: bits in set set, in clear cleared.  0 or -1 (errno). */
int memlayout_memfd_host_flags(int fd, uint32_t set, uint32_t clear);

#endif
