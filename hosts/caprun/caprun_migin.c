/* caprun_migin.c: live migration, target side: receive the stream into a memfd, CONFIRM or REFUSE, pull, say STARTED. */
#include "hosts/caprun/caprun_migin.h"
#include "hosts/caprun/caprun_uplink.h"
#include "hosts/caprun/memlayout.h"
#include "hosts/common/clock.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Test fault target-ignore-commit: how late the pull comes. */
#define IGNORE_COMMIT_PAUSE_MS 5000

/*
 * caphostd accepted the source's connection on the migration port and
 * started `caprun --incoming` with it as fd 0.  The decisions (when to
 * start, when to discard) are hosts/caprun/migfsm.h's target column; caprun.c
 * carries them out with these helpers.
 */

/* The control records' keys, once: their streams start with the first record sent. */
static void ctl_init(struct caprun_migin *m)
{
	if (m->ctl_ready)
		return;
	uint8_t key[MIG_KEY_LEN];
	migstream_derive_key(m->data_key, m->rx.info.migration_id, key);
	migctl_init(&m->to_source, key, MIG_CTL_TO_SOURCE);
	migctl_init(&m->from_source, key, MIG_CTL_TO_TARGET);
	sodium_memzero(key, sizeof key);
	m->ctl_ready = 1;
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct caprun_migin *m = arg;
	/* A pre-copy round is all written: say so, the source freezes only once it knows the
	 * last one is (migctl.h ROUND_DONE).  A lost one only costs the source its wait. */
	while (m->rounds_acked < m->rx.rounds) {
		ctl_init(m);
		m->rounds_acked++;
		if (migctl_send(m->sock, &m->to_source, MIG_CTL_ROUND_DONE, NULL) != MIG_OK)
			break;
	}
	if (!m->who_seen && m->rx.precopy_size) {   /* the first PAGES: PRECOPY came just before */
		m->who_seen = 1;
		if (m->on_who)
			m->on_who(m->who_ctx, &m->rx.who);
	}
	/* Test faults: the target host dies in the middle of the transfer, or refuses then. */
	if (m->fault && strcmp(m->fault, "target-exit-mid-stream") == 0 && done * 2 >= total)
		_exit(3);
	if (m->fault && strcmp(m->fault, "target-refuse-mid-stream") == 0 && done * 2 >= total) {
		caprun_migin_refuse(m, "refused by fault injection (CAPSULE_MIG_FAULT=target-refuse-mid-stream)");
		_exit(3);
	}
}

int caprun_migin_receive(struct caprun_migin *m, char *err, size_t errlen)
{
	m->fault = getenv(HOST_MIG_FAULT_ENV);
	struct timeval tv = { CAPRUN_MIGIN_RECV_TIMEOUT_S, 0 };
	setsockopt(m->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (migstream_rx_init(&m->rx, m->data_key, m->host_id) != MIG_OK) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->memfd = memfd_create("capsule", MFD_CLOEXEC);
	if (m->memfd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	m->procs.table_fd = memfd_create("capsule-procs", MFD_CLOEXEC);
	if (m->procs.table_fd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	int rc = migstream_recv_fd(m->sock, &m->rx, m->memfd, &m->procs, on_progress, m);
	if (rc != MIG_OK) {
		/* Nothing to keep: a stream that did not end with an authentic END is no capsule. */
		snprintf(err, errlen, "from host %u: %s", m->rx.info.source_host,
		         rc == MIG_E_IO ? (errno ? strerror(errno) : "read error") : migstream_strerror(rc));
		/* Tell the source why, if it can read it: the head was read, so the control
		 * records' key is known.  A source that went away gets nothing and needs nothing. */
		if (m->rx.aead)
			caprun_migin_refuse(m, err);
		return -1;
	}
	ctl_init(m);
	sodium_memzero(m->data_key, sizeof m->data_key);
	if (m->fault && strcmp(m->fault, "target-exit-before-confirm") == 0)
		_exit(3);
	return 0;
}

void caprun_migin_refuse(struct caprun_migin *m, const char *why)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	ctl_init(m);
	snprintf(text, sizeof text, "%s", why);
	if (!text[0])
		snprintf(text, sizeof text, "refused");
	migctl_send(m->sock, &m->to_source, MIG_CTL_REFUSE, text);
}

int caprun_migin_confirm(struct caprun_migin *m)
{
	if (m->fault && strcmp(m->fault, "target-refuse") == 0) {
		caprun_migin_refuse(m, "refused by fault injection (CAPSULE_MIG_FAULT=target-refuse)");
		return 1;
	}
	return migctl_send(m->sock, &m->to_source, MIG_CTL_CONFIRM, NULL) == MIG_OK ? 0 : -1;
}

static int connect_uplink(struct caprun_migin *m)
{
	if (m->uplink_fd >= 0)
		return 0;
	int fd = caprun_uplink_connect();
	if (fd < 0)
		return -1;
	m->uplink_fd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return m->uplink_fd >= 0 ? 0 : -1;
}

static void drop_uplink(struct caprun_migin *m)
{
	if (m->uplink_fd >= 0)
		close(m->uplink_fd);
	m->uplink_fd = -1;
}

/* 1 if caphostd still holds our uplink: it sends nothing to an INCOMING one, so
 * anything to read is its end (a caphostd that died or restarted meanwhile). */
static int uplink_alive(const struct caprun_migin *m)
{
	struct pollfd p = { m->uplink_fd, POLLIN, 0 };
	return m->uplink_fd >= 0 && poll(&p, 1, 0) == 0;
}

int caprun_migin_register(struct caprun_migin *m, const char *name, uint32_t ip, uint32_t mtu,
                          int timeout_ms, char *err, size_t errlen)
{
	uint32_t got_ip, epoch;
	struct uplink_attach a = { .ip = ip, .flags = UPLINK_ATTACH_INCOMING, .mtu = mtu,
	                           .epoch = m->rx.info.epoch, .source_host = m->rx.info.source_host };
	if (m->registered && uplink_alive(m))
		return 0;
	m->registered = 0;
	drop_uplink(m);
	if (connect_uplink(m))
		return CAPRUN_UPLINK_NO_VERDICT;
	int rc = caprun_uplink_attach(m->uplink_fd, name, &a, timeout_ms, &got_ip, &epoch, err,
	                              errlen);
	if (rc)
		drop_uplink(m);   /* refused, or caphostd died: the pull connects again */
	m->registered = rc == 0;
	return rc;
}

/* Waiting for a caphostd: has the source said ABORT meanwhile (its FENCE won)? */
static int abort_seen(struct caprun_migin *m)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	if (m->sock < 0 || m->aborted)
		return m->aborted;
	int rc = migctl_recv(m->sock, &m->from_source, 0, &type, text, sizeof text);
	if (rc == MIG_OK && type == MIG_CTL_ABORT)
		m->aborted = 1;
	else if (rc != MIG_OK && !(rc == MIG_E_IO && errno == ETIMEDOUT))
		caprun_migin_close_stream(m);   /* closed or garbage: the directory decides alone */
	return m->aborted;
}

/* Test faults that hold the pull back.  "target-hold-pull": until the file $CAPSULE_MIG_HOLD
 * exists (at most a minute), so a test can take the directory's quorum away exactly between
 * the transfer and the pull, whatever the machine's speed.  "target-ignore-commit":
 * IGNORE_COMMIT_PAUSE_MS, whatever the source says meanwhile (a target held up after CONFIRM:
 * the back-pressure tests need a long pause); an ABORT still discards after it. */
static void hold_pull(struct caprun_migin *m)
{
	const char *path = getenv(HOST_MIG_HOLD_ENV);
	if (m->fault && strcmp(m->fault, "target-ignore-commit") == 0) {
		struct timespec ts = { IGNORE_COMMIT_PAUSE_MS / 1000,
		                       (long)(IGNORE_COMMIT_PAUSE_MS % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (!m->fault || strcmp(m->fault, "target-hold-pull") != 0 || !path)
		return;
	struct timespec ts = { 0, 10 * 1000000L };
	for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++)
		nanosleep(&ts, NULL);
}

int caprun_migin_pull(struct caprun_migin *m, const char *name, uint32_t ip, uint32_t mtu,
                      uint32_t *epoch, char *err, size_t errlen)
{
	struct uplink_attach a = { .ip = ip, .flags = UPLINK_ATTACH_RESUME | UPLINK_ATTACH_MIGRATED,
	                           .mtu = mtu,
	                           .epoch = m->rx.info.epoch, .source_host = m->rx.info.source_host };
	int said = 0;
	int64_t t0 = clock_now_ms();
	hold_pull(m);
	for (;;) {
		if (abort_seen(m)) {
			snprintf(err, errlen, "host %u kept it", m->rx.info.source_host);
			return -1;
		}
		if (connect_uplink(m)) {
			if (!said++)
				fprintf(stderr, "caprun: incoming capsule %s: no caphostd on this host; "
				        "holding it until one is back\n", name);
			struct timespec ts = { 0, CAPRUN_MIGIN_RETRY_MS * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		uint32_t got_ip;
		int rc = caprun_uplink_attach(m->uplink_fd, name, &a, -1, &got_ip, epoch, err, errlen);
		if (rc == 0) {
			m->pull_ms = (long)(clock_now_ms() - t0);
			return 0;
		}
		drop_uplink(m);
		if (rc == CAPRUN_UPLINK_REFUSED)
			return -1;   /* the source kept it, or it is gone: a verdict */
		/* caphostd died while asking: a new one asks again (the directory remembers). */
	}
}

int caprun_migin_starting(struct caprun_migin *m, int uplink_fd)
{
	uint8_t rec[UPLINK_HDR_LEN];
	if (m->fault && strcmp(m->fault, "target-exit-after-pull") == 0)
		_exit(3);   /* test: dies after its pull won, before it runs: handed back to the source */
	caprun_uplink_send_record(uplink_fd, rec, uplink_encode_simple(rec, sizeof rec, UPLINK_STARTING));
	return 0;
}

void caprun_migin_started(struct caprun_migin *m, uint32_t epoch)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	if (m->sock < 0)
		return;
	/* The COMMIT the pull did not wait for, if here: read, so that the close below sends
	 * no reset for unread bytes (one that comes later meets a closed socket: harmless,
	 * STARTED is ahead of that reset). */
	while (migctl_recv(m->sock, &m->from_source, 0, &type, text, sizeof text) == MIG_OK)
		;
	snprintf(text, sizeof text, "epoch=%u pull_ms=%ld", epoch, m->pull_ms);
	migctl_send(m->sock, &m->to_source, MIG_CTL_STARTED, text);
	caprun_migin_close_stream(m);   /* the rest later: caprun_migin_close */
}

void caprun_migin_close_stream(struct caprun_migin *m)
{
	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
}

void caprun_migin_drop_procs(struct caprun_migin *m)
{
	if (m->procs.table_fd >= 0)
		close(m->procs.table_fd);
	m->procs.table_fd = -1;
	for (uint32_t k = 0; k < m->procs.n; k++)
		if (m->procs.memfd[k] >= 0)
			close(m->procs.memfd[k]);
	m->procs.n = 0;
}

void caprun_migin_close(struct caprun_migin *m)
{
	caprun_migin_close_stream(m);
	caprun_migin_drop_procs(m);
	drop_uplink(m);
	migctl_wipe(&m->to_source);
	migctl_wipe(&m->from_source);
	migstream_rx_free(&m->rx);
}

void caprun_migin_close_later(void *m)
{
	caprun_migin_close(m);
}

int caprun_migin_hold_start(int memfd, int on)
{
	return memlayout_memfd_host_flags(memfd, on ? CAP_HOST_START_STOPPED : 0,
	                                  on ? 0 : CAP_HOST_START_STOPPED);
}

int caprun_migin_hold_end(pid_t *child, int memfd)
{
	int ws;
	/* A SIGCONT before its SIGSTOP would be lost and leave it stopped for good: wait. */
	for (;;) {
		pid_t p = waitpid(*child, &ws, WUNTRACED);
		if (p < 0 && errno == EINTR)
			continue;
		if (p == *child && WIFSTOPPED(ws))
			break;
		if (p == *child)
			*child = 0;   /* reaped: it exited (a loader failure, said on its stderr) or was killed */
		return -1;
	}
	/* Cleared before it runs: to the capsule host_flags are facts about the host. */
	if (memfd >= 0 && caprun_migin_hold_start(memfd, 0))
		return -1;
	return kill(*child, SIGCONT);
}
