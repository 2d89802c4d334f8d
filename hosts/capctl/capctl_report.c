/* capctl_report.c: checks and prints a snapshot's freeze report (threads, descriptors, TCP state) for `capctl inspect`. */
#include "hosts/capctl/capctl_report.h"
#include "capsule-abi/cap_abi.h"

#include <arpa/inet.h>
#include <stdio.h>

const struct cap_report_header *capctl_report_check(const uint8_t *buf, uint32_t report_size,
                                                    const char **why)
{
	const struct cap_report_header *h = (const void *)buf;
	uint64_t need = sizeof *h + (uint64_t)h->nthreads * sizeof(struct cap_report_thread) +
	                (uint64_t)h->nfds * sizeof(struct cap_report_fd);
	if (report_size < sizeof *h || report_size > CAP_REPORT_SIZE ||
	    h->magic != CAP_REPORT_MAGIC || h->version != CAP_REPORT_VERSION ||
	    need > report_size) {
		*why = "no valid freeze report in this snapshot";
		return NULL;
	}
	return h;
}

void capctl_report_json_fput(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
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
	static const char *event_names[] = { "eventfd", "timerfd", "signalfd", "unix", "tcp-relay",
	                                     "udp-relay" };
	if (k >= CAP_RFD_EVENTFD && k <= CAP_RFD_UDP_RELAY)
		return event_names[k - CAP_RFD_EVENTFD];
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

void capctl_report_printable(char *out, const char *in, size_t max)
{
	size_t i = 0;
	for (; i < max && in[i]; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = 0;
}

static const struct cap_report_thread *threads_of(const struct cap_report_header *rep)
{
	return (const void *)(rep + 1);
}

static const struct cap_report_fd *fds_of(const struct cap_report_header *rep)
{
	return (const void *)(threads_of(rep) + rep->nthreads);
}

static void fd_text(FILE *out, const struct cap_report_fd *f)
{
	char loc[32], rem[32], path[64];
	if (f->fd >= 0)
		fprintf(out, "  %-4d %-10s ", f->fd, kind_name(f->kind));
	else   /* pid 1: the stack's socket behind a shared one (tcp-relay, udp-relay) */
		fprintf(out, "  %-4s %-10s ", "-", kind_name(f->kind));
	if (f->kind == CAP_RFD_TCP_RELAY) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		if (k->tcp_state == CAP_TCP_LISTEN)
			fprintf(out, "%-11s %s, %u connections queued\n", tcp_state_name(k->tcp_state), loc,
			        k->unread);
		else
			fprintf(out, "%-11s %s -> %s, %u bytes unread (relayed by pid 1)\n",
			        tcp_state_name(k->tcp_state), loc, rem, k->unread);
		return;
	}
	if (f->kind == CAP_RFD_UDP_RELAY) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		fprintf(out, "%s -> %s, %u datagrams unread, %u unsent (relayed by pid 1)\n", loc, rem,
		        k->unread, k->unsent);
		return;
	}
	if (f->kind == CAP_RFD_TCP || f->kind == CAP_RFD_UDP) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		if (f->kind == CAP_RFD_UDP) {
			fprintf(out, "%s -> %s\n", loc, rem);
			return;
		}
		if (k->tcp_state == CAP_TCP_LISTEN || k->tcp_state == CAP_TCP_CLOSED) {
			fprintf(out, "%-11s %s\n", tcp_state_name(k->tcp_state), loc);
			return;
		}
		fprintf(out, "%-11s %s -> %s\n", tcp_state_name(k->tcp_state), loc, rem);
		fprintf(out, "       snd_una %u snd_nxt %u rcv_nxt %u snd_wnd %u rcv_wnd %u\n"
		        "       bytes unsent %u, unacked %u, unread %u\n",
		        k->snd_una, k->snd_nxt, k->rcv_nxt, k->snd_wnd, k->rcv_wnd, k->unsent,
		        k->unacked, k->unread);
	} else if (f->kind == CAP_RFD_PIPE_R || f->kind == CAP_RFD_PIPE_W || f->kind == CAP_RFD_UNIX) {
		fprintf(out, "%u of %u bytes buffered, other end %s\n", f->u.pipe.buffered,
		        f->u.pipe.capacity, f->u.pipe.peer_open ? "open" : "closed");
	} else if (f->kind == CAP_RFD_FILE || f->kind == CAP_RFD_DIR || f->kind == CAP_RFD_DEV) {
		capctl_report_printable(path, f->u.file.path, sizeof f->u.file.path);
		fprintf(out, "%s size %llu offset %llu\n", path, (unsigned long long)f->u.file.size,
		        (unsigned long long)f->u.file.offset);
	} else if (f->kind == CAP_RFD_EVENTFD) {
		fprintf(out, "count %llu%s\n", (unsigned long long)f->u.eventfd.count,
		        f->u.eventfd.semaphore ? " (semaphore)" : "");
	} else if (f->kind == CAP_RFD_TIMERFD) {
		fprintf(out, "%s, next in %lld ns, interval %llu ns, %llu expirations unread\n",
		        f->u.timer.clock == 0 ? "realtime" : "monotonic", (long long)f->u.timer.next_ns,
		        (unsigned long long)f->u.timer.interval_ns, (unsigned long long)f->u.timer.expirations);
	} else if (f->kind == CAP_RFD_SIGNALFD) {
		fprintf(out, "mask %#llx pending %#llx\n", (unsigned long long)f->u.signalfd.mask,
		        (unsigned long long)f->u.signalfd.pending);
	} else {
		fprintf(out, "\n");
	}
}

static void fd_json(FILE *out, const struct cap_report_fd *f)
{
	char loc[32], rem[32], path[64];
	fprintf(out, "{\"fd\": %d, \"kind\": \"%s\", \"flags\": %u", f->fd, kind_name(f->kind),
	        f->flags);
	if (f->kind == CAP_RFD_TCP_RELAY) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		fprintf(out, ", \"proto\": \"tcp\", \"local\": \"%s\", \"remote\": \"%s\", "
		        "\"tcp_state\": \"%s\", \"unread\": %u", loc, rem, tcp_state_name(k->tcp_state),
		        k->unread);
	} else if (f->kind == CAP_RFD_UDP_RELAY) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		fprintf(out, ", \"proto\": \"udp\", \"local\": \"%s\", \"remote\": \"%s\", "
		        "\"unread\": %u, \"unsent\": %u", loc, rem, k->unread, k->unsent);
	} else if (f->kind == CAP_RFD_TCP || f->kind == CAP_RFD_UDP) {
		const struct cap_report_sock *k = &f->u.sock;
		endpoint(loc, sizeof loc, k->local_ip, k->local_port);
		endpoint(rem, sizeof rem, k->remote_ip, k->remote_port);
		fprintf(out, ", \"proto\": \"%s\", \"local\": \"%s\", \"remote\": \"%s\"",
		        f->kind == CAP_RFD_TCP ? "tcp" : "udp", loc, rem);
		if (f->kind == CAP_RFD_TCP)
			fprintf(out, ", \"tcp_state\": \"%s\", \"snd_una\": %u, \"snd_nxt\": %u, "
			        "\"rcv_nxt\": %u, \"snd_wnd\": %u, \"rcv_wnd\": %u, \"unsent\": %u, "
			        "\"unacked\": %u, \"unread\": %u", tcp_state_name(k->tcp_state), k->snd_una,
			        k->snd_nxt, k->rcv_nxt, k->snd_wnd, k->rcv_wnd, k->unsent, k->unacked,
			        k->unread);
	} else if (f->kind == CAP_RFD_PIPE_R || f->kind == CAP_RFD_PIPE_W || f->kind == CAP_RFD_UNIX) {
		fprintf(out, ", \"buffered\": %u, \"capacity\": %u, \"peer_open\": %s",
		        f->u.pipe.buffered, f->u.pipe.capacity, f->u.pipe.peer_open ? "true" : "false");
	} else if (f->kind == CAP_RFD_FILE || f->kind == CAP_RFD_DIR || f->kind == CAP_RFD_DEV) {
		capctl_report_printable(path, f->u.file.path, sizeof f->u.file.path);
		fprintf(out, ", \"path\": ");
		capctl_report_json_fput(out, path);
		fprintf(out, ", \"size\": %llu, \"offset\": %llu", (unsigned long long)f->u.file.size,
		        (unsigned long long)f->u.file.offset);
	} else if (f->kind == CAP_RFD_EVENTFD) {
		fprintf(out, ", \"count\": %llu, \"semaphore\": %s", (unsigned long long)f->u.eventfd.count,
		        f->u.eventfd.semaphore ? "true" : "false");
	} else if (f->kind == CAP_RFD_TIMERFD) {
		fprintf(out, ", \"clock\": \"%s\", \"next_ns\": %lld, \"interval_ns\": %llu, \"expirations\": %llu",
		        f->u.timer.clock == 0 ? "realtime" : "monotonic", (long long)f->u.timer.next_ns,
		        (unsigned long long)f->u.timer.interval_ns, (unsigned long long)f->u.timer.expirations);
	} else if (f->kind == CAP_RFD_SIGNALFD) {
		fprintf(out, ", \"mask\": %llu, \"pending\": %llu", (unsigned long long)f->u.signalfd.mask,
		        (unsigned long long)f->u.signalfd.pending);
	}
	fprintf(out, "}");
}

void capctl_report_text(FILE *out, const struct cap_report_header *rep)
{
	const struct cap_report_thread *t = threads_of(rep);
	const struct cap_report_fd *f = fds_of(rep);
	fprintf(out, "  (arena in use according to the capsule: %llu bytes)\n",
	        (unsigned long long)rep->arena_used);
	fprintf(out, "\nthreads (%u)\n  %-5s %-9s %s\n", rep->nthreads, "TID", "STATE", "BLOCKED ON");
	for (uint32_t i = 0; i < rep->nthreads; i++) {
		char on[40];
		capctl_report_printable(on, t[i].blocked_on, sizeof t[i].blocked_on);
		fprintf(out, "  %-5d %-9s %s", t[i].tid, thread_state(t[i].state), on);
		if (t[i].deadline_ns)
			fprintf(out, " (until %.3f s)", t[i].deadline_ns / 1e9);
		fprintf(out, "\n");
	}
	fprintf(out, "\ndescriptors (%u)\n  %-4s %-10s %s\n", rep->nfds, "FD", "KIND", "STATE");
	for (uint32_t i = 0; i < rep->nfds; i++)
		fd_text(out, &f[i]);
	if (rep->truncated)
		fprintf(out, "\n(the capsule left entries out: its report area was full)\n");
}

void capctl_report_json(FILE *out, const struct cap_report_header *rep)
{
	fprintf(out, " \"threads\": [");
	const struct cap_report_thread *t = rep ? threads_of(rep) : NULL;
	for (uint32_t i = 0; rep && i < rep->nthreads; i++) {
		char on[40];
		capctl_report_printable(on, t[i].blocked_on, sizeof t[i].blocked_on);
		fprintf(out, "%s{\"tid\": %d, \"state\": \"%s\", \"blocked_on\": ", i ? ", " : "",
		        t[i].tid, thread_state(t[i].state));
		capctl_report_json_fput(out, on);
		fprintf(out, ", \"deadline_ns\": %lld}", (long long)t[i].deadline_ns);
	}
	fprintf(out, "],\n \"fds\": [");
	const struct cap_report_fd *f = rep ? fds_of(rep) : NULL;
	for (uint32_t i = 0; rep && i < rep->nfds; i++) {
		fprintf(out, "%s", i ? ",\n   " : "");
		fd_json(out, &f[i]);
	}
	fprintf(out, "],\n \"report_truncated\": %s", rep && rep->truncated ? "true" : "false");
}

void capctl_report_blocked(const struct cap_report_header *rep, char *out, size_t len)
{
	size_t used = 0;
	snprintf(out, len, "%s", rep ? "" : "?");
	const struct cap_report_thread *t = rep ? threads_of(rep) : NULL;
	for (uint32_t i = 0; rep && i < rep->nthreads && used + 1 < len; i++) {
		char on[40];
		capctl_report_printable(on, t[i].blocked_on, sizeof t[i].blocked_on);
		int n = snprintf(out + used, len - used, "%s%s", i ? "; " : "", on[0] ? on : "running");
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
