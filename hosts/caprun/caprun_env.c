/* caprun_env.c: caprun's -e, --env-file, --dns and --user, and the default environment of a fresh capsule. */
#include "hosts/caprun/caprun_env.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 125   /* caprun itself failed (caprun.h) */
/* docker's default PATH, so scripts and programs that search it behave as in a container. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NOBODY 65534u

static _Noreturn void bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "caprun: %s %s: %s\n", opt, val, why);
	exit(EXIT_USAGE);
}

static void push(const char ***list, int *n, const char *s)
{
	const char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
	if (!l) {
		fprintf(stderr, "caprun: out of memory\n");
		exit(EXIT_USAGE);
	}
	l[(*n)++] = s;
	*list = l;
}

static void add_dns(struct caprun_env *ce, const char *opt, const char *addr)
{
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		bad(opt, addr, "not an IPv4 or IPv6 address");
	if (ce->ndns == CAP_DNS_MAX)
		bad(opt, addr, "at most 3 name servers (musl's resolver reads no more)");
	size_t l = strlen(ce->dns);
	snprintf(ce->dns + l, sizeof ce->dns - l, "%s\n", addr);
	ce->ndns++;
}

static uint32_t parse_id(const char *opt, const char *val, const char *s, char **end)
{
	if (*s < '0' || *s > '9')
		bad(opt, val, "want UID[:GID], numbers (root is 0, nobody 65534)");
	unsigned long v = strtoul(s, end, 10);
	if (v >= 0xffffffffUL)
		bad(opt, val, "an id must be below 4294967295");
	return (uint32_t)v;
}

static void set_user(struct caprun_env *ce, const char *opt, const char *val)
{
	char *end;
	ce->uid = parse_id(opt, val, val, &end);
	/* Without a GID, the user's group in the capsule's /etc/passwd (nobody's is 65534), else 0. */
	ce->gid = ce->uid == NOBODY ? NOBODY : 0;
	if (*end == ':')
		ce->gid = parse_id(opt, val, end + 1, &end);
	if (*end)
		bad(opt, val, "want UID[:GID], numbers (root is 0, nobody 65534)");
}

void caprun_env_option(struct caprun_env *ce, const char *opt, const char *val)
{
	if (!ce->given)
		ce->given = opt;
	if (!strcmp(opt, "-e"))
		push(&ce->items, &ce->nitems, val);
	else if (!strcmp(opt, "--env-file"))
		push(&ce->files, &ce->nfiles, val);
	else if (!strcmp(opt, "--dns"))
		add_dns(ce, opt, val);
	else
		set_user(ce, opt, val);
}

static const char *host_getenv(const char *name)
{
	return getenv(name);
}

int caprun_env_build(struct caprun_env *ce, const char *name, struct memlayout_boot *boot,
                     char *err, size_t errlen)
{
	char why[512];
	struct capenv *e = &ce->env;
	capenv_free(e);
	const char *term = getenv("TERM");
	if (capenv_set(e, "PATH", 4, DEFAULT_PATH) || capenv_set(e, "HOSTNAME", 8, name) ||
	    capenv_set(e, "HOME", 4, "/") ||
	    (isatty(0) && capenv_set(e, "TERM", 4, term && *term ? term : "xterm"))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int k = 0; k < ce->nfiles; k++)
		if (capenv_load_file(e, ce->files[k], host_getenv, err, errlen))
			return -1;
	for (int k = 0; k < ce->nitems; k++)
		if (capenv_apply(e, ce->items[k], host_getenv, why, sizeof why)) {
			snprintf(err, errlen, "-e %s: %s", ce->items[k], why);
			return -1;
		}
	*boot = (struct memlayout_boot){ .envc = e->n, .envp = e->vars, .uid = ce->uid, .gid = ce->gid,
	                                 .dns = ce->ndns ? ce->dns : NULL };
	return 0;
}

int caprun_env_layout(struct caprun_env *ce, const char *name, const struct host_image *img,
                      int argc, char *const *argv, struct host_layout *out, char *err,
                      size_t errlen)
{
	struct memlayout_boot boot;
	if (caprun_env_build(ce, name, &boot, err, errlen))
		return -1;
	return memlayout_prepare(img, argc, argv, &boot, out, err, errlen) ? -2 : 0;
}

void caprun_env_free(struct caprun_env *ce)
{
	capenv_free(&ce->env);
	free(ce->items);
	free(ce->files);
	ce->items = ce->files = NULL;
	ce->nitems = ce->nfiles = 0;
}
