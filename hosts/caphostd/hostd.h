/* hostd.h: caphostd's shared state (local capsules, peer hosts, translation table, gateway holders, migration queues, counters), the seams between its parts (struct hostd_ops) and the parts' functions, lowest first. */
#ifndef HOST_HOSTD_H
#define HOST_HOSTD_H

#include "capsule-abi/cap_file.h"
#include "hosts/common/clock.h"
#include "hosts/common/dirclient.h"
#include "hosts/common/ipv4.h"
#include "hosts/common/readpace.h"
#include "hosts/common/tcpseg.h"
#include "hosts/caphostd/holdfile.h"
#include "hosts/formats/capture.h"
#include "hosts/formats/hostd_msg.h"
#include "hosts/caphostd/netem.h"
#include "hosts/caphostd/tcphold.h"
#include "hosts/formats/uplink.h"
#include "hosts/formats/wire.h"
#include "hosts/caphostd/xlate.h"

#include <netinet/in.h>

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define HOSTD_MAX_CAPS   4096  /* capsules attached to (or saved on) this host (1,000 idle: tests/bench/manybench.py) */
#define HOSTD_KEEP_MSS   8192  /* a capsule's SYN to a capsule announcing this much is not lowered */
#define HOSTD_RAISED_MSS 64960 /* an ordinary peer's SYN, raised (capgw cuts for it): a 65,000 link's */
#define HOSTD_MAX_PEERS  64    /* other hosts we exchanged authenticated packets with */
#define HOSTD_MAX_HOLDS  64    /* capsules the gateway is holding peers for (limits: holdfile.h) */
#define HOSTD_MAX_TOMBS  256   /* capsules whose last HOLD / FLUSH the gateway remembers after release */
#define HOSTD_TOMB_MS    120000         /* ... for this long: longer than any sender resends */
#define HOSTD_CTL_PENDING 256           /* HOLD / FLUSH / FLUSH_TO we wait to see acknowledged */
#define HOSTD_CTL_GIVE_UP_MS 60000      /* ... resending that long at most (spans a gateway restart) */
#define HOSTD_REINJECT_WAIT_MS 200      /* released held bytes go again after this (doubling, <= 1 s) ... */
#define HOSTD_REINJECT_GIVE_UP_MS 60000 /* ... until the capsule acknowledged them, or this long */
#define HOSTD_SYNC_DONE  64    /* migrations whose queue was flushed here: a late SYNC of one is stale */
#define HOSTD_HOLD_CHECK_MS 2000        /* a hold asks the directory this often whether it still must */
#define HOSTD_NEG_CACHE  1024  /* addresses the directory did not know (hostd_resolve.c) ... */
#define HOSTD_NEG_TTL_MS 2000  /* ... asked again after this long */
#define HOSTD_MAX_RESOLVES 64  /* routing lookups in flight at once; beyond: dropped, counted */
#define HOSTD_RESOLVE_PKTS 8   /* packets waiting for one lookup's answer */
#define HOSTD_LOOKUP_SOURCES 256        /* per-source lookup budgets tracked ... */
#define HOSTD_LOOKUPS_PER_SEC 20        /* ... each source may cause this many lookups a second */
#define HOSTD_MAX_JOBS   512   /* directory conversations in flight (hostd_dir.c) */
#define HOSTD_ORPHAN_WAIT_MS 10000   /* a dead source caprun's target may pull this long */
#define HOSTD_MAX_SYNCQ  64    /* capsules whose packets this host queues for a migration (SYNC) */
#define HOSTD_SYNC_BUF   (256u << 10)   /* per queue: bytes ... */
#define HOSTD_SYNC_PKTS  512            /* ... and packets; beyond that dropped (sync_dropped) */
#define HOSTD_SYNC_TIMEOUT_MS 10000     /* a queue nobody flushes goes where the directory says */
#define HOSTD_SYNC_WAIT_MS    300       /* source: MIG_PREPARE waits this long for SYNC_ACKs */
#define HOSTD_SYNC_RESEND_MS  100       /* ... resending SYNC to the silent peers this often */
#define HOSTD_SYNC_REFRESH_MS 2000      /* ... then refreshing the peers' queues until MIG_DIR */
#define HOSTD_MIG_CHILDREN 64  /* `caprun --incoming` processes at once */
#define HOSTD_GAP_WATCHES 64   /* migrations whose connection gaps this host remembers (the latest) */
#define HOSTD_GAP_TRACK_MS 30000        /* ... recording packets this long after each SYNC at most */
#define HOSTD_GAP_QUERIES 8    /* `gaps` requests on caphostd.ctl at once */
#define HOSTD_GAP_ROWS   128   /* connections one `gaps` answer lists (from every host) */
#define HOSTD_GAP_WAIT_MS 500  /* ... waiting this long for the hosts that do not answer */
#define HOSTD_GAP_RESEND_MS 100         /* ... asking them again this often */

/*
 * CONNECTED: uplink accepted, no (answered) ATTACH yet; ATTACHING: the
 * directory is being asked for it; INCOMING: a migration's caprun holding
 * an unstarted copy (no directory entry of ours yet); RUNNING/FROZEN:
 * attached; SAVED: on disk, its entry still ours.
 */
enum hostd_cap_state {
	HCAP_FREE = 0, HCAP_CONNECTED, HCAP_ATTACHING, HCAP_INCOMING, HCAP_RUNNING, HCAP_FROZEN,
	HCAP_SAVED
};

/* Source side of one live migration of a local capsule (hostd_mig.c). */
struct hostd_mig {
	int active;              /* from MIG_PREPARE until MIG_DONE (or the capsule is forgotten) */
	int ready_sent;          /* MIG_READY went out: no more waiting for SYNC_ACKs */
	int decided;             /* MIG_DIR was answered: the peers' queues need no more refreshes */
	int moved;               /* the directory names the target now */
	int end_sent;            /* caprun said MIG_END: the target may hold a complete copy */
	uint64_t id;             /* migration_id */
	uint32_t target;         /* target host_id ... */
	uint32_t target_addr;    /* ... its data-plane locator (network order) ... */
	uint16_t target_port;    /* ... and data port, from HOST_LOOKUP at MIG_PREPARE */
	uint32_t epoch;          /* e: the epoch the migration started at */
	uint64_t ready_ms;       /* MIG_READY is due then even if peers are silent */
	uint64_t resend_ms;      /* next SYNC (re)send to the peers that have not acknowledged */
	uint32_t npeers, nacked;
	uint32_t peers[HOSTD_MAX_PEERS];   /* host ids SYNC went to (they get FLUSH_TO at the end) */
	uint8_t acked[HOSTD_MAX_PEERS];
};

struct hostd_cap {
	int state;               /* enum hostd_cap_state */
	uint32_t gen;            /* bumped at every reuse of the slot: a job's answer finds its own */
	int fd;                  /* uplink; -1 once SAVED */
	char name[64];
	uint32_t ip;             /* network order */
	uint32_t epoch;
	uint32_t attach_flags;   /* its ATTACH's UPLINK_ATTACH_* */
	uint32_t mig_source;     /* arrived by migration from this host and not started yet: if its
	                          * caprun dies now, the entry goes back there; 0 otherwise */
	uint64_t pkts_in, pkts_out;
	uint32_t mtu;            /* its link's MTU (ATTACH): joined segments stay within it; 0 unknown */
	struct readpace pace;    /* records read from its uplink per wake-up */
	struct hostd_mig mig;
};

struct hostd_peer {
	uint32_t host_id;        /* 0 = free slot */
	uint32_t addr;           /* locator, network order (learned from authenticated packets) */
	uint16_t port;           /* host order */
	struct wire_replay replay;
	uint64_t redirect_ms;    /* rate limit: last REDIRECT we sent it */
	uint32_t redirects_in_ms;
};

/* One capsule the gateway holds (or whose released bytes it still resends): hostd_hold.c. */
struct hostd_hold {
	uint32_t ip;             /* capsule, network order; 0 = free slot */
	struct holdfile *f;      /* its state file, mapped shared: every byte of the state is there */
	uint64_t check_ms;       /* next look at the directory: does it run somewhere already? */
};

/*
 * The order of control messages about one capsule (hostd_msg.h): a later
 * epoch is newer; at one epoch only the same host's larger id is.  host 0
 * and id 0 make a floor: "everything before this epoch is over" (a FLUSH_TO
 * from a host other than the one it names).
 */
struct hostd_stamp {
	uint32_t epoch, host;
	uint64_t id;
};
static inline int hostd_stamp_newer(struct hostd_stamp a, struct hostd_stamp b)
{
	if (a.epoch != b.epoch)
		return a.epoch > b.epoch;
	return a.id > b.id && (b.host == 0 || a.host == b.host);
}

/* What the gateway last applied for a capsule it no longer holds: older HOLDs are stale. */
struct hostd_tomb {
	uint32_t ip;             /* 0 = free slot */
	struct hostd_stamp st;
	uint64_t at_ms;
};

/* A HOLD, FLUSH or FLUSH_TO waiting for its ACK (hostd_ctl.c). */
struct hostd_ctl_out {
	uint8_t kind;            /* enum hostd_ctl_kind; 0 = free slot */
	uint8_t sent;            /* 0: waits for an older HOLD / FLUSH about the same capsule */
	uint16_t len;
	uint32_t dest;           /* host id */
	uint32_t ip, epoch;      /* the capsule (network order); the wire header's epoch */
	uint64_t id;
	uint64_t first_ms, next_ms;
	uint32_t wait_ms;
	uint8_t *payload;        /* malloc'ed copy */
};

/* One `capture` client on caphostd.ctl (hostd_capture.c): pcap records of one capsule's packets. */
struct hostd_capture {
	int fd;                  /* the client's connection */
	uint32_t ip;             /* the capsule, network order */
	int wire;                /* its host-to-host datagrams too */
	int want_out;            /* EPOLLOUT is on: the buffer waits for room */
	uint8_t *buf;            /* CAPTURE_BUF_MAX bytes not yet sent; NULL = free slot */
	size_t len;
};

/*
 * One TCP connection of a migrating capsule, as this host passes the
 * capsule's packets on to the peer (hostd_gapwatch.c): the longest time
 * between two of them since the migration's SYNC got here.
 */
struct hostd_gap_conn {
	uint32_t peer_ip;        /* network order */
	uint16_t peer_port, capsule_port;   /* host order */
	uint64_t last_us;        /* the last packet from the capsule on it (monotonic) */
	uint64_t gap_from_us, gap_us;       /* the longest silence: when it began, how long */
	int from_sync;           /* it began at the SYNC: no packet was seen before it */
};

/* One migration of one capsule, seen from here: a watch opens with its SYNC queue. */
struct hostd_gap_watch {
	uint32_t ip;             /* capsule, network order; 0 = free slot */
	uint32_t epoch;          /* the epoch the migration started at */
	uint64_t migration_id;
	uint64_t start_us;       /* SYNC got here (ours: MIG_PREPARE) */
	uint64_t release_us;     /* its queue here was flushed (0: not yet) */
	int tracking;            /* packets still recorded (until HOSTD_GAP_TRACK_MS after start) */
	uint32_t n, more;        /* connections recorded; packets of those beyond HOSTD_GAPS_MAX */
	struct hostd_gap_conn conns[HOSTD_GAPS_MAX];
};

/* A `gaps IP EPOCH` request on caphostd.ctl (hostd_gapask.c): asking every host we know. */
struct hostd_gap_query {
	int active;              /* 0 = free slot */
	int fd;                  /* the client */
	uint32_t ip, epoch;
	uint64_t id;             /* GAPS_ASK's query_id */
	uint64_t deadline_ms, resend_ms;
	uint32_t nhosts, nanswered, more;
	uint32_t hosts[HOSTD_MAX_PEERS];
	uint8_t answered[HOSTD_MAX_PEERS];
	uint32_t nrows;
	struct { uint32_t host; struct hostd_gap_rec r; } rows[HOSTD_GAP_ROWS];
};

/* Peer side of a migration: packets for a moving capsule wait here until FLUSH_TO (hostd_sync.c). */
struct hostd_syncq {
	uint32_t ip;             /* capsule, network order; 0 = free slot */
	uint32_t epoch;          /* the epoch its migration started at */
	uint32_t source;         /* host that sent SYNC (ours for the source's own queue) */
	uint64_t migration_id;
	uint64_t deadline_ms;    /* released to the directory's holder then */
	uint64_t sync_seq;       /* wire seq of the SYNC that opened / refreshed it (its stamp's id) */
	struct tcphold_udp q;    /* bounded FIFO of whole IPv4 packets */
	uint8_t *buf;
};

/*
 * A directory conversation (hostd_dir.c): one request at a time on the
 * asynchronous client, answered later; each kind is an operations table.
 * A job that serves a capsule names it by slot and generation, so an answer
 * that arrives after the capsule went away finds out, and undoes what the
 * directory did for nobody.
 */
struct hostd;
struct hostd_job;
struct hostd_job_ops {
	const char *name;
	/* The directory answered the job's request (rc and reply as in dirc_done_fn). */
	void (*answer)(struct hostd *d, struct hostd_job *j, int rc, const struct dir_msg *reply);
	/* Its timer (wake_ms) is due: poll again, retry after a pause. */
	void (*wake)(struct hostd *d, struct hostd_job *j);
	/* Freed at shutdown without finishing: release what it holds (may be NULL). */
	void (*drop)(struct hostd *d, struct hostd_job *j);
};

struct hostd_job {
	const struct hostd_job_ops *ops;   /* NULL: free slot */
	uint32_t gen;
	uint32_t handle;                   /* the dirc request in flight, 0 if none */
	uint64_t wake_ms;                  /* its timer, 0 if none */
	uint64_t start_ms;
	int step;
	int cap;                           /* the capsule slot it serves, -1 none ... */
	uint32_t cap_gen;                  /* ... and that slot's generation then */
	uint32_t ip, epoch, host, state;   /* ip network order; meaning per kind */
	uint64_t id;                       /* a migration's id (mig_prepare) */
	struct uplink_attach attach;       /* attach jobs: the request */
	int fd;                            /* list: the control client */
	char *buf;                         /* list rows; resolve: waiting packets */
	size_t len, count;
	size_t pkt_len[HOSTD_RESOLVE_PKTS];
	int parked, parked_attempts;       /* the client's table was full: asked again at wake_ms */
	struct dir_msg parked_msg;
};

/* Every drop has its own counter; `stats` prints them by these names, in this order. */
#define HOSTD_COUNTERS(X) \
	X(up_attach) X(up_attach_refused) X(up_malformed) X(up_spoofed) X(up_not_attached) \
	X(up_pkts_in) X(up_pkts_out) X(deliver_full) X(drop_held) X(drop_no_route) \
	X(drop_bad_dst) X(drop_not_gateway) X(drop_no_gateway) X(drop_epoch) X(data_out) \
	X(data_in) X(send_errors) X(redirect_out) X(redirect_in) X(redirect_rate_limited) \
	X(redirect_bad) X(hold_out) X(hold_in) X(hold_bad) X(hold_full) X(hold_new_conn) X(hold_unslotted) \
	X(flush_out) X(flush_in) X(released_conns) X(reinjected_pkts) X(held_udp_dropped) \
	X(mss_clamped) X(gw_in) X(gw_out) X(gw_spoofed) X(gw_malformed) X(gw_not_ipv4) \
	X(gw_src_not_capsule) X(gw_write_errors) \
	X(dir_lookups) X(dir_errors) X(notifies) X(peers_full) X(dir_states) X(dir_state_errors) \
	X(gw_lookups) X(gw_lookup_errors) \
	X(sync_in) X(sync_out) X(sync_acks_in) X(sync_acks_out) X(sync_bad) X(sync_full) \
	X(sync_dropped) X(sync_dropped_udp) X(sync_released_pkts) X(sync_timeouts) \
	X(flush_to_out) X(flush_to_in) X(mig_prepares) X(mig_prepare_errors) X(mig_lookups) \
	X(mig_fences) X(mig_commits) X(mig_aborts) X(mig_out_of_order) X(mig_frozen_drops) X(mig_accepted) \
	X(mig_spawn_errors) \
	X(dir_jobs_full) X(dir_lookup_neg_hits) X(dir_lookup_rate_limited) X(dir_lookup_busy) \
	X(dir_lookup_waiting) X(dir_releases) X(dir_returns) X(dir_orphans) X(reattached) \
	X(reattach_stale) X(incoming) X(mig_pulls) X(mig_started) \
	X(fault_wire_lost) X(fault_wire_dup) X(fault_wire_reordered) X(fault_wire_delayed) \
	X(fault_gw_lost) X(fault_gw_dup) X(fault_gw_reordered) X(fault_gw_delayed) X(fault_queue_full) \
	X(ctl_resent) X(ctl_unlocated) X(ctl_acked) X(ctl_ack_late) X(ctl_ack_bad) X(ctl_acks_out) X(ctl_given_up) \
	X(ctl_full) X(hold_stale) X(flush_stale) X(flush_to_stale) X(sync_stale) \
	X(hold_bytes) X(reinject_resent) X(reinject_confirmed) X(reinject_given_up) X(hold_carried) \
	X(hold_reloaded) X(hold_file_bad) X(hold_file_errors) X(hold_dir_released) \
	X(capture_records) X(capture_dropped) X(mig_checks) X(mig_check_waits) X(dir_failovers) \
	X(dir_resubscribed) \
	X(gaps_asks_in) X(gaps_reports_out) X(gaps_reports_in) X(gaps_bad) X(gaps_queries) \
	X(gaps_queries_refused) \
	X(wire_cut) X(wire_pieces) X(wire_gso_sends) X(wire_gso_off) X(wire_truncated) \
	X(join_segments) X(join_pieces) X(mss_raised)

struct hostd_counters {
#define HOSTD_FIELD(n) uint64_t n;
	HOSTD_COUNTERS(HOSTD_FIELD)
#undef HOSTD_FIELD
};

/*
 * The seams between caphostd's parts.  The parts call each other in one
 * direction only (the order of the declarations below: hostd_core.c first,
 * caphostd.c last); what must go out of the daemon or back up that order
 * goes through these, which caphostd.c fills once at start and a unit test
 * fills with fakes (tests/unit/hosts/caphostd/test_host_route.c).
 */
struct hostd_ops {
	/* One sealed datagram (the iovecs in order) to addr:port (addr network order); 0 or -1. */
	int (*wire_out)(struct hostd *d, const struct iovec *iov, int iovcnt, uint32_t addr,
	                uint16_t port);
	/* Sealed datagrams of dgram bytes each (the last may be shorter), back to back in buf, to
	 * addr:port in as few system calls as the kernel allows (UDP_SEGMENT); 0 or -1.  NULL:
	 * each goes through wire_out. */
	int (*wire_out_gso)(struct hostd *d, const uint8_t *buf, size_t len, size_t dgram,
	                    uint32_t addr, uint16_t port);
	/* One uplink record to capsule c's caprun, never blocking; 0 or -1 (its queue is full). */
	int (*uplink_out)(struct hostd *d, const struct hostd_cap *c, const struct iovec *iov,
	                  int iovcnt);
	/* Gateway only: one packet into capgw; one packet read from it (after injected faults). */
	void (*tun_out)(struct hostd *d, const uint8_t *pkt, size_t len);
	void (*tun_in)(struct hostd *d, const uint8_t *pkt, size_t len);
	/* Gateway only: a capsule's packet for an ordinary peer (hostd_gw_write). */
	void (*gw_write)(struct hostd *d, const uint8_t *pkt, size_t len);
	/* A packet a part parked (the resolver, a migration queue, the holder) goes to the router
	 * again (hostd_route_packet). */
	void (*reroute)(struct hostd *d, const uint8_t *pkt, size_t len);
	/* The directory's NOTIFY: a capsule moved or was released (hostd_fwd_notify). */
	void (*notify)(struct hostd *d, const struct dir_entry *e);
};



struct hostd {
	/* configuration */
	uint32_t host_id, network_id;
	uint32_t net, mask;          /* capsule network, host order */
	uint32_t listen_addr;        /* network order */
	uint16_t listen_port;
	uint16_t wire_mss;           /* SYNs entering are lowered to this MSS (--wire-mtu; tcpmss.h) */
	size_t wire_inner_max;       /* the largest inner packet one datagram carries whole (--wire-mtu) */
	int gateway;                 /* this host is the gateway (capgw) */
	uint32_t gw_host;            /* the gateway's host_id (ours if gateway) */
	uint8_t data_key[WIRE_KEY_LEN];
	char run_dir[PATH_MAX];
	uint16_t mig_port;           /* TCP port for incoming migrations; 0 = none */
	char keys_path[PATH_MAX];    /* handed to `caprun --incoming` */
	char caprun_path[PATH_MAX];  /* the caprun next to our own executable */
	const char *volumes[CAP_FILE_VOLUMES];   /* --volume HOSTDIR:PATH[:ro]: `caprun --incoming -v` */
	int nvolumes;

	/* resources */
	struct dirc *dir;
	uint64_t dir_heartbeat_ms;   /* next HOST_LOOKUP of ourselves: keeps our liveness lease (etcd) */
	int dir_replica;             /* the directory replica we talk to (dirclient_replica) */
	int ep, udp_fd, up_fd, ctl_fd, sig_fd, tun_fd, mig_fd;
	struct nlm_sock *nl;
	unsigned tun_ifindex;
	int unreach_added;
	char up_path[PATH_MAX], ctl_path[PATH_MAX];

	/* state */
	struct xlate_table xt;
	struct hostd_cap caps[HOSTD_MAX_CAPS];
	int caps_hw;             /* slots ever used are below this: per-packet scans stop there */
	struct hostd_peer peers[HOSTD_MAX_PEERS];
	struct hostd_hold holds[HOSTD_MAX_HOLDS];
	struct hostd_tomb tombs[HOSTD_MAX_TOMBS];
	struct hostd_ctl_out ctl_out[HOSTD_CTL_PENDING];
	struct { uint32_t ip; uint64_t migration_id, at_ms; } sync_done[HOSTD_SYNC_DONE];
	unsigned sync_done_next;
	unsigned holds_releasing;    /* holds in HOLDFILE_RELEASING: packets to peers are watched */
	struct hostd_syncq syncq[HOSTD_MAX_SYNCQ];
	pid_t mig_pids[HOSTD_MIG_CHILDREN];   /* `caprun --incoming` children; 0 = free */
	struct hostd_job jobs[HOSTD_MAX_JOBS];
	uint32_t job_gen;
	int hello_done;              /* the directory has our locator */
	struct { uint32_t ip; uint64_t until_ms; } neg[HOSTD_NEG_CACHE];   /* hostd_resolve.c */
	struct { uint32_t src; uint32_t tokens; uint64_t refill_ms; } budget[HOSTD_LOOKUP_SOURCES];
	uint64_t seq_last, gw_list_ms;
	struct hostd_counters cnt;
	struct wire_counters wc;

	struct hostd_gap_watch gap_watch[HOSTD_GAP_WATCHES];   /* hostd_gapwatch.c */
	int gap_tracking;            /* watches recording: the packet path looks no further when 0 */
	struct hostd_gap_query gap_q[HOSTD_GAP_QUERIES];       /* hostd_gapask.c */

	struct hostd_capture captures[CAPTURE_MAX];   /* `capture` clients (hostd_capture.c) */
	int ncaptures;               /* how many: the packet path looks no further when 0 */

	struct hostd_ops ops;        /* the seams (above); every one set before the loop runs */

	/* hostd_batch.c: pieces one read of the data-plane socket brought, joined per connection */
	struct tcpseg_join join;     /* the segment being joined ... */
	struct hostd_cap *join_to;   /* ... for this capsule, or capgw when NULL (join.len 0: none) */
	int gw_gso;                  /* capgw cuts our segments itself (its offloads are on) */
	struct readpace pace_udp, pace_tun;   /* reads per wake-up: data-plane socket, capgw */
	int joining;                 /* inside such a read: deliveries may be joined */
	uint8_t join_buf[65536];

	/* test-only fault injection (--net-faults, hostd_netem.c); nothing of it runs unless faults_on */
	int faults_on;
	uint64_t fault_seed;
	struct netem_spec faults;
	struct netem_rng fault_rng;
	struct netem_queue fault_q;
};

/* epoll tags: what an event's data.u64 means */
#define HOSTD_EV_UDP     1
#define HOSTD_EV_UPLISTEN 2
#define HOSTD_EV_CTL     3
#define HOSTD_EV_SIG     4
#define HOSTD_EV_TUN     5
#define HOSTD_EV_DIR     6
#define HOSTD_EV_MIG     7
#define HOSTD_EV_CAPTURE 0x80    /* + index into captures[] */
#define HOSTD_EV_CAP     0x100   /* + index into caps[] */

static inline int hostd_in_net(const struct hostd *d, uint32_t ip_net_order)
{
	return (__builtin_bswap32(ip_net_order) & d->mask) == d->net;
}

/*
 * The parts, lowest first: each calls only parts declared above it (and
 * xlate, tcphold, holdfile, netem, the formats); anything going the other
 * way goes through d->ops.
 */

/* hostd_capture.c: `capture` on caphostd.ctl: pcap records for capctl (hosts/formats/capture.h);
 * the packet path calls it at the host's edges, below every part */
#define HOSTD_CAPTURE_UPLINK 1   /* a packet on a capsule's uplink, either way */
#define HOSTD_CAPTURE_CAPGW  2   /* a packet through capgw, either way */
/* `capture IP|NAME [wire]` on fd (then ours): answered, then the pcap stream; or refused, closed. */
void hostd_capture_start(struct hostd *d, int fd, const char *args);
/* The client's socket became readable (it left) or writable (room for what waits). */
void hostd_capture_event(struct hostd *d, int idx, uint32_t events);
void hostd_capture_stop_all(struct hostd *d);
/* One inner IPv4 packet seen at where (HOSTD_CAPTURE_*). */
void hostd_capture_inner(struct hostd *d, int where, const uint8_t *pkt, size_t len);
/* One wire datagram (the iovecs in order) from src:sport to dst:dport (network order addresses). */
void hostd_capture_wire(struct hostd *d, const struct iovec *iov, int iovcnt, uint32_t src,
                        uint16_t sport, uint32_t dst, uint16_t dport);

/* hostd_gapwatch.c: each TCP connection's longest silence while its capsule migrates, as this
 * host passes the capsule's packets on (to a capsule here, or into capgw); below every part */
/* A migration's SYNC queue opened here (a new migration_id for ip starts a new watch). */
void hostd_gapwatch_open(struct hostd *d, uint32_t ip, uint32_t epoch, uint64_t migration_id);
/* That queue was flushed: the capsule runs again; the next packet on each connection ends its gap. */
void hostd_gapwatch_released(struct hostd *d, uint32_t ip, uint64_t migration_id);
/* A packet from a capsule, passed on to its peer here (call only while d->gap_tracking). */
void hostd_gapwatch_packet(struct hostd *d, const uint8_t *pkt, size_t len);
/* What this host recorded for ip's migration from epoch, as a GAPS_REPORT's fields (kind,
 * ip, epoch and query_id left to the caller): 0, or -1 if no such watch (n 0 then). */
int hostd_gapwatch_report(struct hostd *d, uint32_t ip, uint32_t epoch, struct hostd_gaps_msg *m);

/* hostd_netem.c: test-only fault injection on the forwarding path (--net-faults); what
 * survives goes out (or in) through d->ops */
int hostd_netem_init(struct hostd *d);
void hostd_netem_free(struct hostd *d);
/* A sealed datagram / a packet for capgw / a packet read from capgw: lost, delayed, duplicated. */
void hostd_netem_wire(struct hostd *d, const uint8_t *dgram, size_t len, uint32_t addr, uint16_t port);
void hostd_netem_gw_write(struct hostd *d, const uint8_t *pkt, size_t len);
void hostd_netem_gw_read(struct hostd *d, const uint8_t *pkt, size_t len);
/* Sends what is due; ms until the next (-1: nothing queued). */
int hostd_netem_tick(struct hostd *d, uint64_t now);

/* hostd_core.c: the peer table, the wire sender, the capsule table, the ways out */
struct hostd_peer *hostd_core_peer(struct hostd *d, uint32_t host_id, int create);
/* The next wire sequence number, also a control message's id: one strictly growing space per host. */
uint64_t hostd_core_next_seq(struct hostd *d);
/* Seal and send one wire message to addr:port (through the injected faults if on); 0 or -1. */
int hostd_core_send_wire(struct hostd *d, int type, uint32_t epoch, const uint8_t *payload,
                         size_t plen, uint32_t addr, uint16_t port);
/* The default d->ops.wire_out / uplink_out: sendmsg on the data-plane socket / c's uplink. */
int hostd_core_wire_sendmsg(struct hostd *d, const struct iovec *iov, int iovcnt, uint32_t addr,
                            uint16_t port);
int hostd_core_uplink_sendmsg(struct hostd *d, const struct hostd_cap *c, const struct iovec *iov,
                              int iovcnt);
/* Our own packet for an ordinary peer into capgw (the holder's ACKs): not a capsule's, not
 * watched; through the injected faults if on. */
void hostd_core_tun_emit(struct hostd *d, const uint8_t *pkt, size_t len);
struct hostd_cap *hostd_core_cap_by_ip(struct hostd *d, uint32_t ip);
/* "running", "frozen", "migrating", ...: for `ps` */
const char *hostd_core_cap_state_name(const struct hostd_cap *c);
/* Deliver one IPv4 packet to a capsule attached here; 0 or -1 (counted). */
int hostd_core_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len);
/* One record to c's caprun (never blocks; a full uplink drops it). */
void hostd_core_uplink_send(struct hostd *d, const struct hostd_cap *c, const uint8_t *rec,
                            size_t n);
/* A directory entry of a capsule elsewhere, into the translation table. */
void hostd_core_xlate_from_dir(struct hostd *d, const struct dir_entry *e);

/* hostd_batch.c: a TCP segment too large for the wire leaves cut, in one GSO send; the pieces
 * one read brings are joined per connection on their way up (tcpseg.h) */
/* WIRE_DATA of one inner packet to addr:port: whole when it fits the wire, else cut; 0 or -1. */
int hostd_batch_send_data(struct hostd *d, uint32_t epoch, const uint8_t *pkt, size_t len,
                          uint32_t addr, uint16_t port);
/* The default d->ops.wire_out_gso: sendmsg with UDP_SEGMENT, up to 64 KiB per call. */
int hostd_batch_wire_gso(struct hostd *d, const uint8_t *buf, size_t len, size_t dgram,
                         uint32_t addr, uint16_t port);
/* A read of the data-plane socket begins / ended (everything joined goes up). */
void hostd_batch_read_begin(struct hostd *d);
void hostd_batch_read_end(struct hostd *d);
/* A packet from the wire for capsule c: joined to what came before it in this read when it
 * continues it, else delivered (after what was joined). */
void hostd_batch_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len);
/* A packet from here (a capsule, capgw, a part giving one back) for capsule c attached here:
 * as it is, or, larger than c's link (capgw's 64 KiB segments), cut to fit it. */
void hostd_batch_deliver_whole(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt,
                               size_t len);
/* Gateway: a capsule's packet from the wire for an ordinary peer: joined like the above, then
 * to d->ops.gw_write (capgw cuts a joined segment again, hostd_gw_tun_write). */
void hostd_batch_gw_write(struct hostd *d, const uint8_t *pkt, size_t len);
/* Deliver what is being joined now (before anything else reaches a capsule or capgw). */
void hostd_batch_flush(struct hostd *d);

/* hostd_dir.c: the job engine and the simple conversations */
struct hostd_job *hostd_dir_job_new(struct hostd *d, const struct hostd_job_ops *ops);
/* Send m for job j (attempts as dirclient_start); 0, or -1 (the job got rc via its answer op). */
int hostd_dir_job_ask(struct hostd *d, struct hostd_job *j, const struct dir_msg *m, int attempts);
void hostd_dir_job_free(struct hostd *d, struct hostd_job *j);
/* The capsule job j serves, if that slot still holds the same one; else NULL. */
struct hostd_cap *hostd_dir_job_cap(struct hostd *d, const struct hostd_job *j);
void hostd_dir_job_bind(struct hostd_job *j, const struct hostd *d, const struct hostd_cap *c);
/* The loop's hooks: the directory socket is readable (NOTIFYs go to d->ops.notify); timers
 * (ms until the next, -1: none). */
void hostd_dir_input(struct hostd *d);
int hostd_dir_tick(struct hostd *d, uint64_t now);
void hostd_dir_shutdown(struct hostd *d);
/* HELLO with our locator, retried until it lands (so a directory that is down does not stop us). */
void hostd_dir_hello(struct hostd *d);
/* Give ip back (we hold it at epoch, nobody runs it): retried until the directory decides. */
void hostd_dir_release(struct hostd *d, uint32_t ip, uint32_t epoch);
/* How ip runs here (enum dir_cap_state); a newer report for ip replaces a pending one.
 * until_done: retried until the directory answers (else a few attempts, best effort). */
void hostd_dir_state(struct hostd *d, uint32_t ip, uint32_t epoch, int state, int until_done);
/* The same for capsule c, retried until the directory has it. */
void hostd_dir_report(struct hostd *d, const struct hostd_cap *c, int state);
/* A migrated capsule that never started here: the entry back to host source (a push). */
void hostd_dir_return(struct hostd *d, uint32_t ip, uint32_t epoch, uint32_t source);
/* A migrating capsule's caprun died (source side): release now, or wait for the target's pull. */
void hostd_dir_orphan(struct hostd *d, uint32_t ip, uint32_t epoch, int end_sent);
/* Learn host_id's locator (HOST_LOOKUP) into the peer table and the entries naming it. */
void hostd_dir_host(struct hostd *d, uint32_t host_id);
/* Locator of the gateway host: 0 if known.  Unknown: -1, and the directory
 * is asked (HOST_LOOKUP, at most once a second); later packets find it. */
int hostd_dir_gateway_locator(struct hostd *d, uint32_t *addr, uint16_t *port);
/* `list` on the control socket: answered on fd (then closed) when the pages are in. */
void hostd_dir_list(struct hostd *d, int fd);

/* hostd_ctl.c: HOLD / FLUSH / FLUSH_TO resent until acknowledged (hostd_msg.h) */
/* A fresh message id: strictly growing per host, across restarts (the wire seq generator). */
uint64_t hostd_ctl_id(struct hostd *d);
/* Send kind (enum hostd_ctl_kind) to host dest now and again until its ACK, payload copied. */
void hostd_ctl_send(struct hostd *d, int kind, uint32_t dest, uint32_t ip, uint32_t epoch,
                    uint64_t id, const uint8_t *payload, size_t len);
/* The receiver's side: acknowledge a message (to the address it came from). */
void hostd_ctl_ack_send(struct hostd *d, int kind, uint32_t ip, uint32_t epoch, uint64_t id,
                        const struct sockaddr_in *to);
/* An ACK from sender (WIRE_ACK payload). */
void hostd_ctl_ack_in(struct hostd *d, uint32_t sender, const uint8_t *pl, size_t len);
/* Resends and give-ups; ms until the next resend (-1: none). */
int hostd_ctl_tick(struct hostd *d, uint64_t now);
void hostd_ctl_free_all(struct hostd *d);

/* hostd_gapask.c: `gaps IP EPOCH` on caphostd.ctl: every host's GAPS_REPORT, collected */
/* Answer on fd (then ours) once every host answered or HOSTD_GAP_WAIT_MS passed; or refuse. */
void hostd_gapask_start(struct hostd *d, int fd, const char *args);
/* A GAPS message from host sender (WIRE_GAPS payload), from address from. */
void hostd_gapask_in(struct hostd *d, uint32_t sender, const uint8_t *pl, size_t len,
                     const struct sockaddr_in *from);
/* Asks again, answers at the deadline; ms until the next (-1: none). */
int hostd_gapask_tick(struct hostd *d, uint64_t now);
void hostd_gapask_stop_all(struct hostd *d);

/* hostd_resolve.c: where is a capsule IP, without stalling the packet loop */
/* dst is not in the table: drop (negative cache, the source's lookup budget) or ask the
 * directory and keep the packet until the answer (then d->ops.reroute); counted either way. */
void hostd_resolve_packet(struct hostd *d, uint32_t dst, const uint8_t *pkt, size_t len);
/* Ask again now, past the negative cache (after a migration); the answer updates the table. */
void hostd_resolve_refresh(struct hostd *d, uint32_t ip);
/* We failed over to another directory replica: our subscriptions were the old one's (kept in
 * its memory only), so look every remote entry up again, subscribing, a few at a time. */
void hostd_resolve_resubscribe(struct hostd *d);

/* hostd_hold.c: the gateway's holders, their state in RUN_DIR/gateway-holds (holdfile.h) */
/* Reload the state files a previous caphostd left (gateway start); counted. */
void hostd_hold_load(struct hostd *d);
/* Unmap everything, files kept: a restarted gateway goes on holding. */
void hostd_hold_close_all(struct hostd *d);
/* A HOLD {m} from host sender (or our own FROZEN): start holding, unless it is out of date.
 * Returns 0 if applied, 1 if stale (older than what we applied), -1 if no room. */
int hostd_hold_start(struct hostd *d, const struct hostd_hold_msg *m, uint32_t sender);
/* The capsule runs again: buffered bytes to it (d->ops.reroute, resent until it acknowledged
 * them), window-opening ACKs to the peers. */
void hostd_hold_release(struct hostd *d, uint32_t ip);
/* The same for a FLUSH / FLUSH_TO stamped st: only if st is newer than the HOLD held (and
 * remembered as the latest word on ip either way).  1 if st was out of date. */
int hostd_hold_release_stamped(struct hostd *d, uint32_t ip, struct hostd_stamp st);
/* The capsule is gone for good (released): forget what we held, silently. */
void hostd_hold_drop(struct hostd *d, uint32_t ip);
int hostd_hold_is_held(const struct hostd *d, uint32_t ip);
/* A packet from capgw for a held capsule: the holder answers, or it waits in the UDP queue. */
void hostd_hold_input(struct hostd *d, uint32_t ip, const uint8_t *pkt, size_t len);
/* A packet a capsule sends an ordinary peer: does it acknowledge bytes we re-injected? */
void hostd_hold_observe(struct hostd *d, const uint8_t *pkt, size_t len);
/* Resends of released bytes, forgetting old stamps; ms until the next (-1: none). */
int hostd_hold_tick(struct hostd *d, uint64_t now);

/* hostd_sync.c: the peer side of a migration (WIRE_SYNC) */
/* A SYNC / a FLUSH_TO from another host (hostd_fwd.c decoded it). */
void hostd_sync_in(struct hostd *d, const struct wire_hdr *h, const struct hostd_sync_msg *m,
                   const struct sockaddr_in *from);
void hostd_sync_flush_to_in(struct hostd *d, const struct wire_hdr *h,
                            const struct hostd_sync_msg *m, const struct sockaddr_in *from);
/* The router asks first: 1 = a migration queue for dst took (or dropped) the packet. */
int hostd_sync_capture(struct hostd *d, uint32_t dst, const uint8_t *pkt, size_t len);
/* Create or refresh the queue for ip (SYNC from source, or our own as the source); 0 or -1. */
int hostd_sync_open(struct hostd *d, uint32_t ip, uint32_t epoch, uint64_t migration_id,
                    uint32_t source);
/* A migration of ip is under way here (a queue exists): wait for FLUSH / FLUSH_TO. */
int hostd_sync_pending(struct hostd *d, uint32_t ip);
/* Free ip's queue and route what it held again (d->ops.reroute, per the translation table now). */
void hostd_sync_release(struct hostd *d, uint32_t ip);
/* The same for a FLUSH / FLUSH_TO stamped st: only if st is newer than the SYNC that made the
 * queue (a late copy of an older migration's message must not release a newer queue). */
void hostd_sync_release_stamped(struct hostd *d, uint32_t ip, struct hostd_stamp st);
/* Encode + send one SYNC-type message to addr:port; counted per kind.  0 or -1. */
int hostd_sync_send(struct hostd *d, const struct hostd_sync_msg *m, uint32_t addr, uint16_t port);
/* FLUSH_TO {ip runs at host, addr:port, epoch} to the listed hosts (NULL: every peer we know). */
void hostd_sync_flush_to(struct hostd *d, uint32_t ip, uint32_t epoch, uint32_t host,
                         uint32_t addr, uint16_t port, const uint32_t *hosts, uint32_t nhosts);
/* Timeouts; returns ms until the next is due (-1: none). */
int hostd_sync_tick(struct hostd *d, uint64_t now);
void hostd_sync_free_all(struct hostd *d);

/* hostd_route.c: one outgoing packet, from a capsule here, from capgw, or given back */
void hostd_route_packet(struct hostd *d, const uint8_t *pkt, size_t len);

/* hostd_gw.c: the gateway TUN capgw; HOLD / FLUSH from a capsule's host */
int hostd_gw_open(struct hostd *d, char *err, size_t errlen);
void hostd_gw_close(struct hostd *d);
void hostd_gw_input(struct hostd *d);
/* Write a capsule's packet for an ordinary peer to capgw (gateway only; d->ops.gw_write). */
void hostd_gw_write(struct hostd *d, const uint8_t *pkt, size_t len);
/* The raw capgw write (d->ops.tun_out) and one packet read from capgw, handled (d->ops.tun_in). */
void hostd_gw_tun_write(struct hostd *d, const uint8_t *pkt, size_t len);
void hostd_gw_packet(struct hostd *d, const uint8_t *pkt, size_t len);
/* Host side: tell the gateway (or ourselves) to hold / release a capsule's peers (reliably);
 * recs: FROZEN's n tcpconn records. */
void hostd_gw_send_hold(struct hostd *d, const struct hostd_cap *c, const uint8_t *recs, uint32_t n);
void hostd_gw_send_flush(struct hostd *d, const struct hostd_cap *c);

/* hostd_mig.c: the source side of a migration (uplink MIG_*), the target's arrival, the listener */
void hostd_mig_prepare(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_prepare *p);
void hostd_mig_ack(struct hostd *d, uint32_t sender, const struct hostd_sync_msg *m);
void hostd_mig_dir(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_dir *m);
void hostd_mig_done(struct hostd *d, struct hostd_cap *c, const struct uplink_mig_done *m);
/* Target: a migrated capsule was accepted here: queues and the gateway release to us. */
void hostd_mig_arrived(struct hostd *d, struct hostd_cap *c);
/* Deadlines (MIG_READY, SYNC resends); returns ms until the next (-1: none). */
int hostd_mig_tick(struct hostd *d, uint64_t now);
int hostd_mig_listen(struct hostd *d, char *err, size_t errlen);
void hostd_mig_accept(struct hostd *d);
void hostd_mig_reap(struct hostd *d);

/* hostd_attach.c: a caprun's ATTACH, from request to verdict (ATTACHED or ERROR) */
void hostd_attach_start(struct hostd *d, struct hostd_cap *c, const struct uplink_attach *a);

/* hostd_uplink.c: capsules attached over RUN_DIR/caphostd.sock */
void hostd_uplink_accept(struct hostd *d);
void hostd_uplink_input(struct hostd *d, int idx);

/* hostd_fwd.c: the data plane's receiving side */
/* The data-plane socket is readable: each datagram to hostd_fwd_datagram. */
void hostd_fwd_input(struct hostd *d);
/* One datagram from another host (from: where it came from): checked, then acted on. */
void hostd_fwd_datagram(struct hostd *d, const uint8_t *buf, size_t n, const struct sockaddr_in *from);
/* The directory's NOTIFY (d->ops.notify): update the cache, release or drop a hold. */
void hostd_fwd_notify(struct hostd *d, const struct dir_entry *e);

#endif
