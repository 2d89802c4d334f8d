/* streambench.c: the migration transfer stream (hosts/formats/migstream.c) memfd -> TCP -> memfd, against plain TCP on the same link, MiB/s. */
#include "hosts/formats/migstream.h"
#include "capsule-abi/cap_abi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: streambench MIB [ROUNDS]   (the medians of ROUNDS alternating rounds, and their ratio)
 * Both ends run here, one thread each, over loopback TCP: what the stream's
 * own work (reading the memfd, sealing, opening, writing the target memfd)
 * costs beside the bare copy through the kernel that plain TCP does.
 */
static uint64_t mib;
static int listen_fd;
static uint8_t stream_key[MIG_KEY_LEN];

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(void)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(listen_fd, (struct sockaddr *)&a, &l);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("streambench: connect");
		exit(1);
	}
	return s;
}

struct sender { int memfd, plain; struct cap_snap_header hdr; struct cap_snap_extent ext; int rc; };

static void *send_side(void *p)
{
	struct sender *s = p;
	int sock = dial();
	if (s->plain) {   /* the baseline: the same bytes, read from the memfd, no framing, no seal */
		size_t len = 1u << 20;
		uint8_t *buf = malloc(len);
		for (uint64_t off = s->ext.offset; off < s->ext.offset + s->ext.length; off += len) {
			if (pread(s->memfd, buf, len, (off_t)off) != (ssize_t)len)
				abort();
			for (size_t d = 0; d < len;) {
				ssize_t w = send(sock, buf + d, len - d, 0);
				if (w <= 0)
					abort();
				d += (size_t)w;
			}
		}
		free(buf);
		s->rc = MIG_OK;
	} else {
		struct mig_head_info info = { .source_host = 1, .target_host = 2, .migration_id = 7,
		                              .epoch = 1 };
		s->rc = migstream_send_fd(sock, stream_key, &info, &s->hdr, &s->ext, s->memfd, NULL, NULL, NULL);
	}
	close(sock);
	return NULL;
}

static double one_round(int plain, int src, int dst, const struct cap_snap_header *hdr,
                        const struct cap_snap_extent *ext)
{
	struct sender s = { .memfd = src, .plain = plain, .hdr = *hdr, .ext = *ext };
	pthread_t t;
	double t0 = now();
	pthread_create(&t, NULL, send_side, &s);
	int c = accept(listen_fd, NULL, NULL);
	int rc = MIG_OK;
	if (plain) {
		size_t len = 1u << 20;
		uint8_t *buf = malloc(len);
		uint64_t got = 0;
		for (;;) {
			ssize_t n = recv(c, buf, len, 0);
			if (n <= 0)
				break;
			if (pwrite(dst, buf, (size_t)n, (off_t)got) != n)
				abort();
			got += (uint64_t)n;
		}
		free(buf);
		if (got != mib << 20)
			rc = MIG_E_TRUNCATED;
	} else {
		struct mig_rx rx;
		uint8_t data_key[MIG_KEY_LEN] = { 0 };
		migstream_rx_init(&rx, data_key, 2);
		rc = migstream_recv_fd(c, &rx, dst, NULL, NULL, NULL);
		migstream_rx_free(&rx);
	}
	double dt = now() - t0;
	pthread_join(t, NULL);
	close(c);
	if (rc != MIG_OK || s.rc != MIG_OK) {
		fprintf(stderr, "streambench: %s round failed: %s / %s\n", plain ? "plain" : "stream",
		        migstream_strerror(rc), migstream_strerror(s.rc));
		exit(1);
	}
	return (double)mib / dt;
}

int main(int argc, char **argv)
{
	if (argc < 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: streambench MIB [ROUNDS]\n");
		return 2;
	}
	mib = strtoull(argv[1], NULL, 10);
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	/* The receiver derives the stream key from the data key and the id, as a target does. */
	uint8_t data_key[MIG_KEY_LEN] = { 0 };
	migstream_derive_key(data_key, 7, stream_key);
	/* A capsule's memfd with mib MiB touched at the start of its arena. */
	int src = memfd_create("src", 0), dst = memfd_create("dst", 0);
	uint64_t size = mib << 20, at = CAP_MEMFD_OFFSET(CAP_ARENA_BASE);
	uint64_t memfd_size = at + CAP_ARENA_DEFAULT;
	if (mib == 0 || size > CAP_ARENA_DEFAULT || ftruncate(src, (off_t)memfd_size) ||
	    ftruncate(dst, (off_t)memfd_size))
		return 1;
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, src, (off_t)at);
	if (m == MAP_FAILED)
		return 1;
	randombytes_buf(m, size);   /* incompressible, every page present */
	munmap(m, size);
	struct cap_snap_header hdr;
	memset(&hdr, 0, sizeof hdr);
	memcpy(hdr.magic, CAP_SNAP_MAGIC, sizeof hdr.magic);
	hdr.format_version = CAP_SNAP_FORMAT_ONE_PROC;   /* a stream carries one process */
	hdr.abi_version = CAP_ABI_VERSION;
	hdr.header_size = CAP_SNAP_HEADER_SIZE;
	hdr.nextents = 1;
	hdr.build_id_len = 20;
	memset(hdr.build_id, 0xab, 20);
	strcpy(hdr.image_name, "bench");
	strcpy(hdr.capsule_name, "bench");
	hdr.ip = htonl(0xc6120002);
	hdr.mtu = 1500;
	hdr.arena_size = CAP_ARENA_DEFAULT;
	hdr.memfd_size = memfd_size;
	hdr.data_size = size;
	hdr.data_offset = cap_snap_data_offset(hdr.format_version, 1, size);
	struct cap_snap_extent ext = { at, size };
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 4)) {
		perror("streambench: listen");
		return 1;
	}
	if (rounds < 1 || rounds > 99)
		rounds = 5;
	double plain[99], stream[99];
	for (int i = 0; i < rounds; i++) {
		plain[i] = one_round(1, src, dst, &hdr, &ext);
		stream[i] = one_round(0, src, dst, &hdr, &ext);
	}
	qsort(plain, (size_t)rounds, sizeof *plain, by_value);
	qsort(stream, (size_t)rounds, sizeof *stream, by_value);
	double p = plain[rounds / 2], st = stream[rounds / 2];
	printf("%-34s %10.0f MiB/s\n%-34s %10.0f MiB/s\n%-34s %10.2fx\n",
	       "migration stream (AES-256-GCM)", st, "plain TCP, same memfds and link", p,
	       "ratio", st / p);
	return 0;
}
