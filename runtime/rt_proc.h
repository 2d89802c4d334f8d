/* rt_proc.h: processes of a capsule (proc.c): identity, fork, wait, a child's exit (docs/PROCESSES.md). */
#ifndef RT_PROC_H
#define RT_PROC_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/rt_sched.h"

/* This process's pid and its parent's, as the capsule sees them (pid 1: the first process). */
int rt_proc_pid(void);
int rt_proc_ppid(void);
/* This process's slot in the host's process table: its bit in a wake mask. */
unsigned rt_proc_slot(void);

/* This process's group (the host writes it in the control page; docs/PROCESSES.md 6b). */
int rt_proc_pgid(void);

long rt_sys_fork(void);
/* kill(2): this process itself, or any process or group of the capsule through the host
 * (CAP_MSG_PROC_REQ); setpgid, setsid, getpgid, getsid likewise. */
long rt_sys_kill(int pid, int sig);
long rt_sys_setpgid(int pid, int pgid);
long rt_sys_setsid(void);
long rt_sys_getpgid(int pid);
long rt_sys_getsid(int pid);
long rt_sys_wait4(int pid, int *status, int options, void *rusage);
long rt_sys_waitid(int idtype, int id, void *info, int options, void *rusage);

/* A CAP_MSG_CHILD, WAKE, SIGNAL or PGID record from the channel drain (never blocks). */
void rt_proc_record(int type, const void *payload, size_t len);

/*
 * Threads waiting for something another process changes (a shared pipe)
 * sleep here; a CAP_MSG_WAKE wakes them all, and they check again.
 */
extern struct rt_waitq rt_proc_waitq;
/* Ask the host to wake the processes of mask (this one's bit is ignored). */
void rt_proc_wake(uint64_t mask);

/*
 * execve (exec.c, docs/PROCESSES.md section 2b).  check: may the program of
 * the request at req run (0, -ENOENT, -E2BIG...)?  After a 0 the host holds
 * records for us.  go: run it now (never returns).  children: this process's
 * children for the hand-off (at most max; how many).  start: the new
 * program's first step: who it is (the control page) and its children.
 */
struct cap_exec_child;
/* exec.c: execve(2) in a process other than pid 1; the new program's start takes the hand-off. */
long rt_sys_execve(const char *path, char *const *argv, char *const *envp);
void rt_exec_adopt(void);
long rt_proc_exec_check(const void *req, uint32_t len);
_Noreturn void rt_proc_exec_go(const void *req, uint32_t len);
int rt_proc_exec_children(struct cap_exec_child *out, int max);
void rt_proc_exec_start(const struct cap_exec_child *kids, int n);
#define RT_PROC_MAX_CHILDREN 256

/* The process is about to end (exit_group, a fatal signal): a child closes its descriptors. */
void rt_proc_exiting(void);

#endif
