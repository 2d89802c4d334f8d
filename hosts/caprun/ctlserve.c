/* ctlserve.c: caprun's side of the control socket: answers `ps`, `procs`, `stats`, `snapshot` and `migrate` (hosts/formats/ctlproto.h). */
#include "hosts/formats/ctlproto.h"
#include "hosts/caprun/ctlserve.h"
#include "hosts/caprun/snapshot.h"
#include "hosts/caprun/procs.h"
#include "hosts/caprun/caprun_mig.h"
#include "hosts/caprun/lazyload.h"
#include "capsule-abi/cap_abi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_S 2   /* a client must send its line at once: the loop waits for it */

static const char *state_name(uint32_t s)
{
	switch (s) {
	case CAP_STATE_LOADING: return "loading";
	case CAP_STATE_BOOTING: return "booting";
	case CAP_STATE_RUNNING: return "running";
	case CAP_STATE_EXITED:  return "exited";
	}
	return "unknown";
}

static void do_ps(struct host_relay *r, char *reply, size_t len, int migrating)
{
	struct cap_control ctl;
	struct stat st;
	uint32_t state = CAP_STATE_LOADING;
	unsigned long long mem = 0;
	if (pread(r->memfd, &ctl, sizeof ctl, 0) == (ssize_t)sizeof ctl)
		state = ctl.state;
	/* Every process's memory: the shared window is in pid 1's memfd, so counted once. */
	for (int i = 0; i < (r->procs ? CAP_PROC_MAX : 1); i++)
		if ((i == 0 || r->procs->p[i].used) && fstat(procs_memfd_of(r, i), &st) == 0)
			mem += (unsigned long long)st.st_blocks * 512;
	/* "-" for a capsule without a network (caprun --no-net): every field is one word */
	snprintf(reply, len, "ok %s %s %s %llu %ld %d %s %s", r->name, r->addr[0] ? r->addr : "-",
	         migrating ? "migrating" : state_name(state), mem, (long)getpid(),
	         r->procs ? procs_count(r->procs) : 1, r->snap_template.image_name,
	         r->snap_template.image_path);
}

/* "procs": every live process as the capsule sees it (hosts/formats/ctlproto.h). */
static void do_procs(struct host_relay *r, char *reply, size_t len)
{
	int n = r->procs ? procs_count(r->procs) : 1;
	size_t at = (size_t)snprintf(reply, len, "ok %d %d", r->procs ? r->procs->next_pid : 2, n);
	for (int i = 0; i < (r->procs ? CAP_PROC_MAX : 1) && at < len; i++) {
		if (i && !r->procs->p[i].used)
			continue;
		struct cap_control ctl;
		struct stat st;
		int memfd = procs_memfd_of(r, i), pid = procs_pid_of(r, i);
		if (pread(memfd, &ctl, sizeof ctl, 0) != (ssize_t)sizeof ctl)
			memset(&ctl, 0, sizeof ctl);
		unsigned long long mem = fstat(memfd, &st) == 0 ? (unsigned long long)st.st_blocks * 512 : 0;
		at += (size_t)snprintf(reply + at, len - at, " %d,%d,%d,%d,%d,%ld,%llu", pid,
		                       i ? r->procs->p[i].ppid : 0, i,
		                       ctl.proc_pgid ? (int)ctl.proc_pgid : pid,   /* 0: its own pid */
		                       ctl.proc_sid ? (int)ctl.proc_sid : pid,
		                       (long)(i ? r->procs->p[i].host_pid : r->child), mem);
	}
}

static void do_stats(struct host_relay *r, char *reply, size_t len)
{
	struct host_relay_stats now;
	const struct host_relay_stats *s = &now;
	channel_stats(r, &now);
	/* The capsule's own drops, from its control page (zeros until it has any). */
	struct cap_net_drops d = { 0 };
	if (pread(r->memfd, &d, sizeof d, offsetof(struct cap_control, net_drops)) != (ssize_t)sizeof d)
		memset(&d, 0, sizeof d);
	/* Last: who moves the packets, the capsule on its own TUN device or caprun's relay. */
	snprintf(reply, len, "ok %s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %s", r->name,
	         (unsigned long long)s->packets_in, (unsigned long long)s->packets_out,
	         (unsigned long long)s->drop_spoofed, (unsigned long long)s->drop_malformed,
	         (unsigned long long)s->drop_host_full, (unsigned long long)s->drop_bad_record,
	         (unsigned long long)s->reattached, (unsigned long long)d.rx_no_memory,
	         (unsigned long long)d.rx_backlog_full, (unsigned long long)d.rx_socket_full,
	         (unsigned long long)d.tx_channel_full, r->direct ? "tun" : "relay");
}

/* "snapshot PATH KEEP": PATH is everything up to the last space.  An enum snapshot_outcome. */
static int do_snapshot(struct host_relay *r, char *args, int dirfd, int fd, char *reply, size_t len)
{
	char *sp = strrchr(args, ' ');
	if (!sp || sp == args || (strcmp(sp + 1, "0") && strcmp(sp + 1, "1"))) {
		snprintf(reply, len, "error usage: snapshot ABS_PATH 0|1");
		return 0;
	}
	*sp = 0;
	if (args[0] != '/') {
		snprintf(reply, len, "error %s: the path must be absolute", args);
		return 0;
	}
	return snapshot_take(r, args, dirfd, fd, sp[1] == '1', reply, len);
}

/*
 * "migrate HOSTID [downtime=MS] [dirwait=S] [precopy=0] [FAULT]": streams progress lines
 * to fd, then the reply.  2: moved away, stop.
 */
static int do_migrate(struct host_relay *r, char *args, int fd, char *reply, size_t len)
{
	struct caprun_mig_opts o = { .wait_directory_s = HOST_CTL_DIRWAIT_DEFAULT_S };
	char *save = NULL, *end, *tok = strtok_r(args, " ", &save);
	unsigned long target = tok ? strtoul(tok, &end, 10) : 0;
	int bad = !tok || *end || tok[0] == '-' || target == 0 || target > 0xffffffffu;
	while (!bad && (tok = strtok_r(NULL, " ", &save))) {
		if (strncmp(tok, "downtime=", 9) == 0) {
			long ms = strtol(tok + 9, &end, 10);
			bad = *end || !tok[9] || ms < 1 || ms > 60000;
			o.max_downtime_ms = ms;
		} else if (strncmp(tok, "dirwait=", 8) == 0) {
			long sec = strtol(tok + 8, &end, 10);
			bad = *end || !tok[8] || sec < 0 || sec > HOST_CTL_DIRWAIT_MAX_S;
			o.wait_directory_s = sec;
		} else if (strcmp(tok, "precopy=0") == 0) {
			o.no_precopy = 1;
		} else if (!o.fault && !strchr(tok, '=')) {
			o.fault = tok;
		} else {
			bad = 1;
		}
	}
	if (bad) {
		snprintf(reply, len, "error usage: migrate HOSTID [downtime=MS] [dirwait=S] [precopy=0] "
		         "[FAULT]");
		return 0;
	}
	if (snapshot_busy()) {
		snprintf(reply, len, "error a snapshot of capsule %s is still being written; try again",
		         r->name);
		return 0;
	}
	return caprun_mig_move(r, (uint32_t)target, &o, fd, reply, len) ? 2 : 0;
}

/* Take a passed descriptor if it is a directory; close anything else. */
static void take_fds(struct msghdr *m, int *dirfd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			struct stat st;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
			if (*dirfd < 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
				*dirfd = fd;
			else
				close(fd);
		}
	}
}

/*
 * Read one line (without '\n') from a fresh client, and the directory
 * descriptor it may have attached; -1 if it sends no line in time.
 */
static int read_line(int fd, char *line, size_t len, int *dirfd)
{
	size_t got = 0;
	while (got + 1 < len) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		struct iovec iov = { line + got, len - 1 - got };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
		                    .msg_controllen = sizeof ctl.buf };
		ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			take_fds(&m, dirfd);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		line[got] = 0;
		char *nl = memchr(line, '\n', got);
		if (nl) {
			*nl = 0;
			return 0;
		}
	}
	return -1;
}

void ctlserve_send_line(int fd, const char *s)
{
	size_t n = strlen(s);
	char *msg = malloc(n + 1);
	if (!msg)
		return;
	memcpy(msg, s, n);
	msg[n] = '\n';
	/* Non-blocking: a client that reads nothing does not stall the capsule's network. */
	send(fd, msg, n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(msg);
}

int ctlserve_accept(struct host_relay *r)
{
	static char line[HOST_CTL_LINE_MAX], reply[HOST_CTL_REPLY_MAX];
	char err[600];
	int saved = 0, dirfd = -1;
	int fd = accept4(r->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return 0;
	struct timeval tv = { CLIENT_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (read_line(fd, line, sizeof line, &dirfd)) {
		if (dirfd >= 0)
			close(dirfd);
		close(fd);
		return 0;
	}
	if (strcmp(line, "ps") == 0)
		do_ps(r, reply, sizeof reply, 0);
	else if (strcmp(line, "procs") == 0)
		do_procs(r, reply, sizeof reply);
	else if (strcmp(line, "stats") == 0)
		do_stats(r, reply, sizeof reply);
	else if ((strncmp(line, "snapshot ", 9) == 0 || strncmp(line, "migrate ", 8) == 0) &&
	         r->lazy && lazyload_wait(r->lazy, err, sizeof err))
		/* A snapshot or migration reads the memfd itself: all of it must be in first. */
		snprintf(reply, sizeof reply, "error capsule %s: %s", r->name, err);
	else if (strncmp(line, "snapshot ", 9) == 0) {
		int outcome = do_snapshot(r, line + 9, dirfd, fd, reply, sizeof reply);
		if (outcome == SNAPSHOT_PENDING)
			return 0;   /* its writer answers, and closes fd and dirfd */
		saved = outcome == SNAPSHOT_SAVED;
	}
	else if (strncmp(line, "migrate ", 8) == 0)
		saved = do_migrate(r, line + 8, fd, reply, sizeof reply);
	else
		snprintf(reply, sizeof reply,
		         "error unknown request (try: ps, procs, stats, snapshot PATH 0|1, migrate HOSTID)");
	ctlserve_send_line(fd, reply);
	if (dirfd >= 0)
		close(dirfd);
	close(fd);
	return saved;
}

#define BUSY_LINE_MS 100

void ctlserve_accept_busy(struct host_relay *r)
{
	static char line[HOST_CTL_LINE_MAX], reply[HOST_CTL_REPLY_MAX];
	int dirfd = -1;
	int fd = accept4(r->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = { 0, BUSY_LINE_MS * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (read_line(fd, line, sizeof line, &dirfd) == 0) {
		if (strcmp(line, "ps") == 0)
			do_ps(r, reply, sizeof reply, 1);
		else if (strcmp(line, "procs") == 0)
			do_procs(r, reply, sizeof reply);
		else if (strcmp(line, "stats") == 0)
			do_stats(r, reply, sizeof reply);
		else
			snprintf(reply, sizeof reply, "error %s is migrating: only ps, procs and stats "
			         "are answered until the migration ends", r->name);
		ctlserve_send_line(fd, reply);
	}
	if (dirfd >= 0)
		close(dirfd);
	close(fd);
}
