/* caploader.c: the tiny libc-less loader caprun execs: maps the capsule's plan, sandboxes, jumps in. */
/*
 * Built -static -nostdlib at a high fixed address (see hosts/build.mk), with
 * no writable data at all: the only state it has lives on the stack.  It
 * runs in two stages:
 *
 *   stage 1 (on the kernel's [stack]): map the control page of the memfd
 *     (fd 4), execute control->maps[] with MAP_FIXED_NOREPLACE (a fresh
 *     start: and populate what exists of them, populate_fresh), write the
 *     address of the vDSO's clock_gettime (from our auxv) into the control
 *     page, so the capsule reads clocks without a system call; return a
 *     scratch stack pointer just below control->initial_sp (fresh start) or
 *     below control->resume_ctx.rsp (resume: the main stack is live then,
 *     but the capsule promises CAP_RESUME_SCRATCH free bytes below the
 *     frozen rsp; stage 2 stays well inside that);
 *   stage 2 (on that scratch area): unmap every mapping that is neither a
 *     capsule window, nor our own text, nor the kernel's [vdso] and [vvar*]
 *     (read-only; the clock data every process may read), e.g. [stack]; set
 *     RLIMIT_CORE 0, reset signal dispositions, install the SIGSYS reporter, read the seccomp BPF
 *     (fd 6), close fds >= 4 (but the TUN, fd 8, when it is the capsule's), open the dirty-tracking userfaultfd (fd 4 again), die with caprun
 *     (PR_SET_PDEATHSIG), stop if asked to (CAP_HOST_START_STOPPED: a migration's
 *     target waits there for the directory's verdict), or wait for caprun's "go" and
 *     the TUN device it carries (CAP_HOST_START_GATED: a fresh start, while caprun
 *     makes the network), no_new_privs, seccomp, clear registers and
 *     jump to control->entry with rsp = control->initial_sp; or, resuming
 *     (control->boot_mode == CAP_BOOT_RESUME), set FS base before seccomp and
 *     load control->resume_ctx: the capsule's rt_ctx_save "returns" 1.
 *
 * It decides nothing: caprun computed and validated the plan.  Any failure
 * prints one line on fd 2 and exits 127 (before the sandbox is on).
 */
#include "capsule-abi/cap_abi.h"

#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include <elf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>

#define L_PROT_READ   1
#define L_PROT_WRITE  2
#define L_PROT_EXEC   4
#define L_MAP_SHARED  0x01
#define L_MAP_PRIVATE 0x02
#define L_MAP_NORESERVE 0x4000
#define L_MAP_FIXED_NOREPLACE 0x100000
#define L_O_RDONLY    0
#define L_O_CLOEXEC   02000000
#define L_RLIMIT_CORE 4
#define L_SIGSYS      31
#define L_SIGPIPE     13
#define L_SIG_IGN     1
#define L_SA_SIGINFO  0x4
#define L_SA_RESTORER 0x04000000
#define L_SIG_SETMASK 2
#define L_PR_SET_NO_NEW_PRIVS 38
#define L_PR_SET_PDEATHSIG 1
#define L_SIGKILL     9
#define L_SIGSTOP     19
#define L_POLLIN      0x01
#define L_POLLHUP     0x10
#define L_EINTR       4
#define L_EAGAIN      11
#define L_EINVAL      22
#define L_SOL_SOCKET  1
#define L_SCM_RIGHTS  1
#define L_MSG_CTRUNC  0x08
#define L_MSG_TRUNC   0x20
#define L_MADV_POPULATE_READ  22
#define L_MADV_POPULATE_WRITE 23
#define L_SEEK_DATA   3
#define L_SEEK_HOLE   4
#define L_EXIT_LOADER_FAILED 127

/* Stage 2 must fit in CAP_RESUME_SCRATCH (64 KiB): these buffers are its whole stack. */
#define MAPS_CHUNK       4096
#define MAX_HOST_RANGES  256   /* host mappings to remove (a fresh process has a handful) */
#define FILTER_MAX_INSNS 2048  /* ours is ~40; the kernel's limit, 4096, would not fit */
#define L_ARCH_SET_FS    0x1002
/* Newer than Debian 12's headers (Linux 6.1); the kernel we run on may have them. */
#define L_UFFD_FEATURE_WP_UNPOPULATED (1u << 13)
#define L_UFFD_FEATURE_WP_ASYNC       (1u << 15)
#define L_UFFDIO_API      0xc018aa3fUL   /* _IOWR(0xAA, 0x3F, struct uffdio_api): the loader has no libc ioctl macros */
#define L_UFFDIO_REGISTER 0xc020aa00UL   /* _IOWR(0xAA, 0x00, struct uffdio_register) */
_Static_assert(sizeof(struct uffdio_api) == 24 && sizeof(struct uffdio_register) == 32,
               "the ioctl numbers above encode these sizes");

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
#define sys3(n, a, b, c) sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* One line on stderr naming the step that failed, then exit (no sandbox yet). */
__attribute__((noreturn)) static void die(const char *what, long err)
{
	char num[24];
	int i = (int)sizeof num;
	unsigned long v = (unsigned long)(err < 0 ? -err : err);
	num[--i] = '\n';
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	static const char pre[] = "caploader: ";
	static const char mid[] = " failed: errno ";
	sys3(__NR_write, 2, pre, sizeof pre - 1);
	sys3(__NR_write, 2, what, str_len(what));
	sys3(__NR_write, 2, mid, sizeof mid - 1);
	sys3(__NR_write, 2, num + i, sizeof num - (size_t)i);
	for (;;)
		sys3(__NR_exit_group, L_EXIT_LOADER_FAILED, 0, 0);
}

/* Scratch buffers live in the capsule's stack window: wipe host details (paths, filter). */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = 0;
}

static int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static int is_error(long r)
{
	return (unsigned long)r > -4096UL;
}

static int map_prot(uint32_t p)
{
	return ((p & CAP_PROT_R) ? L_PROT_READ : 0) | ((p & CAP_PROT_W) ? L_PROT_WRITE : 0) |
	       ((p & CAP_PROT_X) ? L_PROT_EXEC : 0);
}

/* The address of a function of the kernel's vDSO (an ELF image at base), 0 if there is none. */
static uint64_t vdso_symbol(uint64_t base, const char *name)
{
	if (!base)
		return 0;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	const Elf64_Dyn *dyn = 0;
	uint64_t bias = 0;
	int loaded = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !loaded) {
			bias = base + ph[i].p_offset - ph[i].p_vaddr;
			loaded = 1;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
		}
	}
	if (!dyn || !loaded)
		return 0;
	const char *strs = 0;
	const Elf64_Sym *syms = 0;
	const uint32_t *hash = 0;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uint64_t a = bias + dyn->d_un.d_ptr;
		if (dyn->d_tag == DT_STRTAB)
			strs = (const char *)a;
		else if (dyn->d_tag == DT_SYMTAB)
			syms = (const Elf64_Sym *)a;
		else if (dyn->d_tag == DT_HASH)
			hash = (const uint32_t *)a;
	}
	if (!strs || !syms || !hash)
		return 0;
	for (uint32_t i = 0; i < hash[1]; i++) {   /* nchain: the number of symbols */
		const Elf64_Sym *sym = &syms[i];
		if (sym->st_shndx != SHN_UNDEF && sym->st_value &&
		    ELF64_ST_TYPE(sym->st_info) == STT_FUNC && str_eq(strs + sym->st_name, name))
			return bias + sym->st_value;
	}
	return 0;
}

/* Our auxv's AT_SYSINFO_EHDR (the vDSO), from the kernel's initial stack; 0 if absent. */
static uint64_t vdso_base(const uint64_t *sp)
{
	const uint64_t *p = sp + 1 + sp[0] + 1;   /* argc, argv..., NULL */
	while (*p)
		p++;                                /* envp..., NULL */
	for (p++; p[0] != AT_NULL; p += 2)
		if (p[0] == AT_SYSINFO_EHDR)
			return p[1];
	return 0;
}

/*
 * A fresh start: map now, in one call per range, the pages the capsule reads
 * first, rather than take a page fault for each (about 10 us apiece on a
 * nested virtual machine, against well under 1 us a page this way): the
 * image's text and read-only data (page cache pages, shared), and in each
 * memfd window the pages caprun wrote (control page, .data, the initial
 * stack).  Only pages that exist: the memfd's holes (.bss, heap, stack
 * below) stay holes, so this costs no memory.  Never on a resume: there the
 * holes of a lazy one belong to caprun's userfaultfd.  Best effort: a
 * kernel without MADV_POPULATE_* (before 5.14) faults them in as before.
 */
static void populate_fresh(const struct cap_control *plan)
{
	for (uint32_t i = 0; i < plan->nmaps; i++) {
		const struct cap_map *m = &plan->maps[i];
		if (m->source == CAP_MAP_IMAGE) {
			sys3(__NR_madvise, (long)m->vaddr, (long)m->size, L_MADV_POPULATE_READ);
			continue;
		}
		if (m->source != CAP_MAP_MEMFD || (m->flags & CAP_MAP_NORESERVE))
			continue;   /* the arena: all holes at a fresh start */
		long lo = (long)CAP_MEMFD_OFFSET(m->vaddr), hi = lo + (long)m->size;
		for (long at = lo; at < hi;) {
			long data = sys3(__NR_lseek, CAP_FD_MEMFD, at, L_SEEK_DATA);
			if (is_error(data) || data >= hi)
				break;
			long hole = sys3(__NR_lseek, CAP_FD_MEMFD, data, L_SEEK_HOLE);
			if (is_error(hole))
				break;
			if (hole > hi)
				hole = hi;
			sys3(__NR_madvise, (long)m->vaddr + (data - lo), hole - data,
			     (m->prot & CAP_PROT_W) ? L_MADV_POPULATE_WRITE : L_MADV_POPULATE_READ);
			at = hole;
		}
	}
}

/* Stage 1: map the plan.  Returns the scratch stack pointer for stage 2. */
__attribute__((used, noinline)) static uint64_t loader_stage1(const uint64_t *initial_sp)
{
	/*
	 * "caploader --held": a migration's target started us before the capsule's memory is
	 * complete; wait before reading any of it (caprun continues us once it is).  Dying
	 * with caprun first: a stopped orphan would wait for nobody.
	 */
	if (initial_sp[0] >= 2 && str_eq((const char *)initial_sp[2], CAP_LOADER_HELD_ARG)) {
		sys6(__NR_prctl, L_PR_SET_PDEATHSIG, L_SIGKILL, 0, 0, 0, 0);
		struct { int fd; short events, revents; } chan = { CAP_FD_CHANNEL, 0, 0 };
		long no_wait[2] = { 0, 0 };
		if (sys6(__NR_ppoll, (long)&chan, 1, (long)no_wait, 0, 8, 0) > 0 && (chan.revents & L_POLLHUP))
			sys3(__NR_exit_group, L_EXIT_LOADER_FAILED, 0, 0);   /* caprun already gone */
		sys3(__NR_kill, sys3(__NR_getpid, 0, 0, 0), L_SIGSTOP, 0);
	}
	long r = sys6(__NR_mmap, 0, CAP_PAGE_SIZE, L_PROT_READ, L_MAP_SHARED, CAP_FD_MEMFD, 0);
	if (is_error(r))
		die("mapping the control page", r);
	const struct cap_control *plan = (const struct cap_control *)r;
	if (plan->magic != CAP_CONTROL_MAGIC || plan->abi_version != CAP_ABI_VERSION ||
	    plan->nmaps > CAP_MAX_MAPS)
		die("checking the control page", 22);

	for (uint32_t i = 0; i < plan->nmaps; i++) {
		const struct cap_map *m = &plan->maps[i];
		long flags = L_MAP_FIXED_NOREPLACE, fd, off;
		if (m->source == CAP_MAP_MEMFD) {
			flags |= L_MAP_SHARED;
			fd = CAP_FD_MEMFD;
			off = (long)CAP_MEMFD_OFFSET(m->vaddr);
		} else if (m->source == CAP_MAP_IMAGE) {
			flags |= L_MAP_PRIVATE;
			fd = CAP_FD_IMAGE;
			off = (long)m->file_offset;
		} else if (m->source == CAP_MAP_ROOT) {
			flags |= L_MAP_SHARED;
			fd = CAP_FD_ROOTMEM;
			off = (long)CAP_MEMFD_OFFSET(m->vaddr);
		} else {
			die("reading the plan (bad map source)", 22);
		}
		if (m->flags & CAP_MAP_NORESERVE)
			flags |= L_MAP_NORESERVE;
		long a = sys6(__NR_mmap, (long)m->vaddr, (long)m->size, map_prot(m->prot), flags, fd, off);
		if (is_error(a))
			die("mapping a capsule window", a);
		if ((uint64_t)a != m->vaddr)   /* kernel without MAP_FIXED_NOREPLACE */
			die("mapping a capsule window at its address", 17);
	}
	if (plan->boot_mode == CAP_BOOT_FRESH && !(plan->host_flags & CAP_HOST_LAZY_LOAD))
		populate_fresh(plan);   /* (a lazy load is a resume's; the flag too, to be sure) */
	/*
	 * A fact about this process, written at every start and every resume (a
	 * snapshot carries 0, or an older process's address: never used here).
	 */
	((volatile struct cap_control *)CAP_CONTROL_ADDR)->vdso_clock_gettime =
		vdso_symbol(vdso_base(initial_sp), "__vdso_clock_gettime");
	/*
	 * Fresh: scratch below the initial stack, free until the capsule runs.
	 * Resume: below the frozen rsp, never below initial_sp (live stack).
	 */
	uint64_t sp = plan->boot_mode == CAP_BOOT_RESUME ? plan->resume_ctx.rsp : plan->initial_sp;
	sys3(__NR_munmap, plan, CAP_PAGE_SIZE, 0);
	return (sp - 256) & ~(uint64_t)15;
}

/* The SIGSYS reporter: record what was forbidden, then die by SIGSYS for real. */
__attribute__((used, noreturn)) static void loader_sigsys(int sig, void *info, void *uc)
{
	(void)sig;
	(void)uc;
	volatile struct cap_control *ctl = (volatile struct cap_control *)CAP_CONTROL_ADDR;
	const unsigned char *si = info;
	/* Kernel siginfo for SIGSYS: _call_addr at 16, _syscall at 24. */
	ctl->fault_ip = *(const uint64_t *)(si + 16);
	ctl->fault_syscall = 1u + *(const uint32_t *)(si + 24);
	/* SIGSYS is blocked while we run: a forbidden call now makes the kernel kill us. */
	for (;;) {
		sys3(__NR_getpid, 0, 0, 0);
		sys3(__NR_exit_group, 128 + L_SIGSYS, 0, 0);
	}
}

__attribute__((visibility("hidden"))) void loader_restorer(void);
__asm__(".text\n"
        ".type loader_restorer,@function\n"
        "loader_restorer:\n"
        "	mov $" "15" ", %eax\n"   /* rt_sigreturn; never reached: the handler never returns */
        "	syscall\n"
        "	hlt\n");

struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static int in_plan(const struct cap_control *ctl, uint64_t addr, uint64_t *window_end)
{
	for (uint32_t i = 0; i < ctl->nmaps; i++) {
		const struct cap_map *m = &ctl->maps[i];
		if (addr >= m->vaddr && addr < m->vaddr + m->size) {
			*window_end = m->vaddr + m->size;
			return 1;
		}
	}
	return 0;
}

static uint64_t next_plan_start(const struct cap_control *ctl, uint64_t addr, uint64_t limit)
{
	for (uint32_t i = 0; i < ctl->nmaps; i++)
		if (ctl->maps[i].vaddr > addr && ctl->maps[i].vaddr < limit)
			limit = ctl->maps[i].vaddr;
	return limit;
}

struct host_range {
	uint64_t start, end;
	int kernel_clock;   /* [vdso], [vvar], [vvar_vclock]: kept */
};

/* A lower-case hexadecimal digit's value, as /proc writes them; -1 for anything else. */
static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Read /proc/self/maps in small chunks (stage 2's stack is small) and keep
 * each line's "start-end": everything else on the line is skipped.
 */
static unsigned read_ranges(struct host_range *out, unsigned max)
{
	char chunk[MAPS_CHUNK];
	unsigned n = 0;
	int field = 0;          /* 0: start, 1: end, 2: rest of the line */
	uint64_t start = 0, end = 0;
	uint64_t tail = 0;      /* the line's last 8 characters, for its name */
	long fd = sys3(__NR_open, "/proc/self/maps", L_O_RDONLY | L_O_CLOEXEC, 0);
	if (is_error(fd))
		die("opening /proc/self/maps", fd);
	for (;;) {
		long got = sys3(__NR_read, fd, chunk, sizeof chunk);
		if (is_error(got))
			die("reading /proc/self/maps", got);
		if (got == 0)
			break;
		for (long i = 0; i < got; i++) {
			char c = chunk[i];
			int digit = hex_digit(c);
			if (field == 0 && digit >= 0) {
				start = start * 16 + (uint64_t)digit;
			} else if (field == 0 && c == '-') {
				field = 1;
			} else if (field == 1 && digit >= 0) {
				end = end * 16 + (uint64_t)digit;
			} else if (field == 1) {
				if (n == max)
					die("reading /proc/self/maps (too many mappings)", 7);
				out[n].start = start;
				out[n].end = end;
				out[n].kernel_clock = 0;
				n++;
				field = 2;
			}
			if (field == 2) {
				tail = tail << 8 | (unsigned char)c;
				/* the name " [vdso]", or one beginning " [vvar" ([vvar], [vvar_vclock]) */
				if ((tail & 0xffffffffffffffULL) == 0x205b7664736f5dULL ||
				    (tail & 0xffffffffffffULL) == 0x205b76766172ULL)
					out[n - 1].kernel_clock = 1;
			}
			if (c == '\n') {
				field = 0;
				start = end = tail = 0;
			}
		}
	}
	sys3(__NR_close, fd, 0, 0);
	wipe(chunk, sizeof chunk);
	return n;
}

/*
 * The signals this process ignores: SigIgn in /proc/self/status (bit n-1 for
 * signal n).  An ignored disposition is the only one an exec keeps, so only
 * these need setting back: a few system calls instead of 62, about 1 us each
 * here (docs/STARTUP.md section 15).  All 64 when it cannot be read.
 */
static uint64_t ignored_signals(void)
{
	static const char key[] = "\nSigIgn:\t";
	char chunk[MAPS_CHUNK];
	uint64_t mask = ~0ULL;
	long fd = sys3(__NR_open, "/proc/self/status", L_O_RDONLY | L_O_CLOEXEC, 0);
	if (is_error(fd))
		return mask;
	long got = sys3(__NR_read, fd, chunk, sizeof chunk - 1);
	sys3(__NR_close, fd, 0, 0);
	for (long i = 0; i + (long)sizeof key - 1 + 16 <= got; i++) {
		long k = 0;
		while (key[k] && chunk[i + k] == key[k])
			k++;
		if (key[k])
			continue;
		uint64_t v = 0;
		long j;
		for (j = i + k; j < i + k + 16; j++) {
			char c = chunk[j];
			int digit = hex_digit(c);
			if (digit < 0)
				break;
			v = v << 4 | (uint64_t)digit;
		}
		if (j == i + k + 16 && chunk[j] == '\n')
			mask = v;
		break;
	}
	wipe(chunk, sizeof chunk);
	return mask;
}

/* Unmap every page that is neither in a capsule window nor our own text. */
static void unmap_everything_else(const struct cap_control *ctl)
{
	struct host_range ranges[MAX_HOST_RANGES];
	unsigned n = read_ranges(ranges, MAX_HOST_RANGES);
	uint64_t own = (uint64_t)(uintptr_t)&loader_stage1;
	for (unsigned i = 0; i < n; i++) {
		uint64_t start = ranges[i].start, end = ranges[i].end;
		if (own >= start && own < end)
			continue;             /* our read-only text: needed until the jump */
		if (start >= 0xffffffffff600000ULL)
			continue;             /* [vsyscall]: not a real mapping, cannot go */
		if (ranges[i].kernel_clock)
			continue;             /* the vDSO and its data: clocks without system calls */
		for (uint64_t pos = start; pos < end;) {
			uint64_t wend;
			if (in_plan(ctl, pos, &wend)) {
				pos = wend < end ? wend : end;
				continue;
			}
			uint64_t stop = next_plan_start(ctl, pos, end);
			long r = sys3(__NR_munmap, pos, stop - pos, 0);
			if (is_error(r))
				die("unmapping a host mapping", r);
			pos = stop;
		}
	}
}

static long read_filter(struct sock_filter *insns)
{
	size_t want = FILTER_MAX_INSNS * sizeof *insns, got = 0;
	for (;;) {
		long n = sys6(__NR_pread64, CAP_FD_FILTER, (long)((char *)insns + got),
		              (long)(want - got), (long)got, 0, 0);
		if (is_error(n))
			die("reading the seccomp filter", n);
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == want)
			break;
	}
	if (got == 0 || got % sizeof *insns)
		die("reading the seccomp filter (bad size)", 22);
	return (long)(got / sizeof *insns);
}

__attribute__((noreturn, visibility("hidden"))) void loader_jump(uint64_t entry, uint64_t sp);
/* Plant entry below the initial stack, clear every register, `ret` into the capsule. */
__asm__(".text\n"
        ".type loader_jump,@function\n"
        "loader_jump:\n"
        "	mov %rdi, -8(%rsi)\n"
        "	lea -8(%rsi), %rsp\n"
        "	cld\n"
        "	xor %eax, %eax\n	xor %ebx, %ebx\n	xor %ecx, %ecx\n	xor %edx, %edx\n"
        "	xor %esi, %esi\n	xor %edi, %edi\n	xor %ebp, %ebp\n"
        "	xor %r8d, %r8d\n	xor %r9d, %r9d\n	xor %r10d, %r10d\n	xor %r11d, %r11d\n"
        "	xor %r12d, %r12d\n	xor %r13d, %r13d\n	xor %r14d, %r14d\n	xor %r15d, %r15d\n"
        "	ret\n");

__attribute__((noreturn, visibility("hidden"))) void loader_resume(const struct cap_cpu_context *c);
/*
 * Continue a frozen capsule: MXCSR and x87 control word, callee-saved
 * registers, rsp, then "return" from rt_ctx_save with rax = 1.  The return
 * address goes just below the frozen rsp, where the call to rt_ctx_save had
 * put it (dead memory at the freeze), so every scratch register is cleared.
 * Offsets: struct cap_cpu_context in capsule-abi/cap_abi.h.
 */
__asm__(".text\n"
        ".type loader_resume,@function\n"
        "loader_resume:\n"
        "	ldmxcsr 72(%rdi)\n"
        "	fldcw 76(%rdi)\n"
        "	mov 48(%rdi), %rsi\n"
        "	mov 56(%rdi), %rax\n"
        "	mov %rax, -8(%rsi)\n"
        "	lea -8(%rsi), %rsp\n"
        "	mov 0(%rdi), %rbx\n	mov 8(%rdi), %rbp\n	mov 16(%rdi), %r12\n"
        "	mov 24(%rdi), %r13\n	mov 32(%rdi), %r14\n	mov 40(%rdi), %r15\n"
        "	cld\n"
        "	xor %ecx, %ecx\n	xor %edx, %edx\n	xor %esi, %esi\n	xor %edi, %edi\n"
        "	xor %r8d, %r8d\n	xor %r9d, %r9d\n	xor %r10d, %r10d\n	xor %r11d, %r11d\n"
        "	mov $1, %eax\n"
        "	ret\n");

/*
 * Dirty tracking for pre-copy (CAP_FD_DIRTY in capsule-abi/cap_abi.h): a
 * userfaultfd in this process with asynchronous write-protection, which the
 * host registers over every writable memfd window when it first looks
 * (hosts/caprun/dirty.c): registered from the start, every page read before
 * it is written would fault twice, for the capsule's whole life.  Best
 * effort: a kernel without it (Linux before 6.7) leaves no descriptor, and
 * the host falls back to stop-and-copy.  Runs after the loader's
 * descriptors are closed, so the fd is 4.
 *
 * A lazy resume (CAP_HOST_LAZY_LOAD) registers missing pages here, on the
 * same descriptor (a range has one userfaultfd), write-protection with
 * them, for caprun, which takes it with pidfd_getfd and fills each page
 * from the snapshot when first touched.  That is not optional: without it
 * the capsule would run on empty pages.
 */
static void track_writes(const struct cap_control *ctl)
{
	int lazy = (ctl->host_flags & CAP_HOST_LAZY_LOAD) != 0;
	long u = sys3(__NR_userfaultfd, L_O_CLOEXEC, 0, 0);
	if (is_error(u) && lazy)
		die("making the userfaultfd of a lazy resume", u);
	if (is_error(u))
		return;
	struct uffdio_api api = { .api = UFFD_API,
	                          .features = L_UFFD_FEATURE_WP_ASYNC | L_UFFD_FEATURE_WP_UNPOPULATED };
	int ok = u == CAP_FD_DIRTY && !is_error(sys3(__NR_ioctl, u, (long)L_UFFDIO_API, (long)&api));
	for (uint32_t i = 0; ok && lazy && i < ctl->nmaps; i++) {
		const struct cap_map *m = &ctl->maps[i];
		if (m->source != CAP_MAP_MEMFD || !(m->prot & CAP_PROT_W))
			continue;
		struct uffdio_register reg = { .range = { m->vaddr, m->size },
		                               .mode = UFFDIO_REGISTER_MODE_WP |
		                                       UFFDIO_REGISTER_MODE_MISSING };
		ok = !is_error(sys3(__NR_ioctl, u, (long)L_UFFDIO_REGISTER, (long)&reg));
	}
	if (!ok && lazy)
		die("registering a lazy resume's memory with the userfaultfd", -22);
	if (!ok)
		sys3(__NR_close, u, 0, 0);   /* closing it drops any registration made */
}

/*
 * CAP_HOST_START_GATED: wait until caprun's struct cap_start_go arrives on the
 * channel (non-blocking: poll first), put the TUN device it may carry at
 * CAP_FD_TUN, and clear the flag.  caprun gone (end of file) ends the loader
 * quietly, as the hang-up check before this does; a message of any other
 * shape is a failure.  The structures are the kernel's x86-64 msghdr, iovec
 * and one-descriptor cmsghdr: the loader has no libc to take them from.
 */
static void wait_for_go(void)
{
	volatile struct cap_control *ctl = (volatile struct cap_control *)CAP_CONTROL_ADDR;
	struct cap_start_go go = { 0, 0 };
	struct { uint64_t len; int level, type, fd, pad; } cmsg = { 0, 0, 0, -1, 0 };
	struct { void *base; uint64_t len; } iov = { &go, sizeof go };
	struct {
		void *name;
		uint32_t namelen, pad0;
		void *iov;
		uint64_t iovlen;
		void *control;
		uint64_t controllen;
		int flags, pad1;
	} msg;
	long r;
	for (;;) {
		struct { int fd; short events, revents; } chan = { CAP_FD_CHANNEL, L_POLLIN, 0 };
		r = sys6(__NR_ppoll, (long)&chan, 1, 0, 0, 8, 0);
		if (r == -L_EINTR)
			continue;
		if (is_error(r))
			die("waiting for caprun's go", r);
		msg.name = 0;
		msg.namelen = msg.pad0 = 0;
		msg.iov = &iov;
		msg.iovlen = 1;
		msg.control = &cmsg;
		msg.controllen = sizeof cmsg;
		msg.flags = msg.pad1 = 0;
		r = sys3(__NR_recvmsg, CAP_FD_CHANNEL, &msg, 0);
		if (r != -L_EAGAIN && r != -L_EINTR)
			break;
	}
	if (r == 0)
		sys3(__NR_exit_group, L_EXIT_LOADER_FAILED, 0, 0);   /* caprun gone: nobody to tell */
	if (is_error(r))
		die("reading caprun's go", r);
	int has_fd = msg.controllen >= 20 && cmsg.level == L_SOL_SOCKET && cmsg.type == L_SCM_RIGHTS;
	if (r != sizeof go || go.magic != CAP_START_GO_MAGIC || go.with_tun != (uint32_t)has_fd ||
	    (msg.flags & (L_MSG_TRUNC | L_MSG_CTRUNC)))
		die("reading caprun's go (bad message)", L_EINVAL);
	if (has_fd && cmsg.fd != CAP_FD_TUN) {
		r = sys3(__NR_dup2, cmsg.fd, CAP_FD_TUN, 0);
		if (is_error(r))
			die("placing the TUN device", r);
		sys3(__NR_close, cmsg.fd, 0, 0);
	}
	/* Ours to clear, after "go": caprun sets it before the exec and never touches it again,
	 * so a loader slower than caprun's network still waits (the capsule never sees it). */
	ctl->host_flags &= ~CAP_HOST_START_GATED;
}

/* Stage 2: runs on the scratch area inside the capsule's stack window. */
__attribute__((used, noinline, noreturn)) static void loader_stage2(void)
{
	const struct cap_control *ctl = (const struct cap_control *)CAP_CONTROL_ADDR;
	long r;

	unmap_everything_else(ctl);

	uint64_t no_core[2] = { 0, 0 };
	r = sys6(__NR_prlimit64, 0, L_RLIMIT_CORE, (long)no_core, 0, 0, 0);
	if (is_error(r))
		die("setting RLIMIT_CORE", r);

	/* Default dispositions everywhere: an inherited SIG_IGN survives exec (caprun's
	 * spawn leaves them to this loop), a handler does not. */
	struct kernel_sigaction sa;
	sa.handler = 0;   /* SIG_DFL */
	sa.flags = L_SA_RESTORER;
	sa.restorer = (void *)loader_restorer;
	sa.mask = 0;
	uint64_t ignored = ignored_signals();
	for (long sig = 1; sig <= 64; sig++)
		if (sig != 9 && sig != 19 && (ignored >> (sig - 1) & 1))   /* 9, 19 cannot change */
			sys6(__NR_rt_sigaction, sig, (long)&sa, 0, 8, 0, 0);
	/* Except SIGPIPE: the console is a pipe whose reader (caprun -d's log keeper, a shell
	 * pipeline) may go; a write then fails with EPIPE, which the runtime's console shrugs
	 * off (runtime/console.c), and must never end the capsule. */
	sa.handler = (void *)L_SIG_IGN;
	sys6(__NR_rt_sigaction, L_SIGPIPE, (long)&sa, 0, 8, 0, 0);

	sa.handler = (void *)loader_sigsys;
	sa.flags = L_SA_SIGINFO | L_SA_RESTORER;
	sa.restorer = (void *)loader_restorer;
	sa.mask = 0;
	r = sys6(__NR_rt_sigaction, L_SIGSYS, (long)&sa, 0, 8, 0, 0);
	if (is_error(r))
		die("installing the SIGSYS handler", r);
	uint64_t empty = 0;
	r = sys6(__NR_rt_sigprocmask, L_SIG_SETMASK, (long)&empty, 0, 8, 0, 0);
	if (is_error(r))
		die("clearing the signal mask", r);

	struct sock_filter insns[FILTER_MAX_INSNS];
	struct sock_fprog prog;
	prog.len = (unsigned short)read_filter(insns);
	prog.filter = insns;

	/* The loader's own descriptors go; the TUN device (CAP_FD_TUN) stays only when the
	 * control page says it is this process's (a standalone caprun with its filter). */
	r = sys3(__NR_close_range, CAP_FD_MEMFD, CAP_FD_TUN - 1, 0);
	if (!is_error(r))
		r = sys3(__NR_close_range,
		         ctl->host_flags & (CAP_HOST_DIRECT_TUN | CAP_HOST_TUN_VNET) ? CAP_FD_TUN + 1 : CAP_FD_TUN,
		         ~0U, 0);
	if (is_error(r))
		die("closing the loader's descriptors", r);
	track_writes(ctl);
	/* The capsule ends with its caprun, even one killed outright (capctl stop's SIGKILL):
	 * caprun spawned us from its main thread, which lives as long as caprun does.  A
	 * caprun gone before this took effect closed its end of the channel: checked after. */
	r = sys6(__NR_prctl, L_PR_SET_PDEATHSIG, L_SIGKILL, 0, 0, 0, 0);
	if (is_error(r))
		die("setting the parent-death signal", r);
	struct { int fd; short events, revents; } chan = { CAP_FD_CHANNEL, 0, 0 };
	long no_wait[2] = { 0, 0 };
	r = sys6(__NR_ppoll, (long)&chan, 1, (long)no_wait, 0, 8, 0);
	if (r > 0 && (chan.revents & L_POLLHUP))
		sys3(__NR_exit_group, L_EXIT_LOADER_FAILED, 0, 0);   /* nobody is left to tell */
	/* A migration's target: wait here, ready, until the directory decided (caprun sends
	 * SIGCONT once this host won the pull; a kill otherwise).  Nothing of the capsule ran. */
	if (ctl->host_flags & CAP_HOST_START_STOPPED)
		sys3(__NR_kill, sys3(__NR_getpid, 0, 0, 0), L_SIGSTOP, 0);
	/* A fresh start: wait here, mapped and ready, while caprun makes the network; "go"
	 * comes once the device's source filter is in place, with the device. */
	if (ctl->host_flags & CAP_HOST_START_GATED)
		wait_for_go();
	r = sys6(__NR_prctl, L_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	if (is_error(r))
		die("setting no_new_privs", r);
	/* Resume: the freezing thread's TLS, set while arch_prctl is surely allowed. */
	int resume = ctl->boot_mode == CAP_BOOT_RESUME;
	if (resume) {
		r = sys3(__NR_arch_prctl, L_ARCH_SET_FS, ctl->resume_ctx.fs_base, 0);
		if (is_error(r))
			die("setting the FS base", r);
	}
	r = sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	if (is_error(r))
		die("installing the seccomp filter", r);

	wipe(insns, (size_t)prog.len * sizeof insns[0]);
	if (resume)
		loader_resume(&ctl->resume_ctx);
	loader_jump(ctl->entry, ctl->initial_sp);
}

/* Entry: stage 1 on the kernel stack, then move to the scratch area for stage 2. */
__asm__(".text\n"
        ".globl _start\n"
        ".type _start,@function\n"
        "_start:\n"
        "	xor %ebp, %ebp\n"
        "	mov %rsp, %rdi\n"
        "	and $-16, %rsp\n"
        "	call loader_stage1\n"
        "	mov %rax, %rsp\n"
        "	call loader_stage2\n"
        "	hlt\n");
