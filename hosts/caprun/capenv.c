/* capenv.c: a capsule's starting environment as a list, and the -e / --env-file items that change it. */
#include "hosts/caprun/capenv.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENV_FILE_MAX (1 << 20)   /* the whole environment must fit the 256 KiB initial stack anyway */

void capenv_free(struct capenv *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->vars[i]);
	free(e->vars);
	e->vars = NULL;
	e->n = e->cap = 0;
}

static int find(const struct capenv *e, const char *name, size_t namelen)
{
	for (int i = 0; i < e->n; i++)
		if (!strncmp(e->vars[i], name, namelen) && e->vars[i][namelen] == '=')
			return i;
	return -1;
}

int capenv_set(struct capenv *e, const char *name, size_t namelen, const char *value)
{
	size_t vl = strlen(value);
	char *s = malloc(namelen + 1 + vl + 1);
	if (!s)
		return -1;
	memcpy(s, name, namelen);
	s[namelen] = '=';
	memcpy(s + namelen + 1, value, vl + 1);
	int i = find(e, name, namelen);
	if (i >= 0) {
		free(e->vars[i]);
		e->vars[i] = s;
		return 0;
	}
	if (e->n == e->cap) {
		int cap = e->cap ? 2 * e->cap : 16;
		char **v = realloc(e->vars, (size_t)cap * sizeof *v);
		if (!v) {
			free(s);
			return -1;
		}
		e->vars = v;
		e->cap = cap;
	}
	e->vars[e->n++] = s;
	return 0;
}

void capenv_unset(struct capenv *e, const char *name, size_t namelen)
{
	int i = find(e, name, namelen);
	if (i < 0)
		return;
	free(e->vars[i]);
	memmove(e->vars + i, e->vars + i + 1, (size_t)(e->n - i - 1) * sizeof *e->vars);
	e->n--;
}

const char *capenv_get(const struct capenv *e, const char *name)
{
	int i = find(e, name, strlen(name));
	return i < 0 ? NULL : e->vars[i] + strlen(name) + 1;
}

static int name_byte_ok(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '=';
}

/* item is len bytes (not NUL-terminated: a line of a file). */
static int apply_n(struct capenv *e, const char *item, size_t len, capenv_lookup_fn lookup,
                   char *err, size_t errlen)
{
	const char *eq = memchr(item, '=', len);
	size_t nl = eq ? (size_t)(eq - item) : len;
	if (memchr(item, 0, len)) {
		snprintf(err, errlen, "a NUL byte");
		return -1;
	}
	if (nl == 0) {
		snprintf(err, errlen, "no variable name before '='");
		return -1;
	}
	for (size_t i = 0; i < nl; i++)
		if (!name_byte_ok((unsigned char)item[i])) {
			snprintf(err, errlen, "variable name with whitespace or a control character");
			return -1;
		}
	char *name = strndup(item, nl);
	if (!name) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int r = 0;
	if (eq) {
		char *value = strndup(eq + 1, len - nl - 1);
		r = value ? capenv_set(e, name, nl, value) : -1;
		free(value);
	} else {
		const char *host = lookup ? lookup(name) : NULL;
		if (host)
			r = capenv_set(e, name, nl, host);
		else
			capenv_unset(e, name, nl);   /* the host has none: neither has the capsule */
	}
	free(name);
	if (r)
		snprintf(err, errlen, "out of memory");
	return r;
}

int capenv_apply(struct capenv *e, const char *item, capenv_lookup_fn lookup, char *err, size_t errlen)
{
	return apply_n(e, item, strlen(item), lookup, err, errlen);
}

int capenv_parse_text(struct capenv *e, const char *text, size_t len, const char *where,
                      capenv_lookup_fn lookup, char *err, size_t errlen)
{
	char why[256];
	size_t at = 0;
	for (unsigned line = 1; at < len; line++) {
		const char *end = memchr(text + at, '\n', len - at);
		size_t l = end ? (size_t)(end - (text + at)) : len - at;
		const char *s = text + at;
		at += l + (end != NULL);
		if (l && s[l - 1] == '\r')
			l--;
		while (l && (*s == ' ' || *s == '\t' || *s == '\v' || *s == '\f' || *s == '\r')) {
			s++;
			l--;
		}
		if (!l || *s == '#')
			continue;
		if (apply_n(e, s, l, lookup, why, sizeof why)) {
			snprintf(err, errlen, "%s:%u: %s", where, line, why);
			return -1;
		}
	}
	return 0;
}

int capenv_load_file(struct capenv *e, const char *path, capenv_lookup_fn lookup, char *err,
                     size_t errlen)
{
	char why[256];
	int fd = fileio_open_regular(path, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	char *buf = malloc(ENV_FILE_MAX);
	size_t len = 0;
	ssize_t n = 0;
	while (buf && len < ENV_FILE_MAX && (n = read(fd, buf + len, ENV_FILE_MAX - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	int r = -1;
	if (!buf)
		snprintf(err, errlen, "%s: out of memory", path);
	else if (n < 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (len == ENV_FILE_MAX)
		snprintf(err, errlen, "%s: larger than %d bytes", path, ENV_FILE_MAX);
	else
		r = capenv_parse_text(e, buf, len, path, lookup, err, errlen);
	free(buf);
	return r;
}
