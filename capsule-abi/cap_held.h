/* cap_held.h: packets that reached the host while the capsule was frozen for good, carried in its memory to wherever it resumes. */
#ifndef CAP_HELD_H
#define CAP_HELD_H

#include <stdint.h>
#include "capsule-abi/cap_abi.h"

/*
 * While a capsule is frozen its host stops reading the capsule's packets
 * (the TUN device or caphostd's uplink queue them).  When the freeze ends
 * with a thaw, the queue is simply read on.  When it ends the capsule here
 * (a snapshot that stops it, the source side of a live migration), the
 * queue would die with the TUN device: a request a client sent just as the
 * capsule froze would be lost, and the client would wait for its own
 * retransmission timeout (200 ms at the very least, seconds once it backs
 * off) although the capsule is long back.  So the host moves what is queued
 * into this area of the frozen memfd, before the memory is copied: the
 * packets travel inside the snapshot or the migration stream like any other
 * capsule state.  After every freeze (resume or thaw) the capsule hands
 * them to its TCP/IP stack as if they had just arrived, then empties the
 * area.  See docs/FORMAT-SNAPSHOT.md, section "Held packets".
 *
 * Layout at CAP_HELD_ADDR: struct cap_held_header, then count records, each
 * a struct cap_held_record and len bytes of IPv4 packet, the next record at
 * the next 8-byte boundary; bytes counts everything after the header.
 * Integers little-endian.  An area whose magic is not CAP_HELD_MAGIC holds
 * nothing (memory that was never written reads as zeros).
 */
#define CAP_HELD_ADDR  (CAP_CONTROL_ADDR + CAP_CONTROL_SIZE)   /* 0x10010000 */
#define CAP_HELD_SIZE  0x000E0000UL   /* 896 KiB: 64 KiB stay unmapped below the main stack */
#define CAP_HELD_MAGIC 0x444c4548u    /* "HELD" little-endian */
#define CAP_HELD_ALIGN 8u

struct cap_held_header {
	uint32_t magic;     /* CAP_HELD_MAGIC, or anything else: empty */
	uint32_t count;     /* records */
	uint32_t bytes;     /* of records, after this header */
	uint32_t dropped;   /* packets the host had to leave out (the area was full): for people */
};
_Static_assert(sizeof(struct cap_held_header) == 16, "cap_held_header layout");

struct cap_held_record {
	uint32_t len;       /* bytes of packet that follow, 20 .. CAP_MTU_MAX */
	uint32_t reserved;  /* 0 */
};
_Static_assert(sizeof(struct cap_held_record) == 8, "cap_held_record layout");

_Static_assert(CAP_HELD_ADDR + CAP_HELD_SIZE + 0x10000UL <= CAP_STACK_LOW,
               "the held area must leave a guard gap below the main stack");
_Static_assert(CAP_HELD_SIZE % CAP_PAGE_SIZE == 0, "the held area is whole pages");

/* Where the record after one of len bytes starts, relative to this one. */
#define CAP_HELD_STEP(len) \
	((sizeof(struct cap_held_record) + (uint64_t)(len) + CAP_HELD_ALIGN - 1) & ~(uint64_t)(CAP_HELD_ALIGN - 1))

#endif
