/* udpring.c: a ring of framed datagrams in a slot of the shared window (rt_udp.h): a UDP socket's receive and send queues, message boundaries kept (docs/PROCESSES.md, section 4, "UDP sockets"). */
#include <string.h>
#include "runtime/rt_udp.h"

static unsigned char *ring_data(struct udp_ring *r)
{
	return (unsigned char *)(r + 1);
}

void rt_udp_ring_init(struct udp_ring *r, void *slot)
{
	r->cap = (uint32_t)((unsigned char *)slot + RT_SHARED_SLOT - ring_data(r));
}

uint32_t rt_udp_ring_room(const struct udp_ring *r)
{
	return r->cap - r->used;
}

static void ring_write(struct udp_ring *r, uint32_t pos, const void *src, size_t n)
{
	size_t first = n < r->cap - pos ? n : r->cap - pos;
	memcpy(ring_data(r) + pos, src, first);
	memcpy(ring_data(r), (const unsigned char *)src + first, n - first);
}

static void ring_read(struct udp_ring *r, uint32_t pos, void *dst, size_t n)
{
	size_t first = n < r->cap - pos ? n : r->cap - pos;
	memcpy(dst, ring_data(r) + pos, first);
	memcpy((unsigned char *)dst + first, ring_data(r), n - first);
}

/* Append a datagram gathered from iov (total bytes; the caller checked the room). */
void rt_udp_ring_put(struct udp_ring *r, const struct udp_frame *h, const struct rt_iovec *iov, int iovcnt)
{
	uint32_t pos = (r->head + r->used) % r->cap;
	ring_write(r, pos, h, sizeof *h);
	pos = (pos + (uint32_t)sizeof *h) % r->cap;
	for (int i = 0; i < iovcnt; i++) {
		ring_write(r, pos, iov[i].base, iov[i].len);
		pos = (uint32_t)((pos + iov[i].len) % r->cap);
	}
	r->used += (uint32_t)sizeof *h + h->len;
	r->count++;
}

void rt_udp_ring_first(struct udp_ring *r, struct udp_frame *h)
{
	ring_read(r, r->head, h, sizeof *h);
}

/* Scatter the oldest datagram's first bytes into iov: how many were copied. */
size_t rt_udp_ring_copy_first(struct udp_ring *r, const struct udp_frame *h, const struct rt_iovec *iov,
                              int iovcnt)
{
	uint32_t pos = (r->head + (uint32_t)sizeof *h) % r->cap;
	size_t done = 0;
	for (int i = 0; i < iovcnt && done < h->len; i++) {
		size_t n = iov[i].len < h->len - done ? iov[i].len : h->len - done;
		ring_read(r, (uint32_t)((pos + done) % r->cap), iov[i].base, n);
		done += n;
	}
	return done;
}

void rt_udp_ring_pop(struct udp_ring *r, const struct udp_frame *h)
{
	r->head = (r->head + (uint32_t)sizeof *h + h->len) % r->cap;
	r->used -= (uint32_t)sizeof *h + h->len;
	r->count--;
}
