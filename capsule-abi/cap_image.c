/* cap_image.c: validation of .cap headers, shared by every tool that reads images. */
#include "cap_image.h"
#include "cap_abi.h"

#include <stdio.h>
#include <string.h>

int cap_name_valid(const char *name)
{
	size_t n = 0;
	for (; name[n]; n++) {
		char c = name[n];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= CAP_IMAGE_NAME_MAX - 1)
			return 0;
	}
	return n > 0 && name[0] != '.' && name[0] != '-';
}

int cap_image_check_header(const struct cap_image_header *h, uint64_t file_size,
                           char *err, size_t errlen)
{
	if (file_size < CAP_IMAGE_HEADER_SIZE) {
		snprintf(err, errlen, "truncated: %llu bytes, a header alone is %u",
		         (unsigned long long)file_size, CAP_IMAGE_HEADER_SIZE);
		return -1;
	}
	if (memcmp(h->magic, CAP_IMAGE_MAGIC, CAP_IMAGE_MAGIC_LEN) != 0) {
		snprintf(err, errlen, "wrong magic: not a capsule image");
		return -1;
	}
	if (h->format_version != CAP_IMAGE_FORMAT_VERSION &&
	    h->format_version != CAP_IMAGE_FORMAT_V1) {
		snprintf(err, errlen, "image format version %u, this host reads %u and %u",
		         h->format_version, CAP_IMAGE_FORMAT_V1, CAP_IMAGE_FORMAT_VERSION);
		return -1;
	}
	if (h->abi_version != CAP_ABI_VERSION) {
		snprintf(err, errlen, "ABI version %u, this host speaks %u",
		         h->abi_version, CAP_ABI_VERSION);
		return -1;
	}
	if (h->header_size != CAP_IMAGE_HEADER_SIZE || h->flags != 0 || h->reserved != 0) {
		snprintf(err, errlen, "malformed header (size %u, flags %#x)",
		         h->header_size, h->flags);
		return -1;
	}
	if (h->elf_size == 0 || h->elf_size > CAP_IMAGE_MAX_ELF) {
		snprintf(err, errlen, "oversized or empty ELF: %llu bytes (limit %lu)",
		         (unsigned long long)h->elf_size, CAP_IMAGE_MAX_ELF);
		return -1;
	}
	if (file_size != CAP_IMAGE_HEADER_SIZE + h->elf_size) {
		snprintf(err, errlen, "%s: file is %llu bytes, header says %llu",
		         file_size < CAP_IMAGE_HEADER_SIZE + h->elf_size ? "truncated" : "trailing data",
		         (unsigned long long)file_size,
		         (unsigned long long)(CAP_IMAGE_HEADER_SIZE + h->elf_size));
		return -1;
	}
	if (h->mem_size < CAP_ARENA_MIN || h->mem_size > CAP_ARENA_MAX ||
	    h->mem_size % CAP_PAGE_SIZE) {
		snprintf(err, errlen, "memory size %llu out of range (%lu..%lu, page multiple)",
		         (unsigned long long)h->mem_size, CAP_ARENA_MIN, CAP_ARENA_MAX);
		return -1;
	}
	if (h->build_id_len == 0 || h->build_id_len > CAP_IMAGE_BUILD_ID_MAX) {
		snprintf(err, errlen, "bad build-id length %u", h->build_id_len);
		return -1;
	}
	if (memchr(h->name, 0, sizeof h->name) == NULL || !cap_name_valid(h->name)) {
		snprintf(err, errlen, "bad image name");
		return -1;
	}
	return 0;
}
