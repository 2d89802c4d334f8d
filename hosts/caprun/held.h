/* held.h: packets queued for a capsule frozen for good, moved into its memory (capsule-abi/cap_held.h). */
#ifndef CAPRUN_HELD_H
#define CAPRUN_HELD_H

#include "hosts/caprun/channel.h"

#include <stddef.h>
#include <stdint.h>

struct held_result {
	uint32_t packets;   /* written into the held area */
	uint32_t dropped;   /* left out: the area was full */
	size_t bytes;
};

/*
 * The capsule is frozen and will not be thawed here (a snapshot that stops
 * it, the source of a live migration): read every packet queued for it (the
 * TUN device, or caphostd's uplink up to its first record that is not a
 * packet) without waiting, and write them into the held area of its memfd,
 * before the memory is copied.  If it is thawed after all (the snapshot or
 * migration failed), the capsule takes them from there itself.  0, or -1
 * (out of memory, or the memfd write failed; errno set).
 */
int held_collect(struct host_relay *r, struct held_result *res);

#endif
