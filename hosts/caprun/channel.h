/* channel.h: the state caprun's parts share (struct host_relay) and the capsule's channel they all read: records, packets from the uplink, FREEZE, THAW (channel.c). */
#ifndef HOST_CAPRUN_CHANNEL_H
#define HOST_CAPRUN_CHANNEL_H

#include "capsule-abi/cap_snapshot.h"
#include "hosts/caprun/tunfilter.h"
#include "hosts/common/readpace.h"

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
	uint64_t drop_host_full;   /* the TUN, the channel or the held area had no room, or no caphostd */
	uint64_t reattached;       /* times caphostd came back and took the capsule again */
	uint64_t drop_bad_record;  /* channel records not of the capsule's types, not in turn
	                            * (a FROZEN nobody asked for), or shorter than a header */
};

struct volumes;
struct caprun_procs;

/* How many records the relay reads from one descriptor per wake-up: one, or a queue (relay.c). */
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
	/* Work that can wait until the capsule's first moments are over (an incoming capsule's
	 * receive buffers): the loop runs it once, RELAY_LATER_MS after it starts. */
	void (*later)(void *arg);
	void *later_arg;
	/* Descriptive snapshot header fields (image, name, ip, mtu, sizes); see snapfile.h. */
	struct cap_snap_header snap_template;

	/* --- state kept by the loop --- */
	int ready_seen;
	int exec_lost;               /* pid 1's exec failed after its old program ended: the capsule ends */
	unsigned traced_first_packet;   /* clock_trace: the first packet out after the start */
	int frozen;          /* the capsule reported FROZEN and was not thawed since */
	int migrating;       /* a live migration of it is under way (we are the source) */
	int64_t reattach_due_ms;     /* without caphostd: when to look for one again */
	unsigned uplink_gen;         /* bumped whenever tun_fd becomes a new uplink (a reattach) */
	struct readpace pace_tun, pace_chan;   /* reads per wake-up from tun_fd, chan_fd (readpace.h) */
	struct host_relay_stats stats;
	int thaw_on_frozen;  /* a freeze timed out: thaw the capsule if it reports FROZEN late */
	uint16_t freeze_seq; /* the FREEZE awaiting its FROZEN (0: none): a random number ... */
	uint16_t freeze_last;/* ... never the last one again */
	char saved_path[PATH_MAX];   /* set by a snapshot that stops the capsule */
	uint32_t migrated_to;        /* set by a live migration that moved it: the target host */
	struct volumes *vols;        /* the capsule's volumes (-v): its file requests (volume.c) */
	struct lazyload *lazy;       /* a lazy resume still loading (lazyload.h), else NULL */
	uint64_t file_requests_deferred;  /* dropped while freezing: the capsule sends them again */
	struct caprun_procs *procs;  /* the capsule's other processes (procs.h) */
	int epoll_fd;        /* the relay loop's epoll set: child processes' channels join it */
	int64_t frozen_at_all;       /* several processes thawed: the latest frozen_at_ns of them all */
	int fork_ok;         /* set while the relay loop itself reads channels: a fork may happen
	                      * (never inside a snapshot's or a migration's wait) */

	/* --- standalone, the capsule's own packet path (tunfilter.h, docs/FASTPATH.md section 9) --- */
	struct tunfilter *filter;   /* the TUN's source filter: the capsule was given the TUN (fd 8) */
	int direct;                 /* it said CAP_MSG_DIRECT: it reads and writes the TUN itself, so
	                             * the loop no longer reads it */
	int tun_vnet;               /* the TUN speaks virtio_net_hdr: caprun's own reads and writes
	                             * strip and add it (hosts/common/tunvnet.h) */
	uint64_t tun_host_reads;    /* with a filter: packets caprun itself read from the TUN (relayed
	                             * before CAP_MSG_DIRECT, held at a freeze) ... */
	uint64_t tun_host_writes;   /* ... and wrote to it (the channel's packets): the device counts
	                             * them too, the capsule's own are the rest */
};

/* Every packet on the books (capctl stats): the relay's counters, plus, with a filtered TUN, what
 * the kernel counted on the device and in its filter that caprun did not move itself. */
void channel_stats(struct host_relay *r, struct host_relay_stats *out);

/*
 * One record received from the capsule: a packet goes to the TUN device,
 * READY prints the "running" line (once), a late FROZEN is thawed.
 * Returns the record's type (0 if malformed).
 */
int channel_record(struct host_relay *r, const unsigned char *rec, size_t n);

/*
 * One PACKET record from caphostd's uplink (already decoded, rec is n bytes)
 * to the capsule: the uplink and channel headers have the same size, so the
 * header is rewritten in place (rec changes).  A full channel drops it, counted.
 */
void channel_from_uplink(struct host_relay *r, unsigned char *rec, size_t n);

/* After recv returned 0 on the channel: 1 if the capsule closed it, 0 if that was an empty
 * record (counted by the caller, never taken for an end). */
int channel_closed(int fd);

/*
 * FREEZE the capsule and relay its last packets until it reports FROZEN.
 * 0, or -1 with "error ..." in reply (a late FROZEN is then thawed by
 * channel_record).
 */
int channel_freeze(struct host_relay *r, char *reply, size_t len);

/* The first half of channel_freeze: what was queued is read, FREEZE sent (r->freeze_seq);
 * channel_record sees the FROZEN.  0, or -1 with reply set. */
int channel_freeze_send(struct host_relay *r, char *reply, size_t len);

/* Continue a frozen capsule in this process: clock offset, then CAP_MSG_THAW. */
void channel_thaw(struct host_relay *r);

#endif
