/* caprun.h: caprun's state, shared by its main program (caprun.c), its command line (caprun_args.c) and its migration target (caprun_incoming.c). */
#ifndef HOST_CAPRUN_H
#define HOST_CAPRUN_H

#include "capsule-abi/cap_abi.h"
#include "hosts/caprun/caprun_env.h"
#include "hosts/caprun/caprun_migin.h"
#include "hosts/caprun/lazyload.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/volume.h"
#include "hosts/formats/image.h"
#include "hosts/formats/snapfile.h"

#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

/* caprun's own exit codes, docker's, never a capsule's (which passes through once it ran). */
#define EXIT_USAGE         125   /* caprun itself failed: a bad option or value */
#define EXIT_FAILURE_SETUP 125   /* caprun itself failed: setup (device, socket, name, memory) */
#define EXIT_CANNOT_RUN    126   /* the image or snapshot is there but cannot be run */
#define EXIT_NOT_FOUND     127   /* the image or snapshot does not exist */

struct nlm_sock;
struct caprun_procs;
struct tunfilter;

struct caprun {
	const char *image_path;
	const char *opt_name, *opt_ip, *opt_image, *resume_path;
	int incoming;              /* --incoming: a live migration arrives on fd 0 (caphostd started us) */
	int no_net;                /* --no-net: no TUN, no caphostd, no address (capexec, binfmt) */
	int detach;                /* -d: print the name and return once the capsule runs */
	size_t log_size;           /* -d: the console log's bound per file (--log-size, consolelog.h) */
	int fail_code;             /* check_frozen's failure: EXIT_CANNOT_RUN, EXIT_NOT_FOUND or EXIT_USAGE */
	const char *keys_path;     /* --incoming: the cluster key file */
	uint32_t host_id;          /* --incoming: this host's id */
	struct caprun_migin mig;
	struct volumes vols;       /* -v HOSTDIR:PATH[:ro], repeatable */
	const char *workdir;       /* -w DIR */
	struct cap_snap_header *resume_hdr;   /* resume or incoming: the frozen capsule's header */
	unsigned mtu;
	int mtu_given;
	unsigned max_fds;          /* --max-fds; 0: the capsule's default */
	int fixed_name;            /* --name or a resumed capsule: no "-2" suffixes */
	struct host_snap snap;     /* resume only */
	int eager;                 /* --eager: load all of a snapshot before it runs */
	struct lazyload *lazy;     /* a lazy resume's loader (hosts/caprun/lazyload.h), else NULL */
	int cap_argc;
	char **cap_argv;
	struct caprun_env env;     /* -e, --env-file, --dns, --user: a fresh capsule only */

	struct host_image img;
	struct procs_image *root_img;   /* a resume's pid 1 running another program since an exec */
	int image_early;           /* --incoming: img opened and checked from the PRECOPY's identity */
	struct host_layout layout;
	char name[CAP_IMAGE_NAME_MAX];
	char ifname[IFNAMSIZ];
	char addr[INET_ADDRSTRLEN];
	uint32_t ip;               /* network order */
	unsigned ifindex;
	int memfd, filter_fd, chan[2], tun_fd, sig_fd;
	struct nlm_sock *nl;
	int route_added;
	struct tunfilter *filter;  /* the TUN's source filter: the capsule moves its own packets (fd 8) */
	int tun_vnet;              /* the TUN has IFF_VNET_HDR (tunvnet.h): offloads once the capsule is direct */
	int ctl_fd;                /* control socket (hosts/formats/ctlproto.h) */
	int uplink_fd;             /* caphostd's uplink (attach mode), else -1: own TUN */
	uint32_t epoch;            /* attach mode: the directory's epoch of this capsule */
	int keep_entry;            /* attach mode: on failure, DETACH saved (a resume not yet running) */
	char ctl_path[PATH_MAX];   /* non-empty once we own it */
	pid_t child;
	int gated;                 /* the loader waits for "go" while caprun makes the network (caprun_gate.c) */
	struct caprun_procs *procs;   /* the capsule's other processes, once it runs (procs.h) */
};

/* Fill c from the command line; a usage error prints one line and exits 125;
 * --help and --version print and exit 0. */
void caprun_args_parse(struct caprun *c, int argc, char **argv);

/* caprun.c, for caprun_incoming.c: the frozen capsule's image and options checked (0, or
 * -1 with err), the name's control socket claimed (0; 1 taken; -1), the channel made, the
 * loader spawned (0 or -1, said). */
int check_frozen(struct caprun *c, const struct cap_snap_header *h, const char *what, char *err,
                 size_t errlen);
int claim_socket(struct caprun *c);
void release_socket(struct caprun *c);
int make_channel(struct caprun *c);
int spawn_capsule(struct caprun *c, const char *loader);
/* A fresh start's memfd, its control page naming c->name at c->ip.  0, or -1 (said). */
int make_fresh_memfd(struct caprun *c, const char *base, char **cargv);

/* caprun_link.c: the capsule's own TUN device, link, address and routes: 0, -1 (said), or 1
 * when a gated start's device name was taken (nothing said, nothing made); then its
 * source filter (c->filter, or NULL and said: caprun's relay checks every packet); and
 * the host_flags telling the capsule which device it has (0: none). */
int make_link(struct caprun *c, const char *base);
/* The k-th try's names (1: base itself, then "base-k"): c->name and its device "cap-..."
 * in c->ifname (the base cut to fit).  0, or -1 when the name is too long. */
int link_names(struct caprun *c, const char *base, int k);
void choose_packet_path(struct caprun *c);
uint32_t link_host_flags(const struct caprun *c);

/* caprun_gate.c: the capsule's own network (make_link, choose_packet_path); for a fresh
 * start (cargv given) its memfd made and its loader spawned gated first (c->gated), or
 * in the usual order after it.  0, or -1 (said).  gate_open: the capsule's address and
 * device into its control page, "go" with the device to the loader (0 or -1, said);
 * gate_abandon: the waiting loader killed, its memfd and name dropped. */
int make_network(struct caprun *c, const char *base, char **cargv, const char *loader);
int gate_open(struct caprun *c);
void gate_abandon(struct caprun *c);

/* caprun_incoming.c: --incoming up to the restore (receive, check, claim, register), then
 * the decision (CONFIRM, the loader continued, COMMIT, the pull).  0, or an exit code. */
int caprun_incoming_receive(struct caprun *c);
int caprun_incoming_decide(struct caprun *c, const char *loader);

#endif
