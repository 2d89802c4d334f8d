/* capctl_info.c: `capctl info`: prints an image's manifest and whether it validates. */
#include "hosts/capctl/capctl.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = 0;
}

int capctl_info(int argc, char **argv)
{
	static const char usage[] = "info [--json] IMAGE.cap";
	int json;
	const char *path = capctl_json_arg(argc, argv, usage, &json);
	if (!path)
		return 2;
	char err[256] = "";
	struct host_image img;
	/* Full validation first; on failure still show what the header says, if it is sane. */
	int valid = image_open(path, &img, err, sizeof err) == 0;
	struct cap_image_header h;
	uint8_t page[CAP_IMAGE_HEADER_SIZE];
	if (valid) {
		h = img.hdr;
		image_close(&img);
	} else {
		char herr[256];
		int fd = fileio_open_regular(path, herr, sizeof herr);
		struct stat st;
		memset(page, 0, sizeof page);
		if (fd < 0 || fstat(fd, &st) < 0 || pread(fd, page, sizeof page, 0) < 0 ||
		    (memcpy(&h, page, sizeof h), cap_image_check_header(&h, (uint64_t)st.st_size,
		                                                        herr, sizeof herr))) {
			fprintf(stderr, "capctl: info: %s: %s\n", path, err);
			if (fd >= 0)
				close(fd);
			return 2;
		}
		close(fd);
	}
	char id[2 * CAP_IMAGE_BUILD_ID_MAX + 1], sum[2 * CAP_IMAGE_CHECKSUM_LEN + 1];
	hex(id, h.build_id, h.build_id_len);
	/* Version 2 uses 16 of the field's 32 bytes (the rest is checked zero): show those. */
	hex(sum, h.checksum, image_checksum_used(h.format_version));
	const char *algo = image_checksum_name(h.format_version);
	if (json) {
		printf("{\"name\": \"%s\", \"format_version\": %u, \"abi_version\": %u, "
		       "\"mem_size\": %llu, \"build_id\": \"%s\", \"elf_size\": %llu, "
		       "\"checksum\": \"%s\", \"checksum_algorithm\": \"%s\", \"valid\": %s, "
		       "\"error\": ",
		       h.name, h.format_version, h.abi_version, (unsigned long long)h.mem_size, id,
		       (unsigned long long)h.elf_size, sum, algo, valid ? "true" : "false");
		if (valid)
			printf("null");
		else
			capctl_json_str(err);
		printf("}\n");
	} else {
		printf("name:           %s\n", h.name);
		printf("format version: %u\n", h.format_version);
		printf("ABI version:    %u\n", h.abi_version);
		printf("memory size:    %llu (%llu MiB)\n", (unsigned long long)h.mem_size,
		       (unsigned long long)(h.mem_size >> 20));
		printf("build-id:       %s\n", id);
		printf("ELF size:       %llu\n", (unsigned long long)h.elf_size);
		printf("checksum:       %s %s%s\n", algo, sum, valid ? " (ok)" : "");
		if (!valid)
			printf("valid:          no (%s)\n", err);
		else
			printf("valid:          yes\n");
	}
	if (!valid)
		fprintf(stderr, "capctl: info: %s: %s\n", path, err);
	return valid ? 0 : 2;   /* an invalid image is bad input, as for caprun */
}
