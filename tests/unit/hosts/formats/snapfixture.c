/* snapfixture.c: a fake frozen capsule, a host key and snapshot helpers shared by the snapshot unit tests. */
#include "tests/unit/hosts/formats/snapfixture.h"
#include "capsule-abi/cap_abi.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

char dir[] = "/tmp/test_host_snap.XXXXXX";
char host_key[PATH_MAX];
struct snap_key key;

/* Where the fake capsule wrote: control page, report page, 2 stack pages, .data, 3 arena pages. */
const uint64_t data_pages[NPAGES] = {
	0, PAGE,
	CAP_MEMFD_OFFSET(CAP_STACK_TOP) - 2 * PAGE, CAP_MEMFD_OFFSET(CAP_STACK_TOP) - PAGE,
	CAP_MEMFD_OFFSET(CAP_IMAGE_BASE) + 0x5000,
	CAP_MEMFD_OFFSET(CAP_ARENA_BASE), CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + PAGE,
	CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + 7 * PAGE,
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 12) * 13 + 1);
}

/* The fake capsule's page at off: a pattern, and on page 0 a frozen control page. */
void fake_page(uint64_t off, uint8_t page[PAGE], int frozen)
{
	for (size_t k = 0; k < PAGE; k++)
		page[k] = pattern(off + k);
	if (off == 0 && frozen) {
		struct cap_control c;
		memset(&c, 0, sizeof c);
		c.magic = CAP_CONTROL_MAGIC;
		c.abi_version = CAP_ABI_VERSION;
		c.size = sizeof c;
		c.freeze_count = 1;
		c.resume_ctx.rip = CAP_IMAGE_BASE + 0x1000;
		c.resume_ctx.rsp = CAP_STACK_TOP - 0x1000;
		memcpy(page, &c, sizeof c);
	}
}

int fake_memfd_as(int frozen)
{
	int fd = memfd_create("fake-capsule", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)MEMFD_LEN), 0);
	uint8_t page[PAGE];
	for (size_t i = 0; i < NPAGES; i++) {
		fake_page(data_pages[i], page, frozen);
		assert_int_equal(pwrite(fd, page, PAGE, (off_t)data_pages[i]), (ssize_t)PAGE);
	}
	return fd;
}

int fake_memfd(void)
{
	return fake_memfd_as(1);
}

void template(struct cap_snap_header *h)
{
	memset(h, 0, sizeof *h);
	h->build_id_len = 20;
	for (int i = 0; i < 20; i++)
		h->build_id[i] = (uint8_t)(0xa0 + i);
	strcpy(h->image_name, "unit");
	strcpy(h->image_path, "/nowhere/unit.cap");
	strcpy(h->capsule_name, "unit-1");
	h->ip = 0x020012c6;   /* 198.18.0.2, network order */
	h->mtu = CAP_MTU_DEFAULT;
	h->arena_size = ARENA;
	h->memfd_size = MEMFD_LEN;
	h->frozen_at_ns = 1234567890;
	h->taken_at_unix_ns = 1700000000000000000LL;
}

void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* Open a variant of the good snapshot; it must be refused with `want` in the reason. */
void refused(const void *bytes, size_t len, const char *want)
{
	char path[PATH_MAX], err[256] = "";
	struct host_snap s;
	snprintf(path, sizeof path, "%s/variant.snap", dir);
	write_file(path, bytes, len);
	if (snapfile_open(path, &s, err, sizeof err) == 0) {
		snapfile_close(&s);
		fail_msg("variant of %zu bytes accepted (want: %s)", len, want);
	}
	if (!strstr(err, want))
		fail_msg("variant of %zu bytes: error '%s' does not say '%s'", len, err, want);
}

/*
 * The plain checksum made to fit again after an edit: anyone can do that.
 * Versions 3 and 4: the chunk hashes redone from the data, then the checksum
 * over the header page and the tables; version 2: over the whole file.
 * Version 5's chunk tags need the key: this test holds it (an editor of the
 * file does not).
 */
void reseal(uint8_t *b, size_t len)
{
	uint8_t mac[CAP_SNAP_MAC_LEN], sum[32];
	struct cap_snap_header h;
	memcpy(&h, b, sizeof h);
	uint8_t *sum_at = b + offsetof(struct cap_snap_header, checksum);
	uint8_t *mac_at = b + offsetof(struct cap_snap_header, mac);
	size_t covered = len;
	if (h.format_version >= 3) {
		struct snapchunk_keying k = { .version = h.format_version };
		struct cap_snap_header_ext x;
		memcpy(&x, b + CAP_SNAP_EXT_OFFSET, sizeof x);
		if (h.format_version >= CAP_SNAP_FORMAT_TAGS)
			snapchunk_derive_key(key.key, x.chunk_salt, k.key);
		uint64_t n = cap_snap_chunk_count(h.format_version, h.data_size);
		uint8_t *table = b + cap_snap_chunk_table_offset(h.nextents);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t at = i * CAP_SNAP_CHUNK_SIZE;
			uint64_t clen = h.data_size - at < CAP_SNAP_CHUNK_SIZE ? h.data_size - at
			                                                       : CAP_SNAP_CHUNK_SIZE;
			snapchunk_entry(&k, i, b + h.data_offset + at, clen,
			                table + i * cap_snap_chunk_entry_len(h.format_version));
		}
		covered = (size_t)h.data_offset;
	}
	memcpy(mac, mac_at, sizeof mac);
	memset(sum_at, 0, sizeof sum);
	memset(mac_at, 0, sizeof mac);
	crypto_generichash(sum, sizeof sum, b, covered, NULL, 0);
	memcpy(sum_at, sum, sizeof sum);
	memcpy(mac_at, mac, sizeof mac);
}

/* A capsule with 600 KiB of arena written: three chunks, the last one short. */
int big_memfd(void)
{
	int fd = fake_memfd();
	uint8_t page[PAGE];
	for (uint64_t i = 0; i < BIG_PAGES; i++) {
		uint64_t off = CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + (16 + i) * PAGE;
		fake_page(off, page, 1);
		assert_int_equal(pwrite(fd, page, PAGE, (off_t)off), (ssize_t)PAGE);
	}
	return fd;
}

/* Read the whole file at path (malloc'd), its length in *len. */
uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	uint8_t *b = malloc((size_t)st.st_size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, b, (size_t)st.st_size), (ssize_t)st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* The checksum over the header page and the tables, and the MAC, redone by a key holder
 * (the chunk table left as it is). */
void remac_tables(uint8_t *b, uint64_t data_offset)
{
	uint8_t sum[32];
	memset(b + offsetof(struct cap_snap_header, checksum), 0, sizeof sum);
	memset(b + offsetof(struct cap_snap_header, mac), 0, CAP_SNAP_MAC_LEN);
	crypto_generichash(sum, sizeof sum, b, (size_t)data_offset, NULL, 0);
	memcpy(b + offsetof(struct cap_snap_header, checksum), sum, sizeof sum);
	snapauth_mac(key.key, b, b + offsetof(struct cap_snap_header, mac));
}

/* big_memfd's capsule written to dir/name (its header in *h, its path in path). */
int write_big(const char *name, struct cap_snap_header *h, char path[PATH_MAX])
{
	int memfd = big_memfd();
	char err[512];
	uint64_t bytes;
	template(h);
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	assert_int_equal(snapfile_write(memfd, h, -1, path, &key, &bytes, err, sizeof err), 0);
	return memfd;
}

int snapfix_setup(void)
{
	char err[PATH_MAX + 64];
	if (!mkdtemp(dir))
		return -1;
	/* A host in no cluster: an empty run directory, a host key made on first need. */
	snprintf(host_key, sizeof host_key, "%s/host.key", dir);
	setenv("CAPSULE_RUN_DIR", dir, 1);
	setenv(SNAP_HOST_KEY_ENV, host_key, 1);
	return snapauth_key_for_writing(&key, err, sizeof err);
}

int snapfix_teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}
