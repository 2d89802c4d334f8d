/* holdfile.h: the gateway's state file for one held capsule ($RUN_DIR/gateway-holds/IP): a file-backed shared mapping, so a killed caphostd loses nothing it acknowledged. */
#ifndef HOST_HOLDFILE_H
#define HOST_HOLDFILE_H

#include "hosts/caphostd/tcphold.h"

#include <stddef.h>
#include <stdint.h>

/*
 * While a capsule is frozen the gateway acknowledges its ordinary peers'
 * bytes in its place; those bytes exist nowhere else (the peers consider
 * them delivered).  So every byte of the holder's state lives in a
 * MAP_SHARED mapping of one sparse file per held capsule: whatever the
 * holder wrote before it sent an ACK is in the page cache, and survives a
 * kill -9 of caphostd.  A restarted gateway maps the files again and goes
 * on holding (docs/NETWORK.md section 6.8).
 *
 * Layout (native byte order and struct layout: a file of this machine,
 * read back by the same build; the header says which):
 *
 *   0                 struct holdfile: header, stamp, phase, the UDP queue's
 *                     bookkeeping, HOLDFILE_CONNS x struct holdfile_conn
 *   bufs_off          HOLDFILE_CONNS buffers of HOLDFILE_BUF bytes, conn i's at
 *                     bufs_off + i * HOLDFILE_BUF (conns[i].buf_off says so too)
 *   udp_off           the UDP queue, HOLDFILE_UDP_BUF bytes
 *   file_size         end
 *
 * No pointer in the file means anything: offsets do.  The two pointer
 * fields inside the embedded structs (tcphold_conn.buf, tcphold_udp.buf)
 * are scratch, rewritten from buf_off / udp_off every time the file is
 * mapped.  Untouched buffer pages stay holes: a held capsule costs what
 * its peers actually sent.
 *
 * After a kill: the holder (hosts/caphostd/hostd_hold.c) stores in an order that
 * leaves only these in-between states, which holdfile_open completes:
 *   - a slot not in_use is garbage (a connection being set up or freed):
 *     cleared; nothing in it was acknowledged (in_use is set last, cleared
 *     first);
 *   - rcv_nxt is recomputed as s.rcv_nxt + used + fin_held (it and used
 *     are two stores);
 *   - a RELEASED connection not marked unconfirmed (stopped between the
 *     two) is marked, so its bytes go out again (TCP drops duplicates);
 *   - no stamp (epoch = id = 0): a hold created but never started, whose
 *     HOLD was not acknowledged: the caller removes it;
 *   - the stamp is stored last when a HOLD or FLUSH is applied, and the
 *     ACK only then: a message cut short is applied again when it comes
 *     again (applying one twice changes nothing).
 */

#define HOLDFILE_DIR       "gateway-holds"   /* under the run directory */
#define HOLDFILE_MAGIC     "CAPHOLD1"
#define HOLDFILE_VERSION   1
#define HOLDFILE_CONNS     64                /* held TCP connections per capsule */
#define HOLDFILE_BUF       (256u << 10)      /* per connection, at most (normally one window) */
#define HOLDFILE_UDP_BUF   (256u << 10)      /* UDP and other non-TCP, per capsule ... */
#define HOLDFILE_UDP_PKTS  256               /* ... and at most this many packets */

enum holdfile_phase {
	HOLDFILE_HOLDING   = 1,   /* the capsule is away: we answer its peers */
	HOLDFILE_RELEASING = 2,   /* released; held bytes resent until the capsule acknowledged them */
};

struct holdfile_conn {
	struct tcphold_conn c;    /* c.buf: scratch, = the mapping + buf_off */
	uint64_t buf_off;
	uint8_t in_use;
	uint8_t unconfirmed;      /* released; the capsule has not acknowledged every held byte yet */
	uint8_t reserved[6];
};

struct holdfile {
	char magic[8];            /* HOLDFILE_MAGIC, no NUL */
	uint32_t version;         /* HOLDFILE_VERSION */
	uint32_t header_size;     /* sizeof(struct holdfile) */
	uint32_t conn_size;       /* sizeof(struct tcphold_conn): this build's layout */
	uint32_t max_conns;       /* HOLDFILE_CONNS */
	uint64_t bufs_off, buf_size;
	uint64_t udp_off, udp_size;
	uint64_t file_size;

	uint32_t ip;              /* the capsule, network order (also the file's name) */
	uint32_t phase;           /* enum holdfile_phase */
	/* The stamp of the last HOLD or FLUSH applied (hostd_msg.h): later, older copies change nothing. */
	uint32_t epoch, host;
	uint64_t id;
	/* RELEASING: when the release happened and when the held bytes go out again. */
	uint64_t release_ms, resend_ms;   /* CLOCK_MONOTONIC (survives a daemon restart, not a reboot) */
	uint32_t resend_wait_ms;
	uint32_t reserved;
	struct tcphold_udp udp;   /* udp.buf: scratch, = the mapping + udp_off */
	struct holdfile_conn conns[HOLDFILE_CONNS];
};

/*
 * The fields that say whose layout a file has stay where they are in every
 * build, so any build can tell a file it cannot read (the rest is native).
 */
_Static_assert(offsetof(struct holdfile, version) == 8 && offsetof(struct holdfile, header_size) == 12 &&
               offsetof(struct holdfile, conn_size) == 16 && offsetof(struct holdfile, max_conns) == 20 &&
               offsetof(struct holdfile, bufs_off) == 24, "holdfile identification fields");
_Static_assert(offsetof(struct holdfile_conn, buf_off) == sizeof(struct tcphold_conn) &&
               sizeof(struct holdfile_conn) == sizeof(struct tcphold_conn) + 16, "holdfile_conn layout");

/* Connection i's buffer in a mapped file. */
static inline uint8_t *holdfile_buf(struct holdfile *f, uint32_t i)
{
	return (uint8_t *)f + f->conns[i].buf_off;
}

/* "RUN_DIR/gateway-holds/198.18.0.9" into out (cap bytes); 0, or -1 if it does not fit. */
int holdfile_path(const char *run_dir, uint32_t ip, char *out, size_t cap);
/*
 * Create (replacing any old one) and map a fresh state for ip: the header
 * filled in, HOLDING, no connections, an empty UDP queue.  0, or -1 with
 * errno.
 */
int holdfile_create(const char *path, uint32_t ip, struct holdfile **out);
/*
 * Map an existing file and check everything in it before anything is
 * believed: magic, version, this build's sizes, the file's length, ip
 * (want_ip), the phase, each connection (buffer offset, cap, used,
 * state, addresses) and the UDP queue's bookkeeping.  Then completes what
 * a kill left half done (above) and re-points the scratch pointers.  0, or
 * -1 with why in err.
 */
int holdfile_open(const char *path, uint32_t want_ip, struct holdfile **out, char *err,
                  size_t errlen);
void holdfile_unmap(struct holdfile *f);
/* Punch out connection i's buffer pages (it was confirmed): the file keeps no dead bytes. */
void holdfile_forget_buf(struct holdfile *f, uint32_t i);

#endif
