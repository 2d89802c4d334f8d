/* cli.h: what every program's command line shares: --version, --help's exit, and the one-line error for a bad option. */
#ifndef HOST_COMMON_CLI_H
#define HOST_COMMON_CLI_H

#include <getopt.h>

/* The version baked in at build time (git describe, or the VERSION file). */
extern const char cli_version_string[];

/* --version: print "PROG VERSION" on stdout and exit 0. */
_Noreturn void cli_version(const char *prog);

/* --help: print text (the program's own usage) on stdout and exit 0. */
_Noreturn void cli_help(const char *text);

/*
 * After getopt_long returned '?' or ':' (an optstring starting with ':'):
 * print one line naming the option, "PROG: unknown option '--foo' (PROG --help
 * lists them)" or "PROG: option '--ip' needs a value", on stderr.
 */
void cli_bad_option(const char *prog, int c, int argc, char *const argv[]);

/*
 * --syslog: from now on our stdout and stderr lines go to syslog (facility daemon,
 * ident prog, the "PROG: " prefix dropped; stderr's at LOG_ERR, stdout's at LOG_INFO).
 * Without it a daemon writes lines without timestamps, which the journal stamps.
 * 0, or -1 (nothing changed).  In clilog.c (COMMON_CLILOG_SRCS): the daemons only.
 */
int cli_log_to_syslog(const char *prog);

/* A hint to put after an error's text: " (not running as root: ...)" when errno value err is
 * EPERM or EACCES and we are not root, else "". */
const char *cli_root_hint(int err);

#endif
