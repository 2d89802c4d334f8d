/* cap_proc.h: the channel records of a capsule of several processes: fork, a child's end, wake-ups between processes (docs/PROCESSES.md). */
#ifndef CAP_PROC_H
#define CAP_PROC_H

#include <stdint.h>
#include "capsule-abi/cap_abi.h"

/*
 * Every process of a capsule is a sandboxed host process with its own
 * memfd and its own packet channel to the capsule's caprun.  These record
 * types travel on those channels (after a struct cap_chan_hdr; seq and
 * flags 0).  They are additive: a capsule that never forks never sends or
 * receives one, so CAP_ABI_VERSION is unchanged.  Numbers continue after
 * CAP_MSG_FILE_REQ/REP (cap_file.h).
 */
#define CAP_MSG_FORK   8    /* capsule -> host: copy me; my context is in my control page. No payload */
#define CAP_MSG_FORKED 9    /* host -> the forking capsule: struct cap_proc_forked */
#define CAP_MSG_CHILD  10   /* host -> capsule: a child process ended: struct cap_proc_child */
#define CAP_MSG_WAKE   11   /* both ways: struct cap_proc_wake (docs/PROCESSES.md, section 5) */
#define CAP_MSG_KILL   12   /* capsule -> host: kill(pid, sig) to another process: struct cap_proc_signal */
#define CAP_MSG_SIGNAL 13   /* host -> capsule: a signal from another process: struct cap_proc_signal */

/* Processes a capsule may have at once (slots of the host's table; bits of a wake mask). */
#define CAP_PROC_MAX 64

struct cap_proc_forked {
	int32_t result;     /* the child's pid as the capsule sees it, or -errno (EAGAIN, ENOMEM) */
	uint32_t reserved;  /* 0 */
};
_Static_assert(sizeof(struct cap_proc_forked) == 8, "cap_proc_forked layout");

struct cap_proc_child {
	int32_t pid;        /* the child's pid as the capsule sees it */
	int32_t status;     /* a Linux wait status: exit code << 8, or the signal number */
};
_Static_assert(sizeof(struct cap_proc_child) == 8, "cap_proc_child layout");

struct cap_proc_wake {
	uint64_t procs;     /* capsule -> host: bit i wakes slot i; host -> capsule: ignored */
};
_Static_assert(sizeof(struct cap_proc_wake) == 8, "cap_proc_wake layout");

struct cap_proc_signal {
	int32_t pid;        /* KILL: the target; SIGNAL: the sender (pids as the capsule sees them) */
	int32_t sig;        /* 1..64 */
};
_Static_assert(sizeof(struct cap_proc_signal) == 8, "cap_proc_signal layout");

#endif
