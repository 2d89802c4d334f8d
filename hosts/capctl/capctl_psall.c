/* capctl_psall.c: `capctl ps --all`: every capsule of the network, from the directory (via caphostd or directly). */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/ctlproto.h"
#include "hosts/common/dirclient.h"
#include "hosts/formats/uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX (1 << 20)

#define PSALL_USAGE "ps --all [--json] [--dir ADDR[:PORT] --host-id N --keys FILE]"

static int usage(void)
{
	return capctl_usage_error(PSALL_USAGE);
}

/* Ask this host's caphostd (RUN_DIR/caphostd.ctl) for its `list`; the reply text or NULL. */
static char *ask_hostd(char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ctlsock_run_dir(), UPLINK_CTL_NAME) >=
	    sizeof sa.sun_path) {
		snprintf(err, errlen, "run directory path too long");
		return NULL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 30, 0 };   /* the daemon may wait on directory retries */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, errlen, "no caphostd at %s (%s); or give --dir, --host-id and --keys",
		         sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char *buf = malloc(REPLY_MAX);
	size_t got = 0;
	if (buf && send(fd, "list\n", 5, MSG_NOSIGNAL) == 5) {
		ssize_t n;
		while (got < REPLY_MAX - 1 && (n = recv(fd, buf + got, REPLY_MAX - 1 - got, 0)) > 0)
			got += (size_t)n;
	}
	close(fd);
	if (!buf || got == 0) {
		snprintf(err, errlen, "caphostd at %s did not answer", sa.sun_path);
		free(buf);
		return NULL;
	}
	buf[got] = 0;
	return buf;
}

/* Straight from the directory with our own host key; states as the holders reported them. */
static char *ask_directory(const char *dir, uint32_t host_id, const uint8_t key[DIR_KEY_LEN],
                           char *err, size_t errlen)
{
	char kerr[256];
	struct dirc *c = dirclient_open(dir, host_id, key, kerr, sizeof kerr);
	if (!c) {
		snprintf(err, errlen, "--dir %s: %s", dir, kerr);
		return NULL;
	}
	char *buf = malloc(REPLY_MAX);
	size_t o = 0, count = 0;
	uint32_t cursor = 0, next = 0;
	int r = buf ? 0 : DIRC_ERR_ARG;
	if (buf)
		o = (size_t)snprintf(buf, REPLY_MAX, "ok 0\n");
	do {
		struct dir_entry e[DIR_LIST_MAX];
		size_t n = 0;
		if (r || (r = dirclient_sync_list(c, cursor, e, DIR_LIST_MAX, &n, &next)))
			break;
		for (size_t i = 0; i < n && o < REPLY_MAX - 200; i++, count++) {
			struct in_addr a = { htonl(e[i].ip) };
			o += (size_t)snprintf(buf + o, REPLY_MAX - o, "%s %s %u %u %s\n", e[i].name, inet_ntoa(a),
			                      e[i].host_id, e[i].epoch, dirproto_state_name(e[i].state));
		}
		cursor = next;
	} while (next);
	dirclient_close(c);
	if (r) {
		snprintf(err, errlen, "directory %s: %s", dir, r > 0 ? dirproto_error_name(r) : "no answer");
		free(buf);
		return NULL;
	}
	return buf;
}

int capctl_psall(int argc, char **argv)
{
	int json = 0;
	const char *dir = getenv("CAPSULE_DIR"), *keys = getenv("CAPSULE_KEYS");
	const char *hid = getenv("CAPSULE_HOST_ID");
	static const struct option opts[] = {
		CAPCTL_HELP_OPT, { "json", no_argument, NULL, 'j' }, { "all", no_argument, NULL, 'a' },
		{ "dir", required_argument, NULL, 'd' }, { "keys", required_argument, NULL, 'k' },
		{ "host-id", required_argument, NULL, 'i' }, { 0, 0, 0, 0 } };
	int o;
	while ((o = capctl_opt(argc, argv, "", opts, PSALL_USAGE)) != -1) {
		if (o == 'j') json = 1;
		else if (o == 'd') dir = optarg;
		else if (o == 'k') keys = optarg;
		else if (o == 'i') hid = optarg;
	}
	if (optind != argc)
		return usage();
	char err[512];
	char *text;
	if (dir || keys || hid) {
		char *end;
		unsigned long id = hid ? strtoul(hid, &end, 10) : 0;
		if (!dir || !keys || !hid || *end || id == 0 || id > 0xffffffffu) {
			fprintf(stderr, "capctl: ps --all: --dir, --host-id (nonzero) and --keys go together\n");
			return 2;
		}
		uint8_t key[DIR_KEY_LEN];
		if (dirproto_key_lookup(keys, (uint32_t)id, key, err, sizeof err)) {
			fprintf(stderr, "capctl: ps --all: --keys %s\n", err);   /* err names the file */
			return 2;
		}
		text = ask_directory(dir, (uint32_t)id, key, err, sizeof err);
		sodium_memzero(key, sizeof key);
	} else {
		text = ask_hostd(err, sizeof err);
	}
	if (!text || strncmp(text, "ok ", 3)) {
		fprintf(stderr, "capctl: ps --all: %s\n", text ? strtok(text, "\n") : err);
		free(text);
		return 1;
	}
	if (json)
		printf("[");
	else
		printf("%-20s %-15s %6s %6s %s\n", "NAME", "IP", "HOST", "EPOCH", "STATE");
	int first = 1;
	for (char *line = strtok(strchr(text, '\n') ? strchr(text, '\n') + 1 : "", "\n"); line;
	     line = strtok(NULL, "\n")) {
		char name[64], ip[16], state[16];
		unsigned host, epoch;
		if (sscanf(line, "%63s %15s %u %u %15s", name, ip, &host, &epoch, state) != 5)
			continue;
		if (json)   /* names are [A-Za-z0-9._-]: nothing to escape */
			printf("%s{\"name\": \"%s\", \"ip\": \"%s\", \"host\": %u, \"epoch\": %u, "
			       "\"state\": \"%s\"}", first ? "" : ", ", name, ip, host, epoch,
			       strcmp(state, "-") == 0 ? "unknown" :
			       strcmp(state, "host-lost") == 0 ? "host lost" : state);
		else
			printf("%-20s %-15s %6u %6u %s\n", name, ip, host, epoch,
			       strcmp(state, "host-lost") ? state : "host lost");
		first = 0;
	}
	if (json)
		printf("]\n");
	free(text);
	return 0;
}
