/* image.c: reads a .cap file and validates all of it (header, checksum, build-id, ELF). */
#include "hosts/formats/image.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * XXH3 compiled into this file from Debian's libxxhash-dev header rather than
 * linked as libxxhash.so: one shared library more costs every caprun exec more
 * (mapping, relocation: section 1 of docs/STARTUP.md) than the hash itself.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

uint32_t image_header_version(const uint8_t *header_page)
{
	uint32_t v;
	memcpy(&v, header_page + offsetof(struct cap_image_header, format_version), sizeof v);
	return v;
}

const char *image_checksum_name(uint32_t format_version)
{
	return format_version == CAP_IMAGE_FORMAT_V1 ? "BLAKE2b-256" : "XXH3-128";
}

size_t image_checksum_used(uint32_t format_version)
{
	return format_version == CAP_IMAGE_FORMAT_V1 ? CAP_IMAGE_CHECKSUM_LEN : CAP_IMAGE_XXH3_LEN;
}

void image_checksum(const uint8_t *header_page, const uint8_t *elf, size_t elf_size,
                         uint8_t out[CAP_IMAGE_CHECKSUM_LEN])
{
	uint8_t page[CAP_IMAGE_HEADER_SIZE];
	memcpy(page, header_page, sizeof page);
	memset(page + offsetof(struct cap_image_header, checksum), 0, CAP_IMAGE_CHECKSUM_LEN);
	if (image_header_version(header_page) == CAP_IMAGE_FORMAT_V1) {
		crypto_generichash_state st;
		if (sodium_init() < 0)
			abort();   /* only fails without a usable entropy source */
		crypto_generichash_init(&st, NULL, 0, CAP_IMAGE_CHECKSUM_LEN);
		crypto_generichash_update(&st, page, sizeof page);
		crypto_generichash_update(&st, elf, elf_size);
		crypto_generichash_final(&st, out, CAP_IMAGE_CHECKSUM_LEN);
		return;
	}
	/* The zero tail is part of the value, so the caller's memcmp of all 32 bytes checks it. */
	XXH3_state_t st;
	XXH128_canonical_t c;
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, page, sizeof page);
	XXH3_128bits_update(&st, elf, elf_size);
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
	memcpy(out, c.digest, CAP_IMAGE_XXH3_LEN);
	memset(out + CAP_IMAGE_XXH3_LEN, 0, CAP_IMAGE_CHECKSUM_LEN - CAP_IMAGE_XXH3_LEN);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int image_validate(const uint8_t *file, size_t size, struct cap_image_header *hdr,
                        struct host_elf *elf, char *err, size_t errlen)
{
	memset(hdr, 0, sizeof *hdr);
	memcpy(hdr, file, size < sizeof *hdr ? size : sizeof *hdr);
	if (cap_image_check_header(hdr, size, err, errlen))
		return -1;
	if (!all_zero(file + sizeof *hdr, CAP_IMAGE_HEADER_SIZE - sizeof *hdr) ||
	    !all_zero((const uint8_t *)hdr->build_id + hdr->build_id_len,
	              CAP_IMAGE_BUILD_ID_MAX - hdr->build_id_len)) {
		snprintf(err, errlen, "malformed header (non-zero padding)");
		return -1;
	}
	const uint8_t *elf_bytes = file + CAP_IMAGE_HEADER_SIZE;
	uint8_t sum[CAP_IMAGE_CHECKSUM_LEN];
	image_checksum(file, elf_bytes, hdr->elf_size, sum);
	if (memcmp(sum, hdr->checksum, sizeof sum) != 0) {
		snprintf(err, errlen, "checksum mismatch: image is corrupt");
		return -1;
	}
	if (elfload_check(elf_bytes, hdr->elf_size, elf, err, errlen))
		return -1;
	uint8_t id[CAP_IMAGE_BUILD_ID_MAX];
	int n = elfload_build_id(elf_bytes, hdr->elf_size, id, sizeof id, err, errlen);
	if (n < 0)
		return -1;
	if ((uint32_t)n != hdr->build_id_len || memcmp(id, hdr->build_id, (size_t)n) != 0) {
		snprintf(err, errlen, "build-id in the header does not match the ELF");
		return -1;
	}
	return 0;
}

int image_open(const char *path, struct host_image *img, char *err, size_t errlen)
{
	struct stat st;
	memset(img, 0, sizeof *img);
	img->fd = fileio_open_regular(path, err, errlen);
	if (img->fd < 0)
		return -1;
	if (fstat(img->fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	/* Check the header against the size first: never read an absurd file. */
	struct cap_image_header head = { 0 };
	size_t head_len = (uint64_t)st.st_size < sizeof head ? (size_t)st.st_size : sizeof head;
	if (fileio_pread_full(img->fd, (uint8_t *)&head, head_len, 0)) {
		snprintf(err, errlen, "read error");
		goto fail;
	}
	if (cap_image_check_header(&head, (uint64_t)st.st_size, err, errlen))
		goto fail;
	/*
	 * Mapped, not read: no copy into anonymous memory, and the pages are the
	 * page cache's, shared with the loader's text mappings and every other
	 * capsule of this image.  (Text is mapped from the file anyway, so a
	 * file changed under a running capsule was never protected against.)
	 */
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, img->fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "mapping the file: %s", strerror(errno));
		goto fail;
	}
	img->file = m;
	img->file_size = (size_t)st.st_size;
	if (image_validate(img->file, img->file_size, &img->hdr, &img->elf_info, err, errlen))
		goto fail;
	img->elf = img->file + CAP_IMAGE_HEADER_SIZE;
	img->elf_size = img->hdr.elf_size;
	return 0;
fail:
	image_close(img);
	return -1;
}

void image_drop_bytes(struct host_image *img)
{
	if (img->file)
		munmap((void *)img->file, img->file_size);
	img->file = NULL;
	img->elf = NULL;
}

void image_close(struct host_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	image_drop_bytes(img);
	img->fd = -1;
}
