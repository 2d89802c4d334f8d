/* lazyload.c: a lazy resume: the capsule's missing pages filled from the snapshot on first touch (userfaultfd) and in the background, each chunk checked before use. */
#include "hosts/caprun/lazyload.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/common/fileio.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE CAP_PAGE_SIZE
#define BURST_QUIET_MS 2   /* the background loads only after this long without a fault */
#define LATE_WAKE_MS 1000  /* after the load: every window woken this often (serve_late) ... */
#define LATE_WAKES 10      /* ... this many times; then only faults reported wake the thread */

struct window { uint64_t vaddr, size; };   /* a writable memfd window: registered with the uffd */

struct lazyload {
	const struct host_snap *s;
	int memfd;
	pid_t child;
	int pidfd, uffd, stop_fd;
	uint8_t *loaded;            /* one byte per chunk; only the thread writes it once running */
	uint64_t next;              /* the background loader's next chunk */
	uint8_t *buf;               /* CAP_SNAP_CHUNK_SIZE */
	struct window win[CAP_MAX_MAPS];
	unsigned nwin;
	pthread_t thread;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *hold_for;       /* tests only: no background loading until this file exists */
	atomic_int hurry;           /* someone waits for the whole load: the hold is off */
	int done;                   /* every chunk in (under mu) */
	int exited;                 /* the thread ended (under mu) */
	char failure[512];          /* set once, under mu: the capsule was killed for it */
};

/* Memfd bytes [off, off + len) straight into the memfd: before the capsule exists, or unmapped. */
static int put_unmapped(struct lazyload *l, uint64_t off, const uint8_t *src, size_t len)
{
	return fileio_pwrite_full(l->memfd, src, len, off);
}

/*
 * UFFDIO_COPY into the capsule: atomically places whole pages that are
 * missing and wakes who waits on them; a page already there (EEXIST) is
 * the capsule's own and is left alone.
 */
static int put_mapped(struct lazyload *l, uint64_t vaddr, const uint8_t *src, size_t len)
{
	while (len) {
		struct uffdio_copy c = { .dst = vaddr, .src = (uint64_t)(uintptr_t)src, .len = len };
		if (ioctl(l->uffd, UFFDIO_COPY, &c) == 0)
			return 0;
		size_t done = c.copy > 0 ? (size_t)c.copy : 0;
		if (done == 0 && errno == EEXIST)
			done = PAGE;
		else if (done == 0 && errno != EAGAIN)
			return -1;
		vaddr += done;
		src += done;
		len -= done;
	}
	return 0;
}

/* Memfd bytes [off, off + len) of one checked chunk into place, window by window. */
static int place(struct lazyload *l, uint64_t off, const uint8_t *src, uint64_t len, int mapped)
{
	while (len) {
		uint64_t piece = len, vaddr = 0;
		int in = 0;
		for (unsigned i = 0; mapped && i < l->nwin; i++) {
			uint64_t lo = CAP_MEMFD_OFFSET(l->win[i].vaddr), hi = lo + l->win[i].size;
			if (off >= lo && off < hi) {
				in = 1;
				vaddr = l->win[i].vaddr + (off - lo);
				if (piece > hi - off)
					piece = hi - off;
			} else if (off < lo && piece > lo - off) {
				piece = lo - off;
			}
		}
		if (in ? put_mapped(l, vaddr, src, (size_t)piece)
		       : put_unmapped(l, off, src, (size_t)piece))
			return -1;
		off += piece;
		src += piece;
		len -= piece;
	}
	return 0;
}

/* Put each extent's part of checked chunk c (its bytes at l->buf) where it belongs. */
static int place_chunk(struct lazyload *l, uint64_t c, int mapped, char *err, size_t errlen)
{
	uint64_t at;
	size_t len;
	snapfile_chunk_span(l->s, c, &at, &len);
	uint64_t data_pos = 0;
	for (uint32_t i = 0; i < l->s->hdr.nextents; i++) {
		const struct cap_snap_extent *e = &l->s->ext[i];
		uint64_t lo = at > data_pos ? at : data_pos;
		uint64_t hi = at + len < data_pos + e->length ? at + len : data_pos + e->length;
		if (lo < hi && place(l, e->offset + (lo - data_pos), l->buf + (lo - at), hi - lo, mapped)) {
			snprintf(err, errlen, "chunk %llu: placing it in the capsule: %s",
			         (unsigned long long)c, strerror(errno));
			return -1;
		}
		data_pos += e->length;
		if (data_pos >= at + len)
			break;
	}
	l->loaded[c] = 1;
	return 0;
}

/* Read and check chunk c, then put it in place. */
static int load_chunk(struct lazyload *l, uint64_t c, int mapped, char *err, size_t errlen)
{
	size_t len;
	if (l->loaded[c])
		return 0;
	if (snapfile_read_chunk(l->s, c, l->buf, &len, err, errlen))
		return -1;
	return place_chunk(l, c, mapped, err, errlen);
}

/* The chunks holding memfd bytes [off, off + len), before the capsule exists. */
static int preload(struct lazyload *l, uint64_t off, uint64_t len, char *err, size_t errlen)
{
	uint64_t first, last;
	if (!snapfile_mem_chunks(l->s, off, len, &first, &last))
		return 0;
	for (uint64_t c = first; c <= last; c++)
		if (load_chunk(l, c, 0, err, errlen))
			return -1;
	return 0;
}

struct lazyload *lazyload_prepare(struct host_snap *s, int memfd, char *err, size_t errlen)
{
	uint64_t held;
	struct lazyload *l = calloc(1, sizeof *l);
	if (!l || !(l->loaded = calloc(s->nchunks ? s->nchunks : 1, 1))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/*
	 * The chunk buffer every load goes through.  Best the one the open checked the control
	 * page's chunk in: that chunk is placed from it as it is, and its pages are warm.  A page
	 * costs twice on this kind of virtual machine, at the kernel's first write (the read) and
	 * at our first look (the hash), even when populated; on a fresh buffer that was 0.5 ms
	 * of the first fault the capsule waits on (docs/STARTUP.md section 13).
	 */
	l->buf = snapfile_take_held(s, &held);
	int have_held = l->buf != NULL;
	if (!have_held) {
		if (!(l->buf = malloc(CAP_SNAP_CHUNK_SIZE))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		/* Its pages now, not one fault each in the first chunk's read (caprun's own
		 * memory: never the capsule's, which the uffd serves). */
		fileio_prefault(l->buf, CAP_SNAP_CHUNK_SIZE);
	}
	l->s = s;
	l->memfd = memfd;
	/* Tests only: hold the background loader back, so pages come on demand alone (and a
	 * corruption made after the start is certainly found by a fault): test_snapshot_lazy.py. */
	l->hold_for = getenv("CAPSULE_TEST_LAZYLOAD_WAITS_FOR");
	l->pidfd = l->uffd = l->stop_fd = -1;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	struct cap_control ctl;
	if (snapfile_read_mem(s, 0, &ctl, sizeof ctl)) {
		snprintf(err, errlen, "reading the snapshot: %s", strerror(errno));
		goto fail;
	}
	/* The loader reads the control page and runs its last stage below the frozen rsp, unregistered. */
	uint64_t sp = CAP_MEMFD_OFFSET(ctl.resume_ctx.rsp) & ~(uint64_t)(PAGE - 1);
	if ((have_held && place_chunk(l, held, 0, err, errlen)) ||
	    preload(l, 0, CAP_CONTROL_SIZE, err, errlen) ||
	    preload(l, sp - CAP_RESUME_SCRATCH, CAP_RESUME_SCRATCH + PAGE, err, errlen))
		goto fail;
	return l;
fail:
	lazyload_free(l);
	return NULL;
}

/* Kill the capsule for err: never place a byte that was not checked. */
static void fail(struct lazyload *l, const char *err)
{
	/* A capsule that ended by itself meanwhile (its pages cannot be placed): its own status stands. */
	struct pollfd gone = { l->pidfd, POLLIN, 0 };
	if (l->pidfd >= 0 && poll(&gone, 1, 0) > 0)
		return;
	pthread_mutex_lock(&l->mu);
	if (!l->failure[0])
		snprintf(l->failure, sizeof l->failure, "%s", err);
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	kill(l->child, SIGKILL);
}

/* 1 once fd is a userfaultfd (pidfd_getfd may see the memfd the loader has not closed yet). */
static int is_uffd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof target - 1);
	if (n < 0)
		return 0;
	target[n] = 0;
	return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

/*
 * 1 once the loader has registered every window: the last one it registers
 * answers UFFDIO_WRITEPROTECT (ENOENT before).  Clearing write-protection
 * on one page only makes pre-copy's first look count it as written, which
 * that look assumes of every page anyway.
 */
static int registered(const struct lazyload *l)
{
	const struct window *w = &l->win[l->nwin - 1];
	struct uffdio_writeprotect wp = { .range = { w->vaddr + w->size - PAGE, PAGE }, .mode = 0 };
	return ioctl(l->uffd, UFFDIO_WRITEPROTECT, &wp) == 0;
}

/* Wait a little for the loader; 1 if the capsule ended or we are told to stop meanwhile. */
static int wait_for_loader(struct lazyload *l)
{
	struct pollfd p[2] = { { l->pidfd, POLLIN, 0 }, { l->stop_fd, POLLIN, 0 } };
	struct timespec wait = { 0, 50 * 1000 };
	return ppoll(p, 2, &wait, NULL) > 0;
}

/*
 * The capsule's userfaultfd, as soon as its loader made it and registered
 * every window with it (a UFFDIO_COPY before that would fail).  Its first
 * missing page waits for us anyway, so a short wait here costs only that.
 * 0, or -1 if the capsule ended first or we are told to stop.
 */
static int take_uffd(struct lazyload *l)
{
	while (l->uffd < 0) {
		int fd = (int)syscall(SYS_pidfd_getfd, l->pidfd, CAP_FD_DIRTY, 0);
		if (fd >= 0 && is_uffd(fd)) {
			/* poll() says only POLLERR on a blocking userfaultfd; the loader made it blocking. */
			int fl = fcntl(fd, F_GETFL);
			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
				close(fd);
				fail(l, "making the capsule's userfaultfd non-blocking");
				return -1;
			}
			l->uffd = fd;
			break;
		}
		if (fd >= 0)
			close(fd);
		if (wait_for_loader(l))
			return -1;
	}
	while (!registered(l))
		if (wait_for_loader(l))
			return -1;
	return 0;
}

/* A zero page at addr (which wakes its waiter); else, the errno, the waiter woken anyway. */
static int zero_page(struct lazyload *l, uint64_t addr)
{
	struct uffdio_zeropage z = { .range = { addr, PAGE } };
	if (ioctl(l->uffd, UFFDIO_ZEROPAGE, &z) == 0)
		return 0;
	int e = errno;
	struct uffdio_range r = { addr, PAGE };
	ioctl(l->uffd, UFFDIO_WAKE, &r);
	return e;
}

/* A missing page at addr: its chunks, or a zero page outside every extent. */
static int serve_fault(struct lazyload *l, uint64_t addr, char *err, size_t errlen)
{
	addr &= ~(uint64_t)(PAGE - 1);
	uint64_t first = 0, last = 0;
	int stored = snapfile_mem_chunks(l->s, CAP_MEMFD_OFFSET(addr), PAGE, &first, &last);
	for (uint64_t c = first; stored && c <= last && l->loaded[c]; c++)
		if (c == last)
			stored = 0;   /* all in already: missing again means given back since: zeros */
	if (stored) {
		for (uint64_t c = first; c <= last; c++)
			if (load_chunk(l, c, 1, err, errlen))
				return -1;
	} else {
		int e = zero_page(l, addr);
		if (e && e != EEXIST && e != EAGAIN) {
			snprintf(err, errlen, "zeroing page %#llx: %s", (unsigned long long)addr,
			         strerror(e));
			return -1;
		}
		return 0;
	}
	/* Already there (loaded in the background, or by another thread's fault): wake the waiter. */
	struct uffdio_range r = { addr, PAGE };
	ioctl(l->uffd, UFFDIO_WAKE, &r);
	return 0;
}

/*
 * Every byte is in: the capsule may punch holes again, and new pages need
 * no round trip through us.  A range has one registration, so it is made
 * again with write-protection only (pre-copy's dirty tracking); if that
 * fails, the thread keeps answering missing pages with zero pages.
 */
static int finish(struct lazyload *l)
{
	if (memlayout_memfd_host_flags(l->memfd, 0, CAP_HOST_LAZY_LOAD))
		return -1;
	int ok = 1;
	for (unsigned i = 0; ok && i < l->nwin; i++) {
		struct uffdio_range r = { l->win[i].vaddr, l->win[i].size };
		struct uffdio_register reg = { .range = r, .mode = UFFDIO_REGISTER_MODE_WP };
		ok = ioctl(l->uffd, UFFDIO_UNREGISTER, &r) == 0 &&
		     ioctl(l->uffd, UFFDIO_REGISTER, &reg) == 0;
	}
	/* Only now: a snapshot waiting for us scans the write-protection we just set up again. */
	pthread_mutex_lock(&l->mu);
	l->done = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return ok ? 1 : 0;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
 * After the load the missing-page registration is gone, and a page fault
 * should never reach us again.  Yet one did: a capsule resumed beside a burst
 * of re-injected packets stayed blocked in a missing-page fault after
 * finish() (kernel stack: handle_userfault from shmem_fault; about 1 resume in
 * 50 on this 2-CPU machine under load, test_gateway_restart and
 * test_multihost), and with nobody left to read the userfaultfd it waited for
 * ever.  So the thread stays until the capsule ends: a fault still reported is
 * answered with zeros (every chunk is in: a page missing now was given back)
 * and its waiter woken; and for the first LATE_WAKES seconds every window is
 * woken once a second, for a waiter whose wake-up was lost.
 */
static void serve_late(struct lazyload *l)
{
	int said = 0, wakes = 0;
	for (;;) {
		struct pollfd p[3] = { { l->uffd, POLLIN, 0 }, { l->stop_fd, POLLIN, 0 },
		                       { l->pidfd, POLLIN, 0 } };
		int n = poll(p, 3, wakes < LATE_WAKES ? LATE_WAKE_MS : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents || p[2].revents || (p[0].revents & (POLLERR | POLLHUP)))
			return;
		if (n == 0) {
			/* And a waiter whose message we read but whose wake-up was lost: woken
			 * blindly for a while (a woken fault that still misses comes again). */
			for (unsigned i = 0; i < l->nwin; i++) {
				struct uffdio_range r = { l->win[i].vaddr, l->win[i].size };
				ioctl(l->uffd, UFFDIO_WAKE, &r);
			}
			wakes++;
			continue;
		}
		struct uffd_msg m;
		if (read(l->uffd, &m, sizeof m) != (ssize_t)sizeof m || m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t addr = m.arg.pagefault.address & ~(uint64_t)(PAGE - 1);
		int zeroed = zero_page(l, addr) == 0;   /* or there already, or no longer registered */
		if (!said++)
			fprintf(stderr, "caprun: a page fault at %#llx after the lazy load finished: %s\n",
			        (unsigned long long)addr, zeroed ? "answered with zeros" : "woken");
	}
}

static void serve_loop(struct lazyload *l)
{
	char err[512];
	int64_t last_fault_ns = 0;
	int unregistered = 0;
	if (take_uffd(l))
		return;
	for (;;) {
		int held = l->hold_for && *l->hold_for && !atomic_load(&l->hurry) &&
		           access(l->hold_for, F_OK) != 0;
		int background = !held && l->next < l->s->nchunks;
		/*
		 * The background waits while the capsule faults in bursts (as it does right
		 * after the resume, up to its first reply): a fault must not queue behind a
		 * chunk nobody asked for, nor share the CPU with it.
		 */
		int quiet_ms = background ? BURST_QUIET_MS - (int)((now_ns() - last_fault_ns) / 1000000)
		                          : 0;
		if (unregistered) {
			serve_late(l);   /* no missing pages any more, normally nothing left to serve */
			break;
		}
		struct pollfd p[3] = { { l->uffd, POLLIN, 0 }, { l->stop_fd, POLLIN, 0 },
		                       { l->pidfd, POLLIN, 0 } };
		int n = poll(p, 3, background ? (quiet_ms > 0 ? quiet_ms : 0) : held ? 10 : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (p[1].revents || p[2].revents)
			break;
		if (p[0].revents & (POLLERR | POLLHUP)) {
			fail(l, "the capsule's userfaultfd failed");
			break;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct uffd_msg m;
			ssize_t got = read(l->uffd, &m, sizeof m);
			if (got == (ssize_t)sizeof m && m.event == UFFD_EVENT_PAGEFAULT &&
			    serve_fault(l, m.arg.pagefault.address, err, sizeof err)) {
				fail(l, err);
				break;
			}
			last_fault_ns = now_ns();
			continue;   /* faults first: a thread of the capsule waits on each */
		}
		if (!background || quiet_ms > 0)
			continue;
		if (load_chunk(l, l->next, 1, err, sizeof err)) {
			fail(l, err);
			break;
		}
		if (++l->next == l->s->nchunks) {
			int r = finish(l);
			if (r < 0) {
				fail(l, "clearing the lazy-load flag in the control page");
				break;
			}
			unregistered = r;
		}
	}
}

static void *serve(void *arg)
{
	struct lazyload *l = arg;
	serve_loop(l);
	pthread_mutex_lock(&l->mu);
	l->exited = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int lazyload_start(struct lazyload *l, pid_t child, int memfd, char *err, size_t errlen)
{
	struct cap_control ctl;
	l->child = child;
	l->memfd = memfd;
	if (pread(l->memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl || ctl.nmaps > CAP_MAX_MAPS) {
		snprintf(err, errlen, "reading the control page: %s", strerror(errno ? errno : EIO));
		return -1;
	}
	for (uint32_t i = 0; i < ctl.nmaps; i++)
		if (ctl.maps[i].source == CAP_MAP_MEMFD && (ctl.maps[i].prot & CAP_PROT_W)) {
			l->win[l->nwin].vaddr = ctl.maps[i].vaddr;
			l->win[l->nwin++].size = ctl.maps[i].size;
		}
	if (l->nwin == 0) {
		snprintf(err, errlen, "the capsule has no writable memory window");
		return -1;
	}
	l->pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->pidfd < 0 || l->stop_fd < 0) {
		snprintf(err, errlen, "%s: %s", l->pidfd < 0 ? "pidfd_open" : "eventfd", strerror(errno));
		return -1;
	}
	int r = pthread_create(&l->thread, NULL, serve, l);
	if (r) {
		snprintf(err, errlen, "starting the loader thread: %s", strerror(r));
		return -1;
	}
	l->running = 1;
	return 0;
}

int lazyload_wait(struct lazyload *l, char *err, size_t errlen)
{
	atomic_store(&l->hurry, 1);
	pthread_mutex_lock(&l->mu);
	while (!l->done && !l->failure[0] && !l->exited && l->running)
		pthread_cond_wait(&l->cv, &l->mu);
	int ok = l->done;
	if (!ok)
		snprintf(err, errlen, "its memory is not all loaded from the snapshot: %s",
		         l->failure[0] ? l->failure : "the loader stopped");
	pthread_mutex_unlock(&l->mu);
	return ok ? 0 : -1;
}

const char *lazyload_failure(const struct lazyload *l)
{
	return l && l->failure[0] ? l->failure : NULL;
}

void lazyload_free(struct lazyload *l)
{
	if (!l)
		return;
	if (l->running) {
		uint64_t one = 1;
		if (write(l->stop_fd, &one, sizeof one) < 0) {
			/* an eventfd write of 1 cannot fail here */
		}
		pthread_join(l->thread, NULL);
	}
	if (l->uffd >= 0)
		close(l->uffd);
	if (l->pidfd >= 0)
		close(l->pidfd);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->loaded);
	free(l->buf);
	free(l);
}
