/* test_host_migstream.c: the migration stream: round trip, truncation, tampering, order, keys, the record sequence, sockets, several processes (migfixture.c makes the streams; pre-copy: test_host_migprecopy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capsule-abi/cap_abi.h"
#include "hosts/formats/migstream.h"
#include "hosts/formats/dirproto.h"
#include "tests/unit/hosts/formats/migfixture.h"

static void round_trip(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 5 * MIG_CHUNK_MAX + 0x3000);   /* the big extent spans several chunks */
	struct stream s;
	migfix_encode(&s, &f, 0);
	uint64_t base = f.ext[0].offset, span = f.ext[2].offset + f.ext[2].length - base;
	uint8_t *mem = calloc(1, span);
	size_t steps[] = { 0, 1, 3, 4096, 70001 };
	for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		int records = 0;
		memset(mem, 0, span);
		assert_int_equal(migfix_decode(s.buf, s.len, steps[k], 2, mem, base, span, &records), MIG_OK);
		assert_int_equal(records, s.nrec + 1);   /* + the head */
		for (int i = 0; i < 3; i++)
			assert_memory_equal(mem + (f.ext[i].offset - base), f.bytes[i], f.ext[i].length);
	}
	/* The head says who and which migration; the decoder exposes the header and table. */
	struct mig_rx rx;
	migstream_rx_init(&rx, data_key, 0);
	size_t used;
	struct mig_rec rec;
	assert_int_equal(migstream_rx_next(&rx, s.buf, s.len, &used, &rec), MIG_OK);
	assert_int_equal(rec.type, MIG_REC_HEAD);
	assert_int_equal(rx.info.source_host, 1);
	assert_int_equal(rx.info.target_host, 2);
	assert_int_equal(rx.info.migration_id, 0x1234);
	size_t pos = used;
	assert_int_equal(migstream_rx_next(&rx, s.buf + pos, s.len - pos, &used, &rec), MIG_OK);
	assert_int_equal(rec.type, MIG_REC_PREAMBLE);
	assert_string_equal(rx.name, "web1");
	assert_int_equal(rx.hdr.data_size, f.hdr.data_size);
	migstream_rx_free(&rx);
	free(mem);
	free(s.buf);
	migfix_free(&f);
}

static void every_truncation_is_detected(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x1000);
	struct stream s;
	migfix_encode(&s, &f, 0);
	for (size_t len = 0; len < s.len; len++)
		assert_int_equal(migfix_decode(s.buf, len, 0, 2, NULL, 0, 0, NULL), MIG_E_TRUNCATED);
	assert_int_equal(migfix_decode_all(&s), MIG_OK);
	free(s.buf);
	migfix_free(&f);
}

static void every_bit_flip_is_detected(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x1000);
	struct stream s;
	migfix_encode(&s, &f, 0);
	for (size_t i = 0; i < s.len; i++) {
		int in_length_field = 0;
		for (int r = 0; r < s.nrec; r++)
			in_length_field |= i >= s.rec_at[r] && i < s.rec_at[r] + 4;
		for (int bit = 0; bit < 8; bit += (i < MIG_HEAD_LEN || in_length_field) ? 1 : 3) {
			s.buf[i] ^= (uint8_t)(1u << bit);
			int rc = migfix_decode_all(&s);
			s.buf[i] ^= (uint8_t)(1u << bit);
			if (i >= MIG_HEAD_AD_LEN + MIG_NONCE_LEN && i < MIG_HEAD_LEN) {
				if (rc != MIG_E_BAD_HEAD)   /* the head's reserved bytes */
					fail_msg("flip at %zu bit %d: %s", i, bit, migstream_strerror(rc));
			} else if (i >= MIG_HEAD_AD_LEN && !in_length_field) {
				/* Ciphertext, tag, or the nonce base: authentication must catch it. */
				if (rc != MIG_E_BAD_TAG)
					fail_msg("flip at %zu bit %d: %s", i, bit, migstream_strerror(rc));
			} else if (rc == MIG_OK) {
				fail_msg("flip at %zu bit %d decoded fine", i, bit);
			}
		}
	}
	free(s.buf);
	migfix_free(&f);
}

/* Rebuild the stream with records in the given order (indexes into s's records). */
static size_t rebuild(const struct stream *s, const int *order, int n, uint8_t *out)
{
	size_t len = MIG_HEAD_LEN;
	memcpy(out, s->buf, MIG_HEAD_LEN);
	for (int k = 0; k < n; k++) {
		int r = order[k];
		size_t end = r + 1 < s->nrec ? s->rec_at[r + 1] : s->len;
		memcpy(out + len, s->buf + s->rec_at[r], end - s->rec_at[r]);
		len += end - s->rec_at[r];
	}
	return len;
}

static void reordered_repeated_dropped_records_fail(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x1000);
	struct stream s;
	migfix_encode(&s, &f, 0);
	/* Records: 0 PREAMBLE, 1 EXTENTS, 2..4 DATA, 5 END. */
	assert_int_equal(s.nrec, 6);
	uint8_t *out = malloc(2 * s.len);
	const int swapped[] = { 0, 1, 3, 2, 4, 5 }, repeated[] = { 0, 1, 2, 2, 3, 4, 5 },
	          dropped[] = { 0, 1, 2, 4, 5 }, no_end[] = { 0, 1, 2, 3, 4 },
	          no_preamble[] = { 1, 2, 3, 4, 5 }, after_end[] = { 0, 1, 2, 3, 4, 5, 5 };
	assert_int_equal(migfix_decode(out, rebuild(&s, swapped, 6, out), 0, 2, NULL, 0, 0, NULL), MIG_E_BAD_TAG);
	assert_int_equal(migfix_decode(out, rebuild(&s, repeated, 7, out), 0, 2, NULL, 0, 0, NULL), MIG_E_BAD_TAG);
	assert_int_equal(migfix_decode(out, rebuild(&s, dropped, 5, out), 0, 2, NULL, 0, 0, NULL), MIG_E_BAD_TAG);
	assert_int_equal(migfix_decode(out, rebuild(&s, no_end, 5, out), 0, 2, NULL, 0, 0, NULL), MIG_E_TRUNCATED);
	assert_int_equal(migfix_decode(out, rebuild(&s, no_preamble, 5, out), 0, 2, NULL, 0, 0, NULL), MIG_E_BAD_TAG);
	assert_int_equal(migfix_decode(out, rebuild(&s, after_end, 7, out), 0, 2, NULL, 0, 0, NULL), MIG_E_AFTER_END);
	free(out);
	free(s.buf);
	migfix_free(&f);
}

static void wrong_key_or_host_fails(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x1000);
	struct stream s;
	migfix_encode(&s, &f, 0);
	assert_int_equal(migfix_decode(s.buf, s.len, 0, 3, NULL, 0, 0, NULL), MIG_E_WRONG_HOST);
	assert_int_equal(migfix_decode(s.buf, s.len, 0, 0, NULL, 0, 0, NULL), MIG_OK);
	data_key[5] ^= 1;
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_TAG);
	data_key[5] ^= 1;
	/* Another migration id derives another key, even with the same cluster key. */
	uint8_t k1[MIG_KEY_LEN], k2[MIG_KEY_LEN];
	migstream_derive_key(data_key, 1, k1);
	migstream_derive_key(data_key, 2, k2);
	assert_memory_not_equal(k1, k2, MIG_KEY_LEN);
	/* A clear head that lies: bad magic, version, flags. */
	s.buf[0] ^= 1;
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_MAGIC);
	s.buf[0] ^= 1;
	s.buf[9] = MIG_VERSION + 1;
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_VERSION);
	s.buf[9] = MIG_VERSION - 1;   /* an older host's stream: refused too */
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_VERSION);
	s.buf[9] = MIG_VERSION;
	s.buf[11] = 1;
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_HEAD);
	s.buf[11] = 0;
	memset(s.buf + 20, 0, 4);   /* no epoch */
	assert_int_equal(migfix_decode_all(&s), MIG_E_BAD_HEAD);
	s.buf[23] = 7;
	assert_int_equal(migfix_decode_all(&s), MIG_OK);
	free(s.buf);
	migfix_free(&f);
}

/* Authentic records in the wrong sequence, or of no known type. */
static void record_sequence_is_enforced(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x1000);
	struct stream s;
	uint8_t body[16] = { 0 };
	size_t n;

	/*
	 * 0: all data sent, then an END with the wrong total; 1: a DATA record where END
	 * belongs; 2: END before the data; 3: DATA at the wrong offset; 4: a record of
	 * no known type.
	 */
	for (int variant = 0; variant < 5; variant++) {
		struct mig_tx tx;
		uint8_t head[MIG_HEAD_LEN];
		uint8_t *rec = malloc(MIG_REC_MAX), *buf = malloc(64 * 1024);
		size_t len = MIG_HEAD_LEN;
		migstream_tx_init(&tx, data_key, &info, head);
		memcpy(buf, head, sizeof head);
		migstream_tx_preamble(&tx, &f.hdr, f.ext, rec, MIG_REC_MAX, &n);
		memcpy(buf + len, rec, n), len += n;
		migstream_tx_extents(&tx, rec, MIG_REC_MAX, &n);
		memcpy(buf + len, rec, n), len += n;
		int expect;
		if (variant == 3) {   /* DATA at the wrong offset, authentic */
			uint8_t d[8 + 16] = { 0 };
			d[6] = 0x20;   /* offset 0x2000, expected 0x1000 */
			migstream_tx_raw(&tx, MIG_REC_DATA, d, sizeof d, NULL, 0, rec, MIG_REC_MAX, &n);
			memcpy(buf + len, rec, n), len += n;
			expect = MIG_E_OUT_OF_ORDER;
		} else if (variant == 4) {
			migstream_tx_raw(&tx, MIG_REC_PROC_PAGES + 1, body, sizeof body, NULL, 0, rec, MIG_REC_MAX, &n);
			memcpy(buf + len, rec, n), len += n;
			expect = MIG_E_BAD_RECORD;
		} else {
			if (variant == 2) {   /* END before the data: authentic, but early */
				expect = MIG_E_OUT_OF_ORDER;
			} else {
				for (int i = 0; i < 3; i++) {
					migstream_tx_data(&tx, f.ext[i].offset, f.bytes[i], f.ext[i].length, rec, MIG_REC_MAX, &n);
					memcpy(buf + len, rec, n), len += n;
				}
				expect = variant == 1 ? MIG_E_OUT_OF_ORDER : MIG_E_BAD_RECORD;
			}
			body[7] = variant == 1 ? 0 : 0x31;   /* END: a total one off */
			body[15] = 5;
			migstream_tx_raw(&tx, variant == 1 ? MIG_REC_DATA : MIG_REC_END, body, sizeof body,
			                 NULL, 0, rec, MIG_REC_MAX, &n);
			memcpy(buf + len, rec, n), len += n;
		}
		assert_int_equal(migfix_decode(buf, len, 0, 2, NULL, 0, 0, NULL), expect);
		migstream_tx_free(&tx);
		free(rec);
		free(buf);
	}

	/* The encoder refuses what the decoder would. */
	migfix_encode(&s, &f, MIG_REC_END);
	free(s.buf);
	struct mig_tx tx;
	uint8_t head[MIG_HEAD_LEN], *rec = malloc(MIG_REC_MAX);
	migstream_tx_init(&tx, data_key, &info, head);
	assert_int_equal(migstream_tx_end(&tx, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
	assert_int_equal(migstream_tx_extents(&tx, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
	assert_int_equal(migstream_tx_preamble(&tx, &f.hdr, f.ext, rec, 10, &n), MIG_E_NOSPACE);
	migstream_tx_free(&tx);
	migstream_tx_init(&tx, data_key, &info, head);
	struct cap_snap_header bad = f.hdr;
	bad.data_size += 0x1000;
	assert_int_equal(migstream_tx_preamble(&tx, &bad, f.ext, rec, MIG_REC_MAX, &n), MIG_E_BAD_RECORD);
	assert_int_equal(migstream_tx_preamble(&tx, &f.hdr, f.ext, rec, MIG_REC_MAX, &n), MIG_OK);
	assert_int_equal(migstream_tx_extents(&tx, rec, MIG_REC_MAX, &n), MIG_OK);
	assert_int_equal(migstream_tx_data(&tx, 0x2000, f.bytes[0], 16, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
	assert_int_equal(migstream_tx_data(&tx, 0x1000, f.bytes[0], 0x1001, rec, MIG_REC_MAX, &n), MIG_E_BAD_RECORD);
	migstream_tx_free(&tx);
	struct mig_head_info zero = info;
	zero.migration_id = 0;
	assert_int_equal(migstream_tx_init(&tx, data_key, &zero, head), MIG_E_BAD_HEAD);
	migstream_tx_free(&tx);
	free(rec);
	migfix_free(&f);
}

/* ---- over a socket, from and into a memfd ---- */

struct sender {
	int sock, memfd, rc;
	const struct fixture *f;
	const struct mig_procs_src *procs;
	uint64_t progress_last;
};

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	uint64_t *last = arg;
	assert_true(done > *last && done <= total);
	*last = done;
}

static void *send_thread(void *arg)
{
	struct sender *s = arg;
	uint8_t key[MIG_KEY_LEN];
	migstream_derive_key(data_key, info.migration_id, key);   /* what caphostd hands a source caprun */
	s->rc = migstream_send_fd(s->sock, key, &info, &s->f->hdr, s->f->ext, s->memfd, s->procs, on_progress,
	                    &s->progress_last);
	close(s->sock);
	return NULL;
}

static void socket_round_trip(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 3 * MIG_CHUNK_MAX);
	int src = memfd_create("mig-src", 0), dst = memfd_create("mig-dst", 0), sv[2];
	assert_true(src >= 0 && dst >= 0);
	assert_int_equal(ftruncate(src, (off_t)f.hdr.memfd_size), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pwrite(src, f.bytes[i], f.ext[i].length, (off_t)f.ext[i].offset),
		                 (ssize_t)f.ext[i].length);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sender s = { .sock = sv[0], .memfd = src, .f = &f };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, send_thread, &s), 0);
	struct mig_rx rx;
	uint64_t got = 0;
	migstream_rx_init(&rx, data_key, 2);
	assert_int_equal(migstream_recv_fd(sv[1], &rx, dst, NULL, on_progress, &got), MIG_OK);
	pthread_join(th, NULL);
	assert_int_equal(s.rc, MIG_OK);
	assert_int_equal(got, f.hdr.data_size);
	assert_int_equal(s.progress_last, f.hdr.data_size);
	assert_int_equal(rx.hdr.nextents, 3);
	uint8_t *back = malloc(f.ext[1].length);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pread(dst, back, f.ext[i].length, (off_t)f.ext[i].offset),
		                 (ssize_t)f.ext[i].length);
		assert_memory_equal(back, f.bytes[i], f.ext[i].length);
	}
	migstream_rx_free(&rx);
	close(sv[1]);

	/* A connection cut half way: the receiver says truncated, never OK. */
	struct stream st;
	migfix_encode(&st, &f, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	size_t half = st.len / 2;
	assert_int_equal(write(sv[0], st.buf, half), (ssize_t)half);
	close(sv[0]);
	migstream_rx_init(&rx, data_key, 2);
	assert_int_equal(migstream_recv_fd(sv[1], &rx, dst, NULL, NULL, NULL), MIG_E_TRUNCATED);
	migstream_rx_free(&rx);
	close(sv[1]);
	free(st.buf);
	free(back);
	close(src);
	close(dst);
	migfix_free(&f);
}

/*
 * Several processes (version 6): after pid 1's data, the table (PROCS, PROCDATA) into its own
 * memfd byte for byte, then another process's pages (PROC_PAGES) into a memfd made for its pid;
 * and the framing: PROCS only where END could come, once, a page multiple; PROCDATA in order;
 * END only once the table is whole; PROC_PAGES only after it (or while pre-copying).
 */
static void procs_section_round_trip_and_rules(void **state)
{
	(void)state;
	struct fixture f;
	migfix_make(&f, 0x2000);
	const uint64_t size = 3 * MIG_CHUNK_MAX + 0x1000;   /* several PROCDATA records */
	int src = memfd_create("mig-src", 0), dst = memfd_create("mig-dst", 0);
	int psrc = memfd_create("mig-psrc", 0), kid = memfd_create("mig-kid", 0), sv[2];
	struct mig_procs_dst pd = { .table_fd = memfd_create("mig-pdst", 0) };
	assert_true(src >= 0 && dst >= 0 && psrc >= 0 && kid >= 0 && pd.table_fd >= 0);
	assert_int_equal(ftruncate(src, (off_t)f.hdr.memfd_size), 0);
	assert_int_equal(ftruncate(kid, (off_t)f.hdr.memfd_size), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pwrite(src, f.bytes[i], f.ext[i].length, (off_t)f.ext[i].offset),
		                 (ssize_t)f.ext[i].length);
		assert_int_equal(pwrite(kid, f.bytes[2 - i], f.ext[2 - i].length, (off_t)f.ext[i].offset),
		                 (ssize_t)f.ext[2 - i].length);
	}
	/* the other process's extents: the first and the last of f's, shorter */
	struct cap_snap_extent kext[2] = { { f.ext[0].offset, 0x1000 }, { f.ext[2].offset, 0x1000 } };
	uint8_t *sect = malloc(size), *back = malloc(size);
	for (uint64_t k = 0; k < size; k++)
		sect[k] = (uint8_t)(k * 13 + (k >> 12));
	assert_int_equal(pwrite(psrc, sect, size, 0), (ssize_t)size);
	struct mig_procs_src ps = { .fd = psrc, .size = size, .n = 1 };
	ps.p[0] = (struct mig_proc_mem){ .pid = 4, .memfd = kid, .ext = kext, .nextents = 2 };
	memset(ps.hash, 0x5a, sizeof ps.hash);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct sender snd = { .sock = sv[0], .memfd = src, .f = &f, .procs = &ps };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, send_thread, &snd), 0);
	struct mig_rx rx;
	uint64_t got = 0;
	migstream_rx_init(&rx, data_key, 2);
	assert_int_equal(migstream_recv_fd(sv[1], &rx, dst, &pd, on_progress, &got), MIG_OK);
	pthread_join(th, NULL);
	assert_int_equal(snd.rc, MIG_OK);
	assert_int_equal(rx.procs_size, size);
	assert_memory_equal(rx.procs_hash, ps.hash, sizeof ps.hash);
	assert_int_equal(pread(pd.table_fd, back, size, 0), (ssize_t)size);
	assert_memory_equal(back, sect, size);
	assert_int_equal(pd.n, 1);
	assert_int_equal(pd.pid[0], 4);
	for (int i = 0; i < 2; i++) {
		uint8_t want[0x1000], have[0x1000];
		assert_int_equal(pread(kid, want, sizeof want, (off_t)kext[i].offset), (ssize_t)sizeof want);
		assert_int_equal(pread(pd.memfd[0], have, sizeof have, (off_t)kext[i].offset),
		                 (ssize_t)sizeof have);
		assert_memory_equal(have, want, sizeof want);
	}
	assert_true(migstream_rx_proc_covered(&rx, 4, kext, 2));
	assert_false(migstream_rx_proc_covered(&rx, 4, f.ext, 3));   /* the middle one never came */
	assert_false(migstream_rx_proc_covered(&rx, 5, kext, 2));    /* nor any page of pid 5 */
	migstream_rx_free(&rx);
	close(sv[1]);
	close(pd.memfd[0]);

	/* The framing, in memory.  0: honest; 1: PROCS before pid 1's data is whole; 2: PROCDATA
	 * going back; 3: END before the table is whole; 4: a size not a page multiple; 5: PROCS
	 * twice; 6: PROC_PAGES before the table is whole; 7: PROC_PAGES of pid 1; 8: PROC_PAGES
	 * after the table, honest. */
	static const int want[] = { MIG_OK, MIG_E_OUT_OF_ORDER, MIG_E_OUT_OF_ORDER, MIG_E_OUT_OF_ORDER,
	                            MIG_E_BAD_RECORD, MIG_E_OUT_OF_ORDER, MIG_E_OUT_OF_ORDER,
	                            MIG_E_BAD_RECORD, MIG_OK };
	for (int v = 0; v < 9; v++) {
		struct stream st;
		struct mig_tx tx;
		size_t n;
		uint8_t *rec = malloc(MIG_REC_MAX);
		uint8_t body[8 + MIG_PROCS_HASH_LEN] = { 0 }, where[8] = { 0 }, end[16] = { 0 };
		if (v == 1) {   /* the head, PREAMBLE and EXTENTS only: pid 1's DATA is still to come */
			memset(&st, 0, sizeof st);
			st.cap = MIG_HEAD_LEN;
			st.buf = malloc(st.cap);
			assert_int_equal(migstream_tx_init(&tx, data_key, &info, st.buf), MIG_OK);
			st.len = MIG_HEAD_LEN;
			migstream_tx_preamble(&tx, &f.hdr, f.ext, migfix_room(&st), MIG_REC_MAX, &n);
			st.len += n;
			migstream_tx_extents(&tx, migfix_room(&st), MIG_REC_MAX, &n);
			st.len += n;
			assert_int_equal(migstream_tx_procs(&tx, 0x2000, ps.hash, rec, MIG_REC_MAX, &n),
			                 MIG_E_OUT_OF_ORDER);
		} else {
			migfix_encode_to_end(&st, &tx, &f);
		}
		body[6] = v == 4 ? 0x10 : 0x20;            /* 0x2000 bytes, or 0x1000 + 0x10 */
		body[7] = v == 4 ? 0x10 : 0;
		migfix_put(&st, &tx, MIG_REC_PROCS, body, sizeof body, NULL, 0);
		if (v == 5)
			migfix_put(&st, &tx, MIG_REC_PROCS, body, sizeof body, NULL, 0);
		uint8_t pp[16] = { 0, 0, 0, 4 };   /* pid 4, offset 0x1000 */
		pp[14] = 0x10;
		if (v == 0 || v == 2 || v == 3 || v >= 6) {
			migfix_put(&st, &tx, MIG_REC_PROCDATA, where, sizeof where, sect, 0x1000);
			if (v == 6)
				migfix_put(&st, &tx, MIG_REC_PROC_PAGES, pp, sizeof pp, sect, 0x1000);
			if (v != 3) {
				where[6] = v == 2 ? 0 : 0x10;   /* 0x1000 next; v 2 goes back to 0 */
				migfix_put(&st, &tx, MIG_REC_PROCDATA, where, sizeof where, sect, 0x1000);
			}
			pp[3] = v == 7 ? 1 : 4;
			if (v >= 7)
				migfix_put(&st, &tx, MIG_REC_PROC_PAGES, pp, sizeof pp, sect, 0x1000);
		}
		end[7] = (uint8_t)f.hdr.data_size;
		end[6] = (uint8_t)(f.hdr.data_size >> 8);
		end[5] = (uint8_t)(f.hdr.data_size >> 16);
		end[15] = (uint8_t)tx.records;
		migfix_put(&st, &tx, MIG_REC_END, end, sizeof end, NULL, 0);
		assert_int_equal(migfix_decode(st.buf, st.len, 0, 2, NULL, 0, 0, NULL), want[v]);
		migstream_tx_free(&tx);
		free(st.buf);
		free(rec);
	}
	/* The encoder refuses what the decoder would. */
	{
		struct stream st;
		struct mig_tx tx;
		size_t n;
		uint8_t *rec = malloc(MIG_REC_MAX);
		migfix_encode_to_end(&st, &tx, &f);
		assert_int_equal(migstream_tx_procs(&tx, 0x1010, ps.hash, rec, MIG_REC_MAX, &n), MIG_E_BAD_RECORD);
		assert_int_equal(migstream_tx_procs(&tx, 0x2000, ps.hash, rec, MIG_REC_MAX, &n), MIG_OK);
		assert_int_equal(migstream_tx_procs(&tx, 0x2000, ps.hash, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
		assert_int_equal(migstream_tx_end(&tx, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
		assert_int_equal(migstream_tx_procdata(&tx, 0x1000, sect, 0x1000, rec, MIG_REC_MAX, &n), MIG_E_OUT_OF_ORDER);
		assert_int_equal(migstream_tx_procdata(&tx, 0, sect, 0x2001, rec, MIG_REC_MAX, &n), MIG_E_BAD_RECORD);
		assert_int_equal(migstream_tx_proc_pages(&tx, 4, 0x1000, sect, 0x1000, rec, MIG_REC_MAX, &n),
		                 MIG_E_OUT_OF_ORDER);
		assert_int_equal(migstream_tx_procdata(&tx, 0, sect, 0x2000, rec, MIG_REC_MAX, &n), MIG_OK);
		assert_int_equal(migstream_tx_proc_pages(&tx, 1, 0x1000, sect, 0x1000, rec, MIG_REC_MAX, &n),
		                 MIG_E_BAD_RECORD);
		assert_int_equal(migstream_tx_proc_pages(&tx, 4, 0x1001, sect, 0x1000, rec, MIG_REC_MAX, &n),
		                 MIG_E_BAD_RECORD);
		assert_int_equal(migstream_tx_proc_pages(&tx, 4, 0x1000, sect, 0x1000, rec, MIG_REC_MAX, &n),
		                 MIG_OK);
		assert_int_equal(migstream_tx_end(&tx, rec, MIG_REC_MAX, &n), MIG_OK);
		migstream_tx_free(&tx);
		free(st.buf);
		free(rec);
	}
	free(sect);
	free(back);
	close(src);
	close(dst);
	close(psrc);
	close(kid);
	close(pd.table_fd);
	migfix_free(&f);
}

static void data_key_file(void **state)
{
	(void)state;
	char path[] = "/tmp/migkeysXXXXXX", err[200];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# keys\n1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	                   "\n  data 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	uint8_t key[MIG_KEY_LEN];
	assert_int_equal(dirproto_data_key_load(path, key, err, sizeof err), 0);
	for (int i = 0; i < MIG_KEY_LEN; i++)
		assert_int_equal(key[i], i);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "data 12\n", 8), 8);
	close(fd);
	assert_int_equal(dirproto_data_key_load(path, key, err, sizeof err), -1);
	assert_non_null(strstr(err, "64 hex"));
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	assert_int_equal(dirproto_data_key_load(path, key, err, sizeof err), -1);
	assert_non_null(strstr(err, "no 'data HEX64' line"));
	unlink(path);
	assert_int_equal(dirproto_data_key_load(path, key, err, sizeof err), -1);
	assert_string_equal(migstream_strerror(MIG_E_BAD_TAG), "bad_tag");
}

int main(void)
{
	if (migfix_init())
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(every_truncation_is_detected),
		cmocka_unit_test(every_bit_flip_is_detected),
		cmocka_unit_test(reordered_repeated_dropped_records_fail),
		cmocka_unit_test(wrong_key_or_host_fails),
		cmocka_unit_test(record_sequence_is_enforced),
		cmocka_unit_test(socket_round_trip),
		cmocka_unit_test(procs_section_round_trip_and_rules),
		cmocka_unit_test(data_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
