/* fuzz_filerec.c: libFuzzer target: arbitrary file request records from a capsule into the decoder and caprun's volume server. */
#include "capsule-abi/cap_file.h"
#include "hosts/caprun/volume.h"
#include "tests/fuzz/fuzz_seed.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The volume is read-only, so whatever the fuzzer sends cannot fill the
 * disk; a file, a directory and a symlink leading out are there to be
 * reached (or not).  Handles it opens stay open across inputs, as in a
 * capsule's life.
 */
static struct volumes vs;
static unsigned char out[VOLUME_REPLY_MAX];
static char top[] = "/tmp/fuzz_filerec.XXXXXX";

static void remove_scratch(void)
{
	static const char *const names[] = { "vol/file", "vol/out", "vol/dir", "vol", "" };
	char path[256];
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "%s/%s", top, names[i]);
		if (unlink(path))
			rmdir(path);
	}
}

static size_t sample(uint8_t *buf, uint16_t op, const char *name, uint32_t len, uint32_t handle)
{
	struct cap_file_req q = { .id = 1, .op = op, .handle = handle, .len = len,
	                          .name_len = name ? (uint32_t)strlen(name) + 1 : 0 };
	memcpy(buf, &q, sizeof q);
	if (name)
		memcpy(buf + sizeof q, name, q.name_len);
	return sizeof q + q.name_len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[256], err[512];
	if (!mkdtemp(top))
		abort();
	atexit(remove_scratch);
	snprintf(path, sizeof path, "%s/vol", top);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/vol/file", top);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		abort();
	close(fd);
	snprintf(path, sizeof path, "%s/vol/dir", top);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/vol/out", top);
	if (symlink("..", path))
		abort();
	volume_init(&vs);
	snprintf(path, sizeof path, "%s/vol:/data:ro", top);
	if (volume_add(&vs, path, err, sizeof err))
		abort();
	const char *dir = fuzz_corpus_dir(*argc, *argv);
	uint8_t buf[256];
	fuzz_seed(dir, "volumes", buf, sample(buf, CAP_FOP_VOLUMES, 0, 0, 0));
	fuzz_seed(dir, "open", buf, sample(buf, CAP_FOP_OPEN, "file", 0, 2));
	fuzz_seed(dir, "open-dir", buf, sample(buf, CAP_FOP_OPEN, "dir", 0, 3));
	fuzz_seed(dir, "stat-out", buf, sample(buf, CAP_FOP_STAT, "out/vol", 0, 0));
	fuzz_seed(dir, "pread", buf, sample(buf, CAP_FOP_PREAD, 0, 100, 2));
	fuzz_seed(dir, "getdents", buf, sample(buf, CAP_FOP_GETDENTS, 0, 4096, 3));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cap_file_req_view v;
	int ok = cap_file_req_decode(data, size, &v) == 0;
	size_t n = volume_serve(&vs, data, size, out);
	if (ok != (n > 0) || n > sizeof out)
		abort();
	if (n) {
		struct cap_file_rep rep;
		memcpy(&rep, out + sizeof(struct cap_chan_hdr), sizeof rep);
		if (rep.id != v.req.id || (rep.result > 0 && (v.req.op == CAP_FOP_PREAD ||
		    v.req.op == CAP_FOP_GETDENTS) && (size_t)rep.result != n - sizeof(struct cap_chan_hdr) -
		    sizeof rep))
			abort();
	}
	return 0;
}
