/* fuzz_image.c: libFuzzer target for the .cap parser: header, checksum, ELF and every program header, build-id, load plan. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule-abi/cap_abi.h"
#include "hosts/formats/elfload.h"
#include "hosts/formats/image.h"
#include "tests/fuzz/fuzz_seed.h"

#define BASE     CAP_IMAGE_BASE
#define ELF_LEN  0x30c8u
#define MEM_SIZE (64UL << 20)

/*
 * A capsule ELF shaped like the ones capcc links (R headers + build-id | RX
 * code | R constants | RW data with TLS and RELRO), carrying one header of
 * every type the validator allows, so mutations start next to each check.
 */
static void make_elf(uint8_t *e)
{
	memset(e, 0, ELF_LEN);
	enum { NPH = 11 };
	Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
	                  .e_entry = BASE + 0x1000, .e_phoff = sizeof eh, .e_ehsize = sizeof eh,
	                  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = NPH };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(e, &eh, sizeof eh);
	const uint64_t note = 0x2b0, prop = 0x2d8, data = 0x2fc8, vdata = BASE + 0x3fc8;
	const Elf64_Phdr ph[NPH] = {
		{ PT_PHDR, PF_R, sizeof eh, BASE + sizeof eh, BASE + sizeof eh, NPH * sizeof(Elf64_Phdr),
		  NPH * sizeof(Elf64_Phdr), 8 },
		{ PT_LOAD, PF_R, 0, BASE, BASE, 0x300, 0x300, 0x1000 },
		{ PT_LOAD, PF_R | PF_X, 0x1000, BASE + 0x1000, BASE + 0x1000, 0x100, 0x100, 0x1000 },
		{ PT_LOAD, PF_R, 0x2000, BASE + 0x2000, BASE + 0x2000, 0x80, 0x80, 0x1000 },
		{ PT_LOAD, PF_R | PF_W, data, vdata, vdata, 0x100, 0x3000, 0x1000 },
		{ PT_NOTE, PF_R, note, BASE + note, BASE + note, 36, 36, 4 },
		{ PT_GNU_PROPERTY, PF_R, prop, BASE + prop, BASE + prop, 0x20, 0x20, 8 },
		{ PT_TLS, PF_R, data, vdata, vdata, 8, 0x40, 8 },
		{ PT_GNU_EH_FRAME, PF_R, 0x2040, BASE + 0x2040, BASE + 0x2040, 0x20, 0x20, 4 },
		{ PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0, 16 },
		{ PT_GNU_RELRO, PF_R, data, vdata, vdata, 0x38, 0x38, 1 },
	};
	memcpy(e + eh.e_phoff, ph, sizeof ph);
	Elf64_Nhdr nh = { 4, 20, NT_GNU_BUILD_ID };
	memcpy(e + note, &nh, sizeof nh);
	memcpy(e + note + sizeof nh, "GNU", 4);
	for (int i = 0; i < 20; i++)
		e[note + sizeof nh + 4 + i] = (uint8_t)(0x40 + i);
	e[0x1000] = 0xc3;
}

/* Header in front of elf, checksum computed: a complete .cap of 4096 + elf_len bytes. */
static void make_image(uint8_t *file, const uint8_t *elf, size_t elf_len, uint64_t mem_size)
{
	struct cap_image_header h = { .format_version = CAP_IMAGE_FORMAT_VERSION,
	                              .abi_version = CAP_ABI_VERSION,
	                              .header_size = CAP_IMAGE_HEADER_SIZE, .elf_size = elf_len,
	                              .mem_size = mem_size, .build_id_len = 20 };
	memcpy(h.magic, CAP_IMAGE_MAGIC, CAP_IMAGE_MAGIC_LEN);
	for (int i = 0; i < 20; i++)
		h.build_id[i] = (uint8_t)(0x40 + i);
	strcpy(h.name, "fuzz");
	memset(file, 0, CAP_IMAGE_HEADER_SIZE);
	memcpy(file, &h, sizeof h);
	memcpy(file + CAP_IMAGE_HEADER_SIZE, elf, elf_len);
	image_checksum(file, elf, elf_len, h.checksum);
	memcpy(file, &h, sizeof h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static uint8_t elf[ELF_LEN], seed[1 + CAP_IMAGE_HEADER_SIZE + ELF_LEN];
	struct cap_image_header h;
	struct host_elf info;
	char err[256];
	make_elf(elf);
	make_image(seed + 1, elf, sizeof elf, MEM_SIZE);
	/* The seed must be valid, or the fuzzer would start outside the deep checks. */
	if (image_validate(seed + 1, sizeof seed - 1, &h, &info, err, sizeof err)) {
		fprintf(stderr, "fuzz_image: the seed image is refused: %s\n", err);
		abort();
	}
	const char *dir = fuzz_corpus_dir(*argc, *argv);
	for (uint8_t mode = 0; mode < 2; mode++) {
		char name[16];
		seed[0] = mode;
		snprintf(name, sizeof name, "image-%u", mode);
		fuzz_seed(dir, name, seed, sizeof seed);
	}
	seed[CAP_IMAGE_HEADER_SIZE] = 2;   /* mode 2: the bare ELF right after the mode byte */
	fuzz_seed(dir, "elf", seed + CAP_IMAGE_HEADER_SIZE, 1 + sizeof elf);
	return 0;
}

/* What a valid ELF promises the loader; a broken promise is a crash for the fuzzer. */
static void promises(const struct host_elf *e, size_t elf_size, uint64_t mem_size)
{
	int entry = 0, phdr = 0, writable = 0;
	if (e->nsegs == 0 || e->nsegs > HOST_ELF_MAX_SEGMENTS)
		__builtin_trap();
	for (unsigned i = 0; i < e->nsegs; i++) {
		const struct host_elf_segment *s = &e->segs[i];
		if (s->vaddr < CAP_IMAGE_BASE || s->memsz > CAP_IMAGE_LIMIT - s->vaddr ||
		    s->filesz > s->memsz || s->offset > elf_size || s->filesz > elf_size - s->offset ||
		    (i && s->vaddr < e->segs[i - 1].vaddr + e->segs[i - 1].memsz) ||
		    ((s->prot & CAP_PROT_W) && (s->prot & CAP_PROT_X)))
			__builtin_trap();
		entry |= (s->prot & CAP_PROT_X) && e->entry >= s->vaddr && e->entry - s->vaddr < s->memsz;
		phdr |= e->phdr_addr >= s->vaddr && e->phdr_addr - s->vaddr < s->filesz;
		writable |= (s->prot & CAP_PROT_W) != 0;
	}
	if (!entry || !phdr || !writable)
		__builtin_trap();
	struct cap_control ctl;
	char err[256];
	memset(&ctl, 0, sizeof ctl);
	if (elfload_plan_build(e, mem_size, &ctl, err, sizeof err))
		return;   /* more mappings than the plan holds: refused, fine */
	for (unsigned i = 0; i < ctl.nmaps; i++)
		if (ctl.maps[i].vaddr % CAP_PAGE_SIZE || ctl.maps[i].size % CAP_PAGE_SIZE ||
		    ctl.maps[i].vaddr < CAP_VBASE || ctl.maps[i].size > CAP_ARENA_MAX + CAP_ARENA_BASE)
			__builtin_trap();
}

/*
 * Byte 0 picks the mode.  0: the rest is a .cap file as found on disk (most
 * mutations die at the checksum, and that must hold too).  1: the same,
 * but elf_size and the checksum are first made to fit, so every mutation
 * reaches the ELF and program-header checks behind them.  2: the rest is a
 * bare ELF, as `capctl pack` checks it.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t mode = data[0] % 3;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	struct cap_image_header h;
	struct host_elf info;
	char err[256];
	if (mode == 2) {
		uint8_t id[CAP_IMAGE_BUILD_ID_MAX];
		if (elfload_check(in, len, &info, err, sizeof err) == 0) {
			promises(&info, len, MEM_SIZE);
			(void)elfload_build_id(in, len, id, sizeof id, err, sizeof err);
		}
		return 0;
	}
	uint8_t *file = malloc(len ? len : 1);
	if (!file)
		return 0;
	memcpy(file, in, len);
	if (mode == 1 && len > CAP_IMAGE_HEADER_SIZE) {
		uint64_t elf_size = len - CAP_IMAGE_HEADER_SIZE;
		uint8_t sum[CAP_IMAGE_CHECKSUM_LEN];
		memcpy(file + offsetof(struct cap_image_header, elf_size), &elf_size, sizeof elf_size);
		image_checksum(file, file + CAP_IMAGE_HEADER_SIZE, elf_size, sum);
		memcpy(file + offsetof(struct cap_image_header, checksum), sum, sizeof sum);
	}
	if (image_validate(file, len, &h, &info, err, sizeof err) == 0) {
		if (h.elf_size != len - CAP_IMAGE_HEADER_SIZE)
			__builtin_trap();
		promises(&info, h.elf_size, h.mem_size);
	}
	free(file);
	return 0;
}
