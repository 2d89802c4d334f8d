/* cap_abi.h: the contract between a capsule and its host: memory layout, control page, packet channel. */
#ifndef CAP_ABI_H
#define CAP_ABI_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bumped on any incompatible change to this file or cap_image.h.
 * A host refuses images built for another ABI version.
 */
#define CAP_ABI_VERSION 2   /* 2: channel records carry a freeze sequence number */

/*
 * Memory layout.  Every capsule sees the same fixed virtual addresses.
 * Everything the capsule may write lives in ONE memfd, mapped linearly:
 * memfd offset = virtual address - CAP_VBASE.  The image's read-only
 * segments are mapped privately from the .cap file over the same window,
 * so their memfd pages stay holes.  A snapshot is a sparse copy of the memfd.
 */
#define CAP_PAGE_SIZE     0x1000UL
#define CAP_VBASE         0x10000000UL
#define CAP_CONTROL_ADDR  0x10000000UL            /* struct cap_control */
#define CAP_CONTROL_SIZE  0x00010000UL            /* 64 KiB reserved */
#define CAP_STACK_LOW     0x10100000UL            /* initial (main) thread stack */
#define CAP_STACK_SIZE    0x00800000UL            /* 8 MiB */
#define CAP_STACK_TOP     (CAP_STACK_LOW + CAP_STACK_SIZE)
#define CAP_IMAGE_BASE    0x20000000UL            /* -Wl,-Ttext-segment= */
#define CAP_IMAGE_LIMIT   0x40000000UL            /* all PT_LOADs must end below */
#define CAP_ARENA_BASE    0x40000000UL            /* heap, mmap, thread stacks */
#define CAP_ARENA_MAX     (64UL << 30)
#define CAP_ARENA_MIN     (1UL << 20)
#define CAP_ARENA_DEFAULT (1UL << 30)
#define CAP_MEMFD_OFFSET(va) ((uint64_t)(va) - CAP_VBASE)
/*
 * The shared window (docs/PROCESSES.md, section 5): memory that is the same
 * pages in every process of a capsule.  The first process maps it from its
 * own memfd like any window; every other process maps it from the first
 * process's memfd (CAP_MAP_ROOT), at the same offset.  Sparse: pages exist
 * only once used (pipes that crossed a fork).
 */
#define CAP_SHARED_ADDR   0x10A00000UL
#define CAP_SHARED_SIZE   0x04000000UL            /* 64 MiB */
_Static_assert(CAP_SHARED_ADDR >= CAP_STACK_TOP + 0x100000UL &&
               CAP_SHARED_ADDR + CAP_SHARED_SIZE <= CAP_IMAGE_BASE,
               "the shared window lies between the main stack (1 MiB gap) and the image");

/* File descriptors inside the capsule process, placed there by the loader. */
#define CAP_FD_CONSOLE_IN   0
#define CAP_FD_CONSOLE_OUT  1
#define CAP_FD_CONSOLE_ERR  2
#define CAP_FD_CHANNEL      3   /* SOCK_SEQPACKET, non-blocking on the capsule side */
/* Loader-only descriptors: closed before the capsule's first instruction. */
#define CAP_FD_MEMFD        4
#define CAP_FD_IMAGE        5
#define CAP_FD_FILTER       6   /* struct sock_filter[] made by the host with libseccomp */
#define CAP_FD_ROOTMEM      7   /* a process other than the first: the first one's memfd (CAP_MAP_ROOT) */
/*
 * Made by the loader after it closed the descriptors above, so it lands on
 * the lowest free number, 4, and stays open for the capsule's life: a
 * userfaultfd with asynchronous write-protection, which the host registers
 * over every writable memfd window (pidfd_getfd) when its pre-copy first
 * looks.  Nobody reads it; it only keeps the kernel marking written pages,
 * which the host's pre-copy finds with PAGEMAP_SCAN on /proc/PID/pagemap
 * (docs/MIGRATION.md, "Pre-copy").  Absent where the kernel lacks it.
 */
#define CAP_FD_DIRTY        4
/*
 * The capsule's own TUN device, when a standalone host hands it one
 * (host_flags CAP_HOST_DIRECT_TUN): bare IPv4 packets, one per read/write,
 * non-blocking.  The host has a kernel filter on the device that drops and
 * counts every packet whose source is not the capsule's address (docs/
 * FASTPATH.md section 9).  Closed (EBADF) in every other case.
 */
#define CAP_FD_TUN          8

/*
 * With host_flags CAP_HOST_TUN_VNET every packet on CAP_FD_TUN, both ways,
 * starts with this header: the kernel's struct virtio_net_hdr (the device
 * has IFF_VNET_HDR; legacy layout, little-endian on x86-64 like the host).
 * Device -> capsule: NEEDS_CSUM (made on this host, the checksum field holds
 * only the pseudo-header sum) or DATA_VALID (the kernel checked it) vouch
 * for the packet's checksums; gso_type TCPV4 marks a TCP segment larger
 * than the link MTU (up to 65535 bytes), which the capsule takes whole.
 * Capsule -> device: NEEDS_CSUM asks the kernel to finish the checksum at
 * csum_start + csum_offset (the field holds the pseudo-header sum over the
 * whole length), and GSO_TCPV4 with gso_size asks it to cut the segment
 * into gso_size-byte ones where it leaves the host.  docs/FASTPATH.md
 * section 10, docs/FORMAT-ABI.md section 5.
 */
struct cap_vnet_hdr {
	uint8_t  flags;        /* CAP_VNET_F_* */
	uint8_t  gso_type;     /* CAP_VNET_GSO_* */
	uint16_t hdr_len;      /* IP + TCP header bytes of a GSO packet */
	uint16_t gso_size;     /* payload bytes per segment */
	uint16_t csum_start;   /* from the IP header's first byte */
	uint16_t csum_offset;  /* from csum_start: 16 for TCP, 6 for UDP */
};
_Static_assert(sizeof(struct cap_vnet_hdr) == 10, "cap_vnet_hdr is virtio_net_hdr, 10 bytes");
#define CAP_VNET_F_NEEDS_CSUM 1u
#define CAP_VNET_F_DATA_VALID 2u
#define CAP_VNET_GSO_NONE     0u
#define CAP_VNET_GSO_TCPV4    1u

/*
 * Packet channel.  Each SEQPACKET record is one message: a cap_chan_hdr
 * followed by its payload.  CAP_MSG_PACKET carries exactly one IPv4 packet,
 * in either direction.  Every FREEZE carries a new nonzero sequence number,
 * and the FROZEN that answers it carries the same: the host takes no other
 * FROZEN as the answer.  The host counts and ignores every record from the
 * capsule that is not one of its types, not in turn (a FROZEN nobody asked
 * for, a FROZEN with another number), or shorter than this header (a
 * zero-length record is NOT the end of the channel).
 */
struct cap_chan_hdr {
	uint8_t  type;       /* enum cap_msg_type */
	uint8_t  flags;      /* 0 */
	uint16_t seq;        /* FREEZE: the host's request number; FROZEN: the same, echoed; else 0 */
};
_Static_assert(sizeof(struct cap_chan_hdr) == 4, "cap_chan_hdr is 4 bytes on the wire");

enum cap_msg_type {
	CAP_MSG_PACKET = 1,  /* both ways: one IPv4 packet */
	CAP_MSG_READY  = 2,  /* capsule -> host: first time idle (and again after a resume) */
	CAP_MSG_FREEZE = 3,  /* host -> capsule: stop at the safe point, save the CPU context */
	CAP_MSG_FROZEN = 4,  /* capsule -> host: context + report saved; memory is consistent */
	CAP_MSG_THAW   = 5,  /* host -> capsule: continue in this process (snapshot --keep-running) */
	/* 6, 7: cap_file.h; 8 .. 13 and 15 .. 18: cap_proc.h */
	CAP_MSG_DIRECT = 14, /* capsule -> host: from now on this process reads and writes its TUN
	                        device (CAP_FD_TUN) itself; sent once per process, before its first
	                        packet there.  No payload */
};

#define CAP_MTU_DEFAULT 65000u
#define CAP_MTU_MAX     65535u
#define CAP_CHAN_MAX    (sizeof(struct cap_chan_hdr) + CAP_MTU_MAX)

/*
 * Load plan: what the loader maps, computed and validated by the host.
 * The loader only executes it; it makes no decisions of its own.
 */
enum cap_map_source {
	CAP_MAP_NONE  = 0,
	CAP_MAP_MEMFD = 1,   /* shared from the memfd at CAP_MEMFD_OFFSET(vaddr) */
	CAP_MAP_IMAGE = 2,   /* private from the .cap file at file_offset */
	CAP_MAP_ROOT  = 3,   /* shared from the capsule's first process's memfd (CAP_FD_ROOTMEM) at
	                        CAP_MEMFD_OFFSET(vaddr): the shared window in every other process */
};
#define CAP_PROT_R 1u
#define CAP_PROT_W 2u
#define CAP_PROT_X 4u
#define CAP_MAP_NORESERVE 1u

struct cap_map {
	uint64_t vaddr;        /* page aligned */
	uint64_t size;         /* page aligned */
	uint64_t file_offset;  /* CAP_MAP_IMAGE only, page aligned */
	uint32_t source;       /* enum cap_map_source */
	uint32_t prot;         /* CAP_PROT_* */
	uint32_t flags;        /* CAP_MAP_* */
	uint32_t reserved;
};
_Static_assert(sizeof(struct cap_map) == 40, "cap_map layout");

#define CAP_MAX_MAPS 16

#define CAP_CONTROL_MAGIC 0x4c52544350414355ULL /* "UCAPCTRL" little-endian */

enum cap_state {
	CAP_STATE_LOADING = 0,
	CAP_STATE_BOOTING = 1,   /* runtime started, app not yet idle */
	CAP_STATE_RUNNING = 2,
	CAP_STATE_EXITED  = 3,
};

enum cap_boot_mode {
	CAP_BOOT_FRESH  = 0,   /* jump to entry with rsp = initial_sp */
	CAP_BOOT_RESUME = 1,   /* memory came from a snapshot: restore resume_ctx */
};

/*
 * Callee-saved CPU state at the safe point.  The capsule saves it (like
 * setjmp) right before reporting CAP_MSG_FROZEN; a loader resuming a
 * snapshot loads it and "returns" into the capsule with rax = 1.
 */
struct cap_cpu_context {
	uint64_t rbx, rbp, r12, r13, r14, r15;
	uint64_t rsp, rip;
	uint64_t fs_base;       /* TLS of the thread that froze */
	uint32_t mxcsr;
	uint16_t fpu_cw;
	uint16_t reserved;
};
_Static_assert(sizeof(struct cap_cpu_context) == 80, "cap_cpu_context layout");

/*
 * The freeze report: written by the capsule at every freeze, right after the
 * control page, so a host can describe a snapshot (threads, descriptors, TCP
 * state) without knowing anything about the runtime's or lwIP's structures.
 * Format: capsule-abi/cap_report.h.
 */
#define CAP_REPORT_ADDR (CAP_CONTROL_ADDR + 0x1000UL)
#define CAP_REPORT_SIZE (CAP_CONTROL_SIZE - 0x1000UL)

/* host_flags */
#define CAP_HOST_FSGSBASE 1u   /* the CPU and kernel allow wrfsbase (AT_HWCAP2 bit 1) */
/*
 * caprun is still loading the capsule's memory from a snapshot (a lazy
 * resume): the loader registers its userfaultfd (CAP_FD_DIRTY) for missing
 * pages too, which caprun serves, and rt_host_discard zeroes a range instead
 * of punching it out (a hole there would later be filled with the
 * snapshot's stale bytes).  caprun clears it when every byte is in.
 */
#define CAP_HOST_LAZY_LOAD 2u
/*
 * CAP_FD_TUN is this process's TUN device: the capsule sends CAP_MSG_DIRECT
 * once, then moves its packets there itself instead of through the channel.
 * Set by a standalone caprun at every start and resume when the device's
 * source filter is in place; never in a forked process, never attached to
 * caphostd.  Read at every use: a resume may be on a host without it.
 */
#define CAP_HOST_DIRECT_TUN 4u
/*
 * A live migration's target spawns the loader before the directory has
 * decided: the loader does all of its work (maps, signals, descriptors, the
 * userfaultfd) and then stops itself (SIGSTOP) just before no_new_privs,
 * seccomp and the jump.  caprun clears the flag and continues it (SIGCONT)
 * once this host won the pull, or kills it; the capsule never sees the flag.
 */
#define CAP_HOST_START_STOPPED 8u
/*
 * As CAP_HOST_DIRECT_TUN, but the device speaks struct cap_vnet_hdr (above)
 * and offloads checksums and TCP segmentation.  Set instead of bit 4, never
 * with it: a capsule built before this bit sees no device and keeps the
 * relay, which adds and strips the header for it.  The host turns the
 * device's offloads on (TUNSETOFFLOAD) when the capsule says CAP_MSG_DIRECT.
 */
#define CAP_HOST_TUN_VNET 16u
/*
 * A fresh standalone start: caprun spawns the loader before it makes the
 * capsule's network, so the loader maps the capsule meanwhile.  The loader
 * does all of its work as for CAP_HOST_START_STOPPED, then waits on the
 * channel for caprun's one struct cap_start_go, which carries the TUN device
 * (SCM_RIGHTS, put at CAP_FD_TUN) when the capsule is to move its own
 * packets.  caprun writes the capsule's address and the other host_flags
 * into the control page before it sends "go", which comes only once the
 * device's source filter is in place: nothing of the capsule runs before,
 * and no device reaches it unfiltered.  caprun sets the bit before the
 * loader's exec and never clears it (a loader slower than caprun's network
 * must still wait); the loader clears it once "go" came.
 */
#define CAP_HOST_START_GATED 32u
struct cap_start_go {
	uint32_t magic;             /* CAP_START_GO_MAGIC */
	uint32_t with_tun;          /* 1: the message carries the TUN device, else 0 */
};
#define CAP_START_GO_MAGIC 0x4f474143u   /* "CAGO" little-endian */
_Static_assert(sizeof(struct cap_start_go) == 8, "cap_start_go is 8 bytes on the channel");
/*
 * caploader's one argument (argv[1]): stop (SIGSTOP) before reading anything,
 * for a migration's target that execs it while the memory still arrives;
 * caprun continues it once the memory is complete and prepared.
 */
#define CAP_LOADER_HELD_ARG "--held"

/*
 * On resume the loader runs its last steps on the frozen thread's stack,
 * below resume_ctx.rsp: the capsule guarantees this much free room there.
 */
#define CAP_RESUME_SCRATCH 0x10000UL

#define CAP_CONSOLE_OUT_TTY 1u   /* fd 1 is a terminal: stdio line-buffers */
#define CAP_CONSOLE_IN_TTY  2u
#define CAP_CONSOLE_ERR_TTY 4u

/* Descriptor limit (and TCP connection capacity) of a capsule: default and ceiling. */
#define CAP_MAX_FDS_DEFAULT 1024
#define CAP_MAX_FDS_MIN     16
#define CAP_MAX_FDS_MAX     65536

/*
 * The discard journal.  Pages the capsule gives back (madvise MADV_REMOVE)
 * become holes, and a later read maps a fresh zero page there without a
 * write: write-protection cannot see that, so a host copying memory while
 * the capsule runs (pre-copy) would keep the old bytes.  The capsule
 * therefore records every discard here, AFTER it happened, then bumps
 * discard_seq (release order); the host reads discard_seq, the entries,
 * and discard_seq again, and takes a gap larger than CAP_DISCARD_LOG as
 * "anything may have been discarded".  Offsets are memfd offsets.
 */
#define CAP_DISCARD_LOG 128
struct cap_discard {
	uint64_t offset;
	uint64_t length;
};
_Static_assert(sizeof(struct cap_discard) == 16, "cap_discard layout");

/*
 * The control page, at CAP_CONTROL_ADDR, first page of the memfd.
 * The host fills the "host" part before start; the capsule writes its part.
 * All integers little-endian (x86_64 only); addresses in network byte order.
 */
/*
 * Packets lost inside the capsule, counted where they are lost and kept for
 * the capsule's whole life (they travel in snapshots like the rest of this
 * page).  The host only reads them: with the host's own drop counters they
 * account for every packet, the way a NIC's and a kernel's counters do.
 */
struct cap_net_drops {
	uint64_t rx_no_memory;      /* packets in refused: the stack's heap was full */
	uint64_t rx_backlog_full;   /* packets in refused: the stack's input queue was full */
	uint64_t rx_socket_full;    /* datagrams in dropped: the socket's receive queue was full */
	uint64_t tx_channel_full;   /* packets out lost: the channel (or the TUN device) to the host refused them */
};
_Static_assert(sizeof(struct cap_net_drops) == 32, "cap_net_drops layout");

struct cap_control {
	/* --- written by the host before start --- */
	uint64_t magic;             /* CAP_CONTROL_MAGIC */
	uint32_t abi_version;       /* CAP_ABI_VERSION */
	uint32_t size;              /* sizeof(struct cap_control) */
	char     name[64];          /* capsule name, NUL-terminated */
	uint32_t ip;                /* capsule IPv4 address, network order */
	uint32_t netmask;           /* network order */
	uint32_t gateway;           /* host side of the link, network order */
	uint32_t mtu;               /* link MTU */
	uint64_t arena_base;        /* CAP_ARENA_BASE */
	uint64_t arena_size;        /* bytes, from the image manifest */
	uint64_t entry;             /* ELF entry point */
	uint64_t initial_sp;        /* SysV initial stack, prepared by the host */
	int64_t  mono_offset_ns;    /* capsule monotonic = host CLOCK_MONOTONIC - this */
	uint32_t console_flags;     /* CAP_CONSOLE_* */
	uint32_t nmaps;             /* entries used in maps[] */
	struct cap_map maps[CAP_MAX_MAPS];
	uint8_t  random_seed[32];   /* entropy for the capsule (stack canary etc.) */
	uint32_t boot_mode;         /* enum cap_boot_mode */
	uint32_t host_flags;        /* CAP_HOST_*: facts about the host, set at every start and resume */
	char     workdir[240];      /* fresh start: the working directory (caprun -w), "" for "/" */
	uint32_t max_fds;           /* caprun --max-fds: descriptors and TCP connections; 0: CAP_MAX_FDS_DEFAULT.
	                               Read once at start: a resumed capsule keeps its own */
	uint8_t  host_reserved[4];

	/* --- written by the capsule --- */
	uint32_t state;             /* enum cap_state */
	int32_t  exit_code;         /* valid when state == CAP_STATE_EXITED */
	uint32_t fault_syscall;     /* set by the loader's SIGSYS handler: 1 + nr */
	uint32_t reserved0;
	uint64_t fault_ip;          /* address of the forbidden syscall */
	struct cap_cpu_context resume_ctx;  /* saved at the safe point by every freeze */
	int64_t  frozen_at_ns;      /* capsule monotonic time at the last freeze */
	uint32_t freeze_count;      /* freezes so far, over the capsule's whole life */
	uint32_t report_size;       /* bytes of freeze report at CAP_REPORT_ADDR */
	struct cap_net_drops net_drops;  /* packets the capsule's own stack lost (capctl stats) */
	uint64_t arena_high;        /* the end of the highest arena page ever handed out (monotonic),
	                               or 0: not told.  Pre-copy protects and scans the arena only
	                               below it (docs/MIGRATION.md section 4c) */
	uint8_t  capsule_reserved[120];

	/* --- written by the loader at every start and resume; the capsule clears it at a freeze --- */
	uint64_t vdso_clock_gettime;   /* this process's vDSO clock_gettime (Linux's int (*)(clockid_t,
	                                  struct timespec *)), or 0: use the system call.  A fact about
	                                  the process, like host_flags: read at every use, never cached */

	/* --- written by the capsule: its discard journal (rt_host_discard) --- */
	uint64_t discard_seq;          /* discards so far; entry i is discards[i % CAP_DISCARD_LOG] */
	struct cap_discard discards[CAP_DISCARD_LOG];

	/* --- written by the host at every process start (docs/PROCESSES.md, cap_proc.h);
	 *     all 0 in a capsule's first process: pid 1, parent 0, slot 0 --- */
	uint32_t proc_pid;             /* this process's pid as the capsule sees it (0: 1) */
	uint32_t proc_ppid;            /* its parent's */
	uint32_t proc_slot;            /* its slot in the host's process table, < CAP_PROC_MAX */
	/* --- written by the capsule --- */
	uint32_t exit_signal;          /* the process ended by this signal's default action (0: it exited) */
	/* --- written by the host only: at a fork (the parent's) and by setpgid/setsid
	 *     (CAP_MSG_PROC_REQ, cap_proc.h); the capsule reads them; 0: the process's own pid --- */
	uint32_t proc_pgid;            /* its process group, as the capsule sees pids */
	uint32_t proc_sid;             /* its session */
	/* --- written by the host when a process starts after an execve (cap_proc.h); 0 otherwise --- */
	uint64_t exec_handoff;         /* address of the old program's struct cap_exec_handoff */
	uint32_t exec_handoff_len;     /* its bytes */
	uint32_t exec_reserved;

	uint8_t  pad[4096 - 1368 - 16 * CAP_DISCARD_LOG - 40];   /* keeps the struct exactly one page */
};
_Static_assert(sizeof(struct cap_control) == 4096, "cap_control is one page");
_Static_assert(sizeof(struct cap_control) <= CAP_CONTROL_SIZE, "control fits its window");
_Static_assert(offsetof(struct cap_control, net_drops) == 1192, "net_drops offset");
_Static_assert(offsetof(struct cap_control, vdso_clock_gettime) == 1352, "vdso_clock_gettime offset");
_Static_assert(offsetof(struct cap_control, discard_seq) == 1360 &&
               offsetof(struct cap_control, discards) == 1368, "discard journal offsets");
_Static_assert(offsetof(struct cap_control, proc_pid) == 1368 + 16 * CAP_DISCARD_LOG &&
               offsetof(struct cap_control, exit_signal) == 1380 + 16 * CAP_DISCARD_LOG,
               "process identity offsets");
_Static_assert(offsetof(struct cap_control, proc_pgid) == 1384 + 16 * CAP_DISCARD_LOG &&
               offsetof(struct cap_control, proc_sid) == 1388 + 16 * CAP_DISCARD_LOG,
               "process group and session offsets");
_Static_assert(offsetof(struct cap_control, exec_handoff) == 1392 + 16 * CAP_DISCARD_LOG,
               "exec hand-off offset");

#endif
