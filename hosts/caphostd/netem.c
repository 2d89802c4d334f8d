/* netem.c: parse a fault spec, draw per-packet verdicts from a seeded generator, and keep delayed packets in a timer heap (netem.h). */
#include "hosts/caphostd/netem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "12", "0.5", "100.00" -> hundredths (1200, 50, 10000); -1 if not a percentage. */
static long parse_percent(const char *v, size_t n)
{
	long whole = 0, frac = 0;
	size_t i = 0, digits = 0, fdigits = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
		if ((whole = whole * 10 + (v[i] - '0')) > 100)
			return -1;
	if (!digits)
		return -1;
	if (i < n && v[i] == '.') {
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, fdigits++)
			frac = frac * 10 + (v[i] - '0');
		if (fdigits == 0 || fdigits > 2)
			return -1;
		if (fdigits == 1)
			frac *= 10;
	}
	long r = whole * 100 + frac;
	return i == n && r <= 10000 ? r : -1;
}

/* Milliseconds 0..NETEM_DELAY_MAX_MS; -1 otherwise. */
static long parse_ms(const char *v, size_t n)
{
	long x = 0;
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x <= NETEM_DELAY_MAX_MS ? x : -1;
}

int netem_parse(const char *text, struct netem_spec *s, char *err, size_t errlen)
{
	static const char *const keys[] = { "loss", "dup", "reorder", "delay" };
	unsigned seen = 0;
	memset(s, 0, sizeof *s);
	if (!text || !*text) {
		snprintf(err, errlen, "empty fault spec (want e.g. loss=5,dup=2,reorder=5,delay=0-10)");
		return -1;
	}
	if (strlen(text) > NETEM_SPEC_MAX) {
		snprintf(err, errlen, "fault spec longer than %d characters", NETEM_SPEC_MAX);
		return -1;
	}
	const char *p = text;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kl = eq ? (size_t)(eq - p) : n;
		unsigned k = 0;
		while (k < 4 && !(strlen(keys[k]) == kl && strncmp(p, keys[k], kl) == 0))
			k++;
		if (k == 4 || !eq) {
			snprintf(err, errlen, "fault spec: '%.*s' is not loss=P, dup=P, reorder=P or delay=MS[-MS]",
			         (int)n, p);
			return -1;
		}
		if (seen & (1u << k)) {
			snprintf(err, errlen, "fault spec: %s given twice", keys[k]);
			return -1;
		}
		seen |= 1u << k;
		const char *v = eq + 1;
		size_t vl = n - kl - 1;
		if (k < 3) {
			long pc = parse_percent(v, vl);
			if (pc < 0) {
				snprintf(err, errlen, "fault spec: %s=%.*s: want a percentage 0..100 "
				         "(at most two decimals)", keys[k], (int)vl, v);
				return -1;
			}
			*(k == 0 ? &s->loss : k == 1 ? &s->dup : &s->reorder) = (uint32_t)pc;
		} else {
			const char *dash = memchr(v, '-', vl);
			long a = parse_ms(v, dash ? (size_t)(dash - v) : vl);
			long b = dash ? parse_ms(dash + 1, vl - (size_t)(dash - v) - 1) : a;
			if (a < 0 || b < 0 || a > b) {
				snprintf(err, errlen, "fault spec: delay=%.*s: want MS or MIN-MAX "
				         "(0 <= MIN <= MAX <= %d)", (int)vl, v, NETEM_DELAY_MAX_MS);
				return -1;
			}
			s->delay_min_ms = (uint32_t)a;
			s->delay_max_ms = (uint32_t)b;
		}
		if (!end)
			return 0;
		p = end + 1;
	}
}

static int put_percent(char *out, size_t cap, const char *key, uint32_t v)
{
	if (v % 100 == 0)
		return snprintf(out, cap, "%s=%u,", key, v / 100);
	return snprintf(out, cap, "%s=%u.%02u,", key, v / 100, v % 100);
}

void netem_format(const struct netem_spec *s, char *out, size_t cap)
{
	size_t o = 0;
	if (!cap)
		return;
	out[0] = 0;
	o += (size_t)put_percent(out + o, cap - o, "loss", s->loss);
	if (o < cap)
		o += (size_t)put_percent(out + o, cap - o, "dup", s->dup);
	if (o < cap)
		o += (size_t)put_percent(out + o, cap - o, "reorder", s->reorder);
	if (o < cap)
		snprintf(out + o, cap - o, "delay=%u-%u", s->delay_min_ms, s->delay_max_ms);
}

void netem_rng_seed(struct netem_rng *r, uint64_t seed) { r->state = seed; }

uint64_t netem_rng_next(struct netem_rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 0..n-1; the tiny modulo bias is irrelevant for fault rates. */
static uint32_t below(struct netem_rng *r, uint32_t n) { return (uint32_t)(netem_rng_next(r) % n); }

void netem_decide(const struct netem_spec *s, struct netem_rng *r, struct netem_verdict *v)
{
	uint32_t span = s->delay_max_ms - s->delay_min_ms + 1;
	/* Always the same six draws, in this order (see netem.h). */
	uint32_t lose = below(r, 10000), dup = below(r, 10000), reorder = below(r, 10000);
	uint32_t d0 = s->delay_min_ms + below(r, span), d1 = s->delay_min_ms + below(r, span);
	uint32_t back = 1 + below(r, NETEM_REORDER_MS);
	memset(v, 0, sizeof *v);
	if (lose < s->loss) {
		v->lost = 1;
		return;
	}
	v->copies = dup < s->dup ? 2 : 1;
	v->delay_ms[0] = d0;
	v->delay_ms[1] = v->copies == 2 ? d1 : 0;
	if (reorder < s->reorder) {
		v->reordered = 1;
		v->delay_ms[0] += back;
	}
}

/* ---- timer heap ---- */

int netem_queue_init(struct netem_queue *q, size_t max_items, size_t max_bytes)
{
	memset(q, 0, sizeof *q);
	q->heap = calloc(max_items ? max_items : 1, sizeof *q->heap);
	if (!q->heap)
		return -1;
	q->max_items = max_items;
	q->max_bytes = max_bytes;
	return 0;
}

static int earlier(const struct netem_item *a, const struct netem_item *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->order < b->order);
}

static void swap_items(struct netem_item *a, struct netem_item *b)
{
	struct netem_item t = *a;
	*a = *b;
	*b = t;
}

int netem_queue_push(struct netem_queue *q, uint64_t due_ms, int kind, uint32_t addr,
                     uint16_t port, const uint8_t *data, size_t len)
{
	if (q->n >= q->max_items || q->bytes + len > q->max_bytes)
		return -1;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -1;
	if (len)
		memcpy(copy, data, len);
	size_t i = q->n++;
	q->heap[i] = (struct netem_item){ .due_ms = due_ms, .order = q->next_order++, .kind = kind,
	                                  .addr = addr, .port = port, .len = len, .data = copy };
	q->bytes += len;
	while (i > 0 && earlier(&q->heap[i], &q->heap[(i - 1) / 2])) {
		swap_items(&q->heap[i], &q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

int netem_queue_pop_due(struct netem_queue *q, uint64_t now_ms, struct netem_item *out)
{
	if (q->n == 0 || q->heap[0].due_ms > now_ms)
		return 0;
	*out = q->heap[0];
	q->bytes -= out->len;
	q->heap[0] = q->heap[--q->n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < q->n && earlier(&q->heap[l], &q->heap[m]))
			m = l;
		if (r < q->n && earlier(&q->heap[r], &q->heap[m]))
			m = r;
		if (m == i)
			break;
		swap_items(&q->heap[i], &q->heap[m]);
		i = m;
	}
	return 1;
}

long netem_queue_wait(const struct netem_queue *q, uint64_t now_ms)
{
	if (q->n == 0)
		return -1;
	return q->heap[0].due_ms > now_ms ? (long)(q->heap[0].due_ms - now_ms) : 0;
}

void netem_queue_free(struct netem_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->heap[i].data);
	free(q->heap);
	memset(q, 0, sizeof *q);
}
