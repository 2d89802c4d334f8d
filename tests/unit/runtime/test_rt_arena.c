/* test_rt_arena.c: the runtime's page allocator on a malloc'ed fake arena (host build, ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "runtime/arena.h"

#define PAGES 64
static unsigned char *mem;
static struct rt_arena arena;
static size_t discarded;

/* Stub for the host's madvise(MADV_REMOVE): zero the pages like the kernel would. */
long rt_host_discard(void *addr, size_t len)
{
	memset(addr, 0, len);
	discarded += len;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(RT_ARENA_PAGE, PAGES * RT_ARENA_PAGE);
	memset(mem, 0, PAGES * RT_ARENA_PAGE);
	rt_arena_init(&arena, (uintptr_t)mem, PAGES * RT_ARENA_PAGE);
	discarded = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

static void alloc_is_first_fit_and_page_rounded(void **state)
{
	(void)state;
	uintptr_t a = rt_arena_alloc(&arena, 1);
	uintptr_t b = rt_arena_alloc(&arena, RT_ARENA_PAGE + 1);
	assert_int_equal(a, (uintptr_t)mem);
	assert_int_equal(b, (uintptr_t)mem + RT_ARENA_PAGE);
	assert_int_equal(arena.free_bytes, (PAGES - 3) * RT_ARENA_PAGE);
	assert_true(rt_arena_is_allocated(&arena, a, 3 * RT_ARENA_PAGE));
}

static void free_coalesces_and_zeroes(void **state)
{
	(void)state;
	uintptr_t a = rt_arena_alloc(&arena, RT_ARENA_PAGE);
	uintptr_t b = rt_arena_alloc(&arena, RT_ARENA_PAGE);
	uintptr_t c = rt_arena_alloc(&arena, RT_ARENA_PAGE);
	memset((void *)b, 0xab, RT_ARENA_PAGE);
	assert_int_equal(rt_arena_free(&arena, a, RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_free(&arena, c, RT_ARENA_PAGE), 0);
	assert_int_equal(arena.nfree, 2);
	assert_int_equal(rt_arena_free(&arena, b, RT_ARENA_PAGE), 0);
	assert_int_equal(arena.nfree, 1);    /* everything merged back */
	assert_int_equal(arena.free_bytes, PAGES * RT_ARENA_PAGE);
	assert_int_equal(((unsigned char *)b)[100], 0);
	assert_int_equal(discarded, 3 * RT_ARENA_PAGE);
}

static void exhaustion_returns_zero(void **state)
{
	(void)state;
	assert_int_equal(rt_arena_alloc(&arena, (PAGES + 1) * RT_ARENA_PAGE), 0);
	uintptr_t all = rt_arena_alloc(&arena, PAGES * RT_ARENA_PAGE);
	assert_int_equal(all, (uintptr_t)mem);
	assert_int_equal(rt_arena_alloc(&arena, 1), 0);
	assert_int_equal(rt_arena_alloc(&arena, 0), 0);
}

static void hole_reuse_and_fragmentation(void **state)
{
	(void)state;
	uintptr_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = rt_arena_alloc(&arena, 2 * RT_ARENA_PAGE);
	rt_arena_free(&arena, p[2], 2 * RT_ARENA_PAGE);
	rt_arena_free(&arena, p[5], 2 * RT_ARENA_PAGE);
	/* A 3-page request does not fit either hole. */
	uintptr_t q = rt_arena_alloc(&arena, 3 * RT_ARENA_PAGE);
	assert_int_equal(q, p[7] + 2 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_alloc(&arena, RT_ARENA_PAGE), p[2]);
	assert_int_equal(rt_arena_alloc(&arena, RT_ARENA_PAGE), p[2] + RT_ARENA_PAGE);
	assert_int_equal(rt_arena_alloc(&arena, 2 * RT_ARENA_PAGE), p[5]);
}

static void fixed_allocation_splits_extent(void **state)
{
	(void)state;
	uintptr_t at = (uintptr_t)mem + 10 * RT_ARENA_PAGE;
	assert_int_equal(rt_arena_alloc_at(&arena, at, 2 * RT_ARENA_PAGE), 0);
	assert_int_equal(arena.nfree, 2);
	assert_true(rt_arena_is_allocated(&arena, at, 2 * RT_ARENA_PAGE));
	assert_false(rt_arena_is_allocated(&arena, at - RT_ARENA_PAGE, RT_ARENA_PAGE));
	/* Overlapping an in-use range is allowed (MAP_FIXED replaces). */
	assert_int_equal(rt_arena_alloc_at(&arena, at + RT_ARENA_PAGE, 3 * RT_ARENA_PAGE), 0);
	assert_int_equal(arena.free_bytes, (PAGES - 4) * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_alloc_at(&arena, at + 1, RT_ARENA_PAGE), -1);
	assert_int_equal(rt_arena_alloc_at(&arena, (uintptr_t)mem + PAGES * RT_ARENA_PAGE, RT_ARENA_PAGE), -1);
}

static void partial_free_and_double_free(void **state)
{
	(void)state;
	uintptr_t a = rt_arena_alloc(&arena, 8 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_free(&arena, a + 2 * RT_ARENA_PAGE, 2 * RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_free(&arena, a + 2 * RT_ARENA_PAGE, 2 * RT_ARENA_PAGE), 0);
	assert_int_equal(arena.free_bytes, (PAGES - 6) * RT_ARENA_PAGE);
	/* Freeing across free and used pages keeps the list disjoint. */
	assert_int_equal(rt_arena_free(&arena, a, 8 * RT_ARENA_PAGE), 0);
	assert_int_equal(arena.nfree, 1);
	assert_int_equal(arena.free_bytes, PAGES * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_free(&arena, a + 1, RT_ARENA_PAGE), -1);
	assert_int_equal(rt_arena_free(&arena, (uintptr_t)mem - RT_ARENA_PAGE, RT_ARENA_PAGE), -1);
}

static void grow_in_place(void **state)
{
	(void)state;
	uintptr_t a = rt_arena_alloc(&arena, RT_ARENA_PAGE);
	assert_int_equal(rt_arena_grow_in_place(&arena, a, RT_ARENA_PAGE, 4 * RT_ARENA_PAGE), 0);
	uintptr_t b = rt_arena_alloc(&arena, RT_ARENA_PAGE);
	assert_int_equal(b, a + 4 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_grow_in_place(&arena, a, 4 * RT_ARENA_PAGE, 5 * RT_ARENA_PAGE), -1);
}

/* The mark pre-copy scans below (cap_control.arena_high): every page ever handed out is
 * under it, by any way of allocating, and freeing never lowers it. */
static void high_mark_covers_every_allocation(void **state)
{
	(void)state;
	uintptr_t base = (uintptr_t)mem;
	assert_int_equal(rt_arena_high(&arena), base);
	uintptr_t a = rt_arena_alloc(&arena, 3 * RT_ARENA_PAGE + 1);
	assert_int_equal(rt_arena_high(&arena), a + 4 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_grow_in_place(&arena, a, 4 * RT_ARENA_PAGE, 6 * RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_high(&arena), a + 6 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_alloc_at(&arena, base + 40 * RT_ARENA_PAGE, RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_high(&arena), base + 41 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_free(&arena, base + 40 * RT_ARENA_PAGE, RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_free(&arena, a, 6 * RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_high(&arena), base + 41 * RT_ARENA_PAGE);
	uintptr_t b = rt_arena_alloc(&arena, RT_ARENA_PAGE);   /* reused below the mark */
	assert_int_equal(b, base);
	assert_int_equal(rt_arena_high(&arena), base + 41 * RT_ARENA_PAGE);
	assert_int_equal(rt_arena_alloc_at(&arena, base + (PAGES - 1) * RT_ARENA_PAGE, RT_ARENA_PAGE), 0);
	assert_int_equal(rt_arena_high(&arena), base + PAGES * RT_ARENA_PAGE);
}

static void random_alloc_free_keeps_accounting(void **state)
{
	(void)state;
	uintptr_t held[32] = { 0 };
	size_t len[32] = { 0 };
	srand(7);
	for (int round = 0; round < 5000; round++) {
		int i = rand() % 32;
		if (held[i]) {
			assert_int_equal(rt_arena_free(&arena, held[i], len[i]), 0);
			held[i] = 0;
		} else {
			len[i] = (size_t)(rand() % 4 + 1) * RT_ARENA_PAGE;
			held[i] = rt_arena_alloc(&arena, len[i]);
			if (held[i]) {
				assert_true(held[i] + len[i] <= rt_arena_high(&arena));
				for (size_t o = 0; o < len[i]; o += 512)
					assert_int_equal(((unsigned char *)held[i])[o], 0);
				memset((void *)held[i], i + 1, len[i]);
			}
		}
		size_t used = 0;
		for (int k = 0; k < 32; k++)
			if (held[k])
				used += len[k];
		assert_int_equal(arena.free_bytes + used, PAGES * RT_ARENA_PAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(alloc_is_first_fit_and_page_rounded, setup, teardown),
		cmocka_unit_test_setup_teardown(free_coalesces_and_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(exhaustion_returns_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(hole_reuse_and_fragmentation, setup, teardown),
		cmocka_unit_test_setup_teardown(fixed_allocation_splits_extent, setup, teardown),
		cmocka_unit_test_setup_teardown(partial_free_and_double_free, setup, teardown),
		cmocka_unit_test_setup_teardown(grow_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(high_mark_covers_every_allocation, setup, teardown),
		cmocka_unit_test_setup_teardown(random_alloc_free_keeps_accounting, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
