/* cli.c: what every program's command line shares: --version, --help's exit, and the one-line error for a bad option. */
#include "hosts/common/cli.h"

#include "version.h"   /* build/gen/version.h, written by hosts/common/build.mk */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
