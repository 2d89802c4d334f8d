/* procs.h: a capsule's processes on the host side (procs.c): the table, fork as a copy of a process's memfd, exits, wake-ups (docs/PROCESSES.md). */
#ifndef HOST_CAPRUN_PROCS_H
#define HOST_CAPRUN_PROCS_H

#include "capsule-abi/cap_proc.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/caprun/channel.h"

#include <stdint.h>
#include <sys/types.h>

struct volumes;
struct host_image;
struct procs_image;   /* a program other than the capsule's own, run since an exec (procs_exec.c) */

struct caprun_proc {
	int used;
	int pid, ppid;             /* as the capsule sees them */
	pid_t host_pid;
	int chan_fd;               /* host end of its channel, non-blocking */
	int memfd;
	struct volumes *vols;      /* its open host files (handle numbers are per process) */
	uint16_t freeze_seq;       /* the FREEZE awaiting its FROZEN (0: none) */
	int frozen;                /* it answered FROZEN and was not thawed since */
	int thaw_on_frozen;        /* its freeze timed out: thaw it when FROZEN comes late */
	int killed_here;           /* caprun sent its SIGKILL (a kill() in the capsule): not from outside */
	int lost_pending;          /* slot free, but pid 1 has not yet taken away what it held (LOST) */
	int exec_pending;          /* its exec was allowed (CHECK), GO not yet come: records to it wait */
	struct procs_image *img;   /* the program it runs if not the capsule's own (slot 0: pid 1's) */
	struct procs_image *exec_img;   /* CHECK to GO: the program it is to run (NULL: the capsule's own) */
};

/* Records for a process held while the capsule freezes (procs_snap.c): WAKE, CHILD, SIGNAL. */
struct procs_hold {
	uint32_t n;
	struct cap_snap_held rec[CAP_SNAP_HELD_MAX];
};

/*
 * Slot 0 is the capsule's first process (pid 1), whose channel, memfd and
 * host pid are the relay's own (struct host_relay): only slots 1.. are
 * filled here.
 */
struct caprun_procs {
	struct caprun_proc p[CAP_PROC_MAX];
	int next_pid;              /* the next pid to give (2 first) */
	int children;              /* processes other than pid 1 */
	const char *loader;        /* caploader's path */
	int img_fd, filter_fd;     /* what every process's loader gets as fds 5 and 6 */
	const struct host_image *img;   /* the capsule's program, for an exec (its bytes are dropped) */
	const char *dns;           /* CAP_AT_DNS for an exec'd program, or NULL */
	int holding;               /* a freeze of several processes: records to them wait in hold */
	struct procs_hold hold[CAP_PROC_MAX];   /* per slot, 0 for pid 1 */
};

/* ps in zeroed storage (caprun's is static): the hold area is left as it is. */
void procs_init(struct caprun_procs *ps, const char *loader, int img_fd, int filter_fd);

/* fd moved above the loader's fixed numbers 0..9 (closed, a CLOEXEC copy returned), so the
 * spawn's dup2s never collide; fd itself if already there or negative. */
int procs_high_fd(int fd);
/* A child process's channel: a SOCK_SEQPACKET pair above the loader's numbers, non-blocking,
 * with a child's buffer sizes.  0, or -1 with errno. */
int procs_child_channel_pair(int chan[2]);
/* Start caploader (procs_spawn.c) with chan as fd 3, memfd 4, img 5, filter 6 and, unless -1,
 * root_memfd 7 (a process other than the first) and tun_fd 8 (the first process of a
 * standalone caprun whose TUN has its source filter, CAP_HOST_DIRECT_TUN); held: with
 * CAP_LOADER_HELD_ARG, it stops before reading the memfd (a migration's target).  Every fd
 * above the loader's numbers (procs_high_fd).  0, or -1 with err. */
int procs_spawn_loader(const char *loader, int chan, int memfd, int img_fd, int filter_fd,
                       int root_memfd, int tun_fd, int held, pid_t *pid, char *err, size_t errlen);
/* The data of memfd from into to (same size), sparsely, except the shared window.  0 or -1. */
int procs_copy_sparse(int from, int to, off_t size);
/* One record to the process in slot (held while ps->holding, for WAKE, CHILD, SIGNAL).  0 (also
 * when the process has just ended: its channel closed), or -1. */
int procs_deliver(struct host_relay *r, int slot, int type, const void *payload, size_t len);
/* One record, now, to a channel (waiting a little for room).  0 or -1. */
int procs_send_record(int fd, int type, const void *payload, size_t len);
/* Read what the child in slot sent, at most limit records; returns -1 when its channel ended. */
int procs_child_channel(struct host_relay *r, int slot, int limit);
/* Add every child's channel to the relay's epoll set (a resume made them before the loop). */
void procs_watch_all(struct host_relay *r);

/* CAP_MSG_FORK from the process in slot from: copy it, start the copy, answer FORKED. */
void procs_fork(struct host_relay *r, int from);
/* CAP_MSG_EXEC from the process in slot (procs_exec.c): CHECK answered with CAP_MSG_EXECD,
 * GO starts the new program in the slot (or ends the process, SIGKILL, if it cannot). */
void procs_exec(struct host_relay *r, int slot, const unsigned char *payload, size_t len);
/* Before a freeze: wait (2 s at most) for every process between its exec's CHECK and GO. */
void procs_exec_settle(struct host_relay *r);
/* The program the process in slot runs: the capsule's own, or the one an exec started. */
const struct host_image *procs_image_of(struct host_relay *r, int slot);
/* One more holder of im (a fork's child), or one less (the last frees it); NULL is the capsule's own. */
struct procs_image *procs_image_ref(struct procs_image *im);
void procs_image_unref(struct procs_image *im);
/* A process whose program a snapshot cannot name, or -1: one whose host path does not fit
 * in the snapshot.  A snapshot and a migration refuse then. */
int procs_unsaveable_program(struct host_relay *r);
/* The program a snapshot names, opened again on this host and its build-id checked: a new
 * holder, or NULL with err ("its program PATH: ..."). */
struct procs_image *procs_image_load(const struct cap_snap_program *prog, char *err, size_t errlen);
/* What a snapshot says of im (zero-filled, so equal programs compare equal). */
void procs_image_describe(const struct procs_image *im, struct cap_snap_program *out);
/* The program im holds (the loader maps its code from ->fd). */
const struct host_image *procs_image_img(const struct procs_image *im);
/* CAP_MSG_WAKE from slot from: a WAKE to every other process named in mask. */
void procs_wake(struct host_relay *r, int from, uint64_t mask);
/* CAP_MSG_PROC_REQ from slot from (procs_group.c): kill to any process or group, setpgid,
 * setsid, getpgid, getsid; answered with CAP_MSG_PROC_REP. */
void procs_request(struct host_relay *r, int from, const unsigned char *payload, size_t len);
/* The memfd and the pid (as the capsule sees it) of the process in slot (0: pid 1). */
int procs_memfd_of(struct host_relay *r, int slot);
int procs_pid_of(struct host_relay *r, int slot);
/* The slot of the process with pid (as the capsule sees it), or -1. */
int procs_slot_of(struct host_relay *r, int pid);
/* CAP_MSG_LOST from pid 1: it took away what the process in slot held; the slot is free again. */
void procs_lost_done(struct host_relay *r, const unsigned char *payload, size_t len);
/* CAP_MSG_KILL from slot from: SIGKILL ends the host process, other signals go as CAP_MSG_SIGNAL. */
void procs_kill(struct host_relay *r, int from, int pid, int sig);
/* fd is readable: if it is a child process's channel, serve it and return 1; else 0. */
int procs_channel(struct host_relay *r, int fd);
/* The host process host_pid ended with ws: if it was a child process, tell its parent and return 1. */
int procs_reaped(struct host_relay *r, pid_t host_pid, int ws);
/* Processes of the capsule, pid 1 included (0 if ps is NULL). */
int procs_count(const struct caprun_procs *ps);
/* The capsule ends: kill and reap every process but pid 1. */
void procs_kill_all(struct caprun_procs *ps);
/* Every process but pid 1 (the caller's child) at the lowest priority, nice 19: all that is
 * left of them is their teardown, which must not take a CPU from what runs on. */
void procs_background(struct caprun_procs *ps);

#endif
