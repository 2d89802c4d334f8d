/* hostd_attach.c: a caprun's ATTACH from request to verdict: the directory's side (create, resume, a migration's pull, incoming, reattach) and ATTACHED or ERROR back to caprun. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * Each ATTACH that needs the directory is one job; caprun waits for
 * ATTACHED or ERROR meanwhile, and the packet loop goes on.  If caprun goes
 * away before the answer, the job finds its capsule slot gone
 * (hostd_dir_job_cap) and undoes what the directory did for nobody: a created
 * or moved entry is released, a pulled migration goes back to its source.
 *
 * The pull (MIGRATED) is the commit point of a live migration
 * (hosts/caprun/migfsm.h): one MOVE to this host at exactly the epoch e the
 * migration started at.  It is retried for as long as the directory does
 * not answer, because silence is not a verdict: only "the source holds it
 * at a newer epoch" or "it is gone" make the target discard its copy.
 */

enum { A_CREATE, A_LOOKUP, A_MOVE };

/* The verdict, to caprun: attached at (ip, epoch); the entry becomes ours here. */
static void attached(struct hostd *d, struct hostd_cap *c, uint32_t ip, uint32_t epoch)
{
	uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_attached)];
	struct hostd_cap *other = hostd_core_cap_by_ip(d, ip);
	if (other && other != c) {
		other->state = HCAP_FREE;   /* its own snapshot resumed here: this record replaces it */
		memset(&other->mig, 0, sizeof other->mig);
	}
	int migrated_in = c->mig_source != 0;
	int resumed = (c->attach_flags & (UPLINK_ATTACH_RESUME | UPLINK_ATTACH_REATTACH)) != 0;
	int frozen = c->state == HCAP_FROZEN;   /* a reattach of a frozen capsule */
	c->state = frozen ? HCAP_FROZEN : HCAP_RUNNING;
	c->ip = ip;
	c->epoch = epoch;
	struct xlate_entry x = { .capsule_ip = ip, .state = frozen ? XLATE_FROZEN : XLATE_LOCAL,
	                         .epoch = epoch };
	if (xlate_update(&d->xt, &x) != XLATE_OK) {
		xlate_delete(&d->xt, ip);   /* a stale REMOTE of a newer epoch cannot exist: the move just won */
		xlate_update(&d->xt, &x);
	}
	d->cnt.up_attach++;
	hostd_core_uplink_send(d, c, rec, uplink_encode_attached(rec, sizeof rec, ip, epoch));
	if (frozen)
		return;   /* its FROZEN record follows: the gateway keeps (or starts) holding */
	if (migrated_in)
		return;   /* the peers' queues and the gateway's hold come here at STARTING, when it
		           * runs: released now, they would die with a caprun that dies before that */
	if (resumed)
		hostd_gw_send_flush(d, c);   /* whatever the gateway held for it comes here now (a FLUSH
		                           * lost while our predecessor died, too) */
	hostd_dir_report(d, c, DIR_STATE_RUNNING);   /* after the flush: held peers come first */
}

/* The verdict, to caprun: refused with err; nothing of it is ours. */
static void refused(struct hostd *d, struct hostd_cap *c, const char *err)
{
	uint8_t rec[UPLINK_HDR_LEN + UPLINK_ERROR_MAX];
	d->cnt.up_attach_refused++;
	hostd_core_uplink_send(d, c, rec, uplink_encode_error(rec, sizeof rec, err));
	/* Refused: nothing of it is ours (a stale reattached copy is not released either). */
	if (c->fd >= 0) {
		epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->state >= HCAP_RUNNING) {
		const struct xlate_entry *x = xlate_lookup(&d->xt, c->ip);
		if (x && (x->state == XLATE_LOCAL || x->state == XLATE_FROZEN))
			xlate_delete(&d->xt, c->ip);
	}
	memset(&c->mig, 0, sizeof c->mig);
	c->mig_source = 0;
	c->state = HCAP_FREE;
}

static const char *ip_text(uint32_t ip)
{
	return inet_ntoa(*(const struct in_addr *)&ip);
}

static void ask_create(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_CREATE };
	m.u.create.ip = ntohl(j->attach.ip);
	snprintf(m.u.create.name, sizeof m.u.create.name, "%s", j->attach.name);
	j->step = A_CREATE;
	hostd_dir_job_ask(d, j, &m, DIRC_DEFAULT_ATTEMPTS);
}

static int migrated(const struct hostd_job *j)
{
	return (j->attach.flags & UPLINK_ATTACH_MIGRATED) != 0;
}

static void ask_lookup(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP };
	m.u.lookup.ip = ntohl(j->attach.ip);
	j->step = A_LOOKUP;
	hostd_dir_job_ask(d, j, &m, migrated(j) ? DIRC_FOREVER : DIRC_DEFAULT_ATTEMPTS);
}

static void ask_move(struct hostd *d, struct hostd_job *j, uint32_t expected)
{
	struct dir_msg m = { .type = DIR_T_MOVE };
	m.u.move.ip = ntohl(j->attach.ip);
	m.u.move.to_host_id = d->host_id;
	m.u.move.expected_epoch = expected;
	j->epoch = expected;
	j->step = A_MOVE;
	if (migrated(j))
		clock_trace("tgthostd move-asked");
	hostd_dir_job_ask(d, j, &m, migrated(j) ? DIRC_FOREVER : DIRC_DEFAULT_ATTEMPTS);
}

/* The directory now names us at epoch for this attach: tell caprun, or undo it for nobody. */
static void won(struct hostd *d, struct hostd_job *j, uint32_t ip, uint32_t epoch)
{
	struct hostd_cap *c = hostd_dir_job_cap(d, j);
	if (migrated(j))
		clock_trace("tgthostd move-won");
	if (c && c->state == HCAP_ATTACHING) {
		if (migrated(j))
			c->mig_source = j->attach.source_host;   /* until STARTING */
		attached(d, c, ip, epoch);
	} else if (migrated(j)) {
		hostd_dir_return(d, ip, epoch, j->attach.source_host);
	} else {
		hostd_dir_release(d, ip, epoch);
	}
	hostd_dir_job_free(d, j);
}

static void lost(struct hostd *d, struct hostd_job *j, const char *err)
{
	struct hostd_cap *c = hostd_dir_job_cap(d, j);
	if (c && c->state == HCAP_ATTACHING)
		refused(d, c, err);
	hostd_dir_job_free(d, j);
}

static void attach_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	char err[UPLINK_ERROR_MAX];
	const char *addr = ip_text(j->attach.ip);
	if (j->step == A_CREATE) {
		if (rc == 0) {
			won(d, j, htonl(r->u.ipepoch.ip), r->u.ipepoch.epoch);
			return;
		}
		snprintf(err, sizeof err, "directory: %s", rc > 0 ? (rc == DIR_E_IP_IN_USE ?
		         "address already in use" : dirproto_error_name(rc)) : "no answer");
		lost(d, j, err);
		return;
	}
	if (rc < 0) {
		/* A pull never gives up (its requests retry forever); this is a resume's bounded try. */
		snprintf(err, sizeof err, "directory refused the move of %s: no answer", addr);
		lost(d, j, err);
		return;
	}
	if (j->step == A_LOOKUP) {
		const struct dir_entry *e = &r->u.entry;
		if (rc == DIR_E_NOT_FOUND && migrated(j)) {
			snprintf(err, sizeof err, "directory: capsule %s is gone (released)", addr);
			lost(d, j, err);
		} else if (rc == DIR_E_NOT_FOUND) {
			ask_create(d, j);   /* the directory never knew it (a snapshot of a lone host) */
		} else if (rc) {
			snprintf(err, sizeof err, "directory: %s", dirproto_error_name(rc));
			lost(d, j, err);
		} else if (e->host_id == d->host_id) {
			won(d, j, j->attach.ip, e->epoch);   /* ours already (an earlier pull's answer was lost) */
		} else if (!migrated(j)) {
			ask_move(d, j, e->epoch);
		} else if (e->epoch == j->attach.epoch) {
			ask_move(d, j, e->epoch);   /* the pull, at exactly e */
		} else {
			snprintf(err, sizeof err, "directory: host %u holds capsule %s at epoch %u (the "
			         "source kept it)", e->host_id, addr, e->epoch);
			lost(d, j, err);
		}
		return;
	}
	/* A_MOVE */
	if (rc == 0) {
		won(d, j, j->attach.ip, r->u.ipepoch.epoch);
		return;
	}
	if (rc == DIR_E_NOT_FOUND && migrated(j)) {
		snprintf(err, sizeof err, "directory: capsule %s is gone (released)", addr);
		lost(d, j, err);
		return;
	}
	if ((rc == DIR_E_STALE_EPOCH || rc == DIR_E_NOT_AUTHORIZED) && (migrated(j) || ++j->count < 3)) {
		ask_lookup(d, j);   /* it changed meanwhile: whoever holds it now decides */
		return;
	}
	snprintf(err, sizeof err, "directory refused the move of %s%s: %s", addr,
	         migrated(j) ? " (the pull)" : "", dirproto_error_name(rc));
	lost(d, j, err);
}

static const struct hostd_job_ops attach_ops = { "attach", attach_answer, NULL, NULL };

/* ---- REATTACH: caprun outlived our predecessor; check its word against the directory ---- */

static void verify_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP };
	m.u.lookup.ip = ntohl(j->ip);
	hostd_dir_job_ask(d, j, &m, DIRC_FOREVER);
}

static void verify_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	struct hostd_cap *c = hostd_dir_job_cap(d, j);
	char err[UPLINK_ERROR_MAX];
	if (!c || c->state < HCAP_RUNNING) {
		hostd_dir_job_free(d, j);
		return;
	}
	if (rc == 0 && r->u.entry.host_id == d->host_id) {
		c->epoch = r->u.entry.epoch > c->epoch ? r->u.entry.epoch : c->epoch;
		hostd_dir_report(d, c, c->state == HCAP_FROZEN ? DIR_STATE_FROZEN : DIR_STATE_RUNNING);
	} else if (rc == 0 && r->u.entry.epoch > c->epoch && !c->mig.active) {
		/* Another host holds it at a newer epoch: this copy must not run on. */
		d->cnt.reattach_stale++;
		snprintf(err, sizeof err, "directory: host %u holds capsule %s at epoch %u; this copy "
		         "(epoch %u) is stale", r->u.entry.host_id, ip_text(c->ip), r->u.entry.epoch,
		         c->epoch);
		refused(d, c, err);
	} else if (rc != 0) {
		fprintf(stderr, "caphostd: reattached capsule %s: directory: %s\n", ip_text(c->ip),
		        rc > 0 ? dirproto_error_name(rc) : "no answer");
	}
	/* A migrating source: its own FENCE / LOOKUP decide; nothing to do here. */
	hostd_dir_job_free(d, j);
}

static const struct hostd_job_ops verify_ops = { "verify", verify_answer, NULL, NULL };

void hostd_attach_start(struct hostd *d, struct hostd_cap *c, const struct uplink_attach *a)
{
	char err[UPLINK_ERROR_MAX];
	struct hostd_cap *other = a->ip ? hostd_core_cap_by_ip(d, a->ip) : NULL;
	if (a->ip && !hostd_in_net(d, a->ip)) {
		refused(d, c, "address not in this host's capsule network");
		return;
	}
	if (other && other != c && other->state != HCAP_SAVED) {
		snprintf(err, sizeof err, "address %s already in use on this host", ip_text(a->ip));
		refused(d, c, err);
		return;
	}
	snprintf(c->name, sizeof c->name, "%s", a->name);
	c->attach_flags = a->flags;
	c->mtu = a->mtu;   /* the pieces of cut segments are joined up to it (hostd_batch.c) */
	if (a->flags == UPLINK_ATTACH_INCOMING) {
		/* Nothing to ask: the copy is not ours until the pull (a second ATTACH, MIGRATED). */
		c->state = HCAP_INCOMING;
		c->ip = a->ip;
		c->epoch = a->epoch;
		d->cnt.incoming++;
		uint8_t rec[UPLINK_HDR_LEN + sizeof(struct uplink_attached)];
		hostd_core_uplink_send(d, c, rec, uplink_encode_attached(rec, sizeof rec, a->ip, a->epoch));
		return;
	}
	if (a->flags == UPLINK_ATTACH_REATTACH) {
		d->cnt.reattached++;
		if (a->state != UPLINK_STATE_RUNNING)
			c->state = HCAP_FROZEN;   /* its FROZEN record follows, for the gateway's hold */
		attached(d, c, a->ip, a->epoch);
		if (a->state == UPLINK_STATE_MIGRATING) {
			/* Our predecessor's migration state is lost: enough of it to neither release
			 * the capsule if its caprun dies (the target may pull) nor resend SYNCs. */
			c->mig.active = c->mig.ready_sent = c->mig.decided = c->mig.end_sent = 1;
			c->mig.epoch = a->epoch;
			return;
		}
		struct hostd_job *j = hostd_dir_job_new(d, &verify_ops);
		if (j) {
			hostd_dir_job_bind(j, d, c);
			j->ip = a->ip;
			verify_ask(d, j);
		}
		return;
	}
	const char *fault = getenv("CAPSULE_MIG_FAULT");
	if ((a->flags & UPLINK_ATTACH_MIGRATED) && fault && !strcmp(fault, "target-hostd-exit-on-pull"))
		_exit(9);   /* test fault (docs/MIGRATION.md section 8): this daemon dies at the pull */
	if (a->flags & UPLINK_ATTACH_MIGRATED)
		d->cnt.mig_pulls++;   /* its caprun holds a complete copy: it pulls only then */
	struct hostd_job *j = hostd_dir_job_new(d, &attach_ops);
	if (!j) {
		refused(d, c, "caphostd: too many directory requests at once; try again");
		return;
	}
	c->state = HCAP_ATTACHING;
	hostd_dir_job_bind(j, d, c);
	j->attach = *a;
	if (migrated(j))
		ask_move(d, j, a->epoch);   /* the pull: the MOVE at exactly e at once; a STALE_EPOCH
		                             * answer asks who holds it (ours already: an earlier pull's
		                             * answer was lost; another's: the source kept it) */
	else if (a->flags & UPLINK_ATTACH_RESUME)
		ask_lookup(d, j);
	else
		ask_create(d, j);
}
