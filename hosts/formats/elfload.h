/* elfload.h: validation of a capsule's static ELF and the load plan computed from it. */
#ifndef HOST_ELFLOAD_H
#define HOST_ELFLOAD_H

#include "capsule-abi/cap_abi.h"

#include <stddef.h>
#include <stdint.h>

#define HOST_ELF_MAX_SEGMENTS 8

/* One PT_LOAD, as found in the ELF (not yet page-rounded). */
struct host_elf_segment {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;   /* offset within the ELF, not the .cap file */
	uint32_t prot;             /* CAP_PROT_* */
};

/* What the loader needs to know about a validated ELF. */
struct host_elf {
	uint64_t entry;
	uint64_t phdr_addr;        /* AT_PHDR: where the program headers are mapped */
	uint16_t phnum, phentsize;
	unsigned nsegs;
	struct host_elf_segment segs[HOST_ELF_MAX_SEGMENTS];
};

/*
 * Check that elf[0..size) is a loadable capsule: ET_EXEC, x86_64, static
 * (no PT_INTERP/PT_DYNAMIC), PT_LOADs page-congruent, inside
 * [CAP_IMAGE_BASE, CAP_IMAGE_LIMIT), sorted, not overlapping, writable
 * segments on pages of their own, none writable+executable, at least one
 * writable, entry inside an executable segment.  Every other program
 * header must be of a type the loader handles or may ignore (PT_NOTE,
 * PT_TLS, PT_PHDR, PT_GNU_STACK, PT_GNU_RELRO, PT_GNU_EH_FRAME,
 * PT_GNU_PROPERTY) and describe memory inside one PT_LOAD.  Returns 0, or
 * -1 with a reason in err ("bad ELF: program header 3 (PT_NOTE): outside
 * every PT_LOAD").
 */
int elfload_check(const uint8_t *elf, size_t size, struct host_elf *out,
                   char *err, size_t errlen);

/* Copy the NT_GNU_BUILD_ID note's bytes (at most max) to id; returns its length, or -1. */
int elfload_build_id(const uint8_t *elf, size_t size, uint8_t *id, size_t max,
                      char *err, size_t errlen);

/*
 * Fill ctl->maps[]/nmaps with the load plan for a validated ELF inside a
 * .cap file: control window, stack window, each PT_LOAD (read-only ones
 * private from the image, writable ones shared from the memfd) and the arena.
 */
int elfload_plan_build(const struct host_elf *elf, uint64_t arena_size,
                    struct cap_control *ctl, char *err, size_t errlen);

#endif
