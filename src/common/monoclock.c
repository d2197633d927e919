/* The monotonic clock; see monoclock.h. */
#include "monoclock.h"

#include <time.h>

/* Reads CLOCK_MONOTONIC in nanoseconds. */
int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads CLOCK_MONOTONIC in milliseconds. */
int64_t
mono_ms(void)
{
	return mono_ns() / 1000000;
}
