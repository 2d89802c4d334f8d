/* lazyload.h: a lazy resume: the capsule runs at once, its memory comes from the snapshot on first touch and in the background, each chunk checked before use. */
#ifndef HOST_LAZYLOAD_H
#define HOST_LAZYLOAD_H

#include "hosts/formats/snapfile.h"

#include <stddef.h>
#include <sys/types.h>

struct lazyload;

/*
 * Before the capsule exists: fill memfd (sized hdr.memfd_size) with the
 * chunks the loader itself touches before its userfaultfd is registered
 * (the control page and the freeze report, and the frozen stack around
 * resume_ctx.rsp where the loader's last stage runs), each checked against
 * its hash.  s was opened with the data unchecked (snapfile_open_fd_ex) and
 * must outlive the load; the chunk its open checked and kept is placed as it
 * is (snapfile_take_held).  NULL with err on failure.
 */
struct lazyload *lazyload_prepare(struct host_snap *s, int memfd, char *err, size_t errlen);

/*
 * The capsule (child) runs with CAP_HOST_LAZY_LOAD set: take its
 * userfaultfd (pidfd_getfd, fd CAP_FD_DIRTY) and serve it from a thread:
 * a missing page is filled from its chunk (read, checked, UFFDIO_COPY;
 * UFFDIO_ZEROPAGE outside every extent), and between faults every other
 * chunk is loaded the same way.  When all are in, CAP_HOST_LAZY_LOAD is
 * cleared and the missing-page registration dropped.  A chunk that cannot
 * be read or does not match its hash kills the capsule (SIGKILL): no byte
 * of it is ever placed.  memfd: the capsule's (the same file as at
 * prepare, perhaps another descriptor).  0, or -1 with err.
 */
int lazyload_start(struct lazyload *l, pid_t child, int memfd, char *err, size_t errlen);

/*
 * Block until every chunk is in (a freeze, a snapshot or a migration reads
 * the memfd directly, so they come after the load).  0, or -1 with why not.
 */
int lazyload_wait(struct lazyload *l, char *err, size_t errlen);

/* The one-line reason the load killed the capsule, or NULL. */
const char *lazyload_failure(const struct lazyload *l);

/* Stop the thread and free everything (the capsule is gone or fully loaded). */
void lazyload_free(struct lazyload *l);

#endif
