/* clock.h: the host programs' one clock: monotonic milliseconds, for deadlines and timers (never jumps with the wall clock). */
#ifndef HOST_CLOCK_H
#define HOST_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms: survives a daemon restart (the same boot), not a reboot. */
uint64_t clock_now_ms(void);

#endif
