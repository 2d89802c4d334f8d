/* test_host_image.c: unit tests for .cap validation, the ELF load plan and the initial stack builder. */
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_held.h"
#include "capsule-abi/cap_image.h"
#include "hosts/formats/elfload.h"
#include "hosts/formats/image.h"
#include "hosts/caprun/stackbuild.h"

#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define ELF_SIZE 0x2010
#define BASE     CAP_IMAGE_BASE

/* A minimal capsule ELF: R (headers + build-id) | RX (entry) | RW (.data + .bss). */
static void make_elf(uint8_t *e)
{
	memset(e, 0, ELF_SIZE);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = BASE + 0x1000;
	eh.e_phoff = sizeof eh;
	eh.e_ehsize = sizeof eh;
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 4;
	memcpy(e, &eh, sizeof eh);
	uint64_t note_off = 0x200;
	Elf64_Phdr ph[4] = {
		{ PT_LOAD, PF_R, 0, BASE, BASE, 0x300, 0x300, 0x1000 },
		{ PT_LOAD, PF_R | PF_X, 0x1000, BASE + 0x1000, BASE + 0x1000, 0x100, 0x100, 0x1000 },
		{ PT_LOAD, PF_R | PF_W, 0x2000, BASE + 0x2000, BASE + 0x2000, 0x10, 0x2000, 0x1000 },
		{ PT_NOTE, PF_R, note_off, BASE + note_off, BASE + note_off, 36, 36, 4 },
	};
	memcpy(e + eh.e_phoff, ph, sizeof ph);
	Elf64_Nhdr nh = { 4, 20, NT_GNU_BUILD_ID };
	memcpy(e + note_off, &nh, sizeof nh);
	memcpy(e + note_off + sizeof nh, "GNU", 4);
	for (int i = 0; i < 20; i++)
		e[note_off + sizeof nh + 4 + i] = (uint8_t)(0xa0 + i);
	e[0x1000] = 0xc3;
	memcpy(e + 0x2000, "data bytes here!", 16);
}

/* Header + ELF of the given format version with a correct checksum; returns the file size. */
static size_t make_image_version(uint8_t *file, const uint8_t *elf, size_t elf_size,
                                 uint32_t version)
{
	struct cap_image_header h = { 0 };
	memset(file, 0, CAP_IMAGE_HEADER_SIZE);
	memcpy(h.magic, CAP_IMAGE_MAGIC, CAP_IMAGE_MAGIC_LEN);
	h.format_version = version;
	h.abi_version = CAP_ABI_VERSION;
	h.header_size = CAP_IMAGE_HEADER_SIZE;
	h.elf_size = elf_size;
	h.mem_size = 64UL << 20;
	h.build_id_len = 20;
	for (int i = 0; i < 20; i++)
		h.build_id[i] = (uint8_t)(0xa0 + i);
	strcpy(h.name, "unit");
	memcpy(file, &h, sizeof h);
	memcpy(file + CAP_IMAGE_HEADER_SIZE, elf, elf_size);
	image_checksum(file, elf, elf_size, h.checksum);
	memcpy(file, &h, sizeof h);
	return CAP_IMAGE_HEADER_SIZE + elf_size;
}

static size_t make_image(uint8_t *file, const uint8_t *elf, size_t elf_size)
{
	return make_image_version(file, elf, elf_size, CAP_IMAGE_FORMAT_VERSION);
}

static uint8_t elf[ELF_SIZE];
static uint8_t file[CAP_IMAGE_HEADER_SIZE + ELF_SIZE];

static int validate(size_t size, struct host_elf *info)
{
	struct cap_image_header h;
	char err[256];
	struct host_elf tmp;
	return image_validate(file, size, &h, info ? info : &tmp, err, sizeof err);
}

/* Re-pack after editing the ELF, so only the ELF check can object. */
static int validate_elf_edit(void)
{
	return validate(make_image(file, elf, ELF_SIZE), NULL);
}

static int setup(void **state)
{
	(void)state;
	make_elf(elf);
	make_image(file, elf, ELF_SIZE);
	return 0;
}

static void test_valid_image(void **state)
{
	(void)state;
	struct host_elf info;
	assert_int_equal(validate(sizeof file, &info), 0);
	assert_int_equal(info.nsegs, 3);
	assert_int_equal(info.entry, BASE + 0x1000);
	assert_int_equal(info.phdr_addr, BASE + sizeof(Elf64_Ehdr));
	assert_int_equal(info.phnum, 4);
}

static void test_check_header(void **state)
{
	(void)state;
	struct cap_image_header h;
	char err[256];
	memcpy(&h, file, sizeof h);
	assert_int_equal(cap_image_check_header(&h, sizeof file, err, sizeof err), 0);
	assert_int_equal(cap_image_check_header(&h, 100, err, sizeof err), -1);
	assert_non_null(strstr(err, "truncated"));
	assert_int_equal(cap_image_check_header(&h, sizeof file + 1, err, sizeof err), -1);
	assert_non_null(strstr(err, "trailing"));

	struct cap_image_header b = h;
	b.magic[0] = 'X';
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	assert_non_null(strstr(err, "magic"));
	b = h;
	b.abi_version = 7;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	assert_non_null(strstr(err, "ABI version 7"));
	b = h;
	b.format_version = 3;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	assert_string_equal(err, "image format version 3, this host reads 1 and 2");
	b.format_version = 0;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	b.format_version = CAP_IMAGE_FORMAT_V1;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), 0);
	b = h;
	b.elf_size = CAP_IMAGE_MAX_ELF + 1;
	assert_int_equal(cap_image_check_header(&b, CAP_IMAGE_HEADER_SIZE + b.elf_size, err,
	                                        sizeof err), -1);
	assert_non_null(strstr(err, "oversized"));
	b = h;
	b.mem_size = CAP_ARENA_MAX + CAP_PAGE_SIZE;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	b = h;
	b.mem_size = (64UL << 20) + 1;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	b = h;
	b.build_id_len = 0;
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	b = h;
	strcpy(b.name, "../etc");
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
	b = h;
	memset(b.name, 'a', sizeof b.name);   /* no NUL */
	assert_int_equal(cap_image_check_header(&b, sizeof file, err, sizeof err), -1);
}

static void test_every_truncation_fails(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof file; n += (n < CAP_IMAGE_HEADER_SIZE + 64 ? 1 : 61))
		assert_int_equal(validate(n, NULL), -1);
}

/* Any single bit flip anywhere in the file must be refused (checksum or header checks). */
static void test_every_bit_flip_fails(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof file; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			file[i] ^= (uint8_t)(1u << bit);
			int r = validate(sizeof file, NULL);
			file[i] ^= (uint8_t)(1u << bit);
			if (r != -1)
				fail_msg("flip at byte %zu bit %d accepted", i, bit);
		}
	}
	assert_int_equal(validate(sizeof file, NULL), 0);
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/*
 * The checksum of a fixed input, pinned to values computed outside this code
 * (python3-xxhash's xxh3_128_hexdigest, hashlib.blake2b): a header page with
 * only magic and version set and 0xff in the checksum field (which must be
 * hashed as zeros), then "hello, capsule".
 */
static void test_checksum_pinned(void **state)
{
	(void)state;
	static const char *const want[] = {
		[1] = "a7b005776344fc2b66a907f8a303391e38af32dd4d6109c439601f0207674d7e",
		[2] = "4d46c302c37fdc749b3a8695f11aa817" "00000000000000000000000000000000",
	};
	static uint8_t page[CAP_IMAGE_HEADER_SIZE];
	static const char body[] = "hello, capsule";
	for (uint32_t v = 1; v <= 2; v++) {
		uint8_t sum[CAP_IMAGE_CHECKSUM_LEN];
		char got[2 * CAP_IMAGE_CHECKSUM_LEN + 1];
		memset(page, 0, sizeof page);
		memcpy(page, CAP_IMAGE_MAGIC, CAP_IMAGE_MAGIC_LEN);
		memcpy(page + offsetof(struct cap_image_header, format_version), &v, sizeof v);
		memset(page + offsetof(struct cap_image_header, checksum), 0xff, CAP_IMAGE_CHECKSUM_LEN);
		image_checksum(page, (const uint8_t *)body, strlen(body), sum);
		hex(got, sum, sizeof sum);
		assert_string_equal(got, want[v]);
	}
	assert_string_equal(image_checksum_name(CAP_IMAGE_FORMAT_V1), "BLAKE2b-256");
	assert_string_equal(image_checksum_name(CAP_IMAGE_FORMAT_VERSION), "XXH3-128");
	assert_int_equal(image_checksum_used(CAP_IMAGE_FORMAT_V1), 32);
	assert_int_equal(image_checksum_used(CAP_IMAGE_FORMAT_VERSION), 16);
}

/*
 * Version 1 images (BLAKE2b-256) are still read, and checked as strictly; a
 * version 2 checksum's unused half must be zero; a checksum of the other
 * version's kind does not pass for the one the header names.
 */
static void test_versions(void **state)
{
	(void)state;
	struct cap_image_header h;
	struct host_elf info;
	char err[256];
	size_t size = make_image_version(file, elf, ELF_SIZE, CAP_IMAGE_FORMAT_V1);
	assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), 0);
	assert_int_equal(h.format_version, 1);
	file[CAP_IMAGE_HEADER_SIZE + 0x2001] ^= 0x10;   /* a byte of .data */
	assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), -1);
	assert_string_equal(err, "checksum mismatch: image is corrupt");
	file[CAP_IMAGE_HEADER_SIZE + 0x2001] ^= 0x10;
	/* the version field edited alone: the stored checksum is of the other kind */
	file[offsetof(struct cap_image_header, format_version)] = 2;
	assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), -1);
	assert_string_equal(err, "checksum mismatch: image is corrupt");

	size = make_image(file, elf, ELF_SIZE);
	assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), 0);
	assert_int_equal(h.format_version, 2);
	for (size_t i = CAP_IMAGE_XXH3_LEN; i < CAP_IMAGE_CHECKSUM_LEN; i++) {
		file[offsetof(struct cap_image_header, checksum) + i] ^= 1;
		assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), -1);
		assert_string_equal(err, "checksum mismatch: image is corrupt");
		file[offsetof(struct cap_image_header, checksum) + i] ^= 1;
	}
	file[offsetof(struct cap_image_header, format_version)] = 1;
	assert_int_equal(image_validate(file, size, &h, &info, err, sizeof err), -1);
	assert_string_equal(err, "checksum mismatch: image is corrupt");
}

static void test_bad_elves(void **state)
{
	(void)state;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof *eh);

	eh->e_type = ET_DYN;
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	eh->e_machine = EM_386;
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	elf[EI_CLASS] = ELFCLASS32;
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[3].p_type = PT_INTERP;                         /* dynamic */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[1].p_vaddr = ph[1].p_paddr = 0x10001000;       /* below the image window */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[2].p_memsz = CAP_IMAGE_LIMIT;                  /* runs past the window */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[1].p_vaddr += 0x10;                            /* not page-congruent */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[1].p_flags = PF_R | PF_W | PF_X;               /* W+X */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[2].p_vaddr = BASE + 0x1100;                    /* RW shares a page with RX */
	ph[2].p_offset = 0x1100;
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	ph[1].p_filesz = 0x10000;                         /* past end of file */
	ph[1].p_memsz = 0x10000;
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	eh->e_entry = BASE + 0x2000;                      /* entry not executable */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	eh->e_phoff = ELF_SIZE - 8;                       /* phdrs outside the file */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	elf[0x200 + 8] = NT_GNU_BUILD_ID + 1;             /* no build-id note */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	elf[0x200 + 16] ^= 1;                             /* build-id differs from header */
	assert_int_equal(validate_elf_edit(), -1);
	setup(NULL);
	assert_int_equal(validate_elf_edit(), 0);
}

/* Re-pack after editing the ELF; the validator's one-line verdict ("" when valid). */
static const char *elf_verdict(void)
{
	static char err[256];
	struct cap_image_header h;
	struct host_elf info;
	size_t size = make_image(file, elf, ELF_SIZE);
	err[0] = 0;
	if (image_validate(file, size, &h, &info, err, sizeof err) == 0)
		return "";
	return err;
}

/* A fifth program header, after the four of make_elf (still inside the first PT_LOAD). */
static void add_ph(Elf64_Phdr extra)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	memcpy(elf + eh->e_phoff + 4 * sizeof extra, &extra, sizeof extra);
	eh->e_phnum = 5;
}

/* Every program header is checked: its type, and that what it describes is loaded. */
static void test_program_headers(void **state)
{
	(void)state;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf + sizeof *eh);
	static const struct {
		uint32_t type;
		const char *want;
	} flips[] = {   /* the RW PT_LOAD (header 2) turned into another type */
		{ PT_NOTE, "bad ELF: program header 2 (PT_NOTE): outside every PT_LOAD" },
		{ PT_TLS, "bad ELF: program header 2 (PT_TLS): outside every PT_LOAD" },
		{ PT_GNU_RELRO, "bad ELF: program header 2 (PT_GNU_RELRO): outside every PT_LOAD" },
		{ PT_GNU_STACK, "bad ELF: program header 2 (PT_GNU_STACK): describes memory (it may only "
		                "carry flags)" },
		{ PT_NULL, "bad ELF: program header 2 (PT_NULL): a type the capsule loader does not know" },
		{ PT_SHLIB, "bad ELF: program header 2 (PT_SHLIB): a type the capsule loader does not know" },
		{ 0x12345, "bad ELF: program header 2 (type 0x12345): a type the capsule loader does not "
		           "know" },
		{ PT_INTERP, "bad ELF: program header 2 (PT_INTERP): dynamically linked (static "
		             "executables only)" },
		{ PT_DYNAMIC, "bad ELF: program header 2 (PT_DYNAMIC): dynamically linked (static "
		              "executables only)" },
	};
	for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
		setup(NULL);
		ph[2].p_type = flips[i].type;
		assert_string_equal(elf_verdict(), flips[i].want);
	}

	setup(NULL);
	ph[1].p_type = PT_NOTE;   /* the code segment: its note would lie outside every PT_LOAD */
	assert_string_equal(elf_verdict(), "bad ELF: program header 1 (PT_NOTE): outside every PT_LOAD");
	setup(NULL);
	ph[2].p_flags = PF_R;     /* no .data/.bss: musl's and the runtime's state would fault */
	ph[2].p_memsz = ph[2].p_filesz;
	assert_string_equal(elf_verdict(), "bad ELF: no writable PT_LOAD (the capsule's .data/.bss)");
	setup(NULL);
	ph[0].p_type = ph[1].p_type = ph[2].p_type = PT_NOTE;
	assert_string_equal(elf_verdict(), "bad ELF: no PT_LOAD segment");
	setup(NULL);
	ph[2].p_vaddr = ph[2].p_paddr = BASE + 0x1100;   /* overlaps the code's page */
	ph[2].p_offset = 0x1100;
	assert_string_equal(elf_verdict(), "bad ELF: program header 2 (PT_LOAD): shares a page with "
	                                   "the one before or is out of order");
	setup(NULL);
	ph[1].p_vaddr = ph[1].p_paddr = 0x10001000;
	assert_string_equal(elf_verdict(), "bad ELF: program header 1 (PT_LOAD): outside the image "
	                                   "window (0x20000000..0x40000000)");
	setup(NULL);
	ph[3].p_offset += 4;      /* the note's bytes are not where its address is loaded from */
	assert_string_equal(elf_verdict(), "bad ELF: program header 3 (PT_NOTE): its file bytes are "
	                                   "not what the PT_LOAD maps there");

	/* The optional kinds: fine where they belong, refused elsewhere or twice. */
	const Elf64_Phdr tls = { PT_TLS, PF_R, 0x2000, BASE + 0x2000, BASE + 0x2000, 0x8, 0x100, 8 };
	const Elf64_Phdr relro = { PT_GNU_RELRO, PF_R, 0x2000, BASE + 0x2000, BASE + 0x2000, 8, 8, 1 };
	const Elf64_Phdr phdr = { PT_PHDR, PF_R, sizeof(Elf64_Ehdr), BASE + sizeof(Elf64_Ehdr),
	                          BASE + sizeof(Elf64_Ehdr), 5 * sizeof(Elf64_Phdr),
	                          5 * sizeof(Elf64_Phdr), 8 };
	const Elf64_Phdr stack = { PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0, 16 };
	const Elf64_Phdr fine[] = { tls, relro, phdr, stack };
	for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
		setup(NULL);
		add_ph(fine[i]);
		assert_string_equal(elf_verdict(), "");
	}
	setup(NULL);
	Elf64_Phdr t = tls;
	t.p_align = 3;
	add_ph(t);
	assert_string_equal(elf_verdict(), "bad ELF: program header 4 (PT_TLS): alignment not a power "
	                                   "of two up to 4096");
	setup(NULL);
	t = relro;
	t.p_offset = t.p_vaddr = t.p_paddr = 0x200 + BASE;   /* in the read-only first segment */
	t.p_offset = 0x200;
	add_ph(t);
	assert_string_equal(elf_verdict(), "bad ELF: program header 4 (PT_GNU_RELRO): inside a "
	                                   "read-only PT_LOAD");
	setup(NULL);
	t = phdr;
	t.p_filesz = t.p_memsz = 4 * sizeof(Elf64_Phdr);
	add_ph(t);
	assert_string_equal(elf_verdict(), "bad ELF: program header 4 (PT_PHDR): does not describe "
	                                   "the program header table");
	setup(NULL);
	t = stack;
	t.p_flags |= PF_X;
	add_ph(t);
	assert_string_equal(elf_verdict(), "bad ELF: program header 4 (PT_GNU_STACK): asks for an "
	                                   "executable stack");
	setup(NULL);
	ph[3] = stack;            /* two PT_GNU_STACKs (and no build-id note: checked later) */
	add_ph(stack);
	assert_string_equal(elf_verdict(), "bad ELF: program header 4 (PT_GNU_STACK): more than one "
	                                   "of this type");
}

static void test_load_plan(void **state)
{
	(void)state;
	struct host_elf info;
	struct cap_control *ctl = calloc(1, sizeof *ctl);
	char err[256];
	assert_int_equal(validate(sizeof file, &info), 0);
	assert_int_equal(elfload_plan_build(&info, 64UL << 20, ctl, err, sizeof err), 0);
	assert_int_equal(ctl->nmaps, 8);
	assert_int_equal(ctl->maps[0].vaddr, CAP_CONTROL_ADDR);
	assert_int_equal(ctl->maps[0].source, CAP_MAP_MEMFD);
	/* the packets a host holds for a capsule frozen for good (capsule-abi/cap_held.h) */
	assert_int_equal(ctl->maps[1].vaddr, CAP_HELD_ADDR);
	assert_int_equal(ctl->maps[1].size, CAP_HELD_SIZE);
	assert_int_equal(ctl->maps[1].source, CAP_MAP_MEMFD);
	assert_int_equal(ctl->maps[1].prot, CAP_PROT_R | CAP_PROT_W);
	assert_int_equal(ctl->maps[2].vaddr, CAP_STACK_LOW);
	assert_int_equal(ctl->maps[2].size, CAP_STACK_SIZE);
	/* R: private from the .cap file, offset counted from the file start. */
	assert_int_equal(ctl->maps[3].source, CAP_MAP_IMAGE);
	assert_int_equal(ctl->maps[3].file_offset, CAP_IMAGE_HEADER_SIZE);
	assert_int_equal(ctl->maps[3].prot, CAP_PROT_R);
	assert_int_equal(ctl->maps[4].prot, CAP_PROT_R | CAP_PROT_X);
	assert_int_equal(ctl->maps[4].file_offset, CAP_IMAGE_HEADER_SIZE + 0x1000);
	/* RW: shared from the memfd, page-rounded, .bss included. */
	assert_int_equal(ctl->maps[5].source, CAP_MAP_MEMFD);
	assert_int_equal(ctl->maps[5].vaddr, BASE + 0x2000);
	assert_int_equal(ctl->maps[5].size, 0x2000);
	assert_int_equal(ctl->maps[6].vaddr, CAP_ARENA_BASE);
	assert_int_equal(ctl->maps[6].size, 64UL << 20);
	assert_int_equal(ctl->maps[6].flags, CAP_MAP_NORESERVE);
	/* the window shared by a capsule's processes (docs/PROCESSES.md) */
	assert_int_equal(ctl->maps[7].vaddr, CAP_SHARED_ADDR);
	assert_int_equal(ctl->maps[7].size, CAP_SHARED_SIZE);
	assert_int_equal(ctl->maps[7].source, CAP_MAP_MEMFD);
	assert_int_equal(ctl->maps[7].flags, CAP_MAP_NORESERVE);
	for (unsigned i = 0; i < ctl->nmaps; i++) {
		assert_int_equal(ctl->maps[i].vaddr % CAP_PAGE_SIZE, 0);
		assert_int_equal(ctl->maps[i].size % CAP_PAGE_SIZE, 0);
	}
	assert_int_equal(ctl->entry, BASE + 0x1000);
	assert_int_equal(elfload_plan_build(&info, 12345, ctl, err, sizeof err), -1);
	free(ctl);
}

static uint64_t word_at(const uint8_t *win, size_t len, uint64_t top, uint64_t va)
{
	uint64_t v;
	memcpy(&v, win + (va - (top - len)), sizeof v);
	return v;
}

static void test_stack_builder(void **state)
{
	(void)state;
	enum { LEN = 65536 };
	uint8_t *win = calloc(1, LEN);
	char *argv[] = { "app", "--port", "80" };
	char *envp[] = { "A=1" };
	struct stackbuild_args a = { .argc = 3, .argv = argv, .envc = 1, .envp = envp,
	                             .entry = 0x20001000, .phdr = 0x20000040, .phnum = 4,
	                             .phent = 56, .hwcap = 0x1234, .hwcap2 = 2 };
	memset(a.random, 0x5a, sizeof a.random);
	uint64_t sp, top = CAP_STACK_TOP;
	char err[256];
	assert_int_equal(stackbuild_write(win, LEN, top, &a, &sp, err, sizeof err), 0);
	assert_int_equal(sp % 16, 0);
	assert_true(sp < top && sp > top - LEN);
	assert_int_equal(word_at(win, LEN, top, sp), 3);
	for (int i = 0; i < 3; i++) {
		uint64_t s = word_at(win, LEN, top, sp + 8 + 8 * (uint64_t)i);
		assert_string_equal((char *)win + (s - (top - LEN)), argv[i]);
	}
	assert_int_equal(word_at(win, LEN, top, sp + 32), 0);
	uint64_t e = word_at(win, LEN, top, sp + 40);
	assert_string_equal((char *)win + (e - (top - LEN)), "A=1");
	assert_int_equal(word_at(win, LEN, top, sp + 48), 0);
	int seen_phdr = 0, seen_random = 0, seen_hwcap2 = 0;
	uint64_t p = sp + 56;
	for (;; p += 16) {
		uint64_t k = word_at(win, LEN, top, p), v = word_at(win, LEN, top, p + 8);
		if (k == AT_NULL)
			break;
		assert_int_not_equal(k, AT_SYSINFO_EHDR);   /* no vDSO for capsules */
		if (k == AT_PHDR)
			seen_phdr = v == 0x20000040;
		if (k == AT_HWCAP2)
			seen_hwcap2 = v == 2;
		if (k == AT_RANDOM) {
			seen_random = 1;
			for (int i = 0; i < 16; i++)
				assert_int_equal(win[v - (top - LEN) + (uint64_t)i], 0x5a);
		}
	}
	assert_true(seen_phdr && seen_random && seen_hwcap2);
	assert_true(p + 16 <= top);

	/* Arguments that do not fit are refused, not truncated. */
	char *big = malloc(LEN);
	memset(big, 'x', LEN - 1);
	big[LEN - 1] = 0;
	char *bigv[] = { "app", big };
	a.argv = bigv;
	a.argc = 2;
	assert_int_equal(stackbuild_write(win, LEN, top, &a, &sp, err, sizeof err), -1);
	free(big);
	free(win);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_valid_image, setup),
		cmocka_unit_test_setup(test_check_header, setup),
		cmocka_unit_test_setup(test_every_truncation_fails, setup),
		cmocka_unit_test_setup(test_every_bit_flip_fails, setup),
		cmocka_unit_test_setup(test_checksum_pinned, setup),
		cmocka_unit_test_setup(test_versions, setup),
		cmocka_unit_test_setup(test_bad_elves, setup),
		cmocka_unit_test_setup(test_program_headers, setup),
		cmocka_unit_test_setup(test_load_plan, setup),
		cmocka_unit_test_setup(test_stack_builder, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
