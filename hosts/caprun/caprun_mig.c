/* caprun_mig.c: live migration, source side: prepare the peers, freeze, stream to the target, commit or fence, hand over. */
#include "hosts/caprun/caprun_mig_src.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/held.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/caprun_migin.h"
#include "hosts/caprun/procs_mig.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/uplink.h"
#include "capsule-abi/cap_abi.h"
#include "hosts/common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

_Static_assert(PRECOPY_IDLE_MS < CAPRUN_MIGIN_RECV_TIMEOUT_S * 1000, "the target waits longer");

/*
 * The order of things is docs/MIGRATION.md section 1; the decisions are
 * hosts/caprun/migfsm.h's table.  This file only turns the machine's events into
 * actions: every step below ends in an event fed to migfsm_step, and the
 * actions it returns are carried out in the one order that is safe
 * (run_actions).  caprun is single-threaded; while a migration runs, this
 * code is the loop, so it keeps relaying the capsule's packets itself
 * whenever it waits (pump) until the capsule is frozen.
 */

void migsrc_progress(struct mig_src *m, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	if (m->progress_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof line - 1)
		return;
	line[n++] = '\n';
	/* Best effort: a client that went away does not stop the migration. */
	send(m->progress_fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void migsrc_fail(struct mig_src *m, const char *phase, const char *fmt, ...)
{
	va_list ap;
	if (m->why[0])
		return;   /* the first reason is the real one */
	m->phase = phase;
	va_start(ap, fmt);
	vsnprintf(m->why, sizeof m->why, fmt, ap);
	va_end(ap);
}

/*
 * Sending the capsule to the target failed (rc, errno).  A target that gives
 * up on it says why in a REFUSE before it closes (caprun_migin.c): when the
 * connection broke, read that if it came, else say the target closed it,
 * rather than "Broken pipe".
 */
void migsrc_send_failed(struct mig_src *m, const char *phase, int rc)
{
	int e = errno;
	if (rc == MIG_E_IO && (e == EPIPE || e == ECONNRESET) && m->sock >= 0) {
		char text[MIG_CTL_TEXT_MAX + 1];
		int type = 0, r;
		migsrc_ctl_init(m);
		do   /* the rounds it had written first */
			r = migctl_recv(m->sock, &m->from_target, REFUSE_LOOK_MS, &type, text, sizeof text);
		while (r == MIG_OK && type == MIG_CTL_ROUND_DONE);
		if (r == MIG_OK && type == MIG_CTL_REFUSE)
			migsrc_fail(m, phase, "host %u refused the capsule: %s", m->target, text);
		else
			migsrc_fail(m, phase, "host %u closed the connection while the capsule was sent "
			            "(its caprun --incoming ended: its output says why)", m->target);
		return;
	}
	migsrc_fail(m, phase, "sending the capsule to host %u: %s", m->target,
	            rc == MIG_E_IO ? strerror(e) : migstream_strerror(rc));
}

/*
 * Without a caphostd (it died): wait for a new one and attach again (as
 * frozen and migrating, so it neither releases nor judges the capsule);
 * up to timeout_ms (-1: as long as it takes).  0 when attached.
 */
static int reattach(struct mig_src *m, int timeout_ms)
{
	char err[UPLINK_ERROR_MAX + 64];
	int64_t deadline = clock_now_ms() + timeout_ms;
	while (m->r->tun_fd < 0) {
		if (caprun_uplink_reattach(m->r, err, sizeof err) == 0)
			return 0;
		if (timeout_ms >= 0 && (int64_t)clock_now_ms() >= deadline)
			return -1;
		struct timespec ts = { 0, DIR_RETRY_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int migsrc_send_uplink(struct mig_src *m, int type, const void *body, size_t blen)
{
	uint8_t rec[UPLINK_HDR_LEN + 64];
	size_t n = uplink_encode_body(rec, sizeof rec, type, body, blen);
	/* Frozen: nothing goes on without a caphostd, wait for one; running: a few seconds. */
	if (m->r->tun_fd < 0 && reattach(m, m->frozen ? -1 : REATTACH_WAIT_MS)) {
		errno = ENOTCONN;
		return -1;
	}
	if (!n)
		return -1;
	if (caprun_uplink_send_record(m->r->tun_fd, rec, n) == 0)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || errno == ECONNREFUSED) {
		/* caphostd died since the last look: drop the dead uplink, as migsrc_relay_ready
		 * does when it reads the end, so the caller's next send attaches to a new one
		 * (keeping it made every retry fail at once: a busy loop, seen in test_chaos) */
		close(m->r->tun_fd);
		m->r->tun_fd = -1;
		errno = EPIPE;
	}
	return -1;
}

/*
 * Relay what poll found readable (p[0]: the uplink, p[1]: the channel):
 * the capsule's packets both ways, as the relay would.  1 with *out when a
 * record of type want (or ERROR) came from caphostd, 0 when all was
 * relayed, -1 with EPIPE when caphostd went away (tun_fd is closed then).
 */
int migsrc_relay_ready(struct mig_src *m, const struct pollfd p[2], int want, struct uplink_msg *out)
{
	struct host_relay *r = m->r;
	if (p[1].revents & POLLIN) {
		ssize_t n;
		while ((n = recv(r->chan_fd, m->buf, CAP_CHAN_MAX, MSG_DONTWAIT)) >= 0) {
			if (n == 0 && channel_closed(r->chan_fd))
				break;   /* the capsule died: the freeze (or the relay) will say so */
			channel_record(r, m->buf, (size_t)n);   /* an empty one is counted there */
		}
	}
	if (r->tun_fd < 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	struct uplink_msg msg;
	for (;;) {
		ssize_t n = recv(r->tun_fd, m->buf, UPLINK_MAX, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			/* caphostd died: what we asked died with it; the caller asks again */
			close(r->tun_fd);
			r->tun_fd = -1;
			errno = EPIPE;
			return -1;
		}
		if (uplink_decode(m->buf, (size_t)n, &msg))
			continue;
		if (out && (msg.type == want || msg.type == UPLINK_ERROR)) {
			*out = msg;
			return 1;
		}
		if (msg.type == UPLINK_PACKET && !m->frozen)
			channel_from_uplink(r, m->buf, (size_t)n);   /* as the relay would */
		else if (msg.type == UPLINK_PACKET)
			m->frozen_drops++;   /* its memory is already on the way: lost, and counted */
	}
}

/*
 * Wait for caphostd's answer (a record of type want, or ERROR) while the
 * capsule keeps running: its packets still flow both ways meanwhile.
 * 0 with *out, or -1 (timeout, uplink closed: m->why says which).
 */
int migsrc_pump(struct mig_src *m, int want, int timeout_ms, struct uplink_msg *out)
{
	struct host_relay *r = m->r;
	int64_t deadline = clock_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - clock_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		/* ctl: `capctl ps` and `stats` are answered while the capsule runs here */
		struct pollfd p[3 + CAP_PROC_MAX] = { { r->tun_fd, POLLIN, 0 }, { r->chan_fd, POLLIN, 0 },
		                                      { m->frozen ? -1 : r->ctl_fd, POLLIN, 0 } };
		/* the capsule's other processes too, while it runs (their pipes, waits, exits) */
		int kids = m->frozen ? 0 : procs_poll_add(r, p + 3, CAP_PROC_MAX);
		if (poll(p, (nfds_t)(3 + kids), (int)left) < 0 && errno != EINTR)
			return -1;
		if (p[2].revents & POLLIN)
			ctlserve_accept_busy(r);
		procs_poll_serve(r, p + 3, kids);
		int rc = migsrc_relay_ready(m, p, want, out);
		if (rc)
			return rc > 0 ? 0 : -1;
	}
}

/*
 * Before anything the directory must later decide (the target's locator, the
 * peers' queues, the freeze): can it commit now?  caphostd writes the
 * capsule's state through it (MIG_DIR CHECK: over etcd one Txn, which
 * needs quorum).  While nothing answers, wait with the capsule running here
 * (its packets relayed) and ask again, within --wait-directory in all;
 * idle_max_ms bounds this wait further (an open pre-copy stream the target
 * gives up on after 30 s idle).  0 to go on, or a failure event: nothing
 * to undo, the capsule never stopped.
 */
static int wait_directory(struct mig_src *m, int64_t idle_max_ms)
{
	int64_t t0 = clock_now_ms(), left = m->opts->wait_directory_s * 1000 - m->dirwait_ms;
	int64_t deadline = t0 + (left < idle_max_ms ? left : idle_max_ms);
	int waited = 0;
	for (;;) {
		struct uplink_mig_dir d = { .op = UPLINK_MIG_CHECK, .target_host = m->target,
		                            .epoch = m->r->epoch ? m->r->epoch : 1 };
		struct uplink_msg msg;
		if (migsrc_send_uplink(m, UPLINK_MIG_DIR, &d, sizeof d) ||
		    migsrc_pump(m, UPLINK_MIG_DIR_RESULT, DIR_TIMEOUT_MS, &msg)) {
			if (errno == EPIPE)
				continue;   /* caphostd restarted: ask the new one */
			migsrc_fail(m, "directory-wait", "%s", errno == ENOTCONN ? "no caphostd on this "
			            "host (it went away)" : strerror(errno));
			return MIG_EV_TIMEOUT;
		}
		int64_t now = clock_now_ms();
		const struct uplink_mig_result *res = &msg.u.mig_result;
		if (msg.type == UPLINK_ERROR) {
			migsrc_fail(m, "directory-wait", "%s", msg.u.error);
			return MIG_EV_TIMEOUT;
		}
		if (res->result == UPLINK_MIG_KEPT) {
			m->r->epoch = res->epoch;
			if (waited) {
				m->dirwait_ms += now - t0;
				migsrc_progress(m, "progress directory-wait %lld ms: the directory commits "
				                "again; the migration goes on", (long long)(now - t0));
			}
			return 0;
		}
		if (res->result != UPLINK_MIG_NO_ANSWER) {
			migsrc_fail(m, "directory-wait", "the directory %s (epoch %u): not this host's to move",
			            res->result == UPLINK_MIG_GONE ? "has no entry for the capsule"
			            : "names another holder", res->epoch);
			return MIG_EV_TIMEOUT;
		}
		if (!waited)
			migsrc_progress(m, "progress directory-wait: the directory cannot commit (no answer: "
			                "an etcd cluster without quorum, or no capdird); the capsule runs "
			                "here meanwhile, waiting up to %lld s",
			                (long long)((deadline - t0) / 1000));
		waited = 1;
		if (now >= deadline) {
			m->dirwait_ms += now - t0;
			migsrc_fail(m, "directory-wait", "the directory could not commit for %lld s "
			            "(capctl migrate --wait-directory %ld)", (long long)(m->dirwait_ms / 1000),
			            m->opts->wait_directory_s);
			return MIG_EV_TIMEOUT;
		}
		/* a breath between checks, relaying (a check without quorum takes seconds itself;
		 * a caphostd gone meanwhile is waited for by the next check's send) */
		(void)migsrc_pump(m, -1, DIR_RETRY_MS, NULL);
	}
}

/* ---- the actions ---- */

static int do_sync_peers(struct mig_src *m)
{
	struct uplink_mig_prepare p = { .target_host = m->target, .migration_id = m->id };
	struct uplink_msg msg;
	m->prepare_sent = 1;
	m->t_sync0 = clock_now_ms();
	clock_trace("src sync-start");
	if (migsrc_send_uplink(m, UPLINK_MIG_PREPARE, &p, sizeof p) ||
	    migsrc_pump(m, UPLINK_MIG_READY, PREPARE_TIMEOUT_MS, &msg)) {
		migsrc_fail(m, "sync", "%s", errno == ENOTCONN ? "no caphostd on this host (it went away)"
		     : errno == EPIPE ? "caphostd went away while preparing" : strerror(errno));
		return MIG_EV_TIMEOUT;
	}
	if (msg.type == UPLINK_ERROR) {
		migsrc_fail(m, "sync", "%s", msg.u.error);
		return MIG_EV_TARGET_DEAD;
	}
	m->ready = msg.u.mig_ready;
	if (m->pc_on && m->ready.epoch != m->pc_epoch) {
		migsrc_fail(m, "sync", "the capsule's directory epoch changed during pre-copy (%u, now %u)",
		     m->pc_epoch, m->ready.epoch);
		return MIG_EV_TIMEOUT;
	}
	m->t_sync = clock_now_ms();
	clock_trace("src synced");
	migsrc_progress(m, "progress sync %lld ms: %u of %u peer hosts stopped sending",
	         (long long)(m->t_sync - m->t_sync0), m->ready.peers_acked, m->ready.peers_asked);
	return MIG_EV_PEER_SYNCED;
}

static int do_freeze(struct mig_src *m)
{
	char reply[256];
	clock_trace("src freeze-start");
	if (procs_freeze_all(m->r, reply, sizeof reply)) {   /* every process of the capsule */
		migsrc_fail(m, "freeze", "%s", strncmp(reply, "error ", 6) ? reply : reply + 6);
		return MIG_EV_TIMEOUT;
	}
	m->frozen = 1;
	/* Packets queued for it since the freeze travel in its memory (held.c): the
	 * memory is sent after this, and a thaw after a failure delivers them here. */
	struct held_result held;
	(void)held_collect(m->r, &held);
	/* From here a caphostd that restarts must neither release nor judge it (REATTACH
	 * MIGRATING): the target may soon hold a copy, and only the FENCE decides. */
	m->r->migrating = 1;
	m->t_frozen = clock_now_ms();
	clock_trace("src frozen");
	migsrc_progress(m, "progress freeze %lld ms", (long long)(m->t_frozen - m->t_sync));
	return MIG_EV_FROZEN;
}

int migsrc_connect_target(struct mig_src *m)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(m->ready.target_port),
	                          .sin_addr.s_addr = m->ready.target_addr };
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, a, sizeof a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		migsrc_fail(m, "transfer", "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = { CONNECT_TIMEOUT_MS / 1000, 0 };
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		migsrc_fail(m, "transfer", "connecting to host %u at %s:%u: %s", m->target, a,
		     m->ready.target_port, strerror(errno));
		close(s);
		return -1;
	}
	tv.tv_sec = SEND_TIMEOUT_S;
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return s;
}

/* Just before END goes out: from then on the target may hold a complete copy, so if this
 * caprun dies, caphostd waits for the target's pull instead of releasing the capsule. */
void migsrc_say_end(struct mig_src *m)
{
	uint8_t rec[UPLINK_HDR_LEN];
	if (m->said_end)
		return;
	m->said_end = 1;
	if (m->r->tun_fd >= 0)
		caprun_uplink_send_record(m->r->tun_fd, rec, uplink_encode_simple(rec, sizeof rec,
		                                                                  UPLINK_MIG_END));
}

static void on_sent(void *arg, uint64_t done, uint64_t total)
{
	if (done >= total)
		migsrc_say_end(arg);
}

/*
 * Frozen, pid 1's header made: the other processes' table (pids, parents,
 * slots, held records, their extents), for the stream after pid 1's memory.
 * 0, or -1 (m->why says why; END not written: the capsule thaws here).
 */
static int make_procs_table(struct mig_src *m, const struct cap_snap_header *h)
{
	char err[512];
	if (procs_mig_table(m->r, h, &m->po, err, sizeof err)) {
		migsrc_fail(m, "transfer", "the process table: %s", err);
		return -1;
	}
	return 0;
}

/* Once the frozen part went: how the other processes moved. */
static void say_procs(struct mig_src *m)
{
	char line[200];
	if (procs_mig_describe(&m->po, &m->kids, line, sizeof line))
		migsrc_progress(m, "progress %s", line);
}

static int do_send_stream(struct mig_src *m)
{
	struct host_relay *r = m->r;
	struct cap_snap_header h = r->snap_template;
	struct cap_snap_extent *ext = NULL;
	struct cap_control ctl;
	char err[512];
	if (pread(r->memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		migsrc_fail(m, "transfer", "reading the control page: %s", strerror(errno));
		return MIG_EV_TRANSFER_BROKEN;
	}
	h.frozen_at_ns = ctl.frozen_at_ns;
	clock_trace("src prepare-start");
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	h.taken_at_unix_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (m->pc_on) {
		/* The final look first: it knows the data extents, so the frozen memfd needs no
		 * scan (precopy_final_extents: 13-27 ms for 1 GiB, all of it downtime). */
		const struct cap_snap_extent *known;
		uint32_t n;
		if (procs_mig_mark_window(r, &m->pc)) {
			migsrc_fail(m, "transfer", "the shared window: %s", strerror(errno));
			return MIG_EV_TRANSFER_BROKEN;
		}
		if (precopy_final_look(&m->pc)) {
			migsrc_fail(m, "transfer", "the pre-copy's last look: %s", strerror(errno));
			return MIG_EV_TRANSFER_BROKEN;
		}
		clock_trace("src final-looked");
		if (precopy_final_extents(&m->pc, &known, &n) ?
		    snapfile_prepare_known(&h, known, n, err, sizeof err) :
		    snapfile_prepare(r->memfd, &h, &ext, err, sizeof err)) {
			migsrc_fail(m, "transfer", "%s", err);
			return MIG_EV_TRANSFER_BROKEN;
		}
		if (make_procs_table(m, &h)) {
			free(ext);
			return MIG_EV_TRANSFER_BROKEN;
		}
		int rc = migsrc_send_final(m, &h, ext ? ext : known);
		free(ext);
		if (rc != MIG_OK) {
			migsrc_send_failed(m, "transfer", rc);
			return MIG_EV_TRANSFER_BROKEN;
		}
		m->end_written = 1;
		say_procs(m);
		m->t_sent = clock_now_ms();
		clock_trace("src end-written");
		migsrc_progress(m, "progress transfer %lld ms: %llu bytes changed since pre-copy",
		         (long long)(m->t_sent - m->t_frozen), (unsigned long long)m->bytes);
		return MIG_EV_TRANSFER_DONE;
	}
	if (snapfile_prepare(r->memfd, &h, &ext, err, sizeof err)) {
		migsrc_fail(m, "transfer", "%s", err);
		return MIG_EV_TRANSFER_BROKEN;
	}
	if (make_procs_table(m, &h)) {
		free(ext);
		return MIG_EV_TRANSFER_BROKEN;
	}
	m->sock = migsrc_connect_target(m);
	if (m->sock < 0) {
		free(ext);
		return MIG_EV_TARGET_DEAD;
	}
	struct mig_head_info info = { .source_host = m->ready.source_host, .target_host = m->target,
	                              .migration_id = m->id, .epoch = m->ready.epoch };
	if (!h.data_size)
		migsrc_say_end(m);
	int rc = migstream_send_fd(m->sock, m->ready.key, &info, &h, ext, r->memfd,
	                           m->po.src.fd >= 0 ? &m->po.src : NULL, on_sent, m);
	free(ext);
	if (rc != MIG_OK) {
		migsrc_send_failed(m, "transfer", rc);
		return MIG_EV_TRANSFER_BROKEN;
	}
	m->end_written = 1;
	m->bytes = h.data_size + procs_mig_whole_bytes(&m->po);
	say_procs(m);
	m->t_sent = clock_now_ms();
	migsrc_progress(m, "progress transfer %lld ms: %llu bytes", (long long)(m->t_sent - m->t_frozen),
	         (unsigned long long)m->bytes);
	return MIG_EV_TRANSFER_DONE;
}

/* AWAIT_CONFIRM: the target's first control record, or its silence. */
static int await_confirm(struct mig_src *m)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	int type = 0;
	int rc;
	do   /* a round's ROUND_DONE the pre-copy stopped waiting for: done with */
		rc = migctl_recv(m->sock, &m->from_target, CONFIRM_TIMEOUT_MS, &type, text, sizeof text);
	while (rc == MIG_OK && type == MIG_CTL_ROUND_DONE);
	if (rc == MIG_OK && type == MIG_CTL_CONFIRM) {
		m->t_confirm = clock_now_ms();
		clock_trace("src confirmed");
		migsrc_progress(m, "progress restore %lld ms: host %u holds it, not running",
		         (long long)(m->t_confirm - m->t_sent), m->target);
		return MIG_EV_CONFIRM_RECEIVED;
	}
	if (rc == MIG_OK && type == MIG_CTL_REFUSE) {
		migsrc_fail(m, "restore", "host %u refused the capsule: %s", m->target, text);
		return MIG_EV_TARGET_REFUSED;
	}
	if (rc == MIG_E_IO && errno == ETIMEDOUT) {
		migsrc_fail(m, "restore", "host %u did not confirm within %d s", m->target,
		     CONFIRM_TIMEOUT_MS / 1000);
		return MIG_EV_TIMEOUT;
	}
	migsrc_fail(m, "restore", "host %u: %s before confirming", m->target,
	     rc == MIG_E_IO ? (errno == EPIPE ? "the connection closed" : strerror(errno))
	                    : migstream_strerror(rc));
	return MIG_EV_TRANSFER_BROKEN;
}

/*
 * FENCE (re-claim at e) or LOOKUP, through caphostd: what the directory
 * says now, as an event.  No answer (the directory or caphostd is down):
 * MIG_EV_TIMEOUT after a short wait; the capsule stays frozen meanwhile.
 */
static int directory(struct mig_src *m, uint32_t op)
{
	struct uplink_mig_dir d = { .op = op, .target_host = m->target, .epoch = m->ready.epoch };
	struct uplink_msg msg;
	if (!m->t_dir0)
		m->t_dir0 = clock_now_ms();
	if (migsrc_send_uplink(m, UPLINK_MIG_DIR, &d, sizeof d) ||
	    migsrc_pump(m, UPLINK_MIG_DIR_RESULT, DIR_TIMEOUT_MS, &msg) || msg.type != UPLINK_MIG_DIR_RESULT ||
	    msg.u.mig_result.result == UPLINK_MIG_NO_ANSWER) {
		struct timespec ts = { 0, DIR_RETRY_MS * 1000000L };
		nanosleep(&ts, NULL);   /* wait, frozen; never give up */
		return MIG_EV_TIMEOUT;
	}
	const struct uplink_mig_result *res = &msg.u.mig_result;
	switch (res->result) {
	case UPLINK_MIG_KEPT:
		m->r->epoch = res->epoch;
		return MIG_EV_DIRECTORY_KEPT;
	case UPLINK_MIG_GONE:
		return MIG_EV_DIRECTORY_GONE;
	case UPLINK_MIG_RUNNING:
		m->new_epoch = res->epoch;
		m->t_dir = clock_now_ms();
		return MIG_EV_DIRECTORY_RUNNING;
	}
	m->new_epoch = res->epoch;
	return MIG_EV_DIRECTORY_MOVED;
}

/* A record from the target within wait_ms: STARTED (with its "epoch=N pull_ms=M"), REFUSE,
 * or a broken connection, as an event; 0: nothing in that time, the connection is fine. */
static int from_target(struct mig_src *m, int wait_ms)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	int type = 0;
	if (m->sock < 0)
		return MIG_EV_TRANSFER_BROKEN;
	int rc = migctl_recv(m->sock, &m->from_target, wait_ms, &type, text, sizeof text);
	if (rc == MIG_E_IO && errno == ETIMEDOUT)
		return 0;
	if (rc != MIG_OK) {
		close(m->sock);   /* END went out long ago: a plain close */
		m->sock = -1;
		return MIG_EV_TRANSFER_BROKEN;
	}
	if (type == MIG_CTL_STARTED) {
		unsigned epoch = 0;
		long pull = -1;
		m->t_started = clock_now_ms();
		clock_trace("src started-received");
		if (sscanf(text, "epoch=%u pull_ms=%ld", &epoch, &pull) == 2) {
			m->new_epoch = epoch;
			m->pull_ms = pull;
		}
		migsrc_progress(m, "progress directory %ld ms: host %u pulled it (epoch %u) and runs it",
		         m->pull_ms >= 0 ? m->pull_ms : 0, m->target, m->new_epoch);
		return MIG_EV_TARGET_STARTED;
	}
	if (type == MIG_CTL_REFUSE) {
		migsrc_fail(m, "directory", "host %u gave up the capsule: %s", m->target, text);
		return MIG_EV_TARGET_REFUSED;
	}
	return 0;   /* a late CONFIRM: nothing new */
}

/* HANDING_OVER: COMMIT went out; STARTED, or silence (then the directory decides). */
static int await_started(struct mig_src *m)
{
	int64_t deadline = clock_now_ms() + STARTED_TIMEOUT_MS;
	for (;;) {
		int64_t left = deadline - clock_now_ms();
		if (left <= 0) {
			migsrc_fail(m, "directory", "host %u did not say it started within %d s", m->target,
			     STARTED_TIMEOUT_MS / 1000);
			return MIG_EV_TIMEOUT;
		}
		int ev = from_target(m, (int)left);
		if (ev == MIG_EV_TRANSFER_BROKEN)
			migsrc_fail(m, "directory", "host %u: the connection closed before it started", m->target);
		if (ev)
			return ev;
	}
}

/* FENCING: the stream may still bring STARTED; else the fence's answer. */
static int fence(struct mig_src *m)
{
	int ev = m->sock >= 0 ? from_target(m, 0) : 0;
	return ev == MIG_EV_TARGET_STARTED ? ev : directory(m, UPLINK_MIG_FENCE);
}

/* AWAIT_RUNNING: the pull won; until STARTED arrives or the directory says how it ended. */
static int await_running(struct mig_src *m)
{
	for (;;) {
		int ev = m->sock >= 0 ? from_target(m, RUNNING_POLL_MS) : 0;
		if (ev == MIG_EV_TARGET_STARTED)
			return ev;
		if (m->sock < 0 && !ev) {
			struct timespec ts = { 0, RUNNING_POLL_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
		ev = directory(m, UPLINK_MIG_LOOKUP);
		if (ev != MIG_EV_DIRECTORY_MOVED && ev != MIG_EV_TIMEOUT)
			return ev;
	}
}

static void close_stream(struct mig_src *m)
{
	if (m->sock >= 0) {
		/* An abortive close: a stream cut before END must never look finished. */
		struct linger lg = { 1, 0 };
		if (!m->end_written)
			setsockopt(m->sock, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(m->sock);
	}
	m->sock = -1;
}

static void mig_done(struct mig_src *m, uint32_t outcome, uint32_t epoch)
{
	/*
	 * Moved: packets caphostd forwarded here meanwhile die with this copy.  Count them
	 * so every drop is on caphostd's books (a thawed capsule reads them as usual).
	 */
	const uint8_t *pkt;
	while (outcome == UPLINK_MIG_COMMITTED && m->r->tun_fd >= 0 &&
	       caprun_uplink_take_packet(m->r->tun_fd, m->buf, &pkt) > 0)
		m->frozen_drops++;
	struct uplink_mig_done d = { .outcome = outcome, .target_host = m->target, .epoch = epoch,
	                             .frozen_drops = m->frozen_drops };
	if (migsrc_send_uplink(m, UPLINK_MIG_DONE, &d, sizeof d))
		fprintf(stderr, "caprun: capsule %s: telling caphostd how the migration ended: %s\n",
		        m->r->name, strerror(errno));
}

/*
 * Carry out one step's actions in the safe order: the stream is cut before
 * anything else (END must be impossible once the capsule may run again);
 * the capsule here thaws only on the machine's word; peers are told last.
 */
static void run_actions(struct mig_src *m, unsigned a)
{
	if (a & MIG_A_CLOSE_STREAM)
		close_stream(m);
	if ((a & MIG_A_SEND_ABORT) && m->sock >= 0 && m->end_written)
		migctl_send(m->sock, &m->to_target, MIG_CTL_ABORT, NULL);
	if ((a & MIG_A_THAW_SOURCE) && m->frozen) {
		m->r->migrating = 0;
		procs_thaw_all(m->r);   /* every process, then what was held for them */
		m->frozen = 0;
	}
	if ((a & MIG_A_RELEASE_PEERS) && m->prepare_sent)   /* after LOCATE only, nobody holds */
		mig_done(m, UPLINK_MIG_ABORTED, m->r->epoch);
	if ((a & MIG_A_SEND_COMMIT) && m->sock >= 0 &&
	    migctl_send(m->sock, &m->to_target, MIG_CTL_COMMIT, NULL) != MIG_OK) {
		close(m->sock);   /* the target went away: HANDING_OVER sees it broken */
		m->sock = -1;
	}
	if (a & MIG_A_SEND_COMMIT)
		clock_trace("src commit-sent");
	if (a & MIG_A_FLUSH_PEERS)
		mig_done(m, UPLINK_MIG_COMMITTED, m->new_epoch);
	if (a & MIG_A_FLUSH_PEERS)
		clock_trace("src done-sent");
	/* MIG_A_KILL_SOURCE: the caller stops caprun, which kills the frozen copy. */
}

static int step(struct mig_src *m, int ev)
{
	unsigned a = migfsm_step(&m->fsm, (enum mig_event)ev);
	run_actions(m, a);
	return (int)a;
}

static long ms(int64_t a, int64_t b) { return a && b && b >= a ? (long)(b - a) : 0; }

static int test_fault(const struct mig_src *m, const char *name)
{
	return m->fault && strcmp(m->fault, name) == 0;
}

int caprun_mig_move(struct host_relay *r, uint32_t target, const struct caprun_mig_opts *o,
                    int progress_fd, char *reply, size_t len)
{
	static struct mig_src m;
	if (!r->uplink) {
		snprintf(reply, len, "error live migration needs caphostd on this host (caprun runs alone)");
		return 0;
	}
	if (r->thaw_on_frozen) {
		snprintf(reply, len, "error capsule %s has not answered an earlier freeze yet", r->name);
		return 0;
	}
	memset(&m, 0, sizeof m);
	m.r = r;
	m.target = target;
	m.fault = o->fault;
	m.opts = o;
	m.progress_fd = progress_fd;
	m.sock = -1;
	m.po.src.fd = -1;
	m.pull_ms = -1;
	m.id = migstream_new_id();
	m.t0 = clock_now_ms();
	migfsm_init(&m.fsm, MIG_ROLE_SOURCE);

	int ev = MIG_EV_START;
	while (!migfsm_final(&m.fsm)) {
		enum mig_state before = m.fsm.state;
		unsigned a = (unsigned)step(&m, ev);
		if (!a && m.fsm.state == before)
			break;   /* cannot happen with the table's events; never spin */
		switch (m.fsm.state) {
		case MIG_S_SYNCING:
			/* Pre-copy belongs to SYNCING for the state machine: END is far away, so any
			 * failure aborts with the capsule running, as a failed SYNC does.  The
			 * directory is checked before it and again before the peers are asked. */
			ev = wait_directory(&m, INT64_MAX / 2);
			if (ev == 0)
				ev = migsrc_precopy(&m);
			if (ev == 0 && test_fault(&m, "source-hostd-killed-after-precopy"))
				caprun_uplink_kill_peer(m.r->tun_fd);
			if (ev == 0)
				ev = wait_directory(&m, m.sock >= 0 ? PRECOPY_IDLE_MS : INT64_MAX / 2);
			if (ev == 0)
				ev = do_sync_peers(&m);
			if (ev == MIG_EV_PEER_SYNCED)
				migsrc_ctl_init(&m);
			break;
		case MIG_S_FREEZING:
			ev = do_freeze(&m);
			break;
		case MIG_S_TRANSFERRING:
			ev = do_send_stream(&m);
			break;
		case MIG_S_AWAIT_CONFIRM:
			ev = await_confirm(&m);
			if (ev == MIG_EV_CONFIRM_RECEIVED && test_fault(&m, "source-exit-after-confirm"))
				_exit(3);   /* test: the source host dies here; the target must pull */
			if (ev == MIG_EV_CONFIRM_RECEIVED && test_fault(&m, "source-stall-after-confirm")) {
				struct timespec ts = { STALL_FAULT_MS / 1000, 0 };
				nanosleep(&ts, NULL);
			}
			break;
		case MIG_S_HANDING_OVER:
			ev = await_started(&m);
			break;
		case MIG_S_FENCING:
			ev = fence(&m);
			break;
		case MIG_S_AWAIT_RUNNING:
			ev = await_running(&m);
			break;
		default:
			break;
		}
	}
	close_stream(&m);
	procs_mig_out_free(&m.po);
	procs_precopy_free(&m.kids);
	precopy_free(&m.pc);
	migstream_tx_free(&m.tx);
	migctl_wipe(&m.to_target);
	migctl_wipe(&m.from_target);
	sodium_memzero(m.ready.key, sizeof m.ready.key);
	m.t_end = clock_now_ms();
	r->migrating = 0;
	if (m.fsm.state == MIG_S_LOST) {
		snprintf(reply, len, "error directory: host %u started the capsule and lost it there "
		         "(the directory released it); nothing runs it now", m.target);
		return 1;   /* our copy is stale: it must not run either */
	}
	if (m.fsm.state != MIG_S_COMMITTED) {
		snprintf(reply, len, "error %s: %s; the capsule continues on this host",
		         m.phase ? m.phase : "directory", m.why[0] ? m.why : "the source kept it");
		return 0;
	}
	/* The target's pull is the directory phase (its STARTED says how long); else our look. */
	int64_t started = m.t_started ? m.t_started : m.t_end;
	long dir_ms = m.pull_ms >= 0 ? m.pull_ms : ms(m.t_dir0, m.t_dir);
	long flush_ms = ms(m.t_confirm, started) - dir_ms;
	snprintf(reply, len, "ok %u %u %ld %ld %ld %ld %ld %ld %ld %ld %llu %u %u %u %u %ld %llu %lld "
	         "%u %llu",
	         m.target, m.new_epoch, ms(m.t_sync0, m.t_sync), ms(m.t_sync, m.t_frozen), ms(m.t_frozen, m.t_sent),
	         ms(m.t_sent, m.t_confirm), dir_ms, flush_ms > 0 ? flush_ms : 0,
	         ms(m.t_sync, started), ms(m.t0, m.t_end), (unsigned long long)m.bytes,
	         m.ready.peers_asked, m.ready.peers_acked, m.ready.source_host,
	         m.pc_on ? m.pc.rounds : 0, m.pc_on ? ms(m.t_pc0, m.t_pc_end) : 0,
	         (unsigned long long)(m.pc_on ? m.pc.total_bytes : 0), (long long)m.dirwait_ms,
	         m.po.nprocs ? m.po.nprocs : 1, (unsigned long long)m.po.frozen_bytes);
	r->migrated_to = target;
	return 1;
}
