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

/* The checksum over the header page (its checksum field zeroed) then the ELF, in pieces. */
struct image_sum {
	int blake2b;                      /* format version 1 */
	crypto_generichash_state b2;
	XXH3_state_t xxh3;
};

static void sum_begin(struct image_sum *s, const uint8_t *header_page)
{
	uint8_t page[CAP_IMAGE_HEADER_SIZE];
	memcpy(page, header_page, sizeof page);
	memset(page + offsetof(struct cap_image_header, checksum), 0, CAP_IMAGE_CHECKSUM_LEN);
	s->blake2b = image_header_version(header_page) == CAP_IMAGE_FORMAT_V1;
	if (s->blake2b) {
		if (sodium_init() < 0)
			abort();   /* only fails without a usable entropy source */
		crypto_generichash_init(&s->b2, NULL, 0, CAP_IMAGE_CHECKSUM_LEN);
		crypto_generichash_update(&s->b2, page, sizeof page);
	} else {
		XXH3_128bits_reset(&s->xxh3);
		XXH3_128bits_update(&s->xxh3, page, sizeof page);
	}
}

static void sum_add(struct image_sum *s, const uint8_t *p, size_t n)
{
	if (s->blake2b)
		crypto_generichash_update(&s->b2, p, n);
	else
		XXH3_128bits_update(&s->xxh3, p, n);
}

static void sum_end(struct image_sum *s, uint8_t out[CAP_IMAGE_CHECKSUM_LEN])
{
	if (s->blake2b) {
		crypto_generichash_final(&s->b2, out, CAP_IMAGE_CHECKSUM_LEN);
		return;
	}
	/* The zero tail is part of the value, so the caller's memcmp of all 32 bytes checks it. */
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&s->xxh3));
	memcpy(out, c.digest, CAP_IMAGE_XXH3_LEN);
	memset(out + CAP_IMAGE_XXH3_LEN, 0, CAP_IMAGE_CHECKSUM_LEN - CAP_IMAGE_XXH3_LEN);
}

void image_checksum(const uint8_t *header_page, const uint8_t *elf, size_t elf_size,
                         uint8_t out[CAP_IMAGE_CHECKSUM_LEN])
{
	struct image_sum s;
	sum_begin(&s, header_page);
	sum_add(&s, elf, elf_size);
	sum_end(&s, out);
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The header page's fields against the file's size, and its zero padding. */
static int check_page(const uint8_t *page, uint64_t file_size, struct cap_image_header *hdr,
                      char *err, size_t errlen)
{
	memset(hdr, 0, sizeof *hdr);
	memcpy(hdr, page, file_size < sizeof *hdr ? (size_t)file_size : sizeof *hdr);
	if (cap_image_check_header(hdr, file_size, err, errlen))
		return -1;
	if (!all_zero(page + sizeof *hdr, CAP_IMAGE_HEADER_SIZE - sizeof *hdr) ||
	    !all_zero((const uint8_t *)hdr->build_id + hdr->build_id_len,
	              CAP_IMAGE_BUILD_ID_MAX - hdr->build_id_len)) {
		snprintf(err, errlen, "malformed header (non-zero padding)");
		return -1;
	}
	return 0;
}

static int check_sum(const struct cap_image_header *hdr, const uint8_t sum[CAP_IMAGE_CHECKSUM_LEN],
                     char *err, size_t errlen)
{
	if (memcmp(sum, hdr->checksum, CAP_IMAGE_CHECKSUM_LEN) != 0) {
		snprintf(err, errlen, "checksum mismatch: image is corrupt");
		return -1;
	}
	return 0;
}

/* The ELF after a checked header: loadable by us, its build-id the header's. */
static int check_elf(const uint8_t *elf_bytes, const struct cap_image_header *hdr,
                     struct host_elf *elf, char *err, size_t errlen)
{
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

int image_validate(const uint8_t *file, size_t size, struct cap_image_header *hdr,
                        struct host_elf *elf, char *err, size_t errlen)
{
	uint8_t sum[CAP_IMAGE_CHECKSUM_LEN];
	if (check_page(file, size, hdr, err, errlen))
		return -1;
	const uint8_t *elf_bytes = file + CAP_IMAGE_HEADER_SIZE;
	image_checksum(file, elf_bytes, hdr->elf_size, sum);
	if (check_sum(hdr, sum, err, errlen))
		return -1;
	return check_elf(elf_bytes, hdr, elf, err, errlen);
}

/*
 * The checksum of the image in fd, read through one small buffer used again
 * and again: on a nested virtual machine a page's first touch costs about
 * 5 us even when it is mapped already, more than reading it (docs/STARTUP.md
 * section 13), so hashing a fresh mapping of the whole file cost twice this.
 */
static int checksum_file(int fd, const uint8_t *page, uint64_t elf_size,
                         uint8_t out[CAP_IMAGE_CHECKSUM_LEN])
{
	uint8_t buf[16384];
	struct image_sum s;
	sum_begin(&s, page);
	for (uint64_t off = 0; off < elf_size;) {
		size_t n = elf_size - off < sizeof buf ? (size_t)(elf_size - off) : sizeof buf;
		if (fileio_pread_full(fd, buf, n, CAP_IMAGE_HEADER_SIZE + off))
			return -1;
		sum_add(&s, buf, n);
		off += n;
	}
	sum_end(&s, out);
	return 0;
}

int image_open(const char *path, struct host_image *img, char *err, size_t errlen)
{
	struct stat st;
	uint8_t page[CAP_IMAGE_HEADER_SIZE] = { 0 };
	uint8_t sum[CAP_IMAGE_CHECKSUM_LEN];
	memset(img, 0, sizeof *img);
	img->fd = fileio_open_regular(path, err, errlen);
	if (img->fd < 0)
		return -1;
	if (fstat(img->fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	/* The header page first, checked against the size: never read an absurd file. */
	uint64_t size = (uint64_t)st.st_size;
	if (fileio_pread_full(img->fd, page, size < sizeof page ? (size_t)size : sizeof page, 0)) {
		snprintf(err, errlen, "read error");
		goto fail;
	}
	if (check_page(page, size, &img->hdr, err, errlen))
		goto fail;
	if (checksum_file(img->fd, page, img->hdr.elf_size, sum)) {
		snprintf(err, errlen, "read error");
		goto fail;
	}
	if (check_sum(&img->hdr, sum, err, errlen))
		goto fail;
	/*
	 * Mapped for the ELF's headers, not populated: the checks touch a page or
	 * two of it, and nothing needs it after them (the writable segments are
	 * copied from fd, the loader maps text from fd).  A file changed under a
	 * running capsule was never protected against.
	 */
	void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, img->fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "mapping the file: %s", strerror(errno));
		goto fail;
	}
	int bad = check_elf((const uint8_t *)m + CAP_IMAGE_HEADER_SIZE, &img->hdr, &img->elf_info,
	                    err, errlen);
	munmap(m, (size_t)size);
	if (bad)
		goto fail;
	return 0;
fail:
	image_close(img);
	return -1;
}

void image_close(struct host_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}
