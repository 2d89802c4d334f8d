/* shared.c: the shared window (CAP_SHARED_ADDR, docs/PROCESSES.md): fixed-size slots handed out from a bitmap in its first page (pipe rings, anonymous MAP_SHARED memory), spinlocks for what lives there. */
#include <stdint.h>
#include <string.h>
#include "capsule-abi/cap_abi.h"
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_tmpstore.h"

#define NSLOTS RT_SHARED_SLOTS

/*
 * An anonymous MAP_SHARED mapping: consecutive slots, and the processes
 * (slot bits, as in a wake mask) that still map it.  The last one to let go
 * (munmap, or a child's exit) frees the slots.  A run shm.c owns (a named
 * object's pages, its table) has no holders: shm.c counts its users itself;
 * the entry only keeps the walk over pipe rings off it.
 */
struct shared_map {
	uint32_t first, count;     /* slots; count 0: the entry is free */
	uint64_t holders;
};

/* The window's first page: the same bytes in every process. */
struct shared_head {
	int lock;
	uint32_t shm_table;        /* first slot + 1 of shm.c's table of named objects; 0: none yet */
	uint64_t used[(NSLOTS + 63) / 64];
	struct shared_map maps[RT_SHARED_MAPS];   /* zero in a window from before them: none */
	/*
	 * The pid of the last process each slot lost (CAP_MSG_LOST): a parent
	 * that hands a child its copies after that child was already taken away
	 * (pid 1 handled its LOST first) must not count them on its slot.
	 */
	int32_t lost_pid[CAP_PROC_MAX];
	uint64_t arena_used[CAP_PROC_MAX];   /* the memory budget (mem.c); zero when a slot is free */
	uint32_t offsets_table;    /* first slot + 1 of fileshare.c's offsets; 0: none yet */
	uint32_t tmpfs_head;       /* first slot + 1 of /tmp's head (tmpstore.c); 0: none yet */
};
_Static_assert(sizeof(struct shared_head) <= CAP_PAGE_SIZE, "the slot bitmap and the mapping table fit the first page");

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

/* ---- anonymous MAP_SHARED memory ---- */

/* The mappings this process holds (entries of maps[]): private, so a fork's copy knows them. */
static uint64_t mine[(RT_SHARED_MAPS + 63) / 64];

static int is_free(const struct shared_head *h, size_t i)
{
	return !(h->used[i / 64] & (1ULL << (i % 64)));
}

static void mark(struct shared_head *h, size_t first, size_t count, int used)
{
	for (size_t i = first; i < first + count; i++) {
		if (used)
			h->used[i / 64] |= 1ULL << (i % 64);
		else
			h->used[i / 64] &= ~(1ULL << (i % 64));
	}
}

/* count free slots in a row and an entry for them, taken; the first slot, or -1 (under the lock). */
static long take_run(struct shared_head *h, size_t count, uint64_t holders)
{
	size_t run = 0;
	long first = -1, entry = -1;
	for (long e = 0; e < RT_SHARED_MAPS && entry < 0; e++)
		if (!h->maps[e].count)
			entry = e;
	for (size_t i = 0; i < NSLOTS && entry >= 0 && first < 0 && count; i++) {
		run = is_free(h, i) ? run + 1 : 0;
		if (run == count)
			first = (long)(i + 1 - count);
	}
	if (first < 0)
		return -1;
	mark(h, (size_t)first, count, 1);
	h->maps[entry] = (struct shared_map){ (uint32_t)first, (uint32_t)count, holders };
	if (holders)
		mine[entry / 64] |= 1ULL << (entry % 64);
	return first;
}

void *rt_shared_map(size_t len)
{
	struct shared_head *h = HEAD;
	size_t count = (len + RT_SHARED_SLOT - 1) / RT_SHARED_SLOT;
	rt_spin_lock(&h->lock);
	long first = take_run(h, count, 1ULL << rt_proc_slot());
	rt_spin_unlock(&h->lock);
	if (first < 0)
		return 0;
	memset(SLOT(first), 0, count * RT_SHARED_SLOT);   /* a freed range keeps its old bytes */
	return SLOT(first);
}

void *rt_shared_take(size_t len)
{
	struct shared_head *h = HEAD;
	size_t count = (len + RT_SHARED_SLOT - 1) / RT_SHARED_SLOT;
	rt_spin_lock(&h->lock);
	long first = take_run(h, count, 0);
	rt_spin_unlock(&h->lock);
	if (first < 0)
		return 0;
	memset(SLOT(first), 0, count * RT_SHARED_SLOT);
	return SLOT(first);
}

/* A table found through the first page (*first_slot: its first slot + 1), made zeroed by the first
 * caller with a len. */
static void *table_at(uint32_t *first_slot, size_t len)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	if (!*first_slot && len) {
		size_t count = (len + RT_SHARED_SLOT - 1) / RT_SHARED_SLOT;
		long first = take_run(h, count, 0);
		if (first >= 0) {
			memset(SLOT(first), 0, count * RT_SHARED_SLOT);   /* before any process can see it */
			*first_slot = (uint32_t)first + 1;
		}
	}
	void *t = *first_slot ? SLOT(*first_slot - 1) : 0;
	rt_spin_unlock(&h->lock);
	return t;
}

void *rt_shared_shm_table(size_t len)
{
	return table_at(&HEAD->shm_table, len);
}

void *rt_shared_offsets_table(size_t len)
{
	return table_at(&HEAD->offsets_table, len);
}

void *rt_shared_tmpfs_head(size_t len)
{
	return table_at(&HEAD->tmpfs_head, len);
}

/* The entry of the mapping that starts at addr, or -1 (called under the lock). */
static long entry_at(const struct shared_head *h, uintptr_t addr)
{
	for (long e = 0; e < RT_SHARED_MAPS; e++)
		if (h->maps[e].count && (uintptr_t)SLOT(h->maps[e].first) == addr)
			return e;
	return -1;
}

static void let_go(struct shared_head *h, long e)
{
	struct shared_map *m = &h->maps[e];
	m->holders &= ~(1ULL << rt_proc_slot());
	mine[e / 64] &= ~(1ULL << (e % 64));
	if (!m->holders) {
		mark(h, m->first, m->count, 0);
		memset(m, 0, sizeof *m);
	}
}

int rt_shared_contains(uintptr_t addr)
{
	return addr >= CAP_SHARED_ADDR && addr < CAP_SHARED_ADDR + CAP_SHARED_SIZE;
}

void rt_shared_unmap(uintptr_t addr)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	long e = entry_at(h, addr);
	if (e >= 0 && (mine[e / 64] & (1ULL << (e % 64))))
		let_go(h, e);
	rt_spin_unlock(&h->lock);
}

void rt_shared_give_back(void *addr)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	long e = entry_at(h, (uintptr_t)addr);
	if (e >= 0 && !h->maps[e].holders) {
		mark(h, h->maps[e].first, h->maps[e].count, 0);
		memset(&h->maps[e], 0, sizeof h->maps[e]);
	}
	rt_spin_unlock(&h->lock);
}

size_t rt_shared_map_size(uintptr_t addr)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	long e = entry_at(h, addr);
	size_t n = e < 0 ? 0 : (size_t)h->maps[e].count * RT_SHARED_SLOT;
	rt_spin_unlock(&h->lock);
	return n;
}

int rt_shared_slot_lost(unsigned slot, int pid)
{
	return slot < CAP_PROC_MAX && __atomic_load_n(&HEAD->lost_pid[slot], __ATOMIC_SEQ_CST) == pid;
}

void rt_shared_forked(unsigned child_slot, int child_pid)
{
	struct shared_head *h = HEAD;
	if (!child_slot || child_slot >= CAP_PROC_MAX)
		return;   /* a host that did not say: the child holds nothing it could leave behind */
	rt_spin_lock(&h->lock);
	if (h->lost_pid[child_slot] != child_pid)   /* ended before we got here: it holds nothing */
		for (long e = 0; e < RT_SHARED_MAPS; e++)
			if (mine[e / 64] & (1ULL << (e % 64)))
				h->maps[e].holders |= 1ULL << child_slot;
	rt_spin_unlock(&h->lock);
}

void rt_shared_exiting(void)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	for (long e = 0; e < RT_SHARED_MAPS; e++)
		if (mine[e / 64] & (1ULL << (e % 64)))
			let_go(h, e);
	rt_spin_unlock(&h->lock);
}

/* ---- a process that ended without letting go (killed by a host signal: CAP_MSG_LOST) ---- */

void rt_shared_free_locked(void *slot)
{
	size_t i = (size_t)((unsigned char *)slot - SLOT(0)) / RT_SHARED_SLOT;
	HEAD->used[i / 64] &= ~(1ULL << (i % 64));
}

void rt_shared_each_ring(void (*fn)(void *slot, void *arg), void *arg)
{
	struct shared_head *h = HEAD;
	rt_spin_lock(&h->lock);
	for (size_t i = 0; i < NSLOTS; i++) {
		if (is_free(h, i))
			continue;
		int in_map = 0;
		for (long e = 0; e < RT_SHARED_MAPS && !in_map; e++)
			in_map = h->maps[e].count && i >= h->maps[e].first &&
			         i < (size_t)h->maps[e].first + h->maps[e].count;
		if (!in_map)
			fn(SLOT(i), arg);
	}
	rt_spin_unlock(&h->lock);
}

void rt_shared_set_used(unsigned slot, uint64_t bytes)
{
	if (slot < CAP_PROC_MAX)
		__atomic_store_n(&HEAD->arena_used[slot], bytes, __ATOMIC_RELAXED);
}

uint64_t rt_shared_used_by_others(unsigned slot)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < CAP_PROC_MAX; i++)
		if (i != slot)
			sum += __atomic_load_n(&HEAD->arena_used[i], __ATOMIC_RELAXED);
	return sum;
}

void rt_shared_lost(unsigned slot, int pid)
{
	struct shared_head *h = HEAD;
	if (slot >= CAP_PROC_MAX)
		return;
	rt_shared_set_used(slot, 0);   /* its memory is gone with it */
	rt_spin_lock(&h->lock);
	__atomic_store_n(&h->lost_pid[slot], pid, __ATOMIC_SEQ_CST);   /* before any ring is looked at */
	for (long e = 0; e < RT_SHARED_MAPS; e++) {
		struct shared_map *m = &h->maps[e];
		if (!m->count || !(m->holders & (1ULL << slot)))
			continue;
		m->holders &= ~(1ULL << slot);
		if (!m->holders) {
			mark(h, m->first, m->count, 0);
			memset(m, 0, sizeof *m);
		}
	}
	rt_spin_unlock(&h->lock);
	rt_tmpstore_lost(slot);   /* its open /tmp files */
}
