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

/* The table's number (1..) for prog, the same for the same program: *k.  0, or -1 when full. */
static int program_index(const struct cap_snap_program *programs[CAP_SNAP_PROGRAMS_MAX],
                         uint32_t *n, const struct cap_snap_program *prog, uint32_t *k)
{
	for (uint32_t i = 0; i < *n; i++)
		if (!memcmp(programs[i], prog, sizeof *prog)) {
			*k = i + 1;
			return 0;
		}
	if (*n == CAP_SNAP_PROGRAMS_MAX)
		return -1;
	programs[(*n)++] = prog;
	*k = *n;
	return 0;
}

/*
 * The table of set: entries, held records, each process's extents (its
 * memfd scanned sparsely) into *meta (malloc'd, *meta_size bytes: up to
 * the section's data, page padded), ext[i] (malloc'd) and e, t.  0, or -1
 * with err (the caller frees ext[] and *meta either way).
 */
static int make_table(const struct cap_snap_header *h, const struct snapprocs_set *set,
                      struct cap_snap_extent *ext[CAP_SNAP_PROCS_MAX],
                      struct cap_snap_proc e[CAP_SNAP_PROCS_MAX], struct cap_snap_procs *t,
                      uint8_t **meta, uint64_t *meta_size, char *err, size_t errlen)
{
	*t = (struct cap_snap_procs){ .nprocs = set->n, .entry_size = sizeof e[0],
	                              .next_pid = set->next_pid };
	memcpy(t->magic, CAP_SNAP_PROCS_MAGIC, sizeof t->magic);
	*meta = NULL;
	if (set->n < 1 || set->n > CAP_SNAP_PROCS_MAX) {
		snprintf(err, errlen, "%u processes", set->n);
		errno = EINVAL;
		return -1;
	}
	memset(e, 0, CAP_SNAP_PROCS_MAX * sizeof e[0]);
	const struct cap_snap_program *programs[CAP_SNAP_PROGRAMS_MAX];
	for (uint32_t i = 0; i < set->n; i++) {
		const struct snapprocs_src *p = &set->p[i];
		e[i] = (struct cap_snap_proc){ .pid = p->pid, .ppid = p->ppid, .slot = p->slot,
		                               .nheld = p->nheld };
		if (p->program && program_index(programs, &t->nprograms, p->program, &e[i].program)) {
			snprintf(err, errlen, "more than %u programs", CAP_SNAP_PROGRAMS_MAX);
			errno = E2BIG;
			return -1;
		}
		if (p->memfd < 0)
			continue;
		if (snapfile_scan(p->memfd, h->memfd_size, &ext[i], &e[i].nextents)) {
			snprintf(err, errlen, "scanning the memory of process %d: %s", p->pid, strerror(errno));
			return -1;
		}
		for (uint32_t k = 0; k < e[i].nextents; k++)
			e[i].data_size += ext[i][k].length;
	}
	*meta_size = cap_snap_procs_meta_size(t, e);
	if (*meta_size == UINT64_MAX) {
		snprintf(err, errlen, "too many held records or extents");
		errno = E2BIG;
		return -1;
	}
	uint8_t *at = *meta = calloc(1, (size_t)*meta_size);
	if (!at) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(at, t, sizeof *t);
	at += sizeof *t;
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
	for (uint32_t k = 0; k < t->nprograms; k++)
		memcpy(at + (size_t)k * sizeof *programs[k], programs[k], sizeof *programs[k]);
	return 0;
}

/* Never write what a reader would refuse: the table against the section size x says. */
static int table_ok(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                    const struct cap_snap_procs *t, const struct cap_snap_proc *e,
                    const uint8_t *meta, uint64_t meta_size, char *err, size_t errlen)
{
	if (cap_snap_check_procs(h, x, t, e, meta, meta_size, err, errlen)) {
		char why[256];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "refusing to write a bad process table: %s", why);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int snapprocs_table_write(int out, const struct cap_snap_header *h, const struct snapprocs_set *set,
                          struct snapprocs_table *tab, char *err, size_t errlen)
{
	struct cap_snap_proc e[CAP_SNAP_PROCS_MAX];
	struct cap_snap_procs t;
	struct cap_snap_header_ext x = { 0 };
	uint8_t *meta = NULL;
	memset(tab, 0, sizeof *tab);
	int rc = make_table(h, set, tab->ext, e, &t, &meta, &tab->size, err, errlen);
	if (rc == 0) {
		x.procs_size = tab->size;
		for (uint32_t i = 0; i < set->n; i++) {
			x.procs_size += e[i].data_size;
			tab->nextents[i] = e[i].nextents;
		}
		crypto_generichash(tab->hash, sizeof tab->hash, meta, (size_t)tab->size, NULL, 0);
		rc = table_ok(h, &x, &t, e, meta, tab->size, err, errlen);
	}
	if (rc == 0 && fileio_pwrite_full(out, meta, (size_t)tab->size, 0)) {
		snprintf(err, errlen, "writing the process table: %s", strerror(errno));
		rc = -1;
	}
	free(meta);
	if (rc)
		snapprocs_table_free(tab);
	return rc;
}

void snapprocs_table_free(struct snapprocs_table *tab)
{
	for (uint32_t i = 0; i < CAP_SNAP_PROCS_MAX; i++) {
		free(tab->ext[i]);
		tab->ext[i] = NULL;
	}
}

int snapprocs_write(int out, uint64_t pos, const struct cap_snap_header *h,
                    struct cap_snap_header_ext *x, const struct snapprocs_set *set, char *err,
                    size_t errlen)
{
	struct cap_snap_extent *ext[CAP_SNAP_PROCS_MAX] = { 0 };
	struct cap_snap_proc e[CAP_SNAP_PROCS_MAX];
	struct cap_snap_procs t;
	uint8_t *meta = NULL, *buf = NULL;
	uint64_t meta_size = 0;
	int rc = -1;
	if (make_table(h, set, ext, e, &t, &meta, &meta_size, err, errlen))
		goto out;
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
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
	if (table_ok(h, x, &t, e, meta, meta_size, err, errlen))
		goto out;
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

/*
 * The table at offset from of fd into p: header, entries, held records and
 * extents, checked against h and the section size x says (table_only: x
 * is made from the table itself, the section being the table alone, whose
 * data comes another way).  0, or -1 with why.
 */
static int read_table(int fd, uint64_t from, const struct cap_snap_header *h,
                      const struct cap_snap_header_ext *x, uint64_t limit, int table_only,
                      struct snap_procs *p, char *why, size_t whylen)
{
	if (fileio_pread_full(fd, &p->t, sizeof p->t, from)) {
		snprintf(why, whylen, "read error: %s", strerror(errno));
		return -1;
	}
	if (cap_snap_check_procs(h, x, &p->t, NULL, NULL, 0, why, whylen))
		return -1;
	p->e = malloc((size_t)p->t.nprocs * sizeof *p->e);
	if (!p->e || fileio_pread_full(fd, p->e, (size_t)p->t.nprocs * sizeof *p->e, from + sizeof p->t)) {
		snprintf(why, whylen, "%s", p->e ? strerror(errno) : "out of memory");
		return -1;
	}
	uint64_t meta_size = cap_snap_procs_meta_size(&p->t, p->e);
	if (meta_size == UINT64_MAX || meta_size > limit || (table_only && meta_size != limit)) {
		snprintf(why, whylen, "held records or extents beyond their bounds");
		return -1;
	}
	p->meta = malloc((size_t)meta_size);
	if (!p->meta || fileio_pread_full(fd, p->meta, (size_t)meta_size, from)) {
		snprintf(why, whylen, "%s", p->meta ? strerror(errno) : "out of memory");
		return -1;
	}
	struct cap_snap_header_ext own = { .procs_size = meta_size };
	for (uint32_t i = 0; table_only && i < p->t.nprocs; i++)
		own.procs_size += p->e[i].data_size;
	if (cap_snap_check_procs(h, table_only ? &own : x, &p->t, p->e, p->meta, meta_size, why, whylen))
		return -1;
	const uint8_t *at = p->meta + sizeof p->t + (size_t)p->t.nprocs * sizeof *p->e;
	for (uint32_t i = 0; i < p->t.nprocs; i++) {
		p->held[i] = (const struct cap_snap_held *)at;
		at += (size_t)p->e[i].nheld * sizeof(struct cap_snap_held);
	}
	uint64_t data = from + meta_size;
	for (uint32_t i = 0; i < p->t.nprocs; i++) {
		p->ext[i] = (const struct cap_snap_extent *)at;
		at += (size_t)p->e[i].nextents * sizeof(struct cap_snap_extent);
		p->data_at[i] = table_only ? 0 : data;
		data += p->e[i].data_size;
	}
	p->programs = (const struct cap_snap_program *)at;
	return 0;
}

int snapprocs_read_section(int fd, uint64_t from, const struct cap_snap_header *h,
                           const struct cap_snap_header_ext *hx, struct snap_procs **out, char *err,
                           size_t errlen)
{
	char why[256];
	struct snap_procs *p = calloc(1, sizeof *p);
	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->fd = fd;
	if (hash_matches(fd, hx, from, why, sizeof why) ||
	    read_table(fd, from, h, hx, hx->procs_size, 0, p, why, sizeof why)) {
		snprintf(err, errlen, "process table (file bytes %llu-%llu): %s", (unsigned long long)from,
		         (unsigned long long)(from + hx->procs_size), why);
		snapprocs_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int snapprocs_read_table(int fd, uint64_t size, const uint8_t hash[32], const struct cap_snap_header *h,
                         struct snap_procs **out, char *err, size_t errlen)
{
	char why[256];
	struct cap_snap_header_ext x = { .procs_size = size };
	struct snap_procs *p = calloc(1, sizeof *p);
	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	p->fd = -1;   /* no data here: each process's memory came into its own memfd */
	memcpy(x.procs_hash, hash, sizeof x.procs_hash);
	if (hash_matches(fd, &x, 0, why, sizeof why) ||
	    read_table(fd, 0, h, &x, size, 1, p, why, sizeof why)) {
		snprintf(err, errlen, "process table (%llu bytes): %s", (unsigned long long)size, why);
		snapprocs_free(p);
		return -1;
	}
	*out = p;
	return 0;
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
