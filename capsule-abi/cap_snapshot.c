/* cap_snapshot.c: validation of snapshot headers and extent tables, shared by every tool that reads them. */
#include "cap_snapshot.h"
#include "cap_abi.h"
#include "cap_image.h"
#include "cap_proc.h"

#include <stdio.h>
#include <string.h>

static uint64_t page_up(uint64_t n)
{
	return (n + CAP_PAGE_SIZE - 1) / CAP_PAGE_SIZE * CAP_PAGE_SIZE;
}

uint64_t cap_snap_chunk_table_offset(uint32_t nextents)
{
	return CAP_SNAP_HEADER_SIZE + page_up((uint64_t)nextents * sizeof(struct cap_snap_extent));
}

uint64_t cap_snap_chunk_count(uint32_t format_version, uint64_t data_size)
{
	if (format_version < 3)
		return 0;
	return (data_size + CAP_SNAP_CHUNK_SIZE - 1) / CAP_SNAP_CHUNK_SIZE;
}

size_t cap_snap_chunk_entry_len(uint32_t format_version)
{
	return format_version >= CAP_SNAP_FORMAT_TAGS ? CAP_SNAP_CHUNK_TAG_LEN : CAP_SNAP_CHUNK_HASH_LEN;
}

int cap_snap_has_procs(const struct cap_snap_header *h, const struct cap_snap_header_ext *x)
{
	return h->format_version == CAP_SNAP_FORMAT_PROCS ||
	       (h->format_version >= CAP_SNAP_FORMAT_TAGS && x && x->procs_size);
}

uint64_t cap_snap_data_offset(uint32_t format_version, uint32_t nextents, uint64_t data_size)
{
	return cap_snap_chunk_table_offset(nextents) +
	       page_up(cap_snap_chunk_count(format_version, data_size) *
	               cap_snap_chunk_entry_len(format_version));
}

uint64_t cap_snap_file_size_ext(const struct cap_snap_header *h, const struct cap_snap_header_ext *x)
{
	return cap_snap_data_offset(h->format_version, h->nextents, h->data_size) + h->data_size +
	       (cap_snap_has_procs(h, x) ? x->procs_size : 0);
}

uint64_t cap_snap_file_size(const struct cap_snap_header *h)
{
	return cap_snap_file_size_ext(h, NULL);
}

static int terminated(const char *s, size_t n)
{
	return memchr(s, 0, n) != NULL;
}

int cap_snap_check_header(const struct cap_snap_header *h, uint64_t file_size,
                          char *err, size_t errlen)
{
	static const struct cap_snap_header_ext none;
	return cap_snap_check_header_ext(h, &none, file_size, err, errlen);
}

int cap_snap_check_header_ext(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                              uint64_t file_size, char *err, size_t errlen)
{
	if (file_size < CAP_SNAP_HEADER_SIZE) {
		snprintf(err, errlen, "truncated: %llu bytes, a header alone is %u",
		         (unsigned long long)file_size, CAP_SNAP_HEADER_SIZE);
		return -1;
	}
	if (memcmp(h->magic, CAP_SNAP_MAGIC, CAP_SNAP_MAGIC_LEN) != 0) {
		snprintf(err, errlen, "wrong magic: not a capsule snapshot");
		return -1;
	}
	if (h->format_version == 1) {
		snprintf(err, errlen, "snapshot format version 1 carries no authentication; this host "
		         "reads only versions %u to %u", CAP_SNAP_FORMAT_OLDEST, CAP_SNAP_FORMAT_VERSION);
		return -1;
	}
	if (h->format_version < CAP_SNAP_FORMAT_OLDEST || h->format_version > CAP_SNAP_FORMAT_VERSION) {
		snprintf(err, errlen, "snapshot format version %u, this host reads %u to %u",
		         h->format_version, CAP_SNAP_FORMAT_OLDEST, CAP_SNAP_FORMAT_VERSION);
		return -1;
	}
	if (h->abi_version != CAP_ABI_VERSION) {
		snprintf(err, errlen, "ABI version %u, this host speaks %u",
		         h->abi_version, CAP_ABI_VERSION);
		return -1;
	}
	if (h->header_size != CAP_SNAP_HEADER_SIZE || h->flags != 0) {
		snprintf(err, errlen, "malformed header (size %u, flags %#x)", h->header_size, h->flags);
		return -1;
	}
	if (h->build_id_len == 0 || h->build_id_len > sizeof h->build_id) {
		snprintf(err, errlen, "bad build-id length %u", h->build_id_len);
		return -1;
	}
	if (!terminated(h->image_name, sizeof h->image_name) ||
	    !terminated(h->image_path, sizeof h->image_path) ||
	    !terminated(h->capsule_name, sizeof h->capsule_name) ||
	    !cap_name_valid(h->capsule_name) || !cap_name_valid(h->image_name)) {
		snprintf(err, errlen, "bad name in header");
		return -1;
	}
	if (h->arena_size < CAP_ARENA_MIN || h->arena_size > CAP_ARENA_MAX ||
	    h->memfd_size != CAP_MEMFD_OFFSET(CAP_ARENA_BASE + h->arena_size)) {
		snprintf(err, errlen, "inconsistent memory size (arena %llu, memfd %llu)",
		         (unsigned long long)h->arena_size, (unsigned long long)h->memfd_size);
		return -1;
	}
	/* data_size is bounded before it sizes the chunk table (no wrap-around below). */
	if (h->data_size > h->memfd_size || h->data_size % CAP_PAGE_SIZE) {
		snprintf(err, errlen, "bad data size %llu", (unsigned long long)h->data_size);
		return -1;
	}
	if (h->nextents == 0 || h->nextents > CAP_SNAP_MAX_EXTENTS ||
	    h->data_offset != cap_snap_data_offset(h->format_version, h->nextents, h->data_size)) {
		snprintf(err, errlen, "bad extent count %u", h->nextents);
		return -1;
	}
	/* Version 4 has a process section, version 5 may (bounded before it is added: no
	 * wrap-around).  Before, those header bytes were padding: the checksum covers them,
	 * nothing reads them. */
	if (cap_snap_has_procs(h, x) &&
	    (x->procs_size < CAP_PAGE_SIZE || x->procs_size % CAP_PAGE_SIZE ||
	     x->procs_size > (uint64_t)CAP_SNAP_PROCS_MAX * h->memfd_size)) {
		snprintf(err, errlen, "bad process section size %llu for format version %u",
		         (unsigned long long)x->procs_size, h->format_version);
		return -1;
	}
	/* Version 5's tags need the file's salt; a writer never leaves it zero (16 random
	 * bytes), and an all-zero one is what a header with no header page has. */
	static const uint8_t no_salt[CAP_SNAP_SALT_LEN];
	if (h->format_version >= CAP_SNAP_FORMAT_TAGS &&
	    memcmp(x->chunk_salt, no_salt, sizeof no_salt) == 0) {
		snprintf(err, errlen, "format version %u without its chunk salt", h->format_version);
		return -1;
	}
	uint64_t want = cap_snap_file_size_ext(h, x);
	if (file_size != want) {
		snprintf(err, errlen, "%s: file is %llu bytes, header says %llu",
		         file_size < want ? "truncated" : "trailing data",
		         (unsigned long long)file_size, (unsigned long long)want);
		return -1;
	}
	return 0;
}

uint64_t cap_snap_procs_meta_size(const struct cap_snap_procs *t, const struct cap_snap_proc *e)
{
	if (t->nprocs > CAP_SNAP_PROCS_MAX || t->nprograms > CAP_SNAP_PROGRAMS_MAX)
		return UINT64_MAX;
	uint64_t n = sizeof *t + (uint64_t)t->nprocs * sizeof *e +
	             (uint64_t)t->nprograms * sizeof(struct cap_snap_program);
	for (uint32_t i = 0; i < t->nprocs; i++) {
		if (e[i].nheld > CAP_SNAP_HELD_MAX || e[i].nextents > CAP_SNAP_MAX_EXTENTS)
			return UINT64_MAX;
		n += (uint64_t)e[i].nheld * sizeof(struct cap_snap_held) +
		     (uint64_t)e[i].nextents * sizeof(struct cap_snap_extent);
	}
	return page_up(n);
}

/* One process's held records and extents (entry i, at ext in the section's table). */
static int check_proc(const struct cap_snap_header *h, const struct cap_snap_proc *e, uint32_t i,
                      const struct cap_snap_held *held, const struct cap_snap_extent *ext,
                      char *err, size_t errlen)
{
	for (uint32_t k = 0; k < e->nheld; k++) {
		struct cap_snap_held r;
		memcpy(&r, &held[k], sizeof r);
		if (!cap_proc_held_type(r.type)) {
			snprintf(err, errlen, "entry %u (pid %d): held record %u has type %u", i, e->pid, k,
			         r.type);
			return -1;
		}
	}
	struct cap_snap_header mem = *h;   /* the same checks as pid 1's extents */
	mem.nextents = e->nextents;
	mem.data_size = e->data_size;
	char why[160];
	int r = cap_snap_check_extents(&mem, ext, why, sizeof why);
	if (r)
		snprintf(err, errlen, "entry %u (pid %d): %s", i, e->pid, why);
	return r;
}

/* Each program (at prog, after the extents) well formed and run by some process. */
static int check_programs(const struct cap_snap_procs *t, const struct cap_snap_proc *e,
                          const struct cap_snap_program *prog, char *err, size_t errlen)
{
	for (uint32_t k = 0; k < t->nprograms; k++) {
		struct cap_snap_program p;
		memcpy(&p, &prog[k], sizeof p);
		int used = 0;
		for (uint32_t i = 0; i < t->nprocs && !used; i++)
			used = e[i].program == k + 1;
		if (!used || p.build_id_len == 0 || p.build_id_len > sizeof p.build_id || p.reserved ||
		    p.path[0] != '/' || !terminated(p.name, sizeof p.name) ||
		    !terminated(p.path, sizeof p.path)) {
			snprintf(err, errlen, "program %u: %s", k + 1,
			         used ? "not a program description" : "run by no process");
			return -1;
		}
	}
	return 0;
}

int cap_snap_check_procs(const struct cap_snap_header *h, const struct cap_snap_header_ext *x,
                         const struct cap_snap_procs *t,
                         const struct cap_snap_proc *e, const uint8_t *meta, uint64_t meta_len,
                         char *err, size_t errlen)
{
	if (memcmp(t->magic, CAP_SNAP_PROCS_MAGIC, sizeof t->magic) || t->entry_size != sizeof *e) {
		snprintf(err, errlen, "not a process table (magic, entry size %u)", t->entry_size);
		return -1;
	}
	if (t->nprograms > CAP_SNAP_PROGRAMS_MAX || t->nprograms > t->nprocs) {
		snprintf(err, errlen, "%u programs for %u processes", t->nprograms, t->nprocs);
		return -1;
	}
	if (t->nprocs < 1 || t->nprocs > CAP_SNAP_PROCS_MAX || t->next_pid <= t->nprocs ||
	    t->next_pid > INT32_MAX) {
		snprintf(err, errlen, "%u processes, next pid %u (1 to %u processes)", t->nprocs,
		         t->next_pid, CAP_SNAP_PROCS_MAX);
		return -1;
	}
	if (!e)
		return 0;
	uint64_t meta_size = cap_snap_procs_meta_size(t, e), data = 0;
	if (meta_size == UINT64_MAX || meta_size > meta_len) {
		snprintf(err, errlen, "held records or extents beyond their bounds");
		return -1;
	}
	uint64_t slots = 0;
	for (uint32_t i = 0; i < t->nprocs; i++) {
		const struct cap_snap_proc *p = &e[i];
		int parent = i == 0;
		for (uint32_t k = 0; k < t->nprocs && !parent; k++)
			parent = k != i && e[k].pid == p->ppid;
		for (uint32_t k = 0; k < i; k++)
			if (e[k].pid == p->pid)
				parent = 0;   /* a pid twice */
		int root_ok = i == 0 ? p->pid == 1 && p->ppid == 0 && p->slot == 0 && p->nextents == 0 &&
		                       p->data_size == 0
		                     : p->pid >= 2 && (uint32_t)p->pid < t->next_pid && p->slot > 0 &&
		                       p->nextents > 0;
		if (!root_ok || !parent || p->slot >= CAP_SNAP_PROCS_MAX || (slots >> p->slot & 1) ||
		    p->program > t->nprograms) {
			snprintf(err, errlen, "entry %u (pid %d, parent %d, slot %u): not a process of this "
			         "capsule", i, p->pid, p->ppid, p->slot);
			return -1;
		}
		slots |= 1ULL << p->slot;
		data += p->data_size;
	}
	const uint8_t *at = meta + sizeof *t + (uint64_t)t->nprocs * sizeof *e;
	const uint8_t *ext_at = at;
	for (uint32_t i = 0; i < t->nprocs; i++)
		ext_at += (uint64_t)e[i].nheld * sizeof(struct cap_snap_held);
	for (uint32_t i = 0; i < t->nprocs; i++) {
		if (check_proc(h, &e[i], i, (const struct cap_snap_held *)at,
		               (const struct cap_snap_extent *)ext_at, err, errlen))
			return -1;
		at += (uint64_t)e[i].nheld * sizeof(struct cap_snap_held);
		ext_at += (uint64_t)e[i].nextents * sizeof(struct cap_snap_extent);
	}
	if (check_programs(t, e, (const struct cap_snap_program *)ext_at, err, errlen))
		return -1;
	if (meta_size + data != x->procs_size) {
		snprintf(err, errlen, "the section is %llu bytes, its table says %llu",
		         (unsigned long long)x->procs_size, (unsigned long long)(meta_size + data));
		return -1;
	}
	return 0;
}

int cap_snap_check_extents(const struct cap_snap_header *h,
                           const struct cap_snap_extent *ext, char *err, size_t errlen)
{
	uint64_t end = 0, total = 0;
	for (uint32_t i = 0; i < h->nextents; i++) {
		const struct cap_snap_extent *e = &ext[i];
		if (e->length == 0 || e->offset % CAP_PAGE_SIZE || e->length % CAP_PAGE_SIZE ||
		    e->offset < end || e->offset > h->memfd_size ||
		    e->length > h->memfd_size - e->offset) {
			snprintf(err, errlen, "bad extent %u (offset %llu, length %llu)", i,
			         (unsigned long long)e->offset, (unsigned long long)e->length);
			return -1;
		}
		end = e->offset + e->length;
		total += e->length;
	}
	if (total != h->data_size) {
		snprintf(err, errlen, "extents add up to %llu bytes, header says %llu",
		         (unsigned long long)total, (unsigned long long)h->data_size);
		return -1;
	}
	return 0;
}

int cap_snap_check_control(const struct cap_control *ctl, const struct cap_snap_header *h,
                           char *err, size_t errlen)
{
	if (ctl->magic != CAP_CONTROL_MAGIC || ctl->abi_version != CAP_ABI_VERSION ||
	    ctl->size != sizeof *ctl || ctl->freeze_count == 0 ||
	    ctl->resume_ctx.rip < CAP_IMAGE_BASE || ctl->resume_ctx.rip >= CAP_IMAGE_LIMIT ||
	    ctl->resume_ctx.rsp < CAP_VBASE + CAP_RESUME_SCRATCH ||
	    ctl->resume_ctx.rsp > CAP_ARENA_BASE + h->arena_size) {
		snprintf(err, errlen, "the snapshot holds no frozen control page");
		return -1;
	}
	return 0;
}
