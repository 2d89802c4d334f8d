/* hostd_hold.c: the gateway's holders: a HOLD starts one (its state in a shared file mapping), a FLUSH releases it, released bytes are resent until the capsule acknowledged them; a reloaded hold asks the directory where its capsule runs. */
#include "hosts/caphostd/hostd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The holder acknowledges an ordinary peer's bytes in the capsule's place;
 * from then on the peer will never send them again.  So they must reach
 * the capsule whatever happens: they live in a file mapping (a killed
 * caphostd loses nothing, hostd_hold_load picks them up), and after the
 * release they are re-injected again and again (HOSTD_REINJECT_WAIT_MS,
 * doubling up to 1 s) until the capsule's own ACK to the peer, which
 * passes through here, covers them (hostd_hold_observe).  One lost
 * re-injected segment used to wedge the stream for good: the capsule
 * waited for bytes the peer believed delivered.
 */

#define REINJECT_MSS 1360   /* fits any capsule MTU we allow */

static int seq_leq(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/*
 * The state file is the memory a restarted gateway reads (holdfile.h,
 * "after a kill"): stores before this point reach the mapping before the
 * stores after it.  A kill -9 stops us between two instructions, so only
 * the compiler's reordering matters, not the CPU's.
 */
static void in_this_order(void) { atomic_signal_fence(memory_order_seq_cst); }

static struct hostd_hold *find(const struct hostd *d, uint32_t ip)
{
	for (int i = 0; ip && i < HOSTD_MAX_HOLDS; i++)
		if (d->holds[i].ip == ip)
			return (struct hostd_hold *)&d->holds[i];
	return NULL;
}

int hostd_hold_is_held(const struct hostd *d, uint32_t ip)
{
	const struct hostd_hold *h = find(d, ip);
	return h && h->f->phase == HOLDFILE_HOLDING;
}

static struct hostd_stamp stamp_of(const struct holdfile *f)
{
	return (struct hostd_stamp){ f->epoch, f->host, f->id };
}

static void set_stamp(struct holdfile *f, struct hostd_stamp st)
{
	f->epoch = st.epoch;
	f->host = st.host;
	f->id = st.id;
}

static void count_releasing(struct hostd *d)
{
	d->holds_releasing = 0;
	for (int i = 0; i < HOSTD_MAX_HOLDS; i++)
		d->holds_releasing += d->holds[i].ip && d->holds[i].f->phase == HOLDFILE_RELEASING;
}

/* ---- what we applied last, for capsules no longer held ---- */

static struct hostd_tomb *tomb_find(struct hostd *d, uint32_t ip)
{
	for (int i = 0; i < HOSTD_MAX_TOMBS; i++)
		if (d->tombs[i].ip == ip)
			return &d->tombs[i];
	return NULL;
}

static void tomb_note(struct hostd *d, uint32_t ip, struct hostd_stamp st)
{
	struct hostd_tomb *t = tomb_find(d, ip);
	if (t && !hostd_stamp_newer(st, t->st))
		return;
	if (!t)
		t = tomb_find(d, 0);
	if (!t) {   /* full: the oldest goes */
		t = &d->tombs[0];
		for (int i = 1; i < HOSTD_MAX_TOMBS; i++)
			if (d->tombs[i].at_ms < t->at_ms)
				t = &d->tombs[i];
	}
	*t = (struct hostd_tomb){ .ip = ip, .st = st, .at_ms = clock_now_ms() };
}

/* 1 if st is not newer than what we last applied for ip (held now or not). */
static int out_of_date(struct hostd *d, uint32_t ip, struct hostd_stamp st)
{
	const struct hostd_hold *h = find(d, ip);
	if (h)
		return !hostd_stamp_newer(st, stamp_of(h->f));
	const struct hostd_tomb *t = tomb_find(d, ip);
	return t && !hostd_stamp_newer(st, t->st);
}

/* ---- slots and files ---- */

/* Done with ip: its stamp is remembered, its file and mapping go. */
static void finish(struct hostd *d, struct hostd_hold *h)
{
	char path[PATH_MAX + 64];
	tomb_note(d, h->ip, stamp_of(h->f));
	holdfile_unmap(h->f);
	if (holdfile_path(d->run_dir, h->ip, path, sizeof path) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		d->cnt.hold_file_errors++;
	memset(h, 0, sizeof *h);
	count_releasing(d);
}

void hostd_hold_drop(struct hostd *d, uint32_t ip)
{
	struct hostd_hold *h = find(d, ip);
	if (h)
		finish(d, h);
}

static struct hostd_hold *open_slot(struct hostd *d, uint32_t ip)
{
	char path[PATH_MAX + 64];
	struct hostd_hold *h = find(d, 0);
	for (int i = 0; !h && i < HOSTD_MAX_HOLDS; i++)
		if (!d->holds[i].ip)
			h = &d->holds[i];
	if (!h) {
		d->cnt.hold_full++;
		return NULL;
	}
	if (holdfile_path(d->run_dir, ip, path, sizeof path) || holdfile_create(path, ip, &h->f)) {
		d->cnt.hold_file_errors++;
		return NULL;
	}
	h->ip = ip;
	h->check_ms = clock_now_ms() + HOSTD_HOLD_CHECK_MS;
	return h;
}

void hostd_hold_close_all(struct hostd *d)
{
	for (int i = 0; i < HOSTD_MAX_HOLDS; i++)
		if (d->holds[i].ip)
			holdfile_unmap(d->holds[i].f);   /* the files stay: a restart goes on holding */
	memset(d->holds, 0, sizeof d->holds);
	d->holds_releasing = 0;
}

/* ---- HOLD ---- */

static void release(struct hostd *d, struct hostd_hold *h, const struct hostd_stamp *st);

static int conn_slot(const struct holdfile *f, const struct tcpconn *s)
{
	for (int i = 0; i < HOLDFILE_CONNS; i++) {
		const struct tcphold_conn *c = &f->conns[i].c;
		if (f->conns[i].in_use && c->s.peer_ip == s->peer_ip && c->s.peer_port == s->peer_port &&
		    c->s.capsule_port == s->capsule_port)
			return i;
	}
	return -1;
}

static void forget_conn(struct holdfile *f, uint32_t i)
{
	f->conns[i].in_use = 0;   /* first: from here on the slot is garbage to a reload */
	in_this_order();
	f->conns[i].unconfirmed = 0;
	memset(&f->conns[i].c, 0, sizeof f->conns[i].c);
	holdfile_forget_buf(f, i);
}

static void hold_conn(struct hostd *d, struct holdfile *f, const struct tcpconn *seed)
{
	uint32_t cap = seed->rcv_wnd < HOLDFILE_BUF ? seed->rcv_wnd : HOLDFILE_BUF;
	int old = conn_slot(f, seed), k;
	if (old >= 0 && !f->conns[old].unconfirmed)
		return;   /* a repeated HOLD must not restart what we already hold */
	for (k = 0; k < HOLDFILE_CONNS && f->conns[k].in_use; k++)
		;
	if (k == HOLDFILE_CONNS) {
		d->cnt.hold_full++;
		return;
	}
	struct tcphold_conn *c = &f->conns[k].c;
	tcphold_init(c, seed, holdfile_buf(f, (uint32_t)k), old >= 0 ? HOLDFILE_BUF : cap);
	if (old >= 0) {
		/*
		 * Still resending what an earlier hold of this connection acknowledged: the
		 * capsule froze again before it acknowledged all of it.  Those bytes carry
		 * over in front of the new hold's (the peer will not send them again), into
		 * another slot: until the new one is in use the old one stays whole.
		 */
		tcphold_carry(c, &f->conns[old].c, cap);
		d->cnt.hold_carried++;
	}
	in_this_order();
	f->conns[k].in_use = 1;
	in_this_order();
	if (old >= 0)
		forget_conn(f, (uint32_t)old);
}

int hostd_hold_start(struct hostd *d, const struct hostd_hold_msg *m, uint32_t sender)
{
	struct hostd_stamp st = { m->epoch, sender, m->id };
	const struct xlate_entry *x = xlate_lookup(&d->xt, m->capsule_ip);
	/* Older than a FLUSH we applied (it overtook this HOLD), or than where it runs now. */
	if (out_of_date(d, m->capsule_ip, st) ||
	    (x && x->state == XLATE_REMOTE && x->epoch > m->epoch)) {
		d->cnt.hold_stale++;
		return 1;
	}
	struct hostd_hold *h = find(d, m->capsule_ip);
	if (h && h->f->phase == HOLDFILE_HOLDING) {
		/* A newer freeze while we still hold: its FLUSH never came (given up), so the
		 * capsule ran in between.  Release first; unconfirmed bytes carry over below. */
		release(d, h, NULL);
		h = find(d, m->capsule_ip);
	}
	if (!h && !(h = open_slot(d, m->capsule_ip)))
		return -1;
	struct holdfile *f = h->f;
	f->phase = HOLDFILE_HOLDING;
	count_releasing(d);
	uint64_t now = clock_now_ms();
	for (uint32_t i = 0; i < m->n; i++) {
		struct tcpconn seed = m->conns[i];
		seed.ts_val_ms = now;   /* the capsule's TSval clock, as far as we know, stopped now */
		/* Capsule peers keep retransmitting on their own; only ordinary peers need us. */
		if (!hostd_in_net(d, seed.peer_ip))
			hold_conn(d, f, &seed);
	}
	in_this_order();
	set_stamp(f, st);   /* last: a HOLD cut short by a kill is applied again when it is resent */
	return 0;
}

/* ---- release ---- */

/* Every held byte of conn i to the capsule, as segments from its peer (again, if need be). */
static void reinject(struct hostd *d, struct holdfile *f, uint32_t i)
{
	static uint8_t pkt[REINJECT_MSS + 128];
	size_t off = 0, len;
	while (tcphold_reinject_next(&f->conns[i].c, &off, REINJECT_MSS, pkt, sizeof pkt, &len) == 1) {
		d->ops.reroute(d, pkt, len);
		d->cnt.reinjected_pkts++;
	}
}

/* Resends until the capsule's ACK: the phase after a release, or the end of the hold. */
static void after_release(struct hostd *d, struct hostd_hold *h, uint64_t now)
{
	struct holdfile *f = h->f;
	int waiting = 0;
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++)
		waiting |= f->conns[i].unconfirmed;
	if (!waiting) {
		finish(d, h);
		return;
	}
	f->phase = HOLDFILE_RELEASING;
	f->release_ms = now;
	f->resend_wait_ms = HOSTD_REINJECT_WAIT_MS;
	f->resend_ms = now + f->resend_wait_ms;
	count_releasing(d);
}

/* Release h; its stamp becomes st (if given) once every connection is released. */
static void release(struct hostd *d, struct hostd_hold *h, const struct hostd_stamp *st)
{
	if (h->f->phase != HOLDFILE_HOLDING) {
		if (st)
			set_stamp(h->f, *st);   /* released already (e.g. by a NOTIFY): remember the newer word */
		return;
	}
	struct holdfile *f = h->f;
	uint64_t now = clock_now_ms();
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++) {
		struct tcphold_conn *c = &f->conns[i].c;
		uint8_t ack[TCPHOLD_ACK_MAX];
		size_t ack_len = 0, n = 0;
		const uint8_t *data;
		uint32_t ts_floor;
		if (!f->conns[i].in_use)
			continue;
		if (f->conns[i].unconfirmed) {
			reinject(d, f, i);   /* an earlier release's bytes, still unacknowledged */
			continue;
		}
		int reset = c->state == TCPHOLD_PEER_RST;
		tcphold_release(c, now, 0, ack, sizeof ack, &ack_len, &data, &n, &ts_floor);
		in_this_order();
		if ((n || c->fin_held) && !reset)
			f->conns[i].unconfirmed = 1;   /* until the capsule acknowledges them */
		/* The held bytes first, as if the peer sent them now; then the peer may send again. */
		reinject(d, f, i);
		if (ack_len)
			hostd_core_tun_emit(d, ack, ack_len);
		d->cnt.released_conns++;
		if (!f->conns[i].unconfirmed)
			forget_conn(f, i);
	}
	size_t cur = 0, len;
	const uint8_t *p;
	while (tcphold_udp_next(&f->udp, &cur, &p, &len) == 1) {
		d->ops.reroute(d, p, len);
		d->cnt.reinjected_pkts++;
	}
	/* its drops were counted one by one as they happened (hostd_hold_input) */
	tcphold_udp_clear(&f->udp);
	in_this_order();
	if (st)
		set_stamp(f, *st);   /* last: a FLUSH cut short by a kill is applied again when resent */
	after_release(d, h, now);
}

void hostd_hold_release(struct hostd *d, uint32_t ip)
{
	struct hostd_hold *h = find(d, ip);
	if (h)
		release(d, h, NULL);
}

int hostd_hold_release_stamped(struct hostd *d, uint32_t ip, struct hostd_stamp st)
{
	if (out_of_date(d, ip, st))
		return 1;   /* a late or repeated FLUSH: never releases a newer HOLD */
	struct hostd_hold *h = find(d, ip);
	if (!h) {
		tomb_note(d, ip, st);   /* it may overtake its HOLD: that HOLD is stale then */
		return 0;
	}
	release(d, h, &st);
	return 0;
}

/* ---- packets ---- */

void hostd_hold_input(struct hostd *d, uint32_t ip, const uint8_t *pkt, size_t len)
{
	struct hostd_hold *h = find(d, ip);
	uint8_t out[TCPHOLD_ACK_MAX];
	if (!h)
		return;
	struct holdfile *f = h->f;
	if (pkt[9] == 6) {
		for (uint32_t i = 0; i < HOLDFILE_CONNS; i++) {
			size_t out_len = 0;
			if (!f->conns[i].in_use || f->conns[i].unconfirmed)
				continue;
			uint32_t before = f->conns[i].c.used;
			int r = tcphold_input(&f->conns[i].c, pkt, len, clock_now_ms(), out, sizeof out, &out_len);
			if (r == TCPHOLD_NOT_MINE)
				continue;
			d->cnt.hold_bytes += f->conns[i].c.used - before;   /* acknowledged in its place */
			/* The state is in the mapping before the ACK leaves: a crash loses nothing acked. */
			if (out_len)
				hostd_core_tun_emit(d, out, out_len);
			return;
		}
		/* A new connection (or no TCP segment at all) while the capsule is away: silence
		 * (never RST), the peer retries its SYN. */
		struct tcphold_seg seg;
		if (tcphold_pkt_parse(pkt, len, &seg) ||
		    (seg.flags & (TCPHOLD_SYN | TCPHOLD_ACK)) == TCPHOLD_SYN) {
			d->cnt.hold_new_conn++;
			return;
		}
		/* One the hold has no slot for (more than HOLDFILE_CONNS): queued with the UDP and
		 * delivered at the release, not dropped, which cost its peer a retransmission
		 * timeout (200 ms at least) even when the capsule was away for 5 ms. */
		d->cnt.hold_unslotted++;
	}
	if (tcphold_udp_push(&f->udp, pkt, len))
		d->cnt.held_udp_dropped++;
}

void hostd_hold_observe(struct hostd *d, const uint8_t *pkt, size_t len)
{
	struct tcphold_seg g;
	if (!d->holds_releasing || len < 40 || pkt[9] != 6 || tcphold_pkt_parse(pkt, len, &g) || !g.csum_ok)
		return;
	struct hostd_hold *h = find(d, g.src);
	if (!h || h->f->phase != HOLDFILE_RELEASING)
		return;
	struct holdfile *f = h->f;
	int waiting = 0;
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++) {
		struct tcphold_conn *c = &f->conns[i].c;
		if (!f->conns[i].unconfirmed)
			continue;
		/* The capsule's ACK covers everything we held (c->rcv_nxt: data and FIN), or it
		 * reset the connection: nothing left to deliver. */
		if (c->s.capsule_port == g.sport && c->s.peer_ip == g.dst && c->s.peer_port == g.dport &&
		    ((g.flags & TCPHOLD_RST) || ((g.flags & TCPHOLD_ACK) && seq_leq(c->rcv_nxt, g.ack)))) {
			forget_conn(f, i);
			d->cnt.reinject_confirmed++;
			continue;
		}
		waiting = 1;
	}
	if (!waiting)
		finish(d, h);
}

static void checked(struct hostd *d, uint32_t ip, int rc, const struct dir_entry *e);

/* ---- a reloaded hold: where does its capsule run now? ---- */

static void hold_check_ask(struct hostd *d, struct hostd_job *j)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP };
	m.u.lookup.ip = ntohl(j->ip);
	m.u.lookup.flags = DIR_LOOKUP_SUBSCRIBE;   /* and a NOTIFY when it moves */
	d->cnt.dir_lookups++;
	hostd_dir_job_ask(d, j, &m, DIRC_DEFAULT_ATTEMPTS);
}

static void hold_check_answer(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *r)
{
	uint32_t ip = j->ip;
	hostd_dir_job_free(d, j);
	checked(d, ip, rc, rc == 0 ? &r->u.entry : NULL);
}

static const struct hostd_job_ops hold_check_ops = { "hold_check", hold_check_answer,
                                                     hold_check_ask, NULL };

static void ask_directory(struct hostd *d, uint32_t ip)
{
	struct hostd_job *j = hostd_dir_job_new(d, &hold_check_ops);
	if (!j)
		return;
	j->ip = ip;
	hold_check_ask(d, j);
}

int hostd_hold_tick(struct hostd *d, uint64_t now)
{
	int next = -1;
	for (int i = 0; i < HOSTD_MAX_HOLDS; i++) {
		struct hostd_hold *h = &d->holds[i];
		if (h->ip && h->f->phase == HOLDFILE_HOLDING) {
			/*
			 * The FLUSH that ends a hold is resent until acknowledged, but a HOLD resent
			 * by a host that never saw its ACK (we restarted) can arrive after that FLUSH
			 * and hold a running capsule's peers for ever.  The directory says where it
			 * runs: every HOSTD_HOLD_CHECK_MS, ask (checked() decides).
			 */
			if (now >= h->check_ms) {
				h->check_ms = now + HOSTD_HOLD_CHECK_MS;
				ask_directory(d, h->ip);
			}
			int wait = (int)(h->check_ms - now);
			if (next < 0 || wait < next)
				next = wait;
			continue;
		}
		if (!h->ip || h->f->phase != HOLDFILE_RELEASING)
			continue;
		struct holdfile *f = h->f;
		if (now - f->release_ms >= HOSTD_REINJECT_GIVE_UP_MS) {
			for (uint32_t k = 0; k < HOLDFILE_CONNS; k++)
				d->cnt.reinject_given_up += f->conns[k].unconfirmed;
			finish(d, h);
			continue;
		}
		if (now >= f->resend_ms) {
			for (uint32_t k = 0; k < HOLDFILE_CONNS; k++)
				if (f->conns[k].unconfirmed) {
					reinject(d, f, k);
					d->cnt.reinject_resent++;
				}
			f->resend_wait_ms = f->resend_wait_ms * 2 > 1000 ? 1000 : f->resend_wait_ms * 2;
			f->resend_ms = now + f->resend_wait_ms;
		}
		int wait = (int)(f->resend_ms - now);
		if (next < 0 || wait < next)
			next = wait;
	}
	for (int i = 0; i < HOSTD_MAX_TOMBS; i++)
		if (d->tombs[i].ip && now - d->tombs[i].at_ms >= HOSTD_TOMB_MS)
			memset(&d->tombs[i], 0, sizeof d->tombs[i]);
	return next;
}

/* ---- a restarted gateway ---- */

static void load_one(struct hostd *d, const char *dir, const char *name)
{
	char path[PATH_MAX + 64], err[160];
	struct in_addr a;
	size_t nl = strlen(name);
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return;
	if (nl > 4 && strcmp(name + nl - 4, ".new") == 0) {
		unlink(path);   /* a create that did not finish: it never held anything */
		return;
	}
	if (nl > 4 && strcmp(name + nl - 4, ".bad") == 0)
		return;
	struct hostd_hold *h = find(d, 0);
	for (int i = 0; !h && i < HOSTD_MAX_HOLDS; i++)
		if (!d->holds[i].ip)
			h = &d->holds[i];
	if (inet_pton(AF_INET, name, &a) != 1 || !hostd_in_net(d, a.s_addr) || find(d, a.s_addr)) {
		snprintf(err, sizeof err, "not a capsule address of this network");
	} else if (!h) {
		snprintf(err, sizeof err, "more than %d held capsules", HOSTD_MAX_HOLDS);
	} else if (holdfile_open(path, a.s_addr, &h->f, err, sizeof err) == 0) {
		if (!h->f->epoch) {
			/* created, never started: its HOLD was not acknowledged, it comes again */
			holdfile_unmap(h->f);
			h->f = NULL;
			unlink(path);
			return;
		}
		h->ip = a.s_addr;
		d->cnt.hold_reloaded++;
		return;
	}
	/* Counted, said once, set aside (never loaded again, kept to look at). */
	d->cnt.hold_file_bad++;
	fprintf(stderr, "caphostd: %s: ignored: %s\n", path, err);
	char bad_path[PATH_MAX + 72];
	snprintf(bad_path, sizeof bad_path, "%s.bad", path);
	rename(path, bad_path);
}

static void checked(struct hostd *d, uint32_t ip, int rc, const struct dir_entry *e)
{
	struct hostd_hold *h = find(d, ip);
	if (!h || h->f->phase == HOLDFILE_RELEASING)
		return;
	/* Gone for good: nothing to hold.  Moved on (its FLUSH gave up while we were down), or
	 * running at the epoch of the hold or later (a stale HOLD outlived its FLUSH): release
	 * there.  Frozen or saved where the hold says, or no answer: hold on. */
	if (rc == DIR_E_NOT_FOUND) {
		hostd_hold_drop(d, ip);
	} else if (rc == 0 && ((e->host_id != d->host_id && e->epoch > h->f->epoch) ||
	                       (e->state == DIR_STATE_RUNNING && e->epoch >= h->f->epoch))) {
		hostd_core_xlate_from_dir(d, e);   /* the route the held bytes take */
		d->cnt.hold_dir_released++;
		hostd_hold_release(d, ip);
	} else if (rc < 0) {
		d->cnt.dir_errors++;
	}
}

void hostd_hold_load(struct hostd *d)
{
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof dir, "%s/%s", d->run_dir, HOLDFILE_DIR);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		d->cnt.hold_file_errors++;
	DIR *dp = opendir(dir);
	if (!dp)
		return;
	struct dirent *e;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.')
			load_one(d, dir, e->d_name);
	closedir(dp);
	uint64_t now = clock_now_ms();
	for (int i = 0; i < HOSTD_MAX_HOLDS; i++) {
		struct hostd_hold *h = &d->holds[i];
		if (!h->ip)
			continue;
		if (h->f->phase == HOLDFILE_RELEASING) {
			h->f->resend_ms = now;   /* what we were resending goes again at once */
			continue;
		}
		/* Where does it run now?  Asked without waiting: checked() has the answer. */
		ask_directory(d, h->ip);
	}
	count_releasing(d);
}
