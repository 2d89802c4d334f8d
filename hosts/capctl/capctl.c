/* capctl.c: the capsule control tool: a table of subcommands (pack, info, snapshot, migrate, ps, inspect, stats, binfmt, stop, logs, keygen). */
#include "hosts/capctl/capctl.h"
#include "hosts/capctl/capctl_report.h"

#include "hosts/common/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct capctl_cmd commands[] = {
	{ "pack", capctl_pack, "pack --name NAME [--mem SIZE] ELF OUT.cap" },
	{ "info", capctl_info, "info [--json] IMAGE.cap" },
	{ "snapshot", capctl_snapshot, "snapshot NAME -o FILE [--keep-running] [--force]" },
	{ "migrate", capctl_migrate, "migrate NAME --to HOSTID [--max-downtime MS] [--no-precopy] [--wait-directory SECONDS] [--json] [--svg FILE]" },
	{ "ps", capctl_ps, "ps [--json] [--tree] | ps --all [--json] [--dir ADDR --host-id N --keys FILE]" },
	{ "inspect", capctl_inspect, "inspect [--json] FILE" },
	{ "stats", capctl_stats, "stats [--json] NAME" },
	{ "binfmt", capctl_binfmt, "binfmt install|remove|status [--name NAME]" },
	{ "capture", capctl_capture, "capture NAME|IP -w FILE.pcap [--wire] [--count N | --seconds S]" },
	{ "stop", capctl_stop, "stop [--timeout SECONDS] NAME" },
	{ "logs", capctl_logs, "logs [-f|--follow] NAME" },
	{ "keygen", capctl_keygen, "keygen --hosts N [-o FILE] [--force] | keygen --host-key [-o FILE] [--force]" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: capctl [--help | --version] COMMAND [OPTIONS] ...\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  capctl %s\n", commands[i].usage);
	fprintf(f, "`capctl COMMAND --help` shows one command's usage.\n"
	           "Exit status: 0 done; 1 it failed (no such capsule, no answer); 2 bad usage or input.\n");
}

int capctl_opt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd_usage)
{
	char spec[32], prog[64];
	snprintf(spec, sizeof spec, ":h%s", shortopts);
	opterr = 0;
	int o = getopt_long(argc, argv, spec, longopts, NULL);
	if (o == 'h') {
		printf("usage: capctl %s\n", cmd_usage);
		exit(fflush(stdout) ? 1 : 0);
	}
	if (o == '?' || o == ':') {
		snprintf(prog, sizeof prog, "capctl %s", argv[0]);
		cli_bad_option(prog, o, argc, argv);
		exit(2);
	}
	return o;
}

const char *capctl_json_arg(int argc, char **argv, const char *cmd_usage, int *json)
{
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "json", no_argument, NULL, 'j' },
	                                      { 0, 0, 0, 0 } };
	*json = 0;
	while (capctl_opt(argc, argv, "", opts, cmd_usage) != -1)
		*json = 1;
	if (argc - optind != 1) {
		capctl_usage_error(cmd_usage);
		return NULL;
	}
	return argv[optind];
}

int capctl_usage_error(const char *cmd_usage)
{
	fprintf(stderr, "usage: capctl %s\n", cmd_usage);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' },
	                                      { "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		if (o == 'h') {
			usage(stdout);
			return fflush(stdout) ? 1 : 0;
		}
		if (o == 'V')
			cli_version("capctl");
		cli_bad_option("capctl", o, argc, argv);
		return 2;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(cmd, commands[i].name) == 0) {
			argc -= optind, argv += optind;
			optind = 0;   /* the command's own getopt_long starts afresh */
			return commands[i].run(argc, argv);
		}
	fprintf(stderr, "capctl: unknown command '%s' (capctl --help lists them)\n", cmd);
	return 2;
}

void capctl_json_str(const char *s)
{
	capctl_report_json_fput(stdout, s);
}
