/* The monotonic clock, for deadlines, round trips and uptime: shared by
 * the daemon, the client library and udsctl. */
#ifndef UDSB_MONOCLOCK_H
#define UDSB_MONOCLOCK_H

#include <stdint.h>

/* Nanoseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t mono_ns(void);

/* The same in milliseconds. */
int64_t mono_ms(void);

#endif
