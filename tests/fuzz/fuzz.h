/*
 * Shared by the fuzz targets: the libFuzzer entry point, a check that
 * aborts (so libFuzzer, ASan and the replay runner all see a crash), and a
 * reader that takes bytes off the front of the input.
 */
#ifndef UDSB_FUZZ_H
#define UDSB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; every target defines it. Returns 0 (libFuzzer's rule). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a crash, whatever the build. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The part of the input not taken yet. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

/* The next byte, or 0 once the input is exhausted. */
static inline uint8_t
fuzz_byte(struct fuzz_input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

#endif
