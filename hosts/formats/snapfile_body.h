/* snapfile_body.h: the snapshot writer's data part: every chunk read from the memfd, tagged and written, by one or more threads (snapfile.c calls it). */
#ifndef HOST_SNAPFILE_BODY_H
#define HOST_SNAPFILE_BODY_H

#include "capsule-abi/cap_snapshot.h"
#include "hosts/formats/snapchunk.h"

#include <stdint.h>

/*
 * The data of h's extents (their bytes in memfd, one after the other) into
 * out at h->data_offset, and each CAP_SNAP_CHUNK_SIZE piece's table entry
 * into table (h's chunk count of them), by workers threads (1 to
 * SNAPFILE_BODY_MAX_WORKERS, this one included).  0, or -1 with errno (EINVAL
 * for a format version without chunks, which this never writes).
 */
#define SNAPFILE_BODY_MAX_WORKERS 4
int snapfile_write_body(int memfd, int out, const struct cap_snap_header *h,
                        const struct cap_snap_extent *ext, const struct snapchunk_keying *keying,
                        int workers, uint8_t *table);

#endif
