/* clock.c: the host programs' one clock (clock.h). */
#include "hosts/common/clock.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t clock_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int64_t clock_now_ns(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void clock_trace(const char *fmt, ...)
{
	static int fd = -2;
	if (fd == -2) {
		const char *path = getenv(CLOCK_TRACE_ENV);
		fd = path && *path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
	}
	if (fd < 0)
		return;
	char line[256];
	int64_t us = clock_now_ns(CLOCK_MONOTONIC) / 1000;
	int n = snprintf(line, sizeof line, "%lld.%03lld %d ", (long long)(us / 1000),
	                 (long long)(us % 1000), (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m < (int)(sizeof line - (size_t)n - 1) ? m : (int)(sizeof line - (size_t)n - 2);
	line[n++] = '\n';
	/* One write with O_APPEND: lines of several processes never interleave. */
	(void)!write(fd, line, (size_t)n);
}
