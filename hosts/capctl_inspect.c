/* capctl_inspect.c: `capctl inspect`: explains a snapshot file: header, memory regions, freeze report. */
#include "hosts/capctl.h"
#include "hosts/snapfile.h"
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_report.h"

#include <arpa/inet.h>
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

static const char *tcp_state_name(uint32_t s)
{
	static const char *names[] = { "CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED",
	                               "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
	                               "LAST_ACK", "TIME_WAIT" };
	return s < sizeof names / sizeof names[0] ? names[s] : "UNKNOWN";
}

static const char *kind_name(uint32_t k)
{
	static const char *names[] = { "?", "console", "pipe-read", "pipe-write", "file", "dir",
	                               "dev", "tcp", "udp", "epoll" };
	return k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const char *thread_state(uint32_t s)
{
	return s == CAP_THREAD_RUNNABLE ? "runnable" : s == CAP_THREAD_BLOCKED ? "blocked"
	       : s == CAP_THREAD_CURRENT ? "current" : "?";
}

static void endpoint(char *out, size_t len, uint32_t ip, uint16_t port)
{
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip, a, sizeof a);
	snprintf(out, len, "%s:%u", a, port);
}

/* Text from the capsule, bounded and made printable: it is data, not trusted formatting. */
static void clean(char *out, const char *in, size_t max)
{
	size_t i = 0;
	for (; i < max && in[i]; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = 0;
}

/* The report, checked against its own counts; NULL (and why) if there is none usable. */
static const struct cap_report_header *load_report(const struct host_snap *s, uint8_t *buf,
                                                   struct cap_control *ctl, const char **why)
{
	if (host_snap_read_mem(s, 0, ctl, sizeof *ctl) ||
	    host_snap_read_mem(s, CAP_MEMFD_OFFSET(CAP_REPORT_ADDR), buf, CAP_REPORT_SIZE)) {
		*why = "read error";
		return NULL;
	}
	const struct cap_report_header *h = (const void *)buf;
	uint64_t need = sizeof *h + (uint64_t)h->nthreads * sizeof(struct cap_report_thread) +
	                (uint64_t)h->nfds * sizeof(struct cap_report_fd);
	if (ctl->report_size < sizeof *h || ctl->report_size > CAP_REPORT_SIZE ||
	    h->magic != CAP_REPORT_MAGIC || h->version != CAP_REPORT_VERSION ||
	    need > ctl->report_size) {
		*why = "no valid freeze report in this snapshot";
		return NULL;
	}
	return h;
}

static void print_fd_text(const struct cap_report_fd *f)
{
	char loc[32], rem[32], path[64];
	printf("  %-4d %-10s ", f->fd, kind_name(f->kind));
	if (f->kind == CAP_RFD_TCP || f->kind == CAP_RFD_UDP) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		if (f->kind == CAP_RFD_UDP) {
			printf("%s -> %s\n", loc, rem);
			return;
		}
		if (k->tcp_state == CAP_TCP_LISTEN || k->tcp_state == CAP_TCP_CLOSED) {
			printf("%-11s %s\n", tcp_state_name(k->tcp_state), loc);
			return;
		}
		printf("%-11s %s -> %s\n", tcp_state_name(k->tcp_state), loc, rem);
			printf("       snd_una %u snd_nxt %u rcv_nxt %u snd_wnd %u rcv_wnd %u\n"
			       "       bytes unsent %u, unacked %u, unread %u\n",
			       k->snd_una, k->snd_nxt, k->rcv_nxt, k->snd_wnd, k->rcv_wnd, k->unsent,
			       k->unacked, k->unread);
	} else if (f->kind == CAP_RFD_PIPE_R || f->kind == CAP_RFD_PIPE_W) {
		printf("%u of %u bytes buffered, other end %s\n", f->u.pipe.buffered,
		       f->u.pipe.capacity, f->u.pipe.peer_open ? "open" : "closed");
	} else if (f->kind == CAP_RFD_FILE || f->kind == CAP_RFD_DIR || f->kind == CAP_RFD_DEV) {
		clean(path, f->u.file.path, sizeof f->u.file.path);
		printf("%s size %llu offset %llu\n", path, (unsigned long long)f->u.file.size,
		       (unsigned long long)f->u.file.offset);
	} else {
		printf("\n");
	}
}

static void print_fd_json(const struct cap_report_fd *f)
{
	char loc[32], rem[32], path[64];
	printf("{\"fd\": %d, \"kind\": \"%s\", \"flags\": %u", f->fd, kind_name(f->kind), f->flags);
	if (f->kind == CAP_RFD_TCP || f->kind == CAP_RFD_UDP) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		printf(", \"proto\": \"%s\", \"local\": \"%s\", \"remote\": \"%s\"",
		       f->kind == CAP_RFD_TCP ? "tcp" : "udp", loc, rem);
		if (f->kind == CAP_RFD_TCP)
			printf(", \"tcp_state\": \"%s\", \"snd_una\": %u, \"snd_nxt\": %u, \"rcv_nxt\": %u, "
			       "\"snd_wnd\": %u, \"rcv_wnd\": %u, \"unsent\": %u, \"unacked\": %u, "
			       "\"unread\": %u", tcp_state_name(k->tcp_state), k->snd_una, k->snd_nxt,
			       k->rcv_nxt, k->snd_wnd, k->rcv_wnd, k->unsent, k->unacked, k->unread);
	} else if (f->kind == CAP_RFD_PIPE_R || f->kind == CAP_RFD_PIPE_W) {
		printf(", \"buffered\": %u, \"capacity\": %u, \"peer_open\": %s", f->u.pipe.buffered,
		       f->u.pipe.capacity, f->u.pipe.peer_open ? "true" : "false");
	} else if (f->kind == CAP_RFD_FILE || f->kind == CAP_RFD_DIR || f->kind == CAP_RFD_DEV) {
		clean(path, f->u.file.path, sizeof f->u.file.path);
		printf(", \"path\": ");
		capctl_json_str(path);
		printf(", \"size\": %llu, \"offset\": %llu", (unsigned long long)f->u.file.size,
		       (unsigned long long)f->u.file.offset);
	}
	printf("}");
}

static void print_text(const char *path, const struct host_snap *s, const struct region *r,
                       size_t nr, const struct cap_control *ctl,
                       const struct cap_report_header *rep, const char *why, const char *when)
{
	const struct cap_snap_header *h = &s->hdr;
	char ip[INET_ADDRSTRLEN], id[65];
	inet_ntop(AF_INET, &h->ip, ip, sizeof ip);
	host_hex(id, h->build_id, h->build_id_len);
	printf("snapshot %s\n", path);
	printf("  image      %s (build-id %s)\n", h->image_name, id);
	printf("             %s\n", h->image_path[0] ? h->image_path : "(path not recorded)");
	printf("  capsule    %s at %s, MTU %u, arena %llu MiB\n", h->capsule_name, ip, h->mtu,
	       (unsigned long long)(h->arena_size >> 20));
	printf("  frozen at  %.3f s of capsule time (freeze #%u)\n", h->frozen_at_ns / 1e9,
	       ctl->freeze_count);
	printf("  taken at   %s\n", when);
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
	const struct cap_report_thread *t = (const void *)(rep + 1);
	const struct cap_report_fd *f = (const void *)(t + rep->nthreads);
	printf("  (arena in use according to the capsule: %llu bytes)\n",
	       (unsigned long long)rep->arena_used);
	printf("\nthreads (%u)\n  %-5s %-9s %s\n", rep->nthreads, "TID", "STATE", "BLOCKED ON");
	for (uint32_t i = 0; i < rep->nthreads; i++) {
		char on[40];
		clean(on, t[i].blocked_on, sizeof t[i].blocked_on);
		printf("  %-5d %-9s %s", t[i].tid, thread_state(t[i].state), on);
		if (t[i].deadline_ns)
			printf(" (until %.3f s)", t[i].deadline_ns / 1e9);
		printf("\n");
	}
	printf("\ndescriptors (%u)\n  %-4s %-10s %s\n", rep->nfds, "FD", "KIND", "STATE");
	for (uint32_t i = 0; i < rep->nfds; i++)
		print_fd_text(&f[i]);
	if (rep->truncated)
		printf("\n(the capsule left entries out: its report area was full)\n");
}

static void print_json(const struct host_snap *s, const struct region *r, size_t nr,
                       const struct cap_control *ctl, const struct cap_report_header *rep,
                       const char *when)
{
	const struct cap_snap_header *h = &s->hdr;
	char ip[INET_ADDRSTRLEN], id[65];
	inet_ntop(AF_INET, &h->ip, ip, sizeof ip);
	host_hex(id, h->build_id, h->build_id_len);
	printf("{\"image\": {\"name\": \"%s\", \"path\": ", h->image_name);
	capctl_json_str(h->image_path);
	printf(", \"build_id\": \"%s\"},\n", id);
	printf(" \"capsule\": {\"name\": \"%s\", \"ip\": \"%s\", \"mtu\": %u, \"arena_size\": %llu, "
	       "\"frozen_at_ns\": %lld, \"freeze_count\": %u, \"taken_at_unix_ns\": %lld, "
	       "\"taken_at\": \"%s\"},\n", h->capsule_name, ip, h->mtu,
	       (unsigned long long)h->arena_size, (long long)h->frozen_at_ns, ctl->freeze_count,
	       (long long)h->taken_at_unix_ns, when);
	printf(" \"memory\": {\"file_size\": %llu, \"stored_bytes\": %llu, \"extents\": %u, "
	       "\"memfd_size\": %llu", (unsigned long long)s->file_size,
	       (unsigned long long)h->data_size, h->nextents, (unsigned long long)h->memfd_size);
	for (size_t i = 0; i < nr; i++)
		printf(", \"%s\": %llu", r[i].key, (unsigned long long)r[i].bytes);
	if (rep)
		printf(", \"arena_used\": %llu", (unsigned long long)rep->arena_used);
	printf("},\n \"threads\": [");
	const struct cap_report_thread *t = rep ? (const void *)(rep + 1) : NULL;
	for (uint32_t i = 0; rep && i < rep->nthreads; i++) {
		char on[40];
		clean(on, t[i].blocked_on, sizeof t[i].blocked_on);
		printf("%s{\"tid\": %d, \"state\": \"%s\", \"blocked_on\": ", i ? ", " : "", t[i].tid,
		       thread_state(t[i].state));
		capctl_json_str(on);
		printf(", \"deadline_ns\": %lld}", (long long)t[i].deadline_ns);
	}
	printf("],\n \"fds\": [");
	const struct cap_report_fd *f = rep ? (const void *)(t + rep->nthreads) : NULL;
	for (uint32_t i = 0; rep && i < rep->nfds; i++) {
		printf("%s", i ? ",\n   " : "");
		print_fd_json(&f[i]);
	}
	printf("],\n \"report_truncated\": %s}\n", rep && rep->truncated ? "true" : "false");
}

int capctl_inspect(int argc, char **argv)
{
	const char *path = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (!path)
			path = argv[i];
		else
			path = NULL, i = argc;
	}
	if (!path) {
		fprintf(stderr, "usage: capctl inspect [--json] FILE\n");
		return 2;
	}
	struct host_snap s;
	char err[256];
	if (host_snap_open(path, &s, err, sizeof err)) {
		fprintf(stderr, "capctl: inspect: %s: %s\n", path, err);
		return 2;
	}
	struct region r[] = {
		{ "control_and_report", "control page + report", 0, CAP_CONTROL_SIZE, 0 },
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
		print_json(&s, r, nr, &ctl, rep, when);
	else
		print_text(path, &s, r, nr, &ctl, rep, why, when);
	free(buf);
	host_snap_close(&s);
	return 0;
}
