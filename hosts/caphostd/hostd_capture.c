/* hostd_capture.c: `capture IP|NAME [wire]` on caphostd.ctl: a capsule's packets (and its host-to-host datagrams) streamed to capctl as pcap records, never blocking the loop (hosts/formats/capture.h). */
#include "hosts/caphostd/hostd.h"
#include "hosts/formats/capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Send what waits in c's buffer, without waiting; -1 if the client is gone. */
static int flush(struct hostd *d, struct hostd_capture *c)
{
	while (c->len) {
		ssize_t n = send(c->fd, c->buf, c->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
	}
	/* Waiting for room: EPOLLOUT too, until the buffer is empty. */
	int want = c->len ? 1 : 0;
	if (want != c->want_out) {
		struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0),
		                          .data.u64 = HOSTD_EV_CAPTURE + (uint64_t)(c - d->captures) };
		epoll_ctl(d->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return 0;
}

static void stop(struct hostd *d, struct hostd_capture *c)
{
	if (d->ep >= 0)
		epoll_ctl(d->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof *c);
	c->fd = -1;
	d->ncaptures--;
}

/* Append one record (its pieces in order) to c's buffer, or drop it if it does not fit. */
static void record(struct hostd *d, struct hostd_capture *c, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct capture_rec r = { (uint32_t)ts.tv_sec, (uint32_t)(ts.tv_nsec / 1000), (uint32_t)total,
	                         (uint32_t)total };
	if (total > CAPTURE_SNAPLEN || c->len + sizeof r + total > CAPTURE_BUF_MAX) {
		d->cnt.capture_dropped++;
		return;
	}
	memcpy(c->buf + c->len, &r, sizeof r);
	c->len += sizeof r;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(c->buf + c->len, iov[i].iov_base, iov[i].iov_len);
		c->len += iov[i].iov_len;
	}
	d->cnt.capture_records++;
	if (flush(d, c))
		stop(d, c);
}

/* A capsule running on this host shows its packets on its uplink: capgw would repeat them.
 * (The capsule table read directly: this part is the lowest and calls no other.) */
static int runs_here(const struct hostd *d, uint32_t ip)
{
	for (int i = 0; i < HOSTD_MAX_CAPS; i++)
		if (d->caps[i].state == HCAP_RUNNING && d->caps[i].ip == ip)
			return 1;
	return 0;
}

void hostd_capture_inner(struct hostd *d, int where, const uint8_t *pkt, size_t len)
{
	for (int i = 0; i < CAPTURE_MAX && d->ncaptures; i++) {
		struct hostd_capture *c = &d->captures[i];
		if (!c->buf || !capture_inner_match(pkt, len, c->ip))
			continue;
		if (where == HOSTD_CAPTURE_CAPGW && runs_here(d, c->ip))
			continue;
		struct iovec iov = { (void *)pkt, len };
		record(d, c, &iov, 1);
	}
}

void hostd_capture_wire(struct hostd *d, const struct iovec *iov, int iovcnt, uint32_t src,
                        uint16_t sport, uint32_t dst, uint16_t dport)
{
	static uint8_t dgram[65536];
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (n + iov[i].iov_len > sizeof dgram)
			return;
		memcpy(dgram + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	for (int i = 0; i < CAPTURE_MAX && d->ncaptures; i++) {
		struct hostd_capture *c = &d->captures[i];
		uint8_t outer[CAPTURE_OUTER_LEN];
		if (!c->buf || !c->wire || !capture_wire_match(dgram, n, c->ip))
			continue;
		if (capture_outer_build(outer, n, src, sport, dst, dport)) {
			d->cnt.capture_dropped++;
			continue;
		}
		struct iovec v[2] = { { outer, sizeof outer }, { dgram, n } };
		record(d, c, v, 2);
	}
}

/* The capsule a request names: a dotted address in the capsule network, or a capsule here. */
static int resolve(struct hostd *d, const char *what, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, what, &a) == 1) {
		*ip = a.s_addr;
		return hostd_in_net(d, a.s_addr) ? 0 : -1;
	}
	for (int i = 0; i < HOSTD_MAX_CAPS; i++)
		if (d->caps[i].state >= HCAP_INCOMING && d->caps[i].ip && strcmp(d->caps[i].name, what) == 0) {
			*ip = d->caps[i].ip;
			return 0;
		}
	return -1;
}

void hostd_capture_start(struct hostd *d, int fd, const char *args)
{
	char what[80] = "", opt[16] = "";
	char line[160];
	uint32_t ip = 0;
	struct hostd_capture *c = NULL;
	int n = sscanf(args, "%79s %15s", what, opt);
	for (int i = 0; i < CAPTURE_MAX && !c; i++)
		if (!d->captures[i].buf)
			c = &d->captures[i];
	if (n < 1 || (n == 2 && strcmp(opt, "wire") != 0))
		snprintf(line, sizeof line, "error usage: capture IP|NAME [wire]\n");
	else if (resolve(d, what, &ip))
		snprintf(line, sizeof line, "error %s: no capsule of that name here, nor an address in the "
		         "capsule network\n", what);
	else if (!c)
		snprintf(line, sizeof line, "error %d captures run already\n", CAPTURE_MAX);
	else if (!(c->buf = malloc(CAPTURE_BUF_MAX)))
		snprintf(line, sizeof line, "error out of memory\n");
	else
		line[0] = 0;
	if (line[0]) {
		send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c->fd = fd;
	c->ip = ip;
	c->wire = n == 2;
	c->len = (size_t)snprintf((char *)c->buf, 64, "ok %s\n", inet_ntoa(*(struct in_addr *)&ip));
	struct capture_global g;
	capture_global_init(&g);
	memcpy(c->buf + c->len, &g, sizeof g);
	c->len += sizeof g;
	int size = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = HOSTD_EV_CAPTURE + (uint64_t)(c - d->captures) };
	d->ncaptures++;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev) < 0 || flush(d, c))
		stop(d, c);
}

void hostd_capture_event(struct hostd *d, int idx, uint32_t events)
{
	char junk[256];
	if (idx < 0 || idx >= CAPTURE_MAX || !d->captures[idx].buf)
		return;
	struct hostd_capture *c = &d->captures[idx];
	if (events & EPOLLIN) {
		/* capctl says nothing after its request: anything readable is its goodbye */
		ssize_t n = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			stop(d, c);
			return;
		}
	}
	if ((events & (EPOLLHUP | EPOLLERR)) || flush(d, c))
		stop(d, c);
}

void hostd_capture_stop_all(struct hostd *d)
{
	for (int i = 0; i < CAPTURE_MAX; i++)
		if (d->captures[i].buf)
			stop(d, &d->captures[i]);
}
