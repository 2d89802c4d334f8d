/* capctl_pack.c: `capctl pack`: wraps a static capsule ELF in a .cap header (atomic write). */
#include "hosts/capctl/capctl.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/image.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int capctl_pack_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 0: break;
	default: return -1;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B' && shift)
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static uint8_t *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = fileio_open_regular(path, err, errlen);
	struct stat st;
	uint8_t *buf = NULL;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > CAP_IMAGE_MAX_ELF) {
		snprintf(err, errlen, "%llu bytes, want 1..%lu", (unsigned long long)st.st_size,
		         CAP_IMAGE_MAX_ELF);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "read error");
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	if (!buf)
		snprintf(err, errlen, "out of memory");
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

/* temp file + fsync + rename (+ fsync of the directory): never a half-written image. */
static int write_image(const char *out, const uint8_t *page, const uint8_t *elf, size_t elf_size,
                       char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	/* A configure-style probe links "-o /dev/null": a rename would replace the device. */
	if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file: an image is written only as a file");
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", out) >= sizeof tmp) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (write_all(fd, page, CAP_IMAGE_HEADER_SIZE) || write_all(fd, elf, elf_size) ||
	    fchmod(fd, 0644) || fsync(fd)) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, out) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		unlink(tmp);
		return -1;
	}
	snprintf(dir, sizeof dir, "%s", out);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int capctl_pack(int argc, char **argv)
{
	const char *name = NULL, *mem = NULL;
	uint64_t mem_size = CAP_ARENA_DEFAULT;
	char err[256];
	static const char usage[] = "pack --name NAME [--mem SIZE] ELF OUT.cap";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "name", required_argument, NULL, 'n' },
	                                      { "mem", required_argument, NULL, 'm' }, { 0, 0, 0, 0 } };
	int o;
	while ((o = capctl_opt(argc, argv, "", opts, usage)) != -1)
		*(o == 'n' ? &name : &mem) = optarg;
	if (argc - optind != 2 || !name)
		return capctl_usage_error(usage);
	const char *elf_path = argv[optind], *out = argv[optind + 1];
	if (!cap_name_valid(name)) {
		fprintf(stderr, "capctl: pack: bad name '%s' (1..63 of [A-Za-z0-9._-])\n", name);
		return 2;
	}
	if (mem && (capctl_pack_parse_size(mem, &mem_size) || mem_size < CAP_ARENA_MIN ||
	            mem_size > CAP_ARENA_MAX || mem_size % CAP_PAGE_SIZE)) {
		fprintf(stderr, "capctl: pack: --mem %s: need 1M..64G, a multiple of 4K\n", mem);
		return 2;
	}

	size_t elf_size;
	uint8_t *elf = read_file(elf_path, &elf_size, err, sizeof err);
	if (!elf) {
		fprintf(stderr, "capctl: pack: %s: %s\n", elf_path, err);
		return 2;
	}
	static uint8_t page[CAP_IMAGE_HEADER_SIZE];
	struct cap_image_header h;
	struct host_elf info;
	int n;
	memset(&h, 0, sizeof h);
	if (elfload_check(elf, elf_size, &info, err, sizeof err) ||
	    (n = elfload_build_id(elf, elf_size, h.build_id, sizeof h.build_id, err, sizeof err)) < 0) {
		fprintf(stderr, "capctl: pack: %s: %s\n", elf_path, err);
		free(elf);
		return 2;
	}
	memcpy(h.magic, CAP_IMAGE_MAGIC, CAP_IMAGE_MAGIC_LEN);
	h.format_version = CAP_IMAGE_FORMAT_VERSION;
	h.abi_version = CAP_ABI_VERSION;
	h.header_size = CAP_IMAGE_HEADER_SIZE;
	h.elf_size = elf_size;
	h.mem_size = mem_size;
	h.build_id_len = (uint32_t)n;
	snprintf(h.name, sizeof h.name, "%s", name);
	memcpy(page, &h, sizeof h);
	image_checksum(page, elf, elf_size, h.checksum);
	memcpy(page, &h, sizeof h);

	int r = write_image(out, page, elf, elf_size, err, sizeof err);
	free(elf);
	if (r) {
		fprintf(stderr, "capctl: pack: %s: %s\n", out, err);
		return 1;
	}
	return 0;
}
