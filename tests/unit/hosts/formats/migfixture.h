/* migfixture.h: a small frozen capsule, a data key and whole migration streams in memory, shared by the migration stream's unit tests. */
#ifndef TEST_MIGFIXTURE_H
#define TEST_MIGFIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/migstream.h"

extern uint8_t data_key[MIG_KEY_LEN];     /* random: migfix_init */
extern const struct mig_head_info info;   /* host 1 to host 2, migration 0x1234, epoch 7 */

/* A small frozen capsule: extents and their bytes. */
struct fixture {
	struct cap_snap_header hdr;
	struct cap_snap_extent ext[3];
	uint8_t *bytes[3];
};

/* A whole stream in memory, with where each record starts (rec_at[0] = after the head). */
struct stream {
	uint8_t *buf;
	size_t len, cap;
	size_t rec_at[64];
	int nrec;
};

/* libsodium ready and data_key random: first thing in main; -1 if libsodium cannot start. */
int migfix_init(void);
void migfix_make(struct fixture *f, uint64_t big);
void migfix_free(struct fixture *f);
/* Room for one more record at the end of s (noted in rec_at). */
uint8_t *migfix_room(struct stream *s);
/* Encode f honestly; stop_before = record type to leave out with the rest (0: all). */
void migfix_encode(struct stream *s, const struct fixture *f, int stop_before);
/* Decode buf in pieces of `step` bytes (0: all at once); DATA into mem (memfd offset - base).
 * The first error, or mig_rx_finish's verdict. */
int migfix_decode(const uint8_t *buf, size_t len, size_t step, uint32_t my_host,
                  uint8_t *mem, uint64_t base, uint64_t memlen, int *records);
int migfix_decode_all(const struct stream *s);
/* The head, PREAMBLE, EXTENTS and every DATA of f into s, tx left open for what follows. */
void migfix_encode_to_end(struct stream *s, struct mig_tx *tx, const struct fixture *f);
/* One record of any type, as the encoder would frame it (migstream_tx_raw). */
void migfix_put(struct stream *s, struct mig_tx *tx, int type, const void *body, size_t blen,
                const void *body2, size_t blen2);

#endif
