/* capdir.c: command-line client of the directory (for people and tests): create, move, lookup, list, stats, watch. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/common/cli.h"
#include "hosts/common/dirclient.h"

static const char *prog = "capdir";

static const char usage_text[] =
	        "usage: capdir --dir ADDR[:PORT][,ADDR[:PORT]...] --host-id N --keys FILE [--network-id N] COMMAND\n"
	        "  hello ADDR PORT            announce this host's data-plane locator\n"
	        "  create NAME [IP]           new capsule on this host\n"
	        "  move IP HOST EPOCH         move IP to HOST (EPOCH = its current epoch)\n"
	        "  lookup IP [--subscribe]    where IP is\n"
	        "  release IP EPOCH           forget IP\n"
	        "  state IP EPOCH STATE       report IP running|frozen|saved (holder only)\n"
	        "  host ID                    the data-plane locator host ID announced\n"
	        "  list [--json]              every capsule\n"
	        "  stats [--json]             the directory's counters\n"
	        "  watch IP [COUNT [SECONDS]] lookup+subscribe, then print COUNT notifications\n"
	        "       capdir -h | --help | -V | --version\n"
	        "Exit status: 0 done; 1 the directory refused or did not answer; 2 bad usage or input.\n";

static int usage(void)
{
	fputs(usage_text, stderr);
	return 2;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || n > UINT32_MAX)
		return -1;
	*v = (uint32_t)n;
	return 0;
}

static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

static const char *ipstr(uint32_t ip, char buf[INET_ADDRSTRLEN])
{
	struct in_addr a = { htonl(ip) };
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* One line for a failed request: "capdir: move 198.18.0.2: STALE_EPOCH (current epoch 2)". */
static int fail(const char *what, const char *arg, int rc, int has_epoch, uint32_t epoch,
                const char *dir)
{
	if (rc > 0 && has_epoch && (rc == DIR_E_STALE_EPOCH || rc == DIR_E_NOT_AUTHORIZED))
		fprintf(stderr, "%s: %s %s: %s (current epoch %u)\n", prog, what, arg,
		        dirproto_error_name(rc), epoch);
	else if (rc > 0)
		fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, dirproto_error_name(rc));
	else if (rc == DIRC_ERR_TIMEOUT)
		fprintf(stderr, "%s: %s %s: no answer from the directory at %s\n", prog, what, arg, dir);
	else if (rc == DIRC_ERR_ARG)
		fprintf(stderr, "%s: %s %s: invalid argument\n", prog, what, arg);
	else
		fprintf(stderr, "%s: %s %s: %s\n", prog, what, arg, strerror(errno));
	return 1;
}

static void print_entry(const char *tag, const struct dir_entry *e, int json)
{
	char ip[INET_ADDRSTRLEN], ha[INET_ADDRSTRLEN];
	if (json)
		printf("{\"ip\":\"%s\",\"name\":\"%s\",\"host\":%u,\"host_addr\":\"%s\",\"data_port\":%u,"
		       "\"epoch\":%u,\"state\":\"%s\"}", ipstr(e->ip, ip), e->name, e->host_id,
		       ipstr(e->host_addr, ha), e->data_port, e->epoch, dirproto_state_name(e->state));
	else
		printf("%s%s %s host %u at %s:%u epoch %u\n", tag, ipstr(e->ip, ip), e->name, e->host_id,
		       ipstr(e->host_addr, ha), e->data_port, e->epoch);
}

static int cmd_list(struct dirc *c, int json, const char *dir)
{
	uint32_t cursor = 0, next;
	struct dir_entry e[DIR_LIST_MAX];
	int first = 1;
	if (json)
		printf("[");
	do {
		size_t n;
		int rc = dirclient_sync_list(c, cursor, e, DIR_LIST_MAX, &n, &next);
		if (rc) {
			if (json)
				printf("]\n");
			return fail("list", "", rc, 0, 0, dir);
		}
		for (size_t i = 0; i < n; i++) {
			if (json && !first)
				printf(",");
			print_entry("", &e[i], json);
			first = 0;
		}
		cursor = next;
	} while (cursor);
	if (json)
		printf("]\n");
	return 0;
}

static int cmd_stats(struct dirc *c, int json, const char *dir)
{
	uint64_t v[DIR_STATS_MAX];
	size_t n;
	int rc = dirclient_sync_stats(c, v, DIR_STATS_MAX, &n);
	if (rc)
		return fail("stats", "", rc, 0, 0, dir);
	if (json)
		printf("{");
	for (size_t i = 0; i < n; i++) {
		char name[32];
		if (i < DIR_S_COUNT)
			snprintf(name, sizeof name, "%s", dir_stat_names[i]);
		else
			snprintf(name, sizeof name, "counter_%zu", i);   /* a newer directory */
		if (json)
			printf("%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)v[i]);
		else
			printf("%s %llu\n", name, (unsigned long long)v[i]);
	}
	if (json)
		printf("}\n");
	return 0;
}

static int run(struct dirc *c, int argc, char **argv, const char *dir)
{
	const char *cmd = argv[0];
	uint32_t ip = 0, a = 0, b = 0, epoch = 0;
	char ipb[INET_ADDRSTRLEN];
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	int rc;
	if (strcmp(cmd, "hello") == 0 && argc == 3 && !parse_ip(argv[1], &ip) && !parse_u32(argv[2], &a) &&
	    a && a < 65536) {
		rc = dirclient_sync_hello(c, ip, (uint16_t)a);
		if (rc)
			return fail("hello", argv[1], rc, 0, 0, dir);
		printf("hello %s:%u ok\n", argv[1], a);
	} else if (strcmp(cmd, "create") == 0 && (argc == 2 || (argc == 3 && !parse_ip(argv[2], &a)))) {
		if (!dirproto_name_valid(argv[1])) {
			fprintf(stderr, "%s: create %s: bad name (want [A-Za-z0-9._-], up to 63)\n", prog, argv[1]);
			return 2;
		}
		rc = dirclient_sync_create(c, argv[1], a, &ip, &epoch);
		if (rc)
			return fail("create", argv[1], rc, 0, 0, dir);
		printf("created %s %s epoch %u\n", argv[1], ipstr(ip, ipb), epoch);
	} else if (strcmp(cmd, "move") == 0 && argc == 4 && !parse_ip(argv[1], &ip) &&
	           !parse_u32(argv[2], &a) && !parse_u32(argv[3], &b)) {
		rc = dirclient_sync_move(c, ip, a, b, &epoch);
		if (rc)
			return fail("move", argv[1], rc, 1, epoch, dir);
		printf("moved %s to host %u epoch %u\n", argv[1], a, epoch);
	} else if (strcmp(cmd, "lookup") == 0 && (argc == 2 || (argc == 3 &&
	           strcmp(argv[2], "--subscribe") == 0)) && !parse_ip(argv[1], &ip)) {
		struct dir_entry e;
		rc = dirclient_sync_lookup(c, ip, argc == 3, &e);
		if (rc)
			return fail("lookup", argv[1], rc, 0, 0, dir);
		print_entry("", &e, 0);
	} else if (strcmp(cmd, "release") == 0 && argc == 3 && !parse_ip(argv[1], &ip) &&
	           !parse_u32(argv[2], &a)) {
		rc = dirclient_sync_release(c, ip, a, &epoch);
		if (rc)
			return fail("release", argv[1], rc, 1, epoch, dir);
		printf("released %s\n", argv[1]);
	} else if (strcmp(cmd, "state") == 0 && argc == 4 && !parse_ip(argv[1], &ip) &&
	           !parse_u32(argv[2], &a) && dirproto_state_parse(argv[3]) > DIR_STATE_UNKNOWN) {
		struct dir_entry e;
		rc = dirclient_sync_state(c, ip, a, dirproto_state_parse(argv[3]), &e);
		if (rc)
			return fail("state", argv[1], rc, 0, 0, dir);
		printf("state %s %s epoch %u\n", argv[1], dirproto_state_name(e.state), e.epoch);
	} else if (strcmp(cmd, "host") == 0 && argc == 2 && !parse_u32(argv[1], &a) && a) {
		uint32_t addr;
		uint16_t port;
		char ab[INET_ADDRSTRLEN];
		rc = dirclient_sync_host_lookup(c, a, &addr, &port);
		if (rc)
			return fail("host", argv[1], rc, 0, 0, dir);
		printf("host %u at %s:%u\n", a, ipstr(addr, ab), port);
	} else if (strcmp(cmd, "list") == 0 && (argc == 1 || json)) {
		return cmd_list(c, json, dir);
	} else if (strcmp(cmd, "stats") == 0 && (argc == 1 || json)) {
		return cmd_stats(c, json, dir);
	} else if (strcmp(cmd, "watch") == 0 && argc >= 2 && argc <= 4 && !parse_ip(argv[1], &ip) &&
	           (argc < 3 || !parse_u32(argv[2], &a)) && (argc < 4 || !parse_u32(argv[3], &b))) {
		uint32_t count = argc >= 3 ? a : 1, seconds = argc >= 4 ? b : 30;
		struct dir_entry e;
		rc = dirclient_sync_lookup(c, ip, 1, &e);
		if (rc)
			return fail("watch", argv[1], rc, 0, 0, dir);
		print_entry("entry ", &e, 0);
		fflush(stdout);   /* the test waits for this line before it changes the entry */
		for (uint32_t i = 0; i < count; i++) {
			rc = dirclient_next_notify(c, &e, (int)(seconds * 1000));
			if (rc <= 0) {
				fprintf(stderr, "%s: watch %s: no notification within %u s\n", prog, argv[1], seconds);
				return 1;
			}
			print_entry("notify ", &e, 0);
			fflush(stdout);
		}
	} else {
		fprintf(stderr, "%s: bad command or arguments: %s\n", prog, cmd);
		return usage();
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *keys = NULL;
	uint32_t host_id = 0, network_id = DIR_NETWORK_ID_DEFAULT;
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "keys", required_argument, NULL, 'k' },
		{ "host-id", required_argument, NULL, 'i' }, { "network-id", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	int o, li = -1;
	opterr = 0;
	/* '+': options end at the command, whose own words may look like options (--json) */
	while ((o = getopt_long(argc, argv, "+:hV", opts, &li)) != -1) {
		const char *v = optarg;
		if (o == 'd') dir = v;
		else if (o == 'k') keys = v;
		else if (o == 'i' && !parse_u32(v, &host_id) && host_id) ;
		else if (o == 'n' && !parse_u32(v, &network_id) && network_id) ;
		else if (o == 'h') cli_help(usage_text);
		else if (o == 'V') cli_version(prog);
		else if (o == 'i' || o == 'n') {
			fprintf(stderr, "%s: --%s %s: want 1..4294967295\n", prog, opts[li].name, v);
			return 2;
		} else {
			cli_bad_option(prog, o, argc, argv);
			return 2;
		}
	}
	int i = optind;
	if (!dir || !keys || !host_id || i >= argc) {
		fprintf(stderr, "%s: --dir, --host-id, --keys and a command are required\n", prog);
		return usage();
	}
	char err[512];
	uint8_t key[DIR_KEY_LEN];
	if (dirproto_key_lookup(keys, host_id, key, err, sizeof err)) {
		fprintf(stderr, "%s: --keys %s\n", prog, err);
		return 2;   /* bad input, like a bad flag */
	}
	struct dirc *c = dirclient_open(dir, host_id, key, err, sizeof err);
	if (!c) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	dirclient_set_network_id(c, network_id);
	int rc = run(c, argc - i, argv + i, dir);
	dirclient_close(c);
	return rc;
}
