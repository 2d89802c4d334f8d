/* fileio.h: whole-buffer pread/pwrite for host tools (images, memfds, snapshots). */
#ifndef HOST_FILEIO_H
#define HOST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read or write exactly len bytes at off, retrying short transfers and
 * EINTR.  0 on success; -1 with errno set otherwise: EIO when a read meets
 * the end of the file early (it changed under us), ENOSPC when a write
 * makes no progress.
 */
int host_pread_full(int fd, void *buf, size_t len, uint64_t off);
int host_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#endif
