/* capexec.c: run a .cap image like a program (no network, stdout the program's alone): the binfmt_misc interpreter. */
/*
 *   capexec IMAGE.cap [ARGS...]   = caprun --no-net IMAGE.cap -- ARGS...
 *
 * The kernel's binfmt_misc calls us with the image's path as argv[1] and the
 * program's own arguments after it (capctl binfmt install registers us), so
 * ./configure can run its test programs and `./hello` just runs.  The exit
 * status is the capsule's (caprun passes it through).
 */
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
	if (argc < 2) {
		fprintf(stderr, "usage: capexec IMAGE.cap [ARGS...]\n");
		return 2;
	}
	if (fileio_sibling_exe("caprun", caprun, sizeof caprun)) {
		fprintf(stderr, "capexec: %s: caprun not found next to capexec\n", caprun);
		return 127;
	}
	char **args = calloc((size_t)argc + 4, sizeof *args);
	if (!args)
		return 127;
	int n = 0;
	args[n++] = caprun;
	args[n++] = "--no-net";
	args[n++] = argv[1];
	args[n++] = "--";
	for (int i = 2; i < argc; i++)
		args[n++] = argv[i];
	execv(caprun, args);
	fprintf(stderr, "capexec: %s: %s\n", caprun, strerror(errno));
	return 127;
}
