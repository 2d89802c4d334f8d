/* test_host_holdfile.c: unit tests for the gateway's hold state files: what was written survives unmapping (as after a kill -9), and every damaged or foreign file is refused. */
#include "hosts/caphostd/holdfile.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[64], path[256];

static int setup(void **st)
{
	(void)st;
	snprintf(dir, sizeof dir, "/tmp/holdfile-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	char sub[128];
	snprintf(sub, sizeof sub, "%s/%s", dir, HOLDFILE_DIR);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(holdfile_path(dir, htonl(0xc6120009u), path, sizeof path), 0);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	char sub[128];
	unlink(path);
	snprintf(sub, sizeof sub, "%s/%s", dir, HOLDFILE_DIR);
	rmdir(sub);
	rmdir(dir);
	return 0;
}

static struct tcpconn seed(uint16_t peer_port)
{
	struct tcpconn s = { .capsule_ip = htonl(0xc6120009u), .peer_ip = htonl(0xc6130064u),
	                          .capsule_port = 9100, .peer_port = peer_port, .snd_nxt = 1000,
	                          .snd_una = 990, .rcv_nxt = 5000, .snd_wnd = 1 << 16,
	                          .rcv_wnd = 1 << 16 };
	return s;
}

/* A file with two held connections, some bytes in each, a stamp and a UDP packet. */
static void write_state(void)
{
	struct holdfile *f;
	assert_int_equal(holdfile_create(path, htonl(0xc6120009u), &f), 0);
	f->epoch = 4;
	f->host = 2;
	f->id = 77;
	for (uint32_t i = 0; i < 2; i++) {
		struct tcpconn s = seed((uint16_t)(40000 + i));
		tcphold_init(&f->conns[i].c, &s, holdfile_buf(f, i), 1 << 16);
		f->conns[i].in_use = 1;
		memset(holdfile_buf(f, i), 'a' + (int)i, 1000 + i);
		f->conns[i].c.used = 1000 + i;
		f->conns[i].c.rcv_nxt = 5000 + 1000 + i;
	}
	f->conns[1].c.state = TCPHOLD_RELEASED;
	f->conns[1].unconfirmed = 1;
	f->phase = HOLDFILE_RELEASING;
	uint8_t udp[28] = { 0x45, 0, 0, 28 };
	assert_int_equal(tcphold_udp_push(&f->udp, udp, sizeof udp), 0);
	holdfile_unmap(f);   /* no msync, no close: what a kill -9 leaves is the page cache */
}

static void survives_unmap(void **st)
{
	(void)st;
	char err[128];
	struct holdfile *f;
	write_state();
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), 0);
	assert_int_equal(f->epoch, 4);
	assert_int_equal(f->host, 2);
	assert_int_equal(f->id, 77);
	assert_int_equal(f->phase, HOLDFILE_RELEASING);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(f->conns[i].in_use, 1);
		assert_int_equal(f->conns[i].c.used, 1000 + i);
		assert_ptr_equal(f->conns[i].c.buf, holdfile_buf(f, i));   /* re-pointed here */
		assert_int_equal(f->conns[i].c.buf[999], 'a' + (int)i);
	}
	assert_int_equal(f->conns[1].unconfirmed, 1);
	assert_int_equal(f->conns[2].in_use, 0);
	size_t cur = 0, len;
	const uint8_t *p;
	assert_int_equal(tcphold_udp_next(&f->udp, &cur, &p, &len), 1);
	assert_int_equal(len, 28);
	assert_int_equal(tcphold_udp_next(&f->udp, &cur, &p, &len), 0);
	/* a confirmed connection's pages are punched out; its slot stays usable */
	holdfile_forget_buf(f, 0);
	assert_int_equal(holdfile_buf(f, 0)[0], 0);
	holdfile_unmap(f);
	/* sparse: 16 MiB of buffers, a few pages of them written */
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_true((uint64_t)sb.st_blocks * 512 < (1u << 20));
}

/* Damage one thing at a time (offset, value): each must be refused with a reason. */
static void refusals(void **st)
{
	(void)st;
	char err[128];
	struct holdfile *f;
	const size_t conn0 = offsetof(struct holdfile, conns);
	struct {
		size_t off;
		uint32_t val;
		const char *why;
	} cases[] = {
		{ 0, 0x58585858u, "magic" },
		{ offsetof(struct holdfile, version), 2, "version" },
		{ offsetof(struct holdfile, conn_size), 1, "conn_size" },
		{ offsetof(struct holdfile, bufs_off), 4096, "bufs_off" },
		{ offsetof(struct holdfile, phase), 3, "phase" },
		{ offsetof(struct holdfile, epoch), 0, "half a stamp" },
		{ offsetof(struct holdfile, udp) + offsetof(struct tcphold_udp, npkts), 100000, "udp" },
		{ conn0 + offsetof(struct holdfile_conn, buf_off), 0, "buf_off" },
		{ conn0 + offsetof(struct holdfile_conn, in_use), 2, "in_use" },
		{ conn0 + offsetof(struct tcphold_conn, used), (1u << 16) + 1, "used > cap" },
		{ conn0 + offsetof(struct tcphold_conn, cap), HOLDFILE_BUF + 1, "cap" },
		{ conn0 + offsetof(struct tcphold_conn, state), 9, "state" },
		{ conn0 + offsetof(struct tcphold_conn, s) + offsetof(struct tcpconn, capsule_ip), 1,
		  "another capsule's connection" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_state();
		int fd = open(path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, &cases[i].val, 4, (off_t)cases[i].off), 4);
		close(fd);
		err[0] = 0;
		if (holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err) == 0)
			fail_msg("accepted a file with a bad %s", cases[i].why);
		assert_true(err[0]);
	}
	/* the right file for another address, a truncated file, no file, not a file */
	write_state();
	assert_int_equal(holdfile_open(path, htonl(0xc612000au), &f, err, sizeof err), -1);
	assert_int_equal(truncate(path, 4096), 0);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), -1);
	unlink(path);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), -1);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), -1);
	rmdir(path);
}

/* What a kill between two stores can leave is completed on load (holdfile.h, "after a kill"). */
static void completes_a_kill(void **st)
{
	(void)st;
	char err[128];
	struct holdfile *f;
	write_state();
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), 0);
	f->conns[0].c.rcv_nxt = 5000;                    /* used stored, rcv_nxt not yet */
	f->conns[1].unconfirmed = 0;                     /* released, not yet marked */
	f->conns[2].c.used = 77;                         /* a slot being set up: in_use not yet set */
	f->conns[2].unconfirmed = 1;
	f->conns[3].in_use = 1;                          /* released with nothing held */
	tcphold_init(&f->conns[3].c, &(struct tcpconn){ .capsule_ip = f->ip, .rcv_nxt = 9 },
	             holdfile_buf(f, 3), 100);
	f->conns[3].c.state = TCPHOLD_RELEASED;
	holdfile_unmap(f);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), 0);
	assert_int_equal(f->conns[0].c.rcv_nxt, 6000);
	assert_int_equal(f->conns[1].unconfirmed, 1);    /* its bytes go out again */
	assert_int_equal(f->conns[2].in_use, 0);
	assert_int_equal(f->conns[2].unconfirmed, 0);
	assert_int_equal(f->conns[2].c.used, 0);
	assert_int_equal(f->conns[3].in_use, 0);
	/* a file created but never started (no stamp) opens; half a stamp does not */
	f->epoch = 0;
	f->id = 0;
	holdfile_unmap(f);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), 0);
	f->id = 5;
	holdfile_unmap(f);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), -1);
}

/* create replaces an old file whole (a new hold never inherits an old one's bytes). */
static void create_replaces(void **st)
{
	(void)st;
	char err[128];
	struct holdfile *f;
	write_state();
	assert_int_equal(holdfile_create(path, htonl(0xc6120009u), &f), 0);
	f->epoch = 1;
	f->id = 1;
	holdfile_unmap(f);
	assert_int_equal(holdfile_open(path, htonl(0xc6120009u), &f, err, sizeof err), 0);
	assert_int_equal(f->conns[0].in_use, 0);
	assert_int_equal(f->udp.npkts, 0);
	assert_int_equal(f->phase, HOLDFILE_HOLDING);
	assert_int_equal(holdfile_buf(f, 0)[0], 0);
	holdfile_unmap(f);
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.new", path);
	assert_int_equal(access(tmp, F_OK), -1);   /* no temporary left behind */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(survives_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(completes_a_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(create_replaces, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
