/* arena.c: page allocator over [base, base+size): sorted free-extent list, freed pages discarded. */
#include <string.h>
#include "runtime/arena.h"

static uintptr_t page_up(uintptr_t x)
{
	return (x + RT_ARENA_PAGE - 1) & ~(RT_ARENA_PAGE - 1);
}

void rt_arena_init(struct rt_arena *a, uintptr_t base, size_t size)
{
	a->base = page_up(base);
	a->limit = (base + size) & ~(RT_ARENA_PAGE - 1);
	if (a->limit < a->base)
		a->limit = a->base;
	a->nfree = 0;
	a->free_bytes = 0;
	a->lost_bytes = 0;
	a->high = a->base;
	if (a->limit > a->base) {
		a->ext[0].start = a->base;
		a->ext[0].end = a->limit;
		a->nfree = 1;
		a->free_bytes = a->limit - a->base;
	}
}

uintptr_t rt_arena_high(const struct rt_arena *a)
{
	return a->high;
}

int rt_arena_contains(const struct rt_arena *a, uintptr_t addr, size_t len)
{
	return addr >= a->base && addr <= a->limit && len <= a->limit - addr;
}

static void remove_ext(struct rt_arena *a, size_t i)
{
	memmove(&a->ext[i], &a->ext[i + 1], (a->nfree - i - 1) * sizeof a->ext[0]);
	a->nfree--;
}

static int insert_ext(struct rt_arena *a, size_t i, uintptr_t start, uintptr_t end)
{
	if (a->nfree == RT_ARENA_EXTENTS)
		return -1;
	memmove(&a->ext[i + 1], &a->ext[i], (a->nfree - i) * sizeof a->ext[0]);
	a->ext[i].start = start;
	a->ext[i].end = end;
	a->nfree++;
	return 0;
}

/* Index of the first extent whose end is above addr. */
static size_t find_ext(const struct rt_arena *a, uintptr_t addr)
{
	size_t lo = 0, hi = a->nfree;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->ext[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Remove [start,end) from the free list (it must lie inside extent i). */
static int carve(struct rt_arena *a, size_t i, uintptr_t start, uintptr_t end)
{
	struct rt_extent *e = &a->ext[i];
	if (e->start == start && e->end == end) {
		remove_ext(a, i);
	} else if (e->start == start) {
		e->start = end;
	} else if (e->end == end) {
		e->end = start;
	} else {
		uintptr_t old_end = e->end;
		if (insert_ext(a, i + 1, end, old_end) < 0)
			return -1;
		a->ext[i].end = start;
	}
	a->free_bytes -= end - start;
	if (end > a->high)
		a->high = end;
	return 0;
}

uintptr_t rt_arena_alloc(struct rt_arena *a, size_t len)
{
	if (!len)
		return 0;
	len = page_up(len);
	if (!len)
		return 0;
	for (size_t i = 0; i < a->nfree; i++) {
		struct rt_extent *e = &a->ext[i];
		if (e->end - e->start >= len) {
			uintptr_t p = e->start;
			if (carve(a, i, p, p + len) < 0)
				return 0;
			return p;
		}
	}
	return 0;
}

int rt_arena_free(struct rt_arena *a, uintptr_t addr, size_t len)
{
	if (addr & (RT_ARENA_PAGE - 1))
		return -1;
	len = page_up(len);
	if (!len || !rt_arena_contains(a, addr, len))
		return -1;
	uintptr_t start = addr, end = addr + len;
	/* Remove overlap with free extents first so the list stays disjoint. */
	size_t i = find_ext(a, start);
	while (i < a->nfree && a->ext[i].start < end) {
		struct rt_extent *e = &a->ext[i];
		uintptr_t s = e->start < start ? e->start : start;
		uintptr_t t = e->end > end ? e->end : end;
		a->free_bytes -= e->end - e->start;
		remove_ext(a, i);
		start = s;
		end = t;
	}
	rt_host_discard((void *)addr, len);
	/* Coalesce with neighbours, then insert. */
	i = find_ext(a, start);
	if (i > 0 && a->ext[i - 1].end == start) {
		i--;
		start = a->ext[i].start;
		a->free_bytes -= a->ext[i].end - a->ext[i].start;
		remove_ext(a, i);
	}
	if (i < a->nfree && a->ext[i].start == end) {
		end = a->ext[i].end;
		a->free_bytes -= a->ext[i].end - a->ext[i].start;
		remove_ext(a, i);
	}
	if (insert_ext(a, i, start, end) < 0) {
		a->lost_bytes += end - start;
		return 0;
	}
	a->free_bytes += end - start;
	return 0;
}

int rt_arena_is_allocated(const struct rt_arena *a, uintptr_t addr, size_t len)
{
	if (!rt_arena_contains(a, addr, len))
		return 0;
	size_t i = find_ext(a, addr);
	return !(i < a->nfree && a->ext[i].start < addr + len);
}

int rt_arena_alloc_at(struct rt_arena *a, uintptr_t addr, size_t len)
{
	if (addr & (RT_ARENA_PAGE - 1))
		return -1;
	len = page_up(len);
	if (!len || !rt_arena_contains(a, addr, len))
		return -1;
	uintptr_t end = addr + len;
	/* Pages already in use are discarded so the new mapping reads as zero. */
	rt_host_discard((void *)addr, len);
	size_t i = find_ext(a, addr);
	while (i < a->nfree && a->ext[i].start < end) {
		struct rt_extent *e = &a->ext[i];
		uintptr_t s = e->start > addr ? e->start : addr;
		uintptr_t t = e->end < end ? e->end : end;
		size_t before = a->nfree;
		if (carve(a, i, s, t) < 0)
			return -1;
		if (a->nfree >= before && a->ext[i].end <= s)
			i++;
	}
	return 0;
}

int rt_arena_grow_in_place(struct rt_arena *a, uintptr_t addr, size_t oldlen, size_t newlen)
{
	oldlen = page_up(oldlen);
	newlen = page_up(newlen);
	if (newlen <= oldlen)
		return 0;
	uintptr_t from = addr + oldlen, to = addr + newlen;
	if (!rt_arena_contains(a, addr, newlen))
		return -1;
	size_t i = find_ext(a, from);
	if (i >= a->nfree || a->ext[i].start != from || a->ext[i].end < to)
		return -1;
	return carve(a, i, from, to);
}
