/* capexec.c: run a .cap image like a program (no network, stdout the program's alone): the binfmt_misc interpreter. */
/*
 *   capexec IMAGE.cap [ARGS...]   = caprun --no-net IMAGE.cap -- ARGS...
 *
 * The kernel's binfmt_misc calls us with the image's path as argv[1] and the
 * program's own arguments after it (capctl binfmt install registers us), so
 * ./configure can run its test programs and `./hello` just runs.  The exit
 * status is the capsule's (caprun passes it through).  The current
 * directory goes with it as a volume at the same path (or /cwd), and is the
 * capsule's working directory: configure's test programs write conftest.out.
 */
#include "capsule-abi/cap_file.h"
#include "hosts/common/cli.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char caprun[PATH_MAX];
	static const char usage[] = "usage: capexec IMAGE.cap [ARGS...]   (the binfmt_misc handler: "
	                            "caprun --no-net IMAGE.cap ARGS)\n";
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	/* Only alone: otherwise every word is the image's or the capsule's (no getopt here). */
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		cli_help(usage);
	if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")))
		cli_version("capexec");
	if (fileio_sibling_exe("caprun", caprun, sizeof caprun)) {
		fprintf(stderr, "capexec: %s: caprun not found next to capexec\n", caprun);
		return 127;
	}
	char cwd[PATH_MAX], vol[2 * PATH_MAX + 2];
	if (!getcwd(cwd, sizeof cwd)) {
		fprintf(stderr, "capexec: the current directory: %s\n", strerror(errno));
		return 127;
	}
	char **args = calloc((size_t)argc + 8, sizeof *args);
	if (!args)
		return 127;
	int n = 0;
	args[n++] = caprun;
	args[n++] = "--no-net";
	if (strcmp(cwd, "/") != 0) {
		/* Same path inside, unless the capsule owns it (/tmp, /dev) or it is too long
		 * for a mount point: then /cwd, where relative paths still work. */
		const char *inside = cwd;
		if (!strncmp(cwd, "/tmp", 4) || !strncmp(cwd, "/dev", 4) || strlen(cwd) >= CAP_FILE_MOUNT_MAX)
			inside = "/cwd";
		snprintf(vol, sizeof vol, "%s:%s", cwd, inside);
		args[n++] = "-v";
		args[n++] = vol;
		args[n++] = "-w";
		args[n++] = (char *)inside;
	}
	args[n++] = argv[1];
	args[n++] = "--";
	for (int i = 2; i < argc; i++)
		args[n++] = argv[i];
	execv(caprun, args);
	fprintf(stderr, "capexec: %s: %s\n", caprun, strerror(errno));
	return 127;
}
