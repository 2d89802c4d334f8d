/* elfload.c: checks a capsule's static x86_64 ELF and turns its PT_LOADs into the loader's plan. */
#include "hosts/formats/elfload.h"
#include "capsule-abi/cap_held.h"
#include "capsule-abi/cap_image.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define PAGE_DOWN(x) ((x) & ~(CAP_PAGE_SIZE - 1))
#define PAGE_UP(x)   (((x) + CAP_PAGE_SIZE - 1) & ~(CAP_PAGE_SIZE - 1))
#define MAX_PHNUM    64

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "bad ELF: %s", why);
	return -1;
}

/* 1 if [off, off+len) lies inside [0, size), without overflowing. */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static uint32_t prot_of(uint32_t p_flags)
{
	return ((p_flags & PF_R) ? CAP_PROT_R : 0) | ((p_flags & PF_W) ? CAP_PROT_W : 0) |
	       ((p_flags & PF_X) ? CAP_PROT_X : 0);
}

static int check_header(const uint8_t *elf, size_t size, Elf64_Ehdr *eh, char *err, size_t errlen)
{
	if (size < sizeof *eh)
		return fail(err, errlen, "truncated header");
	memcpy(eh, elf, sizeof *eh);
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, "no ELF magic");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT)
		return fail(err, errlen, "not a little-endian 64-bit ELF");
	if (eh->e_machine != EM_X86_64)
		return fail(err, errlen, "not x86_64");
	if (eh->e_type != ET_EXEC)
		return fail(err, errlen, "not a fixed-address executable (ET_EXEC)");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHNUM)
		return fail(err, errlen, "bad program header table");
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size) ||
	    eh->e_phoff % 8)
		return fail(err, errlen, "program headers outside the file");
	return 0;
}

static const char *type_name(uint32_t type, char *buf, size_t len)
{
	switch (type) {
	case PT_NULL: return "PT_NULL";
	case PT_LOAD: return "PT_LOAD";
	case PT_DYNAMIC: return "PT_DYNAMIC";
	case PT_INTERP: return "PT_INTERP";
	case PT_NOTE: return "PT_NOTE";
	case PT_SHLIB: return "PT_SHLIB";
	case PT_PHDR: return "PT_PHDR";
	case PT_TLS: return "PT_TLS";
	case PT_GNU_EH_FRAME: return "PT_GNU_EH_FRAME";
	case PT_GNU_STACK: return "PT_GNU_STACK";
	case PT_GNU_RELRO: return "PT_GNU_RELRO";
	case PT_GNU_PROPERTY: return "PT_GNU_PROPERTY";
	}
	snprintf(buf, len, "type %#x", type);
	return buf;
}

/* "bad ELF: program header 3 (PT_NOTE): outside every PT_LOAD" */
static int ph_fail(char *err, size_t errlen, unsigned i, uint32_t type, const char *why)
{
	char buf[24];
	snprintf(err, errlen, "bad ELF: program header %u (%s): %s", i, type_name(type, buf, sizeof buf),
	         why);
	return -1;
}

static const char *check_load(const Elf64_Phdr *ph, size_t size)
{
	if (ph->p_memsz == 0 || ph->p_filesz > ph->p_memsz)
		return "bad sizes";
	if (!in_file(ph->p_offset, ph->p_filesz, size))
		return "outside the file";
	if ((ph->p_vaddr - ph->p_offset) % CAP_PAGE_SIZE)
		return "not page-congruent";
	if (ph->p_vaddr < CAP_IMAGE_BASE || ph->p_vaddr >= CAP_IMAGE_LIMIT ||
	    ph->p_memsz > CAP_IMAGE_LIMIT - ph->p_vaddr)
		return "outside the image window (0x20000000..0x40000000)";
	if ((ph->p_flags & PF_W) && (ph->p_flags & PF_X))
		return "writable and executable";
	if (!(ph->p_flags & (PF_R | PF_W | PF_X)))
		return "no access";
	if (!(ph->p_flags & PF_W) && ph->p_memsz != ph->p_filesz)
		return "read-only with zero-fill";
	return NULL;
}

/*
 * A header that describes part of the loaded image (a note, the TLS
 * template, the RELRO range, ...): its memory must lie inside one PT_LOAD,
 * and its file bytes must be that PT_LOAD's bytes at the same place, or
 * whatever reads it (musl reads the TLS template at p_vaddr, we read notes
 * at p_offset) would find something else.  Catches a PT_LOAD whose type was
 * changed: what it described is no longer loaded.
 */
static const char *check_described(const Elf64_Phdr *ph, const struct host_elf *out, size_t size)
{
	if (ph->p_filesz > ph->p_memsz)
		return "file size larger than memory size";
	if (!in_file(ph->p_offset, ph->p_filesz, size))
		return "outside the file";
	/* The TLS template's zero-filled tail (.tbss) is copied per thread, never read in place. */
	uint64_t len = ph->p_type == PT_TLS ? ph->p_filesz : ph->p_memsz;
	for (unsigned k = 0; k < out->nsegs; k++) {
		const struct host_elf_segment *s = &out->segs[k];
		if (ph->p_vaddr < s->vaddr || ph->p_vaddr - s->vaddr > s->memsz ||
		    len > s->memsz - (ph->p_vaddr - s->vaddr))
			continue;
		if (ph->p_filesz && (ph->p_offset - s->offset != ph->p_vaddr - s->vaddr ||
		                     ph->p_vaddr - s->vaddr > s->filesz ||
		                     ph->p_filesz > s->filesz - (ph->p_vaddr - s->vaddr)))
			return "its file bytes are not what the PT_LOAD maps there";
		if (ph->p_type == PT_GNU_RELRO && !(s->prot & CAP_PROT_W))
			return "inside a read-only PT_LOAD";
		return NULL;
	}
	return "outside every PT_LOAD";
}

/* The non-PT_LOAD headers, once every PT_LOAD is known. */
static int check_others(const uint8_t *elf, size_t size, const Elf64_Ehdr *eh,
                        const struct host_elf *out, char *err, size_t errlen)
{
	unsigned seen[8] = { 0 };   /* how many of each single-instance type */
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh->e_phoff + i * sizeof ph, sizeof ph);
		const char *why = NULL;
		int single = -1;
		switch (ph.p_type) {
		case PT_LOAD:
			continue;
		case PT_INTERP:
		case PT_DYNAMIC:
			why = "dynamically linked (static executables only)";
			break;
		case PT_GNU_STACK:
			/* Only its flags (and musl: a stack size in p_memsz) mean anything. */
			single = 0;
			if (ph.p_flags & PF_X)
				why = "asks for an executable stack";
			else if (ph.p_vaddr || ph.p_offset || ph.p_filesz)
				why = "describes memory (it may only carry flags)";
			break;
		case PT_TLS:
			single = 1;
			why = check_described(&ph, out, size);
			if (!why && (ph.p_align > CAP_PAGE_SIZE || (ph.p_align & (ph.p_align - 1))))
				why = "alignment not a power of two up to 4096";
			break;
		case PT_PHDR:
			single = 2;
			why = check_described(&ph, out, size);
			if (!why && (ph.p_offset != eh->e_phoff ||
			             ph.p_filesz != (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
				why = "does not describe the program header table";
			break;
		case PT_GNU_RELRO:
			single = 3;
			why = check_described(&ph, out, size);
			break;
		case PT_GNU_EH_FRAME:
			single = 4;
			why = check_described(&ph, out, size);
			break;
		case PT_GNU_PROPERTY:
			single = 5;
			why = check_described(&ph, out, size);
			break;
		case PT_NOTE:
			why = check_described(&ph, out, size);
			break;
		default:
			/* Whatever it asks for, the loader would silently not do it. */
			why = "a type the capsule loader does not know";
		}
		if (!why && single >= 0 && seen[single]++)
			why = "more than one of this type";
		if (why)
			return ph_fail(err, errlen, i, ph.p_type, why);
	}
	return 0;
}

int elfload_check(const uint8_t *elf, size_t size, struct host_elf *out,
                   char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	memset(out, 0, sizeof *out);
	if (check_header(elf, size, &eh, err, errlen))
		return -1;
	out->entry = eh.e_entry;
	out->phnum = eh.e_phnum;
	out->phentsize = eh.e_phentsize;
	uint64_t ph_end = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);

	uint64_t prev_page_end = 0;
	int entry_ok = 0, writable = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_LOAD)
			continue;
		const char *why = check_load(&ph, size);
		if (why)
			return ph_fail(err, errlen, i, ph.p_type, why);
		if (out->nsegs == HOST_ELF_MAX_SEGMENTS)
			return ph_fail(err, errlen, i, ph.p_type, "more than 8 PT_LOAD segments");
		/* Sorted and page-disjoint: no page is shared by two segments. */
		if (PAGE_DOWN(ph.p_vaddr) < prev_page_end)
			return ph_fail(err, errlen, i, ph.p_type,
			               "shares a page with the one before or is out of order");
		prev_page_end = PAGE_UP(ph.p_vaddr + ph.p_memsz);

		struct host_elf_segment *s = &out->segs[out->nsegs++];
		s->vaddr = ph.p_vaddr;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->prot = prot_of(ph.p_flags);
		writable |= (s->prot & CAP_PROT_W) != 0;
		if ((s->prot & CAP_PROT_X) && eh.e_entry >= ph.p_vaddr &&
		    eh.e_entry < ph.p_vaddr + ph.p_memsz)
			entry_ok = 1;
		if (!out->phdr_addr && eh.e_phoff >= ph.p_offset && ph_end <= ph.p_offset + ph.p_filesz)
			out->phdr_addr = ph.p_vaddr + (eh.e_phoff - ph.p_offset);
	}
	if (out->nsegs == 0)
		return fail(err, errlen, "no PT_LOAD segment");
	if (check_others(elf, size, &eh, out, err, errlen))
		return -1;
	if (!writable)
		return fail(err, errlen, "no writable PT_LOAD (the capsule's .data/.bss)");
	if (!entry_ok)
		return fail(err, errlen, "entry point outside executable segments");
	if (!out->phdr_addr)
		return fail(err, errlen, "program headers not inside a loaded segment");
	return 0;
}

int elfload_build_id(const uint8_t *elf, size_t size, uint8_t *id, size_t max,
                      char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	if (check_header(elf, size, &eh, err, errlen))
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, elf + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_NOTE || !in_file(ph.p_offset, ph.p_filesz, size))
			continue;
		uint64_t pos = ph.p_offset, end = ph.p_offset + ph.p_filesz;
		while (end - pos >= sizeof(Elf64_Nhdr)) {
			Elf64_Nhdr nh;
			memcpy(&nh, elf + pos, sizeof nh);
			uint64_t name_at = pos + sizeof nh;
			uint64_t desc_at = name_at + ((nh.n_namesz + 3ULL) & ~3ULL);
			uint64_t next = desc_at + ((nh.n_descsz + 3ULL) & ~3ULL);
			if (next > end)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(elf + name_at, "GNU", 4) == 0) {
				if (nh.n_descsz == 0 || nh.n_descsz > max)
					return fail(err, errlen, "build-id of unusual length");
				memcpy(id, elf + desc_at, nh.n_descsz);
				return (int)nh.n_descsz;
			}
			pos = next;
		}
	}
	snprintf(err, errlen, "no GNU build-id note (link with -Wl,--build-id)");
	return -1;
}

static int add_map(struct cap_control *ctl, uint64_t vaddr, uint64_t size, uint32_t source,
                   uint64_t file_offset, uint32_t prot, uint32_t flags)
{
	if (ctl->nmaps == CAP_MAX_MAPS)
		return -1;
	struct cap_map *m = &ctl->maps[ctl->nmaps++];
	memset(m, 0, sizeof *m);
	m->vaddr = vaddr;
	m->size = size;
	m->source = source;
	m->file_offset = file_offset;
	m->prot = prot;
	m->flags = flags;
	return 0;
}

int elfload_plan_build(const struct host_elf *elf, uint64_t arena_size,
                    struct cap_control *ctl, char *err, size_t errlen)
{
	const uint32_t rw = CAP_PROT_R | CAP_PROT_W;
	if (arena_size < CAP_ARENA_MIN || arena_size > CAP_ARENA_MAX || arena_size % CAP_PAGE_SIZE) {
		snprintf(err, errlen, "arena size %llu out of range", (unsigned long long)arena_size);
		return -1;
	}
	ctl->nmaps = 0;
	int r = add_map(ctl, CAP_CONTROL_ADDR, CAP_CONTROL_SIZE, CAP_MAP_MEMFD, 0, rw, 0);
	r |= add_map(ctl, CAP_HELD_ADDR, CAP_HELD_SIZE, CAP_MAP_MEMFD, 0, rw, 0);
	r |= add_map(ctl, CAP_STACK_LOW, CAP_STACK_SIZE, CAP_MAP_MEMFD, 0, rw, 0);
	for (unsigned i = 0; i < elf->nsegs; i++) {
		const struct host_elf_segment *s = &elf->segs[i];
		uint64_t start = PAGE_DOWN(s->vaddr), end = PAGE_UP(s->vaddr + s->memsz);
		if (s->prot & CAP_PROT_W)
			r |= add_map(ctl, start, end - start, CAP_MAP_MEMFD, 0, s->prot, 0);
		else
			r |= add_map(ctl, start, end - start, CAP_MAP_IMAGE,
			             CAP_IMAGE_HEADER_SIZE + PAGE_DOWN(s->offset), s->prot, 0);
	}
	r |= add_map(ctl, CAP_ARENA_BASE, arena_size, CAP_MAP_MEMFD, 0, rw, CAP_MAP_NORESERVE);
	/* Last, so a forked process's plan finds it there (docs/PROCESSES.md). */
	r |= add_map(ctl, CAP_SHARED_ADDR, CAP_SHARED_SIZE, CAP_MAP_MEMFD, 0, rw, CAP_MAP_NORESERVE);
	if (r) {
		snprintf(err, errlen, "load plan needs more than %d mappings", CAP_MAX_MAPS);
		return -1;
	}
	ctl->arena_base = CAP_ARENA_BASE;
	ctl->arena_size = arena_size;
	ctl->entry = elf->entry;
	return 0;
}
