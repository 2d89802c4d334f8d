/* test_lp_heap.c: lwIP's heap (heap.c): aligned blocks that hold what was asked, reused by size class, a spent region served from larger free blocks, and what it refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwip-port/heap.h"

static unsigned char arena[1 << 20] __attribute__((aligned(16)));

static int fresh(void **state)
{
	(void)state;
	lp_heap_use_region(arena, sizeof arena);
	return 0;
}

/* Every size up to the largest: 16-aligned, inside the region, writable whole, apart from the others. */
static void blocks_hold_what_was_asked(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 15, 16, 17, 31, 32, 33, 100, 511, 512, 513, 576, 577, 1023,
	                                1024, 1025, 1460, 1514, 1600, 4096, 9000, 65535, 65600,
	                                131073, LP_HEAP_MAX_BLOCK };
	void *p[sizeof sizes / sizeof sizes[0]];
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		p[i] = lp_heap_malloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		assert_true((unsigned char *)p[i] >= arena && (unsigned char *)p[i] + sizes[i] <= arena + sizeof arena);
		memset(p[i], (int)i + 1, sizes[i]);
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		const unsigned char *b = p[i];
		for (size_t k = 0; k < sizes[i]; k++)
			assert_int_equal(b[k], (unsigned char)(i + 1));   /* nobody else wrote into it */
		lp_heap_free(p[i]);
	}
	struct lp_heap_stats s;
	lp_heap_get_stats(&s);
	assert_int_equal(s.live, 0);
}

/* A freed block comes back for the next request of its class, last freed first; no new carving. */
static void freed_blocks_are_reused(void **state)
{
	(void)state;
	void *a = lp_heap_malloc(1500), *b = lp_heap_malloc(1500), *small = lp_heap_malloc(40);
	struct lp_heap_stats before, after;
	lp_heap_get_stats(&before);
	lp_heap_free(a);
	lp_heap_free(b);
	assert_ptr_equal(lp_heap_malloc(1460), b);   /* same class (1408 < n <= 1536) */
	assert_ptr_equal(lp_heap_malloc(1536), a);
	lp_heap_free(small);
	assert_ptr_equal(lp_heap_malloc(33), small);   /* 40 and 33: the class 33..64 */
	lp_heap_get_stats(&after);
	assert_int_equal(after.carved, before.carved);
	assert_int_equal(after.live, 3);
}

/*
 * The pattern lwIP's first fit was slow on: a window of segments in flight (a pbuf and a small
 * tcp_seg each) freed oldest first while new ones come, with small short-lived blocks between.
 * The region stops growing once the window is full: each size reuses its own freed blocks.
 */
static void a_sliding_window_stops_carving(void **state)
{
	(void)state;
	enum { WINDOW = 300 };
	void *seg[WINDOW][2];
	struct lp_heap_stats full, later;
	for (int i = 0; i < WINDOW; i++) {
		seg[i][0] = lp_heap_malloc(1514 + 16);
		seg[i][1] = lp_heap_malloc(40);
		assert_non_null(seg[i][0]);
		assert_non_null(seg[i][1]);
	}
	lp_heap_get_stats(&full);
	for (int n = 0; n < 20 * WINDOW; n++) {
		int i = n % WINDOW;
		void *ack = lp_heap_malloc(54 + 16);
		lp_heap_free(seg[i][0]);
		lp_heap_free(seg[i][1]);
		lp_heap_free(ack);
		seg[i][0] = lp_heap_malloc(1514 + 16);
		seg[i][1] = lp_heap_malloc(40);
		assert_non_null(seg[i][0]);
		assert_non_null(seg[i][1]);
	}
	lp_heap_get_stats(&later);
	assert_true(later.carved <= full.carved + 128);   /* one ACK's block, nothing per segment */
	assert_int_equal(later.live, 2 * WINDOW);
}

/* Once the region is spent, a request is served from a free block of a larger class, never a smaller one. */
static void a_spent_region_takes_larger_free_blocks(void **state)
{
	(void)state;
	static unsigned char small_arena[64 * 1024] __attribute__((aligned(16)));
	lp_heap_use_region(small_arena, sizeof small_arena);
	void *big = lp_heap_malloc(8192), *mid = lp_heap_malloc(1024), *p;
	assert_non_null(big);
	assert_non_null(mid);
	while ((p = lp_heap_malloc(4096)) != NULL || (p = lp_heap_malloc(1)) != NULL)
		;   /* spend the rest of the region, to its last 48 bytes */
	lp_heap_free(mid);
	assert_null(lp_heap_malloc(2000));   /* only a 1024-byte block is free */
	lp_heap_free(big);
	void *got = lp_heap_malloc(2000);
	assert_ptr_equal(got, big);          /* the 8192-byte block, the smallest larger free one */
	lp_heap_free(got);
	assert_ptr_equal(lp_heap_malloc(8000), big);   /* and it went back to its own class */
	assert_ptr_equal(lp_heap_malloc(1000), mid);
}

static void refuses_zero_too_big_and_overflow(void **state)
{
	(void)state;
	assert_null(lp_heap_malloc(0));
	assert_null(lp_heap_malloc(LP_HEAP_MAX_BLOCK + 1));
	assert_null(lp_heap_calloc((size_t)1 << 33, (size_t)1 << 33));   /* count * size overflows */
	assert_null(lp_heap_calloc(2, LP_HEAP_MAX_BLOCK));
	lp_heap_free(NULL);   /* as free(NULL) */
}

static void calloc_zeroes_a_reused_block(void **state)
{
	(void)state;
	unsigned char *p = lp_heap_malloc(300);
	memset(p, 0xa5, 300);
	lp_heap_free(p);
	unsigned char *q = lp_heap_calloc(10, 30);
	assert_ptr_equal(q, p);
	for (int i = 0; i < 300; i++)
		assert_int_equal(q[i], 0);
}

static void *freed;

static void free_twice(void)
{
	lp_heap_free(freed);
}

static void free_foreign(void)
{
	static unsigned char elsewhere[64] __attribute__((aligned(16)));
	lp_heap_free(elsewhere + 16);
}

/* fn run in a child: it must die by SIGABRT after one line on stderr holding want. */
static void dies_saying(void (*fn)(void), const char *want)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	close(fds[1]);
	char line[256] = "";
	ssize_t n = read(fds[0], line, sizeof line - 1);
	close(fds[0]);
	line[n > 0 ? n : 0] = 0;
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGABRT);
	assert_non_null(strstr(line, want));
}

/* A double free, or a pointer the heap never gave, stops the capsule rather than corrupt it. */
static void bad_frees_abort(void **state)
{
	(void)state;
	freed = lp_heap_malloc(100);
	lp_heap_free(freed);
	dies_saying(free_twice, "lwip heap: freed twice");
	dies_saying(free_foreign, "lwip heap: freeing memory the heap never gave");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(blocks_hold_what_was_asked, fresh),
		cmocka_unit_test_setup(freed_blocks_are_reused, fresh),
		cmocka_unit_test_setup(a_sliding_window_stops_carving, fresh),
		cmocka_unit_test_setup(a_spent_region_takes_larger_free_blocks, fresh),
		cmocka_unit_test_setup(refuses_zero_too_big_and_overflow, fresh),
		cmocka_unit_test_setup(calloc_zeroes_a_reused_block, fresh),
		cmocka_unit_test_setup(bad_frees_abort, fresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
