/* capctl_inspect.c: `capctl inspect`: explains a snapshot file: header, memory regions, freeze report. */
#include "hosts/capctl/capctl.h"
#include "hosts/capctl/capctl_report.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/snapauth.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapprocs.h"
#include "capsule-abi/cap_proc.h"
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_held.h"
#include "capsule-abi/cap_report.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The windows of capsule memory a snapshot can hold (cap_abi.h), to say where its bytes are. */
struct region {
	const char *key, *label;
	uint64_t start, end;
	uint64_t bytes;
};

static void sum_regions(const struct host_snap *s, struct region *r, size_t n)
{
	for (uint32_t i = 0; i < s->hdr.nextents; i++) {
		uint64_t lo = s->ext[i].offset, hi = lo + s->ext[i].length;
		for (size_t k = 0; k < n; k++) {
			uint64_t a = lo > r[k].start ? lo : r[k].start, b = hi < r[k].end ? hi : r[k].end;
			if (a < b)
				r[k].bytes += b - a;
		}
	}
}

/* The control page and the report area; the report checked against its own counts, or NULL + why. */
static const struct cap_report_header *load_report(const struct host_snap *s, uint8_t *buf,
                                                   struct cap_control *ctl, const char **why)
{
	if (snapfile_read_mem(s, 0, ctl, sizeof *ctl) ||
	    snapfile_read_mem(s, CAP_MEMFD_OFFSET(CAP_REPORT_ADDR), buf, CAP_REPORT_SIZE)) {
		*why = "read error";
		return NULL;
	}
	return capctl_report_check(buf, ctl->report_size, why);
}

/* Process i of a version 4 snapshot: what its threads wait for (from its own freeze report). */
static void proc_blocked(const struct host_snap *s, uint32_t i, uint8_t *buf, char *out, size_t len)
{
	struct cap_control ctl;
	const char *why;
	const struct cap_report_header *rep = NULL;
	if (snapprocs_read_mem(s, i, 0, &ctl, sizeof ctl) == 0 &&
	    snapprocs_read_mem(s, i, CAP_MEMFD_OFFSET(CAP_REPORT_ADDR), buf, CAP_REPORT_SIZE) == 0)
		rep = capctl_report_check(buf, ctl.report_size, &why);
	capctl_report_blocked(rep, out, len);
}

/* A record caprun held for a process as the capsule froze, for people. */
static void held_text(const struct cap_snap_held *h, char *out, size_t len)
{
	int32_t a, b;
	memcpy(&a, h->payload, sizeof a);
	memcpy(&b, h->payload + 4, sizeof b);
	if (h->type == CAP_MSG_CHILD)
		snprintf(out, len, "child %d ended (wait status %#x)", a, (unsigned)b);
	else if (h->type == CAP_MSG_SIGNAL)
		snprintf(out, len, "signal %d from pid %d", b, a);
	else if (h->type == CAP_MSG_PGID)
		snprintf(out, len, "child %d now in group %d", a, b);
	else if (h->type == CAP_MSG_LOST)
		snprintf(out, len, "process %d (slot %d) ended holding shared ends", b, a);
	else
		snprintf(out, len, "wake-up");
}

/* The process tree of a snapshot of several processes (nothing for one). */
static void print_procs(const struct host_snap *s, uint8_t *buf, int json)
{
	const struct snap_procs *p = s->procs;
	if (!p)
		return;
	if (json)
		printf(",\n \"processes\": [");
	else {
		printf("\n");
		capctl_procs_heading(p->t.nprocs, "STORED", "THREADS BLOCKED ON");
	}
	for (uint32_t i = 0; i < p->t.nprocs; i++) {
		const struct cap_snap_proc *e = &p->e[i];
		char blocked[256], held[80];
		uint64_t stored = i ? e->data_size : s->hdr.data_size;
		proc_blocked(s, i, buf, blocked, sizeof blocked);
		struct cap_snap_program prog = { 0 };
		if (e->program)
			memcpy(&prog, &p->programs[e->program - 1], sizeof prog);
		if (json) {
			printf("%s{\"pid\": %d, \"ppid\": %d, \"slot\": %u, \"stored_bytes\": %llu, "
			       "\"blocked_on\": ", i ? ",\n   " : "", e->pid, e->ppid, e->slot,
			       (unsigned long long)stored);
			capctl_report_json_fput(stdout, blocked);
			printf(", \"program\": ");
			capctl_report_json_fput(stdout, e->program ? prog.path : "");
			printf(", \"held\": [");
		} else {
			capctl_procs_row(e->pid, e->ppid, e->slot, (unsigned long long)stored, blocked);
			if (e->program)
				printf("        runs %s (%s) since its exec\n", prog.name, prog.path);
		}
		for (uint32_t k = 0; k < e->nheld; k++) {
			struct cap_snap_held h;
			memcpy(&h, &p->held[i][k], sizeof h);
			held_text(&h, held, sizeof held);
			if (json) {
				printf("%s", k ? ", " : "");
				capctl_report_json_fput(stdout, held);
			} else {
				printf("        on its way to pid %d: %s\n", e->pid, held);
			}
		}
		if (json)
			printf("]}");
	}
	if (json)
		printf("], \"next_pid\": %u", p->t.next_pid);
	else
		capctl_procs_next(p->t.next_pid);
}

/* Whether this host can authenticate the snapshot: inspect shows it, it never refuses for it. */
struct auth {
	char id[2 * CAP_SNAP_KEY_ID_LEN + 1];
	int verified;
	const char *kind;            /* the key that verified it: "cluster" or "host" */
	char problem[PATH_MAX + 256];
};

/*
 * Also, once verified, version 5's chunk tags, which only the key checks (the open could
 * not): -1 with the bad chunk's line in err, a corrupt file as the open refuses one before
 * version 5.  Without the key those chunks stay unchecked, as the file stays unverified.
 */
static int check_auth(struct host_snap *s, struct auth *a, char *err, size_t errlen)
{
	struct snap_keyring ring;
	const struct snap_key *k = NULL;
	char why[PATH_MAX + 128];
	memset(a, 0, sizeof *a);
	snapauth_id_hex(s->hdr.key_id, a->id);
	if (snapauth_keyring_load(&ring, why, sizeof why)) {
		snprintf(a->problem, sizeof a->problem, "not checked: %s", why);
		return 0;
	}
	a->verified = snapfile_authenticate(s, &ring, &k, a->problem, sizeof a->problem) == 0;
	a->kind = a->verified ? snapauth_kind_name(k->kind) : NULL;
	int r = a->verified ? snapfile_key_chunks(s, k, err, errlen) : 0;
	snapauth_keyring_wipe(&ring);
	return r;
}

static void print_text(const char *path, const struct host_snap *s, const struct region *r,
                       size_t nr, const struct cap_control *ctl, const struct auth *a,
                       const struct cap_report_header *rep, const char *why, const char *when)
{
	const struct cap_snap_header *h = &s->hdr;
	char ip[INET_ADDRSTRLEN], id[65];
	inet_ntop(AF_INET, &h->ip, ip, sizeof ip);
	snapfile_hex(id, h->build_id, h->build_id_len);
	printf("snapshot %s\n", path);
	printf("  image      %s (build-id %s)\n", h->image_name, id);
	char where[sizeof h->image_path];
	capctl_report_printable(where, h->image_path, sizeof where - 1);
	printf("             %s\n", where[0] ? where : "(path not recorded)");
	printf("  capsule    %s at %s, MTU %u, arena %llu MiB\n", h->capsule_name, ip, h->mtu,
	       (unsigned long long)(h->arena_size >> 20));
	printf("  frozen at  %.3f s of capsule time (freeze #%u)\n", h->frozen_at_ns / 1e9,
	       ctl->freeze_count);
	printf("  taken at   %s\n", when);
	if (a->verified)
		printf("  key        %s: verified with this host's %s key\n", a->id, a->kind);
	else
		printf("  key        %s: NOT verified on this host: %s\n", a->id, a->problem);
	printf("  file       %llu bytes holding %llu bytes of memory in %u extents "
	       "(the memory spans %llu bytes; the rest was never written)\n",
	       (unsigned long long)s->file_size, (unsigned long long)h->data_size, h->nextents,
	       (unsigned long long)h->memfd_size);
	printf("\nmemory stored, by region\n");
	for (size_t i = 0; i < nr; i++)
		printf("  %-24s %12llu bytes\n", r[i].label, (unsigned long long)r[i].bytes);
	if (!rep) {
		printf("\nfreeze report: %s\n", why);
		return;
	}
	capctl_report_text(stdout, rep);
}

static void print_json(const struct host_snap *s, const struct region *r, size_t nr,
                       const struct cap_control *ctl, const struct auth *a,
                       const struct cap_report_header *rep, const char *when)
{
	const struct cap_snap_header *h = &s->hdr;
	char ip[INET_ADDRSTRLEN], id[65];
	inet_ntop(AF_INET, &h->ip, ip, sizeof ip);
	snapfile_hex(id, h->build_id, h->build_id_len);
	printf("{\"image\": {\"name\": \"%s\", \"path\": ", h->image_name);
	capctl_json_str(h->image_path);
	printf(", \"build_id\": \"%s\"},\n", id);
	printf(" \"capsule\": {\"name\": \"%s\", \"ip\": \"%s\", \"mtu\": %u, \"arena_size\": %llu, "
	       "\"frozen_at_ns\": %lld, \"freeze_count\": %u, \"taken_at_unix_ns\": %lld, "
	       "\"taken_at\": \"%s\"},\n", h->capsule_name, ip, h->mtu,
	       (unsigned long long)h->arena_size, (long long)h->frozen_at_ns, ctl->freeze_count,
	       (long long)h->taken_at_unix_ns, when);
	printf(" \"key\": {\"id\": \"%s\", \"verified\": %s, \"verified_with\": ", a->id,
	       a->verified ? "true" : "false");
	if (a->verified)
		printf("\"%s\", \"problem\": null},\n", a->kind);
	else {
		printf("null, \"problem\": ");
		capctl_json_str(a->problem);
		printf("},\n");
	}
	printf(" \"memory\": {\"file_size\": %llu, \"stored_bytes\": %llu, \"extents\": %u, "
	       "\"memfd_size\": %llu", (unsigned long long)s->file_size,
	       (unsigned long long)h->data_size, h->nextents, (unsigned long long)h->memfd_size);
	for (size_t i = 0; i < nr; i++)
		printf(", \"%s\": %llu", r[i].key, (unsigned long long)r[i].bytes);
	if (rep)
		printf(", \"arena_used\": %llu", (unsigned long long)rep->arena_used);
	printf("},\n");
	capctl_report_json(stdout, rep);
}

int capctl_inspect(int argc, char **argv)
{
	static const char usage[] = "inspect [--json] FILE";
	int json;
	const char *path = capctl_json_arg(argc, argv, usage, &json);
	if (!path)
		return 2;
	struct host_snap s;
	char err[PATH_MAX + 256];
	int fd = fileio_open_regular(path, err, sizeof err);
	if (fd < 0 || snapfile_open_fd(fd, &s, NULL, err, sizeof err)) {
		fprintf(stderr, "capctl: inspect: %s: %s\n", path, err);
		return 2;
	}
	struct auth a;
	if (check_auth(&s, &a, err, sizeof err)) {
		fprintf(stderr, "capctl: inspect: %s: %s\n", path, err);
		snapfile_close(&s);
		return 2;
	}
	struct region r[] = {
		{ "control_and_report", "control page + report", 0, CAP_CONTROL_SIZE, 0 },
		{ "held_packets", "packets held while frozen", CAP_MEMFD_OFFSET(CAP_HELD_ADDR),
		  CAP_MEMFD_OFFSET(CAP_HELD_ADDR) + CAP_HELD_SIZE, 0 },
		{ "main_stack", "main stack", CAP_MEMFD_OFFSET(CAP_STACK_LOW),
		  CAP_MEMFD_OFFSET(CAP_STACK_TOP), 0 },
		{ "image_data", "image .data/.bss", CAP_MEMFD_OFFSET(CAP_IMAGE_BASE),
		  CAP_MEMFD_OFFSET(CAP_IMAGE_LIMIT), 0 },
		{ "arena", "arena (heap, threads)", CAP_MEMFD_OFFSET(CAP_ARENA_BASE), s.hdr.memfd_size, 0 },
	};
	size_t nr = sizeof r / sizeof r[0];
	sum_regions(&s, r, nr);
	uint8_t *buf = malloc(CAP_REPORT_SIZE);
	struct cap_control ctl;
	const char *why = "out of memory";
	const struct cap_report_header *rep = buf ? load_report(&s, buf, &ctl, &why) : NULL;
	if (!buf)
		memset(&ctl, 0, sizeof ctl);
	char when[64];
	time_t secs = (time_t)(s.hdr.taken_at_unix_ns / 1000000000);
	struct tm tm;
	if (gmtime_r(&secs, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(when, sizeof when, "?");
	if (json)
		print_json(&s, r, nr, &ctl, &a, rep, when);
	else
		print_text(path, &s, r, nr, &ctl, &a, rep, why, when);
	uint8_t *pbuf = malloc(CAP_REPORT_SIZE);   /* rep points into buf: each process gets its own */
	if (pbuf)
		print_procs(&s, pbuf, json);
	free(pbuf);
	if (json)
		printf("}\n");
	free(buf);
	snapfile_close(&s);
	return 0;
}
