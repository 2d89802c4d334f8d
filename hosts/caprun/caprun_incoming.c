/* caprun_incoming.c: caprun --incoming, a live migration's target up to the run: the image checked and the loader exec'd while pre-copy still streams, the restore, CONFIRM, the pull. */
#include "hosts/caprun/caprun.h"
#include "hosts/caprun/caprun_migin.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/sandbox.h"
#include "hosts/common/clock.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/dirproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REGISTER_MS       5000   /* caphostd's answer to ATTACH INCOMING, at most */
#define EARLY_REGISTER_MS 500    /* the same during pre-copy, where the stream waits for it */

/*
 * Pre-copy brings the capsule's identity first: open and check its image
 * while it still runs on the source, not after its freeze.  The PREAMBLE
 * must name the same capsule (the stream's decoder checks), and
 * check_frozen runs again on it, then without opening the image again.
 */
static void incoming_who(void *ctx, const struct cap_snap_header *who)
{
	struct caprun *c = ctx;
	char err[PATH_MAX + 512];
	char loader[PATH_MAX];
	if (check_frozen(c, who, who->capsule_name, err, sizeof err) == 0) {
		c->image_early = 1;
		/* Exec the loader now too, held before it reads the memfd (--held):
		 * caprun_incoming_decide continues it once the memory is complete.  Best effort:
		 * else it starts then.  Its descriptors go above the loader's fixed numbers first
		 * (the receive goes on with the memfd's own number: a copy). */
		int memfd = fcntl(c->mig.memfd, F_DUPFD_CLOEXEC, 10);
		c->img.fd = procs_high_fd(c->img.fd);
		if (memfd < 0 || c->img.fd < 0 || fileio_sibling_exe("caploader", loader, sizeof loader) ||
		    (c->filter_fd = procs_high_fd(sandbox_filter_fd(err, sizeof err))) < 0 ||
		    make_channel(c) ||
		    procs_spawn_loader(loader, c->chan[1], memfd, c->img.fd, c->filter_fd, -1, -1, 1,
		                       &c->child, err, sizeof err))
			c->child = 0;
		if (memfd >= 0)
			close(memfd);
		if (c->img.fd < 0)
			c->image_early = 0;   /* lost it moving it: the final check opens it again */
		/* Tell caphostd now too, not once the capsule is frozen: its answer was 0.4-0.7
		 * ms of the downtime.  Best effort: a refusal, or no caphostd, is asked again
		 * (and then decides) once the stream is complete. */
		(void)caprun_migin_register(&c->mig, who->capsule_name, who->ip, who->mtu,
		                            EARLY_REGISTER_MS, err, sizeof err);
		return;
	}
	image_close(&c->img);   /* if open: the final check says why, once the stream is complete */
}

/*
 * --incoming, up to the restore (hosts/caprun/migfsm.h, target column): receive
 * the stream, restore it here without starting it (image checked, memory
 * made resumable, name claimed), tell caphostd.  caprun_incoming_decide does the
 * rest: CONFIRM, wait for COMMIT, then pull it (caphostd's ATTACH MIGRATED:
 * one MOVE here at the migration's epoch, the commit point).  0, or the exit
 * code when the capsule was discarded.
 */
int caprun_incoming_receive(struct caprun *c)
{
	char err[PATH_MAX + 512];
	struct caprun_migin *m = &c->mig;
	/* fd 0 is the connection; the capsule's console input must not be. */
	m->sock = fcntl(0, F_DUPFD_CLOEXEC, 10);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (m->sock < 0 || null < 0 || dup2(null, 0) < 0) {
		fprintf(stderr, "caprun: incoming migration: %s\n", strerror(errno));
		return EXIT_FAILURE_SETUP;
	}
	close(null);
	if (dirproto_data_key_load(c->keys_path, m->data_key, err, sizeof err)) {
		fprintf(stderr, "caprun: --keys %s\n", err);
		return EXIT_USAGE;
	}
	m->host_id = c->host_id;
	m->on_who = incoming_who;
	m->who_ctx = c;
	if (caprun_migin_receive(m, err, sizeof err)) {
		fprintf(stderr, "caprun: incoming migration %s; discarded\n", err);
		return EXIT_FAILURE_SETUP;
	}
	clock_trace("tgt received");
	/* Our own copy: the receiver's state goes once the capsule runs, its header is needed later. */
	c->snap.hdr = m->rx.hdr;
	const struct cap_snap_header *h = &c->snap.hdr;
	const char *name = m->rx.name;
	snprintf(c->name, sizeof c->name, "%s", name);
	name = c->name;
	c->fixed_name = 1;
	c->layout.ctl.arena_size = h->arena_size;
	if (check_frozen(c, h, name, err, sizeof err) ||
	    memlayout_memfd_resume_prepare(m->memfd, h, &c->img, name, err, sizeof err)) {
		fprintf(stderr, "caprun: incoming capsule %s: %s; refused\n", name, err);
		caprun_migin_refuse(m, err);
		return EXIT_FAILURE_SETUP;
	}
	clock_trace("tgt prepared");
	int r = claim_socket(c);
	if (r) {
		snprintf(err, sizeof err, "the name %s is taken on host %u", name, c->host_id);
		fprintf(stderr, "caprun: incoming capsule %s: %s; refused\n", name, err);
		caprun_migin_refuse(m, err);
		return EXIT_FAILURE_SETUP;
	}
	/* Tell this host's caphostd what arrives (if one runs): if we die after CONFIRM, it knows. */
	if (caprun_migin_register(m, c->name, h->ip, h->mtu, REGISTER_MS, err, sizeof err) ==
	    CAPRUN_UPLINK_REFUSED) {
		fprintf(stderr, "caprun: incoming capsule %s: caphostd: %s; refused\n", name, err);
		caprun_migin_refuse(m, err);
		return EXIT_FAILURE_SETUP;
	}
	clock_trace("tgt registered");
	return 0;
}

/*
 * The rest of the target column: CONFIRM; spawn the loader, which prepares
 * everything and stops just before the jump (CAP_HOST_START_STOPPED) while
 * COMMIT and the pull go by; then the pull.  0 when the pull won, or the
 * exit code when the capsule was discarded (the caller kills the stopped
 * loader: nothing of the capsule ran).
 */
int caprun_incoming_decide(struct caprun *c, const char *loader)
{
	char err[PATH_MAX + 512];
	struct caprun_migin *m = &c->mig;
	const char *name = c->name;
	const struct cap_snap_header *h = &c->snap.hdr;
	int r = caprun_migin_confirm(m);
	clock_trace("tgt confirm-sent");
	if (r > 0) {
		fprintf(stderr, "caprun: incoming capsule %s: refused (fault injection)\n", name);
		return EXIT_FAILURE_SETUP;
	}
	/* The loader: continued past its first stop (--held, exec'd during pre-copy), or
	 * spawned now; either way it stops again just before the jump (CAP_HOST_START_STOPPED). */
	if (c->child > 0 && c->root_img) {
		/* The early loader got the capsule's own program; pid 1 runs another since an exec. */
		kill(c->child, SIGKILL);
		while (waitpid(c->child, NULL, 0) < 0 && errno == EINTR)
			;
		c->child = 0;
	}
	if (c->child > 0 ? caprun_migin_hold_end(&c->child, -1) : spawn_capsule(c, loader)) {
		caprun_migin_refuse(m, "cannot start its loader");   /* it will never pull: S keeps it */
		return EXIT_FAILURE_SETUP;
	}
	clock_trace("tgt loader-spawned");
	/*
	 * The pull at once, not after the source's COMMIT: the one compare-and-swap decides
	 * either way, and a target that pulls before COMMIT came is one whose wait timed out,
	 * a case migfsm.h's table and test_host_migfsm's worlds hold already.  The wait was a
	 * round trip between the hosts inside the downtime (docs/MIGRATION.md 4e).  The pull
	 * decides (the directory names us, or the source kept it); an ABORT already here (the
	 * source's FENCE won) discards first, a COMMIT is read later.  Without a caphostd we
	 * wait for one, holding the copy: silence is never a verdict.
	 */
	clock_trace("tgt pulling");
	if (caprun_migin_pull(m, c->name, h->ip, h->mtu, &c->epoch, err, sizeof err)) {
		fprintf(stderr, "caprun: incoming capsule %s: %s; discarded\n", name, err);
		return EXIT_FAILURE_SETUP;
	}
	clock_trace("tgt pulled");
	c->uplink_fd = procs_high_fd(m->uplink_fd);
	m->uplink_fd = -1;
	inet_ntop(AF_INET, &c->ip, c->addr, sizeof c->addr);
	return 0;
}
