/* capctl_keygen.c: `capctl keygen`: a cluster key file for --keys (one key per host and the data key) or this host's snapshot key. */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/snapauth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_LEN 32   /* DIR_KEY_LEN and CAP_SNAP_KEY_LEN alike */

/* Append "WHO HEX64\n" with 32 fresh random bytes. */
static void key_line(char *out, size_t len, const char *who)
{
	unsigned char k[KEY_LEN];
	char hex[2 * KEY_LEN + 1];
	randombytes_buf(k, sizeof k);
	sodium_bin2hex(hex, sizeof hex, k, sizeof k);
	sodium_memzero(k, sizeof k);
	size_t l = strlen(out);
	snprintf(out + l, len - l, "%s %s\n", who, hex);
	sodium_memzero(hex, sizeof hex);
}

/* data (len bytes) into path, mode 0600, refusing an existing file unless force; 0 or 1. */
static int write_new(const char *path, const void *data, size_t len, int force)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0600);
	if (fd < 0) {
		fprintf(stderr, "capctl: keygen: %s: %s%s\n", path, strerror(errno),
		        errno == EEXIST ? " (--force replaces it; everything made with the old key "
		                          "is then refused)" : "");
		return 1;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) || close(fd)) {
		fprintf(stderr, "capctl: keygen: %s: %s\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

int capctl_keygen(int argc, char **argv)
{
	static const char usage[] = "keygen --hosts N [-o FILE] [--force] | keygen --host-key [-o FILE] [--force]";
	static const struct option opts[] = {
		CAPCTL_HELP_OPT, { "hosts", required_argument, NULL, 'n' },
		{ "host-key", no_argument, NULL, 'k' }, { "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	const char *out = NULL, *hosts = NULL;
	int host_key = 0, force = 0, o;
	while ((o = capctl_opt(argc, argv, "o:f", opts, usage)) != -1) {
		if (o == 'n') hosts = optarg;
		else if (o == 'k') host_key = 1;
		else if (o == 'o') out = optarg;
		else force = 1;
	}
	if (optind != argc || !hosts == !host_key)
		return capctl_usage_error(usage);
	if (sodium_init() < 0) {
		fprintf(stderr, "capctl: keygen: libsodium did not start\n");
		return 1;
	}
	if (host_key) {
		/* the snapshot key caprun makes on first need (FORMAT-SNAPSHOT.md): 32 raw bytes */
		const char *env = getenv(SNAP_HOST_KEY_ENV);
		const char *path = out ? out : env && *env ? env : SNAP_HOST_KEY_DEFAULT;
		unsigned char k[KEY_LEN];
		randombytes_buf(k, sizeof k);
		int r = write_new(path, k, sizeof k, force);
		sodium_memzero(k, sizeof k);
		if (!r)
			printf("host snapshot key written to %s\n", path);
		return r;
	}
	char *end;
	unsigned long n = strtoul(hosts, &end, 10);
	if (*end || !*hosts || hosts[0] == '-' || n == 0 || n > 4096) {
		fprintf(stderr, "capctl: keygen: --hosts %s: want 1..4096\n", hosts);
		return 2;
	}
	/* DIRECTORY.md section 2: "HOSTID HEX64" per host, "data HEX64" the cluster's data key */
	size_t len = 128 + (n + 1) * (2 * KEY_LEN + 16);
	char *text = calloc(1, len);
	if (!text) {
		fprintf(stderr, "capctl: keygen: out of memory\n");
		return 1;
	}
	snprintf(text, len, "# capsule cluster keys (capctl keygen): host ids 1..%lu and the data key; "
	         "give every host and the directory this file (mode 0600)\n", n);
	key_line(text, len, "data");
	for (unsigned long h = 1; h <= n; h++) {
		char id[16];
		snprintf(id, sizeof id, "%lu", h);
		key_line(text, len, id);
	}
	int r = 0;
	if (out)
		r = write_new(out, text, strlen(text), force);
	else if (fputs(text, stdout) < 0 || fflush(stdout))
		r = 1;
	sodium_memzero(text, len);
	free(text);
	return r;
}
