/* hostd_mig.c: live migration in caphostd: the source's MIG_PREPARE/DIR/DONE, the target's arrival, the listener that starts `caprun --incoming`. */
#include "hosts/common/fileio.h"
#include "hosts/caphostd/hostd.h"
#include "hosts/formats/migstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- source: MIG_PREPARE -> SYNC to the peers -> MIG_READY ---- */

static void prepare_error(struct hostd *d, const struct hostd_cap *c, const char *text)
{
	uint8_t rec[UPLINK_HDR_LEN + UPLINK_ERROR_MAX];
	d->cnt.mig_prepare_errors++;
	hostd_core_uplink_send(d, c, rec, uplink_encode_error(rec, sizeof rec, text));
}

/* SYNC to the peers of c's migration: all of them, or those that have not acknowledged. */
static void send_sync(struct hostd *d, const struct hostd_cap *c, int only_silent)
{
	struct hostd_sync_msg m = { .kind = HOSTD_SYNC, .capsule_ip = c->ip, .epoch = c->mig.epoch,
	                            .migration_id = c->mig.id, .host_id = c->mig.target };
	for (uint32_t i = 0; i < c->mig.npeers; i++) {
		const struct hostd_peer *p = hostd_core_peer(d, c->mig.peers[i], 0);
		if ((!only_silent || !c->mig.acked[i]) && p && p->addr)
			hostd_sync_send(d, &m, p->addr, p->port);
	}
}

static void send_ready(struct hostd *d, struct hostd_cap *c)
{
	uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_mig_ready)];
	struct uplink_mig_ready r = { .target_addr = c->mig.target_addr, .target_port = MIG_PORT,
	                              .epoch = c->mig.epoch, .peers_asked = c->mig.npeers,
	                              .peers_acked = c->mig.nacked, .source_host = d->host_id };
	migstream_derive_key(d->data_key, c->mig.id, r.key);
	hostd_core_uplink_send(d, c, rec, uplink_encode_body(rec, sizeof rec, UPLINK_MIG_READY, &r, sizeof r));
	sodium_memzero(&r, sizeof r);
	sodium_memzero(rec, sizeof rec);
	c->mig.ready_sent = 1;
	c->mig.resend_ms = clock_now_ms() + HOSTD_SYNC_REFRESH_MS;
}

static void prepare_continue(struct hostd *d, struct hostd_cap *c,
                             const struct uplink_mig_prepare *p, uint32_t addr, uint16_t port)
{
	memset(&c->mig, 0, sizeof c->mig);
	c->mig.active = 1;
	c->mig.id = p->migration_id;
	c->mig.target = p->target_host;
	c->mig.target_addr = addr;
	c->mig.target_port = port;
	c->mig.epoch = c->epoch;
	/*
	 * Every peer host we know a locator for: each host with a connection to
	 * the capsule has sent it at least one authenticated packet (TCP answers
	 * every segment), and that packet put the host in peers[].  So this is a
	 * superset of the capsule's peer hosts, without asking the capsule; a host
	 * with nothing for it just holds an empty queue until FLUSH_TO.  The
	 * gateway is among them (found at start), for what reaches it before HOLD.
	 */
	for (int i = 0; i < HOSTD_MAX_PEERS; i++)
		if (d->peers[i].host_id && d->peers[i].addr)
			c->mig.peers[c->mig.npeers++] = d->peers[i].host_id;
	/* We are a peer of our own capsule too: our other capsules and our gateway side
	 * wait in the same kind of queue, released by MIG_DONE like everybody's. */
	hostd_sync_open(d, c->ip, c->epoch, c->mig.id, d->host_id);
	send_sync(d, c, 0);
	uint64_t now = clock_now_ms();
	c->mig.ready_ms = now + HOSTD_SYNC_WAIT_MS;
	c->mig.resend_ms = now + HOSTD_SYNC_RESEND_MS;
	if (c->mig.npeers == 0)
		send_ready(d, c);
}

/* MIG_PREPARE with LOCATE: where the target is and the key, nothing else (pre-copy comes first). */
static void locate_answer(struct hostd *d, const struct hostd_cap *c, uint64_t id, uint32_t addr)
{
	uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_mig_ready)];
	struct uplink_mig_ready r = { .target_addr = addr, .target_port = MIG_PORT, .epoch = c->epoch,
	                              .source_host = d->host_id };
	migstream_derive_key(d->data_key, id, r.key);
	hostd_core_uplink_send(d, c, rec, uplink_encode_body(rec, sizeof rec, UPLINK_MIG_READY, &r, sizeof r));
	sodium_memzero(&r, sizeof r);
	sodium_memzero(rec, sizeof rec);
}

/* The target's locator from the directory (HOST_LOOKUP), then the rest of MIG_PREPARE. */
static void prepare_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	char err[UPLINK_ERROR_MAX];
	struct hostd_cap *c = hostd_dir_job_cap(d, j);
	struct uplink_mig_prepare p = { .target_host = j->host, .migration_id = j->id };
	if (!c || c->state != HCAP_RUNNING || c->mig.active) {
		hostd_dir_job_free(d, j);   /* it went away, froze or started another migration meanwhile */
		return;
	}
	if (rc == 0 && r->u.host.host_id == j->host && (j->state & UPLINK_MIG_LOCATE)) {
		locate_answer(d, c, j->id, htonl(r->u.host.addr));
	} else if (rc == 0 && r->u.host.host_id == j->host) {
		prepare_continue(d, c, &p, htonl(r->u.host.addr), r->u.host.data_port);
	} else {
		if (rc == DIR_E_NOT_FOUND)
			snprintf(err, sizeof err, "host %u is not known to the directory or has no locator "
			         "yet (not in its key file, or its caphostd never said HELLO)", j->host);
		else
			snprintf(err, sizeof err, "directory: HOST_LOOKUP of host %u: %s", j->host,
			         rc > 0 ? dirproto_error_name(rc) : "no answer");
		prepare_error(d, c, err);
	}
	hostd_dir_job_free(d, j);
}

static void prepare_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_HOST_LOOKUP };
	m.u.host_lookup.host_id = j->host;
	hostd_dir_job_ask(d, j, &m, DIRC_DEFAULT_ATTEMPTS);
}

static const struct hostd_job_ops prepare_ops = { "mig_prepare", prepare_answer, prepare_ask, NULL };

void hostd_mig_prepare(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_prepare *p)
{
	char err[UPLINK_ERROR_MAX];
	const char *fault = getenv("CAPSULE_MIG_FAULT");
	int locate = (p->flags & UPLINK_MIG_LOCATE) != 0;
	if (fault && strcmp(fault, "source-hostd-exit-on-prepare") == 0 && !locate)
		_exit(9);   /* test fault (docs/MIGRATION.md section 8): the source's daemon dies here */
	if (!locate)
		d->cnt.mig_prepares++;
	if (c->mig.active) {
		snprintf(err, sizeof err, "capsule %s is already migrating (to host %u)", c->name,
		         c->mig.target);
		prepare_error(d, c, err);
		return;
	}
	if (c->state != HCAP_RUNNING) {
		snprintf(err, sizeof err, "capsule %s is %s on host %u, not running", c->name,
		         hostd_core_cap_state_name(c), d->host_id);
		prepare_error(d, c, err);
		return;
	}
	if (p->target_host == d->host_id) {
		snprintf(err, sizeof err, "host %u is this host: capsule %s already runs here",
		         p->target_host, c->name);
		prepare_error(d, c, err);
		return;
	}
	struct hostd_job *j = hostd_dir_job_new(d, &prepare_ops);
	if (!j) {
		prepare_error(d, c, "caphostd: too many directory requests at once; try again");
		return;
	}
	hostd_dir_job_bind(j, d, c);
	j->host = p->target_host;
	j->id = p->migration_id;
	j->state = p->flags;
	prepare_ask(d, j);
}

void hostd_mig_ack(struct hostd *d, uint32_t sender, const struct hostd_sync_msg *m)
{
	for (int i = 0; i < d->caps_hw; i++) {   /* slots above were never used */
		struct hostd_cap *c = &d->caps[i];
		if (c->state < HCAP_RUNNING || !c->mig.active || c->ip != m->capsule_ip ||
		    c->mig.id != m->migration_id || c->mig.epoch != m->epoch)
			continue;
		for (uint32_t k = 0; k < c->mig.npeers; k++)
			if (c->mig.peers[k] == sender && !c->mig.acked[k]) {
				c->mig.acked[k] = 1;
				c->mig.nacked++;
			}
		if (!c->mig.ready_sent && c->mig.nacked == c->mig.npeers)
			send_ready(d, c);
		return;
	}
	d->cnt.sync_bad++;   /* no such migration (any more): a late or stray acknowledgement */
}

int hostd_mig_tick(struct hostd *d, uint64_t now)
{
	int next = -1;
	for (int i = 0; i < d->caps_hw; i++) {   /* slots above were never used */
		struct hostd_cap *c = &d->caps[i];
		if (c->state < HCAP_RUNNING || !c->mig.active || c->fd < 0)
			continue;
		if (!c->mig.ready_sent && now >= c->mig.ready_ms) {
			send_ready(d, c);   /* the silent peers are counted as such: caprun decides */
		} else if (!c->mig.ready_sent && now >= c->mig.resend_ms) {
			send_sync(d, c, 1);   /* UDP: a lost SYNC or SYNC_ACK gets another chance */
			c->mig.resend_ms = now + HOSTD_SYNC_RESEND_MS;
		} else if (c->mig.ready_sent && !c->mig.decided && now >= c->mig.resend_ms) {
			/* A long transfer must not outlast the peers' queue timeout. */
			const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
			if (x && x->state == XLATE_REMOTE) {
				c->mig.decided = 1;   /* its target already announced itself (it pulled) */
				continue;
			}
			send_sync(d, c, 0);
			hostd_sync_open(d, c->ip, c->mig.epoch, c->mig.id, d->host_id);
			c->mig.resend_ms = now + HOSTD_SYNC_REFRESH_MS;
		}
		if (c->mig.ready_sent && c->mig.decided)
			continue;
		uint64_t due = c->mig.ready_sent ? c->mig.resend_ms
		               : c->mig.resend_ms < c->mig.ready_ms ? c->mig.resend_ms : c->mig.ready_ms;
		int wait = due > now ? (int)(due - now) : 0;
		if (next < 0 || wait < next)
			next = wait;
	}
	return next;
}

/* ---- source: MIG_DIR (the commit or the fence) and MIG_DONE ---- */

/* The directory names host (not us) at epoch: route there; late packets get REDIRECTs. */
static void set_remote(struct hostd *d, struct hostd_cap *c, uint32_t host, uint32_t epoch,
                       uint32_t addr, uint16_t port)
{
	if ((!addr || !port) && c->mig.active && host == c->mig.target) {
		addr = c->mig.target_addr;
		port = c->mig.target_port;
	}
	const struct hostd_peer *p = hostd_core_peer(d, host, 0);
	if ((!addr || !port) && p && p->addr) {
		addr = p->addr;
		port = p->port;
	}
	if (!addr || !port)
		hostd_dir_host(d, host);   /* the next packet's lookup finds the locator */
	struct xlate_entry x = { .capsule_ip = c->ip, .host_id = host, .locator_ip = addr, .port = port,
	                         .state = addr && port ? XLATE_REMOTE : XLATE_UNKNOWN, .epoch = epoch,
	                         .last_used_ms = clock_now_ms() };
	xlate_update(&d->xt, &x);
}

/* The directory names us at epoch (a won FENCE, or the target gave it back). */
static void set_kept(struct hostd *d, struct hostd_cap *c, uint32_t epoch)
{
	int frozen = c->state == HCAP_FROZEN;
	struct xlate_entry x = { .capsule_ip = c->ip, .state = frozen ? XLATE_FROZEN : XLATE_LOCAL,
	                         .epoch = epoch };
	int changed = epoch != c->epoch;
	c->epoch = epoch;
	if (xlate_update(&d->xt, &x) != XLATE_OK) {
		xlate_delete(&d->xt, c->ip);   /* the directory just named us: nothing newer exists */
		xlate_update(&d->xt, &x);
	}
	if (changed)   /* a FENCE resets the directory's state like a move: report ours again */
		hostd_dir_report(d, c, frozen ? DIR_STATE_FROZEN : DIR_STATE_RUNNING);
}

/*
 * MIG_DIR: the source's FENCE (MOVE to itself at e) or LOOKUP, answered
 * with what the directory says now: KEPT (we hold it at a newer epoch),
 * MOVED / RUNNING (the target holds it; its caphostd reported it running),
 * GONE (released: it ran on the target and died there), or NO_ANSWER.
 */
enum { MD_FENCE, MD_LOOKUP, MD_CHECK };

static void mig_dir_reply(struct hostd *d, struct hostd_cap *c, uint32_t result, uint32_t holder, uint32_t epoch)
{
	uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_mig_result)];
	struct uplink_mig_result res = { result, holder, epoch, 0 };
	hostd_core_uplink_send(d, c, rec, uplink_encode_body(rec, sizeof rec, UPLINK_MIG_DIR_RESULT, &res,
	                                             sizeof res));
}

static void mig_dir_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = j->step == MD_FENCE ? DIR_T_MOVE
	                            : j->step == MD_CHECK ? DIR_T_STATE : DIR_T_LOOKUP };
	if (j->step == MD_CHECK) {
		/* a write on the path a commit takes (over etcd: a Txn, so it needs quorum) */
		m.u.state.ip = ntohl(j->ip);
		m.u.state.epoch = j->epoch;
		m.u.state.state = DIR_STATE_RUNNING;
	} else if (j->step == MD_FENCE) {
		m.u.move.ip = ntohl(j->ip);
		m.u.move.to_host_id = d->host_id;
		m.u.move.expected_epoch = j->epoch;
	} else {
		m.u.lookup.ip = ntohl(j->ip);
	}
	hostd_dir_job_ask(d, j, &m, DIRC_DEFAULT_ATTEMPTS);
}

static void mig_dir_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	struct hostd_cap *c = hostd_dir_job_cap(d, j);
	if (!c || c->state < HCAP_RUNNING || c->state == HCAP_SAVED) {
		hostd_dir_job_free(d, j);   /* its caprun is gone: the orphan job watches the entry now */
		return;
	}
	if (j->step == MD_CHECK) {
		/* written: it can commit; refused: it names another holder (or nobody) */
		uint32_t now = rc == 0 ? r->u.entry.epoch : rc > 0 ? r->u.error.epoch : 0;
		mig_dir_reply(d, c, rc == 0 ? UPLINK_MIG_KEPT : rc == DIR_E_NOT_FOUND ? UPLINK_MIG_GONE
		              : rc > 0 ? UPLINK_MIG_MOVED : UPLINK_MIG_NO_ANSWER,
		              rc == 0 ? d->host_id : 0, now);
		if (rc < 0)
			d->cnt.mig_check_waits++;
	} else if (j->step == MD_FENCE && rc == 0) {
		set_kept(d, c, r->u.ipepoch.epoch);
		mig_dir_reply(d, c, UPLINK_MIG_KEPT, d->host_id, r->u.ipepoch.epoch);
	} else if (j->step == MD_FENCE && (rc == DIR_E_STALE_EPOCH || rc == DIR_E_NOT_AUTHORIZED)) {
		j->step = MD_LOOKUP;   /* the pull won (or an earlier try of ours): who holds it now? */
		mig_dir_ask(d, j);
		return;
	} else if (rc == DIR_E_NOT_FOUND) {
		mig_dir_reply(d, c, UPLINK_MIG_GONE, 0, 0);
	} else if (rc) {
		if (rc < 0)
			d->cnt.dir_errors++;
		mig_dir_reply(d, c, UPLINK_MIG_NO_ANSWER, 0, 0);
	} else if (j->step == MD_LOOKUP) {
		const struct dir_entry *e = &r->u.entry;
		if (e->host_id == d->host_id && e->epoch > j->epoch) {
			set_kept(d, c, e->epoch);
			mig_dir_reply(d, c, UPLINK_MIG_KEPT, e->host_id, e->epoch);
		} else if (e->host_id == j->host) {
			c->mig.moved = c->mig.active;
			set_remote(d, c, e->host_id, e->epoch, htonl(e->host_addr), e->data_port);
			mig_dir_reply(d, c, e->state == DIR_STATE_RUNNING ? UPLINK_MIG_RUNNING
			                                                  : UPLINK_MIG_MOVED, e->host_id, e->epoch);
		} else {
			/* Still ours at e (nobody decided yet), or a third host: not an outcome. */
			mig_dir_reply(d, c, UPLINK_MIG_NO_ANSWER, e->host_id, e->epoch);
		}
	}
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops mig_dir_ops = { "mig_dir", mig_dir_answer, mig_dir_ask, NULL };

void hostd_mig_dir(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_dir *m)
{
	if (m->op == UPLINK_MIG_CHECK) {
		/* before any migration state: nothing is decided, nothing out of order */
		d->cnt.mig_checks++;
		struct hostd_job *j = hostd_dir_job_new(d, &mig_dir_ops);
		if (!j) {
			mig_dir_reply(d, c, UPLINK_MIG_NO_ANSWER, 0, 0);
			return;
		}
		hostd_dir_job_bind(j, d, c);
		j->step = MD_CHECK;
		j->ip = c->ip;
		j->epoch = c->epoch;   /* ours: caprun's may lag a fence it did not see */
		j->host = m->target_host;
		mig_dir_ask(d, j);
		return;
	}
	if (m->op == UPLINK_MIG_FENCE)
		d->cnt.mig_fences++;
	else
		d->cnt.mig_lookups++;   /* the source watching a pull that won, until it runs */
	/* Out of order (no MIG_PREPARE, e.g. we restarted meanwhile): still answered, the
	 * directory's compare-and-swap at the given epoch is safe whoever asks. */
	if (!c->mig.active || c->mig.target != m->target_host)
		d->cnt.mig_out_of_order++;
	c->mig.decided = 1;
	struct hostd_job *j = hostd_dir_job_new(d, &mig_dir_ops);
	if (!j) {
		mig_dir_reply(d, c, UPLINK_MIG_NO_ANSWER, 0, 0);
		return;
	}
	hostd_dir_job_bind(j, d, c);
	j->step = m->op == UPLINK_MIG_FENCE ? MD_FENCE : MD_LOOKUP;
	j->ip = c->ip;
	j->epoch = m->epoch;
	j->host = m->target_host;
	mig_dir_ask(d, j);
}

void hostd_mig_done(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_done *m)
{
	/* After a restart we lost the list of synced peers: tell every peer we know. */
	const uint32_t *peers = c->mig.active ? c->mig.peers : NULL;
	uint32_t npeers = c->mig.active ? c->mig.npeers : 0;
	if (!c->mig.active)
		d->cnt.mig_out_of_order++;
	d->cnt.mig_frozen_drops += m->frozen_drops;   /* caprun could not keep them: on our books */
	/* Committed, or the directory named the target (then that is the truth, whatever
	 * caprun says): the peers send there.  Aborted: back to us, at our epoch now. */
	if (m->outcome == UPLINK_MIG_COMMITTED || c->mig.moved) {
		uint32_t target = m->outcome == UPLINK_MIG_COMMITTED ? m->target_host : c->mig.target;
		uint32_t epoch = m->epoch;
		const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
		if (!epoch && x && x->state == XLATE_REMOTE && x->host_id == target)
			epoch = x->epoch;
		d->cnt.mig_commits++;
		if (epoch)
			set_remote(d, c, target, epoch, 0, 0);
		x = xlate_lookup(&d->xt, c->ip);
		if (x && x->state == XLATE_REMOTE && x->host_id == target)
			hostd_sync_flush_to(d, c->ip, x->epoch, target, x->locator_ip, x->port, peers, npeers);
		hostd_sync_release(d, c->ip);   /* our own queue, to the target */
		/* Bytes our gateway side acknowledged for it go to the target, which runs now. */
		if (hostd_hold_is_held(d, c->ip))
			hostd_hold_release(d, c->ip);
	} else {
		d->cnt.mig_aborts++;
		hostd_sync_flush_to(d, c->ip, c->epoch, d->host_id, d->listen_addr, d->listen_port,
		               peers, npeers);
		hostd_sync_release(d, c->ip);   /* our own queue, to the capsule (running again) */
	}
	memset(&c->mig, 0, sizeof c->mig);
}

/* ---- target: a migrated capsule was accepted here ---- */

void hostd_mig_arrived(struct hostd *d, struct hostd_cap *c)
{
	/* Every peer we know (the source SYNCed its own list; ours may hold others), then our
	 * own queue (the source SYNCed us too), then the gateway's hold: all come here now. */
	hostd_sync_flush_to(d, c->ip, c->epoch, d->host_id, d->listen_addr, d->listen_port, NULL, 0);
	hostd_sync_release(d, c->ip);
	hostd_gw_send_flush(d, c);
}

/* ---- target: the TCP listener; each connection is one `caprun --incoming` ---- */

int hostd_mig_listen(struct hostd *d, char *err, size_t errlen)
{
	d->mig_fd = -1;
	if (!d->mig_port)
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(d->mig_port),
	                          .sin_addr.s_addr = d->listen_addr };
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
		snprintf(err, errlen, "--mig-port %u: listening on %s:%u: %s", d->mig_port,
		         inet_ntoa(sa.sin_addr), d->mig_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	d->mig_fd = fd;
	return 0;
}

/* `caprun --incoming --host-id N --keys FILE` with sock as its fd 0; 0 or -1 (said on stderr). */
static int spawn_incoming(struct hostd *d, int sock)
{
	int slot = -1;
	for (int i = 0; i < HOSTD_MIG_CHILDREN && slot < 0; i++)
		if (!d->mig_pids[i])
			slot = i;
	if (slot < 0) {
		fprintf(stderr, "caphostd: incoming migration refused: %d `caprun --incoming` already "
		        "running\n", HOSTD_MIG_CHILDREN);
		return -1;
	}
	if (fileio_sibling_exe("caprun", d->caprun_path, sizeof d->caprun_path)) {
		fprintf(stderr, "caphostd: incoming migration refused: %s: no caprun next to caphostd\n",
		        d->caprun_path[0] ? d->caprun_path : "/proc/self/exe");
		return -1;
	}
	char id[16];
	snprintf(id, sizeof id, "%u", d->host_id);
	char *argv[8 + 2 * CAP_FILE_VOLUMES] = { "caprun", "--incoming", "--host-id", id, "--keys", d->keys_path };
	int argc = 6;
	for (int i = 0; i < d->nvolumes; i++) {   /* the capsule's files open again by name here */
		argv[argc++] = "-v";
		argv[argc++] = (char *)d->volumes[i];
	}
	argv[argc] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);   /* we ignore it; caprun starts with the defaults */
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* our signals are blocked (signalfd): the child must get them */
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	/* dup2 onto 0 clears close-on-exec there; every other fd of ours is close-on-exec.
	 * The environment goes as it is: it holds CAPSULE_RUN_DIR (set at start) */
	posix_spawn_file_actions_adddup2(&fa, sock, 0);
	pid_t pid;
	int r = posix_spawn(&pid, d->caprun_path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r) {
		fprintf(stderr, "caphostd: incoming migration: starting %s: %s\n", d->caprun_path,
		        strerror(r));
		return -1;
	}
	d->mig_pids[slot] = pid;
	return 0;
}

void hostd_mig_accept(struct hostd *d)
{
	for (;;) {
		int fd = accept4(d->mig_fd, NULL, NULL, SOCK_CLOEXEC);   /* blocking: caprun's own */
		if (fd < 0 && errno == ECONNABORTED)
			continue;
		if (fd < 0)
			return;
		if (fd < 3) {
			/* with stdin closed accept may give 0: move it up so the dup2 onto 0 is real */
			int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			close(fd);
			if (high < 0) {
				d->cnt.mig_spawn_errors++;
				continue;
			}
			fd = high;
		}
		d->cnt.mig_accepted++;
		if (spawn_incoming(d, fd))
			d->cnt.mig_spawn_errors++;
		fflush(stderr);
		close(fd);   /* the child has its copy; the source sees EOF only when it exits */
	}
}

/* Collect one child; 1 if it is gone. */
static int collect(struct hostd *d, int i, int options)
{
	int st;
	pid_t r = waitpid(d->mig_pids[i], &st, options);
	if (r == 0)
		return 0;
	if (r == d->mig_pids[i]) {
		if (WIFEXITED(st) && WEXITSTATUS(st))
			fprintf(stderr, "caphostd: incoming migration caprun %d exited with status %d\n",
			        (int)r, WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			fprintf(stderr, "caphostd: incoming migration caprun %d killed by signal %d\n",
			        (int)r, WTERMSIG(st));
		fflush(stderr);
	}
	d->mig_pids[i] = 0;   /* reaped, or not ours to wait for (ECHILD) */
	return 1;
}

void hostd_mig_reap(struct hostd *d)
{
	for (int i = 0; i < HOSTD_MIG_CHILDREN; i++)
		if (d->mig_pids[i])
			collect(d, i, WNOHANG);
}
