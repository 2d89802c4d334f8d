/* capctl_capture.c: `capctl capture NAME|IP -w FILE.pcap [--wire] [--count N | --seconds S]`: a capsule's packets from this host's caphostd into a pcap file (hosts/formats/capture.h). */
#include "hosts/capctl/capctl.h"
#include "hosts/common/clock.h"
#include "hosts/formats/capture.h"
#include "hosts/formats/ctlproto.h"
#include "hosts/formats/uplink.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define USAGE "usage: capctl capture NAME|IP -w FILE.pcap [--wire] [--count N | --seconds S]\n"

static volatile sig_atomic_t stop_sig;
static void on_stop(int sig) { stop_sig = sig; }

struct cap_opts {
	const char *what, *file;
	int wire;
	unsigned long long count;   /* 0 = no limit */
	long long seconds;          /* 0 = no limit */
};

static int parse(int argc, char **argv, struct cap_opts *o)
{
	static const struct option longs[] = { { "wire", no_argument, NULL, 'W' },
	                                       { "count", required_argument, NULL, 'c' },
	                                       { "seconds", required_argument, NULL, 's' },
	                                       { "write", required_argument, NULL, 'w' },
	                                       { 0, 0, 0, 0 } };
	int ch;
	char *end;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+w:", longs, NULL)) != -1 || optind < argc) {
		if (ch == -1) {   /* the capsule, wherever it stands among the options */
			if (o->what) {
				fprintf(stderr, "capctl: capture: one capsule only (%s and %s)\n", o->what, argv[optind]);
				return -1;
			}
			o->what = argv[optind++];
			continue;
		}
		switch (ch) {
		case 'w': o->file = optarg; break;
		case 'W': o->wire = 1; break;
		case 'c':
			errno = 0;
			o->count = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || o->count == 0) {
				fprintf(stderr, "capctl: capture: --count %s: want a whole number of packets above 0\n", optarg);
				return -1;
			}
			break;
		case 's':
			errno = 0;
			o->seconds = strtoll(optarg, &end, 10);
			if (errno || *end || !*optarg || o->seconds <= 0 || o->seconds > 86400 * 365) {
				fprintf(stderr, "capctl: capture: --seconds %s: want a whole number of seconds above 0\n", optarg);
				return -1;
			}
			break;
		default:
			fprintf(stderr, "capctl: capture: unknown or incomplete option %s\n", argv[optind - 1]);
			return -1;
		}
	}
	if (!o->what || !o->file) {
		fprintf(stderr, "capctl: capture: %s\n", !o->what ? "which capsule? (NAME or IP)" : "-w FILE.pcap is required");
		return -1;
	}
	if (o->count && o->seconds) {
		fprintf(stderr, "capctl: capture: --count or --seconds, not both\n");
		return -1;
	}
	if (strlen(o->what) > 64 || strchr(o->what, ' ') || strchr(o->what, '\n')) {
		fprintf(stderr, "capctl: capture: %s: not a capsule name or address\n", o->what);
		return -1;
	}
	return 0;
}

static int connect_hostd(char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if ((size_t)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", ctlsock_run_dir(), UPLINK_CTL_NAME) >=
	    sizeof sa.sun_path) {
		snprintf(err, errlen, "%s: run directory path too long", ctlsock_run_dir());
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, errlen, "no caphostd at %s: %s", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read from fd into buf (cap bytes, *len used) until the deadline (ms, 0 none) or a signal.
 * 1 = more bytes, 0 = end of stream, -1 = error, -2 = time is up or stopped. */
static int fill(int fd, uint8_t *buf, size_t cap, size_t *len, uint64_t deadline, const sigset_t *open)
{
	for (;;) {
		if (stop_sig)
			return -2;
		struct timespec ts, *tp = NULL;
		if (deadline) {
			uint64_t now = clock_now_ms();
			if (now >= deadline)
				return -2;
			ts.tv_sec = (time_t)((deadline - now) / 1000);
			ts.tv_nsec = (long)((deadline - now) % 1000) * 1000000L;
			tp = &ts;
		}
		struct pollfd p = { fd, POLLIN, 0 };
		int r = ppoll(&p, 1, tp, open);   /* signals arrive only here: no stop is missed */
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		ssize_t n = recv(fd, buf + *len, cap - *len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		*len += (size_t)n;
		return n > 0;
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int capctl_capture(int argc, char **argv)
{
	struct cap_opts o = { 0 };
	char err[PATH_MAX + 128], tmp[PATH_MAX];
	if (parse(argc, argv, &o)) {
		fputs(USAGE, stderr);
		return 2;
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", o.file) >= sizeof tmp) {
		fprintf(stderr, "capctl: capture: -w %s: path too long\n", o.file);
		return 2;
	}
	sigset_t block, unblocked;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &unblocked);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int fd = connect_hostd(err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "capctl: capture: %s\n", err);
		return 1;
	}
	char req[128];
	snprintf(req, sizeof req, "capture %s%s\n", o.what, o.wire ? " wire" : "");
	static uint8_t buf[1u << 20];
	size_t len = 0;
	uint8_t *nl = NULL;
	int r = send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req) ? 1 : -1;
	uint64_t answer_by = clock_now_ms() + 5000;
	while (r == 1 && !(nl = memchr(buf, '\n', len)) && len < 200)
		r = fill(fd, buf, 200, &len, answer_by, &unblocked);
	if (!nl || strncmp((char *)buf, "ok ", 3) != 0) {
		if (nl)
			*nl = 0;
		fprintf(stderr, "capctl: capture %s: %s\n", o.what,
		        nl && strncmp((char *)buf, "error ", 6) == 0 ? (char *)buf + 6
		        : stop_sig                                   ? "stopped before caphostd answered"
		                                                     : "caphostd did not answer");
		close(fd);
		return 1;
	}
	*nl = 0;
	char ip[32];
	snprintf(ip, sizeof ip, "%.31s", (char *)buf + 3);
	size_t used = (size_t)(nl + 1 - buf);
	memmove(buf, buf + used, len - used);
	len -= used;
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		fprintf(stderr, "capctl: capture: %s: %s\n", tmp, strerror(errno));
		close(fd);
		return 1;
	}
	printf("capturing %s (%s) into %s%s\n", o.what, ip, o.file,
	       o.wire ? ", host-to-host datagrams too" : "");
	fflush(stdout);
	uint64_t deadline = o.seconds ? clock_now_ms() + (uint64_t)o.seconds * 1000 : 0;
	unsigned long long n = 0;
	int have_global = 0, closed = 0, failed = 0;
	r = 1;
	while (!failed && (!o.count || n < o.count)) {
		/* whole records out of the buffer */
		if (!have_global && len >= CAPTURE_GLOBAL_LEN) {
			struct capture_global g;
			memcpy(&g, buf, sizeof g);
			if (capture_global_check(&g)) {
				snprintf(err, sizeof err, "caphostd sent a pcap header this capctl does not know");
				failed = 1;
				break;
			}
			if (write_all(out, buf, sizeof g)) {
				snprintf(err, sizeof err, "%s: %s", tmp, strerror(errno));
				failed = 1;
				break;
			}
			memmove(buf, buf + sizeof g, len - sizeof g);
			len -= sizeof g;
			have_global = 1;
		}
		size_t off = 0;
		while (have_global && (!o.count || n < o.count) && len - off >= CAPTURE_REC_LEN) {
			struct capture_rec rec;
			memcpy(&rec, buf + off, sizeof rec);
			if (rec.incl_len > CAPTURE_SNAPLEN) {
				snprintf(err, sizeof err, "caphostd sent a record of %u bytes", rec.incl_len);
				failed = 1;
				break;
			}
			if (len - off < CAPTURE_REC_LEN + rec.incl_len)
				break;
			if (write_all(out, buf + off, CAPTURE_REC_LEN + rec.incl_len)) {
				snprintf(err, sizeof err, "%s: %s", tmp, strerror(errno));
				failed = 1;
				break;
			}
			off += CAPTURE_REC_LEN + rec.incl_len;
			n++;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
		if (failed || (o.count && n >= o.count) || r != 1)
			break;
		r = fill(fd, buf, sizeof buf, &len, deadline, &unblocked);
		if (r == 0)
			closed = 1;
		else if (r == -1) {
			snprintf(err, sizeof err, "reading from caphostd: %s", strerror(errno));
			failed = 1;
		}
		/* one more pass over what just came, then stop if the stream ended or time is up */
	}
	close(fd);   /* caphostd sees us go and frees the capture */
	if (!failed && !have_global) {
		/* stopped before the header came: still a valid, empty capture */
		struct capture_global g;
		capture_global_init(&g);
		if (write_all(out, (const uint8_t *)&g, sizeof g))
			snprintf(err, sizeof err, "%s: %s", tmp, strerror(errno)), failed = 1;
	}
	if (!failed && (fsync(out) || close(out) || rename(tmp, o.file))) {
		snprintf(err, sizeof err, "%s: %s", o.file, strerror(errno));
		failed = 2;
	} else if (failed) {
		close(out);
	}
	if (failed) {
		unlink(tmp);
		fprintf(stderr, "capctl: capture %s: %s\n", o.what, err);
		return 1;
	}
	printf("%llu packets written to %s\n", n, o.file);
	if (closed) {
		fprintf(stderr, "capctl: capture %s: caphostd ended the capture (it stopped?)\n", o.what);
		return 1;
	}
	return 0;
}
