/* clilog.c: a daemon's --syslog: its stdout and stderr lines sent to syslog instead. */
#include "hosts/common/cli.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

/* Apart from cli.c because it replaces glibc's stdout and stderr (fopencookie streams), which
 * musl's stdio, caprun's libc, does not allow; caprun has no --syslog. */
static const char *log_prog;
static size_t log_prog_len;

/* One line (or a piece of one: stdio hands over what it buffered) to syslog. */
static ssize_t log_line(int prio, const char *buf, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(buf + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (buf + i)) : n - i;
		const char *p = buf + i;
		if (len > log_prog_len + 1 && !memcmp(p, log_prog, log_prog_len) &&
		    p[log_prog_len] == ':' && p[log_prog_len + 1] == ' ')
			p += log_prog_len + 2, len -= log_prog_len + 2;   /* syslog names us already */
		if (len)
			syslog(prio, "%.*s", (int)len, p);
		i = nl ? (size_t)(nl - buf) + 1 : n;
	}
	return (ssize_t)n;
}

static ssize_t log_err(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	return log_line(LOG_ERR, buf, n);
}

static ssize_t log_info(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	return log_line(LOG_INFO, buf, n);
}

int cli_log_to_syslog(const char *prog)
{
	cookie_io_functions_t err_io = { .write = log_err }, info_io = { .write = log_info };
	FILE *e = fopencookie(NULL, "w", err_io), *o = fopencookie(NULL, "w", info_io);
	if (!e || !o) {
		if (e)
			fclose(e);
		if (o)
			fclose(o);
		return -1;
	}
	setvbuf(e, NULL, _IOLBF, 0);
	setvbuf(o, NULL, _IOLBF, 0);
	log_prog = prog;
	log_prog_len = strlen(prog);
	openlog(prog, LOG_PID, LOG_DAEMON);
	fflush(stdout);
	fflush(stderr);
	stdout = o;
	stderr = e;
	return 0;
}
