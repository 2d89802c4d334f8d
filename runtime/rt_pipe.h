/* rt_pipe.h: one pipe's ring buffer (pipe.c), for the kinds built on it: pipes and FIFOs (pipe_file.c) and AF_UNIX socket pairs (unixsock.c). */
#ifndef RT_PIPE_H
#define RT_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_net.h"
#include "runtime/rt_sched.h"

#define RT_PIPE_SIZE 65536

struct rt_pipe;

/*
 * Descriptors passed with a message (SCM_RIGHTS over a socket pair,
 * fdpass.c): the ring keeps them beside the bytes, and a read that reaches
 * the message's first byte receives them (rt_pipe_read_passed) or, if it did
 * not ask, closes them (rt_fdpass_drop).  `what` is fdpass.c's.
 */
#define RT_PIPE_PASSED_MAX 4        /* messages with descriptors in flight in one ring */
#define RT_PASSED_FDS 8             /* descriptors in one message */
#define RT_PASSED_BYTES 88          /* a descriptor's description: struct rt_passed_fd */
struct rt_pipe_passed {
	uint64_t at;                    /* the stream position of the message's first byte */
	uint32_t len;                   /* the message's bytes: a read that receives these ends there */
	uint32_t n;                     /* descriptors */
	unsigned char what[RT_PASSED_FDS][RT_PASSED_BYTES];
};
void rt_fdpass_drop(struct rt_pipe_passed *rec);

/*
 * One descriptor in flight: its kind's rings, counted as a copy on the
 * sender's slot (as a fork's copy is) until a process receives it and takes
 * them over.  A kind that can be passed fills one with its file operations'
 * .pass (rt_fd.h).
 */
enum { RT_PASS_PIPE_R = 1, RT_PASS_PIPE_W, RT_PASS_UNIX, RT_PASS_TCP, RT_PASS_LISTENER, RT_PASS_TMPFILE };
struct rt_passed_fd {
	uint32_t kind;
	uint32_t from_slot;
	int32_t flags;                  /* the open file's O_NONBLOCK, O_ACCMODE */
	int32_t rd_shut, wr_shut;       /* a socket's end: directions it shut (no ring held) */
	int32_t nodelay, keepalive;     /* a relayed TCP connection's options */
	struct rt_pipe_ring *in, *out;  /* what it reads, what it writes (a pipe end: one of them) */
	unsigned char names[32];        /* a relayed TCP connection's struct relay_names */
	union {
		void *listener;             /* a shared listener's struct relay_listen (its hold in flight) */
		uint64_t tmp_desc;          /* a /tmp file's open file description (tmpstore.c; its hold in flight) */
	};
};
_Static_assert(sizeof(struct rt_passed_fd) <= RT_PASSED_BYTES, "a passed descriptor's description fits");
/* The receiving side of each kind: a new open file taking over the rings' counts; 0: no
 * memory, and the rings' counts are given up (the descriptor is closed). */
struct rt_file *rt_pipe_end_receive(const struct rt_passed_fd *d);
struct rt_file *rt_unix_end_receive(const struct rt_passed_fd *d);
struct rt_file *rt_relay_end_receive(const struct rt_passed_fd *d);
struct rt_file *rt_relay_listener_receive(const struct rt_passed_fd *d);
struct rt_file *rt_tmpfile_receive(const struct rt_passed_fd *d);
/* A /tmp file's hold in flight that nobody will receive (tmpfile.c). */
void rt_tmpfile_passed_drop(const struct rt_passed_fd *d);
/* Any kind's receiving side, by d->kind (fdpass.c). */
struct rt_file *rt_fdpass_receive(const struct rt_passed_fd *d);
/* A shared listener's hold in flight that nobody will receive (sockrelay.c). */
void rt_relay_listener_drop(const struct rt_passed_fd *d);
/* FIFOs (mkfifo): a new kept ring in the window (0: the window is full), and open(2) of one
 * (pipe_file.c), whose ring half is rt_fifo_join (pipe.c): a handle counting one end, having
 * waited for the other side unless nonblock; 0, -ENXIO, -ENFILE or -EINTR. */
struct rt_pipe_ring *rt_fifo_new(void);
long rt_fifo_open(struct rt_pipe_ring *r, int flags, struct rt_file **out);
long rt_fifo_join(struct rt_pipe_ring *r, int writer, int nonblock, struct rt_pipe **out);
/* Is p's ring in the shared window (another process can take it over)? */
int rt_pipe_is_shared(struct rt_pipe *p);

/* A new pipe with one reader and one writer, or 0 (no memory). */
struct rt_pipe *rt_pipe_new(void);
/* Bytes buffered (FIONREAD). */
long rt_pipe_nread(struct rt_pipe *p);
/* >= 0 or -errno: 0 at end of file (no writer left), -EAGAIN if nonblock and empty. */
long rt_pipe_read(struct rt_pipe *p, void *buf, size_t len, int nonblock);
/* Bytes taken, or -EPIPE (no reader left) or -EAGAIN (nonblock and full). */
long rt_pipe_write(struct rt_pipe *p, const void *buf, size_t len, int nonblock);
/* The same with descriptors (rec: 0 for none; -ETOOMANYREFS when the ring holds enough). */
long rt_pipe_write_passed(struct rt_pipe *p, const void *buf, size_t len, int nonblock,
                          const struct rt_pipe_passed *rec);
/* A read that receives a message's descriptors into *out (*got = 1) if it reaches them. */
long rt_pipe_read_passed(struct rt_pipe *p, void *buf, size_t len, int nonblock, struct rt_pipe_passed *out,
                         int *got);
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
/* A socket's shutdown(SHUT_WR): no more writes through p from any end (EPIPE), end of file for
 * its reader after the bytes buffered. */
void rt_pipe_shut_writes(struct rt_pipe *p);
/*
 * A fork: the child holds a copy of this end from now on (undo: the fork
 * failed).  The ring moves into the shared window first, so every process
 * sees the same bytes and counts (docs/PROCESSES.md, section 5).
 */
void rt_pipe_fork(struct rt_pipe *p, int writer, int undo);
/* The parent, as soon as the host answered: the copy of this end counted on its slot is the
 * child's (child_pid in child_slot); already taken away if that child was lost meanwhile. */
void rt_pipe_forked(struct rt_pipe *p, int writer, unsigned child_slot, int child_pid);
/* The process in slot ended without closing its ends (CAP_MSG_LOST): take them away from
 * every shared pipe, waking readers (end of file) and writers (EPIPE). */
void rt_pipes_lost(unsigned slot);

/*
 * Rings in the shared window from the start, for sockets several processes
 * share (sockrelay.c).  rt_pipe_new_shared: a ring with one reader and one
 * writer, both counted on this process's slot, and a handle for one of them
 * (the caller knows which); the other end is held by nobody yet, until a
 * process takes it with rt_pipe_adopt (moving its count from from_slot to
 * its own) or it is given up with rt_pipe_drop.
 */
struct rt_pipe_ring;
struct rt_pipe *rt_pipe_new_shared(int writer);
struct rt_pipe_ring *rt_pipe_ring_of(struct rt_pipe *p);
struct rt_pipe *rt_pipe_adopt(struct rt_pipe_ring *r, int writer, unsigned from_slot);
void rt_pipe_drop(struct rt_pipe_ring *r, int writer, unsigned slot);
/* Bytes a write could add now. */
long rt_pipe_room(struct rt_pipe *p);
/* The last writer goes with an error (-ECONNRESET): the reader that reaches the end gets it once. */
void rt_pipe_close_reset(struct rt_pipe *p, int err);

/*
 * One end of a byte stream built on two rings: a socketpair's end
 * (unixsock.c), or a process's end of a TCP connection pid 1 relays
 * (sockrelay.c).  It reads `in` and writes `out`.  Its file operations are
 * rt_unix_stream_ops (socket calls: rt_unix_stream_sock_ops); a kind built
 * on it puts this struct first in its own and copies the tables.
 */
struct rt_unix_end {
	struct rt_pipe *in, *out;
	int rd_shut, wr_shut;
};
extern const struct rt_file_ops rt_unix_stream_ops;
/* The stream end's .pass (a kind built on it adds its own part). */
long rt_unix_end_pass(struct rt_file *f, void *what);
extern const struct rt_sock_ops rt_unix_stream_sock_ops;

/*
 * Is f a pipe end (-1: no; 0: the reading one, 1: the writing one)?
 * *shared_ring: its ring in the shared window, 0 if private.
 */
struct rt_file;
int rt_pipe_end_of(struct rt_file *f, void **shared_ring);

#endif
