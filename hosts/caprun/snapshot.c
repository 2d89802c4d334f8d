/* snapshot.c: caprun taking a snapshot: freeze the capsule (channel.c), copy or write the memfd, thaw it or stop. */
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/held.h"
#include "hosts/common/clock.h"
#include "hosts/formats/snapfile.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
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
 */
struct snap_job {
	pthread_t thread;
	int active;                 /* a thread was started and not joined yet */
	atomic_int done;            /* the thread has answered and closed its descriptors */
	int client_fd, dirfd, staging;
	struct cap_snap_header hdr;
	struct snap_key key;
	char path[PATH_MAX];
	long frozen_ms;
	int64_t thawed_at;
};
static struct snap_job job = { .client_fd = -1, .dirfd = -1, .staging = -1 };

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
	int failed = snapfile_write(j->staging, &j->hdr, j->dirfd, j->path, &j->key, &bytes, err,
	                            sizeof err) != 0;
	sodium_memzero(&j->key, sizeof j->key);
	if (failed)
		snprintf(reply, sizeof reply, "error %s", err);
	else
		snprintf(reply, sizeof reply, "ok %llu %ld %ld", (unsigned long long)bytes, j->frozen_ms,
		         ms_between(j->thawed_at, clock_now_ns(CLOCK_MONOTONIC)));
	ctlserve_send_line(j->client_fd, reply);
	close(j->client_fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	close(j->staging);
	atomic_store(&j->done, 1);
	return NULL;
}

int snapshot_busy(void)
{
	if (job.active && atomic_load(&job.done)) {
		pthread_join(job.thread, NULL);
		job.active = 0;
	}
	return job.active;
}

void snapshot_finish_jobs(void)
{
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
	/* We are the loop: while we are in here, nothing is read from the TUN device. */
	int64_t t0 = clock_now_ns(CLOCK_MONOTONIC);
	if (channel_freeze(r, reply, len)) {
		sodium_memzero(&key, sizeof key);
		return SNAPSHOT_DONE;
	}
	int64_t t1 = clock_now_ns(CLOCK_MONOTONIC);

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
		if (staging >= 0) {
			channel_thaw(r);
			int64_t t2 = clock_now_ns(CLOCK_MONOTONIC);
			job = (struct snap_job){ .client_fd = client_fd, .dirfd = dirfd, .staging = staging,
			                         .hdr = h, .key = key, .frozen_ms = ms_between(t0, t2),
			                         .thawed_at = t2 };
			snprintf(job.path, sizeof job.path, "%s", path);
			sodium_memzero(&key, sizeof key);
			atomic_store(&job.done, 0);
			if (pthread_create(&job.thread, NULL, write_job, &job) == 0) {
				job.active = 1;
				return SNAPSHOT_PENDING;   /* the job answers the client */
			}
			sodium_memzero(&job.key, sizeof job.key);
			close(staging);
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
		failed = snapfile_write(r->memfd, &h, dirfd, path, &key, &bytes, err, sizeof err) != 0;
	}
	sodium_memzero(&key, sizeof key);
	int64_t t2 = clock_now_ns(CLOCK_MONOTONIC);
	if (failed) {
		channel_thaw(r);   /* whatever keep was: a failed snapshot loses nothing */
		snprintf(reply, len, "error %s", err);
		return SNAPSHOT_DONE;
	}
	snprintf(reply, len, "ok %llu %ld %ld", (unsigned long long)bytes, ms_between(t0, t1),
	         ms_between(t1, t2));
	snprintf(r->saved_path, sizeof r->saved_path, "%s", path);
	return SNAPSHOT_SAVED;
}
