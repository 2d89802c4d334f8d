/* migstream_fd.c: the migration stream on sockets and memfds: send a frozen capsule, receive one, punch what lies outside its extents (migstream.h). */
#include "hosts/formats/migstream.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- fd helpers ---- */

int migstream_send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return MIG_E_IO;
		p += w;
		n -= (size_t)w;
	}
	return MIG_OK;
}

int migstream_send_procs(int sock, struct mig_tx *tx, const struct mig_procs_src *procs,
                         uint8_t *chunk, uint8_t *rec)
{
	size_t n = 0;
	int rc = migstream_tx_procs(tx, procs->size, procs->hash, rec, MIG_REC_MAX, &n);
	if (rc == MIG_OK)
		rc = migstream_send_all(sock, rec, n);
	for (uint64_t off = 0; rc == MIG_OK && off < procs->size;) {
		uint64_t left = procs->size - off;
		size_t len = left > MIG_CHUNK_MAX ? MIG_CHUNK_MAX : (size_t)left;
		rc = fileio_pread_full(procs->fd, chunk, len, off) ? MIG_E_IO : MIG_OK;
		if (rc == MIG_OK)
			rc = migstream_tx_procdata(tx, off, chunk, len, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(sock, rec, n);
		off += len;
	}
	return rc;
}

int migstream_send_proc_mem(int sock, struct mig_tx *tx, const struct mig_proc_mem *p,
                            uint8_t *chunk, uint8_t *rec)
{
	int rc = MIG_OK;
	size_t n = 0;
	for (uint32_t i = 0; rc == MIG_OK && i < p->nextents; i++) {
		for (uint64_t done = 0; rc == MIG_OK && done < p->ext[i].length;) {
			uint64_t left = p->ext[i].length - done;
			size_t len = left > MIG_CHUNK_MAX ? MIG_CHUNK_MAX : (size_t)left;
			uint64_t off = p->ext[i].offset + done;
			rc = fileio_pread_full(p->memfd, chunk, len, off) ? MIG_E_IO : MIG_OK;
			if (rc == MIG_OK)
				rc = migstream_tx_proc_pages(tx, p->pid, off, chunk, len, rec, MIG_REC_MAX, &n);
			if (rc == MIG_OK)
				rc = migstream_send_all(sock, rec, n);
			done += len;
		}
	}
	return rc;
}

int migstream_send_fd(int sock, const uint8_t stream_key[MIG_KEY_LEN], const struct mig_head_info *info,
                const struct cap_snap_header *hdr, const struct cap_snap_extent *ext, int memfd,
                const struct mig_procs_src *procs, mig_progress_fn progress, void *arg)
{
	struct mig_tx tx = { 0 };
	uint8_t head[MIG_HEAD_LEN];
	uint8_t *rec = malloc(MIG_REC_MAX), *chunk = malloc(MIG_CHUNK_MAX);
	size_t n = 0;
	int rc = MIG_E_NOMEM;
	if (!rec || !chunk)
		goto out;
	rc = migstream_tx_init_keyed(&tx, stream_key, info, head);
	if (rc == MIG_OK)
		rc = migstream_send_all(sock, head, sizeof head);
	if (rc == MIG_OK)
		rc = migstream_tx_preamble(&tx, hdr, ext, rec, MIG_REC_MAX, &n);
	if (rc == MIG_OK)
		rc = migstream_send_all(sock, rec, n);
	while (rc == MIG_OK && mig_tx_extents_left(&tx) > 0) {
		rc = migstream_tx_extents(&tx, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(sock, rec, n);
	}
	uint64_t off, left;
	while (rc == MIG_OK && (left = migstream_tx_next_chunk(&tx, &off)) > 0) {
		size_t len = left > MIG_CHUNK_MAX ? MIG_CHUNK_MAX : (size_t)left;
		rc = fileio_pread_full(memfd, chunk, len, off) ? MIG_E_IO : MIG_OK;
		if (rc == MIG_OK)
			rc = migstream_tx_data(&tx, off, chunk, len, rec, MIG_REC_MAX, &n);
		if (rc == MIG_OK)
			rc = migstream_send_all(sock, rec, n);
		if (rc == MIG_OK && progress)
			progress(arg, tx.data_sent, hdr->data_size);
	}
	if (rc == MIG_OK && procs)
		rc = migstream_send_procs(sock, &tx, procs, chunk, rec);
	for (uint32_t i = 0; rc == MIG_OK && procs && i < procs->n; i++)
		rc = migstream_send_proc_mem(sock, &tx, &procs->p[i], chunk, rec);
	if (rc == MIG_OK)
		rc = migstream_tx_end(&tx, rec, MIG_REC_MAX, &n);
	if (rc == MIG_OK)
		rc = migstream_send_all(sock, rec, n);
out:
	migstream_tx_free(&tx);
	free(rec);
	free(chunk);
	return rc;
}

int migstream_punch_outside(int memfd, const struct cap_snap_header *hdr,
                            const struct cap_snap_extent *ext)
{
	uint64_t at = 0;
	for (uint32_t i = 0; i <= hdr->nextents; i++) {
		uint64_t next = i < hdr->nextents ? ext[i].offset : hdr->memfd_size;
		if (next > at && fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)at,
		                           (off_t)(next - at)) != 0)
			return -1;
		if (i < hdr->nextents)
			at = ext[i].offset + ext[i].length;
	}
	return 0;
}

/* Process pid's memfd in procs, made (pid 1's size) at its first pages: the fd, or -1. */
static int proc_memfd(struct mig_procs_dst *procs, const struct mig_rx *rx, int32_t pid)
{
	for (uint32_t k = 0; k < procs->n; k++)
		if (procs->pid[k] == pid)
			return procs->memfd[k];
	if (procs->n == CAP_SNAP_PROCS_MAX)
		return -1;   /* the decoder refuses more pids first */
	int fd = memfd_create("capsule-proc", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (off_t)mig_rx_memfd_size(rx)) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		procs->pid[procs->n] = pid;
		procs->memfd[procs->n++] = fd;
	}
	return fd;
}

int migstream_recv_fd(int sock, struct mig_rx *rx, int memfd, struct mig_procs_dst *procs,
                      mig_progress_fn progress, void *arg)
{
	size_t cap = MIG_INBUF_LEN, have = 0;
	if (!rx->inbuf && !(rx->inbuf = malloc(cap)))
		return MIG_E_NOMEM;
	uint8_t *buf = rx->inbuf;
	int rc = MIG_NEED_MORE;
	while (!mig_rx_done(rx)) {
		size_t used = 0, pos = 0;
		struct mig_rec rec;
		while ((rc = migstream_rx_next(rx, buf + pos, have - pos, &used, &rec)) == MIG_OK) {
			pos += used;
			if (rec.type == MIG_REC_PREAMBLE && ftruncate(memfd, (off_t)rx->hdr.memfd_size) != 0)
				rc = MIG_E_IO;
			else if (rec.type == MIG_REC_PRECOPY && ftruncate(memfd, (off_t)rx->precopy_size) != 0)
				rc = MIG_E_IO;
			else if (rec.type == MIG_REC_PAGES) {
				if (pwrite(memfd, rec.data, rec.len, (off_t)rec.offset) != (ssize_t)rec.len)
					rc = MIG_E_IO;
				else if (progress)
					progress(arg, rx->precopy_bytes, 0);
			} else if (rec.type == MIG_REC_ROUND) {
				if (progress)   /* a round ends: the receiver may say so (ROUND_DONE) */
					progress(arg, rx->precopy_bytes, 0);
			} else if (rec.type == MIG_REC_PROCS || rec.type == MIG_REC_PROC_PAGES) {
				int fd = !procs ? -1 : rec.type == MIG_REC_PROCS ? procs->table_fd
				         : proc_memfd(procs, rx, rec.pid);
				if (!procs)
					rc = MIG_E_BAD_RECORD;   /* a process this receiver has no room for */
				else if (fd < 0 || (rec.type == MIG_REC_PROCS
				                    ? ftruncate(fd, (off_t)rx->procs_size) != 0
				                    : fileio_pwrite_full(fd, rec.data, rec.len, rec.offset) != 0))
					rc = MIG_E_IO;
			} else if (rec.type == MIG_REC_PROCDATA) {
				if (fileio_pwrite_full(procs->table_fd, rec.data, rec.len, rec.offset))
					rc = MIG_E_IO;
			} else if (rec.type == MIG_REC_DATA) {
				ssize_t w = pwrite(memfd, rec.data, rec.len, (off_t)rec.offset);
				if (w != (ssize_t)rec.len)
					rc = MIG_E_IO;
				else if (progress)
					progress(arg, rx->data_have, rx->hdr.data_size);
			}
			if (rc != MIG_OK || mig_rx_done(rx))
				break;
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		if (rc == MIG_OK && mig_rx_done(rx)) {
			/* The source says nothing more until the target answered: extra bytes are a fault. */
			rc = have ? MIG_E_AFTER_END : MIG_OK;
			if (rc == MIG_OK && rx->precopy_size && migstream_punch_outside(memfd, &rx->hdr, rx->ext) != 0)
				rc = MIG_E_IO;
			break;
		}
		if (rc != MIG_NEED_MORE)
			break;
		if (have == cap) {   /* cannot happen: one record always fits twice */
			rc = MIG_E_BAD_LENGTH;
			break;
		}
		ssize_t r = recv(sock, buf + have, cap - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = MIG_E_IO;
			break;
		}
		if (r == 0) {
			rc = migstream_rx_finish(rx);
			break;
		}
		have += (size_t)r;
	}
	return rc;
}
