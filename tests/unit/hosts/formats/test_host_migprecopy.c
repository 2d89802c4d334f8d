/* test_host_migprecopy.c: the migration stream's pre-copy: rounds of stale pages, the final part, the order and counts the decoder holds them to, and the capsule a pre-copy names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "capsule-abi/cap_abi.h"
#include "hosts/formats/migstream.h"
#include "tests/unit/hosts/formats/migfixture.h"

/*
 * A pre-copy stream (version 4, named by its PRECOPY since 5): f's extents with stale bytes early, one
 * page that is a hole by the end, then the final part with only what
 * changed.  mode: 0 honest; 1 the last extent never sent; 2 final DATA
 * out of order; 3 PAGES after the PREAMBLE; 4 a ROUND with the wrong count.
 */
static int encode_precopy(struct stream *s, const struct fixture *f, int mode)
{
	struct mig_tx tx;
	size_t n;
	memset(s, 0, sizeof *s);
	s->cap = MIG_HEAD_LEN;
	s->buf = malloc(s->cap);
	assert_int_equal(migstream_tx_init(&tx, data_key, &info, s->buf), MIG_OK);
	s->len = MIG_HEAD_LEN;
	static uint8_t stale[MIG_CHUNK_MAX];
	memset(stale, 0xee, sizeof stale);
	/* PAGES before PRECOPY: refused */
	assert_int_equal(migstream_tx_pages(&tx, 0x1000, stale, 0x1000, migfix_room(s), MIG_REC_MAX, &n),
	                 MIG_E_OUT_OF_ORDER);
	s->nrec--;
	assert_int_equal(migstream_tx_precopy(&tx, &f->hdr, migfix_room(s), MIG_REC_MAX, &n),
	                 MIG_OK);
	s->len += n;
	/* round 1: the first two extents, stale; and a page that will be a hole */
	for (int i = 0; i < 2; i++)
		for (uint64_t o = 0; o < f->ext[i].length; o += MIG_CHUNK_MAX) {
			uint64_t len = f->ext[i].length - o < MIG_CHUNK_MAX ? f->ext[i].length - o : MIG_CHUNK_MAX;
			assert_int_equal(migstream_tx_pages(&tx, f->ext[i].offset + o, stale, len, migfix_room(s),
			                                    MIG_REC_MAX, &n), MIG_OK);
			s->len += n;
		}
	assert_int_equal(migstream_tx_pages(&tx, 0x8000, stale, 0x1000, migfix_room(s), MIG_REC_MAX, &n),
	                 MIG_OK);
	s->len += n;
	if (mode == 4) {
		uint8_t body[16] = { 0, 0, 0, 1 };   /* round 1, 0 bytes: wrong */
		assert_int_equal(migstream_tx_raw(&tx, MIG_REC_ROUND, body, sizeof body, NULL, 0,
		                                  migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	} else {
		assert_int_equal(migstream_tx_round(&tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	}
	s->len += n;
	/* round 2: the first extent again, now right */
	assert_int_equal(migstream_tx_pages(&tx, f->ext[0].offset, f->bytes[0], f->ext[0].length,
	                                    migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
	assert_int_equal(migstream_tx_round(&tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
	s->len += n;
	assert_int_equal(migstream_tx_preamble(&tx, &f->hdr, f->ext, migfix_room(s), MIG_REC_MAX, &n),
	                 MIG_OK);
	s->len += n;
	if (mode == 3) {
		assert_int_equal(migstream_tx_pages(&tx, 0x1000, stale, 0x1000, migfix_room(s), MIG_REC_MAX,
		                                    &n), MIG_E_OUT_OF_ORDER);
		uint8_t body[8 + 0x1000] = { 0 };
		body[6] = 0x10;   /* offset 0x1000 */
		assert_int_equal(migstream_tx_raw(&tx, MIG_REC_PAGES, body, sizeof body, NULL, 0,
		                                  migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
	while (mig_tx_extents_left(&tx)) {
		assert_int_equal(migstream_tx_extents(&tx, migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
		s->len += n;
	}
	/* final: extents 1 and 2 (1 in chunks, descending when asked), never extent 0 again */
	for (int i = 1; i < (mode == 1 ? 2 : 3); i++) {
		uint64_t o = mode == 2 && i == 1 && f->ext[1].length > MIG_CHUNK_MAX ? MIG_CHUNK_MAX : 0;
		for (; o < f->ext[i].length; o += MIG_CHUNK_MAX) {
			uint64_t len = f->ext[i].length - o < MIG_CHUNK_MAX ? f->ext[i].length - o : MIG_CHUNK_MAX;
			assert_int_equal(migstream_tx_data(&tx, f->ext[i].offset + o, f->bytes[i] + o, len,
			                                   migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
			s->len += n;
		}
		if (mode == 2 && i == 1) {   /* the skipped first chunk, after the rest: refused */
			assert_int_equal(migstream_tx_data(&tx, f->ext[1].offset, f->bytes[1], MIG_CHUNK_MAX,
			                                   migfix_room(s), MIG_REC_MAX, &n), MIG_E_BAD_RECORD);
			uint8_t body[8 + 0x1000] = { 0 };
			body[5] = 0x01;   /* offset 0x10000 */
			assert_int_equal(migstream_tx_raw(&tx, MIG_REC_DATA, body, sizeof body, NULL, 0,
			                                  migfix_room(s), MIG_REC_MAX, &n), MIG_OK);
			s->len += n;
		}
	}
	int rc = migstream_tx_end(&tx, migfix_room(s), MIG_REC_MAX, &n);
	if (rc == MIG_OK)
		s->len += n;
	migstream_tx_free(&tx);
	return rc;
}

static void precopy_round_trip_and_rules(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 3 * MIG_CHUNK_MAX);
	struct stream s;
	assert_int_equal(encode_precopy(&s, &f, 0), MIG_OK);
	uint64_t base = 0, span = f.ext[2].offset + f.ext[2].length;
	uint8_t *mem = calloc(1, span);
	size_t steps[] = { 0, 7, 4096 };
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		memset(mem, 0, span);
		assert_int_equal(migfix_decode(s.buf, s.len, steps[k], 2, mem, base, span, NULL), MIG_OK);
		for (int i = 0; i < 3; i++)   /* the later record wins: no stale byte is left */
			assert_memory_equal(mem + f.ext[i].offset, f.bytes[i], f.ext[i].length);
	}
	/* every cut and every flipped byte still fails */
	for (size_t cut = 0; cut < s.len; cut += 997)
		assert_int_not_equal(migfix_decode(s.buf, cut, 0, 2, NULL, 0, 0, NULL), MIG_OK);
	for (size_t at = 0; at < s.len; at += 1009) {
		s.buf[at] ^= 0x40;
		assert_int_not_equal(migfix_decode_all(&s), MIG_OK);
		s.buf[at] ^= 0x40;
	}
	free(s.buf);
	/* an extent never sent (the encoder cannot tell, the decoder refuses END), DATA going
	 * back, PAGES after the PREAMBLE, a ROUND that miscounts: encode_precopy's modes 1-4 */
	static const int refused[] = { 0, MIG_E_BAD_RECORD, MIG_E_BAD_RECORD, MIG_E_OUT_OF_ORDER,
	                               MIG_E_BAD_RECORD };
	for (int mode = 1; mode <= 4; mode++) {
		assert_int_equal(encode_precopy(&s, &f, mode), MIG_OK);
		assert_int_equal(migfix_decode_all(&s), refused[mode]);
		free(s.buf);
	}
	free(mem);
	migfix_free(&f);
}

/* Version 5: the PREAMBLE after a PRECOPY must name the capsule the PRECOPY named (the target
 * checked that one's image while it still ran); the encoder refuses, the decoder too. */
static void precopy_identity_must_hold(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, MIG_CHUNK_MAX);
	struct mig_tx tx;
	struct stream s;
	size_t n;
	memset(&s, 0, sizeof s);
	s.cap = MIG_HEAD_LEN;
	s.buf = malloc(s.cap);
	assert_int_equal(migstream_tx_init(&tx, data_key, &info, s.buf), MIG_OK);
	s.len = MIG_HEAD_LEN;
	struct cap_snap_header other = f.hdr;
	other.mtu = f.hdr.mtu - 1;
	assert_int_equal(migstream_tx_precopy(&tx, &other, migfix_room(&s), MIG_REC_MAX, &n), MIG_OK);
	s.len += n;
	assert_int_equal(migstream_tx_preamble(&tx, &f.hdr, f.ext, migfix_room(&s), MIG_REC_MAX, &n),
	                 MIG_E_BAD_RECORD);
	s.nrec--;
	uint8_t body[MIG_PREAMBLE_LEN] = { 0 };   /* what an encoder without the check would send */
	memcpy(body, f.hdr.capsule_name, strlen(f.hdr.capsule_name));
	memcpy(body + MIG_NAME_LEN, &f.hdr, sizeof f.hdr);
	memset(body + MIG_NAME_LEN + offsetof(struct cap_snap_header, checksum), 0,
	       sizeof f.hdr.checksum + sizeof f.hdr.key_id + sizeof f.hdr.mac);
	assert_int_equal(migstream_tx_raw(&tx, MIG_REC_PREAMBLE, body, sizeof body, NULL, 0,
	                                  migfix_room(&s), MIG_REC_MAX, &n), MIG_OK);
	s.len += n;
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_RECORD);
	/* an image path without its NUL: refused before anything is sent */
	memset(other.image_path, 'x', sizeof other.image_path);
	struct mig_tx tx2;
	uint8_t head[MIG_HEAD_LEN];
	assert_int_equal(migstream_tx_init(&tx2, data_key, &info, head), MIG_OK);
	assert_int_equal(migstream_tx_precopy(&tx2, &other, migfix_room(&s), MIG_REC_MAX, &n),
	                 MIG_E_BAD_RECORD);
	migstream_tx_free(&tx2);
	migstream_tx_free(&tx);
	free(s.buf);
	migfix_free(&f);
}

int main(void)
{
	if (migfix_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(precopy_round_trip_and_rules),
		cmocka_unit_test(precopy_identity_must_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
