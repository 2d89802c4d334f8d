/* netem.h: test-only fault injection for caphostd's forwarding path: the fault spec, a seeded generator, per-packet verdicts and a timer queue (pure). */
#ifndef HOST_NETEM_H
#define HOST_NETEM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The machines these tests run on have no netem qdisc (docs/NETWORK.md section 6.9),
 * so caphostd injects faults itself, behind `--net-faults SPEC` (testing
 * only, off by default).  SPEC is a comma-separated list, each key at most
 * once, at least one key:
 *
 *   loss=P        drop P percent of packets
 *   dup=P         send P percent twice (the copy gets its own delay)
 *   reorder=P     hold P percent back 1..NETEM_REORDER_MS ms extra, so later ones overtake them
 *   delay=MS      delay every packet MS ms, or
 *   delay=A-B     a uniform A..B ms (0 <= A <= B <= NETEM_DELAY_MAX_MS)
 *
 * P is 0..100 with at most two decimals (0.25).  Everything here is pure:
 * no I/O, no clock, no global state; time is passed in.
 */

#define NETEM_REORDER_MS   20       /* a reordered packet waits 1..this many ms extra */
#define NETEM_DELAY_MAX_MS 10000
#define NETEM_SPEC_MAX     128      /* longest spec text accepted (and formatted) */

struct netem_spec {
	uint32_t loss, dup, reorder;          /* per 10000 (0.01 % steps) */
	uint32_t delay_min_ms, delay_max_ms;
};

/* Parse SPEC; 0, or -1 with one line saying why in err (no trailing newline). */
int netem_parse(const char *text, struct netem_spec *s, char *err, size_t errlen);
/* The canonical text of a spec ("loss=5,dup=2,reorder=5,delay=0-10"), for logs. */
void netem_format(const struct netem_spec *s, char *out, size_t cap);

/* splitmix64: a seed fully determines every verdict that follows. */
struct netem_rng {
	uint64_t state;
};
void netem_rng_seed(struct netem_rng *r, uint64_t seed);
uint64_t netem_rng_next(struct netem_rng *r);

/* What happens to one packet: dropped, or 1-2 copies, each sent after its delay. */
struct netem_verdict {
	uint8_t lost;
	uint8_t copies;          /* 0 when lost, else 1 or 2 */
	uint8_t reordered;       /* copy 0 was held back (copy 1 never is) */
	uint32_t delay_ms[2];    /* per copy; 0 = at once */
};

/*
 * One verdict.  Every call draws the same number of values whatever the
 * outcome, so packet N's fate depends only on the seed and N: a failing
 * run replays with the same seed.
 */
void netem_decide(const struct netem_spec *s, struct netem_rng *r, struct netem_verdict *v);

/* ---- the timer queue: delayed copies wait here, earliest first, FIFO among equals ---- */

struct netem_item {
	uint64_t due_ms;
	uint64_t order;          /* push order: ties leave in the order they came */
	int kind;                /* the caller's: which path sends it */
	uint32_t addr;           /* the caller's (e.g. destination, network order) */
	uint16_t port;
	size_t len;
	uint8_t *data;           /* malloc'ed copy; owned by whoever popped the item */
};

struct netem_queue {
	struct netem_item *heap;
	size_t n, max_items;
	size_t bytes, max_bytes;
	uint64_t next_order;
};

/* 0, or -1 if out of memory.  Bounded by max_items and max_bytes. */
int netem_queue_init(struct netem_queue *q, size_t max_items, size_t max_bytes);
/* Copy data in; 0, or -1 if the queue is full (the caller counts the drop). */
int netem_queue_push(struct netem_queue *q, uint64_t due_ms, int kind, uint32_t addr,
                     uint16_t port, const uint8_t *data, size_t len);
/* The earliest item due at or before now into *out (the caller frees out->data): 1, else 0. */
int netem_queue_pop_due(struct netem_queue *q, uint64_t now_ms, struct netem_item *out);
/* ms until the earliest item is due (0 if already due), -1 if empty. */
long netem_queue_wait(const struct netem_queue *q, uint64_t now_ms);
/* Drop everything (what is still queued is lost, as on a link going down). */
void netem_queue_free(struct netem_queue *q);

#endif
