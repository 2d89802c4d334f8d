/* timers.c: the list of armed timers on the capsule's clocks, fired by the scheduler (rt_timer.h). */
#include <time.h>
#include "runtime/rt_host.h"
#include "runtime/rt_timer.h"

static struct rt_timer *armed_list;
int rt_timers_armed;

uint64_t rt_timer_clock_now(int realtime, uint64_t vnow)
{
	if (!realtime)
		return vnow;
	int64_t ns = 0;
	rt_host_clock(CLOCK_REALTIME, &ns);
	return ns > 0 ? (uint64_t)ns : 0;
}

uint64_t rt_timer_expirations(uint64_t *due, uint64_t interval, uint64_t now)
{
	if (!*due || now < *due)
		return 0;
	if (!interval) {
		*due = 0;
		return 1;
	}
	uint64_t n = 1 + (now - *due) / interval;
	*due += n * interval;
	return n;
}

void rt_timer_disarm(struct rt_timer *t)
{
	if (!t->armed)
		return;
	for (struct rt_timer **p = &armed_list; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	t->next = 0;
	t->armed = 0;
	rt_timers_armed--;
}

void rt_timer_arm(struct rt_timer *t, uint64_t due, int realtime)
{
	rt_timer_disarm(t);
	t->due = due ? due : 1;
	t->realtime = realtime;
	t->armed = 1;
	t->next = armed_list;
	armed_list = t;
	rt_timers_armed++;
}

uint64_t rt_timers_run(uint64_t now)
{
	if (!armed_list)
		return 0;
	int have_real = 0;
	uint64_t real_now = 0;
	for (;;) {
		uint64_t earliest = 0;
		struct rt_timer *fired = 0;
		for (struct rt_timer *t = armed_list; t; t = t->next) {
			if (t->realtime && !have_real) {
				real_now = rt_timer_clock_now(1, now);
				have_real = 1;
			}
			uint64_t clock_now = t->realtime ? real_now : now;
			if (t->due <= clock_now) {
				fired = t;
				break;
			}
			/* A wall-clock deadline, as the virtual time it is that far from now. */
			uint64_t v = t->realtime ? now + (t->due - real_now) : t->due;
			if (!earliest || v < earliest)
				earliest = v;
		}
		if (!fired)
			return earliest;
		/* The callback may re-arm it (or others): start the scan again afterwards. */
		rt_timer_disarm(fired);
		fired->fire(fired);
	}
}
