/* capture.h: packet captures of one capsule (`capctl capture`): the pcap file layout, the stream caphostd sends on caphostd.ctl, and which packets belong to a capsule. */
#ifndef HOST_CAPTURE_H
#define HOST_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

/*
 * docs/NETWORK.md section 6.11 is this header's page.
 *
 * The file is a classic pcap file (what tcpdump writes; Wireshark and tshark
 * read it): a 24-byte global header, then records of a 16-byte header and
 * the packet's bytes.  Native byte order (the magic says which), microsecond
 * time stamps (CLOCK_REALTIME), link type LINKTYPE_RAW (101): every record
 * is one bare IPv4 packet, no link header.
 *
 * Two kinds of record, both IPv4:
 *   inner  a capsule's own packet, as it enters or leaves this host's capsule
 *          network: on a capsule's uplink (to caprun, from caprun) and, on the
 *          gateway, on capgw (to and from ordinary peers, the holder's ACKs
 *          included) unless the capsule runs on the gateway itself (then its
 *          uplink already shows them).
 *   wire   (`--wire` only) a host-to-host datagram on UDP port 7471 that is
 *          about the capsule: DATA whose inner packet is from or to it,
 *          REDIRECT, SYNC / SYNC_ACK / FLUSH_TO, HOLD, FLUSH, ACK and GAPS naming it.
 *          The kernel builds the real outer IPv4 and UDP headers, so caphostd
 *          writes the ones it would: this host's locator and the peer's,
 *          TTL 64, DF, IP id 0, UDP checksum 0 (none, legal in IPv4); the UDP
 *          payload is the datagram's bytes exactly (wire.h), tag included.
 *          Sent datagrams are recorded after the injected faults
 *          (--net-faults), received ones before they are checked: a forged or
 *          broken one appears too.
 *
 * Where the records come from: `capture IP|NAME [wire]\n` on caphostd.ctl.
 * caphostd answers one line, `ok IP\n` (the capsule's address) or
 * `error REASON\n` (then closes), and from then on sends the pcap stream
 * itself: the global header, then one record per packet, until the client
 * closes the connection.  caphostd never waits for the client: records
 * that do not fit its buffer (CAPTURE_BUF_MAX per capture) are dropped and
 * counted (`capture_dropped` in `stats`).  capctl copies the records into
 * FILE.tmp, stops at --count records, after --seconds or at SIGINT/SIGTERM,
 * then fsyncs and renames FILE.tmp to FILE.
 */

#define CAPTURE_MAGIC_USEC  0xa1b2c3d4u   /* in native byte order: microsecond time stamps */
#define CAPTURE_VERSION_MAJOR 2
#define CAPTURE_VERSION_MINOR 4
#define CAPTURE_LINKTYPE_RAW 101          /* LINKTYPE_RAW: bare IPv4/IPv6 packets */
#define CAPTURE_SNAPLEN     65535
#define CAPTURE_GLOBAL_LEN  24
#define CAPTURE_REC_LEN     16
#define CAPTURE_OUTER_LEN   28            /* the outer IPv4 (20) + UDP (8) headers of a wire record */
#define CAPTURE_BUF_MAX     (4u << 20)    /* caphostd's buffer per capture */
#define CAPTURE_MAX         8             /* captures running at once on one caphostd */

struct capture_global {
	uint32_t magic;          /* CAPTURE_MAGIC_USEC */
	uint16_t version_major;  /* 2 */
	uint16_t version_minor;  /* 4 */
	int32_t  thiszone;       /* 0 */
	uint32_t sigfigs;        /* 0 */
	uint32_t snaplen;        /* CAPTURE_SNAPLEN */
	uint32_t linktype;       /* CAPTURE_LINKTYPE_RAW */
};
_Static_assert(sizeof(struct capture_global) == CAPTURE_GLOBAL_LEN, "capture_global layout");

struct capture_rec {
	uint32_t ts_sec;         /* CLOCK_REALTIME */
	uint32_t ts_usec;
	uint32_t incl_len;       /* bytes that follow (= orig_len: nothing is cut) */
	uint32_t orig_len;
};
_Static_assert(sizeof(struct capture_rec) == CAPTURE_REC_LEN, "capture_rec layout");

/* The global header of a capture of raw IPv4 packets. */
void capture_global_init(struct capture_global *g);

/* 0 if g is a header capctl accepts (our magic, version 2.4, LINKTYPE_RAW), -1 otherwise. */
int capture_global_check(const struct capture_global *g);

/* Does IPv4 packet pkt come from or go to ip (network order)?  1 or 0 (0 for a runt). */
int capture_inner_match(const uint8_t *pkt, size_t len, uint32_t ip);

/*
 * Is wire datagram dgram (wire.h, not yet checked) about capsule ip?  DATA
 * with an inner source or destination ip; REDIRECT, SYNC, FLUSH, HOLD, ACK or
 * GAPS naming ip.  1 or 0 (0 for anything too short or of another version).
 */
int capture_wire_match(const uint8_t *dgram, size_t len, uint32_t ip);

/*
 * The outer headers of a wire record (CAPTURE_OUTER_LEN bytes into out) for
 * a UDP payload of plen bytes from src:sport to dst:dport (addresses network
 * order, ports host order): IPv4 with its header checksum, TTL 64, DF, id 0,
 * then UDP with checksum 0.  0, or -1 if plen does not fit one IPv4 packet.
 */
int capture_outer_build(uint8_t out[CAPTURE_OUTER_LEN], size_t plen, uint32_t src, uint16_t sport,
                        uint32_t dst, uint16_t dport);

#endif
