/* fuzz_snapshot.c: libFuzzer target for the snapshot reader as caprun and capctl inspect use it: header, extents, checksum, chunk tags, control page, report, restore, and a process section. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capsule-abi/cap_abi.h"
#include "hosts/capctl/capctl_report.h"
#include "hosts/formats/snapfile.h"
#include "hosts/formats/snapprocs.h"
#include "capsule-abi/cap_proc.h"
#include "tests/fuzz/fuzz_seed.h"

#define PAGE  CAP_PAGE_SIZE
#define ARENA CAP_ARENA_MIN

static int file_fd = -1, mem_fd = -1;   /* the "snapshot file", and the memfd it restores into */
static FILE *sink;
static struct snap_keyring ring;        /* this "host"'s one key, which made the seed */

/* A frozen fake capsule: control page, its report, a stack page, a data page, two arena pages. */
static int fake_capsule(void)
{
	static const uint64_t pages[] = {
		0, PAGE, CAP_MEMFD_OFFSET(CAP_STACK_TOP) - PAGE, CAP_MEMFD_OFFSET(CAP_IMAGE_BASE) + 0x3000,
		CAP_MEMFD_OFFSET(CAP_ARENA_BASE), CAP_MEMFD_OFFSET(CAP_ARENA_BASE) + 5 * PAGE,
	};
	uint8_t page[PAGE], report[PAGE] = { 0 };
	size_t report_size = fuzz_sample_report(report, sizeof report);
	int fd = memfd_create("fuzz-capsule", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)CAP_MEMFD_OFFSET(CAP_ARENA_BASE + ARENA)) < 0)
		abort();
	for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
		memset(page, (int)(0x11 * (i + 1)), sizeof page);
		if (pages[i] == 0) {
			struct cap_control c;
			memset(&c, 0, sizeof c);
			c.magic = CAP_CONTROL_MAGIC;
			c.abi_version = CAP_ABI_VERSION;
			c.size = sizeof c;
			c.freeze_count = 1;
			c.resume_ctx.rip = CAP_IMAGE_BASE + 0x1000;
			c.resume_ctx.rsp = CAP_STACK_TOP - 0x800;
			c.report_size = (uint32_t)report_size;
			memcpy(page, &c, sizeof c);
		}
		if (pages[i] == PAGE)
			memcpy(page, report, sizeof page);
		if (pwrite(fd, page, sizeof page, (off_t)pages[i]) != (ssize_t)sizeof page)
			abort();
	}
	return fd;
}

/* A real snapshot of the fake capsule (several: pid 1 and two copies of it as pids 2 and 3,
 * a record held for each), written by the real writer, as seeds named name-MODE. */
static void write_seed(const char *dir, const char *name, int several)
{
	char tmp[] = "/tmp/fuzz_snapshot.XXXXXX", path[64], err[512];
	struct cap_snap_header h;
	uint64_t bytes;
	int memfd = fake_capsule();
	if (!mkdtemp(tmp))
		abort();
	snprintf(path, sizeof path, "%s/seed.snap", tmp);
	memset(&h, 0, sizeof h);
	h.build_id_len = 20;
	memset(h.build_id, 0xb1, 20);
	strcpy(h.image_name, "fuzz");
	strcpy(h.image_path, "/nowhere/fuzz.cap");
	strcpy(h.capsule_name, "fuzz-1");
	h.ip = 0x020012c6;
	h.mtu = CAP_MTU_DEFAULT;
	h.arena_size = ARENA;
	h.memfd_size = CAP_MEMFD_OFFSET(CAP_ARENA_BASE + ARENA);
	h.frozen_at_ns = 5000000000LL;
	struct cap_snap_held held = { .type = CAP_MSG_WAKE };
	struct snapprocs_src src[3] = {
		{ .pid = 1, .ppid = 0, .slot = 0, .memfd = -1, .nheld = 1, .held = &held },
		{ .pid = 2, .ppid = 1, .slot = 1, .memfd = memfd, .nheld = 1, .held = &held },
		{ .pid = 3, .ppid = 2, .slot = 2, .memfd = memfd, .nheld = 0 },
	};
	struct snapprocs_set set = { src, 3, 4 };
	if (snapfile_write_procs(memfd, several ? &set : NULL, &h, -1, path, &ring.keys[0],
	                         SNAPFILE_WORKERS, &bytes, err, sizeof err)) {
		fprintf(stderr, "fuzz_snapshot: writing the seed: %s\n", err);
		abort();
	}
	uint8_t *seed = malloc(1 + bytes);
	FILE *f = fopen(path, "rb");
	if (!seed || !f || fread(seed + 1, 1, bytes, f) != bytes)
		abort();
	fclose(f);
	unlink(path);
	rmdir(tmp);
	close(memfd);
	for (uint8_t mode = 0; mode < 8; mode++) {
		char seed_name[32];
		seed[0] = mode;
		snprintf(seed_name, sizeof seed_name, "%s-%u", name, mode);
		fuzz_seed(dir, seed_name, seed, 1 + bytes);
	}
	free(seed);
}

static void write_seeds(const char *dir)
{
	write_seed(dir, "snapshot", 0);
	write_seed(dir, "procs", 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	file_fd = memfd_create("fuzz-snapshot-file", MFD_CLOEXEC);
	mem_fd = memfd_create("fuzz-restored", MFD_CLOEXEC);
	sink = fopen("/dev/null", "w");
	if (file_fd < 0 || mem_fd < 0 || !sink)
		abort();
	ring.n = 1;
	ring.keys[0].kind = SNAP_KEY_HOST;
	memset(ring.keys[0].key, 0x5a, sizeof ring.keys[0].key);
	snapauth_key_id(ring.keys[0].key, ring.keys[0].id);
	const char *dir = fuzz_corpus_dir(*argc, *argv);
	if (dir)
		write_seeds(dir);
	return 0;
}

/*
 * The checksum the file would need, with the checksum and mac zeroed:
 * versions 3-5 (when their sizes fit the input) over the header page and the
 * tables, the chunk entries first redone from the data (version 5's tags
 * with this host's key and the file's salt); else over all of it.
 */
static void reseal(uint8_t *file, size_t len)
{
	uint8_t sum[32], mac[CAP_SNAP_MAC_LEN];
	struct cap_snap_header h;
	memcpy(&h, file, sizeof h);
	uint8_t *at = file + offsetof(struct cap_snap_header, checksum);
	uint8_t *mac_at = file + offsetof(struct cap_snap_header, mac);
	size_t covered = len;
	struct cap_snap_header_ext x;
	memcpy(&x, file + CAP_SNAP_EXT_OFFSET, sizeof x);
	uint64_t procs = cap_snap_has_procs(&h, &x) ? x.procs_size : 0;
	if (h.format_version >= 3 && h.format_version <= CAP_SNAP_FORMAT_VERSION &&
	    h.nextents <= CAP_SNAP_MAX_EXTENTS && h.data_size <= len && procs <= len &&
	    h.data_offset == cap_snap_data_offset(h.format_version, h.nextents, h.data_size) &&
	    h.data_offset + h.data_size + procs == len) {
		/* version 4: the process section's hash in the header page first */
		if (procs)
			crypto_generichash(file + CAP_SNAP_EXT_OFFSET + offsetof(struct cap_snap_header_ext, procs_hash),
			                   sizeof x.procs_hash, file + h.data_offset + h.data_size, (size_t)procs,
			                   NULL, 0);
		uint8_t *table = file + cap_snap_chunk_table_offset(h.nextents);
		struct snapchunk_keying k = { .version = h.format_version };
		if (h.format_version >= CAP_SNAP_FORMAT_TAGS)
			snapchunk_derive_key(ring.keys[0].key, x.chunk_salt, k.key);
		for (uint64_t i = 0; i < cap_snap_chunk_count(h.format_version, h.data_size); i++) {
			uint64_t pos = i * CAP_SNAP_CHUNK_SIZE, left = h.data_size - pos;
			snapchunk_entry(&k, i, file + h.data_offset + pos,
			                left < CAP_SNAP_CHUNK_SIZE ? left : CAP_SNAP_CHUNK_SIZE,
			                table + i * cap_snap_chunk_entry_len(h.format_version));
		}
		covered = (size_t)h.data_offset;
	}
	memcpy(mac, mac_at, sizeof mac);
	memset(at, 0, sizeof sum);
	memset(mac_at, 0, sizeof mac);
	crypto_generichash(sum, sizeof sum, file, covered, NULL, 0);
	memcpy(at, sum, sizeof sum);
	memcpy(mac_at, mac, sizeof mac);
}

/* After a successful open: everything inspect and resume go on to do with the file. */
static void use(const struct host_snap *s)
{
	static uint8_t report[CAP_REPORT_SIZE];
	struct cap_control ctl;
	char err[512];
	const char *why;
	if (snapfile_read_mem(s, 0, &ctl, sizeof ctl) ||
	    snapfile_read_mem(s, CAP_MEMFD_OFFSET(CAP_REPORT_ADDR), report, sizeof report))
		__builtin_trap();   /* validated extents inside the file: reads cannot fail */
	const struct cap_report_header *rep = capctl_report_check(report, ctl.report_size, &why);
	if (rep) {
		capctl_report_text(sink, rep);
		capctl_report_json(sink, rep);
	}
	struct cap_image_header img;
	memset(&img, 0, sizeof img);
	(void)snapfile_check_image(s, &img, "/x.cap", err, sizeof err);
	/* Restore: a sparse memfd of memfd_size, every extent written where it says. */
	if (ftruncate(mem_fd, 0) || ftruncate(mem_fd, (off_t)s->hdr.memfd_size) ||
	    snapfile_restore(s, mem_fd, err, sizeof err))
		__builtin_trap();
	/* Every other process: its control page read, its memory restored (checked: cannot fail). */
	for (uint32_t i = 1; s->procs && i < s->procs->t.nprocs; i++)
		if (snapprocs_read_mem(s, i, 0, &ctl, sizeof ctl) || ftruncate(mem_fd, 0) ||
		    ftruncate(mem_fd, (off_t)s->hdr.memfd_size) || snapprocs_restore(s, i, mem_fd, err, sizeof err))
			__builtin_trap();
}

/*
 * Byte 0 picks the mode.  Bit 0: the checksum is first made to fit (else
 * mutations mostly die at it, which must hold too).  Bit 1: the MAC too,
 * with the key this host has, so mutations get past authentication to the
 * control page and the restore.  Bit 2: open as capctl inspect does,
 * without authentication, then authenticate separately.  Bit 3: open as a
 * lazy resume does (the data unchecked), then read every chunk as its
 * loader would.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t *file = malloc(size);
	if (!file)
		return 0;
	size_t len = size - 1;
	memcpy(file, data + 1, len);
	if ((data[0] & 1) && len >= CAP_SNAP_HEADER_SIZE)
		reseal(file, len);
	if ((data[0] & 2) && len >= CAP_SNAP_HEADER_SIZE)
		snapauth_mac(ring.keys[0].key, file, file + offsetof(struct cap_snap_header, mac));
	if (ftruncate(file_fd, 0) || (len && pwrite(file_fd, file, len, 0) != (ssize_t)len))
		abort();
	free(file);
	struct host_snap s;
	char err[512] = "";
	int fd = dup(file_fd);
	if (fd < 0)
		abort();
	int inspect = data[0] & 4, lazy = data[0] & 8;
	if (snapfile_open_fd_ex(fd, &s, inspect ? NULL : &ring, !lazy, err, sizeof err) == 0) {
		static uint8_t chunk[CAP_SNAP_CHUNK_SIZE];
		size_t n;
		for (uint64_t i = 0; lazy && i < s.nchunks; i++)
			if (snapfile_read_chunk(&s, i, chunk, &n, err, sizeof err) && !err[0])
				__builtin_trap();   /* a refusal must say why */
		const struct snap_key *used = NULL;
		int ok = snapfile_authenticate(&s, &ring, &used, err, sizeof err) == 0;
		if (!inspect && !ok)
			__builtin_trap();   /* opened with the ring, so it must authenticate */
		if (ok && used != &ring.keys[0])
			__builtin_trap();
		err[0] = 0;   /* then, as capctl inspect: version 5's chunks with that key */
		if (inspect && ok && snapfile_key_chunks(&s, used, err, sizeof err) && !err[0])
			__builtin_trap();   /* a refusal must say why */
		use(&s);
		snapfile_close(&s);
	} else if (!err[0]) {
		__builtin_trap();   /* a refusal must say why */
	}
	return 0;
}
