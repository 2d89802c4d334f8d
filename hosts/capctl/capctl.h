/* capctl.h: capctl's subcommands; each takes (argc, argv) with argv[0] = its own name. */
#ifndef HOST_CAPCTL_H
#define HOST_CAPCTL_H

#include <stdint.h>

struct capctl_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

int capctl_pack(int argc, char **argv);
int capctl_info(int argc, char **argv);
int capctl_snapshot(int argc, char **argv);
int capctl_migrate(int argc, char **argv);  /* capctl_mig.c */
int capctl_ps(int argc, char **argv);
int capctl_psall(int argc, char **argv);   /* capctl_psall.c */
int capctl_inspect(int argc, char **argv);
int capctl_stats(int argc, char **argv);
int capctl_binfmt(int argc, char **argv);  /* capctl_binfmt.c */
int capctl_capture(int argc, char **argv); /* capctl_capture.c */

/* Print s as a JSON string literal (quotes and escapes), for the --json outputs. */
void capctl_json_str(const char *s);

/* "64M", "1G", "4096", "512K" -> bytes; -1 if malformed or overflowing. */
int capctl_pack_parse_size(const char *s, uint64_t *out);

#endif
