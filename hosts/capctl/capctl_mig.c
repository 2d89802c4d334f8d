/* capctl_mig.c: `capctl migrate NAME --to HOSTID [--json] [--svg FILE]`: ask the capsule's caprun to move it live, show progress, the timeline and each connection's gap. */
#include "hosts/capctl/capctl.h"
#include "hosts/capctl/capctl_svg.h"
#include "hosts/formats/ctlproto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The phases of the final "ok" line, in order (hosts/formats/ctlproto.h), and what each one covers. */
static const struct { const char *key, *what; } phases[] = {
	{ "sync", "peer hosts stop sending to it and queue (bounded)" },
	{ "freeze", "the capsule stops at its safe point" },
	{ "transfer", "its memory streams to the target (authenticated)" },
	{ "restore", "the target loads it, not running, and confirms" },
	{ "directory", "the target pulls it in the directory: the commit" },
	{ "flush", "the target starts it; peers send it what they queued" },
};
#define NPHASES (sizeof phases / sizeof phases[0])

_Static_assert(NPHASES == CAPCTL_MIG_PHASES, "capctl_svg.h counts the same phases");

static int connect_ctl(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int parse_ok(const char *line, struct mig_result *r)
{
	r->rounds = 0, r->precopy_ms = 0, r->precopy_bytes = 0, r->dirwait_ms = 0;
	r->processes = 1, r->procs_bytes = 0;
	int n = sscanf(line, "ok %u %u %ld %ld %ld %ld %ld %ld %ld %ld %llu %u %u %u %u %ld %llu %ld "
	               "%u %llu",
	               &r->target, &r->epoch, &r->ms[0], &r->ms[1], &r->ms[2], &r->ms[3], &r->ms[4],
	               &r->ms[5], &r->downtime, &r->total, &r->bytes, &r->asked, &r->acked, &r->from,
	               &r->rounds, &r->precopy_ms, &r->precopy_bytes, &r->dirwait_ms, &r->processes,
	               &r->procs_bytes);
	return n == 14 || n == 17 || n == 18 || n == 20 ? 0 : -1;
}

static void print_json(const char *name, const struct mig_result *r)
{
	printf("{\"name\": ");
	capctl_json_str(name);
	printf(", \"from\": %u, \"to\": %u, \"epoch\": %u, \"phases\": {", r->from, r->target,
	       r->epoch);
	for (size_t i = 0; i < NPHASES; i++)
		printf("%s\"%s_ms\": %ld", i ? ", " : "", phases[i].key, r->ms[i]);
	printf("}, \"downtime_ms\": %ld, \"total_ms\": %ld, \"bytes\": %llu, "
	       "\"precopy\": {\"rounds\": %u, \"ms\": %ld, \"bytes\": %llu}, "
	       "\"directory_wait_ms\": %ld, \"peers\": {\"asked\": %u, \"acked\": %u}, "
	       "\"processes\": {\"count\": %u, \"frozen_bytes\": %llu}, ",
	       r->downtime, r->total, r->bytes, r->rounds, r->precopy_ms, r->precopy_bytes,
	       r->dirwait_ms, r->asked, r->acked, r->processes, r->procs_bytes);
	/* Each TCP connection's longest silence, as the hosts measured it (capctl_gaps.c). */
	const struct mig_gaps *g = &r->gaps;
	printf("\"gaps\": {\"measured\": %s, ", g->measured ? "true" : "false");
	if (!g->measured) {
		printf("\"why\": ");
		capctl_json_str(g->why);
		printf(", ");
	}
	printf("\"hosts_asked\": %u, \"hosts_answered\": %u, \"more\": %u, \"waited_ms\": %ld}, "
	       "\"connections\": [", g->asked, g->answered, g->more, g->waited_ms);
	for (unsigned i = 0; i < g->n; i++) {
		const struct mig_conn *c = &g->conn[i];
		printf("%s{\"peer\": \"%s:%u\", \"capsule_port\": %u, \"host\": %u, \"gap_ms\": %ld, "
		       "\"start_ms\": %ld, \"resumed\": %s, \"from_sync\": %s}", i ? ", " : "", c->peer,
		       c->peer_port, c->capsule_port, c->host, c->gap_ms, c->start_ms,
		       c->resumed ? "true" : "false", c->from_sync ? "true" : "false");
	}
	printf("]}\n");
}

/* One line per connection: its silence to scale on the phases' axis (which starts at the SYNC
 * of the host that measured it: the sync phase's start, a network hop later). */
static void print_gaps(const struct mig_result *r, long total)
{
	const struct mig_gaps *g = &r->gaps;
	if (!g->measured) {
		printf("  connections: gaps not measured: %s\n", g->why);
		return;
	}
	printf("  connections: the longest silence each TCP peer heard from the capsule, measured by "
	       "the host passing its packets on (%u of %u hosts answered)\n", g->answered, g->asked);
	if (g->n == 0)
		printf("    (none: no TCP packet from the capsule to a peer since the SYNC)\n");
	for (unsigned i = 0; i < g->n; i++) {
		const struct mig_conn *c = &g->conn[i];
		char who[40];
		snprintf(who, sizeof who, "%s:%u", c->peer, c->peer_port);
		long at = r->precopy_ms + c->start_ms;
		int from = (int)(at * 40 / total), len = (int)(c->gap_ms * 40 / total);
		len = len < 1 ? 1 : len > 40 ? 40 : len;
		from = from < 0 ? 0 : from + len > 40 ? 40 - len : from;
		printf("  %-21s %s%5ld ms |%*s%.*s%*s|  port %u, host %u%s\n", who,
		       c->from_sync ? ">=" : "  ", c->gap_ms, from, "", len,
		       "========================================", 40 - from - len, "",
		       c->capsule_port, c->host, c->resumed ? "" : ", still silent");
	}
	if (g->more)
		printf("  (more connections than listed: %u packets or rows left out)\n", g->more);
}

/* A timeline a person can read: one bar per phase, to scale, and the downtime. */
static void print_timeline(const char *name, const struct mig_result *r)
{
	long total = r->total > 0 ? r->total : 1;
	if (r->rounds)
		printf("capsule %s migrated from host %u to host %u (directory epoch %u): %llu bytes of "
		       "memory in %u rounds while it ran, then %llu bytes frozen\n", name, r->from,
		       r->target, r->epoch, r->precopy_bytes, r->rounds, r->bytes);
	else
		printf("capsule %s migrated from host %u to host %u (directory epoch %u), %llu bytes of "
		       "memory\n", name, r->from, r->target, r->epoch, r->bytes);
	if (r->processes > 1)
		printf("  %u processes: pid 1's memory as above; the others' table, held records and "
		       "memory, %llu bytes, moved frozen (counted in the frozen bytes)\n", r->processes,
		       r->procs_bytes);
	long at = r->dirwait_ms + r->precopy_ms;
	if (r->dirwait_ms) {
		int len = (int)(r->dirwait_ms * 40 / total);
		len = len < 1 ? 1 : len > 40 ? 40 : len;
		printf("  %-9s %6ld ms  |%.*s%*s|  %s\n", "dir-wait", r->dirwait_ms, len,
		       "........................................", 40 - len, "",
		       "waited for the directory to commit again; the capsule ran here");
	}
	if (r->rounds) {
		int from = (int)(r->dirwait_ms * 40 / total), len = (int)(r->precopy_ms * 40 / total);
		len = len < 1 ? 1 : len > 40 ? 40 : len;
		if (from + len > 40)
			from = 40 - len;
		printf("  %-9s %6ld ms  |%*s%.*s%*s|  %s\n", "precopy", r->precopy_ms, from, "", len,
		       "########################################", 40 - from - len, "",
		       "memory streams while it runs, rounds of what changed");
	}
	for (size_t i = 0; i < NPHASES; i++) {
		int from = (int)(at * 40 / total), len = (int)(r->ms[i] * 40 / total);
		if (len < 1)
			len = 1;
		if (from + len > 40)
			from = 40 - len;
		printf("  %-9s %6ld ms  |%*s%.*s%*s|  %s\n", phases[i].key, r->ms[i], from, "", len,
		       "########################################", 40 - from - len, "", phases[i].what);
		at += r->ms[i];
	}
	printf("  %-9s %6ld ms  (the capsule ran nowhere: from the freeze until it ran on host %u)\n",
	       "downtime", r->downtime, r->target);
	printf("  %-9s %6ld ms  (%u of %u peer hosts synchronized)\n", "total", r->total, r->acked,
	       r->asked);
	print_gaps(r, total);
}

int capctl_migrate(int argc, char **argv)
{
	static const char usage[] = "migrate NAME --to HOSTID [--max-downtime MS] [--no-precopy] "
	                            "[--wait-directory SECONDS] [--json] [--svg FILE]";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "to", required_argument, NULL, 't' },
	                                      { "fault", required_argument, NULL, 'f' },   /* tests only */
	                                      { "json", no_argument, NULL, 'j' },
	                                      { "svg", required_argument, NULL, 's' },
	                                      { "max-downtime", required_argument, NULL, 'd' },
	                                      { "no-precopy", no_argument, NULL, 'n' },
	                                      { "wait-directory", required_argument, NULL, 'w' },
	                                      { 0, 0, 0, 0 } };
	const char *name = NULL, *to = NULL, *fault = NULL, *svg = NULL, *downtime = NULL;
	const char *dirwait = NULL;
	int json = 0, no_precopy = 0, o;
	while ((o = capctl_opt(argc, argv, "", opts, usage)) != -1) {
		if (o == 't')
			to = optarg;
		else if (o == 'f')
			fault = optarg;   /* hosts/formats/ctlproto.h */
		else if (o == 's')
			svg = optarg;     /* the timeline as a picture: capctl_svg.c */
		else if (o == 'd')
			downtime = optarg;
		else if (o == 'n')
			no_precopy = 1;
		else if (o == 'w')
			dirwait = optarg;
		else
			json = 1;
	}
	if (argc - optind == 1)
		name = argv[optind];
	char *end;
	unsigned long target = to ? strtoul(to, &end, 10) : 0;
	char *dend = NULL;
	long dms = downtime ? strtol(downtime, &dend, 10) : 0;
	if (!name || !to || *end || !*to || to[0] == '-' || target == 0 || target > 0xffffffffu ||
	    (fault && (!*fault || strpbrk(fault, " \n=")))) {
		return capctl_usage_error(usage);
	}
	if (downtime && (!*downtime || *dend || dms < 1 || dms > 60000)) {
		fprintf(stderr, "capctl: --max-downtime %s: give milliseconds, 1 to 60000\n", downtime);
		return 2;
	}
	char *wend = NULL;
	long wsec = dirwait ? strtol(dirwait, &wend, 10) : 0;
	if (dirwait && (!*dirwait || *wend || wsec < 0 || wsec > HOST_CTL_DIRWAIT_MAX_S)) {
		fprintf(stderr, "capctl: --wait-directory %s: give seconds, 0 to %d\n", dirwait,
		        HOST_CTL_DIRWAIT_MAX_S);
		return 2;
	}
	char sock[4096], req[256], err[PATH_MAX + 64], ps[HOST_CTL_LINE_MAX], ip[20] = "";
	if (svg && capctl_svg_check(svg, err, sizeof err)) {
		fprintf(stderr, "capctl: %s\n", err);
		return 2;
	}
	if (ctlsock_path(name, sock, sizeof sock) || strchr(name, '/')) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	/* Its address, to ask the hosts about its connections afterwards (caprun
	 * serves one connection at a time: asked before the migration's own). */
	if (ctlsock_request(sock, "ps\n", -1, ps, sizeof ps, 5000) == 0)
		sscanf(ps, "ok %*s %19s", ip);
	int fd = connect_ctl(sock);
	if (fd < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		else
			fprintf(stderr, "capctl: migrate %s: %s: %s\n", name, sock, strerror(errno));
		return 1;
	}
	char dt[32] = "", dw[32] = "";
	if (downtime)
		snprintf(dt, sizeof dt, " downtime=%ld", dms);
	if (dirwait)
		snprintf(dw, sizeof dw, " dirwait=%ld", wsec);
	snprintf(req, sizeof req, "migrate %lu%s%s%s%s%s\n", target, dt, dw,
	         no_precopy ? " precopy=0" : "", fault ? " " : "", fault ? fault : "");
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		fprintf(stderr, "capctl: migrate %s: %s: %s\n", name, sock, strerror(errno));
		close(fd);
		return 1;
	}
	/* Progress lines as phases end, then the result; a migration may take a while. */
	FILE *in = fdopen(fd, "r");
	char line[HOST_CTL_LINE_MAX + 256] = "";
	int code = 1, answered = 0;
	if (!in) {
		close(fd);
		return 1;
	}
	if (!json) {
		printf("migrating %s to host %lu\n", name, target);
		fflush(stdout);
	}
	while (fgets(line, sizeof line, in)) {
		line[strcspn(line, "\n")] = 0;
		if (strncmp(line, "progress ", 9) == 0) {
			fprintf(json ? stderr : stdout, "  %s\n", line + 9);
			fflush(json ? stderr : stdout);
			continue;
		}
		static struct mig_result r;
		memset(&r, 0, sizeof r);
		answered = 1;
		if (parse_ok(line, &r) == 0) {
			/* The connections' gaps: the hosts measured them; wait a little for those
			 * still silent (the first answer after the resume may be on its way). */
			if (ip[0])
				capctl_gaps_fetch(ip, r.epoch > 1 ? r.epoch - 1 : r.epoch, 2000, &r.gaps);
			else
				snprintf(r.gaps.why, sizeof r.gaps.why, "caprun did not say its address");
			if (json)
				print_json(name, &r);
			else
				print_timeline(name, &r);
			code = 0;
			if (svg && capctl_svg_write(svg, name, &r, err, sizeof err)) {
				fprintf(stderr, "capctl: migrate %s: the capsule moved, but its timeline was not "
				        "drawn: %s\n", name, err);
				code = 1;
			}
		} else {
			fprintf(stderr, "capctl: migrate %s to host %lu: %s\n", name, target,
			        strncmp(line, "error ", 6) == 0 ? line + 6 : line);
		}
		break;
	}
	if (!answered)
		fprintf(stderr, "capctl: migrate %s to host %lu: caprun ended without an answer; where the "
		        "capsule runs now, the directory says (capctl ps --all)\n", name, target);
	fclose(in);
	return code;
}
