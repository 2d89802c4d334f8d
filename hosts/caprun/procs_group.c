/* procs_group.c: process groups and sessions of a capsule, and kill() to any of its processes or groups: caprun answers CAP_MSG_PROC_REQ (docs/PROCESSES.md, section 6b). */
#include "hosts/caprun/procs.h"
#include "hosts/caprun/snapshot.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * Where a process's group and session live: its own control page, which the
 * host alone writes (cap_abi.h).  So they are in every snapshot and every
 * migration with the rest of its memory, the capsule reads them without
 * asking, and caprun keeps no table that could disagree with them.
 */
#define IDS_AT offsetof(struct cap_control, proc_pgid)
_Static_assert(offsetof(struct cap_control, proc_sid) == IDS_AT + 4, "pgid, then sid");

struct ids {
	int pgid, sid;
};

static int used(struct host_relay *r, int slot)
{
	return slot == 0 || (r->procs && r->procs->p[slot].used);
}

static struct ids ids_of(struct host_relay *r, int slot)
{
	uint32_t v[2] = { 0, 0 };
	int pid = procs_pid_of(r, slot);
	if (pread(procs_memfd_of(r, slot), v, sizeof v, IDS_AT) != (ssize_t)sizeof v)
		v[0] = v[1] = 0;
	struct ids out = { v[0] ? (int)v[0] : pid, v[1] ? (int)v[1] : pid };
	return out;
}

static int set_ids(struct host_relay *r, int slot, struct ids ids)
{
	uint32_t v[2] = { (uint32_t)ids.pgid, (uint32_t)ids.sid };
	return pwrite(procs_memfd_of(r, slot), v, sizeof v, IDS_AT) == (ssize_t)sizeof v ? 0 : -EIO;
}

/* A child's group changed: its parent hears it before any later CAP_MSG_CHILD (waitpid(-pgid)). */
static void tell_parent(struct host_relay *r, int slot, int pgid)
{
	if (slot == 0)
		return;
	int parent = procs_slot_of(r, r->procs->p[slot].ppid);
	struct cap_proc_pgid m = { procs_pid_of(r, slot), pgid };
	if (parent >= 0 && procs_deliver(r, parent, CAP_MSG_PGID, &m, sizeof m))
		fprintf(stderr, "caprun: capsule %s: telling process %d that %d changed group: %s\n",
		        r->name, procs_pid_of(r, parent), m.pid, strerror(errno));
}

/* Is the process in slot one kill(pid)'s targets, asked by the process in from? */
static int targeted(struct host_relay *r, int from, int slot, int pid)
{
	if (pid > 0)
		return procs_pid_of(r, slot) == pid;
	if (pid == -1)
		return slot != from && procs_pid_of(r, slot) != 1;
	int group = pid == 0 ? ids_of(r, from).pgid : -pid;
	return ids_of(r, slot).pgid == group;
}

static int do_kill(struct host_relay *r, int from, int pid, int sig, uint32_t *flags)
{
	if (sig < 0 || sig > 64 || pid == INT32_MIN)
		return -EINVAL;
	int found = 0;
	for (int i = 0; i < (r->procs ? CAP_PROC_MAX : 1); i++) {
		if (!used(r, i) || !targeted(r, from, i, pid))
			continue;
		found++;
		if (i == from)
			*flags |= CAP_PROC_REP_SELF;   /* its own signal runs in the caller, as raise() does */
		else if (sig)
			procs_kill(r, from, procs_pid_of(r, i), sig);
	}
	return found ? 0 : -ESRCH;
}

/* setpgid(pid, pgid) asked by from, with Linux's rules (setpgid(2)). */
static int do_setpgid(struct host_relay *r, int from, int pid, int pgid)
{
	if (pgid < 0)
		return -EINVAL;
	int t = pid == 0 ? from : procs_slot_of(r, pid);
	if (t < 0 || (t != from && r->procs->p[t].ppid != procs_pid_of(r, from)))
		return -ESRCH;   /* only the caller itself or one of its children */
	int tpid = procs_pid_of(r, t);
	if (pgid == 0)
		pgid = tpid;
	struct ids caller = ids_of(r, from), target = ids_of(r, t);
	if (target.sid != caller.sid || target.sid == tpid)
		return -EPERM;   /* another session, or a session leader */
	int exists = pgid == tpid;
	for (int i = 0; i < (r->procs ? CAP_PROC_MAX : 1) && !exists; i++) {
		struct ids other = used(r, i) ? ids_of(r, i) : (struct ids){ 0, 0 };
		exists = other.pgid == pgid && other.sid == caller.sid;
	}
	if (!exists)
		return -EPERM;   /* a group must exist in the caller's session, or be the target's own */
	target.pgid = pgid;
	int rc = set_ids(r, t, target);
	if (!rc)
		tell_parent(r, t, pgid);
	return rc;
}

static int do_setsid(struct host_relay *r, int from)
{
	int me = procs_pid_of(r, from);
	for (int i = 0; i < (r->procs ? CAP_PROC_MAX : 1); i++)
		if (used(r, i) && ids_of(r, i).pgid == me)
			return -EPERM;   /* a group leader (or its group lives on) cannot start a session */
	struct ids ids = { me, me };
	int rc = set_ids(r, from, ids);
	if (!rc)
		tell_parent(r, from, me);
	return rc ? rc : me;
}

static int do_get(struct host_relay *r, int from, int pid, int sid)
{
	int t = pid == 0 ? from : procs_slot_of(r, pid);
	if (t < 0)
		return pid < 0 ? -EINVAL : -ESRCH;
	struct ids ids = ids_of(r, t);
	return sid ? ids.sid : ids.pgid;
}

void procs_request(struct host_relay *r, int from, const unsigned char *payload, size_t len)
{
	struct cap_proc_req q;
	struct cap_proc_rep a = { -EINVAL, 0 };
	if (len < sizeof q) {
		r->stats.drop_bad_record++;
		return;
	}
	memcpy(&q, payload, sizeof q);
	/*
	 * A group or session changes a control page through the memfd, which
	 * pre-copy's write tracking does not see: never while the capsule is
	 * being frozen or copied.  The capsule asks again (runtime/proc.c).
	 */
	int copying = (r->procs && r->procs->holding) || r->freeze_seq || r->frozen || r->migrating ||
	              snapshot_busy();
	if ((q.op == CAP_PROC_SETPGID || q.op == CAP_PROC_SETSID) && copying)
		a.flags = CAP_PROC_REP_AGAIN;
	else if (q.op == CAP_PROC_KILL)
		a.result = do_kill(r, from, q.a, q.b, &a.flags);
	else if (q.op == CAP_PROC_SETPGID)
		a.result = do_setpgid(r, from, q.a, q.b);
	else if (q.op == CAP_PROC_SETSID)
		a.result = do_setsid(r, from);
	else if (q.op == CAP_PROC_GETPGID || q.op == CAP_PROC_GETSID)
		a.result = do_get(r, from, q.a, q.op == CAP_PROC_GETSID);
	int fd = from == 0 ? r->chan_fd : r->procs->p[from].chan_fd;
	if (procs_send_record(fd, CAP_MSG_PROC_REP, &a, sizeof a))
		fprintf(stderr, "caprun: capsule %s: answering process %d: %s\n", r->name,
		        procs_pid_of(r, from), strerror(errno));
}
