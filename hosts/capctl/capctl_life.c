/* capctl_life.c: `capctl stop NAME` (SIGTERM to its caprun, SIGKILL after --timeout) and `capctl logs NAME [-f]` (a detached capsule's console, hosts/caprun/consolelog.h). */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/ctlproto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STOP_TIMEOUT_S 10   /* docker stop's default */
#define KILL_WAIT_MS   5000

/* caprun's pid for name (its `ps` answer), or -1 after one line. */
static long caprun_pid(const char *cmd, const char *name)
{
	char sock[PATH_MAX], reply[HOST_CTL_LINE_MAX + 256];
	long pid = -1;
	if (strchr(name, '/') || ctlsock_path(name, sock, sizeof sock) ||
	    ctlsock_request(sock, "ps\n", -1, reply, sizeof reply, 3000) ||
	    sscanf(reply, "ok %*s %*s %*s %*s %ld", &pid) != 1 || pid <= 0) {
		fprintf(stderr, "capctl: %s: no capsule named %s on this host\n", cmd, name);
		return -1;
	}
	return pid;
}

/* Wait up to ms for the process behind pidfd to end: 1 if it did. */
static int ended(int pidfd, int ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r > 0;
}

int capctl_stop(int argc, char **argv)
{
	static const char usage[] = "stop [--timeout SECONDS] NAME";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "timeout", required_argument, NULL, 't' },
	                                      { 0, 0, 0, 0 } };
	long timeout = STOP_TIMEOUT_S;
	char *end;
	while (capctl_opt(argc, argv, "t:", opts, usage) != -1) {
		timeout = strtol(optarg, &end, 10);
		if (*end || !*optarg || timeout < 0 || timeout > 86400) {
			fprintf(stderr, "capctl: stop: --timeout %s: want 0..86400 seconds\n", optarg);
			return 2;
		}
	}
	if (argc - optind != 1)
		return capctl_usage_error(usage);
	const char *name = argv[optind];
	long pid = caprun_pid("stop", name);
	if (pid < 0)
		return 1;
	/* A pidfd: the signals reach this caprun even if its pid were reused meanwhile. */
	int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0)) {
		if (errno == ESRCH) {
			printf("capsule %s stopped\n", name);   /* it ended by itself meanwhile */
			return 0;
		}
		fprintf(stderr, "capctl: stop %s: caprun pid %ld: %s%s\n", name, pid, strerror(errno),
		        errno == EPERM ? " (another user's capsule: run as root)" : "");
		return 1;
	}
	/* caprun's SIGTERM is its Ctrl-C: the capsule ends, caprun removes what it made */
	if (ended(pidfd, (int)(timeout * 1000))) {
		printf("capsule %s stopped\n", name);
		close(pidfd);
		return 0;
	}
	syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	int gone = ended(pidfd, KILL_WAIT_MS);
	close(pidfd);
	if (!gone) {
		fprintf(stderr, "capctl: stop %s: caprun pid %ld still there after SIGKILL\n", name, pid);
		return 1;
	}
	printf("capsule %s killed (it did not stop within %ld s)\n", name, timeout);
	return 0;
}

/* The rest of fd to stdout: 0, or -1 (printed). */
static int copy_out(int fd, const char *name, const char *path)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "capctl: logs %s: %s: %s\n", name, path, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -1;
	}
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* 1 if path names a file other than fd's (the keeper rotated: a newer NAME.log is there). */
static int replaced(int fd, const char *path)
{
	struct stat now, mine;
	return stat(path, &now) == 0 && fstat(fd, &mine) == 0 &&
	       (now.st_dev != mine.st_dev || now.st_ino != mine.st_ino);
}

/* 1 while the log's keeper holds fd's file (more may come), 0 once it let go. */
static int kept(int fd)
{
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		return 0;
	}
	return errno == EWOULDBLOCK;
}
/*
 * NAME.log.  A rotation renames it to NAME.log.1 and then makes a new one: in
 * that moment there is none, so while NAME.log.1 exists wait for the new one
 * to appear (a second at most; the keeper makes it at once).
 */
static int open_current(const char *path, const char *older)
{
	for (int tries = 0;; tries++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int e = errno;
		if (fd >= 0 || e != ENOENT || tries == 1000 || access(older, F_OK) != 0) {
			errno = e;
			return fd;
		}
		usleep(1000);
	}
}


int capctl_logs(int argc, char **argv)
{
	static const char usage[] = "logs [-f|--follow] NAME";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "follow", no_argument, NULL, 'f' },
	                                      { 0, 0, 0, 0 } };
	int follow = 0;
	while (capctl_opt(argc, argv, "f", opts, usage) != -1)
		follow = 1;
	if (argc - optind != 1)
		return capctl_usage_error(usage);
	const char *name = argv[optind];
	char path[PATH_MAX], older[PATH_MAX];
	const char *dir = ctlsock_run_dir();
	if (strchr(name, '/') ||
	    snprintf(path, sizeof path, "%s/%s%s", dir, name, HOST_LOG_SUFFIX) >= (int)sizeof path ||
	    snprintf(older, sizeof older, "%s/%s%s", dir, name, HOST_LOG_OLD_SUFFIX) >= (int)sizeof older) {
		fprintf(stderr, "capctl: logs: no capsule named %s on this host\n", name);
		return 1;
	}
	/* NAME.log.1, then NAME.log (consolelog.h).  A rotation between the two opens made
	 * the NAME.log we opened the NAME.log.1 we found: then it is the older part. */
	int fd = open_current(path, older);
	if (fd < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "capctl: logs %s: %s: no log (only a capsule started with "
			        "caprun -d keeps one)\n", name, path);
		else
			fprintf(stderr, "capctl: logs %s: %s: %s\n", name, path, strerror(errno));
		return 1;
	}
	int old = open(older, O_RDONLY | O_CLOEXEC);
	if (old >= 0 && same_file(old, fd)) {
		close(old);
		old = fd;
		fd = open_current(path, older);
		if (fd < 0) {
			fprintf(stderr, "capctl: logs %s: %s: %s\n", name, path, strerror(errno));
			close(old);
			return 1;
		}
	}
	int failed = old >= 0 && copy_out(old, name, older);
	if (old >= 0)
		close(old);
	while (!failed) {
		failed = copy_out(fd, name, path) != 0;
		if (failed)
			break;
		if (replaced(fd, path)) {   /* what it wrote before it rotated was read just now */
			int next = open(path, O_RDONLY | O_CLOEXEC);
			if (next >= 0) {
				close(fd);
				fd = next;
				continue;
			}
		}
		if (!follow)
			break;
		if (!kept(fd)) {
			/* Its keeper let go: the end, unless it rotated (and ended) since we looked. */
			failed = copy_out(fd, name, path) != 0;
			if (!failed && replaced(fd, path))
				continue;
			break;
		}
		fflush(stdout);
		struct timespec ts = { 0, 200 * 1000 * 1000 };   /* as tail -f looks again */
		nanosleep(&ts, NULL);
	}
	close(fd);
	return fflush(stdout) || failed ? 1 : 0;
}
