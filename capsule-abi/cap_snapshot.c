/* cap_snapshot.c: validation of snapshot headers and extent tables, shared by every tool that reads them. */
#include "cap_snapshot.h"
#include "cap_abi.h"
#include "cap_image.h"

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

uint64_t cap_snap_data_offset(uint32_t format_version, uint32_t nextents, uint64_t data_size)
{
	return cap_snap_chunk_table_offset(nextents) +
	       page_up(cap_snap_chunk_count(format_version, data_size) * CAP_SNAP_CHUNK_HASH_LEN);
}

uint64_t cap_snap_file_size(const struct cap_snap_header *h)
{
	return cap_snap_data_offset(h->format_version, h->nextents, h->data_size) + h->data_size;
}

static int terminated(const char *s, size_t n)
{
	return memchr(s, 0, n) != NULL;
}

int cap_snap_check_header(const struct cap_snap_header *h, uint64_t file_size,
                          char *err, size_t errlen)
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
	if (file_size != h->data_offset + h->data_size) {
		snprintf(err, errlen, "%s: file is %llu bytes, header says %llu",
		         file_size < h->data_offset + h->data_size ? "truncated" : "trailing data",
		         (unsigned long long)file_size,
		         (unsigned long long)(h->data_offset + h->data_size));
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
