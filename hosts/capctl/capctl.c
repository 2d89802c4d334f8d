/* capctl.c: the capsule control tool: a table of subcommands (pack, info, snapshot, migrate, ps, inspect, stats, binfmt). */
#include "hosts/capctl/capctl.h"
#include "hosts/capctl/capctl_report.h"

#include <stdio.h>
#include <string.h>

static const struct capctl_cmd commands[] = {
	{ "pack", capctl_pack, "pack --name NAME [--mem SIZE] ELF OUT.cap" },
	{ "info", capctl_info, "info [--json] IMAGE.cap" },
	{ "snapshot", capctl_snapshot, "snapshot NAME -o FILE [--keep-running]" },
	{ "migrate", capctl_migrate, "migrate NAME --to HOSTID [--json] [--svg FILE]" },
	{ "ps", capctl_ps, "ps [--json] | ps --all [--json] [--dir ADDR --host-id N --keys FILE]" },
	{ "inspect", capctl_inspect, "inspect [--json] FILE" },
	{ "stats", capctl_stats, "stats [--json] NAME" },
	{ "binfmt", capctl_binfmt, "binfmt install|remove|status [--name NAME]" },
	{ "capture", capctl_capture, "capture NAME|IP -w FILE.pcap [--wire] [--count N | --seconds S]" },
};

static int usage(void)
{
	fprintf(stderr, "usage:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(stderr, "  capctl %s\n", commands[i].usage);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "capctl: unknown command '%s'\n", argv[1]);
	return usage();
}

void capctl_json_str(const char *s)
{
	capctl_report_json_fput(stdout, s);
}
