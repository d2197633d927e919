/* Log-linear latency histogram (see hist.h). */
#include "hist.h"

/* Bucket of v: values below HIST_SUB have their own bucket; above, the
 * position of the top bit picks a group and the next HIST_SUB_BITS bits the
 * bucket inside it. */
static unsigned
hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned top = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = top - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* Largest value that falls into bucket i. */
static uint64_t
hist_upper(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned shift = i / HIST_SUB - 1;
	uint64_t sub = i % HIST_SUB;
	return ((HIST_SUB + sub + 1) << shift) - 1;
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q >= 1.0)
		return h->max;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank) {
			uint64_t up = hist_upper(i);
			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}
