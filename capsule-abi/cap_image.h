/* cap_image.h: the .cap image format: a 4 KiB header/manifest followed by a static ELF. */
#ifndef CAP_IMAGE_H
#define CAP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/*
 * File layout (all integers little-endian):
 *
 *   offset 0     struct cap_image_header, zero-padded to CAP_IMAGE_HEADER_SIZE
 *   offset 4096  the capsule's ELF executable (ET_EXEC, x86_64, static),
 *                elf_size bytes, page aligned so its segments can be
 *                mmap'ed straight from the .cap file
 *
 * checksum = a hash over the 4096 header bytes with the (whole) checksum
 * field zeroed, followed by the elf_size ELF bytes:
 *   format version 2: XXH3-128 (seed 0), its canonical 16 bytes (big-endian,
 *                     as xxhsum -H2 prints it) in checksum[0..16), and
 *                     checksum[16..32) zero (checked: part of the match);
 *   format version 1: BLAKE2b-256 (unkeyed), all 32 bytes; still read.
 * Unkeyed either way: it catches accidents, not attackers (snapshots bind to an
 * image by build-id).  See docs/FORMAT-IMAGE.md.
 */
#define CAP_IMAGE_MAGIC          "CAPIMG\r\n"   /* \r\n catches text-mode mangling */
#define CAP_IMAGE_MAGIC_LEN      8
#define CAP_IMAGE_FORMAT_VERSION 2u   /* written by capctl pack: XXH3-128 checksum */
#define CAP_IMAGE_FORMAT_V1      1u   /* BLAKE2b-256 checksum: read, no longer written */
#define CAP_IMAGE_HEADER_SIZE    4096u
#define CAP_IMAGE_MAX_ELF        (256UL << 20)  /* larger images are refused */
#define CAP_IMAGE_NAME_MAX       64
#define CAP_IMAGE_BUILD_ID_MAX   32
#define CAP_IMAGE_CHECKSUM_LEN   32
#define CAP_IMAGE_XXH3_LEN       16   /* version 2's bytes of checksum[]; the rest zero */

struct cap_image_header {
	uint8_t  magic[CAP_IMAGE_MAGIC_LEN];  /* CAP_IMAGE_MAGIC */
	uint32_t format_version;              /* CAP_IMAGE_FORMAT_VERSION or _V1 */
	uint32_t abi_version;                 /* CAP_ABI_VERSION the image was linked for */
	uint32_t header_size;                 /* CAP_IMAGE_HEADER_SIZE = offset of the ELF */
	uint32_t flags;                       /* 0 */
	uint64_t elf_size;                    /* bytes of ELF after the header */
	uint64_t mem_size;                    /* arena bytes the capsule gets */
	uint32_t build_id_len;                /* bytes used in build_id */
	uint32_t reserved;                    /* 0 */
	uint8_t  build_id[CAP_IMAGE_BUILD_ID_MAX];   /* the ELF's NT_GNU_BUILD_ID */
	char     name[CAP_IMAGE_NAME_MAX];    /* NUL-terminated, [A-Za-z0-9._-]+ */
	uint8_t  checksum[CAP_IMAGE_CHECKSUM_LEN];
};
_Static_assert(sizeof(struct cap_image_header) == 176, "cap_image_header layout");
_Static_assert(sizeof(struct cap_image_header) <= CAP_IMAGE_HEADER_SIZE, "header fits");

/*
 * Check everything in a header that needs no hashing: magic, versions,
 * sizes against the real file size, name and build-id.  Returns 0 or -1
 * with a short reason ("wrong magic", "ABI version 7, this host speaks 1",
 * ...) written to err.
 */
int cap_image_check_header(const struct cap_image_header *h, uint64_t file_size,
                           char *err, size_t errlen);

/* 1 if name is a valid capsule/image name ([A-Za-z0-9._-], 1..63 chars). */
int cap_name_valid(const char *name);

#endif
