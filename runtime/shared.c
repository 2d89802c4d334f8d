/* shared.c: the shared window (CAP_SHARED_ADDR, docs/PROCESSES.md): fixed-size slots handed out from a bitmap in its first page, spinlocks for what lives there. */
#include <stdint.h>
#include <string.h>
#include "capsule-abi/cap_abi.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_shared.h"

#define NSLOTS ((CAP_SHARED_SIZE - CAP_PAGE_SIZE) / RT_SHARED_SLOT)

/* The window's first page: the same bytes in every process. */
struct shared_head {
	int lock;
	int reserved;
	uint64_t used[(NSLOTS + 63) / 64];
};
_Static_assert(sizeof(struct shared_head) <= CAP_PAGE_SIZE, "the slot bitmap fits the first page");

#define HEAD ((struct shared_head *)CAP_SHARED_ADDR)
#define SLOT(i) ((unsigned char *)CAP_SHARED_ADDR + CAP_PAGE_SIZE + (size_t)(i) * RT_SHARED_SLOT)

void rt_spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

void rt_spin_unlock(volatile int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

void *rt_shared_alloc(void)
{
	struct shared_head *h = HEAD;
	long found = -1;
	rt_spin_lock(&h->lock);
	for (size_t w = 0; w < sizeof h->used / sizeof h->used[0] && found < 0; w++) {
		uint64_t free_bits = ~h->used[w];
		if (!free_bits)
			continue;
		size_t i = w * 64 + (size_t)__builtin_ctzll(free_bits);
		if (i >= NSLOTS)
			break;
		h->used[w] |= 1ULL << (i % 64);
		found = (long)i;
	}
	rt_spin_unlock(&h->lock);
	if (found < 0)
		return 0;
	memset(SLOT(found), 0, RT_SHARED_SLOT);
	return SLOT(found);
}

void rt_shared_free(void *slot)
{
	struct shared_head *h = HEAD;
	size_t i = (size_t)((unsigned char *)slot - SLOT(0)) / RT_SHARED_SLOT;
	rt_spin_lock(&h->lock);
	h->used[i / 64] &= ~(1ULL << (i % 64));
	rt_spin_unlock(&h->lock);
}
