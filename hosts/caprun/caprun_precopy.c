/* caprun_precopy.c: a live migration's pre-copy, source side: where the target is, then rounds of the capsule's pages while it runs, then, frozen, only what changed (docs/MIGRATION.md section 4c). */
#include "hosts/caprun/caprun_mig_src.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/procs_mig.h"
#include "hosts/common/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(PRECOPY_CHUNK == MIG_CHUNK_MAX, "a pre-copy run is one stream record");

/*
 * While the capsule runs: wait up to timeout_ms for events on the target's
 * socket (none: just relay), relaying the capsule's packets meanwhile and
 * answering `capctl ps` and `stats`.  The socket's revents, or -1.
 */
static int relay_wait(struct mig_src *m, short sock_events, int timeout_ms)
{
	struct host_relay *r = m->r;
	struct pollfd p[4 + CAP_PROC_MAX] = { { r->tun_fd, POLLIN, 0 }, { r->chan_fd, POLLIN, 0 },
	                                      { sock_events ? m->sock : -1, sock_events, 0 },
	                                      { r->ctl_fd, POLLIN, 0 } };
	/* the capsule's other processes too: their pipes and waits go on during the rounds */
	int kids = procs_poll_add(r, p + 4, CAP_PROC_MAX);
	if (poll(p, (nfds_t)(4 + kids), timeout_ms) < 0 && errno != EINTR)
		return -1;
	if (p[3].revents & POLLIN)
		ctlserve_accept_busy(r);
	procs_poll_serve(r, p + 4, kids);
	if (migsrc_relay_ready(m, p, -1, NULL) < 0 && errno != EPIPE)
		return -1;   /* EPIPE: caphostd went away; the real PREPARE attaches again */
	return p[2].revents;
}

/*
 * Write one record to the target while the capsule runs: whenever the
 * socket is full, relay the capsule's packets until it drains, and relay
 * once after each record anyway, so a client sees no pause.  0 or -1.
 */
static int send_relaying(struct mig_src *m, const uint8_t *b, size_t n)
{
	int64_t deadline = clock_now_ms() + SEND_TIMEOUT_S * 1000;
	for (;;) {
		while (n) {
			ssize_t w = send(m->sock, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return -1;
			if (w <= 0)
				break;
			b += w;
			n -= (size_t)w;
		}
		int64_t left = deadline - clock_now_ms();
		if (n && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int ev = relay_wait(m, n ? POLLOUT : 0, n ? (int)left : 0);
		if (ev < 0)
			return -1;
		if (!n)
			return 0;
		if (ev & (POLLERR | POLLHUP))
			return errno = EPIPE, -1;
	}
}

void migsrc_ctl_init(struct mig_src *m)
{
	if (m->ctl_ready)
		return;
	migctl_init(&m->to_target, m->ready.key, MIG_CTL_TO_TARGET);
	migctl_init(&m->from_target, m->ready.key, MIG_CTL_TO_SOURCE);
	m->ctl_ready = 1;
}

/*
 * The target says ROUND_DONE as each round is in its memory (migctl.h).
 * Wait for the last one, relaying: frozen, the final part would otherwise
 * queue behind rounds still in the two hosts' socket buffers (20-40 ms of
 * them at 1 GiB here, all downtime).  Bounded: a slow target costs this wait,
 * then the freeze waits as before.  0, or -1 (the connection broke, or the
 * target refused).
 */
static int wait_caught_up(struct mig_src *m)
{
	int64_t t0 = clock_now_ms(), deadline = t0 + CATCHUP_WAIT_MS;
	migsrc_ctl_init(m);
	while (m->rounds_acked < m->tx.rounds) {
		char text[MIG_CTL_TEXT_MAX + 1];
		int type = 0;
		int rc = migctl_recv(m->sock, &m->from_target, 0, &type, text, sizeof text);
		if (rc == MIG_OK && type == MIG_CTL_ROUND_DONE) {
			m->rounds_acked++;
			continue;
		}
		if (rc == MIG_OK) {   /* REFUSE: it cannot take the capsule after all */
			migsrc_fail(m, "precopy", "host %u refused the capsule: %s", m->target, text);
			return errno = EPROTO, -1;
		}
		if (!(rc == MIG_E_IO && errno == ETIMEDOUT))
			return -1;
		int64_t left = deadline - clock_now_ms();
		if (left <= 0)
			break;
		int ev = relay_wait(m, POLLIN, (int)left);
		if (ev < 0)
			return -1;
	}
	m->pc_catchup_ms = clock_now_ms() - t0;
	return 0;
}

/* One run of another process's pages while it runs (procs_precopy_round's sender). */
struct kid_send {
	struct mig_src *m;
	uint8_t *rec;
};

static int send_kid_pages(void *ctx, int32_t pid, uint64_t off, const uint8_t *bytes, size_t len)
{
	struct kid_send *k = ctx;
	size_t n;
	if (migstream_tx_proc_pages(&k->m->tx, pid, off, bytes, len, k->rec, MIG_REC_MAX, &n) != MIG_OK) {
		errno = EPROTO;
		return -1;
	}
	return send_relaying(k->m, k->rec, n);
}

/*
 * Before the peers are asked anything: where the target is (LOCATE), the
 * stream's head, then rounds of pages while the capsule runs, until what
 * is left fits the downtime target.  MIG_EV_PEER_SYNCED-free: 0 to go on
 * to the real MIG_PREPARE (with pre-copy done, or off: m->pc_note says
 * why), or a failure event (nothing to undo: END is far away).
 */
int migsrc_precopy(struct mig_src *m)
{
	struct host_relay *r = m->r;
	char err[256];
	uint8_t *rec = NULL;
	size_t n;
	if (m->opts->no_precopy) {
		snprintf(m->pc_note, sizeof m->pc_note, "off (asked): all memory moves while frozen");
		migsrc_progress(m, "progress precopy %s", m->pc_note);
		return 0;
	}
	m->t_pc0 = clock_now_ms();
	long target_ms = m->opts->max_downtime_ms > 0 ? m->opts->max_downtime_ms : PRECOPY_DEFAULT_DOWNTIME;
	if (precopy_init(&m->pc, r->child, r->memfd, r->snap_template.memfd_size, target_ms, err,
	                 sizeof err)) {
		snprintf(m->pc_note, sizeof m->pc_note, "off: %s; all memory moves while frozen", err);
		migsrc_progress(m, "progress precopy %s", m->pc_note);
		return 0;
	}
	/* The other processes too, each with its own tracker, in the same rounds. */
	procs_precopy_init(r, &m->kids, r->snap_template.memfd_size, target_ms);
	struct uplink_mig_prepare loc = { .target_host = m->target, .flags = UPLINK_MIG_LOCATE,
	                                  .migration_id = m->id };
	struct uplink_msg msg;
	if (migsrc_send_uplink(m, UPLINK_MIG_PREPARE, &loc, sizeof loc) ||
	    migsrc_pump(m, UPLINK_MIG_READY, PREPARE_TIMEOUT_MS, &msg)) {
		migsrc_fail(m, "precopy", "%s", errno == ENOTCONN ? "no caphostd on this host (it went away)"
		     : errno == EPIPE ? "caphostd went away while locating the target" : strerror(errno));
		return MIG_EV_TIMEOUT;
	}
	if (msg.type == UPLINK_ERROR) {
		migsrc_fail(m, "precopy", "%s", msg.u.error);
		return MIG_EV_TARGET_DEAD;
	}
	m->ready = msg.u.mig_ready;
	m->pc_epoch = m->ready.epoch;
	m->sock = migsrc_connect_target(m);
	if (m->sock < 0) {
		m->why[0] = 0;   /* said again below, as the pre-copy's failure */
		migsrc_fail(m, "precopy", "connecting to host %u: %s", m->target, strerror(errno));
		return MIG_EV_TARGET_DEAD;
	}
	uint8_t head[MIG_HEAD_LEN];
	struct mig_head_info info = { .source_host = m->ready.source_host, .target_host = m->target,
	                              .migration_id = m->id, .epoch = m->ready.epoch };
	/* Who is coming, first: the target checks its image while the capsule still runs here. */
	struct cap_snap_header who = m->r->snap_template;
	who.memfd_size = m->pc.memfd_size;
	rec = malloc(MIG_REC_MAX);
	int rc = !rec ? -1 : migstream_tx_init_keyed(&m->tx, m->ready.key, &info, head) != MIG_OK ? -1
	        : send_relaying(m, head, sizeof head) ? -1
	        : migstream_tx_precopy(&m->tx, &who, rec, MIG_REC_MAX, &n) != MIG_OK ? -1
	        : send_relaying(m, rec, n);
	while (rc == 0) {
		int go = precopy_look(&m->pc);
		if (go <= 0) {
			rc = go;
			break;
		}
		int more;
		uint64_t off;
		size_t len;
		while (rc == 0 && (more = precopy_next(&m->pc, &off, &len)) > 0)
			rc = migstream_tx_pages(&m->tx, off, m->pc.chunk, len, rec, MIG_REC_MAX, &n) != MIG_OK
			     ? (errno = EPROTO, -1) : send_relaying(m, rec, n);
		if (rc == 0 && more < 0)
			rc = -1;
		struct kid_send ks = { m, rec };
		if (rc == 0 && procs_precopy_round(r, &m->kids, send_kid_pages, &ks))
			rc = -1;
		uint64_t bytes = m->tx.round_bytes;
		if (rc == 0 && (migstream_tx_round(&m->tx, rec, MIG_REC_MAX, &n) != MIG_OK ||
		                send_relaying(m, rec, n)))
			rc = -1;
		if (rc == 0) {
			precopy_round_done(&m->pc, bytes);
			const struct precopy_round *pr = &m->pc.r[m->pc.rounds - 1];
			migsrc_progress(m, "progress precopy round %u: %llu pages, %.1f MiB, %ld ms", m->pc.rounds,
			         (unsigned long long)pr->pages, (double)pr->bytes / 1048576.0, pr->ms);
		}
	}
	free(rec);
	if (rc == 0)
		rc = wait_caught_up(m);
	m->t_pc_end = clock_now_ms();
	if (rc < 0) {
		migsrc_send_failed(m, "precopy", MIG_E_IO);
		return MIG_EV_TRANSFER_BROKEN;
	}
	m->pc_on = 1;
	static const char *const why[] = {
		[PRECOPY_CONVERGED] = "the rest fits the downtime target",
		[PRECOPY_OUT_OF_ROUNDS] = "out of rounds: the rest moves while frozen",
		[PRECOPY_NOT_SHRINKING] = "it writes as fast as we send: the rest moves while frozen",
	};
	char caught[96];
	if (m->rounds_acked == m->tx.rounds)
		snprintf(caught, sizeof caught, "host %u had written it all %lld ms after the last round",
		         m->target, (long long)m->pc_catchup_ms);
	else
		snprintf(caught, sizeof caught, "host %u had not written it all after %lld ms: the "
		         "freeze waits for it", m->target, (long long)m->pc_catchup_ms);
	snprintf(m->pc_note, sizeof m->pc_note, "%u rounds, %.1f MiB in %lld ms; %llu pages left, %s; %s",
	         m->pc.rounds, (double)m->pc.total_bytes / 1048576.0,
	         (long long)(m->t_pc_end - m->t_pc0), (unsigned long long)m->pc.pending_pages,
	         why[m->pc.stop], caught);
	migsrc_progress(m, "progress precopy %lld ms: %s", (long long)(m->t_pc_end - m->t_pc0), m->pc_note);
	return 0;
}

/* Frozen, after pre-copy and its final look: the final part of the stream, only what
 * changed (precopy.h). */
int migsrc_send_final(struct mig_src *m, const struct cap_snap_header *h,
                      const struct cap_snap_extent *ext)
{
	size_t n;
	int more, rc = MIG_E_NOMEM;
	uint8_t *rec = malloc(MIG_REC_MAX);
	if (!rec)
		return rc;
	clock_trace("src final-start");
	/* Back to plain blocking writes (SO_SNDTIMEO bounds a stalled target): the capsule is
	 * frozen, nothing to relay. */
	rc = migstream_tx_preamble(&m->tx, h, ext, rec, MIG_REC_MAX, &n);
	if (rc == MIG_OK)
		rc = migstream_send_all(m->sock, rec, n);
	while (rc == MIG_OK && mig_tx_extents_left(&m->tx) > 0) {
		rc = migstream_tx_extents(&m->tx, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(m->sock, rec, n);
	}
	uint64_t off;
	size_t len;
	clock_trace("src preamble-sent");
	while (rc == MIG_OK && (more = precopy_final_next(&m->pc, ext, h->nextents, &off, &len)) != 0) {
		rc = more < 0 ? MIG_E_IO
		     : migstream_tx_data(&m->tx, off, m->pc.chunk, len, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(m->sock, rec, n);
	}
	clock_trace("src data-sent");
	if (rc == MIG_OK && m->po.src.fd >= 0)   /* the other processes: their table, what changed */
		rc = procs_mig_send_frozen(m->sock, &m->tx, &m->po, &m->kids, m->pc.chunk, rec);
	if (rc == MIG_OK)
		rc = migstream_tx_end(&m->tx, rec, MIG_REC_MAX, &n);
	if (rc == MIG_OK) {
		migsrc_say_end(m);
		rc = migstream_send_all(m->sock, rec, n);
	}
	m->bytes = m->tx.data_sent + m->po.frozen_bytes;
	free(rec);
	return rc;
}

