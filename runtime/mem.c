/* mem.c: mmap/munmap/mremap/mprotect/brk served from the arena inside the memfd, within the capsule's memory budget, and anonymous MAP_SHARED memory and shm_open objects from the shared window. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include "runtime/arena.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_shm.h"

static struct rt_arena arena;
static int arena_ready;

/* Lazy: musl's __init_libc may mmap before __wrap_main runs. */
void rt_mem_init(void)
{
	if (arena_ready)
		return;
	arena_ready = 1;
	uint64_t base = RT_CONTROL->arena_base, size = RT_CONTROL->arena_size;
	if (base != CAP_ARENA_BASE || size < CAP_ARENA_MIN || size > CAP_ARENA_MAX)
		size = 0;
	rt_arena_init(&arena, base, size);
	RT_CONTROL->arena_high = rt_arena_high(&arena);
}

/*
 * The capsule's memory budget (docs/PROCESSES.md, section 2): once a
 * capsule has forked, all its processes together map at most one arena's
 * size, the image's memory size, as one process alone does.  Each process
 * publishes what it maps in the shared window (rt_shared_set_used) after
 * every change, and a mapping that would take the sum past the budget fails
 * with ENOMEM, as a fork that would copy more than what is left does.
 */
static int budget_on;   /* set at the first fork, inherited by every child */

static size_t arena_used(void)
{
	return (size_t)(arena.limit - arena.base) - arena.free_bytes;
}

static void publish(void)
{
	RT_CONTROL->arena_high = rt_arena_high(&arena);   /* what pre-copy scans (cap_abi.h) */
	if (budget_on)
		rt_shared_set_used(rt_proc_slot(), arena_used());
}

static int over_budget(size_t more)
{
	return budget_on &&
	       rt_shared_used_by_others(rt_proc_slot()) + arena_used() + more > (size_t)(arena.limit - arena.base);
}

/* arena pages for len bytes within the budget, published; 0 if none */
static uintptr_t take(size_t len)
{
	if (over_budget((len + RT_ARENA_PAGE - 1) & ~(RT_ARENA_PAGE - 1)))
		return 0;
	uintptr_t p = rt_arena_alloc(&arena, len);
	publish();
	return p;
}

static void give_back(uintptr_t addr, size_t len)
{
	rt_arena_free(&arena, addr, len);
	publish();
}

long rt_mem_fork_budget(void)
{
	rt_mem_init();
	budget_on = 1;
	publish();
	return over_budget(arena_used()) ? -ENOMEM : 0;   /* the child starts with a copy of ours */
}

void rt_mem_forked_child(void)
{
	publish();   /* under the child's own slot */
}

void rt_mem_exiting(void)
{
	if (budget_on)
		rt_shared_set_used(rt_proc_slot(), 0);
}

long rt_mem_total(void)
{
	rt_mem_init();
	return (long)(arena.limit - arena.base);
}

long rt_mem_free(void)
{
	rt_mem_init();
	return (long)arena.free_bytes;
}

/*
 * A private file mapping is a copy: anonymous arena pages filled from the
 * file (any positional kind: host files, /tmp files), so it moves with the
 * capsule like any other memory.  A shared one cannot be kept coherent with
 * the file without a kernel behind it: ENODEV, said once on the console.
 */
static long map_file(int fd, size_t len, int prot, int flags, long off, uintptr_t addr, int fixed)
{
	struct rt_file *f = rt_fd_get(fd);
	static int shared_said;
	(void)prot;
	if (!f)
		return -EBADF;
	if (off < 0 || (off & (RT_ARENA_PAGE - 1)))
		return -EINVAL;
	if (!f->ops->positional || !f->ops->read || !rt_file_may(f, 0))
		return f->ops->positional ? -EACCES : -ENODEV;
	if ((flags & MAP_TYPE) == MAP_SHARED) {
		if (!shared_said++)
			rt_console_write(2, "capsule: mmap MAP_SHARED of a file is not supported (ENODEV); "
			                 "use MAP_PRIVATE or read\n");
		return -ENODEV;
	}
	uintptr_t p = fixed ? addr : take(len);
	if (!p)
		return -ENOMEM;
	if (fixed)
		memset((void *)p, 0, len);   /* MAP_FIXED over old pages: the file's bytes, then zeros */
	size_t done = 0;
	while (done < len) {
		struct rt_iovec v = { (char *)p + done, len - done };
		long n = f->ops->read(f, &v, 1, off + (long)done);
		if (n < 0) {
			if (!fixed)
				give_back(p, len);
			return n;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (long)p;
}

long rt_msync(uintptr_t addr, size_t len, int flags)
{
	(void)len;
	if ((addr & (RT_ARENA_PAGE - 1)) || (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
	    ((flags & MS_ASYNC) && (flags & MS_SYNC)))
		return -EINVAL;
	return 0;   /* private mappings only: nothing to write back */
}

long rt_mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, long off)
{
	rt_mem_init();
	if (!len)
		return -EINVAL;
	int file = !(flags & MAP_ANONYMOUS);
	struct rt_file *shm = file ? rt_fd_get(fd) : 0;
	if (shm && rt_shm_file(shm) && (flags & MAP_TYPE) == MAP_SHARED &&
	    !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)))
		return rt_shm_map(shm, len, prot, off);   /* an shm_open object: its pages in the window */
	if (file && (flags & MAP_TYPE) == MAP_SHARED)
		return map_file(fd, len, prot, flags, off, 0, 0);   /* refused before anything is mapped */
	if ((flags & MAP_TYPE) != MAP_PRIVATE && (flags & MAP_TYPE) != MAP_SHARED)
		return -EINVAL;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & (RT_ARENA_PAGE - 1))
			return -EINVAL;
		if (!rt_arena_contains(&arena, addr, len))
			return -ENOMEM;
		if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED)) {
			size_t l = (len + RT_ARENA_PAGE - 1) & ~(RT_ARENA_PAGE - 1);
			for (size_t o = 0; o < l; o += RT_ARENA_PAGE)
				if (rt_arena_is_allocated(&arena, addr + o, RT_ARENA_PAGE))
					return -EEXIST;
		}
		if (!rt_arena_is_allocated(&arena, addr, len) && over_budget(len))
			return -ENOMEM;
		if (rt_arena_alloc_at(&arena, addr, len) < 0)
			return -ENOMEM;
		publish();
		return file ? map_file(fd, len, prot, flags, off, addr, 1) : (long)addr;
	}
	if (file)
		return map_file(fd, len, prot, flags, off, 0, 0);
	if ((flags & MAP_TYPE) == MAP_SHARED) {
		/* In the shared window: a child made by fork sees and changes the same pages. */
		void *s = rt_shared_map(len);
		static int full_said;
		if (s)
			return (long)s;
		if (!full_said++)
			rt_console_write(2, "capsule: the shared window is full: a MAP_SHARED mapping stays "
			                 "private to each process\n");
	}
	uintptr_t p = take(len);
	return p ? (long)p : -ENOMEM;
}

long rt_munmap(uintptr_t addr, size_t len)
{
	rt_mem_init();
	if ((addr & (RT_ARENA_PAGE - 1)) || !len)
		return -EINVAL;
	if (rt_shared_contains(addr)) {
		if (!rt_shm_unmap(addr))
			rt_shared_unmap(addr);   /* whole mappings only: a part of one stays mapped */
		return 0;
	}
	if (!rt_arena_contains(&arena, addr, len))
		return 0;   /* nothing of ours is there */
	give_back(addr, len);
	return 0;
}

long rt_mremap(uintptr_t old, size_t oldlen, size_t newlen, int flags, uintptr_t newaddr)
{
	(void)newaddr;
	rt_mem_init();
	size_t po = (oldlen + RT_ARENA_PAGE - 1) & ~(RT_ARENA_PAGE - 1);
	size_t pn = (newlen + RT_ARENA_PAGE - 1) & ~(RT_ARENA_PAGE - 1);
	if ((old & (RT_ARENA_PAGE - 1)) || !pn || (flags & MREMAP_FIXED))
		return -EINVAL;
	if (rt_shared_contains(old))   /* other processes map it: it may grow only within its slots */
		return pn <= rt_shared_map_size(old) ? (long)old : -ENOMEM;
	if (!rt_arena_contains(&arena, old, po))
		return -EFAULT;
	if (pn <= po) {
		if (pn < po)
			give_back(old + pn, po - pn);
		return (long)old;
	}
	if (over_budget(pn - po))
		return -ENOMEM;
	if (rt_arena_grow_in_place(&arena, old, po, pn) == 0) {
		publish();
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uintptr_t p = take(pn);
	if (!p)
		return -ENOMEM;
	memcpy((void *)p, (void *)old, po);
	give_back(old, po);
	return (long)p;
}

/* The heap never grows by brk: musl's malloc then uses mmap, which lands in the arena. */
long rt_brk(uintptr_t addr)
{
	(void)addr;
	return (long)CAP_IMAGE_LIMIT;
}
