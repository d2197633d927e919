/* SipHash; see siphash.h. Written from the paper's description. */
#include "siphash.h"

#include <endian.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "monoclock.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* The four state words of one hash. */
struct sipstate {
	uint64_t v0, v1, v2, v3;
};

/* One SipRound. */
static inline void
round1(struct sipstate *s)
{
	s->v0 += s->v1;
	s->v1 = ROTL(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = ROTL(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = ROTL(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = ROTL(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = ROTL(s->v2, 32);
}

/* Mixes one 64-bit word in with c rounds. */
static inline void
compress(struct sipstate *s, uint64_t m, int c)
{
	s->v3 ^= m;
	for (int i = 0; i < c; i++)
		round1(s);
	s->v0 ^= m;
}

/* A little-endian word from n <= 8 bytes. */
static inline uint64_t
load_le(const unsigned char *p, size_t n)
{
	uint64_t w = 0;

	memcpy(&w, p, n);
	return le64toh(w);
}

/* SipHash-c-d. */
static inline uint64_t
siphash(const struct siphash_key *key, const void *data, size_t len, int c, int d)
{
	struct sipstate s = {
		key->k0 ^ 0x736f6d6570736575ull,
		key->k1 ^ 0x646f72616e646f6dull,
		key->k0 ^ 0x6c7967656e657261ull,
		key->k1 ^ 0x7465646279746573ull,
	};
	const unsigned char *p = data;
	size_t left = len;

	for (; left >= 8; p += 8, left -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		compress(&s, le64toh(w), c);
	}
	compress(&s, load_le(p, left) | (uint64_t)len << 56, c);
	s.v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		round1(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t
siphash13(const struct siphash_key *key, const void *data, size_t len)
{
	return siphash(key, data, len, 1, 3);
}

uint64_t
siphash24(const struct siphash_key *key, const void *data, size_t len)
{
	return siphash(key, data, len, 2, 4);
}

void
siphash_random_key(struct siphash_key *key)
{
	if (getrandom(key, sizeof *key, 0) == (ssize_t)sizeof *key)
		return;
	key->k0 = (uint64_t)mono_ns() * 0x9e3779b97f4a7c15ull;
	key->k1 = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4full ^ (uintptr_t)key;
}
