/* cli.c: what every program's command line shares: --version, --help's exit, and the one-line error for a bad option. */
#include "hosts/common/cli.h"

#include "version.h"   /* build/gen/version.h, written by hosts/common/build.mk */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

const char cli_version_string[] = CAPSULE_VERSION;

void cli_version(const char *prog)
{
	printf("%s %s\n", prog, cli_version_string);
	exit(fflush(stdout) ? 1 : 0);
}

void cli_help(const char *text)
{
	fputs(text, stdout);
	exit(fflush(stdout) ? 1 : 0);
}

void cli_bad_option(const char *prog, int c, int argc, char *const argv[])
{
	/* getopt leaves optopt 0 for an unknown long option, the option's character otherwise;
	 * a long option's own word is the argument it just stepped over. */
	const char *a = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	int as_long = strncmp(a, "--", 2) == 0 && (optopt == 0 || c == ':');
	int len = as_long ? (int)strcspn(a, "=") : 0;
	char shortopt[3] = { '-', (char)optopt, 0 };
	if (c == ':')
		fprintf(stderr, "%s: option '%.*s' needs a value\n", prog, as_long ? len : 2,
		        as_long ? a : shortopt);
	else
		fprintf(stderr, "%s: unknown option '%.*s' (%s --help lists them)\n", prog,
		        as_long ? len : 2, as_long ? a : shortopt, prog);
}

const char *cli_root_hint(int err)
{
	if ((err != EPERM && err != EACCES) || geteuid() == 0)
		return "";
	return " (not running as root: devices, routes and /run/capsule need root; run it with sudo)";
}

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
