/* holdfile.c: create, map, check and unmap the gateway's per-capsule hold state files (holdfile.h). */
#include "hosts/caphostd/holdfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t bufs_offset(void) { return (sizeof(struct holdfile) + PAGE - 1) / PAGE * PAGE; }
static uint64_t udp_offset(void) { return bufs_offset() + (uint64_t)HOLDFILE_CONNS * HOLDFILE_BUF; }
static uint64_t file_size(void) { return udp_offset() + HOLDFILE_UDP_BUF; }

int holdfile_path(const char *run_dir, uint32_t ip, char *out, size_t cap)
{
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip, a, sizeof a);
	int n = snprintf(out, cap, "%s/%s/%s", run_dir, HOLDFILE_DIR, a);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static struct holdfile *map_fd(int fd)
{
	void *p = mmap(NULL, file_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* No read-around: a fault would otherwise read (zero) 32 pages of this sparse file
	 * for each page we touch, and unlinking it drop them all again.  A new file's header
	 * took 1.5-3.4 ms that way, its removal 0.45 ms, both inside a capsule's freeze;
	 * with it 0.08-0.17 and 0.06 ms (ext4, 16 MiB file, 4 pages touched). */
	madvise(p, file_size(), MADV_RANDOM);
	return p;
}

/* The scratch pointers of this mapping: never read from the file. */
static void repoint(struct holdfile *f)
{
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++)
		f->conns[i].c.buf = f->conns[i].in_use ? holdfile_buf(f, i) : NULL;
	f->udp.buf = (uint8_t *)f + f->udp_off;
}

int holdfile_create(const char *path, uint32_t ip, struct holdfile **out)
{
	/* A new file under a temporary name, complete before it takes the real one. */
	char tmp[4200];
	if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	struct holdfile *f = NULL;
	if (ftruncate(fd, (off_t)file_size()) == 0)
		f = map_fd(fd);
	int e = errno;
	close(fd);
	if (!f) {
		unlink(tmp);
		errno = e;
		return -1;
	}
	memcpy(f->magic, HOLDFILE_MAGIC, sizeof f->magic);
	f->version = HOLDFILE_VERSION;
	f->header_size = sizeof *f;
	f->conn_size = sizeof(struct tcphold_conn);
	f->max_conns = HOLDFILE_CONNS;
	f->bufs_off = bufs_offset();
	f->buf_size = HOLDFILE_BUF;
	f->udp_off = udp_offset();
	f->udp_size = HOLDFILE_UDP_BUF;
	f->file_size = file_size();
	f->ip = ip;
	f->phase = HOLDFILE_HOLDING;
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++)
		f->conns[i].buf_off = f->bufs_off + (uint64_t)i * HOLDFILE_BUF;
	tcphold_udp_init(&f->udp, (uint8_t *)f + f->udp_off, HOLDFILE_UDP_BUF, HOLDFILE_UDP_PKTS);
	if (rename(tmp, path) < 0) {
		e = errno;
		munmap(f, file_size());
		unlink(tmp);
		errno = e;
		return -1;
	}
	*out = f;
	return 0;
}

static int bad(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

/* Everything a loaded file claims, checked against what this build would have written. */
static int check(const struct holdfile *f, uint32_t want_ip, char *err, size_t errlen)
{
	if (memcmp(f->magic, HOLDFILE_MAGIC, sizeof f->magic))
		return bad(err, errlen, "not a hold file (magic)");
	if (f->version != HOLDFILE_VERSION || f->header_size != sizeof *f ||
	    f->conn_size != sizeof(struct tcphold_conn) || f->max_conns != HOLDFILE_CONNS)
		return bad(err, errlen, "another version or build of the format");
	if (f->bufs_off != bufs_offset() || f->buf_size != HOLDFILE_BUF || f->udp_off != udp_offset() ||
	    f->udp_size != HOLDFILE_UDP_BUF || f->file_size != file_size())
		return bad(err, errlen, "layout offsets");
	if (f->ip != want_ip)
		return bad(err, errlen, "capsule address differs from the file name");
	if (f->phase != HOLDFILE_HOLDING && f->phase != HOLDFILE_RELEASING)
		return bad(err, errlen, "phase");
	if (!f->epoch != !f->id)
		return bad(err, errlen, "half a stamp (epoch, id)");
	const struct tcphold_udp *u = &f->udp;
	if (u->cap != HOLDFILE_UDP_BUF || u->used > u->cap || u->max_pkts != HOLDFILE_UDP_PKTS ||
	    u->npkts > u->max_pkts)
		return bad(err, errlen, "UDP queue bookkeeping");
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++) {
		const struct holdfile_conn *k = &f->conns[i];
		if (k->buf_off != f->bufs_off + (uint64_t)i * HOLDFILE_BUF || k->in_use > 1 ||
		    k->unconfirmed > 1)
			return bad(err, errlen, "connection slot");
		if (!k->in_use)
			continue;
		const struct tcphold_conn *c = &k->c;
		if (c->cap > HOLDFILE_BUF || c->used > c->cap || c->state > TCPHOLD_RELEASED ||
		    c->fin_held > 1 || c->s.capsule_ip != f->ip || c->s.wscale_ours > 14 ||
		    c->s.wscale_peer > 14)
			return bad(err, errlen, "connection state");
	}
	return 0;
}

/*
 * A kill -9 can stop the holder between any two of its stores.  The holder
 * orders them so that each such state means something safe, and this
 * completes it (holdfile.h, "after a kill").
 */
static void complete(struct holdfile *f)
{
	for (uint32_t i = 0; i < HOLDFILE_CONNS; i++) {
		struct holdfile_conn *k = &f->conns[i];
		struct tcphold_conn *c = &k->c;
		if (!k->in_use) {
			memset(c, 0, sizeof *c);   /* freed, or never finished: nothing of it was acked */
			k->unconfirmed = 0;
			continue;
		}
		/* rcv_nxt follows from the bytes held: used and rcv_nxt are two stores */
		c->rcv_nxt = c->s.rcv_nxt + c->used + c->fin_held;
		if (k->unconfirmed && c->state != TCPHOLD_RELEASED)
			k->unconfirmed = 0;   /* (no path leaves this; held, then) */
		if (c->state == TCPHOLD_RELEASED && !k->unconfirmed) {
			/* released (or being confirmed) when it stopped: resend what it has, TCP drops doubles */
			if (c->used || c->fin_held)
				k->unconfirmed = 1;
			else
				k->in_use = 0;
		}
	}
}

int holdfile_open(const char *path, uint32_t want_ip, struct holdfile **out, char *err,
                  size_t errlen)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != file_size()) {
		close(fd);
		return bad(err, errlen, "not a regular file of the expected size");
	}
	struct holdfile *f = map_fd(fd);
	close(fd);
	if (!f) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	if (check(f, want_ip, err, errlen)) {
		munmap(f, file_size());
		return -1;
	}
	complete(f);
	repoint(f);
	*out = f;
	return 0;
}

void holdfile_unmap(struct holdfile *f)
{
	if (f)
		munmap(f, file_size());
}

void holdfile_forget_buf(struct holdfile *f, uint32_t i)
{
	madvise(holdfile_buf(f, i), HOLDFILE_BUF, MADV_REMOVE);
}
