/* rt_shared.h: the shared window's slots and spinlocks (shared.c): memory every process of a capsule sees (docs/PROCESSES.md, section 5). */
#ifndef RT_SHARED_H
#define RT_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"

/* Bytes of one slot: a pipe's ring and its header; slots in the window, after its first page. */
#define RT_SHARED_SLOT (17 * 4096)
#define RT_SHARED_SLOTS ((CAP_SHARED_SIZE - CAP_PAGE_SIZE) / RT_SHARED_SLOT)

/*
 * Every object in a slot starts with two ints: its spinlock and its kind,
 * so code that walks the window (rt_shared_each_ring) tells them apart.
 */
#define RT_SHARED_KIND_RING 1       /* a pipe's ring (pipe.c) */
#define RT_SHARED_KIND_LISTENER 2   /* a listening socket several processes hold (sockrelay.c) */
#define RT_SHARED_KIND_BOARD 3      /* requests for sockets to pid 1 (sockask.c) */
#define RT_SHARED_KIND_TMPFS 4      /* /tmp's nodes, descriptions and file pages (tmpstore.c) */
#define RT_SHARED_KIND_UDP 5        /* a UDP socket several processes may hold (udprelay.c) */
#define RT_SHARED_KIND_UDP_TX 6     /* its ring of datagrams to send */

/* The memory budget (mem.c): arena bytes each process slot maps; the sum of all slots but one. */
void rt_shared_set_used(unsigned slot, uint64_t bytes);
uint64_t rt_shared_used_by_others(unsigned slot);

/* A zeroed slot of the shared window, or 0 when it is full. */
void *rt_shared_alloc(void);
void rt_shared_free(void *slot);

/*
 * Processes run in parallel on different CPUs: objects in the window are
 * guarded by these (critical sections are short: a memcpy at most).
 */
void rt_spin_lock(volatile int *l);
void rt_spin_unlock(volatile int *l);

/*
 * Anonymous MAP_SHARED memory (mem.c): mappings made in the window, so every
 * process of the capsule sees the same pages, whether it inherited them at a
 * fork or not.  At most RT_SHARED_MAPS at once, each a whole number of slots.
 */
#define RT_SHARED_MAPS 128
/* Zeroed memory for len bytes held by this process, or 0 (window full). */
void *rt_shared_map(size_t len);
/*
 * Runs that runtime/shm.c owns (POSIX named shared memory): zeroed slots for
 * len bytes, counted by no process here (shm.c counts its users), or 0 when
 * the window is full; given back by their address.  rt_shared_shm_table is
 * shm.c's table of names: made zeroed by the first process that asks with a
 * len, the same address in every process after; 0 if the window is full, or
 * if there is none yet and len is 0.
 */
void *rt_shared_take(size_t len);
void rt_shared_give_back(void *addr);
void *rt_shared_shm_table(size_t len);
/* The same for fileshare.c's table of shared file offsets. */
void *rt_shared_offsets_table(size_t len);
/* The same for /tmp's head (tmpstore.c): one per capsule, zeroed when made. */
void *rt_shared_tmpfs_head(size_t len);
/* Is addr in the window? */
int rt_shared_contains(uintptr_t addr);
/* munmap of the mapping that starts at addr: this process lets go; the last one frees it. */
void rt_shared_unmap(uintptr_t addr);
/* Bytes usable from addr if a mapping starts there (mremap within them), else 0. */
size_t rt_shared_map_size(uintptr_t addr);
/*
 * The parent, as soon as the host answered its fork: the child (child_pid,
 * in child_slot) holds what the parent held, counted on the child's slot
 * from now on, so a child that never ran is let go by its CAP_MSG_LOST.
 * A child that ends lets go of everything.
 */
void rt_shared_forked(unsigned child_slot, int child_pid);
void rt_shared_exiting(void);

/*
 * The process pid in slot ended without letting go (CAP_MSG_LOST, run by
 * pid 1): rt_shared_lost notes it (rt_shared_slot_lost, for a parent whose
 * fork answer came later) and drops its holds on MAP_SHARED memory, all
 * before the rings are looked at; rt_shared_each_ring
 * calls fn on every other used slot (a pipe's ring) with the window's lock
 * held, so fn frees an emptied ring with rt_shared_free_locked.
 */
void rt_shared_lost(unsigned slot, int pid);
int rt_shared_slot_lost(unsigned slot, int pid);
void rt_shared_each_ring(void (*fn)(void *slot, void *arg), void *arg);
void rt_shared_free_locked(void *slot);

#endif
