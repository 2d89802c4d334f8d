/* rt_pipe.h: one pipe's ring buffer (pipe.c), for the kinds built on it: pipes and AF_UNIX socket pairs (unixsock.c). */
#ifndef RT_PIPE_H
#define RT_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/rt_sched.h"

#define RT_PIPE_SIZE 65536

struct rt_pipe;

/* A new pipe with one reader and one writer, or 0 (no memory). */
struct rt_pipe *rt_pipe_new(void);
/* Bytes buffered (FIONREAD). */
long rt_pipe_nread(struct rt_pipe *p);
/* >= 0 or -errno: 0 at end of file (no writer left), -EAGAIN if nonblock and empty. */
long rt_pipe_read(struct rt_pipe *p, void *buf, size_t len, int nonblock);
/* Bytes taken, or -EPIPE (no reader left) or -EAGAIN (nonblock and full). */
long rt_pipe_write(struct rt_pipe *p, const void *buf, size_t len, int nonblock);
/* poll() bits for the writing end (writer 1) or the reading end: POLLERR for a writer without a
 * reader, POLLHUP for a reader without a writer. */
int rt_pipe_poll(struct rt_pipe *p, int writer, int events);
/* The freeze report: bytes buffered, the capacity, whether the other end is open. */
void rt_pipe_info(struct rt_pipe *p, int writer, uint32_t *buffered, uint32_t *capacity,
                  uint32_t *peer_open);
/* Is q one of p's wait queues?  1: its readers wait there, 2: its writers, 0: neither. */
int rt_pipe_owns_waitq(struct rt_pipe *p, const struct rt_waitq *q);
/* One end goes away (writer 1: a writer); the last one frees p. */
void rt_pipe_close(struct rt_pipe *p, int writer);
/*
 * A fork: the child holds a copy of this end from now on (undo: the fork
 * failed).  The ring moves into the shared window first, so every process
 * sees the same bytes and counts (docs/PROCESSES.md, section 5).
 */
void rt_pipe_fork(struct rt_pipe *p, int writer, int undo);
/* In a fork's child, first thing: the copy of this end counted on the parent's slot is ours. */
void rt_pipe_forked_child(struct rt_pipe *p, int writer, unsigned parent_slot);
/* The process in slot ended without closing its ends (CAP_MSG_LOST): take them away from
 * every shared pipe, waking readers (end of file) and writers (EPIPE). */
void rt_pipes_lost(unsigned slot);

/*
 * execve (exec.c): is f a pipe end (-1: no; 0: the reading one, 1: the
 * writing one)?  *shared_ring: its ring in the shared window, 0 if private.  adopt:
 * the new program's file for an end of that ring (its count is there
 * already); ends of one ring share one *handle (0 the first time).
 */
struct rt_file;
int rt_pipe_end_of(struct rt_file *f, void **shared_ring);
/* p's ring if it lives in the shared window, else 0; a handle (new if handle is 0) holding one
 * more end of a shared ring, whose count is there already; 0: no memory. */
void *rt_pipe_shared_ring(struct rt_pipe *p);
struct rt_pipe *rt_pipe_adopt_ring(void *ring, struct rt_pipe *handle);
struct rt_file *rt_pipe_end_adopt(void *ring, int writer, int flags, struct rt_pipe **handle);

#endif
