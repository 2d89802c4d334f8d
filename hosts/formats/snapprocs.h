/* snapprocs.h: the process section of a snapshot of several processes (format version 4, capsule-abi/cap_snapshot.h): writing it, reading and checking it, restoring a process's memory. */
#ifndef HOST_SNAPPROCS_H
#define HOST_SNAPPROCS_H

#include "capsule-abi/cap_snapshot.h"

#include <stddef.h>
#include <stdint.h>

struct host_snap;

/* A process to write: pid 1 first (memfd -1: its memory is the file's own). */
struct snapprocs_src {
	int pid, ppid;
	uint32_t slot;
	int memfd;                          /* frozen memory (or a copy of it); -1 for pid 1 */
	uint32_t nheld;
	const struct cap_snap_held *held;   /* records on their way to it */
	const struct cap_snap_program *program;   /* what it runs since an exec; NULL: the capsule's own */
};

/* The set written with a snapshot: n entries, pids to come from next_pid. */
struct snapprocs_set {
	const struct snapprocs_src *p;
	uint32_t n;
	uint32_t next_pid;
};

/*
 * Write the section at file offset pos of out (each child's memfd scanned
 * sparsely, as pid 1's is; h gives memfd_size), and fill x (its size and
 * hash).  0, or -1 with errno set (err says what).
 */
int snapprocs_write(int out, uint64_t pos, const struct cap_snap_header *h,
                    struct cap_snap_header_ext *x, const struct snapprocs_set *set, char *err,
                    size_t errlen);

/*
 * A migration stream carries the table alone (migstream.h, PROCS): the
 * section up to its data, whose bytes travel as each process's pages.
 * Written at offset 0 of out: size (page padded), hash (BLAKE2b-256 of
 * those bytes), each entry's extents as the table lists them.  0, or -1
 * with err.  snapprocs_table_free after.
 */
struct snapprocs_table {
	uint64_t size;
	uint8_t hash[32];
	struct cap_snap_extent *ext[CAP_SNAP_PROCS_MAX];   /* entry i's extents (malloc'd) */
	uint32_t nextents[CAP_SNAP_PROCS_MAX];
};
int snapprocs_table_write(int out, const struct cap_snap_header *h, const struct snapprocs_set *set,
                          struct snapprocs_table *tab, char *err, size_t errlen);
void snapprocs_table_free(struct snapprocs_table *tab);

/* A read and checked process section (host_snap.procs). */
struct snap_procs {
	struct cap_snap_procs t;
	struct cap_snap_proc *e;                               /* t.nprocs entries */
	uint8_t *meta;                                         /* the section's table bytes */
	const struct cap_snap_held *held[CAP_SNAP_PROCS_MAX];  /* entry i's held records (in meta) */
	const struct cap_snap_extent *ext[CAP_SNAP_PROCS_MAX]; /* entry i's extents (in meta) */
	const struct cap_snap_program *programs;               /* t.nprograms (in meta; unaligned) */
	uint64_t data_at[CAP_SNAP_PROCS_MAX];                  /* file offset of entry i's data */
	int fd;                                                /* where the section is read (not owned) */
};

/*
 * The section of an opened version 4 file (header checked, authenticated):
 * its hash, then its table (cap_snap_check_procs).  0 with *out
 * (malloc'd), or -1 with "process table (file bytes A-B): checksum
 * mismatch: snapshot is corrupt" or "process table (file bytes A-B): ..."
 * in err.
 */
int snapprocs_read(const struct host_snap *s, struct snap_procs **out, char *err, size_t errlen);
/*
 * The same for a section at offset from of fd, hx its size and hash (a
 * migration stream brings it alone, at offset 0 of a memfd: migstream.h);
 * h is pid 1's header (memfd_size bounds the extents).  The fd must stay
 * open while the section is used.
 */
int snapprocs_read_section(int fd, uint64_t from, const struct cap_snap_header *h,
                           const struct cap_snap_header_ext *hx, struct snap_procs **out, char *err,
                           size_t errlen);
/* A table alone (snapprocs_table_write's, size bytes at offset 0 of fd, its hash): read and
 * checked the same way; its entries' memory is not in fd (data_at 0, fd -1). */
int snapprocs_read_table(int fd, uint64_t size, const uint8_t hash[32], const struct cap_snap_header *h,
                         struct snap_procs **out, char *err, size_t errlen);
void snapprocs_free(struct snap_procs *p);

/* Entry i's memory: len bytes at memfd offset off (holes read as zeros).  0 or -1. */
int snapprocs_read_mem(const struct host_snap *s, uint32_t i, uint64_t off, void *buf, size_t len);
/* Entry i's memory into memfd (sized memfd_size already).  0 or -1 with err. */
int snapprocs_restore(const struct host_snap *s, uint32_t i, int memfd, char *err, size_t errlen);

#endif
