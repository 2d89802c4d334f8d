/* clock.c: the host programs' one monotonic millisecond clock (clock.h). */
#include "hosts/common/clock.h"

#include <time.h>

uint64_t clock_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}
