/* image.h: reading and fully validating a .cap image file on the host. */
#ifndef HOST_IMAGE_H
#define HOST_IMAGE_H

#include "capsule-abi/cap_image.h"
#include "hosts/formats/elfload.h"

#include <stddef.h>
#include <stdint.h>

struct host_image {
	struct cap_image_header hdr;
	struct host_elf elf_info;
	int fd;                   /* read-only, close-on-exec: the loader maps from it; -1 if closed */
};

/*
 * The checksum field's 32 bytes for the 4096 header bytes (checksum field
 * zeroed) then the ELF, by the format version in header_page: version 1
 * BLAKE2b-256, any other XXH3-128 in the first 16 bytes and zeros after
 * (capsule-abi/cap_image.h).  The caller checks the version first.
 */
void image_checksum(const uint8_t *header_page, const uint8_t *elf, size_t elf_size,
                         uint8_t out[CAP_IMAGE_CHECKSUM_LEN]);
/* The format_version of a header page, read without alignment assumptions. */
uint32_t image_header_version(const uint8_t *header_page);
/* The checksum's algorithm ("XXH3-128") and how many of its 32 bytes carry it. */
const char *image_checksum_name(uint32_t format_version);
size_t image_checksum_used(uint32_t format_version);

/*
 * Validate a whole image held in memory: header fields, zero padding,
 * checksum, build-id, ELF.  Fills hdr and elf.  Returns 0 or -1 + err.
 */
int image_validate(const uint8_t *file, size_t size, struct cap_image_header *hdr,
                        struct host_elf *elf, char *err, size_t errlen);

/*
 * Open and validate path, keeping what was learnt (hdr, elf_info) and the
 * descriptor, not its bytes: the writable segments are copied from fd, the
 * loader maps text from it.  Returns 0 or -1 + err (img->fd is then -1).
 */
int image_open(const char *path, struct host_image *img, char *err, size_t errlen);
void image_close(struct host_image *img);

#endif
