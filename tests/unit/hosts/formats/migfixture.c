/* migfixture.c: a small frozen capsule, a data key and whole migration streams in memory, shared by the migration stream's unit tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "capsule-abi/cap_abi.h"
#include "tests/unit/hosts/formats/migfixture.h"

uint8_t data_key[MIG_KEY_LEN];
const struct mig_head_info info = { .source_host = 1, .target_host = 2, .migration_id = 0x1234,
                                   .epoch = 7 };

int migfix_init(void)
{
	if (sodium_init() < 0)
		return -1;
	randombytes_buf(data_key, sizeof data_key);
	return 0;
}

void migfix_make(struct fixture *f, uint64_t big)
{
	memset(f, 0, sizeof *f);
	struct cap_snap_header *h = &f->hdr;
	memcpy(h->magic, CAP_SNAP_MAGIC, CAP_SNAP_MAGIC_LEN);
	h->format_version = CAP_SNAP_FORMAT_ONE_PROC;   /* a stream carries one process */
	h->abi_version = CAP_ABI_VERSION;
	h->header_size = CAP_SNAP_HEADER_SIZE;
	h->build_id_len = 20;
	memset(h->build_id, 0xab, 20);
	strcpy(h->image_name, "web");
	strcpy(h->capsule_name, "web1");
	h->arena_size = 1u << 20;
	h->memfd_size = CAP_MEMFD_OFFSET(CAP_ARENA_BASE + h->arena_size);
	f->ext[0] = (struct cap_snap_extent){ 0x1000, 0x1000 };
	f->ext[1] = (struct cap_snap_extent){ 0x10000, big };
	f->ext[2] = (struct cap_snap_extent){ CAP_MEMFD_OFFSET(CAP_ARENA_BASE), 0x1000 };
	h->nextents = 3;
	for (int i = 0; i < 3; i++) {
		h->data_size += f->ext[i].length;
		f->bytes[i] = malloc(f->ext[i].length);
		for (uint64_t k = 0; k < f->ext[i].length; k++)
			f->bytes[i][k] = (uint8_t)(k * 7 + i * 31 + (k >> 8));
	}
	h->data_offset = cap_snap_data_offset(h->format_version, 3, h->data_size);
}

void migfix_free(struct fixture *f)
{
	for (int i = 0; i < 3; i++)
		free(f->bytes[i]);
}

uint8_t *migfix_room(struct stream *s)
{
	if (s->cap - s->len < MIG_REC_MAX) {
		s->cap = s->cap * 2 + MIG_REC_MAX;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	assert_true(s->nrec < 64);
	s->rec_at[s->nrec++] = s->len;
	return s->buf + s->len;
}

/* Encode f honestly; stop_before = record type to leave out with the rest (0: all). */
void migfix_encode(struct stream *s, const struct fixture *f, int stop_before)
{
	struct mig_tx tx;
	memset(s, 0, sizeof *s);
	s->cap = MIG_HEAD_LEN;
	s->buf = malloc(s->cap);
	assert_int_equal(migstream_tx_init(&tx, data_key, &info, s->buf), MIG_OK);
	s->len = MIG_HEAD_LEN;
	size_t n;
	if (stop_before == MIG_REC_PREAMBLE) {
		migstream_tx_free(&tx);
		return;
	}
	assert_int_equal(migstream_tx_preamble(&tx, &f->hdr, f->ext, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
	while (mig_tx_extents_left(&tx)) {
		assert_int_equal(migstream_tx_extents(&tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
	uint64_t off, left;
	while ((left = migstream_tx_next_chunk(&tx, &off)) > 0) {
		int i = off >= f->ext[2].offset ? 2 : off >= f->ext[1].offset ? 1 : 0;
		size_t len = left > MIG_CHUNK_MAX ? MIG_CHUNK_MAX : left;
		assert_int_equal(migstream_tx_data(&tx, off, f->bytes[i] + (off - f->ext[i].offset), len,
		                             migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
	if (stop_before != MIG_REC_END) {
		assert_int_equal(migstream_tx_end(&tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
	migstream_tx_free(&tx);
}

/*
 * Decode buf in pieces of `step` bytes (0: all at once); DATA goes into mem
 * (indexed by memfd offset - base, if mem).  Returns the first error, or
 * mig_rx_finish's verdict.
 */
int migfix_decode(const uint8_t *buf, size_t len, size_t step, uint32_t my_host,
                  uint8_t *mem, uint64_t base, uint64_t memlen, int *records)
{
	struct mig_rx rx;
	assert_int_equal(migstream_rx_init(&rx, data_key, my_host), MIG_OK);
	size_t fed = step ? 0 : len, pos = 0;
	int rc = MIG_OK, n = 0;
	for (;;) {
		size_t used;
		struct mig_rec rec;
		rc = migstream_rx_next(&rx, buf + pos, fed - pos, &used, &rec);
		if (rc == MIG_OK) {
			pos += used;
			n++;
			if (rec.type == MIG_REC_DATA && mem) {
				assert_true(rec.offset >= base && rec.offset + rec.len <= base + memlen);
				memcpy(mem + (rec.offset - base), rec.data, rec.len);
			}
			if (rec.type == MIG_REC_PAGES && mem && rec.offset >= base &&
			    rec.offset + rec.len <= base + memlen)
				memcpy(mem + (rec.offset - base), rec.data, rec.len);
			continue;
		}
		if (rc != MIG_NEED_MORE)
			break;
		if (fed == len) {
			rc = migstream_rx_finish(&rx);
			break;
		}
		fed = step && fed + step < len ? fed + step : len;
	}
	if (rc == MIG_OK && pos != len)
		rc = -1;
	migstream_rx_free(&rx);
	if (records)
		*records = n;
	return rc;
}

int migfix_decode_all(const struct stream *s)
{
	return migfix_decode(s->buf, s->len, 0, 2, NULL, 0, 0, NULL);
}

/* The head, PREAMBLE, EXTENTS and every DATA of f into s, tx left open for what follows. */
void migfix_encode_to_end(struct stream *s, struct mig_tx *tx, const struct fixture *f)
{
	size_t n;
	memset(s, 0, sizeof *s);
	s->cap = MIG_HEAD_LEN;
	s->buf = malloc(s->cap);
	assert_int_equal(migstream_tx_init(tx, data_key, &info, s->buf), MIG_OK);
	s->len = MIG_HEAD_LEN;
	assert_int_equal(migstream_tx_preamble(tx, &f->hdr, f->ext, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
	assert_int_equal(migstream_tx_extents(tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(migstream_tx_data(tx, f->ext[i].offset, f->bytes[i], f->ext[i].length,
		                                   migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
}

void migfix_put(struct stream *s, struct mig_tx *tx, int type, const void *body, size_t blen,
                const void *body2, size_t blen2)
{
	size_t n;
	assert_int_equal(migstream_tx_raw(tx, (uint8_t)type, body, blen, body2, blen2, migfix_room(s),
	                                  MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
}
