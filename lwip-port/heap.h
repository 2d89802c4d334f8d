/* heap.h: lwIP's heap (lwipopts.h: MEM_LIBC_MALLOC), size classes with a free list each in one .bss region, heap.c. */
#ifndef LP_HEAP_H
#define LP_HEAP_H

#include <stddef.h>

/* The region blocks are carved from: lwipopts.h says the same as MEM_SIZE (netif.c checks). */
#define LP_HEAP_REGION_SIZE (64u * 1024 * 1024)

/* The largest block: lwIP asks for at most a pbuf of one 64 KiB packet and its headers. */
#define LP_HEAP_MAX_BLOCK (256 * 1024)

/* lwIP's mem_malloc, mem_free and mem_calloc (16-byte aligned; NULL when the region is spent). */
void *lp_heap_malloc(size_t size);
void lp_heap_free(void *p);
void *lp_heap_calloc(size_t count, size_t size);

/* What the heap holds now, for tests. */
struct lp_heap_stats {
	size_t carved;   /* bytes of the region handed out so far, headers included (never falls) */
	size_t live;     /* blocks in use */
};
void lp_heap_get_stats(struct lp_heap_stats *s);

/* Tests only: carve from [base, base + size) instead of the .bss region, starting empty. */
void lp_heap_use_region(void *base, size_t size);

#endif
