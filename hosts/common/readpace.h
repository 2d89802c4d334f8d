/* readpace.h: how many records to read from a socket at one wake-up: one while the traffic is a request and its answer, a batch once a queue builds (caprun's relay, caphostd's sockets). */
#ifndef HOST_READPACE_H
#define HOST_READPACE_H

/*
 * A lone packet (a request, then its answer) takes one read; reading on
 * until EAGAIN, to learn that nothing else waits, would cost a second
 * system call per packet.  So read one and let epoll (level-triggered)
 * report the rest; but when a queue builds up (a bulk transfer) read it all
 * per wake-up, up to READPACE_BATCH, for one epoll_wait per batch instead
 * of per packet.  Which applies is learnt: a full read that found at most
 * one record goes back to single reads, and every READPACE_PROBE_EVERY
 * single reads one full read looks whether a queue built.  A wrong guess
 * costs one system call, as the EAGAIN read did every time.
 */
#define READPACE_BATCH       64
#define READPACE_PROBE_EVERY 8

struct readpace {
	unsigned char burst;     /* 1: a queue builds up: read until EAGAIN (up to a batch) */
	unsigned char singles;   /* single reads since the last full one */
};

/* How many records to read at this wake-up. */
static inline int readpace_limit(struct readpace *p)
{
	if (p->burst || ++p->singles >= READPACE_PROBE_EVERY) {
		p->singles = 0;
		return READPACE_BATCH;
	}
	return 1;
}

/* After a wake-up whose reads, with that limit, got that many records. */
static inline void readpace_learn(struct readpace *p, int limit, int got)
{
	if (limit > 1)
		p->burst = got > 1;
}

#endif
