/* migstream_procs.c: the migration stream's records of a capsule's other processes (PROCS, PROCDATA, PROC_PAGES; migstream.h): where each may come, encoding and decoding them. */
#include "hosts/formats/migstream.h"
#include "hosts/formats/migstream_int.h"
#include "hosts/common/bytes.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoder ---- */

/* Where PROCS may come: after pid 1's last DATA, where END could come; once. */
int migstream_procs_may_come(int phase, uint64_t precopy_size, uint64_t procs_size)
{
	return !procs_size && (phase == PH_END || (precopy_size && phase == PH_DATA));
}

static int procs_size_ok(uint64_t size)
{
	return size > 0 && size % MIG_PAGE == 0 && size <= MIG_PROCS_MAX;
}

int migstream_tx_procs(struct mig_tx *tx, uint64_t size, const uint8_t hash[MIG_PROCS_HASH_LEN],
                       uint8_t *out, size_t cap, size_t *out_len)
{
	if (!migstream_procs_may_come(tx->phase, tx->precopy_size, tx->procs_size))
		return MIG_E_OUT_OF_ORDER;
	if (!procs_size_ok(size))
		return MIG_E_BAD_RECORD;
	uint8_t body[8 + MIG_PROCS_HASH_LEN];
	host_put64(body, size);
	memcpy(body + 8, hash, MIG_PROCS_HASH_LEN);
	int rc = migstream_tx_raw(tx, MIG_REC_PROCS, body, sizeof body, NULL, 0, out, cap, out_len);
	if (rc == MIG_OK) {
		tx->procs_size = size;
		tx->phase = PH_PROCDATA;
	}
	return rc;
}

int migstream_tx_procdata(struct mig_tx *tx, uint64_t off, const uint8_t *bytes, size_t len,
                          uint8_t *out, size_t cap, size_t *out_len)
{
	if (tx->phase != PH_PROCDATA || off != tx->procs_sent)
		return MIG_E_OUT_OF_ORDER;
	if (len == 0 || len > MIG_CHUNK_MAX || len > tx->procs_size - off)
		return MIG_E_BAD_RECORD;
	uint8_t where[8];
	host_put64(where, off);
	int rc = migstream_tx_raw(tx, MIG_REC_PROCDATA, where, sizeof where, bytes, len, out, cap,
	                          out_len);
	if (rc == MIG_OK && (tx->procs_sent += len) == tx->procs_size)
		tx->phase = PH_END;
	return rc;
}

/* PROC_PAGES: while pre-copying (before the PREAMBLE), or frozen once the whole table came. */
int migstream_proc_pages_may_come(int phase, uint64_t precopy_size, uint64_t procs_size)
{
	return (precopy_size && phase == PH_PREAMBLE) || (procs_size && phase == PH_END);
}

int migstream_tx_proc_pages(struct mig_tx *tx, int32_t pid, uint64_t off, const uint8_t *bytes,
                            size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	if (!migstream_proc_pages_may_come(tx->phase, tx->precopy_size, tx->procs_size))
		return MIG_E_OUT_OF_ORDER;
	uint64_t size = tx->precopy_size ? tx->precopy_size : tx->hdr->memfd_size;
	if (pid < 2 || len == 0 || len > MIG_CHUNK_MAX || off % MIG_PAGE || len % MIG_PAGE ||
	    off > size || len > size - off)
		return MIG_E_BAD_RECORD;
	uint8_t where[16];
	host_put32(where, (uint32_t)pid);
	host_put32(where + 4, 0);
	host_put64(where + 8, off);
	int rc = migstream_tx_raw(tx, MIG_REC_PROC_PAGES, where, sizeof where, bytes, len, out, cap,
	                          out_len);
	if (rc == MIG_OK && tx->phase == PH_PREAMBLE)
		tx->round_bytes += len;
	else if (rc == MIG_OK)
		tx->proc_pages_frozen += len;
	return rc;
}

/* ---- decoder ---- */

int migstream_rx_procs(struct mig_rx *rx, const uint8_t *b, size_t blen)
{
	if (blen != 8 + MIG_PROCS_HASH_LEN || !procs_size_ok(host_get64(b)))
		return MIG_E_BAD_RECORD;
	rx->procs_size = host_get64(b);
	memcpy(rx->procs_hash, b + 8, MIG_PROCS_HASH_LEN);
	rx->phase = PH_PROCDATA;
	return MIG_OK;
}

int migstream_rx_procdata(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	uint64_t off = blen > 8 ? host_get64(b) : 0;
	size_t len = blen > 8 ? blen - 8 : 0;
	if (off != rx->procs_have)
		return MIG_E_OUT_OF_ORDER;
	if (len == 0 || len > rx->procs_size - off)
		return MIG_E_BAD_RECORD;
	rec->offset = off;
	rec->data = b + 8;
	rec->len = len;
	if ((rx->procs_have += len) == rx->procs_size)
		rx->phase = PH_END;
	return MIG_OK;
}

int migstream_rx_proc_pages(struct mig_rx *rx, const uint8_t *b, size_t blen, struct mig_rec *rec)
{
	uint64_t size = mig_rx_memfd_size(rx);
	if (blen <= 16)
		return MIG_E_BAD_RECORD;
	int32_t pid = (int32_t)host_get32(b);
	uint64_t off = host_get64(b + 8);
	size_t len = blen - 16;
	if (pid < 2 || host_get32(b + 4) != 0 || off % MIG_PAGE || len % MIG_PAGE || off > size ||
	    len > size - off)
		return MIG_E_BAD_RECORD;
	uint32_t k = 0;
	while (k < rx->nproc_have && rx->proc_pid[k] != pid)
		k++;
	if (k == rx->nproc_have) {   /* a process not seen yet */
		if (k == CAP_SNAP_PROCS_MAX)
			return MIG_E_BAD_RECORD;
		rx->proc_have[k] = calloc(size / MIG_PAGE / 8 + 1, 1);
		if (!rx->proc_have[k])
			return MIG_E_NOMEM;
		rx->proc_pid[k] = pid;
		rx->nproc_have++;
	}
	mig_bits_mark(rx->proc_have[k], off, len);
	if (rx->phase == PH_PREAMBLE) {
		rx->round_bytes += len;
		rx->precopy_bytes += len;
	}
	rec->pid = pid;
	rec->offset = off;
	rec->data = b + 16;
	rec->len = len;
	return MIG_OK;
}

int migstream_rx_proc_covered(const struct mig_rx *rx, int32_t pid, const struct cap_snap_extent *ext,
                              uint32_t n)
{
	for (uint32_t k = 0; k < rx->nproc_have; k++)
		if (rx->proc_pid[k] == pid)
			return mig_bits_cover(rx->proc_have[k], ext, n);
	return n == 0;
}
