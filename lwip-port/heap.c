/* heap.c: lwIP's heap (lwipopts.h: MEM_LIBC_MALLOC), size classes with a free list each in one .bss region, so an allocation costs the same however many blocks are live. */
#include "lwip-port/heap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Why not lwIP's own heap (mem.c)?  It is first fit from the lowest free
 * block, so each allocation walks every block above that one, free or in
 * use, until one is big enough.  A connection sending at MTU 1500 keeps
 * hundreds of segments (a pbuf and a tcp_seg each) in flight, and small
 * blocks (incoming ACKs, API messages) keep a small hole low in the heap:
 * 179 blocks walked per allocation, 43% of the capsule's CPU
 * (docs/FASTPATH.md section 12).  Nor the capsule's malloc: musl returns
 * freed 64 KiB packets to the arena and maps them again, ten times slower.
 *
 * Here a request is rounded up to a size class (32-byte steps to 512, then
 * eight steps per power of two: at most 12.5% wasted), taken from that
 * class's free list, else carved from the region, else (the region spent)
 * taken from the smallest larger class that has a free block.  A freed block
 * goes back to its class's list: blocks never merge, so the region ends up
 * divided as the peak of each size needed it.  The region is .bss, as lwIP's
 * heap was: in the capsule's memory (a snapshot carries it), its pages real
 * only once touched, and outside the arena the app's own memory comes from.
 * Single-threaded as the whole capsule is (green threads never switch inside
 * an allocation), so no lock.
 */

#define SMALL_STEP 32u
#define SMALL_MAX 512u
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)   /* 32 .. 512 */
#define STEPS_PER_POW2 8u
#define FIRST_POW2 9u                            /* classes above 512 = 2^9 */
#define LAST_POW2 18u                            /* up to LP_HEAP_MAX_BLOCK = 2^18 */
#define NCLASSES (SMALL_CLASSES + (LAST_POW2 - FIRST_POW2) * STEPS_PER_POW2)

#define MAGIC_LIVE 0x6c704842u   /* "BHpl": in use */
#define MAGIC_FREE 0x6c704866u   /* "fHpl": on a free list */

_Static_assert(LP_HEAP_MAX_BLOCK == 1u << LAST_POW2, "the last class ends at the largest block");

/* 16 bytes before each block: keeps blocks 16-aligned and says, at free, which class it is. */
struct head {
	uint32_t magic;
	uint32_t cls;
	uint64_t unused;
};
_Static_assert(sizeof(struct head) == 16, "block heads keep blocks 16-aligned");

/* A free block's first bytes: the next free block of its class. */
struct free_block {
	struct free_block *next;
};

static unsigned char region_bss[LP_HEAP_REGION_SIZE] __attribute__((aligned(16)));
static unsigned char *region = region_bss;
static size_t region_size = LP_HEAP_REGION_SIZE, carved;
static size_t live;
static struct free_block *free_list[NCLASSES];

static size_t class_size(unsigned c)
{
	if (c < SMALL_CLASSES)
		return (size_t)SMALL_STEP * (c + 1);
	unsigned j = c - SMALL_CLASSES, p = FIRST_POW2 + j / STEPS_PER_POW2;
	return ((size_t)1 << p) + (size_t)(j % STEPS_PER_POW2 + 1) * ((size_t)1 << (p - 3));
}

/* The smallest class holding n bytes (1 <= n <= LP_HEAP_MAX_BLOCK). */
static unsigned class_of(size_t n)
{
	if (n <= SMALL_MAX)
		return (unsigned)((n + SMALL_STEP - 1) / SMALL_STEP - 1);
	unsigned p = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));   /* n in (2^p, 2^(p+1)] */
	size_t step = (size_t)1 << (p - 3);
	unsigned k = (unsigned)((n - ((size_t)1 << p) + step - 1) / step - 1);
	return SMALL_CLASSES + (p - FIRST_POW2) * STEPS_PER_POW2 + k;
}

static void corrupt(const char *what, const void *p)
{
	fprintf(stderr, "lwip heap: %s (block %p)\n", what, p);
	fflush(stderr);
	abort();
}

static struct head *take(unsigned c)
{
	struct free_block *f = free_list[c];
	if (!f)
		return NULL;
	free_list[c] = f->next;
	struct head *h = (struct head *)f - 1;
	if (h->magic != MAGIC_FREE || h->cls != c)
		corrupt("a free list holds a block that is not free", f);
	return h;
}

void *lp_heap_malloc(size_t size)
{
	if (size == 0 || size > LP_HEAP_MAX_BLOCK)
		return NULL;
	unsigned c = class_of(size);
	struct head *h = take(c);
	size_t need = sizeof *h + class_size(c);
	if (!h && region_size - carved >= need) {
		h = (struct head *)(void *)(region + carved);
		carved += need;
		h->cls = c;
	}
	for (unsigned k = c + 1; !h && k < NCLASSES; k++)
		h = take(k);   /* the region is spent: a larger free block, kept in its own class */
	if (!h)
		return NULL;
	h->magic = MAGIC_LIVE;
	live++;
	return h + 1;
}

void lp_heap_free(void *p)
{
	if (!p)
		return;
	struct head *h = (struct head *)p - 1;
	if ((unsigned char *)h < region || (unsigned char *)p >= region + carved)
		corrupt("freeing memory the heap never gave", p);
	if (h->magic != MAGIC_LIVE || h->cls >= NCLASSES)
		corrupt(h->magic == MAGIC_FREE ? "freed twice" : "freeing a block whose head was overwritten", p);
	h->magic = MAGIC_FREE;
	struct free_block *f = p;
	f->next = free_list[h->cls];
	free_list[h->cls] = f;
	live--;
}

void *lp_heap_calloc(size_t count, size_t size)
{
	if (size && count > LP_HEAP_MAX_BLOCK / size)
		return NULL;
	void *p = lp_heap_malloc(count * size);
	if (p)
		memset(p, 0, count * size);
	return p;
}

void lp_heap_get_stats(struct lp_heap_stats *s)
{
	s->carved = carved;
	s->live = live;
}

void lp_heap_use_region(void *base, size_t size)
{
	region = base;
	region_size = size & ~(size_t)15;
	carved = live = 0;
	memset(free_list, 0, sizeof free_list);
}
