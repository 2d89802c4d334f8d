/* capctl_gaps.c: after `capctl migrate`: what each TCP connection of the capsule saw, asked of this host's caphostd (`gaps IP EPOCH`, which asks every host). */
#include "hosts/capctl/capctl_svg.h"
#include "hosts/common/clock.h"
#include "hosts/formats/ctlproto.h"
#include "hosts/formats/uplink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* One `gaps` request: the whole answer (caphostd closes after it) into buf; 0 or -1 with why. */
static int ask_once(const char *ip, unsigned epoch, char *buf, size_t cap, char *why, size_t wlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ctlsock_run_dir(),
	                     UPLINK_CTL_NAME) >= sizeof sa.sun_path) {
		snprintf(why, wlen, "%s: run directory path too long", ctlsock_run_dir());
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(why, wlen, "no caphostd at %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = { 3, 0 };   /* caphostd answers within HOSTD_GAP_WAIT_MS */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char req[64];
	int n = snprintf(req, sizeof req, "gaps %s %u\n", ip, epoch);
	size_t len = 0;
	ssize_t got = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n ? 1 : -1;
	while (got > 0 && len < cap - 1 && (got = recv(fd, buf + len, cap - 1 - len, 0)) > 0)
		len += (size_t)got;
	int e = errno;
	close(fd);
	buf[len] = 0;
	if (got < 0 || len == 0) {
		snprintf(why, wlen, "caphostd at %s: %s", sa.sun_path, got < 0 ? strerror(e) : "no answer");
		return -1;
	}
	return 0;
}

/* "ok ASKED ANSWERED N MORE" and N rows "HOST PEER PORT CPORT START GAP resumed|silent
 * exact|from-sync" (docs/NETWORK.md section 6.12); 0 or -1 with why. */
static int parse(char *buf, struct mig_gaps *g)
{
	char *save = NULL, *line = strtok_r(buf, "\n", &save);
	if (!line || strncmp(line, "ok ", 3)) {
		snprintf(g->why, sizeof g->why, "caphostd: %s", line ? line : "empty answer");
		return -1;
	}
	if (sscanf(line, "ok %u %u %u %u", &g->asked, &g->answered, &g->n, &g->more) != 4 ||
	    g->n > CAPCTL_MIG_CONNS) {
		snprintf(g->why, sizeof g->why, "caphostd: unexpected answer: %.100s", line);
		return -1;
	}
	for (unsigned i = 0; i < g->n; i++) {
		struct mig_conn *c = &g->conn[i];
		char state[16], exact[16];
		line = strtok_r(NULL, "\n", &save);
		if (!line || sscanf(line, "%u %15s %u %u %ld %ld %15s %15s", &c->host, c->peer,
		                    &c->peer_port, &c->capsule_port, &c->start_ms, &c->gap_ms, state,
		                    exact) != 8) {
			snprintf(g->why, sizeof g->why, "caphostd: row %u of %u missing or malformed", i + 1,
			         g->n);
			return -1;
		}
		c->resumed = strcmp(state, "resumed") == 0;
		c->from_sync = strcmp(exact, "from-sync") == 0;
	}
	return 0;
}

void capctl_gaps_fetch(const char *ip, unsigned epoch, long wait_ms, struct mig_gaps *g)
{
	static char buf[CAPCTL_MIG_CONNS * 96 + 128];
	uint64_t t0 = clock_now_ms();
	unsigned before = ~0u;
	memset(g, 0, sizeof *g);
	for (;;) {
		if (ask_once(ip, epoch, buf, sizeof buf, g->why, sizeof g->why) || parse(buf, g)) {
			g->measured = 0;
			return;
		}
		g->measured = 1;
		g->waited_ms = (long)(clock_now_ms() - t0);
		int silent = 0;
		for (unsigned i = 0; i < g->n; i++)
			silent |= !g->conn[i].resumed;
		/* Done when every silence ended and a second look found no new connection (one
		 * whose first packet since the SYNC came only after the capsule ran again). */
		if ((!silent && g->n == before) || g->waited_ms >= wait_ms)
			return;
		before = g->n;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
