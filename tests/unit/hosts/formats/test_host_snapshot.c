/* test_host_snapshot.c: unit tests for the snapshot writer and the validating reader (hosts/formats/snapfile.c). */
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_image.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapfile_body.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "tests/unit/hosts/formats/snapfixture.h"

static char good[PATH_MAX];       /* a snapshot written by the writer */
static uint8_t *good_bytes;
static size_t good_len;

static int setup_all(void **state)
{
	(void)state;
	if (snapfix_setup())
		return -1;
	snprintf(good, sizeof good, "%s/good.snap", dir);
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	free(good_bytes);
	return snapfix_teardown();
}

static void test_write_and_read_back(void **state)
{
	(void)state;
	int memfd = fake_memfd();
	struct cap_snap_header h;
	char err[512];
	uint64_t bytes = 0;
	template(&h);
	assert_int_equal(snapfile_write(memfd, &h, -1, good, &key, &bytes, err, sizeof err), 0);
	assert_int_equal(h.nextents, NEXTENTS);
	assert_int_equal(h.data_size, NPAGES * PAGE);
	assert_int_equal(bytes, h.data_offset + h.data_size);

	struct stat st;
	assert_int_equal(stat(good, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	good_len = (size_t)st.st_size;
	good_bytes = malloc(good_len);
	int fd = open(good, O_RDONLY);
	assert_int_equal(read(fd, good_bytes, good_len), (ssize_t)good_len);
	close(fd);

	struct host_snap s;
	assert_int_equal(snapfile_open(good, &s, err, sizeof err), 0);
	assert_int_equal(s.hdr.nextents, NEXTENTS);
	assert_string_equal(s.hdr.capsule_name, "unit-1");
	assert_int_equal(s.hdr.frozen_at_ns, 1234567890);
	/* Every page reads back as written, holes as zeros. */
	uint8_t page[PAGE], want[PAGE];
	for (size_t i = 0; i < NPAGES; i++) {
		assert_int_equal(snapfile_read_mem(&s, data_pages[i], page, PAGE), 0);
		fake_page(data_pages[i], want, 1);
		assert_memory_equal(page, want, PAGE);
	}
	memset(want, 0, PAGE);
	assert_int_equal(snapfile_read_mem(&s, 2 * PAGE, page, PAGE), 0);
	assert_memory_equal(page, want, PAGE);

	/* Restored into a new memfd: the same data, the same holes. */
	int copy = memfd_create("restored", MFD_CLOEXEC);
	assert_int_equal(ftruncate(copy, (off_t)MEMFD_LEN), 0);
	assert_int_equal(snapfile_restore(&s, copy, err, sizeof err), 0);
	for (size_t i = 0; i < NPAGES; i++) {
		uint8_t a[PAGE], b[PAGE];
		assert_int_equal(pread(memfd, a, PAGE, (off_t)data_pages[i]), (ssize_t)PAGE);
		assert_int_equal(pread(copy, b, PAGE, (off_t)data_pages[i]), (ssize_t)PAGE);
		assert_memory_equal(a, b, PAGE);
	}
	struct stat a, b;
	fstat(memfd, &a);
	fstat(copy, &b);
	assert_int_equal(a.st_blocks, b.st_blocks);
	assert_int_equal(snapfile_is_snapshot(good), 1);
	snapfile_close(&s);
	close(copy);
	close(memfd);
}

static void test_truncations_refused(void **state)
{
	(void)state;
	assert_non_null(good_bytes);
	size_t lens[] = { 0, 1, 8, 100, sizeof(struct cap_snap_header) - 1, CAP_SNAP_HEADER_SIZE - 1,
	                  CAP_SNAP_HEADER_SIZE, CAP_SNAP_HEADER_SIZE + 16, 2 * CAP_SNAP_HEADER_SIZE - 1,
	                  2 * CAP_SNAP_HEADER_SIZE, good_len / 2, good_len - PAGE, good_len - 1 };
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
		refused(good_bytes, lens[i], "truncated");
	for (size_t len = 0; len < good_len; len += 997)
		refused(good_bytes, len, "truncated");
	/* and one byte too many */
	uint8_t *longer = calloc(1, good_len + 1);
	memcpy(longer, good_bytes, good_len);
	refused(longer, good_len + 1, "trailing data");
	free(longer);
}

static void test_bit_flips_refused(void **state)
{
	(void)state;
	uint8_t *b = malloc(good_len);
	const struct cap_snap_header *h = (const void *)good_bytes;
	/* Bytes whose change only the checksum can notice. */
	size_t where[] = {
		offsetof(struct cap_snap_header, image_path) + 3,
		offsetof(struct cap_snap_header, ip),
		offsetof(struct cap_snap_header, frozen_at_ns),
		offsetof(struct cap_snap_header, checksum) + 31,
		offsetof(struct cap_snap_header, key_id),
		sizeof(struct cap_snap_header) + 10,          /* header padding */
		CAP_SNAP_HEADER_SIZE + NEXTENTS * 16 + 5,     /* extent table padding */
		cap_snap_chunk_table_offset(NEXTENTS) + 3,    /* the chunk hash */
		cap_snap_chunk_table_offset(NEXTENTS) + 32 + 5,   /* chunk table padding */
	};
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		memcpy(b, good_bytes, good_len);
		b[where[i]] ^= 0x04;
		refused(b, good_len, "checksum mismatch");
	}
	for (size_t off = h->data_offset; off < good_len; off += 509) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(b, good_bytes, good_len);
			b[off] ^= (uint8_t)(1u << bit);
			refused(b, good_len, "chunk 0 (file bytes");   /* one chunk: 8 pages */
			refused(b, good_len, "): checksum mismatch: snapshot is corrupt");
		}
	}
	free(b);
}

static void test_header_fields_refused(void **state)
{
	(void)state;
	uint8_t *b = malloc(good_len);
	memcpy(b, good_bytes, good_len);
	memcpy(b, "NOTASNAP", 8);
	refused(b, good_len, "wrong magic");

	struct cap_snap_header h;
	memcpy(&h, good_bytes, sizeof h);
	h.format_version = 99;
	memcpy(b, good_bytes, good_len);
	memcpy(b, &h, sizeof h);
	refused(b, good_len, "format version 99");

	memcpy(&h, good_bytes, sizeof h);
	h.abi_version = 7;
	memcpy(b, &h, sizeof h);
	refused(b, good_len, "ABI version 7");

	memcpy(&h, good_bytes, sizeof h);
	h.memfd_size += PAGE;
	memcpy(b, &h, sizeof h);
	refused(b, good_len, "inconsistent memory size");

	memcpy(&h, good_bytes, sizeof h);
	h.capsule_name[0] = '/';
	memcpy(b, &h, sizeof h);
	refused(b, good_len, "bad name");
	free(b);
}

static void test_extent_corruptions_refused(void **state)
{
	(void)state;
	uint8_t *b = malloc(good_len);
	struct cap_snap_extent e[NEXTENTS];
	const size_t table = CAP_SNAP_HEADER_SIZE;
	struct { int i; uint64_t off, len; const char *want; } cases[] = {
		{ 1, 0, PAGE, "bad extent 1" },                              /* overlaps extent 0 */
		{ 2, CAP_MEMFD_OFFSET(CAP_IMAGE_BASE) + 0x5001, PAGE, "bad extent 2" },   /* unaligned */
		{ 4, MEMFD_LEN, PAGE, "bad extent 4" },                      /* past the memfd */
		{ 3, CAP_MEMFD_OFFSET(CAP_ARENA_BASE), 0, "bad extent 3" },  /* empty */
		{ 4, CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + 7 * PAGE, 2 * PAGE, "add up" },
		{ 0, 0, 1ull << 62, "bad extent 0" },                        /* absurd length */
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		memcpy(b, good_bytes, good_len);
		memcpy(e, b + table, sizeof e);
		e[cases[c].i].offset = cases[c].off;
		e[cases[c].i].length = cases[c].len;
		memcpy(b + table, e, sizeof e);
		refused(b, good_len, cases[c].want);
	}
	free(b);
}

static void test_wrong_image_refused(void **state)
{
	(void)state;
	struct host_snap s;
	struct cap_image_header img;
	char err[512];
	assert_int_equal(snapfile_open(good, &s, err, sizeof err), 0);
	memset(&img, 0, sizeof img);
	img.build_id_len = s.hdr.build_id_len;
	memcpy(img.build_id, s.hdr.build_id, sizeof img.build_id);
	assert_int_equal(snapfile_check_image(&s, &img, "/x/unit.cap", err, sizeof err), 0);
	img.build_id[19] ^= 1;
	assert_int_equal(snapfile_check_image(&s, &img, "/x/other.cap", err, sizeof err), -1);
	assert_string_equal(err, "snapshot belongs to image unit (build-id "
	                         "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3), /x/other.cap has build-id "
	                         "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b2");
	img.build_id_len = 8;
	assert_int_equal(snapfile_check_image(&s, &img, "/x/other.cap", err, sizeof err), -1);
	snapfile_close(&s);
}

/* What only this host's key opens: edits with the checksum redone, other keys, the MAC field. */
static void test_authentication(void **state)
{
	(void)state;
	uint8_t *b = malloc(good_len);
	const struct cap_snap_header *h = (const void *)good_bytes;
	char id[17], want[256], other_path[PATH_MAX], other_id[17], err[512];
	snapauth_id_hex(key.id, id);
	assert_memory_equal(h->key_id, key.id, CAP_SNAP_KEY_ID_LEN);

	/* One memory byte or one header field changed, the plain checksum redone. */
	snprintf(want, sizeof want,
	         "authentication failed (contents changed since it was made with host key %s)", id);
	size_t where[] = { h->data_offset + 7, good_len - 1, offsetof(struct cap_snap_header, ip),
	                   CAP_SNAP_HEADER_SIZE - 1, offsetof(struct cap_snap_header, mac) + 5 };
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		memcpy(b, good_bytes, good_len);
		b[where[i]] ^= 0x01;
		reseal(b, good_len);
		refused(b, good_len, want);
	}
	/* Another key id (the MAC's key is not this host's). */
	memcpy(b, good_bytes, good_len);
	b[offsetof(struct cap_snap_header, key_id)] ^= 0x80;
	reseal(b, good_len);
	char bad_id[17];
	snapauth_id_hex(b + offsetof(struct cap_snap_header, key_id), bad_id);
	snprintf(want, sizeof want, "authentication failed: snapshot was made with key %s, this host "
	         "has no such key (it has host key %s)", bad_id, id);
	refused(b, good_len, want);

	/* The untouched file on a host with another key: refused, naming both keys. */
	uint8_t other[CAP_SNAP_KEY_LEN] = { 42 }, other_fp[CAP_SNAP_KEY_ID_LEN];
	snprintf(other_path, sizeof other_path, "%s/other.key", dir);
	int fd = open(other_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, other, sizeof other), (ssize_t)sizeof other);
	close(fd);
	snapauth_key_id(other, other_fp);
	snapauth_id_hex(other_fp, other_id);
	setenv(SNAP_HOST_KEY_ENV, other_path, 1);
	struct host_snap s;
	assert_int_equal(snapfile_open(good, &s, err, sizeof err), -1);
	snprintf(want, sizeof want, "authentication failed: snapshot was made with key %s, this host "
	         "has no such key (it has host key %s)", id, other_id);
	assert_string_equal(err, want);
	/* ... which every other check still accepts (capctl inspect opens it so). */
	fd = open(good, O_RDONLY | O_CLOEXEC);
	assert_int_equal(snapfile_open_fd(fd, &s, NULL, err, sizeof err), 0);
	struct snap_keyring ring;
	const struct snap_key *used = &key;
	assert_int_equal(snapauth_keyring_load(&ring, err, sizeof err), 0);
	assert_int_equal(snapfile_authenticate(&s, &ring, &used, err, sizeof err), -1);
	assert_null(used);
	snapfile_close(&s);
	setenv(SNAP_HOST_KEY_ENV, host_key, 1);
	assert_int_equal(snapfile_open(good, &s, err, sizeof err), 0);
	snapfile_close(&s);
	free(b);
}

/* Resume jumps where the control page says: a snapshot without a frozen one is refused. */
static void test_unfrozen_control_page_refused(void **state)
{
	(void)state;
	int memfd = fake_memfd_as(0);
	struct cap_snap_header h;
	char err[512], path[PATH_MAX];
	uint64_t bytes;
	struct host_snap s;
	template(&h);
	snprintf(path, sizeof path, "%s/unfrozen.snap", dir);
	assert_int_equal(snapfile_write(memfd, &h, -1, path, &key, &bytes, err, sizeof err), 0);
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), -1);
	assert_string_equal(err, "the snapshot holds no frozen control page");
	unlink(path);
	close(memfd);
}

/* No file may be left behind, temp or final, whatever made the write fail. */
static void test_unwritable_destinations(void **state)
{
	(void)state;
	int memfd = fake_memfd();
	struct cap_snap_header h;
	char err[512], path[PATH_MAX];
	uint64_t bytes;

	template(&h);
	snprintf(path, sizeof path, "%s/no/such/dir/x.snap", dir);
	assert_int_equal(snapfile_write(memfd, &h, -1, path, &key, &bytes, err, sizeof err), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, path));

	/* A file system that refuses new files even to root. */
	template(&h);
	assert_int_equal(snapfile_write(memfd, &h, -1, "/proc/capsule-unit.snap", &key, &bytes, err,
	                                 sizeof err), -1);
	assert_true(access("/proc/capsule-unit.snap", F_OK) < 0);

	/* A directory that is really a file. */
	char file[PATH_MAX / 2];
	snprintf(file, sizeof file, "%s/plainfile", dir);
	write_file(file, "x", 1);
	snprintf(path, sizeof path, "%s/x.snap", file);
	template(&h);
	assert_int_equal(snapfile_write(memfd, &h, -1, path, &key, &bytes, err, sizeof err), -1);
	unlink(file);

	/* Through a directory descriptor, as caprun gets it from capctl. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	template(&h);
	assert_int_equal(snapfile_write(memfd, &h, dfd, "/elsewhere/viadir.snap", &key, &bytes, err,
	                                 sizeof err), 0);
	close(dfd);
	snprintf(path, sizeof path, "%s/viadir.snap", dir);
	struct host_snap s;
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), 0);
	snapfile_close(&s);
	unlink(path);

	/* Only good.snap (and the last variant) remain: no temp files. */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v -e '^good.snap$' -e "
	         "'^variant.snap$' -e '^host.key$' -e '^other.key$')\"", dir);
	assert_int_equal(system(cmd), 0);
	close(memfd);
}

/* Each chunk is checked on its own: at open, or (lazily) when it is read. */
static void test_chunks(void **state)
{
	(void)state;
	int memfd = big_memfd();
	struct cap_snap_header h;
	char err[512], path[PATH_MAX];
	uint64_t bytes;
	template(&h);
	snprintf(path, sizeof path, "%s/big.snap", dir);
	assert_int_equal(snapfile_write(memfd, &h, -1, path, &key, &bytes, err, sizeof err), 0);
	assert_int_equal(h.format_version, 5);
	assert_int_equal(h.data_size, (NPAGES + BIG_PAGES) * PAGE);
	assert_int_equal(h.data_offset, cap_snap_chunk_table_offset(h.nextents) + PAGE);
	struct host_snap s;
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), 0);
	assert_int_equal(s.nchunks, 3);
	uint64_t pos, first, last;
	size_t len;
	snapfile_chunk_span(&s, 2, &pos, &len);
	assert_int_equal(pos, 2 * CAP_SNAP_CHUNK_SIZE);
	assert_int_equal(len, (NPAGES + BIG_PAGES) * PAGE - 2 * CAP_SNAP_CHUNK_SIZE);
	/* The control page is the first data byte; the arena starts 5 pages in and runs to the end. */
	assert_int_equal(snapfile_mem_chunks(&s, 0, PAGE, &first, &last), 1);
	assert_int_equal(first, 0);
	assert_int_equal(last, 0);
	assert_int_equal(snapfile_mem_chunks(&s, CAP_MEMFD_OFFSET(CAP_ARENA_BASE), 200 * PAGE, &first,
	                                     &last), 1);
	assert_int_equal(first, 0);
	assert_int_equal(last, 2);
	assert_int_equal(snapfile_mem_chunks(&s, 3 * PAGE, PAGE, &first, &last), 0);   /* a hole */
	snapfile_close(&s);

	/* One bit of chunk 1 flipped: refused at open, naming the chunk. */
	int fd = open(path, O_RDWR);
	uint8_t byte;
	uint64_t at = h.data_offset + CAP_SNAP_CHUNK_SIZE + 100;
	assert_int_equal(pread(fd, &byte, 1, (off_t)at), 1);
	byte ^= 0x20;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)at), 1);
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), -1);
	char want[200];
	snprintf(want, sizeof want, "chunk 1 (file bytes %llu-%llu): checksum mismatch: snapshot is "
	         "corrupt", (unsigned long long)(h.data_offset + CAP_SNAP_CHUNK_SIZE),
	         (unsigned long long)(h.data_offset + 2 * CAP_SNAP_CHUNK_SIZE));
	assert_string_equal(err, want);

	/* Lazily: authenticated and the control page's chunk checked, the rest when read. */
	struct snap_keyring ring;
	assert_int_equal(snapauth_keyring_load(&ring, err, sizeof err), 0);
	assert_int_equal(snapfile_open_fd_ex(open(path, O_RDONLY | O_CLOEXEC), &s, &ring, 0, err,
	                                     sizeof err), 0);
	assert_int_equal(s.data_verified, 0);
	uint8_t *buf = malloc(CAP_SNAP_CHUNK_SIZE);
	assert_int_equal(snapfile_read_chunk(&s, 0, buf, &len, err, sizeof err), 0);
	assert_int_equal(len, CAP_SNAP_CHUNK_SIZE);
	assert_int_equal(snapfile_read_chunk(&s, 1, buf, &len, err, sizeof err), -1);
	assert_string_equal(err, want);
	/* The file cut short after it was opened: the last chunk says where it ends. */
	assert_int_equal(ftruncate(fd, (off_t)(h.data_offset + 2 * CAP_SNAP_CHUNK_SIZE + PAGE)), 0);
	assert_int_equal(snapfile_read_chunk(&s, 2, buf, &len, err, sizeof err), -1);
	snprintf(want, sizeof want, "chunk 2 (file bytes %llu-%llu): truncated: the file ends at %llu",
	         (unsigned long long)(h.data_offset + 2 * CAP_SNAP_CHUNK_SIZE),
	         (unsigned long long)(h.data_offset + h.data_size),
	         (unsigned long long)(h.data_offset + 2 * CAP_SNAP_CHUNK_SIZE + PAGE));
	assert_string_equal(err, want);
	snapfile_close(&s);
	free(buf);
	snapauth_keyring_wipe(&ring);
	close(fd);
	unlink(path);
	close(memfd);
}

/*
 * The data part written by 1, 2 or 3 workers (each every other or third chunk, a chunk's
 * pieces from several extents) is the same bytes and the same table, and the bytes are the
 * extents' laid end to end.
 */
static void test_body_workers(void **state)
{
	(void)state;
	int memfd = big_memfd();
	struct cap_snap_header h;
	struct cap_snap_extent *ext = NULL;
	char err[512];
	template(&h);
	assert_int_equal(snapfile_prepare(memfd, &h, &ext, err, sizeof err), 0);
	h.format_version = CAP_SNAP_FORMAT_VERSION;
	h.data_offset = cap_snap_data_offset(h.format_version, h.nextents, h.data_size);
	uint64_t nchunks = cap_snap_chunk_count(h.format_version, h.data_size);
	assert_true(nchunks >= 3);
	assert_true(h.nextents >= 3);
	struct snapchunk_keying keying = { .version = CAP_SNAP_FORMAT_VERSION };
	memset(keying.key, 0x5a, sizeof keying.key);
	size_t table_len = (size_t)nchunks * cap_snap_chunk_entry_len(keying.version);
	uint8_t *want = malloc(h.data_size), *got = malloc(h.data_size);
	uint8_t *table1 = calloc(1, table_len), *table = calloc(1, table_len);
	assert_non_null(want);
	assert_non_null(got);
	size_t at = 0;
	for (uint32_t i = 0; i < h.nextents; i++) {
		assert_int_equal(pread(memfd, want + at, ext[i].length, (off_t)ext[i].offset),
		                 (ssize_t)ext[i].length);
		at += ext[i].length;
	}
	for (int workers = 1; workers <= 3; workers++) {
		int out = memfd_create("body", MFD_CLOEXEC);
		assert_true(out >= 0);
		uint8_t *t = workers == 1 ? table1 : table;
		memset(t, 0, table_len);
		assert_int_equal(snapfile_write_body(memfd, out, &h, ext, &keying, workers, t), 0);
		assert_int_equal(pread(out, got, h.data_size, (off_t)h.data_offset), (ssize_t)h.data_size);
		assert_memory_equal(got, want, h.data_size);
		if (workers > 1)
			assert_memory_equal(table, table1, table_len);
		close(out);
	}
	/* Each entry is its chunk's own. */
	for (uint64_t c = 0; c < nchunks; c++) {
		size_t len = h.data_size - c * CAP_SNAP_CHUNK_SIZE < CAP_SNAP_CHUNK_SIZE
		             ? (size_t)(h.data_size - c * CAP_SNAP_CHUNK_SIZE) : CAP_SNAP_CHUNK_SIZE;
		assert_true(snapchunk_matches(&keying, c, want + c * CAP_SNAP_CHUNK_SIZE, len,
		                              table1 + c * cap_snap_chunk_entry_len(keying.version)));
	}
	free(want);
	free(got);
	free(table1);
	free(table);
	free(ext);
	close(memfd);
}

/* A version 2 file (no chunk table, the checksum over everything) still opens, eagerly only. */
static void test_version2_read(void **state)
{
	(void)state;
	assert_non_null(good_bytes);
	const struct cap_snap_header *h3 = (const void *)good_bytes;
	struct cap_snap_header h = *h3;
	h.format_version = 2;
	h.data_offset = cap_snap_data_offset(2, h.nextents, h.data_size);
	size_t len = (size_t)(h.data_offset + h.data_size);
	assert_true(len < good_len);
	uint8_t *b = calloc(1, len);
	memcpy(b, good_bytes, CAP_SNAP_HEADER_SIZE + NEXTENTS * 16);
	memcpy(b, &h, sizeof h);
	memcpy(b + h.data_offset, good_bytes + h3->data_offset, (size_t)h.data_size);
	reseal(b, len);
	snapauth_mac(key.key, b, b + offsetof(struct cap_snap_header, mac));
	char path[PATH_MAX], err[512];
	snprintf(path, sizeof path, "%s/v2.snap", dir);
	write_file(path, b, len);
	struct host_snap s;
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), 0);
	assert_int_equal(s.nchunks, 0);
	uint8_t page[PAGE], want[PAGE];
	for (size_t i = 0; i < NPAGES; i++) {
		assert_int_equal(snapfile_read_mem(&s, data_pages[i], page, PAGE), 0);
		fake_page(data_pages[i], want, 1);
		assert_memory_equal(page, want, PAGE);
	}
	snapfile_close(&s);
	struct snap_keyring ring;
	assert_int_equal(snapauth_keyring_load(&ring, err, sizeof err), 0);
	assert_int_equal(snapfile_open_fd_ex(open(path, O_RDONLY | O_CLOEXEC), &s, &ring, 0, err,
	                                     sizeof err), 0);
	assert_int_equal(s.data_verified, 1);   /* no chunks: checked whole, loaded eagerly */
	snapfile_close(&s);
	snapauth_keyring_wipe(&ring);
	/* One data bit: version 2's checksum covers the data. */
	b[h.data_offset + 5] ^= 1;
	refused(b, len, "checksum mismatch: snapshot is corrupt");
	free(b);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_and_read_back),
		cmocka_unit_test(test_truncations_refused),
		cmocka_unit_test(test_bit_flips_refused),
		cmocka_unit_test(test_header_fields_refused),
		cmocka_unit_test(test_extent_corruptions_refused),
		cmocka_unit_test(test_wrong_image_refused),
		cmocka_unit_test(test_authentication),
		cmocka_unit_test(test_unfrozen_control_page_refused),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_body_workers),
		cmocka_unit_test(test_version2_read),
		cmocka_unit_test(test_unwritable_destinations),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
