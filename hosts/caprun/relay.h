/* relay.h: caprun's event loop: packets TUN <-> channel, READY, the control socket, signals, exit. */
#ifndef HOST_RELAY_H
#define HOST_RELAY_H

#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/uplink.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What the relay moved and what it refused, for `capctl stats`. */
struct host_relay_stats {
	uint64_t packets_in;       /* host -> capsule */
	uint64_t packets_out;      /* capsule -> host */
	uint64_t drop_spoofed;     /* capsule sent a source address that is not its own */
	uint64_t drop_malformed;   /* capsule sent something that is not an IPv4 packet */
	uint64_t drop_host_full;   /* the TUN (or the channel) had no room, or no caphostd */
	uint64_t reattached;       /* times caphostd came back and took the capsule again */
	uint64_t drop_bad_record;  /* channel records not of the capsule's types, not in turn
	                            * (a FROZEN nobody asked for), or shorter than a header */
};

struct host_relay {
	int tun_fd;          /* non-blocking; with uplink set: the caphostd uplink (hosts/formats/uplink.h) */
	int uplink;          /* 1: tun_fd is caphostd's SEQPACKET uplink, records carry a header */
	int chan_fd;         /* host end of the SEQPACKET channel, non-blocking */
	int sig_fd;          /* signalfd: SIGCHLD SIGINT SIGTERM SIGHUP */
	int ctl_fd;          /* listening control socket (hosts/formats/ctlproto.h), non-blocking */
	int memfd;           /* the capsule's memory: what a snapshot copies */
	pid_t child;
	const char *name;    /* for the "running" line */
	const char *addr;
	uint32_t ip;         /* the capsule's address, network order: its packets must carry it */
	uint32_t epoch;      /* attach mode: its directory epoch (a fenced migration raises it) */
	/* Descriptive snapshot header fields (image, name, ip, mtu, sizes); see snapfile.h. */
	struct cap_snap_header snap_template;

	/* --- state kept by the loop --- */
	int ready_seen;
	int frozen;          /* the capsule reported FROZEN and was not thawed since */
	int migrating;       /* a live migration of it is under way (we are the source) */
	int64_t reattach_due_ms;     /* without caphostd: when to look for one again */
	unsigned uplink_gen;         /* bumped whenever tun_fd becomes a new uplink (a reattach) */
	struct host_relay_stats stats;
	int thaw_on_frozen;  /* a freeze timed out: thaw the capsule if it reports FROZEN late */
	uint16_t freeze_seq; /* the FREEZE awaiting its FROZEN (0: none): a random number ... */
	uint16_t freeze_last;/* ... never the last one again */
	char saved_path[PATH_MAX];   /* set by a snapshot that stops the capsule */
	uint32_t migrated_to;        /* set by a live migration that moved it: the target host */
};

/* host_relay_run's result when a snapshot saved the capsule and caprun must stop. */
#define HOST_RELAY_SAVED (-2)
/* ... and when a live migration moved it to another host. */
#define HOST_RELAY_MIGRATED (-3)
/* ... and when caphostd said this copy is stale (the directory names another host). */
#define HOST_RELAY_STALE (-4)

/*
 * Run until the capsule exits (returns 0, *wstatus set), a terminating
 * signal arrives (returns the signal number; the capsule is still alive), or
 * a snapshot without keep-running was written (HOST_RELAY_SAVED, capsule
 * frozen).  Returns -1 on an internal error (message printed).
 */
int host_relay_run(struct host_relay *r, int *wstatus);

/*
 * One record received from the capsule: a packet goes to the TUN device,
 * READY prints the "running" line (once), a late FROZEN is thawed.
 * Returns the record's type (0 if malformed).
 */
int host_relay_record(struct host_relay *r, const unsigned char *rec, size_t n);

/*
 * One PACKET record from caphostd's uplink (already decoded, rec is n bytes)
 * to the capsule: the uplink and channel headers have the same size, so the
 * header is rewritten in place (rec changes).  A full channel drops it, counted.
 */
void host_relay_uplink_packet(struct host_relay *r, unsigned char *rec, size_t n);

/* After recv returned 0 on the channel: 1 if the capsule closed it, 0 if that was an empty
 * record (counted by the caller, never taken for an end). */
int host_relay_channel_closed(int fd);

/* Serve one pending connection on the control socket (ctlserve.c).  1: capsule saved, stop;
 * 2: it moved to another host, stop. */
int host_ctl_serve(struct host_relay *r);

/*
 * Freeze the capsule, write its snapshot to path (relative to dirfd, the
 * client's view of path's directory, if >= 0), then thaw it (keep, or
 * on any failure) or leave it frozen (saved).  The one-line reply for the
 * control socket goes to reply.  Returns 1 if the capsule was saved and
 * must now be stopped, else 0 (freeze.c).
 */
int host_relay_snapshot(struct host_relay *r, const char *path, int dirfd, int keep,
                        char *reply, size_t len);

/*
 * FREEZE the capsule and relay its last packets until it reports FROZEN
 * (snapshot.c).  0, or -1 with "error ..." in reply (a late FROZEN is then
 * thawed by the loop).
 */
int host_relay_freeze(struct host_relay *r, char *reply, size_t len);

/*
 * Move the running capsule to host target, live (caprun_mig.c): the whole
 * protocol of docs/MIGRATION.md, source side.  progress_fd (the capctl
 * client, or -1) gets "progress ..." lines as phases end; reply gets the
 * final "ok ..." / "error ..." line.  fault names a test fault (or NULL).
 * Returns 1 if the capsule now runs on the target and caprun must stop,
 * 0 if it continues here.
 */
int host_relay_migrate(struct host_relay *r, uint32_t target, const char *fault, int progress_fd,
                       char *reply, size_t len);

/* Continue a frozen capsule in this process: clock offset, then CAP_MSG_THAW. */
void host_relay_thaw(struct host_relay *r);

/* ---- attach mode: caphostd as the uplink (caprun_uplink.c, protocol in hosts/formats/uplink.h) ---- */

/* Connect to RUN_DIR/caphostd.sock; a non-blocking fd, or -1 if no caphostd answers there. */
int host_uplink_connect(void);
/*
 * ATTACH name with body a (hosts/formats/uplink.h: ip, flags, epoch, source, state)
 * and wait up to timeout_ms (< 0: for as long as the uplink stays open) for
 * the answer.  0 with *ip_out and *epoch set; HOST_UPLINK_REFUSED with err
 * = caphostd's ERROR text (a verdict); HOST_UPLINK_NO_VERDICT with err = why
 * the exchange failed (closed, timeout: ask again).
 */
#define HOST_UPLINK_REFUSED    (-1)
#define HOST_UPLINK_NO_VERDICT (-2)
int host_uplink_attach(int fd, const char *name, const struct uplink_attach *a, int timeout_ms,
                       uint32_t *ip_out, uint32_t *epoch, char *err, size_t errlen);
/* The uplink closed (caphostd died): connect to a caphostd again, REATTACH (r->name, ip, epoch,
 * frozen) and set r->tun_fd.  0; HOST_UPLINK_NO_VERDICT (none there yet: try later);
 * HOST_UPLINK_REFUSED with err (this copy is stale: stop it). */
int host_uplink_reattach(struct host_relay *r, char *err, size_t errlen);
/* Send one record, waiting a little (2 s at most) for room: the uplink is non-blocking.  0 or -1.
 * (No caphostd at the moment, fd -1: -1.) */
int host_uplink_send_record(int fd, const uint8_t *rec, size_t n);
/* The capsule froze: send FROZEN with the TCP sockets of its freeze report (read from memfd). */
void host_uplink_frozen(struct host_relay *r);
/* Send THAWED, or DETACH with reason (UPLINK_DETACH_*); best effort. */
void host_uplink_thawed(struct host_relay *r);
void host_uplink_detach(int fd, uint32_t reason);

#endif
