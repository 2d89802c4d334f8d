/* syscall_arch.h: capsule replacement for musl's x86_64 syscall_arch.h: every syscall calls the runtime. */
#define __SYSCALL_LL_E(x) (x)
#define __SYSCALL_LL_O(x) (x)

/*
 * Instead of executing `syscall`, musl calls the capsule runtime, which
 * serves the request itself (sockets from lwIP, memory from the arena, ...).
 * A plain function call costs ~5 ns; a seccomp trap would cost ~1.5 us.
 * No VDSO_* macros: a capsule never uses the host's vDSO.
 */
long __capsule_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);

static __inline long __syscall0(long n)
{
	return __capsule_syscall(n, 0, 0, 0, 0, 0, 0);
}

static __inline long __syscall1(long n, long a1)
{
	return __capsule_syscall(n, a1, 0, 0, 0, 0, 0);
}

static __inline long __syscall2(long n, long a1, long a2)
{
	return __capsule_syscall(n, a1, a2, 0, 0, 0, 0);
}

static __inline long __syscall3(long n, long a1, long a2, long a3)
{
	return __capsule_syscall(n, a1, a2, a3, 0, 0, 0);
}

static __inline long __syscall4(long n, long a1, long a2, long a3, long a4)
{
	return __capsule_syscall(n, a1, a2, a3, a4, 0, 0);
}

static __inline long __syscall5(long n, long a1, long a2, long a3, long a4, long a5)
{
	return __capsule_syscall(n, a1, a2, a3, a4, a5, 0);
}

static __inline long __syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	return __capsule_syscall(n, a1, a2, a3, a4, a5, a6);
}

#define IPC_64 0
