/* caprun_migin.c: live migration, target side: receive the stream into a memfd, CONFIRM or REFUSE, await COMMIT, say STARTED. */
#include "hosts/migin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * caphostd accepted the source's connection on the migration port and
 * started `caprun --incoming` with it as fd 0.  The decisions (when to
 * start, when to discard) are hosts/migfsm.h's target column; caprun.c
 * carries them out with these helpers.
 */

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
	const struct host_migin *m = arg;
	/* Test fault: the target host dies in the middle of the transfer. */
	if (m->fault && strcmp(m->fault, "target-exit-mid-stream") == 0 && done * 2 >= total)
		_exit(3);
}

int host_migin_receive(struct host_migin *m, char *err, size_t errlen)
{
	m->fault = getenv(HOST_MIG_FAULT_ENV);
	struct timeval tv = { HOST_MIGIN_RECV_TIMEOUT_S, 0 };
	setsockopt(m->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (mig_rx_init(&m->rx, m->data_key, m->host_id) != MIG_OK) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->memfd = memfd_create("capsule", MFD_CLOEXEC);
	if (m->memfd < 0) {
		snprintf(err, errlen, "memfd_create: %s", strerror(errno));
		return -1;
	}
	int rc = mig_recv_fd(m->sock, &m->rx, m->memfd, on_progress, m);
	if (rc != MIG_OK) {
		/* Nothing to keep: a stream that did not end with an authentic END is no capsule. */
		snprintf(err, errlen, "from host %u: %s", m->rx.info.source_host,
		         rc == MIG_E_IO ? (errno ? strerror(errno) : "read error") : mig_strerror(rc));
		return -1;
	}
	uint8_t key[MIG_KEY_LEN];
	mig_derive_key(m->data_key, m->rx.info.migration_id, key);
	mig_ctl_init(&m->to_source, key, MIG_CTL_TO_SOURCE);
	mig_ctl_init(&m->from_source, key, MIG_CTL_TO_TARGET);
	sodium_memzero(key, sizeof key);
	sodium_memzero(m->data_key, sizeof m->data_key);
	if (m->fault && strcmp(m->fault, "target-exit-before-confirm") == 0)
		_exit(3);
	return 0;
}

void host_migin_refuse(struct host_migin *m, const char *why)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	snprintf(text, sizeof text, "%s", why);
	if (!text[0])
		snprintf(text, sizeof text, "refused");
	mig_ctl_send(m->sock, &m->to_source, MIG_CTL_REFUSE, text);
}

int host_migin_confirm(struct host_migin *m)
{
	if (m->fault && strcmp(m->fault, "target-refuse") == 0) {
		host_migin_refuse(m, "refused by fault injection (CAPSULE_MIG_FAULT=target-refuse)");
		return 1;
	}
	return mig_ctl_send(m->sock, &m->to_source, MIG_CTL_CONFIRM, NULL) == MIG_OK ? 0 : -1;
}

int host_migin_await(struct host_migin *m, int timeout_ms)
{
	char text[MIG_CTL_TEXT_MAX + 1];
	int type;
	if (m->fault && strcmp(m->fault, "target-ignore-commit") == 0) {
		/* Test fault: COMMIT never arrives here (lost): wait it out, then pull. */
		struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return MIG_EV_TIMEOUT;
	}
	int rc = mig_ctl_recv(m->sock, &m->from_source, timeout_ms, &type, text, sizeof text);
	if (rc == MIG_OK)
		return type == MIG_CTL_COMMIT ? MIG_EV_COMMIT_RECEIVED : MIG_EV_ABORT_RECEIVED;
	if (rc == MIG_E_IO && errno == ETIMEDOUT)
		return MIG_EV_TIMEOUT;
	/* Closed or garbage: the source may be gone; only the directory can say. */
	return MIG_EV_SOURCE_DEAD;
}

void host_migin_started(struct host_migin *m)
{
	if (m->sock < 0)
		return;
	mig_ctl_send(m->sock, &m->to_source, MIG_CTL_STARTED, NULL);
	host_migin_close(m);
}

void host_migin_close(struct host_migin *m)
{
	if (m->sock >= 0)
		close(m->sock);
	m->sock = -1;
	mig_ctl_wipe(&m->to_source);
	mig_ctl_wipe(&m->from_source);
	mig_rx_free(&m->rx);
}
