/* test_host_volume.c: a capsule's volumes served from a scratch directory (hosts/caprun/volume.c): confinement, read-only, handles. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "hosts/caprun/volume.h"

static char top[64], vol[PATH_MAX];
static struct volumes vs;
static unsigned char rec[sizeof(struct cap_file_req) + 2 * CAP_FILE_NAME_MAX + 64];
static unsigned char out[VOLUME_REPLY_MAX];

static void put(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* top/secret outside; top/vol/{hello.txt, out -> .., abs -> top, in -> hello.txt} */
static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof top, "/tmp/test_host_volume.XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(vol, sizeof vol, "%s/vol", top);
	assert_int_equal(mkdir(vol, 0755), 0);
	put(top, "secret", "secret\n");
	put(vol, "hello.txt", "hello\n");
	char p[PATH_MAX + 16];
	snprintf(p, sizeof p, "%s/out", vol);
	assert_int_equal(symlink("..", p), 0);
	snprintf(p, sizeof p, "%s/abs", vol);
	assert_int_equal(symlink(top, p), 0);
	snprintf(p, sizeof p, "%s/in", vol);
	assert_int_equal(symlink("hello.txt", p), 0);
	volume_init(&vs);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	volume_close_all(&vs);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf %s", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* One request; the answer's result, its payload in *payload (may be 0). */
static int32_t ask(uint16_t op, uint16_t volume, uint32_t handle, uint32_t flags, const char *name,
                   const char *name2, uint64_t offset, uint32_t len, const unsigned char **payload)
{
	struct cap_file_req q = { .id = 42, .op = op, .volume = volume, .handle = handle, .flags = flags,
	                          .mode = 0644, .offset = offset, .len = len };
	size_t n = sizeof q;
	q.name_len = name ? (uint32_t)strlen(name) + 1 : 0;
	q.name2_len = name2 ? (uint32_t)strlen(name2) + 1 : 0;
	memcpy(rec, &q, sizeof q);
	if (name) {
		memcpy(rec + n, name, q.name_len);
		n += q.name_len;
	}
	if (name2) {
		memcpy(rec + n, name2, q.name2_len);
		n += q.name2_len;
	}
	size_t got = volume_serve(&vs, rec, n, out);
	assert_true(got >= sizeof(struct cap_chan_hdr) + sizeof(struct cap_file_rep));
	struct cap_chan_hdr h;
	struct cap_file_rep rep;
	memcpy(&h, out, sizeof h);
	memcpy(&rep, out + sizeof h, sizeof rep);
	assert_int_equal(h.type, CAP_MSG_FILE_REP);
	assert_int_equal(rep.id, 42);
	if (payload)
		*payload = out + sizeof h + sizeof rep;
	return rep.result;
}

static void test_volume_specs(void **state)
{
	(void)state;
	char err[PATH_MAX + 512], spec[PATH_MAX + 64];
	static const char *const bad[] = { ":/data", "%s", "%s:data", "%s:/", "%s:/tmp", "%s:/tmp/x",
	                                   "%s:/dev", "%s:/a/../b", "%s:/a/", "%s:/a//b", "%s:/a:rx",
	                                   "/nonexistent-volume-dir:/data" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(spec, sizeof spec, bad[i], vol);
		assert_int_equal(volume_add(&vs, spec, err, sizeof err), -1);
		assert_null(strchr(err, '\n'));
	}
	snprintf(spec, sizeof spec, "%s:/data", vol);
	assert_int_equal(volume_add(&vs, spec, err, sizeof err), 0);
	assert_int_equal(volume_add(&vs, spec, err, sizeof err), -1);   /* twice */
	snprintf(spec, sizeof spec, "%s:/srv/ro:ro", vol);
	assert_int_equal(volume_add(&vs, spec, err, sizeof err), 0);
	assert_int_equal(vs.n, 2);
	assert_int_equal(vs.v[1].ro, 1);
	assert_int_equal(volume_check_workdir(&vs, "/data", err, sizeof err), 0);
	assert_int_equal(volume_check_workdir(&vs, "/tmp", err, sizeof err), 0);
	assert_int_equal(volume_check_workdir(&vs, "/data/none", err, sizeof err), -1);
	assert_int_equal(volume_check_workdir(&vs, "/data/out", err, sizeof err), -1);   /* leads out */
	assert_int_equal(volume_check_workdir(&vs, "/etc", err, sizeof err), -1);
}

static void test_no_escape(void **state)
{
	(void)state;
	const unsigned char *p;
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 0, O_RDONLY, "out/secret", 0, 0, 0, 0), -EXDEV);
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 0, O_RDONLY, "abs/secret", 0, 0, 0, 0), -EXDEV);
	assert_int_equal(ask(CAP_FOP_STAT, 0, 0, 0, "out/secret", 0, 0, 0, 0), -EXDEV);
	assert_int_equal(ask(CAP_FOP_MKDIR, 0, 0, 0, "out/made", 0, 0, 0, 0), -EXDEV);
	assert_int_equal(ask(CAP_FOP_UNLINK, 0, 0, 0, "abs/secret", 0, 0, 0, 0), -EXDEV);
	assert_int_equal(ask(CAP_FOP_RENAME, 0, 0, 0, "hello.txt", "out/stolen", 0, 0, 0), -EXDEV);
	assert_int_equal(access("/tmp/made", F_OK), -1);
	/* ".." and absolute names never reach a system call: no answer at all */
	struct cap_file_req q = { .id = 1, .op = CAP_FOP_OPEN, .name_len = 10 };
	memcpy(rec, &q, sizeof q);
	memcpy(rec + sizeof q, "../secret", 10);
	uint64_t bad = vs.bad_records;
	assert_int_equal(volume_serve(&vs, rec, sizeof q + 10, out), 0);
	assert_int_equal(vs.bad_records, bad + 1);
	/* unlinking the link "out" removes the link, not what it points to */
	assert_int_equal(ask(CAP_FOP_STAT, 0, 0, 1, "out", 0, 0, 0, &p), 0);
	struct cap_file_stat st;
	memcpy(&st, p, sizeof st);
	assert_true(S_ISLNK(st.mode));
	/* a link inside is followed */
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 5, O_RDONLY, "in", 0, 0, 0, 0), 0);
	assert_int_equal(ask(CAP_FOP_PREAD, 0, 5, 0, 0, 0, 0, 100, &p), 6);
	assert_memory_equal(p, "hello\n", 6);
	assert_int_equal(ask(CAP_FOP_CLOSE, 0, 5, 0, 0, 0, 0, 0, 0), 0);
	/* no FIFOs: they could block the host */
	char fifo[PATH_MAX + 8];
	snprintf(fifo, sizeof fifo, "%s/fifo", vol);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 6, O_RDONLY, "fifo", 0, 0, 0, 0), -ENXIO);
	unlink(fifo);
}

static void test_read_only(void **state)
{
	(void)state;
	assert_int_equal(ask(CAP_FOP_OPEN, 1, 0, O_WRONLY, "hello.txt", 0, 0, 0, 0), -EROFS);
	assert_int_equal(ask(CAP_FOP_OPEN, 1, 0, O_RDONLY | O_CREAT, "new", 0, 0, 0, 0), -EROFS);
	assert_int_equal(ask(CAP_FOP_MKDIR, 1, 0, 0, "d", 0, 0, 0, 0), -EROFS);
	assert_int_equal(ask(CAP_FOP_UNLINK, 1, 0, 0, "hello.txt", 0, 0, 0, 0), -EROFS);
	assert_int_equal(ask(CAP_FOP_RENAME, 1, 0, 0, "hello.txt", "x", 0, 0, 0), -EROFS);
	assert_int_equal(ask(CAP_FOP_OPEN, 1, 0, O_RDONLY, "hello.txt", 0, 0, 0, 0), 0);
	assert_int_equal(ask(CAP_FOP_CLOSE, 1, 0, 0, 0, 0, 0, 0, 0), 0);
}

static void test_handles(void **state)
{
	(void)state;
	const unsigned char *p;
	assert_int_equal(ask(CAP_FOP_PREAD, 0, 9, 0, 0, 0, 0, 10, 0), -EBADF);   /* never opened */
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 9, O_RDONLY, "hello.txt", 0, 0, 0, 0), 0);
	assert_int_equal(vs.open_count, 1);
	/* the same number again (a resume): the old one is closed, the count stays */
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 9, O_RDONLY, "hello.txt", 0, 0, 0, 0), 0);
	assert_int_equal(vs.open_count, 1);
	assert_int_equal(ask(CAP_FOP_PREAD, 0, 9, 0, 0, 0, 2, 3, &p), 3);
	assert_memory_equal(p, "llo", 3);
	assert_int_equal(ask(CAP_FOP_GETDENTS, 0, 9, 0, 0, 0, 0, 4096, 0), -ENOTDIR);
	assert_int_equal(ask(CAP_FOP_CLOSE, 0, 9, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(vs.open_count, 0);
	assert_int_equal(ask(CAP_FOP_OPEN, 0, 9, O_RDONLY | O_DIRECTORY, ".", 0, 0, 0, 0), 0);
	assert_true(ask(CAP_FOP_GETDENTS, 0, 9, 0, 0, 0, 0, 4096, 0) > 0);
	assert_int_equal(ask(CAP_FOP_CLOSE, 0, 9, 0, 0, 0, 0, 0, 0), 0);
	/* every handle number at once is the bound */
	for (uint32_t h = 0; h < CAP_FILE_HANDLES; h++)
		assert_int_equal(ask(CAP_FOP_OPEN, 0, h, O_RDONLY, "hello.txt", 0, 0, 0, 0), 0);
	assert_int_equal(vs.open_count, CAP_FILE_HANDLES);
	for (uint32_t h = 0; h < CAP_FILE_HANDLES; h++)
		assert_int_equal(ask(CAP_FOP_CLOSE, 0, h, 0, 0, 0, 0, 0, 0), 0);
	assert_int_equal(vs.open_count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_volume_specs),
		cmocka_unit_test(test_no_escape),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_handles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
