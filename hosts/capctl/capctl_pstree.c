/* capctl_pstree.c: the process table as capctl prints it: a snapshot's (capctl inspect) and a running capsule's, asked of its caprun with `procs` (capctl ps --tree). */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/ctlproto.h"
#include "capsule-abi/cap_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(CAPCTL_PSTREE_MAX == CAP_PROC_MAX, "a capsule's processes fit the table");

void capctl_procs_heading(unsigned n, const char *bytes_title, const char *last_title)
{
	printf("processes (%u), as the capsule sees them\n  %-5s %-5s %-5s %-12s %s\n", n, "PID", "PPID",
	       "SLOT", bytes_title, last_title);
}

void capctl_procs_row(int pid, int ppid, unsigned slot, unsigned long long bytes, const char *last)
{
	printf("  %-5d %-5d %-5u %-12llu %s\n", pid, ppid, slot, bytes, last);
}

void capctl_procs_next(unsigned next_pid)
{
	printf("  (the next fork gets pid %u)\n", next_pid);
}

int capctl_pstree_ask(const char *sock_path, int timeout_ms, struct capctl_pstree *t)
{
	static char reply[HOST_CTL_REPLY_MAX];
	int off = 0;
	memset(t, 0, sizeof *t);
	if (ctlsock_request(sock_path, "procs\n", -1, reply, sizeof reply, timeout_ms) ||
	    sscanf(reply, "ok %d %d%n", &t->next_pid, &t->n, &off) < 2 || t->n < 1 ||
	    t->n > CAPCTL_PSTREE_MAX)
		return -1;
	for (int i = 0; i < t->n; i++) {
		struct capctl_pstree_proc *p = &t->p[i];
		int used = 0;
		if (sscanf(reply + off, " %d,%d,%u,%d,%d,%ld,%llu%n", &p->pid, &p->ppid, &p->slot, &p->pgid,
		           &p->sid, &p->host_pid, &p->memory, &used) < 7)
			return -1;
		off += used;
	}
	return 0;
}

/* Rows in tree order: parent's children by pid, each followed by its own (n rows so far). */
static int tree_order(const struct capctl_pstree *t, int parent, int *order, int n, int depth)
{
	for (int last = 0; n < CAPCTL_PSTREE_MAX;) {
		int best = -1;
		for (int i = 0; i < t->n; i++)
			if (t->p[i].ppid == parent && t->p[i].pid > last &&
			    (best < 0 || t->p[i].pid < t->p[best].pid))
				best = i;
		if (best < 0)
			break;
		order[n++] = best;
		last = t->p[best].pid;
		if (depth < CAPCTL_PSTREE_MAX)   /* a table with a loop in it ends too */
			n = tree_order(t, last, order, n, depth + 1);
	}
	return n;
}

void capctl_pstree_print(const struct capctl_pstree *t, int json)
{
	int order[CAPCTL_PSTREE_MAX], n = tree_order(t, 0, order, 0, 0);
	for (int i = 0; i < t->n && n < t->n; i++) {   /* one whose parent is not in the table */
		int listed = 0;
		for (int k = 0; k < n; k++)
			listed |= order[k] == i;
		if (!listed)
			order[n++] = i;
	}
	if (!json)
		capctl_procs_heading((unsigned)t->n, "MEMORY", "GROUP SESSION HOST-PID");
	for (int k = 0; k < n; k++) {
		const struct capctl_pstree_proc *p = &t->p[order[k]];
		if (json) {
			printf("%s{\"pid\": %d, \"ppid\": %d, \"slot\": %u, \"pgid\": %d, \"sid\": %d, "
			       "\"host_pid\": %ld, \"memory_bytes\": %llu}", k ? ", " : "", p->pid, p->ppid,
			       p->slot, p->pgid, p->sid, p->host_pid, p->memory);
		} else {
			char last[64];
			snprintf(last, sizeof last, "%-5d %-7d %ld", p->pgid, p->sid, p->host_pid);
			capctl_procs_row(p->pid, p->ppid, p->slot, p->memory, last);
		}
	}
	if (!json)
		capctl_procs_next((unsigned)t->next_pid);
}
