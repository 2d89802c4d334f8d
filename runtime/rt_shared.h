/* rt_shared.h: the shared window's slots and spinlocks (shared.c): memory every process of a capsule sees (docs/PROCESSES.md, section 5). */
#ifndef RT_SHARED_H
#define RT_SHARED_H

#include <stddef.h>

/* Bytes of one slot: a pipe's ring and its header. */
#define RT_SHARED_SLOT (17 * 4096)

/* A zeroed slot of the shared window, or 0 when it is full. */
void *rt_shared_alloc(void);
void rt_shared_free(void *slot);

/*
 * Processes run in parallel on different CPUs: objects in the window are
 * guarded by these (critical sections are short: a memcpy at most).
 */
void rt_spin_lock(volatile int *l);
void rt_spin_unlock(volatile int *l);

#endif
