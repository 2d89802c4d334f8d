/* test_host_snapprocs.c: unit tests for the process section of a snapshot of several processes (format version 4: hosts/formats/snapprocs.c, capsule-abi/cap_snapshot.c). */
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_proc.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapauth.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapprocs.h"

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

#define ARENA     CAP_ARENA_MIN
#define MEMFD_LEN CAP_MEMFD_OFFSET(CAP_ARENA_BASE + ARENA)
#define PAGE      CAP_PAGE_SIZE

static char dir[] = "/tmp/test_host_snapprocs.XXXXXX";
static char good[PATH_MAX];
static struct snap_key key;
static uint8_t *good_bytes;
static size_t good_len;
static int memfds[3];
static uint64_t section_at;   /* where the process section starts in good_bytes */
static uint64_t program_at;   /* where its one program is, from the section's start */
static struct cap_snap_program execs = { .build_id_len = 20, .name = "execs",
                                         .path = "/srv/vol/execs.cap" };

/* Process i's fake memory: a frozen control page and a few pages of its own pattern. */
static uint8_t pattern(int proc, uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 12) * 13 + 1 + proc * 31);
}

static int fake_memfd(int proc, int npages)
{
	int fd = memfd_create("fake-proc", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)MEMFD_LEN), 0);
	uint8_t page[PAGE];
	for (int i = 0; i < npages; i++) {
		uint64_t off = i == 0 ? 0 : CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + (uint64_t)(2 * i) * PAGE;
		for (size_t k = 0; k < PAGE; k++)
			page[k] = pattern(proc, off + k);
		if (off == 0) {
			struct cap_control c;
			memset(&c, 0, sizeof c);
			c.magic = CAP_CONTROL_MAGIC;
			c.abi_version = CAP_ABI_VERSION;
			c.size = sizeof c;
			c.freeze_count = 1;
			c.proc_pid = (uint32_t)proc;
			c.resume_ctx.rip = CAP_IMAGE_BASE + 0x1000;
			c.resume_ctx.rsp = CAP_STACK_TOP - 0x1000;
			memcpy(page, &c, sizeof c);
		}
		assert_int_equal(pwrite(fd, page, PAGE, (off_t)off), (ssize_t)PAGE);
	}
	return fd;
}

static void template(struct cap_snap_header *h)
{
	memset(h, 0, sizeof *h);
	h->build_id_len = 20;
	memset(h->build_id, 0xab, 20);
	strcpy(h->image_name, "unit");
	strcpy(h->image_path, "/nowhere/unit.cap");
	strcpy(h->capsule_name, "unit-1");
	h->ip = 0x020012c6;
	h->mtu = CAP_MTU_DEFAULT;
	h->arena_size = ARENA;
	h->memfd_size = MEMFD_LEN;
	h->frozen_at_ns = 1234567890;
}

/* A file of the three processes; 0 or -1 with err. */
static int write_three(const char *path, uint64_t *bytes, char *err, size_t errlen)
{
	struct cap_snap_held wake = { .type = CAP_MSG_WAKE }, child = { .type = CAP_MSG_CHILD };
	struct cap_proc_child c = { 3, 3 << 8 };
	memcpy(child.payload, &c, sizeof c);
	struct snapprocs_src src[3] = {
		{ .pid = 1, .ppid = 0, .slot = 0, .memfd = -1, .nheld = 0 },
		{ .pid = 2, .ppid = 1, .slot = 1, .memfd = memfds[1], .nheld = 1, .held = &child },
		{ .pid = 4, .ppid = 2, .slot = 5, .memfd = memfds[2], .nheld = 1, .held = &wake,
		  .program = &execs },   /* it runs another program since an exec */
	};
	memset(execs.build_id, 0xcd, 20);
	struct snapprocs_set set = { src, 3, 5 };
	struct cap_snap_header h;
	template(&h);
	return snapfile_write_procs(memfds[0], &set, &h, -1, path, &key, SNAPFILE_WORKERS, bytes, err,
	                            errlen);
}

static int setup_all(void **state)
{
	(void)state;
	char err[PATH_MAX + 64], host_key[PATH_MAX];
	if (!mkdtemp(dir))
		return -1;
	snprintf(good, sizeof good, "%s/good.snap", dir);
	snprintf(host_key, sizeof host_key, "%s/host.key", dir);
	setenv("CAPSULE_RUN_DIR", dir, 1);
	setenv(SNAP_HOST_KEY_ENV, host_key, 1);
	return snapauth_key_for_writing(&key, err, sizeof err);
}

static int teardown_all(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	free(good_bytes);
	for (int i = 0; i < 3; i++)
		if (memfds[i] > 0)
			close(memfds[i]);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* A variant must be refused with both wants in its one reason. */
static void refused(const uint8_t *bytes, size_t len, const char *want, const char *want2)
{
	char path[PATH_MAX], err[512] = "";
	struct host_snap s;
	snprintf(path, sizeof path, "%s/variant.snap", dir);
	write_file(path, bytes, len);
	if (snapfile_open(path, &s, err, sizeof err) == 0) {
		snapfile_close(&s);
		fail_msg("variant of %zu bytes accepted (want: %s)", len, want);
	}
	if (!strstr(err, want) || (want2 && !strstr(err, want2)))
		fail_msg("variant of %zu bytes: error '%s' does not say '%s' / '%s'", len, err, want,
		         want2 ? want2 : "");
}

static void test_write_and_read_back(void **state)
{
	(void)state;
	char err[512];
	uint64_t bytes = 0;
	for (int i = 0; i < 3; i++)
		memfds[i] = fake_memfd(i + 1, 3 + i);
	assert_int_equal(write_three(good, &bytes, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(good, &st), 0);
	assert_int_equal((uint64_t)st.st_size, bytes);
	good_len = (size_t)st.st_size;
	good_bytes = malloc(good_len);
	int fd = open(good, O_RDONLY);
	assert_int_equal(read(fd, good_bytes, good_len), (ssize_t)good_len);
	close(fd);

	struct host_snap s;
	assert_int_equal(snapfile_open_ex(good, &s, 0, err, sizeof err), 0);
	assert_int_equal(s.hdr.format_version, 5);
	assert_int_equal(s.data_verified, 1);   /* several processes: always loaded whole */
	assert_non_null(s.procs);
	section_at = s.hdr.data_offset + s.hdr.data_size;
	assert_int_equal(s.hext.procs_size, good_len - section_at);
	const struct snap_procs *p = s.procs;
	assert_int_equal(p->t.nprocs, 3);
	assert_int_equal(p->t.next_pid, 5);
	int pids[] = { 1, 2, 4 }, ppids[] = { 0, 1, 2 };
	unsigned slots[] = { 0, 1, 5 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p->e[i].pid, pids[i]);
		assert_int_equal(p->e[i].ppid, ppids[i]);
		assert_int_equal(p->e[i].slot, slots[i]);
	}
	assert_int_equal(p->e[1].nheld, 1);
	assert_int_equal(p->held[1][0].type, CAP_MSG_CHILD);
	assert_int_equal(p->held[2][0].type, CAP_MSG_WAKE);
	/* The program pid 4 runs, named once; the others run the capsule's own. */
	assert_int_equal(p->t.nprograms, 1);
	assert_int_equal(p->e[0].program, 0);
	assert_int_equal(p->e[1].program, 0);
	assert_int_equal(p->e[2].program, 1);
	assert_memory_equal(&p->programs[0], &execs, sizeof execs);
	program_at = (uint64_t)((const uint8_t *)p->programs - p->meta);
	/* Each process's memory back, page for page; restored, the same holes. */
	for (uint32_t i = 1; i < 3; i++) {
		int copy = memfd_create("restored", MFD_CLOEXEC);
		assert_int_equal(ftruncate(copy, (off_t)MEMFD_LEN), 0);
		assert_int_equal(snapprocs_restore(&s, i, copy, err, sizeof err), 0);
		for (int k = 0; k < 3 + (int)i; k++) {
			uint64_t off = k == 0 ? 0 : CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + (uint64_t)(2 * k) * PAGE;
			uint8_t a[PAGE], b[PAGE], c[PAGE];
			assert_int_equal(pread(memfds[i], a, PAGE, (off_t)off), (ssize_t)PAGE);
			assert_int_equal(pread(copy, b, PAGE, (off_t)off), (ssize_t)PAGE);
			assert_int_equal(snapprocs_read_mem(&s, i, off, c, PAGE), 0);
			assert_memory_equal(a, b, PAGE);
			assert_memory_equal(a, c, PAGE);
		}
		struct stat x, y;
		fstat(memfds[i], &x);
		fstat(copy, &y);
		assert_int_equal(x.st_blocks, y.st_blocks);
		close(copy);
	}
	snapfile_close(&s);
	/* The header alone, as a migration stream checks it: no header page, so no salt. */
	assert_int_not_equal(cap_snap_check_header((const void *)good_bytes, good_len, err, sizeof err), 0);
	assert_non_null(strstr(err, "format version 5 without its chunk salt"));
}

static void test_one_process_has_no_section(void **state)
{
	(void)state;
	char path[PATH_MAX], err[512];
	uint64_t bytes;
	struct cap_snap_header h;
	struct host_snap s;
	snprintf(path, sizeof path, "%s/one.snap", dir);
	template(&h);
	assert_int_equal(snapfile_write(memfds[0], &h, -1, path, &key, &bytes, err, sizeof err), 0);
	assert_int_equal(snapfile_open(path, &s, err, sizeof err), 0);
	assert_int_equal(s.hdr.format_version, 5);
	assert_int_equal(s.hext.procs_size, 0);
	assert_null(s.procs);
	snapfile_close(&s);
}

/*
 * The same capsule as a version 4 file (before version 5: BLAKE2b-256 per chunk in a table
 * of 32-byte entries, no salt) still opens, with every process, and is loaded whole.
 */
static void test_version4_read(void **state)
{
	(void)state;
	assert_non_null(good_bytes);
	struct cap_snap_header h5, h;
	struct cap_snap_header_ext x;
	memcpy(&h5, good_bytes, sizeof h5);
	memcpy(&x, good_bytes + CAP_SNAP_EXT_OFFSET, sizeof x);
	h = h5;
	h.format_version = 4;
	h.data_offset = cap_snap_data_offset(4, h.nextents, h.data_size);
	memset(h.checksum, 0, sizeof h.checksum);   /* both hashed as zeros, then filled in */
	memset(h.mac, 0, sizeof h.mac);
	memset(x.chunk_salt, 0, sizeof x.chunk_salt);
	size_t len = (size_t)(h.data_offset + h.data_size + x.procs_size);
	uint8_t *b = calloc(1, len);
	memcpy(b, &h, sizeof h);
	memcpy(b + CAP_SNAP_EXT_OFFSET, &x, sizeof x);
	memcpy(b + CAP_SNAP_HEADER_SIZE, good_bytes + CAP_SNAP_HEADER_SIZE,
	       (size_t)h.nextents * sizeof(struct cap_snap_extent));
	memcpy(b + h.data_offset, good_bytes + h5.data_offset, (size_t)(h.data_size + x.procs_size));
	const struct snapchunk_keying v4 = { .version = 4 };
	uint8_t *table = b + cap_snap_chunk_table_offset(h.nextents);
	for (uint64_t i = 0; i < cap_snap_chunk_count(4, h.data_size); i++) {
		uint64_t at = i * CAP_SNAP_CHUNK_SIZE, left = h.data_size - at;
		snapchunk_entry(&v4, i, b + h.data_offset + at,
		                left < CAP_SNAP_CHUNK_SIZE ? left : CAP_SNAP_CHUNK_SIZE,
		                table + i * CAP_SNAP_CHUNK_HASH_LEN);
	}
	crypto_generichash(b + offsetof(struct cap_snap_header, checksum), 32, b,
	                   (size_t)h.data_offset, NULL, 0);
	snapauth_mac(key.key, b, b + offsetof(struct cap_snap_header, mac));
	char path[PATH_MAX], err[512];
	snprintf(path, sizeof path, "%s/v4.snap", dir);
	write_file(path, b, len);
	struct host_snap s;
	if (snapfile_open_ex(path, &s, 0, err, sizeof err))
		fail_msg("the version 4 file refused: %s", err);
	assert_int_equal(s.hdr.format_version, 4);
	assert_int_equal(s.data_verified, 1);
	assert_non_null(s.procs);
	assert_int_equal(s.procs->t.nprocs, 3);
	snapfile_close(&s);
	b[h.data_offset + 3] ^= 1;   /* pid 1's control page: its chunk hash catches it */
	refused(b, len, "chunk 0 (file bytes", "checksum mismatch: snapshot is corrupt");
	free(b);
	unlink(path);
}

static void test_section_bit_flips_and_truncations(void **state)
{
	(void)state;
	assert_non_null(good_bytes);
	uint8_t *b = malloc(good_len);
	for (uint64_t at = section_at; at < good_len; at += 61) {
		memcpy(b, good_bytes, good_len);
		b[at] ^= 0x10;
		refused(b, good_len, "process table (file bytes", "checksum mismatch: snapshot is corrupt");
	}
	for (size_t len = (size_t)section_at; len < good_len; len += 1999)
		refused(good_bytes, len, "truncated", NULL);
	free(b);
}

/* The section changed by a key holder: its hash, the checksum and the MAC made to fit again. */
static void remade(uint8_t *b)
{
	struct cap_snap_header h;
	struct cap_snap_header_ext x;
	memcpy(&h, b, sizeof h);
	memcpy(&x, b + CAP_SNAP_EXT_OFFSET, sizeof x);
	crypto_generichash(x.procs_hash, sizeof x.procs_hash, b + section_at, (size_t)x.procs_size,
	                   NULL, 0);
	memcpy(b + CAP_SNAP_EXT_OFFSET, &x, sizeof x);
	uint8_t *sum_at = b + offsetof(struct cap_snap_header, checksum);
	uint8_t *mac_at = b + offsetof(struct cap_snap_header, mac);
	memset(sum_at, 0, 32);
	memset(mac_at, 0, 32);
	crypto_generichash(sum_at, 32, b, (size_t)h.data_offset, NULL, 0);
	uint8_t mac[32];
	snapauth_mac(key.key, b, mac);
	memcpy(mac_at, mac, sizeof mac);
}

static void test_table_edits_refused(void **state)
{
	(void)state;
	const size_t e0 = (size_t)section_at + sizeof(struct cap_snap_procs);
	const size_t esz = sizeof(struct cap_snap_proc);
	struct {
		size_t off;          /* from the section's start, or an entry field */
		uint32_t value;
		const char *want;
	} edits[] = {
		{ offsetof(struct cap_snap_procs, nprocs), 70, "70 processes, next pid 5 (1 to 64 processes)" },
		{ offsetof(struct cap_snap_procs, nprocs), 0, "0 processes" },
		{ offsetof(struct cap_snap_procs, next_pid), 3, "next pid 3" },
		{ offsetof(struct cap_snap_procs, entry_size), 16, "not a process table" },
		{ 0, 0x41, "not a process table" },
		{ e0 - section_at + offsetof(struct cap_snap_proc, pid), 2, "entry 0 (pid 2" },
		{ e0 - section_at + esz + offsetof(struct cap_snap_proc, ppid), 9, "entry 1 (pid 2, parent 9" },
		{ e0 - section_at + 2 * esz + offsetof(struct cap_snap_proc, pid), 2, "entry 2 (pid 2" },
		{ e0 - section_at + 2 * esz + offsetof(struct cap_snap_proc, slot), 1, "slot 1): not a process" },
		{ e0 - section_at + 2 * esz + offsetof(struct cap_snap_proc, slot), 64, "slot 64): not a process" },
		{ e0 - section_at + esz + offsetof(struct cap_snap_proc, nheld), 300, "beyond their bounds" },
		{ e0 - section_at + esz + offsetof(struct cap_snap_proc, data_size), 4096, "extents add up to" },
		/* the first held record (entry 1's CHILD) gets another type */
		{ sizeof(struct cap_snap_procs) + 3 * esz, 99, "held record 0 has type 99" },
		/* programs: numbers beyond the table; a table too long; a path that is not
		 * absolute; a build-id of no length */
		{ e0 - section_at + offsetof(struct cap_snap_proc, program), 2, "entry 0 (pid 1" },
		{ e0 - section_at + 2 * esz + offsetof(struct cap_snap_proc, program), 2, "entry 2 (pid 4" },
		{ offsetof(struct cap_snap_procs, nprograms), 20, "20 programs for 3 processes" },
		{ 0, 0, NULL },   /* program_at + path, below */
		{ 0, 0, NULL },   /* program_at + build_id_len, below */
	};
	const size_t nedits = sizeof edits / sizeof edits[0];
	edits[nedits - 2].off = program_at + offsetof(struct cap_snap_program, path);
	edits[nedits - 2].value = 0x2f2f2f78;   /* "x///" */
	edits[nedits - 2].want = "program 1: not a program description";
	edits[nedits - 1].off = program_at + offsetof(struct cap_snap_program, build_id_len);
	edits[nedits - 1].value = 0;
	edits[nedits - 1].want = "program 1: not a program description";
	uint8_t *b = malloc(good_len);
	for (size_t i = 0; i < nedits; i++) {
		memcpy(b, good_bytes, good_len);
		memcpy(b + section_at + edits[i].off, &edits[i].value, sizeof edits[i].value);
		remade(b);
		refused(b, good_len, "process table (file bytes", edits[i].want);
	}
	/* And the untouched file, remade the same way, still opens (the test's own reseal). */
	memcpy(b, good_bytes, good_len);
	remade(b);
	assert_memory_equal(b, good_bytes, good_len);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_and_read_back),
		cmocka_unit_test(test_one_process_has_no_section),
		cmocka_unit_test(test_version4_read),
		cmocka_unit_test(test_section_bit_flips_and_truncations),
		cmocka_unit_test(test_table_edits_refused),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
