/* snapfixture.h: a fake frozen capsule, a host key and snapshot helpers shared by the snapshot unit tests. */
#ifndef TEST_SNAPFIXTURE_H
#define TEST_SNAPFIXTURE_H

#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapfile.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define ARENA     CAP_ARENA_MIN
#define MEMFD_LEN CAP_MEMFD_OFFSET(CAP_ARENA_BASE + ARENA)
#define PAGE      CAP_PAGE_SIZE
#define NPAGES    8     /* data_pages */
#define NEXTENTS  5     /* adjacent pages merge */
#define BIG_PAGES 150   /* big_memfd's arena pages */

extern char dir[];                 /* the scratch directory (snapfix_setup) */
extern char host_key[PATH_MAX];    /* this "host"'s snapshot key (CAPSULE_HOST_KEY) */
extern struct snap_key key;        /* ... as the writer uses it */
/* Where the fake capsule wrote: control page, report page, 2 stack pages, .data, 3 arena pages. */
extern const uint64_t data_pages[NPAGES];

/* The scratch directory, the environment and the host key; and their removal.  0 or -1. */
int snapfix_setup(void);
int snapfix_teardown(void);

/* The fake capsule's page at off: a pattern, and on page 0 a frozen control page. */
void fake_page(uint64_t off, uint8_t page[PAGE], int frozen);
/* Its memfd (its control page frozen or not), and one with 600 KiB of arena more:
 * three chunks, the last one short. */
int fake_memfd_as(int frozen);
int fake_memfd(void);
int big_memfd(void);
/* A header's descriptive fields, as caprun fills them. */
void template(struct cap_snap_header *h);

void write_file(const char *path, const void *p, size_t n);
/* Read the whole file at path (malloc'd), its length in *len. */
uint8_t *slurp(const char *path, size_t *len);
/* Open a variant of a snapshot (written to dir/variant.snap); it must be refused with want
 * in the reason. */
void refused(const void *bytes, size_t len, const char *want);
/* The checksum made to fit again after an edit (chunk entries redone; version 5's with key). */
void reseal(uint8_t *b, size_t len);
/* The checksum over the header page and the tables, and the MAC, redone by a key holder. */
void remac_tables(uint8_t *b, uint64_t data_offset);
/* big_memfd's capsule written to dir/name (its header in *h, its path in path). */
int write_big(const char *name, struct cap_snap_header *h, char path[PATH_MAX]);

#endif
