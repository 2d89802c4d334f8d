/* capctl.h: capctl's subcommands; each takes (argc, argv) with argv[0] = its own name. */
#ifndef HOST_CAPCTL_H
#define HOST_CAPCTL_H

#include <getopt.h>
#include <stdint.h>

/* One of a command's options by getopt_long (optind was reset for it; argv[0] is its name):
 * -h/--help (longopts must list {"help", ..., 'h'}) prints "usage: capctl USAGE" on stdout and
 * exits 0; an unknown option or a missing value exits 2 after one line naming it.  The option,
 * or -1 after the last (optind: the first operand; operands may come between options). */
int capctl_opt(int argc, char **argv, const char *shortopts, const struct option *longopts,
               const char *cmd_usage);
#define CAPCTL_HELP_OPT { "help", no_argument, NULL, 'h' }

/* A command's usage error: "usage: capctl USAGE" on stderr; returns 2. */
int capctl_usage_error(const char *cmd_usage);

/* The options of `COMMAND [--json] ARG` (info, inspect, stats): *json set, and ARG; or NULL
 * after the usage error (the command returns 2). */
const char *capctl_json_arg(int argc, char **argv, const char *cmd_usage, int *json);

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
int capctl_stop(int argc, char **argv);    /* capctl_life.c */
int capctl_logs(int argc, char **argv);    /* capctl_life.c */
int capctl_keygen(int argc, char **argv);  /* capctl_keygen.c */

/*
 * The process table of a capsule (capctl_pstree.c), as `capctl inspect` prints a
 * snapshot's and `capctl ps --tree` a running capsule's: a heading, one row per
 * process (PID PPID SLOT, a byte count, then a text), and the next pid.
 */
void capctl_procs_heading(unsigned n, const char *bytes_title, const char *last_title);
void capctl_procs_row(int pid, int ppid, unsigned slot, unsigned long long bytes, const char *last);
void capctl_procs_next(unsigned next_pid);

#define CAPCTL_PSTREE_MAX 64   /* CAP_PROC_MAX */
struct capctl_pstree_proc {
	int pid, ppid, pgid, sid;
	unsigned slot;
	long host_pid;
	unsigned long long memory;
};
struct capctl_pstree {
	int next_pid, n;
	struct capctl_pstree_proc p[CAPCTL_PSTREE_MAX];
};
/* Ask the caprun at sock_path for its processes ("procs", hosts/formats/ctlproto.h): 0 or -1. */
int capctl_pstree_ask(const char *sock_path, int timeout_ms, struct capctl_pstree *t);
/* The table in tree order (each process after its parent), or --json's array of it. */
void capctl_pstree_print(const struct capctl_pstree *t, int json);

/* Print s as a JSON string literal (quotes and escapes), for the --json outputs. */
void capctl_json_str(const char *s);

/* "64M", "1G", "4096", "512K" -> bytes; -1 if malformed or overflowing. */
int capctl_pack_parse_size(const char *s, uint64_t *out);

#endif
