/* caprun.c: runs one .cap image, resumes a snapshot or takes in a migrating capsule: validate, lay out memory, TUN or caphostd, caploader, relay. */
#include "hosts/caprun/caprun.h"
#include "hosts/formats/ctlproto.h"
#include "hosts/formats/dirproto.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/image.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/caprun_migin.h"
#include "hosts/caprun/procs_mig.h"
#include "hosts/caprun/caprun_env.h"
#include "hosts/caprun/caprun_detach.h"
#include "hosts/caprun/consolelog.h"
#include "hosts/common/cli.h"
#include "hosts/common/netlink.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/procs_snap.h"
#include "hosts/caprun/relay.h"
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/volume.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/sandbox.h"
#include "hosts/caprun/tunfilter.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/uplink.h"
#include "hosts/common/ipv4.h"
#include "hosts/common/clock.h"
#include "hosts/common/signame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHAN_BUF     (4 << 20)   /* socket buffers: room for bursts at a 64 KB MTU */
/* A create or a resume's move may wait for the directory's retries (about 5 s): allow for two. */
#define ATTACH_TIMEOUT_MS 15000
#define TEARDOWN_PAUSE_MS 50   /* a migrated copy is torn down this long after the move */

/* Fixed descriptor numbers 0..2 must exist, or our own fds would land there. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			exit(EXIT_FAILURE_SETUP);
}

/* A capsule's address: a host address of 198.18.0.0/16, never the gateway. */
static int ip_allowed(uint32_t ip)
{
	uint32_t h = ntohl(ip);
	return (h & IPV4_CAPNET_DEFAULT_MASK) == IPV4_CAPNET_BASE && h != IPV4_CAPNET_BASE &&
	       h != IPV4_CAPNET_GATEWAY && h != (IPV4_CAPNET_BASE | ~IPV4_CAPNET_DEFAULT_MASK);
}

static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1 || !ip_allowed(a.s_addr))
		return -1;
	*ip = a.s_addr;
	return 0;
}

/*
 * Claim the name's control socket.  0 on success, 1 if a live caprun has
 * that name (try another), -1 on error (printed).
 */
int claim_socket(struct caprun *c)
{
	char err[PATH_MAX + 128];
	int fd = ctlsock_listen(c->name, err, sizeof err);
	if (fd == -2 && !c->fixed_name)
		return 1;
	if (fd < 0) {
		fprintf(stderr, "caprun: %s%s\n", err, fd == -1 ? cli_root_hint(errno) : "");
		return -1;
	}
	c->ctl_fd = procs_high_fd(fd);
	ctlsock_path(c->name, c->ctl_path, sizeof c->ctl_path);
	return 0;
}

void release_socket(struct caprun *c)
{
	if (c->ctl_fd >= 0)
		close(c->ctl_fd);
	c->ctl_fd = -1;
	if (c->ctl_path[0]) {
		unlink(c->ctl_path);
		ctlsock_release_dir();
	}
	c->ctl_path[0] = 0;
}

/*
 * --no-net: claim only the name's control socket ("-2" suffixes as with TUN
 * devices, so parallel runs of one image coexist); no device, no address.
 */
static int claim_name(struct caprun *c, const char *base)
{
	int r = 1;
	for (int k = 1; r > 0 && k < 1000 && (k == 1 || !c->fixed_name); k++) {
		int len = k > 1 ? snprintf(c->name, sizeof c->name, "%s-%d", base, k)
		                : snprintf(c->name, sizeof c->name, "%s", base);
		if (len >= (int)sizeof c->name)
			break;
		r = claim_socket(c);   /* 1: a live caprun has that name */
	}
	if (r <= 0)
		return r;
	fprintf(stderr, "caprun: no free name for capsule %s\n", base);
	return -1;
}

/*
 * Attach mode: caphostd owns the host's network.  Claim the name's control
 * socket (with "-2" suffixes for fresh capsules, as with TUN devices), then
 * ATTACH: caphostd asks the directory for the address (or moves a resumed
 * capsule's entry here) and answers with it.
 */
static int attach_uplink(struct caprun *c, const char *base)
{
	char err[256];
	int claimed = c->ctl_fd >= 0;   /* an incoming capsule claimed its name before confirming */
	for (int k = 1; k < 1000 && !claimed; k++) {
		char suffix[8] = "";
		if (k > 1)
			snprintf(suffix, sizeof suffix, "-%d", k);
		if (snprintf(c->name, sizeof c->name, "%s%s", base, suffix) >= (int)sizeof c->name)
			break;
		int r = claim_socket(c);
		if (r < 0)
			return -1;
		claimed = r == 0;
		if (!claimed && c->fixed_name)
			break;
	}
	if (!claimed) {
		fprintf(stderr, "caprun: no free name for capsule %s\n", base);
		return -1;
	}
	c->uplink_fd = procs_high_fd(c->uplink_fd);
	struct uplink_attach a = { .ip = c->ip, .flags = c->resume_path ? UPLINK_ATTACH_RESUME : 0,
	                           .mtu = c->mtu };
	if (caprun_uplink_attach(c->uplink_fd, c->name, &a, ATTACH_TIMEOUT_MS, &c->ip, &c->epoch, err,
	                       sizeof err)) {
		fprintf(stderr, "caprun: caphostd: %s\n", err);
		close(c->uplink_fd);
		c->uplink_fd = -1;   /* nothing attached: nothing to detach */
		return -1;
	}
	inet_ntop(AF_INET, &c->ip, c->addr, sizeof c->addr);
	return 0;
}

int spawn_capsule(struct caprun *c, const char *loader)
{
	char err[PATH_MAX + 64];
	int img_fd = c->root_img ? procs_image_img(c->root_img)->fd : c->img.fd;
	if (procs_spawn_loader(loader, c->chan[1], c->memfd, img_fd, c->filter_fd, -1,
	                       c->filter ? c->tun_fd : -1, 0, &c->child, err, sizeof err)) {
		fprintf(stderr, "caprun: %s\n", err);
		c->child = 0;
		return -1;
	}
	return 0;
}

int make_channel(struct caprun *c)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->chan) < 0) {
		fprintf(stderr, "caprun: socketpair: %s\n", strerror(errno));
		return -1;
	}
	c->chan[0] = procs_high_fd(c->chan[0]);
	c->chan[1] = procs_high_fd(c->chan[1]);
	int size = CHAN_BUF;
	for (int i = 0; i < 2; i++) {
		if (setsockopt(c->chan[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
			setsockopt(c->chan[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
		if (setsockopt(c->chan[i], SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
			setsockopt(c->chan[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
		fcntl(c->chan[i], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

/*
 * A fresh start: the capsule's memfd from the image and the layout, its control page
 * naming it (c->name, which a taken name made "NAME-2": HOSTNAME follows) and giving its
 * address (c->ip; a gated start writes it later).  0, or -1 (said).
 */
int make_fresh_memfd(struct caprun *c, const char *base, char **cargv)
{
	char err[PATH_MAX + 256];
	struct cap_control *ctl = &c->layout.ctl;
	if (strcmp(c->name, base)) {
		memlayout_free(&c->layout);
		if (caprun_env_layout(&c->env, c->name, &c->img, c->cap_argc + 1, cargv, &c->layout, err,
		                      sizeof err)) {
			fprintf(stderr, "caprun: %s\n", err);
			return -1;
		}
	}
	snprintf(ctl->name, sizeof ctl->name, "%s", c->name);
	ctl->ip = c->ip;   /* 0 when a gated start's network picks it: "go" says it */
	ctl->netmask = htonl(IPV4_CAPNET_DEFAULT_MASK);
	ctl->gateway = htonl(IPV4_CAPNET_GATEWAY);
	ctl->mtu = c->mtu;
	if (c->workdir)
		snprintf(ctl->workdir, sizeof ctl->workdir, "%s", c->workdir);
	ctl->max_fds = c->max_fds;
	c->memfd = procs_high_fd(memlayout_memfd_create(&c->img, &c->layout, err, sizeof err));
	if (c->memfd < 0) {
		fprintf(stderr, "caprun: %s\n", err);
		return -1;
	}
	return 0;
}

/*
 * saved 1: the capsule lives on in a snapshot; keep its address from
 * leaking meanwhile.  saved 2: it migrated; the directory names its new host.
 */
static void cleanup(struct caprun *c, int saved)
{
	if (c->uplink_fd >= 0) {   /* first: the relay loop is over, nothing goes out any more */
		/* saved: caphostd keeps the capsule's directory entry (it lives on disk) */
		caprun_uplink_detach(c->uplink_fd, saved == 2 ? UPLINK_DETACH_MIGRATED
		                                 : saved || c->keep_entry ? UPLINK_DETACH_SAVED
		                                                          : UPLINK_DETACH_EXITED);
		close(c->uplink_fd);
		c->uplink_fd = -1;
	}
	if (saved == 2) {
		/* It runs on the target now; this copy stays frozen for good.  What is left is
		 * teardown (its mappings and memfd pages: 1-3 ms of CPU at 64 MiB, tens at 1 GiB),
		 * which takes a CPU from the capsule's start there and its first answers when both
		 * hosts share a machine: so it waits, at the lowest priority, name given up
		 * (docs/DOWNTIME.md, the seventh pass). */
		setpriority(PRIO_PROCESS, 0, 19);
		if (c->child > 0)
			setpriority(PRIO_PROCESS, (id_t)c->child, 19);
		procs_background(c->procs);
		release_socket(c);
		struct timespec pause = { 0, TEARDOWN_PAUSE_MS * 1000000L };
		while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
			;
	}
	procs_kill_all(c->procs);   /* pid 1 ended, or caprun stops: the capsule's processes go too */
	if (c->child > 0) {
		kill(c->child, SIGKILL);
		while (waitpid(c->child, NULL, 0) < 0 && errno == EINTR)
			;
		c->child = 0;
	}
	if (c->route_added)
		netlink_route_del(c->nl, HOST_ROUTE_DEV, c->ip, 32, c->ifindex);
	if (c->tun_fd >= 0)
		close(c->tun_fd);   /* the device and its address go with it */
	c->tun_fd = -1;
	tunfilter_remove(c->filter);   /* after the capsule (it held the device too) is gone */
	c->filter = NULL;
	/*
	 * The unreachable 198.18.0.0/15 keeps capsule traffic from leaking to a
	 * default route.  It is shared by all capsules: the last one out removes
	 * it (only ours: the delete matches HOST_RTPROT_CAPSULE).
	 */
	if (c->nl && saved != 1 && !netlink_link_exists_with_prefix("cap-", NULL))
		netlink_route_del(c->nl, HOST_ROUTE_UNREACHABLE, htonl(IPV4_CAPNET_BASE), IPV4_CAPNET_BITS, 0);
	netlink_close(c->nl);
	c->nl = NULL;
	release_socket(c);
}

/* A file we were given could not be used: 127 if it is not there, 126 if it is but is no good. */
static int missing_or_bad(const char *path)
{
	struct stat st;
	return stat(path, &st) && (errno == ENOENT || errno == ENOTDIR) ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
}

/* The capsule ended by itself: say how, choose caprun's exit code. */
static int report_exit(struct caprun *c, int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	int sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : SIGKILL;
	struct cap_control ctl;
	if (sig == SIGSYS && pread(c->memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl &&
	    ctl.fault_syscall) {
		int nr = (int)ctl.fault_syscall - 1;
		const char *sname = sandbox_syscall_name(nr);
		fprintf(stderr, "caprun: capsule %s killed: forbidden system call %s (nr %d)\n",
		        c->name, sname ? sname : "unknown", nr);
		return 128 + SIGSYS;
	}
	const char *abbrev = signame(sig);
	fprintf(stderr, "caprun: capsule %s killed by signal SIG%s\n", c->name,
	        abbrev ? abbrev : "?");
	return 128 + sig;
}

/*
 * A frozen capsule (a snapshot's or a migrating one's header h, named by
 * what for messages): its image must be here with the same build-id, and
 * the options must agree with what its own TCP/IP stack owns.  0, or -1
 * with the one-line reason in err.
 */
int check_frozen(struct caprun *c, const struct cap_snap_header *h, const char *what,
                        char *err, size_t errlen)
{
	char why[PATH_MAX + 256];
	const struct host_snap as_snap = { .hdr = *h, .fd = -1 };
	c->fail_code = EXIT_CANNOT_RUN;
	c->resume_hdr = (struct cap_snap_header *)h;
	c->image_path = c->opt_image ? c->opt_image : h->image_path;
	if (!c->image_path[0]) {
		snprintf(err, errlen, "%s: the capsule names no image; use --image", what);
		return -1;
	}
	for (const char *p = c->image_path; !c->opt_image && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {   /* never echo control bytes to a terminal */
			snprintf(err, errlen, "%s: the capsule's image path is not printable; use --image",
			         what);
			return -1;
		}
	if (!c->image_early && image_open(c->image_path, &c->img, why, sizeof why)) {
		snprintf(err, errlen, "%s: %s", c->image_path, why);
		c->fail_code = missing_or_bad(c->image_path);
		return -1;
	}
	if (snapfile_check_image(&as_snap, &c->img.hdr, c->image_path, why, sizeof why)) {
		snprintf(err, errlen, "%s: %s", what, why);
		return -1;
	}
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &h->ip, ip, sizeof ip);
	if (!ip_allowed(h->ip) || h->mtu < 576 || h->mtu > CAP_MTU_MAX) {
		snprintf(err, errlen, "%s: the capsule has address %s, MTU %u: not allowed here", what, ip,
		         h->mtu);
		return -1;
	}
	/* The capsule's own TCP/IP stack owns its address and MTU: they travel with it. */
	c->fail_code = EXIT_USAGE;   /* from here on, the options disagree with the capsule */
	if (c->opt_ip && (parse_ip(c->opt_ip, &c->ip) || c->ip != h->ip)) {
		snprintf(err, errlen, "--ip %s: the snapshot's capsule owns %s (its TCP/IP stack keeps "
		         "its address)", c->opt_ip, ip);
		return -1;
	}
	if (c->mtu_given && c->mtu != h->mtu) {
		snprintf(err, errlen, "--mtu %u: the snapshot's capsule uses MTU %u", c->mtu, h->mtu);
		return -1;
	}
	c->ip = h->ip;
	c->mtu = h->mtu;
	return 0;
}

/* Resume: check the snapshot, its image and the options against it, before creating anything.
 * 0, or the exit code (EXIT_NOT_FOUND, EXIT_CANNOT_RUN, EXIT_USAGE) after one line. */
static int open_resume(struct caprun *c)
{
	char err[PATH_MAX + 512];
	if (snapfile_open_ex(c->resume_path, &c->snap, c->eager, err, sizeof err)) {
		fprintf(stderr, "caprun: %s: %s\n", c->resume_path, err);
		return missing_or_bad(c->resume_path);
	}
	if (check_frozen(c, &c->snap.hdr, c->resume_path, err, sizeof err)) {
		fprintf(stderr, "caprun: %s\n", err);
		return c->fail_code;
	}
	return 0;
}


/* What every snapshot of this capsule says about where it comes from. */
static void snapshot_template(const struct caprun *c, struct cap_snap_header *t)
{
	char real[PATH_MAX];
	memset(t, 0, sizeof *t);
	t->build_id_len = c->img.hdr.build_id_len;
	memcpy(t->build_id, c->img.hdr.build_id, sizeof t->build_id);
	snprintf(t->image_name, sizeof t->image_name, "%s", c->img.hdr.name);
	/* Where the image is: a hint for resume (--image overrides); empty if it does not fit. */
	if (realpath(c->image_path, real) && strlen(real) < sizeof t->image_path)
		memcpy(t->image_path, real, strlen(real) + 1);
	snprintf(t->capsule_name, sizeof t->capsule_name, "%s", c->name);
	t->ip = c->ip;
	t->mtu = c->mtu;
	t->arena_size = c->layout.ctl.arena_size;
	t->memfd_size = CAP_MEMFD_OFFSET(CAP_ARENA_BASE + t->arena_size);
}

int main(int argc, char **argv)
{
	static struct caprun c = { .mtu = CAP_MTU_DEFAULT, .memfd = -1, .filter_fd = -1,
	                           .chan = { -1, -1 }, .tun_fd = -1, .sig_fd = -1, .ctl_fd = -1,
	                           .uplink_fd = -1,
	                           .mig = { .sock = -1, .memfd = -1, .procs = { .table_fd = -1 },
	                                    .uplink_fd = -1 },
	                           .snap = { .fd = -1 }, .img = { .fd = -1 } };
	char err[PATH_MAX + 256], loader[PATH_MAX];
	char **cargv = NULL;
	static struct host_relay relay;
	static struct procs_restored restored = { .n = 0 };   /* a resume of several processes */
	sigset_t sigs;

	for (int i = 0; i < CAP_PROC_MAX; i++)
		restored.memfd[i] = -1;

	clock_trace("main");
	ensure_std_fds();
	volume_init(&c.vols);
	caprun_args_parse(&c, argc, argv);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigaddset(&sigs, SIGPIPE);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigdelset(&sigs, SIGPIPE);

	/* Everything that can be checked is checked before anything is created. */
	if (c.opt_name && (!cap_name_valid(c.opt_name) || strlen(c.opt_name) > 40)) {
		fprintf(stderr, "caprun: --name %s: use 1..40 of [A-Za-z0-9._-]\n", c.opt_name);
		return EXIT_USAGE;
	}
	if (c.env.given && (c.incoming || c.resume_path)) {
		fprintf(stderr, "caprun: %s: a resumed capsule keeps the environment and identity it "
		        "started with (they are in its memory)\n", c.env.given);
		return EXIT_USAGE;
	}
	if (c.incoming) {
		int code = caprun_incoming_receive(&c);
		if (code) {
			if (c.child > 0) {   /* an early loader, held before it read anything */
				kill(c.child, SIGKILL);
				waitpid(c.child, NULL, 0);
			}
			caprun_migin_close(&c.mig);
			release_socket(&c);
			image_close(&c.img);
			return code;
		}
	} else if (c.resume_path) {
		int code = open_resume(&c);
		if (code)
			return code;
		clock_trace("opened");
	} else {
		if (image_open(c.image_path, &c.img, err, sizeof err)) {
			fprintf(stderr, "caprun: %s: %s\n", c.image_path, err);
			return missing_or_bad(c.image_path);
		}
		clock_trace("opened");
		if (c.opt_ip && parse_ip(c.opt_ip, &c.ip)) {
			fprintf(stderr, "caprun: --ip %s: not a host address in 198.18.0.0/16\n",
			        c.opt_ip);
			return EXIT_USAGE;
		}
	}
	const char *base = c.incoming ? c.name : c.opt_name ? c.opt_name
	                   : c.resume_path ? c.snap.hdr.capsule_name : c.img.hdr.name;
	c.fixed_name = c.opt_name || c.resume_path || c.incoming;
	if (c.detach)
		caprun_detach_start();   /* from here on in the background; the caller waits for "running" */
	if (fileio_sibling_exe("caploader", loader, sizeof loader)) {
		fprintf(stderr, "caprun: %s: caploader not found next to caprun\n", loader);
		return EXIT_FAILURE_SETUP;
	}
	if (!c.resume_hdr) {
		cargv = calloc((size_t)c.cap_argc + 2, sizeof *cargv);
		if (!cargv)
			return EXIT_FAILURE_SETUP;
		cargv[0] = (char *)base;
		for (int i = 0; i < c.cap_argc; i++)
			cargv[i + 1] = c.cap_argv[i];
		int r = caprun_env_layout(&c.env, base, &c.img, c.cap_argc + 1, cargv, &c.layout, err,
		                          sizeof err);
		if (r) {
			fprintf(stderr, "caprun: %s%s%s\n", r == -2 ? c.image_path : "", r == -2 ? ": " : "", err);
			free(cargv);
			return r == -2 ? EXIT_CANNOT_RUN : EXIT_USAGE;
		}
	} else {
		c.layout.ctl.arena_size = c.resume_hdr->arena_size;
	}

	int code = EXIT_FAILURE_SETUP, saved = 0;
	c.sig_fd = procs_high_fd(signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC));
	if (c.filter_fd < 0)   /* --incoming may have made it (and the channel) for an early loader */
		c.filter_fd = procs_high_fd(sandbox_filter_fd(err, sizeof err));
	if (c.sig_fd < 0 || c.filter_fd < 0) {
		fprintf(stderr, "caprun: %s\n", c.sig_fd < 0 ? strerror(errno) : err);
		goto out;
	}
	c.img.fd = procs_high_fd(c.img.fd);
	if (c.chan[0] < 0 && make_channel(&c))
		goto out;
	/* Until the capsule runs, a failed resume leaves the snapshot as the capsule: keep its entry. */
	c.keep_entry = c.resume_hdr != NULL;
	/* With a caphostd on this host it is the capsule's network; without one, our own TUN.
	 * (An incoming capsule is attached already: its pull was the attach.) */
	if (c.no_net) {
		if (claim_name(&c, base))
			goto out;
	} else if (!c.incoming) {
		c.uplink_fd = caprun_uplink_connect();
		/* Our own network; a fresh capsule's loader starts beside it (caprun_gate.c). */
		if (c.uplink_fd >= 0 ? attach_uplink(&c, base)
		                     : make_network(&c, base, c.resume_path ? NULL : cargv, loader))
			goto out;
		clock_trace("linked");
	}

	if (c.incoming) {
		c.memfd = procs_high_fd(c.mig.memfd);
		c.mig.memfd = -1;
		/* Its other processes too, before CONFIRM: their table checked as a snapshot's, every
		 * page of theirs arrived, their control pages made; else refused, and the source
		 * keeps the capsule. */
		if (procs_mig_restore(&c.snap, &c.mig.rx, &c.mig.procs, &c.img, c.name, c.memfd,
		                      &restored, err, sizeof err)) {
			fprintf(stderr, "caprun: incoming capsule %s: %s; refused\n", c.name, err);
			caprun_migin_refuse(&c.mig, err);
			goto out;
		}
		caprun_migin_drop_procs(&c.mig);
		c.root_img = restored.img[0];   /* pid 1's program, if an exec changed it */
		restored.img[0] = NULL;
		/* Restore before the decision: the loader maps it all and stops just before the
		 * jump while CONFIRM, COMMIT and the pull go by; it runs only if the pull wins. */
		if ((c.detach && caprun_detach_console(c.name, c.log_size)) ||
		    caprun_migin_hold_start(c.memfd, 1))
			goto out;
		code = caprun_incoming_decide(&c, loader);
		if (code)
			goto out;   /* discarded: cleanup kills the stopped loader */
		code = EXIT_FAILURE_SETUP;
		if (restored.n > 1 ? procs_restore_clock(&restored, c.memfd)
		                   : memlayout_memfd_restart_clock(c.memfd))
			fprintf(stderr, "caprun: capsule %s: its clock jumps by the wait for COMMIT\n",
			        c.name);   /* harmless: TCP copes */
	} else if (c.resume_path) {
		c.memfd = procs_high_fd(memlayout_memfd_from_snapshot(&c.snap, &c.img, c.name,
		                                                c.snap.data_verified ? NULL : &c.lazy,
		                                                err, sizeof err));
		if (c.memfd < 0)
			fprintf(stderr, "caprun: %s: %s\n", c.resume_path, err);
		/* Its other processes' memory too, all on one clock, before any of them runs. */
		else if (procs_restore_prepare(&c.snap, &c.img, c.name, c.memfd, &restored, err,
		                               sizeof err)) {
			fprintf(stderr, "caprun: %s: %s\n", c.resume_path, err);
			goto out;
		}
		c.root_img = restored.img[0];   /* pid 1's program, if an exec changed it */
		restored.img[0] = NULL;
	} else if (!c.gated && make_fresh_memfd(&c, base, cargv)) {
		goto out;
	}
	if (c.memfd < 0)
		goto out;
	clock_trace("memfd");
	if (c.filter && !c.gated &&
	    memlayout_memfd_host_flags(c.memfd, link_host_flags(&c), 0)) {
		fprintf(stderr, "caprun: capsule %s: its control page: %s\n", c.name, strerror(errno));
		goto out;
	}
	if (c.incoming && caprun_migin_starting(&c.mig, c.uplink_fd))
		goto out;   /* test fault: the target dies after its pull won, before it runs */
	if (c.incoming) {
		if (caprun_migin_hold_end(&c.child, c.memfd)) {
			fprintf(stderr, "caprun: incoming capsule %s: its loader failed while it waited\n",
			        c.name);
			goto out;
		}
	} else if (c.gated) {
		if (gate_open(&c))
			goto out;
	} else {
		if (c.detach && caprun_detach_console(c.name, c.log_size))
			goto out;
		if (spawn_capsule(&c, loader))
			goto out;
	}
	clock_trace("spawned");
	if (c.lazy && lazyload_start(c.lazy, c.child, c.memfd, err, sizeof err)) {
		fprintf(stderr, "caprun: %s: %s\n", c.resume_path, err);
		goto out;   /* cleanup kills the capsule: it waits for pages nobody will bring */
	}
	c.keep_entry = 0;   /* from now on the capsule's own fate decides */
	close(c.chan[1]);
	c.chan[1] = -1;
	if (c.incoming)
		caprun_migin_started(&c.mig, c.epoch);
	clock_trace("started-sent");

	relay = (struct host_relay){ .tun_fd = c.uplink_fd >= 0 ? c.uplink_fd : c.tun_fd,
	                             .uplink = c.uplink_fd >= 0, .chan_fd = c.chan[0], .sig_fd = c.sig_fd,
	                             .ctl_fd = c.ctl_fd, .memfd = c.memfd, .child = c.child,
	                             .name = c.name, .addr = c.addr, .ip = c.ip, .epoch = c.epoch,
	                             .lazy = c.lazy, .filter = c.filter, .tun_vnet = c.tun_vnet };
	relay.vols = &c.vols;
	if (c.incoming) {
		relay.later = caprun_migin_close_later;
		relay.later_arg = &c.mig;
	}
	static struct caprun_procs procs;
	procs_init(&procs, loader, c.img.fd, c.filter_fd);
	procs.img = &c.img;
	procs.p[0].img = c.root_img;   /* the table holds it from now on */
	c.root_img = NULL;
	procs.dns = c.env.ndns ? c.env.dns : NULL;
	relay.procs = c.procs = &procs;
	relay.epoll_fd = -1;
	snapshot_template(&c, &relay.snap_template);
	if (procs_restore_start(&relay, &c.snap, &restored, err, sizeof err)) {
		fprintf(stderr, "caprun: %s: %s\n", c.resume_path ? c.resume_path : c.name, err);
		goto out;
	}
	int ws = 0;
	int r = relay_run(&relay, &ws);
	c.child = relay.child;       /* pid 1's exec makes a new host process and channel */
	c.chan[0] = relay.chan_fd;
	snapshot_finish_jobs();   /* a --keep-running snapshot still being written completes first */
	c.uplink_fd = relay.uplink ? relay.tun_fd : -1;   /* a reattach may have changed it */
	if (lazyload_failure(c.lazy)) {
		/* The loader killed it: a chunk went bad after the start.  Nothing unchecked ran. */
		fprintf(stderr, "caprun: %s: %s; capsule %s stopped\n", c.resume_path,
		        lazyload_failure(c.lazy), c.name);
		if (r == 0)
			c.child = 0;
		code = EXIT_CANNOT_RUN;
	} else if (r == 0) {
		c.child = 0;   /* reaped */
		code = report_exit(&c, ws);
	} else if (r == HOST_RELAY_SAVED) {
		saved = 1;
		code = 0;
	} else if (r == HOST_RELAY_MIGRATED) {
		saved = 2;
		code = 0;
	} else if (r == HOST_RELAY_STALE) {
		code = EXIT_FAILURE_SETUP;   /* said why; caphostd forgot it already */
	} else if (r > 0) {
		code = 128 + r;
	}
out:
	cleanup(&c, saved);
	procs_restored_close(&restored);
	lazyload_free(c.lazy);   /* the capsule is gone: its thread stops */
	if (saved == 1)
		printf("capsule %s saved to %s\n", c.name, relay.saved_path);
	else if (saved == 2)
		printf("capsule %s migrated to host %u\n", c.name, relay.migrated_to);
	fflush(stdout);
	caprun_migin_close(&c.mig);
	memlayout_free(&c.layout);
	caprun_env_free(&c.env);
	image_close(&c.img);
	procs_image_unref(c.root_img);   /* pid 1's program, if it never got to the table */
	snapfile_close(&c.snap);
	volume_close_all(&c.vols);
	free(cargv);
	consolelog_finish();   /* -d: the log has all of the console before caprun is gone */
	return code;
}
