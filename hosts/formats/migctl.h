/* migctl.h: the control records of a live migration (ROUND_DONE, CONFIRM, REFUSE, COMMIT, ABORT, STARTED), sealed per direction. */
#ifndef HOST_MIGCTL_H
#define HOST_MIGCTL_H

#include "hosts/formats/migstream.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Beside the transfer stream the same TCP connection carries a few control
 * records: target to source from the first pre-copy ROUND on (ROUND_DONE),
 * both ways after the stream's END.  Each direction is its own
 * secretstream with its own key, derived from the migration's stream key:
 *
 *   key(direction) = crypto_kdf_derive_from_key(32, direction, "capmig02", stream key)
 *
 * so only the two hosts of this migration can speak on it, and a record of
 * one direction can never be replayed in the other.  A direction starts
 * with its 24-byte secretstream header (the first record sent writes it),
 * then records:  length u32 (big-endian, ciphertext bytes) | ciphertext of
 *
 *   type u8 | text (REFUSE: 1..MIG_CTL_TEXT_MAX bytes of reason; STARTED: 0..MIG_CTL_TEXT_MAX
 *                   bytes "epoch=N pull_ms=M"; others: none; never a NUL)
 *
 *   target -> source:  ROUND_DONE  one per pre-copy ROUND record: everything up to it is in
 *                                  the target's memory.  The source freezes only once the last
 *                                  round is acknowledged, so the frozen part never queues
 *                                  behind megabytes of rounds the target has not written yet
 *                      CONFIRM   restored, not running; waiting for COMMIT
 *                      REFUSE    cannot take it (reason); it discarded everything, never pulls
 *                      STARTED   its pull won and it runs on the target now
 *   source -> target:  COMMIT    take it: pull it (the directory decides) and start it
 *                      ABORT     the source keeps it (its FENCE won): discard
 *
 * None of them decides anything (hosts/caprun/migfsm.h): losing any is safe; they
 * only save the other side a timeout and a directory query.  The one doc
 * section: docs/MIGRATION.md section 4b.
 */
#define MIG_CTL_KDF_CONTEXT "capmig02"
#define MIG_CTL_TEXT_MAX    200
#define MIG_CTL_HEADER_LEN  crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define MIG_CTL_ABYTES      crypto_secretstream_xchacha20poly1305_ABYTES
#define MIG_CTL_REC_MAX     (4u + 1u + MIG_CTL_TEXT_MAX + MIG_CTL_ABYTES)

/* ---- wire layouts (documentation + size checks; the codec uses offsets) ---- */
struct mig_ctl_wire_rec   { uint32_t length; /* big-endian; then length bytes of ciphertext */ };
struct mig_ctl_wire_plain { uint8_t type; char text[MIG_CTL_TEXT_MAX]; /* text: 0..200 bytes */ };
_Static_assert(sizeof(struct mig_ctl_wire_rec) == 4, "record length field");
_Static_assert(offsetof(struct mig_ctl_wire_plain, text) == 1 &&
               sizeof(struct mig_ctl_wire_plain) == 1 + MIG_CTL_TEXT_MAX, "record plaintext");
_Static_assert(MIG_CTL_HEADER_LEN == 24 && MIG_CTL_ABYTES == 17, "secretstream sizes in docs/MIGRATION.md");

enum mig_ctl_type {
	MIG_CTL_CONFIRM = 1,
	MIG_CTL_REFUSE  = 2,
	MIG_CTL_COMMIT  = 3,
	MIG_CTL_ABORT   = 4,
	MIG_CTL_STARTED = 5,
	MIG_CTL_ROUND_DONE = 6,
};

enum mig_ctl_dir { MIG_CTL_TO_SOURCE = 1, MIG_CTL_TO_TARGET = 2 };

/* One direction's state (sending or receiving). */
struct mig_ctl {
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t key[MIG_KEY_LEN];
	int dir;            /* enum mig_ctl_dir: which direction this is */
	int started;        /* header sent / received */
	/* mig_ctl_recv: bytes read from the socket, not yet a whole record */
	uint8_t in[MIG_CTL_HEADER_LEN + MIG_CTL_REC_MAX];
	size_t in_len;
};

const char *migctl_name(int type);   /* "confirm", ...; "unknown" */

/* Set up one direction from the migration's stream key. */
void migctl_init(struct mig_ctl *c, const uint8_t stream_key[MIG_KEY_LEN], int dir);
void migctl_wipe(struct mig_ctl *c);

/*
 * Pure codec.  Seal: one record (plus the header first, if not yet sent)
 * into out; MIG_OK with *out_len, MIG_E_BAD_RECORD (type not allowed in
 * this direction, REFUSE text empty/too long/with NUL), MIG_E_NOSPACE.
 */
int migctl_seal(struct mig_ctl *c, int type, const char *text, uint8_t *out, size_t cap,
                 size_t *out_len);
/*
 * Open: from buf (len bytes), consume the header (if not yet) and one
 * record.  MIG_OK with *type, text (NUL-terminated, tlen >= MIG_CTL_TEXT_MAX+1)
 * and *used; MIG_NEED_MORE; MIG_E_BAD_LENGTH; MIG_E_BAD_TAG (forged,
 * replayed, wrong direction); MIG_E_BAD_RECORD (unknown type, type of the
 * other direction, bad text).  Errors stick: c is then unusable.
 */
int migctl_open(struct mig_ctl *c, const uint8_t *buf, size_t len, size_t *used, int *type,
                 char *text, size_t tlen);

/* ---- fd helpers (blocking, on the migration's TCP socket) ---- */

/* MIG_OK or MIG_E_IO (errno kept). */
int migctl_send(int sock, struct mig_ctl *c, int type, const char *text);
/*
 * Wait up to timeout_ms (-1: forever; 0: only what has arrived) for one record.  MIG_OK; MIG_E_IO
 * with errno ETIMEDOUT (nothing in time), EPIPE (the peer closed) or the
 * socket's error; or a decoding error as for mig_ctl_open.
 */
int migctl_recv(int sock, struct mig_ctl *c, int timeout_ms, int *type, char *text, size_t tlen);

#endif
