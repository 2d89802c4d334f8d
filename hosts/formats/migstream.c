/* migstream.c: encoder, decoder and socket helpers of the migration transfer stream (migstream.h). */
#include "hosts/formats/migstream.h"
#include "hosts/formats/migstream_int.h"
#include "hosts/common/bytes.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


uint64_t migstream_new_id(void)
{
	uint64_t id;
	do
		randombytes_buf(&id, sizeof id);
	while (id == 0);
	return id;
}

void migstream_derive_key(const uint8_t data_key[MIG_KEY_LEN], uint64_t migration_id,
                    uint8_t out[MIG_KEY_LEN])
{
	_Static_assert(MIG_KEY_LEN == crypto_kdf_KEYBYTES, "cluster key is a kdf master key");
	_Static_assert(MIG_KEY_LEN == AESGCM_KEY_LEN, "stream key: AES-256");
	_Static_assert(MIG_NONCE_LEN == AESGCM_NONCE_LEN && MIG_TAG_LEN == AESGCM_TAG_LEN, "GCM");
	crypto_kdf_derive_from_key(out, MIG_KEY_LEN, migration_id, MIG_KDF_CONTEXT, data_key);
}

const char *migstream_strerror(int status)
{
	static const char *const names[MIG_E_COUNT] = {
		[MIG_OK] = "ok", [MIG_NEED_MORE] = "need_more", [MIG_E_TRUNCATED] = "truncated",
		[MIG_E_BAD_MAGIC] = "bad_magic", [MIG_E_BAD_VERSION] = "bad_version",
		[MIG_E_BAD_HEAD] = "bad_head", [MIG_E_WRONG_HOST] = "wrong_host",
		[MIG_E_BAD_LENGTH] = "bad_length", [MIG_E_BAD_TAG] = "bad_tag",
		[MIG_E_OUT_OF_ORDER] = "out_of_order", [MIG_E_BAD_RECORD] = "bad_record",
		[MIG_E_AFTER_END] = "after_end", [MIG_E_NOSPACE] = "nospace", [MIG_E_NOMEM] = "nomem",
		[MIG_E_IO] = "io", [MIG_E_NO_CRYPTO] = "no_crypto",
	};
	return status >= 0 && status < MIG_E_COUNT ? names[status] : "unknown";
}

/* ---- encoder ---- */

int migstream_tx_init(struct mig_tx *tx, const uint8_t data_key[MIG_KEY_LEN],
                const struct mig_head_info *info, uint8_t head_out[MIG_HEAD_LEN])
{
	uint8_t key[MIG_KEY_LEN];
	migstream_derive_key(data_key, info->migration_id, key);
	int rc = migstream_tx_init_keyed(tx, key, info, head_out);
	sodium_memzero(key, sizeof key);
	return rc;
}

int migstream_tx_init_keyed(struct mig_tx *tx, const uint8_t stream_key[MIG_KEY_LEN],
                      const struct mig_head_info *info, uint8_t head_out[MIG_HEAD_LEN])
{
	memset(tx, 0, sizeof *tx);
	if (info->migration_id == 0 || info->source_host == 0 || info->target_host == 0 ||
	    info->epoch == 0)
		return MIG_E_BAD_HEAD;
	uint8_t *h = tx->head;
	memcpy(h, MIG_MAGIC, 8);
	host_put16(h + 8, MIG_VERSION);
	host_put16(h + 10, 0);
	host_put32(h + 12, info->source_host);
	host_put32(h + 16, info->target_host);
	host_put32(h + 20, info->epoch);
	host_put64(h + 24, info->migration_id);
	randombytes_buf(h + MIG_HEAD_AD_LEN, MIG_NONCE_LEN);   /* the rest of the head stays 0 */
	tx->aead = aesgcm_new(stream_key);
	if (!tx->aead)
		return MIG_E_NO_CRYPTO;
	memcpy(head_out, h, MIG_HEAD_LEN);
	tx->phase = PH_PREAMBLE;
	return MIG_OK;
}

void migstream_tx_free(struct mig_tx *tx)
{
	aesgcm_free(tx->aead);   /* clears the expanded key */
	tx->aead = NULL;
}

/* Record i's nonce: the head's nonce base XOR i (big-endian, in its last 8 bytes). */
static void record_nonce(const uint8_t head[MIG_HEAD_LEN], uint64_t i, uint8_t nonce[MIG_NONCE_LEN])
{
	memcpy(nonce, head + MIG_HEAD_AD_LEN, MIG_NONCE_LEN);
	for (int b = 0; b < 8; b++)
		nonce[MIG_NONCE_LEN - 1 - b] ^= (uint8_t)(i >> (8 * b));
}

int migstream_tx_raw(struct mig_tx *tx, uint8_t type, const uint8_t *body, size_t blen,
               const uint8_t *body2, size_t blen2, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t plen = 1 + blen + blen2;
	if (plen > MIG_PLAIN_MAX)
		return MIG_E_BAD_RECORD;
	if (cap < 4 + plen + MIG_TAG_LEN)
		return MIG_E_NOSPACE;
	if (!tx->aead)
		return MIG_E_OUT_OF_ORDER;
	host_put32(out, (uint32_t)(plen + MIG_TAG_LEN));
	uint8_t nonce[MIG_NONCE_LEN];
	record_nonce(tx->head, tx->records, nonce);
	/*
	 * Sealed where the pieces lie (type, body, body2): a DATA record's bytes go
	 * from the caller's buffer into out in one pass.  Additional data: the PREAMBLE
	 * (always record 0) authenticates the clear head; every record its length.
	 */
	uint8_t *c = out + 4;
	int ok = aesgcm_begin(tx->aead, nonce) == 0 &&
		(tx->records != 0 || aesgcm_aad(tx->aead, tx->head, MIG_HEAD_AD_LEN) == 0) &&
		aesgcm_aad(tx->aead, out, 4) == 0 &&
		aesgcm_encrypt(tx->aead, c, &type, 1) == 0 &&
		(!blen || aesgcm_encrypt(tx->aead, c + 1, body, blen) == 0) &&
		(!blen2 || aesgcm_encrypt(tx->aead, c + 1 + blen, body2, blen2) == 0) &&
		aesgcm_tag(tx->aead, c + plen) == 0;
	if (!ok)
		return MIG_E_BAD_RECORD;   /* libgcrypt refuses only lengths past GCM's limits */
	*out_len = 4 + plen + MIG_TAG_LEN;
	tx->records++;
	return MIG_OK;
}

/* ---- pre-copy records (before the PREAMBLE; docs/MIGRATION.md "Pre-copy") ---- */

/* The strings a target uses before the PREAMBLE (to open the image) end inside their fields. */
static int identity_ok(const struct cap_snap_header *h)
{
	return h->build_id_len <= sizeof h->build_id &&
	       memchr(h->image_name, 0, sizeof h->image_name) &&
	       memchr(h->image_path, 0, sizeof h->image_path) &&
	       memchr(h->capsule_name, 0, MIG_NAME_LEN);
}

/* The PREAMBLE after a PRECOPY names the same capsule: what the target checked early holds. */
static int same_identity(const struct cap_snap_header *a, const struct cap_snap_header *b)
{
	return a->build_id_len == b->build_id_len &&
	       memcmp(a->build_id, b->build_id, sizeof a->build_id) == 0 &&
	       strncmp(a->image_name, b->image_name, sizeof a->image_name) == 0 &&
	       strncmp(a->image_path, b->image_path, sizeof a->image_path) == 0 &&
	       strncmp(a->capsule_name, b->capsule_name, sizeof a->capsule_name) == 0 &&
	       a->ip == b->ip && a->mtu == b->mtu && a->arena_size == b->arena_size &&
	       a->memfd_size == b->memfd_size;
}

/* PRECOPY's body: memfd_size u64 | name[64] | the identity fields of a snapshot header. */
static void identity_body(uint8_t body[8 + MIG_PREAMBLE_LEN], const struct cap_snap_header *who)
{
	struct cap_snap_header h;
	memset(&h, 0, sizeof h);
	h.build_id_len = who->build_id_len;
	memcpy(h.build_id, who->build_id, sizeof h.build_id);
	memcpy(h.image_name, who->image_name, sizeof h.image_name);
	memcpy(h.image_path, who->image_path, sizeof h.image_path);
	memcpy(h.capsule_name, who->capsule_name, sizeof h.capsule_name);
	h.ip = who->ip;
	h.mtu = who->mtu;
	h.arena_size = who->arena_size;
	h.memfd_size = who->memfd_size;
	memset(body, 0, 8 + MIG_PREAMBLE_LEN);
	host_put64(body, who->memfd_size);
	memcpy(body + 8, h.capsule_name, strnlen(h.capsule_name, MIG_NAME_LEN - 1));
	memcpy(body + 8 + MIG_NAME_LEN, &h, sizeof h);
}

int migstream_tx_precopy(struct mig_tx *tx, const struct cap_snap_header *who, uint8_t *out,
                   size_t cap, size_t *out_len)
{
	if (tx->phase != PH_PREAMBLE || tx->records != 0)
		return MIG_E_OUT_OF_ORDER;
	uint64_t memfd_size = who->memfd_size;
	if (memfd_size == 0 || memfd_size > MIG_PRECOPY_MAX || memfd_size % MIG_PAGE ||
	    !identity_ok(who))
		return MIG_E_BAD_RECORD;
	uint8_t body[8 + MIG_PREAMBLE_LEN];
	identity_body(body, who);
	int rc = migstream_tx_raw(tx, MIG_REC_PRECOPY, body, sizeof body, NULL, 0, out, cap, out_len);
	if (rc == MIG_OK) {
		tx->precopy_size = memfd_size;
		memcpy(&tx->who, body + 8 + MIG_NAME_LEN, sizeof tx->who);
	}
	return rc;
}

int migstream_tx_pages(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                 uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_PREAMBLE || !tx->precopy_size)
		return MIG_E_OUT_OF_ORDER;
	if (len == 0 || len > MIG_CHUNK_MAX || off % MIG_PAGE || len % MIG_PAGE ||
	    off > tx->precopy_size || len > tx->precopy_size - off)
		return MIG_E_BAD_RECORD;
	uint8_t where[8];
	host_put64(where, off);
	int rc = migstream_tx_raw(tx, MIG_REC_PAGES, where, sizeof where, bytes, len, out, cap, out_len);
	if (rc == MIG_OK)
		tx->round_bytes += len;
	return rc;
}

int migstream_tx_round(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_PREAMBLE || !tx->precopy_size)
		return MIG_E_OUT_OF_ORDER;
	uint8_t body[16];
	host_put32(body, tx->rounds + 1);
	host_put32(body + 4, 0);
	host_put64(body + 8, tx->round_bytes);
	int rc = migstream_tx_raw(tx, MIG_REC_ROUND, body, sizeof body, NULL, 0, out, cap, out_len);
	if (rc == MIG_OK) {
		tx->rounds++;
		tx->round_bytes = 0;
	}
	return rc;
}

int migstream_tx_preamble(struct mig_tx *tx, const struct cap_snap_header *hdr,
                    const struct cap_snap_extent *ext, uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_PREAMBLE)
		return MIG_E_OUT_OF_ORDER;
	char err[128];
	if (hdr->data_size > hdr->memfd_size ||
	    cap_snap_check_header(hdr, cap_snap_file_size(hdr),
	                          err, sizeof err) != 0 ||
	    cap_snap_check_extents(hdr, ext, err, sizeof err) != 0 ||
	    (tx->precopy_size && (hdr->memfd_size != tx->precopy_size || tx->round_bytes ||
	                          !same_identity(hdr, &tx->who))))
		return MIG_E_BAD_RECORD;
	uint8_t body[MIG_PREAMBLE_LEN];
	memset(body, 0, sizeof body);
	memcpy(body, hdr->capsule_name, strnlen(hdr->capsule_name, MIG_NAME_LEN - 1));
	memcpy(body + MIG_NAME_LEN, hdr, sizeof *hdr);
	/* The file checksum and MAC cover file bytes the stream never has; the stream is sealed instead. */
	memset(body + MIG_NAME_LEN + offsetof(struct cap_snap_header, checksum), 0,
	       sizeof hdr->checksum);
	memset(body + MIG_NAME_LEN + offsetof(struct cap_snap_header, key_id), 0,
	       sizeof hdr->key_id + sizeof hdr->mac);
	int rc = migstream_tx_raw(tx, MIG_REC_PREAMBLE, body, sizeof body, NULL, 0, out, cap, out_len);
	if (rc == MIG_OK) {
		tx->hdr = hdr;
		tx->ext = ext;
		tx->phase = PH_EXTENTS;
	}
	return rc;
}

int migstream_tx_extents(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_EXTENTS)
		return MIG_E_OUT_OF_ORDER;
	uint32_t n = tx->hdr->nextents - tx->ext_sent;
	if (n > MIG_EXTENTS_PER_REC)
		n = MIG_EXTENTS_PER_REC;
	uint8_t *body = malloc(4 + (size_t)n * 16);
	if (!body)
		return MIG_E_NOMEM;
	host_put32(body, n);
	for (uint32_t i = 0; i < n; i++) {
		host_put64(body + 4 + 16 * i, tx->ext[tx->ext_sent + i].offset);
		host_put64(body + 12 + 16 * i, tx->ext[tx->ext_sent + i].length);
	}
	int rc = migstream_tx_raw(tx, MIG_REC_EXTENTS, body, 4 + (size_t)n * 16, NULL, 0, out, cap,
	                          out_len);
	free(body);
	if (rc != MIG_OK)
		return rc;
	tx->ext_sent += n;
	if (tx->ext_sent == tx->hdr->nextents) {
		tx->phase = PH_DATA;
		tx->cur_ext = 0;
		tx->cur_off = tx->ext[0].offset;
	}
	return MIG_OK;
}

uint64_t migstream_tx_next_chunk(const struct mig_tx *tx, uint64_t *off)
{
	*off = tx->cur_off;
	if (tx->phase != PH_DATA)
		return 0;
	const struct cap_snap_extent *e = &tx->ext[tx->cur_ext];
	return e->offset + e->length - tx->cur_off;
}

/*
 * After pre-copy, DATA carries only what changed: chunks of whole pages,
 * ascending, each inside one extent.  Moves the cursor past the chunk.
 */
static int sparse_chunk_ok(const struct cap_snap_extent *ext, uint32_t n, uint32_t *cur_ext,
                           uint64_t *cur_off, uint64_t off, size_t len)
{
	if (off < *cur_off || off % MIG_PAGE || len % MIG_PAGE || len == 0 || len > MIG_CHUNK_MAX)
		return 0;
	while (*cur_ext < n && ext[*cur_ext].offset + ext[*cur_ext].length <= off)
		++*cur_ext;
	if (*cur_ext == n || off < ext[*cur_ext].offset ||
	    len > ext[*cur_ext].offset + ext[*cur_ext].length - off)
		return 0;
	*cur_off = off + len;
	return 1;
}

int migstream_tx_data(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->precopy_size) {
		uint32_t e = tx->cur_ext;
		uint64_t o = tx->cur_off;
		if (tx->phase != PH_DATA)
			return MIG_E_OUT_OF_ORDER;
		if (!sparse_chunk_ok(tx->ext, tx->hdr->nextents, &e, &o, off, len))
			return MIG_E_BAD_RECORD;
		if (cap < mig_rec_size(8 + len))
			return MIG_E_NOSPACE;
		uint8_t where[8];
		host_put64(where, off);
		int rc = migstream_tx_raw(tx, MIG_REC_DATA, where, sizeof where, bytes, len, out, cap,
		                          out_len);
		if (rc == MIG_OK) {
			tx->cur_ext = e;
			tx->cur_off = o;
			tx->data_sent += len;
		}
		return rc;
	}
	if (tx->phase != PH_DATA || off != tx->cur_off)
		return MIG_E_OUT_OF_ORDER;
	uint64_t at, left_in_extent = migstream_tx_next_chunk(tx, &at);
	if (len == 0 || len > MIG_CHUNK_MAX || len > left_in_extent)
		return MIG_E_BAD_RECORD;
	if (cap < mig_rec_size(8 + len))
		return MIG_E_NOSPACE;
	uint8_t where[8];
	host_put64(where, off);
	int rc = migstream_tx_raw(tx, MIG_REC_DATA, where, sizeof where, bytes, len, out, cap, out_len);
	if (rc != MIG_OK)
		return rc;
	tx->cur_off += len;
	tx->data_sent += len;
	if (len == left_in_extent && ++tx->cur_ext == tx->hdr->nextents)
		tx->phase = PH_END;
	else if (len == left_in_extent)
		tx->cur_off = tx->ext[tx->cur_ext].offset;
	return MIG_OK;
}

int migstream_tx_end(struct mig_tx *tx, uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_END && !(tx->precopy_size && tx->phase == PH_DATA))
		return MIG_E_OUT_OF_ORDER;
	uint8_t body[16];
	host_put64(body, tx->data_sent);
	host_put64(body + 8, tx->records);
	int rc = migstream_tx_raw(tx, MIG_REC_END, body, sizeof body, NULL, 0, out, cap, out_len);
	if (rc == MIG_OK)
		tx->phase = PH_DONE;
	return rc;
}

/* ---- decoder ---- */

int migstream_rx_init(struct mig_rx *rx, const uint8_t data_key[MIG_KEY_LEN], uint32_t my_host)
{
	memset(rx, 0, sizeof *rx);
	memcpy(rx->data_key, data_key, MIG_KEY_LEN);
	rx->my_host = my_host;
	rx->plain = malloc(MIG_PLAIN_MAX);
	return rx->plain ? MIG_OK : MIG_E_NOMEM;
}

void migstream_rx_free(struct mig_rx *rx)
{
	aesgcm_free(rx->aead);
	free(rx->ext);
	free(rx->plain);
	free(rx->inbuf);
	free(rx->have);
	for (uint32_t k = 0; k < rx->nproc_have; k++)
		free(rx->proc_have[k]);
	sodium_memzero(rx, sizeof *rx);
}

static int rx_fail(struct mig_rx *rx, int err)
{
	rx->error = err;
	return err;
}

static int rx_head(struct mig_rx *rx, const uint8_t *h)
{
	if (memcmp(h, MIG_MAGIC, 8) != 0)
		return MIG_E_BAD_MAGIC;
	if (host_get16(h + 8) != MIG_VERSION)
		return MIG_E_BAD_VERSION;
	rx->info.source_host = host_get32(h + 12);
	rx->info.target_host = host_get32(h + 16);
	rx->info.epoch = host_get32(h + 20);
	rx->info.migration_id = host_get64(h + 24);
	static const uint8_t zero[MIG_HEAD_LEN - MIG_HEAD_AD_LEN - MIG_NONCE_LEN];
	if (host_get16(h + 10) != 0 || rx->info.epoch == 0 || rx->info.migration_id == 0 ||
	    rx->info.source_host == 0 || rx->info.target_host == 0 ||
	    memcmp(h + MIG_HEAD_AD_LEN + MIG_NONCE_LEN, zero, sizeof zero) != 0)
		return MIG_E_BAD_HEAD;
	if (rx->my_host && rx->info.target_host != rx->my_host)
		return MIG_E_WRONG_HOST;
	uint8_t key[MIG_KEY_LEN];
	migstream_derive_key(rx->data_key, rx->info.migration_id, key);
	rx->aead = aesgcm_new(key);
	sodium_memzero(key, sizeof key);
	if (!rx->aead)
		return MIG_E_NO_CRYPTO;
	memcpy(rx->head, h, MIG_HEAD_LEN);
	return MIG_OK;
}

static int rx_preamble(struct mig_rx *rx, const uint8_t *b, size_t blen)
{
	if (blen != MIG_PREAMBLE_LEN || memchr(b, 0, MIG_NAME_LEN) == NULL)
		return MIG_E_BAD_RECORD;
	memcpy(rx->name, b, MIG_NAME_LEN);
	memcpy(&rx->hdr, b + MIG_NAME_LEN, sizeof rx->hdr);
	const struct cap_snap_header *h = &rx->hdr;
	char err[128];
	/* data_size is bounded first so the "file size" below cannot wrap. */
	if (h->data_size > h->memfd_size ||
	    cap_snap_check_header(h, cap_snap_file_size(h),
	                          err, sizeof err) != 0 ||
	    strncmp(rx->name, h->capsule_name, MIG_NAME_LEN) != 0 ||
	    (rx->precopy_size && (h->memfd_size != rx->precopy_size || !same_identity(h, &rx->who))))
		return MIG_E_BAD_RECORD;
	rx->ext = calloc(h->nextents, sizeof *rx->ext);
	return rx->ext ? MIG_OK : MIG_E_NOMEM;
}

static int rx_extents(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	if (blen < 4)
		return MIG_E_BAD_RECORD;
	uint32_t n = host_get32(b);
	if (n == 0 || n > MIG_EXTENTS_PER_REC || blen != 4 + (size_t)n * 16 ||
	    n > rx->hdr.nextents - rx->ext_have)
		return MIG_E_BAD_RECORD;
	for (uint32_t i = 0; i < n; i++) {
		rx->ext[rx->ext_have + i].offset = host_get64(b + 4 + 16 * i);
		rx->ext[rx->ext_have + i].length = host_get64(b + 12 + 16 * i);
	}
	rec->first_ext = rx->ext_have;
	rec->n_ext = n;
	rx->ext_have += n;
	if (rx->ext_have == rx->hdr.nextents) {
		char err[128];
		/* The whole table is checked before a single DATA byte is accepted. */
		if (cap_snap_check_extents(&rx->hdr, rx->ext, err, sizeof err) != 0)
			return MIG_E_BAD_RECORD;
		rx->phase = PH_DATA;
		rx->cur_ext = 0;
		rx->cur_off = rx->ext[0].offset;
	}
	return MIG_OK;
}

static int rx_precopy(struct mig_rx *rx, const uint8_t *b, size_t blen)
{
	uint64_t size = blen == 8 + MIG_PREAMBLE_LEN ? host_get64(b) : 0;
	if (size == 0 || size > MIG_PRECOPY_MAX || size % MIG_PAGE || rx->records != 0)
		return MIG_E_BAD_RECORD;
	memcpy(&rx->who, b + 8 + MIG_NAME_LEN, sizeof rx->who);
	if (memchr(b + 8, 0, MIG_NAME_LEN) == NULL || !identity_ok(&rx->who) ||
	    strncmp((const char *)b + 8, rx->who.capsule_name, MIG_NAME_LEN) != 0 ||
	    rx->who.memfd_size != size)
		return MIG_E_BAD_RECORD;
	rx->have = calloc(size / MIG_PAGE / 8 + 1, 1);
	if (!rx->have)
		return MIG_E_NOMEM;
	rx->precopy_size = size;
	return MIG_OK;
}

static int rx_pages(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	uint64_t off = blen > 8 ? host_get64(b) : 0;
	size_t len = blen > 8 ? blen - 8 : 0;
	if (len == 0 || off % MIG_PAGE || len % MIG_PAGE || off > rx->precopy_size ||
	    len > rx->precopy_size - off)
		return MIG_E_BAD_RECORD;
	mig_bits_mark(rx->have, off, len);
	rec->offset = off;
	rec->data = b + 8;
	rec->len = len;
	rx->round_bytes += len;
	rx->precopy_bytes += len;
	return MIG_OK;
}

static int rx_round(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	if (blen != 16 || host_get32(b) != rx->rounds + 1 || host_get32(b + 4) != 0 ||
	    host_get64(b + 8) != rx->round_bytes)
		return MIG_E_BAD_RECORD;
	rx->rounds++;
	rec->len = rx->round_bytes;
	rx->round_bytes = 0;
	return MIG_OK;
}

/* After pre-copy: every page of the final extents arrived at least once. */
static int rx_covered(const struct mig_rx *rx)
{
	return mig_bits_cover(rx->have, rx->ext, rx->hdr.nextents);
}

static int rx_data(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	if (blen < 9)
		return MIG_E_BAD_RECORD;
	uint64_t off = host_get64(b);
	size_t len = blen - 8;
	if (rx->precopy_size) {
		if (!sparse_chunk_ok(rx->ext, rx->hdr.nextents, &rx->cur_ext, &rx->cur_off, off, len))
			return MIG_E_BAD_RECORD;
		mig_bits_mark(rx->have, off, len);
		rec->offset = off;
		rec->data = b + 8;
		rec->len = len;
		rx->data_have += len;
		return MIG_OK;
	}
	if (off != rx->cur_off)
		return MIG_E_OUT_OF_ORDER;
	const struct cap_snap_extent *e = &rx->ext[rx->cur_ext];
	uint64_t left = e->offset + e->length - off;
	if (len > left)
		return MIG_E_BAD_RECORD;
	rec->offset = off;
	rec->data = b + 8;
	rec->len = len;
	rx->data_have += len;
	rx->cur_off += len;
	if (len == left) {
		if (++rx->cur_ext == rx->hdr.nextents)
			rx->phase = PH_END;
		else
			rx->cur_off = rx->ext[rx->cur_ext].offset;
	}
	return MIG_OK;
}

int migstream_rx_next(struct mig_rx *rx, const uint8_t *buf, size_t len, size_t *used,
                struct mig_rec *rec)
{
	*used = 0;
	memset(rec, 0, sizeof *rec);
	if (rx->error)
		return rx->error;
	if (rx->phase == PH_DONE)
		return len ? rx_fail(rx, MIG_E_AFTER_END) : MIG_NEED_MORE;
	if (rx->phase == PH_HEAD) {
		if (len < MIG_HEAD_LEN)
			return MIG_NEED_MORE;
		int rc = rx_head(rx, buf);
		if (rc != MIG_OK)
			return rx_fail(rx, rc);
		rx->phase = PH_PREAMBLE;
		rec->type = MIG_REC_HEAD;
		*used = MIG_HEAD_LEN;
		return MIG_OK;
	}
	if (len < 4)
		return MIG_NEED_MORE;
	uint32_t clen = host_get32(buf);
	if (clen < MIG_TAG_LEN + 1 || clen > MIG_PLAIN_MAX + MIG_TAG_LEN)
		return rx_fail(rx, MIG_E_BAD_LENGTH);
	if (len - 4 < clen)
		return MIG_NEED_MORE;

	/* Opened into rx->plain, used only once the tag says it is authentic. */
	size_t mlen = clen - MIG_TAG_LEN;
	uint8_t nonce[MIG_NONCE_LEN];
	record_nonce(rx->head, rx->records, nonce);
	int ok = aesgcm_begin(rx->aead, nonce) == 0 &&
		(rx->records != 0 || aesgcm_aad(rx->aead, rx->head, MIG_HEAD_AD_LEN) == 0) &&
		aesgcm_aad(rx->aead, buf, 4) == 0 &&
		aesgcm_decrypt(rx->aead, rx->plain, buf + 4, mlen) == 0 &&
		aesgcm_check(rx->aead, buf + 4 + mlen) == 0;
	if (!ok)
		return rx_fail(rx, MIG_E_BAD_TAG);
	uint8_t type = rx->plain[0];
	const uint8_t *body = rx->plain + 1;
	size_t blen = mlen - 1;
	/* The nonces chain the records; END is the only way to end (a cut stream never looks complete). */
	if (type < MIG_REC_PREAMBLE || type > MIG_REC_PROC_PAGES)
		return rx_fail(rx, MIG_E_BAD_RECORD);
	/* Pre-copy records come first (PRECOPY only as record 0); END may follow any DATA after
	 * it; PROCS where END could come, once; PROCDATA only after it, until the section is whole. */
	int pre = type == MIG_REC_PRECOPY ? rx->records == 0
	        : type == MIG_REC_PAGES || type == MIG_REC_ROUND ? rx->precopy_size != 0
	        : 0;
	int in_place = type == MIG_REC_PROC_PAGES ? migstream_proc_pages_may_come(rx->phase,
	                                                     rx->precopy_size, rx->procs_size)
	        : type == MIG_REC_PROCS ? migstream_procs_may_come(rx->phase, rx->precopy_size,
	                                                           rx->procs_size)
	        : type >= MIG_REC_PRECOPY && type <= MIG_REC_ROUND ? pre && rx->phase == PH_PREAMBLE
	        : type == rx->phase || (type == MIG_REC_END && rx->precopy_size && rx->phase == PH_DATA);
	if (!in_place)
		return rx_fail(rx, MIG_E_OUT_OF_ORDER);

	int rc;
	rec->type = type;
	switch (type) {
	case MIG_REC_PREAMBLE:
		rc = rx_preamble(rx, body, blen);
		if (rc == MIG_OK)
			rx->phase = PH_EXTENTS;
		break;
	case MIG_REC_EXTENTS:
		rc = rx_extents(rx, body, blen, rec);
		break;
	case MIG_REC_DATA:
		rc = rx_data(rx, body, blen, rec);
		break;
	case MIG_REC_PRECOPY:
		rc = rx_precopy(rx, body, blen);
		break;
	case MIG_REC_PAGES:
		rc = rx_pages(rx, body, blen, rec);
		break;
	case MIG_REC_ROUND:
		rc = rx_round(rx, body, blen, rec);
		break;
	case MIG_REC_PROCS:
		rc = migstream_rx_procs(rx, body, blen);
		break;
	case MIG_REC_PROCDATA:
		rc = migstream_rx_procdata(rx, body, blen, rec);
		break;
	case MIG_REC_PROC_PAGES:
		rc = migstream_rx_proc_pages(rx, body, blen, rec);
		break;
	default:   /* MIG_REC_END */
		rc = blen == 16 && host_get64(body + 8) == rx->records &&
		     host_get64(body) == (rx->precopy_size ? rx->data_have : rx->hdr.data_size) &&
		     (!rx->precopy_size || (rx->ext_have == rx->hdr.nextents && rx_covered(rx)))
		     ? MIG_OK : MIG_E_BAD_RECORD;
		if (rc == MIG_OK)
			rx->phase = PH_DONE;
		break;
	}
	if (rc != MIG_OK)
		return rx_fail(rx, rc);
	rx->records++;
	*used = 4 + clen;
	return MIG_OK;
}

int migstream_rx_finish(struct mig_rx *rx)
{
	if (rx->error)
		return rx->error;
	return rx->phase == PH_DONE ? MIG_OK : rx_fail(rx, MIG_E_TRUNCATED);
}
