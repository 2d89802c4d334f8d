/* caprun_env.h: caprun's options for a fresh capsule's environment and identity: -e, --env-file, --dns, --user. */
#ifndef HOST_CAPRUN_ENV_H
#define HOST_CAPRUN_ENV_H

#include "capsule-abi/cap_auxv.h"
#include "hosts/caprun/capenv.h"
#include "hosts/caprun/memlayout.h"

#include <stdint.h>

struct caprun_env {
	const char **items;         /* -e, in command-line order */
	int nitems;
	const char **files;         /* --env-file, in command-line order */
	int nfiles;
	char dns[CAP_DNS_MAX * 48 + 1];   /* "ADDR\n" each */
	int ndns;
	uint32_t uid, gid;          /* --user; 0:0 (root) by default */
	const char *given;          /* the first of these options seen (a resumed capsule refuses them) */
	struct capenv env;          /* made by caprun_env_build */
};

/*
 * Take option opt ("-e", "--env-file", "--dns" or "--user") with its value.
 * A bad value exits 125 with one line.
 */
void caprun_env_option(struct caprun_env *ce, const char *opt, const char *val);

/*
 * The environment of a capsule named name: the defaults (PATH, HOSTNAME,
 * HOME, and TERM when our stdin is a terminal), then each --env-file, then
 * each -e; a later setting of a name replaces it.  Fills boot for
 * memlayout_prepare.  0, or -1 with "FILE:LINE: reason" or "-e ITEM: reason".
 */
int caprun_env_build(struct caprun_env *ce, const char *name, struct memlayout_boot *boot,
                     char *err, size_t errlen);
/*
 * caprun_env_build, then memlayout_prepare with its result: 0; -1 with the
 * environment's reason in err; -2 with the layout's (about the image).
 */
int caprun_env_layout(struct caprun_env *ce, const char *name, const struct host_image *img,
                      int argc, char *const *argv, struct host_layout *out, char *err,
                      size_t errlen);
void caprun_env_free(struct caprun_env *ce);

#endif
