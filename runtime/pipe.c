/* pipe.c: pipes as 64 KiB ring buffers between green threads (no SIGPIPE: writers get EPIPE); pipe_file.c makes their ends files, unixsock.c pairs two of them. */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include "capsule-abi/cap_proc.h"
#include "runtime/rt_fd.h"
#include "runtime/rt_pipe.h"
#include "runtime/rt_sched.h"
#include "runtime/rt_proc.h"
#include "runtime/rt_shared.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_timer.h"

#define PIPE_SIZE RT_PIPE_SIZE
#define PIPE_ATOMIC 4096   /* PIPE_BUF: writes up to this size are never split */

/*
 * The bytes and the counts of ends.  Private (malloc'd) while only this
 * process uses the pipe; at a fork it moves into the shared window
 * (docs/PROCESSES.md, section 5), where every process of the capsule sees
 * the same ring: then the lock guards it and waiters names the processes
 * to wake after a change.
 */
struct rt_pipe_ring {
	int lock;                  /* shared only */
	int shared;                /* 0 private; RT_SHARED_KIND_RING in the window */
	size_t head, len;          /* read position and bytes buffered */
	int readers, writers;      /* ends open, in every process */
	uint64_t waiters;          /* shared: process slots with a thread waiting for a change */
	/*
	 * Shared: the ends each process slot holds (their sums are readers and
	 * writers), so those of a process that ended without closing them (killed
	 * by a host signal) can be taken away (rt_pipes_lost).  A fork's copies
	 * count on the parent's slot until the host's answer names the child's
	 * slot, and the parent moves them there before it runs on.  Signed: a
	 * child may close its copy before the parent moved it (-1, then 0).
	 */
	int16_t rd_by[CAP_PROC_MAX], wr_by[CAP_PROC_MAX];
	/*
	 * Descriptors sent with bytes of this ring (SCM_RIGHTS, fdpass.c), in
	 * the order sent; consumed counts every byte ever read, so a record's
	 * `at` names the stream position of its message's first byte.
	 */
	uint64_t consumed;
	/* A FIFO's (mkfifo): kept when no end is open; opens of each side, counted to wake a
	 * blocked open of the other */
	int keep;
	uint32_t rd_opens, wr_opens;
	int32_t reset;             /* a relayed TCP connection's reset (sockrelay.c): told once at the end */
	/* A socket's shutdown(SHUT_WR) in any process (unixsock.c): it acts on the socket, not
	 * on one descriptor, so the reader sees end of file after what is buffered, and every
	 * writer gets EPIPE, whoever else still holds an end */
	int32_t writes_shut;
	uint32_t npassed;
	struct rt_pipe_passed passed[RT_PIPE_PASSED_MAX];
	unsigned char buf[PIPE_SIZE];
};
_Static_assert(sizeof(struct rt_pipe_ring) <= RT_SHARED_SLOT, "a pipe's ring fits a shared slot");

/* This process's handle: the ring and the local wait queues. */
struct rt_pipe {
	struct rt_pipe_ring *ring;
	int local_ends;            /* ends this process holds: the last one frees the handle */
	struct rt_waitq rq, wq;
	/*
	 * The private ring a fork replaced: freed at the next call, because
	 * musl's fork holds its malloc lock around the system call.
	 */
	struct rt_pipe_ring *retired;
};

static void tidy(struct rt_pipe *p)
{
	if (p->retired) {
		free(p->retired);
		p->retired = 0;
	}
}

struct rt_pipe *rt_pipe_new(void)
{
	struct rt_pipe *p = calloc(1, sizeof *p);
	if (!p)
		return 0;
	p->ring = malloc(sizeof *p->ring);
	if (!p->ring) {
		free(p);
		return 0;
	}
	memset(p->ring, 0, offsetof(struct rt_pipe_ring, buf));
	p->ring->readers = p->ring->writers = 1;
	p->local_ends = 2;
	return p;
}

static void ring_lock(struct rt_pipe_ring *r)
{
	if (r->shared)
		rt_spin_lock(&r->lock);
}

/* Unlock; returns the processes to wake (taken from the ring) when it changed. */
static uint64_t ring_unlock(struct rt_pipe_ring *r, int changed)
{
	if (!r->shared)
		return 0;
	uint64_t wake = 0;
	if (changed) {
		wake = r->waiters;
		r->waiters = 0;
	}
	rt_spin_unlock(&r->lock);
	return wake;
}

/* Before sleeping (under the lock): have another process's change wake us. */
static void ring_want_wake(struct rt_pipe_ring *r)
{
	if (r->shared)
		r->waiters |= 1ULL << rt_proc_slot();
}

static void changed(struct rt_pipe *p, int shared, uint64_t remote)
{
	rt_wake_all(&p->rq);
	rt_wake_all(&p->wq);
	if (shared) {
		rt_wake_all(&rt_proc_waitq);
		rt_proc_wake(remote);
	}
	rt_io_changed();
}

static void wait_ring(struct rt_pipe *p, int reader)
{
	struct rt_waitq *q = p->ring->shared ? &rt_proc_waitq : reader ? &p->rq : &p->wq;
	rt_wait(q, 0, reader ? "pipe read" : "pipe write");
}

/*
 * Before a shared pipe's caller sleeps (and again after every wake-up, e.g.
 * by a signal from another process, proc.c): a pending signal's handler
 * runs now, or its default action ends the process (closing its ends), and
 * the call fails with EINTR (SA_RESTART is not told apart yet).  A private
 * pipe's wait is not interrupted, as before.
 */
static int interrupted(struct rt_pipe *p)
{
	return p->ring->shared && rt_signal_interrupts();
}

long rt_pipe_nread(struct rt_pipe *p)
{
	return (long)p->ring->len;
}

/*
 * Under r's lock, before reading up to *n bytes: the records the read
 * concerns.  With out, a record at the read position is handed over (the
 * read then ends with its message) and a later one ends the read before it;
 * without, the records whose first byte the read takes are moved to drop.
 */
static void take_passed(struct rt_pipe_ring *r, size_t *n, struct rt_pipe_passed *out, int *got,
                        struct rt_pipe_passed *drop, unsigned *ndrop)
{
	uint32_t i = 0;
	while (i < r->npassed) {
		struct rt_pipe_passed *rec = &r->passed[i];
		if (out && rec->at > r->consumed) {
			if (rec->at - r->consumed < *n)
				*n = (size_t)(rec->at - r->consumed);
			return;   /* records are in stream order: the rest lie further on */
		}
		if (out && !*got) {
			*out = *rec;
			*got = 1;
			if (rec->len && rec->len < *n)
				*n = rec->len;
		} else if (!out && rec->at < r->consumed + *n) {
			drop[(*ndrop)++] = *rec;
		} else {
			i++;
			continue;
		}
		memmove(rec, rec + 1, (r->npassed - i - 1) * sizeof *rec);
		r->npassed--;
		if (out)
			return;
	}
}

long rt_pipe_read(struct rt_pipe *p, void *buf, size_t len, int nonblock)
{
	return rt_pipe_read_passed(p, buf, len, nonblock, 0, 0);
}

long rt_pipe_read_passed(struct rt_pipe *p, void *buf, size_t len, int nonblock, struct rt_pipe_passed *out,
                         int *got)
{
	tidy(p);
	int signals_checked = 0;
	for (;;) {
		struct rt_pipe_ring *r = p->ring;
		ring_lock(r);
		if (r->len) {
			size_t n = len < r->len ? len : r->len;
			struct rt_pipe_passed drop[RT_PIPE_PASSED_MAX];
			unsigned ndrop = 0;
			if (r->npassed)
				take_passed(r, &n, out, got, drop, &ndrop);
			r->consumed += n;
			size_t first = PIPE_SIZE - r->head;
			if (first > n)
				first = n;
			memcpy(buf, r->buf + r->head, first);
			memcpy((unsigned char *)buf + first, r->buf, n - first);
			r->head = (r->head + n) % PIPE_SIZE;
			r->len -= n;
			if (!r->len)
				r->head = 0;
			int shared = r->shared;
			changed(p, shared, ring_unlock(r, 1));
			for (unsigned i = 0; i < ndrop; i++)
				rt_fdpass_drop(&drop[i]);   /* read without asking for them: closed, as on Linux */
			return (long)n;
		}
		if (!r->writers || r->writes_shut || nonblock) {
			int writers = r->writes_shut ? 0 : r->writers, reset = writers ? 0 : r->reset;
			r->reset = 0;
			ring_unlock(r, 0);
			return writers ? -EAGAIN : reset;   /* end of file, or the reset that ended it */
		}
		if (r->shared && !signals_checked) {   /* it would sleep: a signal interrupts it */
			ring_unlock(r, 0);
			signals_checked = 1;
			if (interrupted(p))
				return -EINTR;
			continue;
		}
		ring_want_wake(r);
		ring_unlock(r, 0);
		wait_ring(p, 1);
		signals_checked = 0;
	}
}

long rt_pipe_write(struct rt_pipe *p, const void *buf, size_t len, int nonblock)
{
	return rt_pipe_write_passed(p, buf, len, nonblock, 0);
}

long rt_pipe_write_passed(struct rt_pipe *p, const void *buf, size_t len, int nonblock,
                          const struct rt_pipe_passed *rec)
{
	const unsigned char *src = buf;
	size_t done = 0;
	int signals_checked = 0;
	tidy(p);
	while (done < len) {
		struct rt_pipe_ring *r = p->ring;
		ring_lock(r);
		if (!r->readers || r->writes_shut) {
			ring_unlock(r, 0);
			return done ? (long)done : -EPIPE;
		}
		size_t room = PIPE_SIZE - r->len;
		size_t want = len - done;
		/* Small writes go in whole or not at all (POSIX PIPE_BUF atomicity). */
		if (!room || (want <= PIPE_ATOMIC && room < want)) {
			if (nonblock) {
				ring_unlock(r, 0);
				return done ? (long)done : -EAGAIN;
			}
			if (r->shared && !signals_checked) {   /* it would sleep: a signal interrupts it */
				ring_unlock(r, 0);
				signals_checked = 1;
				if (interrupted(p))
					return done ? (long)done : -EINTR;
				continue;
			}
			ring_want_wake(r);
			ring_unlock(r, 0);
			wait_ring(p, 0);
			signals_checked = 0;
			continue;
		}
		size_t n = want < room ? want : room;
		if (rec && !done) {   /* the descriptors go with the message's first byte */
			if (r->npassed == RT_PIPE_PASSED_MAX) {
				ring_unlock(r, 0);
				return -ETOOMANYREFS;
			}
			struct rt_pipe_passed *to = &r->passed[r->npassed++];
			*to = *rec;
			to->at = r->consumed + r->len;
			to->len = (uint32_t)len;
		}
		size_t tail = (r->head + r->len) % PIPE_SIZE;
		size_t first = PIPE_SIZE - tail;
		if (first > n)
			first = n;
		memcpy(r->buf + tail, src + done, first);
		memcpy(r->buf, src + done + first, n - first);
		r->len += n;
		done += n;
		int shared = r->shared;
		changed(p, shared, ring_unlock(r, 1));
	}
	return (long)done;
}

int rt_pipe_poll(struct rt_pipe *p, int writer, int events)
{
	struct rt_pipe_ring *r = p->ring;
	int out = 0;
	ring_lock(r);
	if (writer) {
		if (!r->readers || r->writes_shut)
			out = POLLERR | (events & POLLOUT);
		else if (PIPE_SIZE - r->len >= PIPE_ATOMIC)
			out |= events & (POLLOUT | POLLWRNORM);
	} else {
		if (r->len)
			out |= events & (POLLIN | POLLRDNORM);
		if (!r->writers || r->writes_shut)
			out |= POLLHUP;
	}
	if (!out)
		ring_want_wake(r);   /* a poller sleeps next: another process's change must wake it */
	ring_unlock(r, 0);
	return out;
}

void rt_pipe_shut_writes(struct rt_pipe *p)
{
	struct rt_pipe_ring *r = p->ring;
	ring_lock(r);
	r->writes_shut = 1;
	int shared = r->shared;
	changed(p, shared, ring_unlock(r, 1));
}

/* For the freeze report: fill level, size, and whether the other end is open. */
void rt_pipe_info(struct rt_pipe *p, int writer, uint32_t *buffered, uint32_t *capacity,
                      uint32_t *peer_open)
{
	*buffered = (uint32_t)p->ring->len;
	*capacity = PIPE_SIZE;
	*peer_open = (writer ? p->ring->readers : p->ring->writers) > 0;
}

/* Is q one of p's wait queues?  1: its readers wait there, 2: its writers. */
int rt_pipe_owns_waitq(struct rt_pipe *p, const struct rt_waitq *q)
{
	return q == &p->rq ? 1 : q == &p->wq ? 2 : 0;
}

void rt_pipe_close(struct rt_pipe *p, int writer)
{
	tidy(p);
	struct rt_pipe_ring *r = p->ring;
	ring_lock(r);
	if (writer)
		r->writers--;
	else
		r->readers--;
	if (r->shared)
		(writer ? r->wr_by : r->rd_by)[rt_proc_slot()]--;
	int last = !r->readers && !r->writers, shared = r->shared;
	changed(p, shared, ring_unlock(r, 1));
	for (uint32_t i = 0; last && i < r->npassed; i++)
		rt_fdpass_drop(&r->passed[i]);   /* sent and never received: closed */
	if (last && r->keep) {
		r->npassed = 0;   /* a FIFO stays for the next open, emptied as Linux empties one */
		r->len = r->head = 0;
	} else if (last && shared)
		rt_shared_free(r);
	else if (last)
		free(r);
	if (--p->local_ends == 0)
		free(p);
}

/*
 * A fork: another process holds a copy of one end from now on (undo: the
 * fork failed).  The ring moves into the shared window first, so both
 * processes see the same bytes and counts.  If the window is full the pipe
 * stays private: each process then has its own copy, as before.
 */
void rt_pipe_fork(struct rt_pipe *p, int writer, int undo)
{
	struct rt_pipe_ring *r = p->ring;
	if (!r->shared && !undo) {
		struct rt_pipe_ring *s = rt_shared_alloc();
		if (!s) {
			static int said;
			if (!said++)
				rt_console_write(2, "capsule: the shared window is full: a pipe stays private to each process\n");
			return;
		}
		memcpy(s, r, sizeof *r);
		s->lock = 0;
		s->shared = RT_SHARED_KIND_RING;
		s->waiters = 0;
		memset(s->rd_by, 0, sizeof s->rd_by);
		memset(s->wr_by, 0, sizeof s->wr_by);
		s->rd_by[rt_proc_slot()] = (int16_t)r->readers;   /* until now every end was ours */
		s->wr_by[rt_proc_slot()] = (int16_t)r->writers;
		p->retired = r;   /* not free(): see struct rt_pipe */
		p->ring = r = s;
	}
	if (!r->shared)
		return;
	ring_lock(r);
	int d = undo ? -1 : 1;
	if (writer)
		r->writers += d;
	else
		r->readers += d;
	(writer ? r->wr_by : r->rd_by)[rt_proc_slot()] += (int16_t)d;   /* ours until the answer */
	ring_unlock(r, 0);
}

void rt_pipe_forked(struct rt_pipe *p, int writer, unsigned child_slot, int child_pid)
{
	struct rt_pipe_ring *r = p->ring;
	if (!r->shared || !child_slot || child_slot >= CAP_PROC_MAX)
		return;
	ring_lock(r);
	int16_t *by = writer ? r->wr_by : r->rd_by;
	by[rt_proc_slot()]--;
	int gone = rt_shared_slot_lost(child_slot, child_pid);
	if (!gone)
		by[child_slot]++;
	else if (writer)
		r->writers--;   /* pid 1 already took the child's ends away: take this one too */
	else
		r->readers--;
	uint64_t wake = ring_unlock(r, gone);
	if (gone)
		changed(p, 1, wake);
}

/* One ring of the window: the process in slot *arg holds none of its ends any more. */
static void ring_lost(void *mem, void *arg)
{
	struct rt_pipe_ring *r = mem;
	unsigned slot = *(unsigned *)arg;
	if (r->shared != RT_SHARED_KIND_RING)
		return;   /* another kind of object (sockrelay.c's listeners) */
	rt_spin_lock(&r->lock);
	int changed = r->rd_by[slot] || r->wr_by[slot];
	r->readers = r->readers > r->rd_by[slot] ? r->readers - r->rd_by[slot] : 0;   /* by may be < 0 */
	r->writers = r->writers > r->wr_by[slot] ? r->writers - r->wr_by[slot] : 0;
	r->rd_by[slot] = r->wr_by[slot] = 0;
	int last = changed && !r->readers && !r->writers && !r->keep;
	uint64_t wake = ring_unlock(r, changed);
	if (last)
		rt_shared_free_locked(r);   /* nobody holds it: no process can touch it again */
	if (changed) {
		rt_wake_all(&rt_proc_waitq);
		rt_proc_wake(wake);
		rt_io_changed();
	}
}

void rt_pipes_lost(unsigned slot)
{
	if (slot < CAP_PROC_MAX)
		rt_shared_each_ring(ring_lost, &slot);
}

/* ---- rings made shared from the start, for sockrelay.c ---- */

struct rt_pipe *rt_pipe_new_shared(int writer)
{
	struct rt_pipe *p = calloc(1, sizeof *p);
	struct rt_pipe_ring *r = p ? rt_shared_alloc() : 0;
	if (!r) {
		free(p);
		return 0;
	}
	(void)writer;   /* the handle is the same for either end; the caller knows which it holds */
	r->shared = RT_SHARED_KIND_RING;
	r->readers = r->writers = 1;
	r->rd_by[rt_proc_slot()] = r->wr_by[rt_proc_slot()] = 1;
	p->ring = r;
	p->local_ends = 1;
	return p;
}

struct rt_pipe_ring *rt_pipe_ring_of(struct rt_pipe *p)
{
	return p->ring;
}

/* An end of r counted on from_slot is this process's from now on. */
static void take_count(struct rt_pipe_ring *r, int writer, unsigned from_slot)
{
	unsigned me = rt_proc_slot();
	if (from_slot == me || from_slot >= CAP_PROC_MAX)
		return;
	ring_lock(r);
	int16_t *by = writer ? r->wr_by : r->rd_by;
	by[from_slot]--;
	by[me]++;
	ring_unlock(r, 0);
}

/* A handle of this process on a ring whose ends are counted already; 0: no memory. */
static struct rt_pipe *adopt_ring(struct rt_pipe_ring *r)
{
	struct rt_pipe *p = calloc(1, sizeof *p);
	if (p) {
		p->ring = r;
		p->local_ends = 1;
	}
	return p;
}

struct rt_pipe *rt_pipe_adopt(struct rt_pipe_ring *r, int writer, unsigned from_slot)
{
	struct rt_pipe *p = adopt_ring(r);
	if (p)
		take_count(r, writer, from_slot);
	return p;
}

void rt_pipe_drop(struct rt_pipe_ring *r, int writer, unsigned slot)
{
	ring_lock(r);
	int16_t *by = writer ? r->wr_by : r->rd_by;
	if (writer)
		r->writers--;
	else
		r->readers--;
	if (slot < CAP_PROC_MAX)
		by[slot]--;
	int last = !r->readers && !r->writers;
	uint64_t wake = ring_unlock(r, 1);
	if (last)
		rt_shared_free(r);
	rt_wake_all(&rt_proc_waitq);
	rt_proc_wake(wake);
	rt_io_changed();
}

void rt_pipe_close_reset(struct rt_pipe *p, int err)
{
	ring_lock(p->ring);
	p->ring->reset = err;
	ring_unlock(p->ring, 0);
	rt_pipe_close(p, 1);
}

int rt_pipe_is_shared(struct rt_pipe *p)
{
	return p->ring->shared != 0;
}

long rt_pipe_room(struct rt_pipe *p)
{
	return (long)(PIPE_SIZE - p->ring->len);
}

/* ---- FIFOs (mkfifo): a ring in the window that a path names ---- */

struct rt_pipe_ring *rt_fifo_new(void)
{
	struct rt_pipe_ring *r = rt_shared_alloc();
	if (r) {
		r->shared = RT_SHARED_KIND_RING;
		r->keep = 1;
	}
	return r;
}

/*
 * A FIFO's open, the ring's half (rt_fifo_open in pipe_file.c makes the
 * file): a handle on r that counts one end, as Linux: a reader waits for a
 * writer and a writer for a reader unless nonblock (then a writer without a
 * reader gets -ENXIO).  0 and *out, or -ENXIO, -ENFILE, -EINTR.
 */
long rt_fifo_join(struct rt_pipe_ring *r, int writer, int nonblock, struct rt_pipe **out)
{
	struct rt_pipe *p = calloc(1, sizeof *p);
	if (!p)
		return -ENFILE;
	p->ring = r;
	p->local_ends = 1;
	ring_lock(r);
	if (writer && nonblock && !r->readers) {
		ring_unlock(r, 0);
		free(p);
		return -ENXIO;
	}
	uint32_t other_opens = writer ? r->rd_opens : r->wr_opens;
	/*
	 * The other side already open (or waiting in its open): ours returns at
	 * once, as on Linux.  Looking only later could miss it: it may take our
	 * wake-up, do its I/O and close before we look, leaving no sign.
	 */
	int other_there = writer ? r->readers > 0 : r->writers > 0;
	if (writer) {
		r->writers++;
		r->wr_opens++;
		r->wr_by[rt_proc_slot()]++;
	} else {
		r->readers++;
		r->rd_opens++;
		r->rd_by[rt_proc_slot()]++;
	}
	changed(p, 1, ring_unlock(r, 1));   /* an open waiting for this side goes on */
	for (int checked = 0; !nonblock && !other_there;) {
		ring_lock(r);
		int there = (writer ? r->readers || r->rd_opens != other_opens
		                    : r->writers || r->wr_opens != other_opens);
		if (!there)
			ring_want_wake(r);
		ring_unlock(r, 0);
		if (there)
			break;
		if (!checked++ && rt_signal_interrupts()) {
			rt_pipe_close(p, writer);   /* the end counted above: given back, p freed */
			return -EINTR;
		}
		rt_wait(&rt_proc_waitq, 0, writer ? "fifo open (write)" : "fifo open (read)");
		checked = 0;
	}
	*out = p;
	return 0;
}
