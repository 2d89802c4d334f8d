/* clock.h: the host programs' one clock: monotonic milliseconds for deadlines and timers (never jumps with the wall clock), nanoseconds for capsule clocks. */
#ifndef HOST_CLOCK_H
#define HOST_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ms: survives a daemon restart (the same boot), not a reboot. */
uint64_t clock_now_ms(void);
/* clk (CLOCK_MONOTONIC, CLOCK_REALTIME) in ns: a capsule's clock offsets and snapshot times. */
int64_t clock_now_ns(clockid_t clk);

#endif
