/* arena.h: page allocator over the capsule arena (portable: also compiled for host unit tests). */
#ifndef RT_ARENA_H
#define RT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define RT_ARENA_PAGE     4096UL
#define RT_ARENA_EXTENTS  8192

struct rt_extent { uintptr_t start, end; };   /* [start, end), page aligned */

/* Free space as a sorted, coalesced list of extents (lives in .bss in the capsule). */
struct rt_arena {
	uintptr_t base, limit;
	size_t nfree;
	size_t free_bytes;
	size_t lost_bytes;       /* freed while the extent table was full: never reused */
	uintptr_t high;          /* the end of the highest page ever handed out; base if none */
	struct rt_extent ext[RT_ARENA_EXTENTS];
};

void rt_arena_init(struct rt_arena *a, uintptr_t base, size_t size);
/* First fit; returns 0 when no run of len bytes is free.  Memory reads as zero. */
uintptr_t rt_arena_alloc(struct rt_arena *a, size_t len);
/* Claim exactly [addr, addr+len) (MAP_FIXED): pages already in use are zeroed. */
int rt_arena_alloc_at(struct rt_arena *a, uintptr_t addr, size_t len);
/* Give pages back (discarded so they read back as zero); freeing free pages is harmless. */
int rt_arena_free(struct rt_arena *a, uintptr_t addr, size_t len);
/* Grow in place if the pages right after are free; 0 on success. */
int rt_arena_grow_in_place(struct rt_arena *a, uintptr_t addr, size_t oldlen, size_t newlen);
int rt_arena_contains(const struct rt_arena *a, uintptr_t addr, size_t len);
/* The end of the highest page ever allocated (never lower later); a->base before any. */
uintptr_t rt_arena_high(const struct rt_arena *a);
/* 1 if every page of [addr, addr+len) is allocated. */
int rt_arena_is_allocated(const struct rt_arena *a, uintptr_t addr, size_t len);

/* Provided by the caller: hand pages back to the host (madvise MADV_REMOVE). */
long rt_host_discard(void *addr, size_t len);

#endif
