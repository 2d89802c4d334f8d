/* rt_shm.h: POSIX named shared memory, /dev/shm/NAME (shm.c): objects whose pages live in the shared window, the same bytes in every process of the capsule (docs/PROCESSES.md, section 5). */
#ifndef RT_SHM_H
#define RT_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct rt_file;

/* Is abs (absolute, normalized) a name under /dev/shm?  Then shm.c serves it. */
int rt_shm_path(const char *abs);
/* open(2) of /dev/shm/NAME: a new open file in *out, or -errno (ENOENT, EEXIST, ENOSPC, ...). */
long rt_shm_open(const char *abs, int flags, int mode, struct rt_file **out);
long rt_shm_unlink(const char *abs);
long rt_shm_stat(const char *abs, struct stat *st);

/* Is f an open shm object?  mmap(MAP_SHARED) of it: the object's pages (addr or -errno). */
int rt_shm_file(const struct rt_file *f);
long rt_shm_map(struct rt_file *f, size_t len, int prot, long off);
/* munmap at addr: 1 if it was a mapping of an object (this process lets go of it), else 0. */
int rt_shm_unmap(uintptr_t addr);

/*
 * Processes: a fork counts the child's copies of this process's mappings on
 * this process's slot (undo: the fork failed), then on the child's slot once
 * the host named it (rt_shm_forked, in the parent); a child that ends lets go
 * of its mappings (its open files close by themselves); pid 1 takes away
 * those of a process that ended without letting go (CAP_MSG_LOST).
 */
void rt_shm_fork(int undo);
void rt_shm_forked(unsigned child_slot, int child_pid);
void rt_shm_exiting(void);
void rt_shm_lost(unsigned slot);

#endif
