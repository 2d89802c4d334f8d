/* fuzz_seed.h: fuzz targets write their own seed inputs into their corpus directory at start, so no binary seed is committed. */
#ifndef FUZZ_SEED_H
#define FUZZ_SEED_H

#include "capsule-abi/cap_report.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The corpus directory libFuzzer was started with: its first argument that
 * is not a -flag and is a directory (a file argument means "run this
 * input", e.g. a crash being reproduced: then no seeds).  NULL if none.
 */
static inline const char *fuzz_corpus_dir(int argc, char **argv)
{
	struct stat st;
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			return stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? argv[i] : NULL;
	return NULL;
}

/* DIR/seed-NAME with these bytes, unless it is there already (a corpus keeps what it found). */
static inline void fuzz_seed(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	if (!dir || (size_t)snprintf(path, sizeof path, "%s/seed-%s", dir, name) >= sizeof path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, data, len) != (ssize_t)len)
		unlink(path);
	close(fd);
}

/*
 * A plausible freeze report (as runtime/report.c writes one) into buf:
 * three threads and one descriptor of every kind.  Returns its size.
 */
static inline size_t fuzz_sample_report(uint8_t *buf, size_t cap)
{
	struct cap_report_header h = { CAP_REPORT_MAGIC, CAP_REPORT_VERSION, 3, 9, 0, 0,
	                               5000000000LL, 1 << 20, 1 << 30 };
	struct cap_report_thread t[3] = {
		{ 1, CAP_THREAD_BLOCKED, "poll", 6000000000LL },
		{ 2, CAP_THREAD_CURRENT, "tcpip thread", 0 },
		{ 3, CAP_THREAD_RUNNABLE, "", 0 },
	};
	struct cap_report_fd f[9];
	memset(f, 0, sizeof f);
	for (int i = 0; i < 9; i++) {
		f[i].fd = i;
		f[i].kind = (uint32_t)(i + 1);   /* CAP_RFD_CONSOLE .. CAP_RFD_EPOLL */
	}
	f[1].u.pipe.buffered = 10, f[1].u.pipe.capacity = 65536, f[1].u.pipe.peer_open = 1;
	strcpy(f[3].u.file.path, "/tmp/state.txt");
	f[3].u.file.size = 100, f[3].u.file.offset = 40;
	f[6].u.sock = (struct cap_report_sock){ .local_ip = 0x020012c6, .remote_ip = 0x010012c6,
	                                        .local_port = 9000, .remote_port = 40000,
	                                        .tcp_state = CAP_TCP_ESTABLISHED, .snd_una = 100,
	                                        .snd_nxt = 150, .rcv_nxt = 7, .snd_wnd = 65535,
	                                        .rcv_wnd = 65535, .unacked = 50, .mss = 1460 };
	f[7].u.sock.local_port = 53;
	size_t len = sizeof h + sizeof t + sizeof f;
	if (len > cap)
		return 0;
	memcpy(buf, &h, sizeof h);
	memcpy(buf + sizeof h, t, sizeof t);
	memcpy(buf + sizeof h + sizeof t, f, sizeof f);
	return len;
}

#endif
