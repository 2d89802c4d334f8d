/* rt_tmpstore.h: /tmp's nodes, open file descriptions and file bytes in the shared window (tmpstore.c), one file system for every process of a capsule (docs/PROCESSES.md, section 5). */
#ifndef RT_TMPSTORE_H
#define RT_TMPSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"

#define RT_TMP_DIRECT 16    /* pages a node names itself; more through its page tables */

/*
 * A file, directory or FIFO of /tmp.  In the window, except "/", "/dev",
 * "/etc" and "/tmp" themselves, which never change and live in each
 * process's own memory (tmpfs.c), at the same address in all of them.
 * Its bytes are window pages named by number (0: none, reads as zeros).
 */
struct rt_tnode {
	uint32_t used;              /* 0: a free entry (tmpstore.c: its first 8 bytes zero) */
	uint32_t is_dir;
	uint32_t mode;
	uint32_t writable_dir;      /* files may be created inside */
	int32_t opens;              /* open file descriptions, in every process */
	uint32_t indirect;          /* a page of page numbers */
	uint32_t dindirect;         /* a page of numbers of such pages */
	uint32_t direct[RT_TMP_DIRECT];
	uint64_t fifo;              /* a FIFO (mkfifo): its ring's address (pipe.c) */
	uint64_t size;
	uint64_t ino;
	int64_t mtime_ns;
	char path[RT_PATH_MAX];     /* absolute; empty once unlinked */
};

/*
 * An open file description of a regular file, shared by every descriptor
 * a fork or dup made of it, so they share its offset as on Linux.  held_by
 * counts each process slot's open files, signed like a pipe's ends (a
 * fork's copies move to the child's slot once the host names it).
 */
struct rt_tdesc {
	uint64_t node;              /* its struct rt_tnode's address; 0: a free entry (first, as a node's used) */
	uint64_t off;
	int16_t held_by[CAP_PROC_MAX];
};

/* The file system's head, locked: every call below wants it held.  0 when there is none
 * (no file made yet, and make is 0) or the window is full. */
struct rt_tmphead;
struct rt_tmphead *rt_tmpstore_lock(int make);
void rt_tmpstore_unlock(struct rt_tmphead *h);

/* Node i (used or free), or 0 beyond the table; a new one, zeroed but for used and ino, or 0: full. */
struct rt_tnode *rt_tmpstore_node(struct rt_tmphead *h, uint32_t i);
struct rt_tnode *rt_tmpstore_node_new(struct rt_tmphead *h);
/* Its pages back to the window and the entry free. */
void rt_tmpstore_node_free(struct rt_tmphead *h, struct rt_tnode *n);

/* Bytes: as pread/pwrite/ftruncate (-EFBIG, -ENOSPC with one console line). */
long rt_tmpstore_read(struct rt_tmphead *h, struct rt_tnode *n, void *buf, size_t len, uint64_t off);
long rt_tmpstore_write(struct rt_tmphead *h, struct rt_tnode *n, const void *buf, size_t len, uint64_t off);
long rt_tmpstore_truncate(struct rt_tmphead *h, struct rt_tnode *n, uint64_t size);

/*
 * Descriptions: a new one of n held once by this process (its number), or
 * -1 (full); it takes over the caller's hold on n (rt_tmpfs_open's: one of
 * n->opens), which it lets go of when nobody holds it.  By number.
 */
long rt_tmpstore_desc_new(struct rt_tmphead *h, struct rt_tnode *n);
struct rt_tdesc *rt_tmpstore_desc(struct rt_tmphead *h, uint32_t i);
/* A description nobody holds any more: freed, and its node let go (freed if unlinked and unheld). */
void rt_tmpstore_desc_drop_if_unheld(struct rt_tmphead *h, struct rt_tdesc *d);
/* The process in slot ended without closing its files (CAP_MSG_LOST, run by pid 1). */
void rt_tmpstore_lost(unsigned slot);

int64_t rt_tmpstore_now_ns(void);

#endif
