/* snapprocs.c: the process section of a version 4 snapshot: written after pid 1's data, read and checked whole before anything is made, a child's memory restored into its memfd. */
#include "hosts/formats/snapprocs.h"
#include "hosts/formats/snapfile.h"
#include "hosts/common/fileio.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK (1u << 20)

int snapprocs_write(int out, uint64_t pos, const struct cap_snap_header *h,
                    struct cap_snap_header_ext *x, const struct snapprocs_set *set, char *err,
                    size_t errlen)
{
	struct cap_snap_extent *ext[CAP_SNAP_PROCS_MAX] = { 0 };
	struct cap_snap_proc e[CAP_SNAP_PROCS_MAX];
	struct cap_snap_procs t = { .nprocs = set->n, .entry_size = sizeof e[0], .next_pid = set->next_pid };
	uint8_t *meta = NULL, *buf = NULL;
	int rc = -1;
	memcpy(t.magic, CAP_SNAP_PROCS_MAGIC, sizeof t.magic);
	if (set->n < 1 || set->n > CAP_SNAP_PROCS_MAX) {
		snprintf(err, errlen, "%u processes", set->n);
		errno = EINVAL;
		return -1;
	}
	memset(e, 0, sizeof e);
	for (uint32_t i = 0; i < set->n; i++) {
		const struct snapprocs_src *p = &set->p[i];
		e[i] = (struct cap_snap_proc){ .pid = p->pid, .ppid = p->ppid, .slot = p->slot,
		                               .nheld = p->nheld };
		if (p->memfd < 0)
			continue;
		if (snapfile_scan(p->memfd, h->memfd_size, &ext[i], &e[i].nextents)) {
			snprintf(err, errlen, "scanning the memory of process %d: %s", p->pid, strerror(errno));
			goto out;
		}
		for (uint32_t k = 0; k < e[i].nextents; k++)
			e[i].data_size += ext[i][k].length;
	}
	uint64_t meta_size = cap_snap_procs_meta_size(&t, e);
	if (meta_size == UINT64_MAX) {
		snprintf(err, errlen, "too many held records or extents");
		errno = E2BIG;
		goto out;
	}
	meta = calloc(1, (size_t)meta_size);
	buf = malloc(COPY_CHUNK);
	if (!meta || !buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	uint8_t *at = meta;
	memcpy(at, &t, sizeof t);
	at += sizeof t;
	memcpy(at, e, (size_t)set->n * sizeof e[0]);
	at += (size_t)set->n * sizeof e[0];
	for (uint32_t i = 0; i < set->n; i++) {
		if (e[i].nheld)
			memcpy(at, set->p[i].held, (size_t)e[i].nheld * sizeof(struct cap_snap_held));
		at += (size_t)e[i].nheld * sizeof(struct cap_snap_held);
	}
	for (uint32_t i = 0; i < set->n; i++) {
		if (e[i].nextents)   /* pid 1's are the file's own: none here */
			memcpy(at, ext[i], (size_t)e[i].nextents * sizeof(struct cap_snap_extent));
		at += (size_t)e[i].nextents * sizeof(struct cap_snap_extent);
	}
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof x->procs_hash);
	crypto_generichash_update(&st, meta, (size_t)meta_size);
	if (fileio_pwrite_full(out, meta, (size_t)meta_size, pos)) {
		snprintf(err, errlen, "writing the process table: %s", strerror(errno));
		goto out;
	}
	uint64_t w = pos + meta_size;
	for (uint32_t i = 0; i < set->n; i++) {
		for (uint32_t k = 0; k < e[i].nextents; k++) {
			for (uint64_t done = 0; done < ext[i][k].length;) {
				uint64_t left = ext[i][k].length - done;
				size_t len = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;
				if (fileio_pread_full(set->p[i].memfd, buf, len, ext[i][k].offset + done) ||
				    fileio_pwrite_full(out, buf, len, w)) {
					snprintf(err, errlen, "writing the memory of process %d: %s", e[i].pid,
					         strerror(errno));
					goto out;
				}
				crypto_generichash_update(&st, buf, len);
				done += len;
				w += len;
			}
		}
	}
	crypto_generichash_final(&st, x->procs_hash, sizeof x->procs_hash);
	x->procs_size = w - pos;
	/* Never write what a reader would refuse. */
	if (cap_snap_check_procs(h, x, &t, e, meta, meta_size, err, errlen)) {
		char why[256];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "refusing to write a bad process table: %s", why);
		errno = EINVAL;
		goto out;
	}
	rc = 0;
out:
	for (uint32_t i = 0; i < CAP_SNAP_PROCS_MAX; i++)
		free(ext[i]);
	free(meta);
	free(buf);
	return rc;
}

void snapprocs_free(struct snap_procs *p)
{
	if (!p)
		return;
	free(p->e);
	free(p->meta);
	free(p);
}

/* The section's BLAKE2b-256 against the header's procs_hash. */
static int hash_matches(int fd, const struct cap_snap_header_ext *hx, uint64_t from, char *err,
                        size_t errlen)
{
	uint8_t *buf = malloc(COPY_CHUNK), sum[32];
	crypto_generichash_state st;
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	crypto_generichash_init(&st, NULL, 0, sizeof sum);
	for (uint64_t pos = 0; pos < hx->procs_size;) {
		uint64_t left = hx->procs_size - pos;
		size_t len = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;
		if (fileio_pread_full(fd, buf, len, from + pos)) {
			snprintf(err, errlen, "read error: %s", strerror(errno));
			free(buf);
			return -1;
		}
		crypto_generichash_update(&st, buf, len);
		pos += len;
	}
	crypto_generichash_final(&st, sum, sizeof sum);
	free(buf);
	if (sodium_memcmp(sum, hx->procs_hash, sizeof sum)) {
		snprintf(err, errlen, "checksum mismatch: snapshot is corrupt");
		return -1;
	}
	return 0;
}

int snapprocs_read(const struct host_snap *s, struct snap_procs **out, char *err, size_t errlen)
{
	return snapprocs_read_section(s->fd, s->hdr.data_offset + s->hdr.data_size, &s->hdr, &s->hext,
	                              out, err, errlen);
}

int snapprocs_read_section(int fd, uint64_t from, const struct cap_snap_header *h,
                           const struct cap_snap_header_ext *hx, struct snap_procs **out, char *err,
                           size_t errlen)
{
	uint64_t end = from + hx->procs_size;
	char why[256];
	struct snap_procs *p = calloc(1, sizeof *p);
	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->fd = fd;
	if (hash_matches(fd, hx, from, why, sizeof why))
		goto fail;
	if (fileio_pread_full(fd, &p->t, sizeof p->t, from)) {
		snprintf(why, sizeof why, "read error: %s", strerror(errno));
		goto fail;
	}
	if (cap_snap_check_procs(h, hx, &p->t, NULL, NULL, 0, why, sizeof why))
		goto fail;
	p->e = malloc((size_t)p->t.nprocs * sizeof *p->e);
	if (!p->e || fileio_pread_full(fd, p->e, (size_t)p->t.nprocs * sizeof *p->e, from + sizeof p->t)) {
		snprintf(why, sizeof why, "%s", p->e ? strerror(errno) : "out of memory");
		goto fail;
	}
	uint64_t meta_size = cap_snap_procs_meta_size(&p->t, p->e);
	if (meta_size == UINT64_MAX || meta_size > hx->procs_size) {
		snprintf(why, sizeof why, "held records or extents beyond their bounds");
		goto fail;
	}
	p->meta = malloc((size_t)meta_size);
	if (!p->meta || fileio_pread_full(fd, p->meta, (size_t)meta_size, from)) {
		snprintf(why, sizeof why, "%s", p->meta ? strerror(errno) : "out of memory");
		goto fail;
	}
	if (cap_snap_check_procs(h, hx, &p->t, p->e, p->meta, meta_size, why, sizeof why))
		goto fail;
	const uint8_t *at = p->meta + sizeof p->t + (size_t)p->t.nprocs * sizeof *p->e;
	for (uint32_t i = 0; i < p->t.nprocs; i++) {
		p->held[i] = (const struct cap_snap_held *)at;
		at += (size_t)p->e[i].nheld * sizeof(struct cap_snap_held);
	}
	uint64_t data = from + meta_size;
	for (uint32_t i = 0; i < p->t.nprocs; i++) {
		p->ext[i] = (const struct cap_snap_extent *)at;
		at += (size_t)p->e[i].nextents * sizeof(struct cap_snap_extent);
		p->data_at[i] = data;
		data += p->e[i].data_size;
	}
	*out = p;
	return 0;
fail:
	snprintf(err, errlen, "process table (file bytes %llu-%llu): %s", (unsigned long long)from,
	         (unsigned long long)end, why);
	snapprocs_free(p);
	return -1;
}

int snapprocs_read_mem(const struct host_snap *s, uint32_t i, uint64_t off, void *buf, size_t len)
{
	const struct snap_procs *p = s->procs;
	memset(buf, 0, len);
	if (!p || i >= p->t.nprocs)
		return -1;
	if (i == 0)
		return snapfile_read_mem(s, off, buf, len);
	uint64_t file_pos = p->data_at[i];
	for (uint32_t k = 0; k < p->e[i].nextents; k++) {
		const struct cap_snap_extent *e = &p->ext[i][k];
		uint64_t lo = off > e->offset ? off : e->offset;
		uint64_t hi = off + len < e->offset + e->length ? off + len : e->offset + e->length;
		if (lo < hi && fileio_pread_full(p->fd, (char *)buf + (lo - off), (size_t)(hi - lo),
		                                 file_pos + (lo - e->offset)))
			return -1;
		file_pos += e->length;
	}
	return 0;
}

int snapprocs_restore(const struct host_snap *s, uint32_t i, int memfd, char *err, size_t errlen)
{
	const struct snap_procs *p = s->procs;
	if (!p || i == 0 || i >= p->t.nprocs) {
		snprintf(err, errlen, "no process %u in the snapshot", i);
		return -1;
	}
	uint8_t *buf = malloc(COPY_CHUNK);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uint64_t pos = p->data_at[i];
	for (uint32_t k = 0; k < p->e[i].nextents; k++) {
		const struct cap_snap_extent *e = &p->ext[i][k];
		for (uint64_t done = 0; done < e->length;) {
			uint64_t left = e->length - done;
			size_t len = left > COPY_CHUNK ? COPY_CHUNK : (size_t)left;
			if (fileio_pread_full(p->fd, buf, len, pos) ||
			    fileio_pwrite_full(memfd, buf, len, e->offset + done)) {
				snprintf(err, errlen, "restoring the memory of process %d: %s", p->e[i].pid,
				         strerror(errno));
				free(buf);
				return -1;
			}
			done += len;
			pos += len;
		}
	}
	free(buf);
	return 0;
}
