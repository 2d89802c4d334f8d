/* cap_proc.h: the channel records of a capsule of several processes: fork, execve and its hand-off, a child's end, wake-ups between processes (docs/PROCESSES.md). */
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
/* (14 is CAP_MSG_DIRECT, cap_abi.h) */
#define CAP_MSG_PROC_REQ 15 /* capsule -> host: kill, setpgid, setsid, getpgid, getsid: struct cap_proc_req */
#define CAP_MSG_PROC_REP 16 /* host -> the asking capsule: struct cap_proc_rep */
#define CAP_MSG_PGID   17   /* host -> a parent: its child's group changed: struct cap_proc_pgid */
#define CAP_MSG_LOST   18   /* host -> pid 1: a process ended without closing what it held;
                               pid 1 -> host: done, its slot may be used again: struct cap_proc_lost */
#define CAP_MSG_EXEC   19   /* capsule -> host: execve, asked (CAP_EXEC_CHECK) then done (CAP_EXEC_GO):
                               struct cap_proc_exec */
#define CAP_MSG_EXECD  20   /* host -> the asking capsule: the answer to CAP_EXEC_CHECK: struct cap_proc_rep */
#define CAP_MSG_ADOPTED 21  /* host -> pid 1: an orphan is its child now: struct cap_proc_pgid */

/* The records the host may hold for a frozen process and hand over at its resume (snapshots). */
static inline int cap_proc_held_type(unsigned type)
{
	return type == CAP_MSG_CHILD || type == CAP_MSG_WAKE || type == CAP_MSG_SIGNAL ||
	       type == CAP_MSG_PGID || type == CAP_MSG_LOST || type == CAP_MSG_ADOPTED;
}

/* Processes a capsule may have at once (slots of the host's table; bits of a wake mask). */
#define CAP_PROC_MAX 64

struct cap_proc_forked {
	int32_t result;     /* the child's pid as the capsule sees it, or -errno (EAGAIN, ENOMEM) */
	/*
	 * The child's slot (1..CAP_PROC_MAX-1) when result > 0: the parent counts
	 * the child's copies of shared ends and memory there at once, so a
	 * CAP_MSG_LOST of a child that never ran takes them away.  0 otherwise,
	 * and from hosts before it (the field was reserved): nothing is moved.
	 */
	uint32_t child_slot;
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

/*
 * A question only the host can answer: it knows every process of the capsule
 * and writes their groups and sessions (cap_control's proc_pgid, proc_sid).
 * The asking process waits for the CAP_MSG_PROC_REP (docs/PROCESSES.md, section 6b).
 */
enum cap_proc_op {
	CAP_PROC_KILL = 1,     /* kill(a, b): a > 0 a process, 0 the caller's group, -1 all but pid 1
	                          and the caller, < -1 the group -a; b 0..64 (0: do they exist?) */
	CAP_PROC_SETPGID = 2,  /* setpgid(a, b): a 0 the caller; b 0: a's own pid */
	CAP_PROC_SETSID = 3,   /* setsid() */
	CAP_PROC_GETPGID = 4,  /* getpgid(a), a 0: the caller */
	CAP_PROC_GETSID = 5,   /* getsid(a) */
};

struct cap_proc_req {
	uint32_t op;        /* enum cap_proc_op */
	int32_t a, b;
	uint32_t reserved;  /* 0 */
};
_Static_assert(sizeof(struct cap_proc_req) == 16, "cap_proc_req layout");

#define CAP_PROC_REP_SELF  1u   /* KILL: the caller is one of the targets: it signals itself */
#define CAP_PROC_REP_AGAIN 2u   /* the capsule is being frozen or copied: ask again shortly */

struct cap_proc_rep {
	int32_t result;     /* >= 0, or -errno (ESRCH, EPERM, EINVAL) as the system call returns it */
	uint32_t flags;     /* CAP_PROC_REP_* */
};
_Static_assert(sizeof(struct cap_proc_rep) == 8, "cap_proc_rep layout");

struct cap_proc_pgid {
	int32_t pid;        /* the child */
	int32_t pgid;       /* its group now (waitpid(-pgid) and waitid(P_PGID) match on it) */
};
_Static_assert(sizeof(struct cap_proc_pgid) == 8, "cap_proc_pgid layout");

/*
 * A process killed by a host signal (from outside, a SIGKILL, a forbidden
 * system call) closed nothing: pid 1 takes its ends of shared pipes and its
 * holds on shared memory away (docs/PROCESSES.md, section 6), so readers
 * see end of file; the host gives its slot to no new process until then.
 */
struct cap_proc_lost {
	uint32_t slot;      /* its slot in the host's table */
	int32_t pid;        /* its pid, for messages */
};
_Static_assert(sizeof(struct cap_proc_lost) == 8, "cap_proc_lost layout");

/*
 * execve (docs/PROCESSES.md, section 2b).  The process writes a struct
 * cap_exec_req, its strings and room for its hand-off into its own memory
 * and names them: the host reads them from the process's memfd.  CHECK asks
 * whether the program can run (answered with CAP_MSG_EXECD: 0, or -ENOENT,
 * -ENOEXEC, -EACCES, -E2BIG, -EFAULT, -EINVAL; or flags CAP_PROC_REP_AGAIN
 * while the capsule is being frozen or moved); after a 0 the host holds every record for that process until GO,
 * the process settles what it stashed, fills its hand-off, closes its
 * descriptors and sends GO; the host then starts the new program in the
 * same process slot (same pid) and never answers GO.
 */
enum cap_exec_op {
	CAP_EXEC_CHECK = 1,
	CAP_EXEC_GO = 2,
};

struct cap_proc_exec {
	uint32_t op;        /* enum cap_exec_op */
	uint32_t len;       /* bytes at addr: the request, its strings and its hand-off */
	uint64_t addr;      /* capsule address of a struct cap_exec_req */
};
_Static_assert(sizeof(struct cap_proc_exec) == 16, "cap_proc_exec layout");

#define CAP_EXEC_MAGIC 0x43455843u   /* "CXEC" little-endian */
#define CAP_EXEC_STRINGS_MAX (192u * 1024)   /* path, argv and envp together (E2BIG beyond) */

struct cap_exec_req {
	uint32_t magic;         /* CAP_EXEC_MAGIC */
	uint32_t argc, envc;
	uint32_t strings_len;   /* after this struct: path, argv[0..argc), envp[0..envc), each NUL-ended */
	uint32_t handoff_off;   /* from the start of this struct, 8-aligned: a struct cap_exec_handoff */
	uint32_t handoff_len;   /* its bytes (GO only; the host copies them without reading them) */
	uint32_t uid, gid;      /* the process's ids now: the new program's AT_UID, AT_GID */
};
_Static_assert(sizeof(struct cap_exec_req) == 32, "cap_exec_req layout");

/*
 * What survives an execve, from the old program's runtime to the new one's:
 * the host puts these bytes above the new program's initial stack and their
 * address in its control page (exec_handoff, exec_handoff_len).  Then
 * nfds struct cap_exec_fd, then nchildren struct cap_exec_child.
 */
#define CAP_EXEC_HANDOFF_MAGIC 0x46464f48u   /* "HOFF" */
struct cap_exec_handoff {
	uint32_t magic;         /* CAP_EXEC_HANDOFF_MAGIC */
	uint32_t nfds, nchildren;
	uint32_t umask;         /* always 022 today (the runtime has no umask of its own) */
	uint64_t sig_ignored;   /* bit s-1: signal s was SIG_IGN: it stays ignored (handlers go back to default) */
	uint64_t sig_pending;   /* pending signals stay pending */
	uint64_t sig_blocked;   /* the calling thread's mask */
	char cwd[256];          /* the working directory */
};
_Static_assert(sizeof(struct cap_exec_handoff) == 296, "cap_exec_handoff layout");

enum cap_exec_fd_kind {
	CAP_EXEC_FD_CONSOLE = 1,   /* a: the console's number, 0..2 */
	/* 2, 3, 4: pipe ends and socket pair ends, described apart before they went as
	 * CAP_EXEC_FD_PASSED too (an old program's hand-off: those descriptors are closed) */
	CAP_EXEC_FD_DEV = 5,       /* a: 1 /dev/null, 2 /dev/zero, 3 /dev/urandom */
	CAP_EXEC_FD_HOSTFILE = 6,  /* a file on a volume: path is "MOUNT\0REL\0ABS" (the volume's path,
	                              the file's on it, the file's in the capsule); b: the flags to
	                              open it again with (never creating or truncating); c bit 0: a
	                              directory; a: its offset's cell in the shared window if other
	                              processes share it (0: none).  The new program opens it again
	                              at its first use */
	CAP_EXEC_FD_PASSED = 7,    /* a pipe or FIFO end, a socket pair end, a TCP socket several
	                              processes share: path holds the runtime's description, as
	                              SCM_RIGHTS passes it (runtime/rt_pipe.h, struct rt_passed_fd;
	                              its copy counted on the process's slot) */
};

struct cap_exec_fd {
	int32_t fd;             /* the descriptor's number */
	uint32_t file;          /* descriptors with the same number here share one open file (dup) */
	uint32_t kind;          /* enum cap_exec_fd_kind */
	uint32_t flags;         /* O_ACCMODE | O_APPEND | O_NONBLOCK (Linux values) */
	uint64_t a, b, c;       /* as the kind says */
	uint64_t off;           /* the file offset */
	char path[768];         /* CAP_EXEC_FD_HOSTFILE only */
};
_Static_assert(sizeof(struct cap_exec_fd) == 816, "cap_exec_fd layout");

struct cap_exec_child {
	int32_t pid, pgid;      /* a child of the process (pids as the capsule sees them) */
	int32_t zombie;         /* 1: it ended, status is its wait status */
	int32_t status;
};
_Static_assert(sizeof(struct cap_exec_child) == 16, "cap_exec_child layout");

#endif
