/*
 * SipHash (Aumasson and Bernstein), a keyed hash: without the 128-bit key,
 * nobody can choose inputs that collide. The subscription tree keys it with
 * a random per-process key, so crafted topic names cost what random ones do.
 */
#ifndef UDSB_SIPHASH_H
#define UDSB_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

/* SipHash-1-3: one round per word, three to finish; the variant hash
 * tables use (Python, Rust), fast on short keys such as topic levels. */
uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len);

/* SipHash-2-4, the variant of the paper, for its test vectors. */
uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

/* A key from getrandom(); falls back on the clock and the pid only if the
 * kernel has no entropy call (never on Linux >= 3.17). */
void siphash_random_key(struct siphash_key *key);

#endif
