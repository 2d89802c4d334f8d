/* capenv.h: a capsule's starting environment: a NAME=VALUE list, -e items and --env-file files applied to it. */
#ifndef HOST_CAPENV_H
#define HOST_CAPENV_H

#include <stddef.h>

/* "NAME=VALUE" strings in the order first set; setting a name again replaces it in place. */
struct capenv {
	char **vars;
	int n, cap;
};

/* Where -e NAME (no '=') takes its value: the host's environment (getenv), or a test's. */
typedef const char *(*capenv_lookup_fn)(const char *name);

void capenv_free(struct capenv *e);
/* 0, or -1 when out of memory. */
int capenv_set(struct capenv *e, const char *name, size_t namelen, const char *value);
void capenv_unset(struct capenv *e, const char *name, size_t namelen);
const char *capenv_get(const struct capenv *e, const char *name);   /* the value, or 0 */

/*
 * One item, as -e takes it: "NAME=VALUE" sets; "NAME" takes lookup(NAME),
 * and unsets NAME when the host has none (as docker does).  NAME is one or
 * more bytes, none of them '=', whitespace or control bytes.  0, or -1 with
 * the reason (without where) in err.
 */
int capenv_apply(struct capenv *e, const char *item, capenv_lookup_fn lookup, char *err, size_t errlen);

/*
 * An --env-file's text, docker's format: one item per line as above,
 * leading whitespace ignored, lines starting with '#' and blank lines
 * skipped, a trailing CR dropped, the value taken literally (no quotes).
 * where names the file in messages.  0, or -1 with "WHERE:LINE: reason".
 */
int capenv_parse_text(struct capenv *e, const char *text, size_t len, const char *where,
                      capenv_lookup_fn lookup, char *err, size_t errlen);
/* The same for a file on the host: 0, or -1 with "PATH: reason" or "PATH:LINE: reason". */
int capenv_load_file(struct capenv *e, const char *path, capenv_lookup_fn lookup, char *err,
                     size_t errlen);

#endif
