/* memtouch.c: TCP port 9003: touches N MiB of heap on request, keeps rewriting it at a set rate, checks it, and answers "ping" with a count: snapshot and migration checks. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Commands, one per line, each answered with one line:
 *   touch N  -> "touched N total T": N more MiB of heap written (T MiB so far)
 *   ping     -> "pong K": K counts pings over all connections
 *   churn R  -> "churn R": from now on rewrite R MiB/s of the touched pages
 *               (every 10 ms a slice, round robin), and every 50th tick free
 *               a 256 KiB block and calloc it again, checking it is zero
 *   regrow   -> "regrow ZEROFAIL": the spare block freed and calloc'd once now
 *               (as churn does), checked zero and dirtied again
 *   map      -> "mapped": 1 MiB mmap'd and filled with 0x5a
 *   remap    -> "remap NONZERO": that 1 MiB unmapped and mapped again at the
 *               same address (MAP_FIXED): NONZERO pages that did not read
 *               zero, as a fresh mapping must
 *   check    -> "check ok PAGES ZEROFAIL" or "check bad BADPAGES ZEROFAIL":
 *               every touched page carries its stamp (first and last 8
 *               bytes) as last written, and the stamps' generations fall
 *               walking back from the churn cursor; ZEROFAIL counts callocs
 *               that were not zero.  A migration or snapshot that lost a write, or revived
 *               a page the capsule had given back, shows here.
 * Replies are short, so a client that waits for each reply never fills a
 * socket buffer: a reply is written whole or the client is dropped.
 */

#define PORT        9003
#define MAX_CLIENTS 1024
#define LINE_MAX_LEN 256

struct client {
	int fd;
	size_t len;
	char line[LINE_MAX_LEN];
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static unsigned long long pings, touched_mib;
static void *blocks;   /* every touched block, chained through its first word: kept reachable */

#define MAX_BLOCKS  16384   /* MiB */
#define SPARE_BYTES (256 << 10)   /* above musl's mmap threshold: freed = given back to the host */
#define PAGES_PER_BLOCK 256
static unsigned char **blk;     /* blk[i]: the i-th touched MiB */
static uint64_t *stamp;         /* stamp[page]: what its first and last 8 bytes hold */
static unsigned long nblocks;
static unsigned long churn_mib_s, churn_cursor, zero_fail, generation = 1, ticks;
static unsigned char *spare;    /* the block freed and calloc'd again each tick */
static int64_t churn_last_ms;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stamp_page(unsigned long page)
{
	unsigned char *p = blk[page / PAGES_PER_BLOCK] + (page % PAGES_PER_BLOCK) * 4096;
	uint64_t v = generation << 32 | page;
	stamp[page] = v;
	memcpy(p + (page % PAGES_PER_BLOCK ? 0 : 8), &v, sizeof v);   /* page 0 starts with the chain */
	memcpy(p + 4088, &v, sizeof v);
}

static void regrow(void);

/* One tick of churn: the pages due since the last one, and one block freed and calloc'd. */
static void churn_tick(void)
{
	int64_t now = now_ms();
	if (!churn_mib_s || !nblocks || now - churn_last_ms < 10)
		return;
	/* At most 50 ms worth: a capsule that got no CPU for a while does not catch up in one burst. */
	int64_t elapsed = now - churn_last_ms > 50 ? 50 : now - churn_last_ms;
	unsigned long pages = (unsigned long)(elapsed * (int64_t)churn_mib_s * 256 / 1000);
	churn_last_ms = now;
	generation++;
	for (unsigned long i = 0; i < pages; i++) {
		stamp_page(churn_cursor);
		churn_cursor = (churn_cursor + 1) % (nblocks * PAGES_PER_BLOCK);
	}
	if (ticks++ % 50)
		return;
	regrow();
}

#define MAPPED_BYTES (1 << 20)
static unsigned char *mapped;

/* "remap": the exact range given back and taken again, whatever the allocator would pick. */
static long remap(void)
{
	if (!mapped || munmap(mapped, MAPPED_BYTES) != 0 ||
	    mmap(mapped, MAPPED_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
	         -1, 0) != mapped)
		return -1;
	long nonzero = 0;
	for (size_t p = 0; p < MAPPED_BYTES; p += 4096)
		for (size_t i = 0; i < 4096; i += 8)
			if (*(uint64_t *)(mapped + p + i)) {
				nonzero++;
				break;
			}
	return nonzero;
}

/* The spare block given back to the host and taken again: calloc must give zeros. */
static void regrow(void)
{
	free(spare);
	spare = calloc(1, SPARE_BYTES);
	for (size_t i = 0; spare && i < SPARE_BYTES; i += 8)
		if (*(uint64_t *)(spare + i)) {
			zero_fail++;
			break;
		}
	if (spare)   /* dirty it, so the next calloc cannot get zero memory by luck */
		for (size_t i = 0; i < SPARE_BYTES; i += 4096)
			spare[i] = 0xa5;
}

static void check(char *out, size_t outlen)
{
	unsigned long bad = 0, total = nblocks * PAGES_PER_BLOCK;
	/*
	 * Churn writes round robin, so walking back from the cursor the stamps'
	 * generations never grow: a page and its table entry rolled back together
	 * (both lost by a copy) still show as an older page among newer ones.
	 */
	uint64_t newest = UINT64_MAX;
	for (unsigned long k = 1; k <= total; k++) {
		uint64_t gen = stamp[(churn_cursor + total - k) % total] >> 32;
		bad += gen > newest;
		newest = gen < newest ? gen : newest;
	}
	for (unsigned long page = 0; page < total; page++) {
		const unsigned char *p = blk[page / PAGES_PER_BLOCK] + (page % PAGES_PER_BLOCK) * 4096;
		uint64_t a, b;
		memcpy(&a, p + (page % PAGES_PER_BLOCK ? 0 : 8), sizeof a);
		memcpy(&b, p + 4088, sizeof b);
		bad += a != stamp[page] || b != stamp[page];
	}
	snprintf(out, outlen, "check %s %lu %lu\n", bad ? "bad" : "ok",
	         bad ? bad : nblocks * PAGES_PER_BLOCK, zero_fail);
}

static int listen_tcp(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Allocate and write mib MiB (a byte in every page); the blocks are kept for good (they are the state). */
static int touch(unsigned long mib)
{
	if (!blk && (!(blk = calloc(MAX_BLOCKS, sizeof *blk)) ||
	             !(stamp = calloc((size_t)MAX_BLOCKS * PAGES_PER_BLOCK, sizeof *stamp))))
		return -1;
	for (unsigned long i = 0; i < mib; i++) {
		unsigned char *p = malloc(1 << 20);
		if (!p || nblocks == MAX_BLOCKS)
			return -1;
		for (size_t off = 0; off < (1 << 20); off += 4096)
			p[off] = (unsigned char)(off >> 12 | 1);
		/* Reachable from a global, so the compiler cannot drop the block or its writes. */
		memcpy(p, &blocks, sizeof blocks);
		blocks = p;
		blk[nblocks++] = p;
		for (unsigned long page = (nblocks - 1) * PAGES_PER_BLOCK; page < nblocks * PAGES_PER_BLOCK;
		     page++)
			stamp_page(page);
		touched_mib++;
	}
	return 0;
}

static void command(const char *line, char *out, size_t outlen)
{
	if (!strncmp(line, "touch ", 6)) {
		unsigned long mib = strtoul(line + 6, NULL, 10);
		if (touch(mib) < 0)
			snprintf(out, outlen, "out of memory after %llu MiB\n", touched_mib);
		else
			snprintf(out, outlen, "touched %lu total %llu\n", mib, touched_mib);
	} else if (!strcmp(line, "ping")) {
		snprintf(out, outlen, "pong %llu\n", ++pings);
	} else if (!strncmp(line, "churn ", 6)) {
		churn_mib_s = strtoul(line + 6, NULL, 10);
		churn_last_ms = now_ms();
		snprintf(out, outlen, "churn %lu\n", churn_mib_s);
	} else if (!strcmp(line, "check")) {
		check(out, outlen);
	} else if (!strcmp(line, "map")) {
		mapped = mmap(NULL, MAPPED_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mapped == MAP_FAILED)
			mapped = NULL;
		else
			memset(mapped, 0x5a, MAPPED_BYTES);
		snprintf(out, outlen, mapped ? "mapped\n" : "map failed\n");
	} else if (!strcmp(line, "remap")) {
		snprintf(out, outlen, "remap %ld\n", remap());
	} else if (!strcmp(line, "regrow")) {
		regrow();
		snprintf(out, outlen, "regrow %lu\n", zero_fail);
	} else {
		snprintf(out, outlen, "unknown command\n");
	}
}

/* Returns -1 when the client should be dropped. */
static int serve_client(struct client *c)
{
	ssize_t n = read(c->fd, c->line + c->len, sizeof c->line - c->len);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	c->len += (size_t)n;
	char *nl;
	while ((nl = memchr(c->line, '\n', c->len)) != NULL) {
		char out[128];
		*nl = 0;
		command(c->line, out, sizeof out);
		size_t len = strlen(out);
		if (write(c->fd, out, len) != (ssize_t)len)
			return -1;
		c->len -= (size_t)(nl + 1 - c->line);
		memmove(c->line, nl + 1, c->len);
	}
	return c->len == sizeof c->line ? -1 : 0;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int lfd = listen_tcp(PORT);
	if (lfd < 0) {
		fprintf(stderr, "memtouch: cannot listen on TCP port %d: %s\n", PORT, strerror(errno));
		return 1;
	}
	printf("memtouch: listening on TCP port %d\n", PORT);

	static struct pollfd pfd[MAX_CLIENTS + 1];
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = nclients < MAX_CLIENTS ? POLLIN : 0 };
		for (int i = 0; i < nclients; i++)
			pfd[i + 1] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		int polled = nclients;
		if (poll(pfd, (nfds_t)polled + 1, churn_mib_s ? 10 : -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "memtouch: poll: %s\n", strerror(errno));
			return 1;
		}
		churn_tick();
		for (int i = polled - 1; i >= 0; i--)
			if (pfd[i + 1].revents && serve_client(&clients[i]) < 0) {
				close(clients[i].fd);
				clients[i] = clients[--nclients];
			}
		if (pfd[0].revents & POLLIN) {
			while (nclients < MAX_CLIENTS) {
				int fd = accept(lfd, NULL, NULL);
				if (fd < 0)
					break;
				if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
					close(fd);
					continue;
				}
				clients[nclients].fd = fd;
				clients[nclients].len = 0;
				nclients++;
			}
		}
	}
}
