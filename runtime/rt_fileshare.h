/* rt_fileshare.h: a volume file's offset shared by the processes that hold its open file description since a fork (fileshare.c). */
#ifndef RT_FILESHARE_H
#define RT_FILESHARE_H

#include <stdint.h>

struct rt_offcell;

/* A cell at off, held once by this process; 0 when the window's table is full (the file then
 * keeps its offset per process, as before). */
struct rt_offcell *rt_offcell_new(uint64_t off);
/* Is c a cell in use (an exec's hand-off names one)? */
int rt_offcell_valid(const struct rt_offcell *c);
/* n more holders on this process's slot (a fork's copy, an exec's new program), or fewer (a close):
 * the last one frees the cell. */
void rt_offcell_hold(struct rt_offcell *c, int n);
/* In the parent once the host answered its fork: the copy counted by rt_offcell_hold is the child's. */
void rt_offcell_forked(struct rt_offcell *c, unsigned child_slot, int child_pid);
/* CAP_MSG_LOST (pid 1): what the process in slot held is let go. */
void rt_offcells_lost(unsigned slot);

/* The offset now; set it (lseek). */
uint64_t rt_offcell_get(struct rt_offcell *c);
void rt_offcell_set(struct rt_offcell *c, uint64_t off);
/*
 * A read or write of len bytes at the offset: claim returns where it starts and moves the
 * offset past it at once, so another process's transfer meanwhile gets the bytes after (the
 * host call is made without any lock held); settle, with the bytes done, puts the offset where
 * the transfer really stopped, unless someone moved it since.
 */
uint64_t rt_offcell_claim(struct rt_offcell *c, uint64_t len);
void rt_offcell_settle(struct rt_offcell *c, uint64_t at, uint64_t claimed, uint64_t done);

#endif
