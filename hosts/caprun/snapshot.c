/* snapshot.c: caprun taking a snapshot: freeze the capsule (channel.c), copy or write the memfd, thaw it or stop. */
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/held.h"
#include "hosts/caprun/precopy.h"
#include "hosts/caprun/procs_snap.h"
#include "hosts/common/fileio.h"
#include "hosts/formats/migstream.h"
#include "hosts/common/clock.h"
#include "hosts/formats/snapfile.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long ms_between(int64_t a, int64_t b)
{
	return (long)((b - a + 500000) / 1000000);
}

/*
 * A --keep-running snapshot being written.  The capsule was frozen only
 * while its memory was copied into `staging`; a thread writes the file from
 * that copy while caprun's loop relays the capsule's packets again, and
 * answers the client itself.  One capsule per caprun, so one job at most.
 *
 * Where the kernel tracks the capsule's writes (dirty.h), the copy is made
 * before the freeze, by a pre-copy thread (rounds of what changed, as for
 * a live migration), which then wakes the loop (wake_fd); the loop freezes
 * the capsule only to copy what changed since the last round.
 */
struct snap_job {
	pthread_t thread;
	int active;                 /* a thread was started and not joined yet */
	atomic_int answering;       /* the thread has released all but the client and sends its line */
	int client_fd, dirfd, staging;
	struct cap_snap_header hdr;
	struct snap_key key;
	char path[PATH_MAX];
	long frozen_ms;
	int64_t thawed_at;
	/* pre-copy phase */
	int precopying;             /* the pre-copy thread runs (or finished, not joined) */
	int wake_fd;                /* eventfd: the pre-copy thread finished; -1 when none */
	atomic_int stop;            /* caprun is ending: the pre-copy thread gives up */
	int precopy_failed;
	int64_t started_at;
	struct precopy pc;
};
static struct snap_job job = { .client_fd = -1, .dirfd = -1, .staging = -1, .wake_fd = -1 };
/* The job's other processes (copies of their memory and what was held for them); set.n 0: one. */
static struct procs_frozen job_procs = { .set = { NULL, 0, 0 } };

/*
 * The job's end: its descriptors and key go, then its one line to the client.
 * The line is last: a client may ask for the next snapshot the moment it has it,
 * and snapshot_busy() must then find the job over but for that send (closing a
 * staging copy of many MiB takes milliseconds; a request in them was refused).
 */
static void job_answer(struct snap_job *j, const char *reply)
{
	if (j->dirfd >= 0)
		close(j->dirfd);
	close(j->staging);
	procs_frozen_release(&job_procs);
	sodium_memzero(&j->key, sizeof j->key);
	atomic_store(&j->answering, 1);
	ctlserve_send_line(j->client_fd, reply);
	close(j->client_fd);
}

static void *write_job(void *arg)
{
	struct snap_job *j = arg;
	/* Tests only: hold the writer until a file exists, to look at a capsule that runs
	 * while its snapshot is still being written (test_snapshot_background.py). */
	const char *wait_for = getenv("CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR");
	while (wait_for && *wait_for && access(wait_for, F_OK) != 0)
		poll(NULL, 0, 10);
	char err[PATH_MAX + 256], reply[PATH_MAX + 300];
	uint64_t bytes = 0;
	/* One writer: the capsule runs meanwhile and keeps the other CPU. */
	int failed = snapfile_write_procs(j->staging, job_procs.set.n ? &job_procs.set : NULL, &j->hdr,
	                                  j->dirfd, j->path, &j->key, 1, &bytes, err, sizeof err) != 0;
	sodium_memzero(&j->key, sizeof j->key);
	if (failed)
		snprintf(reply, sizeof reply, "error %s", err);
	else
		snprintf(reply, sizeof reply, "ok %llu %ld %ld", (unsigned long long)bytes, j->frozen_ms,
		         ms_between(j->thawed_at, clock_now_ns(CLOCK_MONOTONIC)));
	job_answer(j, reply);
	return NULL;
}

int snapshot_busy(void)
{
	if (job.precopying)
		return 1;
	if (job.active && atomic_load(&job.answering)) {
		pthread_join(job.thread, NULL);   /* at most the answer's send is left */
		job.active = 0;
	}
	return job.active;
}

static void precopy_abandon(const char *why);

void snapshot_finish_jobs(void)
{
	if (job.precopying)
		precopy_abandon("caprun is stopping");
	if (job.active) {
		pthread_join(job.thread, NULL);   /* the file is complete (or cleanly refused) first */
		job.active = 0;
	}
}

/*
 * A copy of the frozen memfd's data (its holes stay holes) in a new memfd:
 * what the file will be written from once the capsule runs again.  -1 with
 * err on failure.
 */
static int copy_memory(int memfd, const struct cap_snap_header *tmpl, char *err, size_t errlen)
{
	struct cap_snap_header h = *tmpl;
	struct cap_snap_extent *ext = NULL;
	int fd = memfd_create("capsule-snapshot", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)h.memfd_size) != 0) {
		snprintf(err, errlen, "copying the capsule's memory: %s", strerror(errno));
		goto fail;
	}
	if (snapfile_prepare(memfd, &h, &ext, err, errlen) != 0)
		goto fail;
	for (uint32_t i = 0; i < h.nextents; i++) {
		loff_t in = (loff_t)ext[i].offset, out = in;
		uint64_t left = ext[i].length;
		while (left > 0) {
			/* In the kernel, page cache to page cache; pread/pwrite if it will not. */
			ssize_t n = copy_file_range(memfd, &in, fd, &out, left, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
			              errno == EOPNOTSUPP)) {
				static unsigned char buf[1 << 20];
				size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
				n = pread(memfd, buf, want, in);
				if (n > 0 && pwrite(fd, buf, (size_t)n, out) != n)
					n = -1;
				if (n > 0)
					in += n, out += n;
			}
			if (n <= 0) {
				snprintf(err, errlen, "copying the capsule's memory: %s",
				         n == 0 ? "short read" : strerror(errno));
				goto fail;
			}
			left -= (uint64_t)n;
		}
	}
	free(ext);
	return fd;
fail:
	free(ext);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* ---- --keep-running with pre-copy ---- */

#define SNAPSHOT_MAX_FREEZE_MS 4   /* the pre-copy stops when the rest copies in half of this */

/* The pre-copy thread: rounds into staging while the capsule runs, then wake the loop. */
static void *precopy_job(void *arg)
{
	struct snap_job *j = arg;
	int rc = 0;
	while (rc == 0 && !atomic_load(&j->stop)) {
		int go = precopy_look(&j->pc);
		if (go <= 0) {
			rc = go;
			break;
		}
		uint64_t off, bytes = 0;
		size_t len;
		int more;
		while ((more = precopy_next(&j->pc, &off, &len)) > 0 && !atomic_load(&j->stop)) {
			if (fileio_pwrite_full(j->staging, j->pc.chunk, len, off)) {
				more = -1;
				break;
			}
			bytes += len;
		}
		rc = more < 0 ? -1 : 0;
		if (rc == 0)
			precopy_round_done(&j->pc, bytes);
	}
	j->precopy_failed = rc < 0 || atomic_load(&j->stop);
	uint64_t one = 1;
	if (write(j->wake_fd, &one, sizeof one) != sizeof one) {
		/* cannot happen on an eventfd below its limit; the loop would never freeze */
	}
	return NULL;
}

int snapshot_wake_fd(void)
{
	return job.precopying ? job.wake_fd : -1;
}

/* The pre-copy thread is done: join it (its tracker stays, for the frozen part). */
static void precopy_cleanup(void)
{
	pthread_join(job.thread, NULL);
	job.precopying = 0;
	close(job.wake_fd);
	job.wake_fd = -1;
}

/* Answer the client with an error and drop everything of the pre-copy job. */
static void precopy_abandon(const char *why)
{
	char reply[512];
	atomic_store(&job.stop, 1);
	precopy_cleanup();
	precopy_free(&job.pc);
	snprintf(reply, sizeof reply, "error %s", why);
	job_answer(&job, reply);
}

/* Copy into staging, frozen: what changed since the last round, inside the final extents;
 * then staging holds data exactly there (pages copied early that are holes now go). */
static int precopy_finish_copy(int memfd, struct cap_snap_header *h, char *err, size_t errlen)
{
	struct cap_snap_extent *scanned = NULL;
	const struct cap_snap_extent *ext;
	if (precopy_final_look(&job.pc)) {
		snprintf(err, errlen, "copying the capsule's memory: %s", strerror(errno));
		return -1;
	}
	/* The extents the pre-copy knows, or (rarely) a scan of the memfd: precopy.h says why */
	uint32_t n;
	if (precopy_final_extents(&job.pc, &ext, &n)) {
		if (snapfile_prepare_known(h, ext, n, err, errlen))
			return -1;
	} else {
		if (snapfile_prepare(memfd, h, &scanned, err, errlen) != 0)
			return -1;
		ext = scanned;
	}
	uint64_t off;
	size_t len;
	int rc = 0, more = 0;
	while (rc == 0 && (more = precopy_final_next(&job.pc, ext, h->nextents, &off, &len)) > 0)
		rc = fileio_pwrite_full(job.staging, job.pc.chunk, len, off);
	if (more < 0)
		rc = -1;
	if (rc == 0)
		rc = migstream_punch_outside(job.staging, h, ext);
	if (rc)
		snprintf(err, errlen, "copying the capsule's memory: %s", strerror(errno));
	free(scanned);
	return rc;
}

static int start_writer(void)
{
	atomic_store(&job.answering, 0);
	if (pthread_create(&job.thread, NULL, write_job, &job) == 0) {
		job.active = 1;
		return 0;
	}
	return -1;
}

void snapshot_precopied(struct host_relay *r)
{
	uint64_t v;
	if (!job.precopying || read(job.wake_fd, &v, sizeof v) != sizeof v)
		return;
	int failed = job.precopy_failed;
	precopy_cleanup();
	char reply[PATH_MAX + 300], err[PATH_MAX + 256], frz[256];
	int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
	if (failed) {
		snprintf(err, sizeof err, "copying the capsule's memory while it ran failed");
		goto fail;
	}
	if (channel_freeze(r, frz, sizeof frz)) {
		snprintf(err, sizeof err, "%s", strncmp(frz, "error ", 6) ? frz : frz + 6);
		goto fail;
	}
	struct cap_control ctl = { 0 };
	if (pread(r->memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		snprintf(err, sizeof err, "reading the control page: %s", strerror(errno));
		channel_thaw(r);
		goto fail;
	}
	job.hdr.frozen_at_ns = ctl.frozen_at_ns;
	job.hdr.taken_at_unix_ns = clock_now_ns(CLOCK_REALTIME);
	int copied = precopy_finish_copy(r->memfd, &job.hdr, err, sizeof err);
	precopy_free(&job.pc);
	channel_thaw(r);
	if (copied != 0)
		goto fail;
	job.thawed_at = clock_now_ns(CLOCK_MONOTONIC);
	job.frozen_ms = ms_between(t0, job.thawed_at);
	if (start_writer() == 0)
		return;
	snprintf(err, sizeof err, "starting the snapshot writer: %s", strerror(errno));
fail:
	precopy_free(&job.pc);
	snprintf(reply, sizeof reply, "error %s", err);
	job_answer(&job, reply);
}

/* Start a --keep-running snapshot's pre-copy; 0 (pending), or -1 (not here: copy frozen). */
static int precopy_start(struct host_relay *r, const char *path, int dirfd, int client_fd,
                         const struct snap_key *key)
{
	char err[256];
	struct precopy pc;
	if (getenv("CAPSULE_SNAPSHOT_NO_PRECOPY") ||
	    precopy_init(&pc, r->child, r->memfd, r->snap_template.memfd_size, SNAPSHOT_MAX_FREEZE_MS,
	                 err, sizeof err))
		return -1;
	int staging = memfd_create("capsule-snapshot", MFD_CLOEXEC);
	int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (staging < 0 || wake < 0 || ftruncate(staging, (off_t)r->snap_template.memfd_size) != 0) {
		if (staging >= 0)
			close(staging);
		if (wake >= 0)
			close(wake);
		precopy_free(&pc);
		return -1;
	}
	job = (struct snap_job){ .client_fd = client_fd, .dirfd = dirfd, .staging = staging,
	                         .hdr = r->snap_template, .key = *key, .wake_fd = wake,
	                         .pc = pc, .started_at = clock_now_ns(CLOCK_MONOTONIC) };
	snprintf(job.path, sizeof job.path, "%s", path);
	atomic_store(&job.stop, 0);
	if (pthread_create(&job.thread, NULL, precopy_job, &job) != 0) {
		close(staging);
		close(wake);
		precopy_free(&job.pc);
		sodium_memzero(&job.key, sizeof job.key);
		job.wake_fd = -1;
		return -1;
	}
	job.precopying = 1;
	return 0;
}

int snapshot_take(struct host_relay *r, const char *path, int dirfd, int client_fd, int keep,
                  char *reply, size_t len)
{
	if (r->thaw_on_frozen) {
		snprintf(reply, len, "error capsule %s has not answered an earlier freeze yet", r->name);
		return SNAPSHOT_DONE;
	}
	if (snapshot_busy()) {
		snprintf(reply, len, "error a snapshot of capsule %s is still being written", r->name);
		return SNAPSHOT_DONE;
	}
	/* The key first: a host that cannot authenticate a snapshot does not even freeze. */
	struct snap_key key;
	char kerr[PATH_MAX + 128];
	if (snapauth_key_for_writing(&key, kerr, sizeof kerr)) {
		snprintf(reply, len, "error snapshot key %s", kerr);
		return SNAPSHOT_DONE;
	}
	/* Keep running, where writes are tracked: copied while it runs, frozen for the rest
	 * (one process: several are copied frozen, each in the kernel). */
	int several = r->procs && r->procs->children > 0;
	if (keep && !several && precopy_start(r, path, dirfd, client_fd, &key) == 0) {
		sodium_memzero(&key, sizeof key);
		return SNAPSHOT_PENDING;
	}
	/* We are the loop: while we are in here, nothing is read from the TUN device. */
	int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
	if (procs_freeze_all(r, reply, len)) {   /* every process of the capsule, at once */
		sodium_memzero(&key, sizeof key);
		return SNAPSHOT_DONE;
	}
	int64_t t1 = clock_now_ns(CLOCK_MONOTONIC);
	static struct procs_frozen frozen;

	struct cap_snap_header h = r->snap_template;
	struct cap_control ctl = { 0 };
	char err[PATH_MAX + 256];
	uint64_t bytes = 0;
	int failed = 0;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl) {
		snprintf(err, sizeof err, "reading the control page: %s", strerror(errno));
		failed = 1;
	}
	h.frozen_at_ns = ctl.frozen_at_ns;
	h.taken_at_unix_ns = clock_now_ns(CLOCK_REALTIME);

	if (keep && !failed) {
		/*
		 * Keep running: frozen only while the memory is copied (in the kernel, at
		 * memory speed); the file is written from the copy while the capsule runs.
		 */
		int staging = copy_memory(r->memfd, &h, err, sizeof err);
		if (staging >= 0 && procs_frozen_collect(r, &job_procs, 1, err, sizeof err)) {
			close(staging);
			staging = -1;
		}
		if (staging >= 0) {
			procs_thaw_all(r);
			int64_t t2 = clock_now_ns(CLOCK_MONOTONIC);
			job = (struct snap_job){ .client_fd = client_fd, .dirfd = dirfd, .staging = staging,
			                         .hdr = h, .key = key, .frozen_ms = ms_between(t0, t2),
			                         .thawed_at = t2 };
			snprintf(job.path, sizeof job.path, "%s", path);
			sodium_memzero(&key, sizeof key);
			if (start_writer() == 0)
				return SNAPSHOT_PENDING;   /* the job answers the client */
			sodium_memzero(&job.key, sizeof job.key);
			close(staging);
			procs_frozen_release(&job_procs);
			snprintf(reply, len, "error starting the snapshot writer: %s", strerror(errno));
			return SNAPSHOT_DONE;
		}
		failed = 1;   /* could not copy: nothing was written, thaw below */
	}
	if (!failed) {
		/*
		 * Stopping: what peers sent since the freeze would die with the TUN device, and
		 * a client whose request it was would wait for its retransmission timeout after
		 * the resume.  Into the capsule's memory with it (held.c); if anything below
		 * fails the capsule is thawed and takes the packets from there itself.  Best
		 * effort: a packet that cannot be held is lost, as on any network.
		 */
		struct held_result held;
		(void)held_collect(r, &held);
		/* The other processes' memfds as they are: nothing runs until they are killed. */
		failed = procs_frozen_collect(r, &frozen, 0, err, sizeof err) != 0 ||
		         snapfile_write_procs(r->memfd, frozen.set.n ? &frozen.set : NULL, &h, dirfd, path,
		                              &key, SNAPFILE_WORKERS, &bytes, err, sizeof err) != 0;
		procs_frozen_release(&frozen);
	}
	sodium_memzero(&key, sizeof key);
	int64_t t2 = clock_now_ns(CLOCK_MONOTONIC);
	if (failed) {
		procs_thaw_all(r);   /* whatever keep was: a failed snapshot loses nothing */
		snprintf(reply, len, "error %s", err);
		return SNAPSHOT_DONE;
	}
	snprintf(reply, len, "ok %llu %ld %ld", (unsigned long long)bytes, ms_between(t0, t1),
	         ms_between(t1, t2));
	snprintf(r->saved_path, sizeof r->saved_path, "%s", path);
	return SNAPSHOT_SAVED;
}
