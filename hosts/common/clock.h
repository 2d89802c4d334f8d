/* clock.h: the host programs' one clock: monotonic milliseconds for deadlines and timers (never jumps with the wall clock), nanoseconds for capsule clocks. */
#ifndef HOST_CLOCK_H
#define HOST_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ms: survives a daemon restart (the same boot), not a reboot. */
uint64_t clock_now_ms(void);
/* clk (CLOCK_MONOTONIC, CLOCK_REALTIME) in ns: a capsule's clock offsets and snapshot times. */
int64_t clock_now_ns(clockid_t clk);

/*
 * Where a migration's time goes, for the benchmarks: with $CAPSULE_TRACE naming a file,
 * one line "MS.US PID what" per call, CLOCK_MONOTONIC (comparable between the processes
 * of one machine); without it, nothing.
 */
#define CLOCK_TRACE_ENV "CAPSULE_TRACE"
void clock_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
