/*
 * A latency histogram for udsbench: log-linear buckets (128 per power of
 * two, so any reported percentile is within 0.8% of the true sample), fixed
 * size, no allocation per sample. Values are nanoseconds.
 */
#ifndef UDSBENCH_HIST_H
#define UDSBENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

/* Adds one sample. */
void hist_add(struct hist *h, uint64_t v);

/* The value below which a fraction q (0..1) of the samples lie; 0 when empty.
 * q = 1 gives the exact maximum. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
