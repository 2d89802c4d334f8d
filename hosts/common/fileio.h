/* fileio.h: file helpers for host tools: opening given files safely, whole-buffer pread/pwrite and copies, prefaulted read buffers, sibling executables, a message carrying a descriptor. */
#ifndef HOST_FILEIO_H
#define HOST_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Open a file we were handed (an image, a snapshot, a key file) for
 * reading, refusing anything but a regular file before it can do harm: a
 * FIFO would block the open and every read (with our signals blocked, for
 * ever), a device may act on being opened (a tape rewinds, a watchdog
 * arms), a directory or a socket is simply a mistake.  Returns a read-only,
 * close-on-exec descriptor, or -1 with the reason in err, without the path:
 * "not a regular file (a FIFO)", "No such file or directory".
 */
int fileio_open_regular(const char *path, char *err, size_t errlen);

/*
 * Read or write exactly len bytes at off, retrying short transfers and
 * EINTR.  0 on success; -1 with errno set otherwise: EIO when a read meets
 * the end of the file early (it changed under us), ENOSPC when a write
 * makes no progress.
 */
int fileio_pread_full(int fd, void *buf, size_t len, uint64_t off);
int fileio_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Copy len bytes at in_off of in to out_off of out, through one small
 * buffer on the stack (fileio_pread_full's and fileio_pwrite_full's errors).
 * For a few hundred KiB between files of different file systems, where
 * copy_file_range says EXDEV; a buffer used again and again, because a
 * fresh page's first touch costs more than the copy here (docs/STARTUP.md
 * section 13).
 */
int fileio_copy_range(int in, uint64_t in_off, int out, uint64_t out_off, uint64_t len);

/*
 * Fault in the pages of a fresh buffer (malloc'd, not yet touched) in one
 * call, before a read fills it: a pread into untouched memory takes one page
 * fault per page, about 10 us each on a nested virtual machine (measured
 * here: a 256 KiB pread into a fresh buffer 0.7-0.8 ms, into one prefaulted
 * 0.3-0.4 ms).
 * Only for the caller's own anonymous memory, never a mapping that a
 * userfaultfd serves.  Best effort: a kernel without MADV_POPULATE_WRITE
 * (before 5.14) leaves the pages to fault as before.
 */
void fileio_prefault(void *buf, size_t len);

/*
 * The executable name in the directory of our own (caprun finds caploader,
 * caphostd finds caprun: the tools are installed together).  0 with out
 * set if it is there and executable; -1 with errno otherwise (out is still
 * set when it fits, for the message).
 */
int fileio_sibling_exe(const char *name, char *out, size_t len);

/* One sendmsg of buf on socket sock, carrying pass_fd (SCM_RIGHTS) when it is >= 0, without
 * SIGPIPE.  Returns what sendmsg returns. */
long fileio_send_with_fd(int sock, const void *buf, size_t len, int pass_fd);

#endif
