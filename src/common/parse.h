/*
 * Parsing numbers (and names) from configuration, options and the environment: pure,
 * strict (digits only: no sign, no spaces, nothing after), shared by the
 * daemon, the client library and udsctl.
 */
#ifndef UDSB_PARSE_H
#define UDSB_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum parse_status {
	PARSE_OK = 0,
	PARSE_INVALID = -1, /* not a number of that kind, or too large for its type */
	PARSE_RANGE = -2,   /* a number, but outside [min, max]: *out holds it */
};

/* Parses a decimal in [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses octal digits (a file mode: "0660", "7") in [0, max]. */
int parse_octal(const char *s, uint64_t max, uint64_t *out);

/* Parses a size: a decimal with an optional K or M suffix (either case,
 * powers of 1024), in [min, max]. */
int parse_size(const char *s, size_t min, size_t max, size_t *out);

/* Parses a positive number of seconds, decimals allowed ("1.5"), at most
 * max_s, into milliseconds rounded up (never shorter than asked, at least
 * 1). PARSE_INVALID for anything else, NaN and infinity included. */
int parse_seconds_ms(const char *s, double max_s, int *ms);

/* Is s (len bytes) a name as the config gives listeners and bridges: 1 to
 * max letters, digits, '-', '_' and '.'? Such a name goes into $SYS topics,
 * STATS keys and the meta's via= as it is. */
bool parse_is_name(const char *s, size_t len, size_t max);

#endif
