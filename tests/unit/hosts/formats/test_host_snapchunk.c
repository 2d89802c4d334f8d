/* test_host_snapchunk.c: unit tests for a snapshot's chunk table entries: version 5's keyed tags (pinned, bound to place and file, checked only with the key) and older versions still read. */
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapchunk.h"
#include "hosts/formats/snapfile.h"
#include "tests/unit/hosts/formats/snapfixture.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <unistd.h>
#include <cmocka.h>

/* The table entries of a fixed input, pinned to values computed outside this code
 * (tests/integration/wirelib.py's ChaCha20 and Poly1305 from RFC 8439, hashlib.blake2b). */
static void test_chunk_entries_pinned(void **state)
{
	(void)state;
	uint8_t k[CAP_SNAP_KEY_LEN], salt[CAP_SNAP_SALT_LEN], data[1000], out[32];
	char hex[65];
	memset(k, 0x11, sizeof k);
	memset(salt, 0x22, sizeof salt);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	struct snapchunk_keying v5 = { .version = 5 }, v4 = { .version = 4 };
	snapchunk_derive_key(k, salt, v5.key);
	snapfile_hex(hex, v5.key, 32);
	assert_string_equal(hex, "c642f62a9dad781752e3e40d5d686a519b9c218c1c2e429824f894ac2f13b032");
	snapchunk_entry(&v5, 3, data, sizeof data, out);
	snapfile_hex(hex, out, CAP_SNAP_CHUNK_TAG_LEN);
	assert_string_equal(hex, "da9eaa0ff212f4850e687918aa475b5c");
	assert_true(snapchunk_matches(&v5, 3, data, sizeof data, out));
	assert_false(snapchunk_matches(&v5, 4, data, sizeof data, out));   /* bound to its place */
	snapchunk_entry(&v4, 3, data, sizeof data, out);
	snapfile_hex(hex, out, CAP_SNAP_CHUNK_HASH_LEN);
	assert_string_equal(hex, "d62b6c768ce1afc8367e0498ab2f8e3f7c178c35b1429f14c4604b545d200f52");
}

/*
 * Version 5: a salt of its own in every file; a chunk and its tag moved to another place,
 * or taken from another file of the same key, are refused even with the checksum and the
 * MAC made to fit; opened without the key nothing is checked until snapfile_key_chunks.
 */
static void test_version5_tags(void **state)
{
	(void)state;
	struct cap_snap_header h;
	char err[512], path[PATH_MAX], other[PATH_MAX], want[200];
	close(write_big("v5-other.snap", &h, other));
	int memfd = write_big("v5.snap", &h, path);
	size_t len, olen;
	uint8_t *b = slurp(path, &len), *o = slurp(other, &olen);
	assert_int_equal(len, olen);
	const size_t salt_at = CAP_SNAP_EXT_OFFSET + offsetof(struct cap_snap_header_ext, chunk_salt);
	assert_memory_not_equal(b + salt_at, o + salt_at, CAP_SNAP_SALT_LEN);
	uint8_t *table = b + cap_snap_chunk_table_offset(h.nextents);
	uint8_t *otable = o + cap_snap_chunk_table_offset(h.nextents);
	assert_memory_not_equal(table, otable, CAP_SNAP_CHUNK_TAG_LEN);   /* same data, other tags */
	assert_int_equal(h.data_offset, cap_snap_chunk_table_offset(h.nextents) + PAGE);
	snprintf(want, sizeof want, "chunk 0 (file bytes %llu-%llu): checksum mismatch: snapshot is "
	         "corrupt", (unsigned long long)h.data_offset,
	         (unsigned long long)(h.data_offset + CAP_SNAP_CHUNK_SIZE));

	/* Chunks 0 and 1 swapped with their tags; the checksum and the MAC redone over the tables. */
	uint8_t *v = malloc(len), *tmp = malloc(CAP_SNAP_CHUNK_SIZE);
	memcpy(v, b, len);
	uint8_t *d = v + h.data_offset, *t = v + cap_snap_chunk_table_offset(h.nextents);
	memcpy(tmp, d, CAP_SNAP_CHUNK_SIZE);
	memcpy(d, d + CAP_SNAP_CHUNK_SIZE, CAP_SNAP_CHUNK_SIZE);
	memcpy(d + CAP_SNAP_CHUNK_SIZE, tmp, CAP_SNAP_CHUNK_SIZE);
	uint8_t tag[CAP_SNAP_CHUNK_TAG_LEN];
	memcpy(tag, t, sizeof tag);
	memcpy(t, t + CAP_SNAP_CHUNK_TAG_LEN, sizeof tag);
	memcpy(t + CAP_SNAP_CHUNK_TAG_LEN, tag, sizeof tag);
	remac_tables(v, h.data_offset);
	refused(v, len, want);
	/* Chunk 0 and its tag from the other file: same key, same bytes, but its own salt. */
	memcpy(v, b, len);
	memcpy(v + h.data_offset, o + h.data_offset, CAP_SNAP_CHUNK_SIZE);
	memcpy(v + cap_snap_chunk_table_offset(h.nextents), otable, CAP_SNAP_CHUNK_TAG_LEN);
	remac_tables(v, h.data_offset);
	refused(v, len, want);

	/* Without the key (capctl inspect): opened, nothing checked, chunks refused until keyed. */
	struct host_snap s;
	size_t n;
	uint8_t *buf = malloc(CAP_SNAP_CHUNK_SIZE);
	assert_int_equal(snapfile_open_fd(open(path, O_RDONLY | O_CLOEXEC), &s, NULL, err,
	                                  sizeof err), 0);
	assert_int_equal(s.data_verified, 0);
	assert_int_equal(snapfile_read_chunk(&s, 0, buf, &n, err, sizeof err), -1);
	assert_non_null(strstr(err, "not checked: its tag needs the snapshot key"));
	assert_int_equal(snapfile_key_chunks(&s, &key, err, sizeof err), 0);
	assert_int_equal(s.data_verified, 1);
	assert_int_equal(snapfile_read_chunk(&s, 0, buf, &n, err, sizeof err), 0);
	snapfile_close(&s);
	char vpath[PATH_MAX];
	snprintf(vpath, sizeof vpath, "%s/variant.snap", dir);   /* the last refused one */
	assert_int_equal(snapfile_open_fd(open(vpath, O_RDONLY | O_CLOEXEC), &s, NULL, err,
	                                  sizeof err), 0);
	assert_int_equal(snapfile_key_chunks(&s, &key, err, sizeof err), -1);
	assert_string_equal(err, want);
	snapfile_close(&s);
	free(buf);
	free(tmp);
	free(v);
	free(o);
	free(b);
	unlink(path);
	unlink(other);
	close(memfd);
}

/*
 * A version 3 file (as written before version 5: BLAKE2b-256 per chunk, no salt) still
 * opens, eagerly and lazily, and a flipped bit in a chunk is still found.
 */
static void test_version3_read(void **state)
{
	(void)state;
	struct cap_snap_header h;
	char err[512], path[PATH_MAX];
	int memfd = write_big("v3.snap", &h, path);
	size_t len;
	uint8_t *b5 = slurp(path, &len);
	struct cap_snap_header h3 = h;
	h3.format_version = 3;
	h3.data_offset = cap_snap_data_offset(3, h.nextents, h.data_size);
	size_t len3 = (size_t)(h3.data_offset + h3.data_size);
	uint8_t *b = calloc(1, len3);
	memcpy(b, &h3, sizeof h3);   /* the header page's extension stays zero: padding in 3 */
	memcpy(b + CAP_SNAP_HEADER_SIZE, b5 + CAP_SNAP_HEADER_SIZE,
	       (size_t)h.nextents * sizeof(struct cap_snap_extent));
	memcpy(b + h3.data_offset, b5 + h.data_offset, (size_t)h.data_size);
	reseal(b, len3);
	snapauth_mac(key.key, b, b + offsetof(struct cap_snap_header, mac));
	write_file(path, b, len3);
	struct host_snap s;
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), 0);
	assert_int_equal(s.hdr.format_version, 3);
	assert_int_equal(s.nchunks, 3);
	uint8_t page[PAGE], want_page[PAGE];
	fake_page(data_pages[NPAGES - 1], want_page, 1);
	assert_int_equal(snapfile_read_mem(&s, data_pages[NPAGES - 1], page, PAGE), 0);
	assert_memory_equal(page, want_page, PAGE);
	snapfile_close(&s);
	struct snap_keyring ring;
	size_t n;
	uint8_t *buf = malloc(CAP_SNAP_CHUNK_SIZE);
	assert_int_equal(snapauth_keyring_load(&ring, err, sizeof err), 0);
	assert_int_equal(snapfile_open_fd_ex(open(path, O_RDONLY | O_CLOEXEC), &s, &ring, 0, err,
	                                     sizeof err), 0);
	for (uint64_t i = 0; i < s.nchunks; i++)
		assert_int_equal(snapfile_read_chunk(&s, i, buf, &n, err, sizeof err), 0);
	snapfile_close(&s);
	snapauth_keyring_wipe(&ring);
	b[h3.data_offset + CAP_SNAP_CHUNK_SIZE + 9] ^= 4;
	refused(b, len3, "chunk 1 (file bytes");
	free(buf);
	free(b);
	free(b5);
	unlink(path);
	close(memfd);
}

static int setup_all(void **state)
{
	(void)state;
	return snapfix_setup();
}

static int teardown_all(void **state)
{
	(void)state;
	return snapfix_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_entries_pinned),
		cmocka_unit_test(test_version5_tags),
		cmocka_unit_test(test_version3_read),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
