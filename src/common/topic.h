/* Topic and filter validation (MQTT rules), shared by broker, library and tests. */
#ifndef UDSB_TOPIC_H
#define UDSB_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

enum topic_error {
	TOPIC_OK = 0,
	TOPIC_EMPTY,    /* zero bytes */
	TOPIC_TOO_LONG, /* more than the configured maximum */
	TOPIC_BAD_BYTE, /* space or control character: C0, DEL or C1 */
	TOPIC_WILDCARD, /* '+' or '#' in a topic, or misplaced in a filter */
	TOPIC_BAD_UTF8, /* not well-formed UTF-8: overlong, surrogate, > U+10FFFF, cut */
};

/* Checks a topic a client publishes to: 1..max bytes of well-formed UTF-8,
 * no space or control character, no wildcards. */
enum topic_error topic_check(const char *topic, size_t len, size_t max);

/* Checks a subscription filter: a topic where a whole level may be '+'
 * and the last level may be '#'. */
enum topic_error topic_check_filter(const char *filter, size_t len, size_t max);

/* True for the broker's own topics ("$SYS/..."): clients may not publish them. */
bool topic_is_reserved(const char *topic, size_t len);

/* Reference matcher: does the (valid) filter match the (valid) topic?
 * The broker uses its subscription tree instead; this one serves the
 * client library and tests as the plain statement of the rules. */
bool topic_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* Relations of two valid filters, for access rules. covers: every topic
 * that f matches, r matches too (r is at least as wide as f); with a plain
 * topic as f it is topic_matches(). overlaps: some topic matches both. */
bool topic_filter_covers(const char *r, size_t rlen, const char *f, size_t flen);
bool topic_filter_overlaps(const char *r, size_t rlen, const char *f, size_t flen);

/* The length of the well-formed UTF-8 sequence that starts s (n bytes
 * available): 1 for ASCII, 2..4 for a character beyond, 0 if s holds an
 * overlong form, a surrogate, a code point above U+10FFFF, a stray
 * continuation byte or a sequence cut short. n must be at least 1. */
size_t utf8_char_len(const unsigned char *s, size_t n);

/* A short human description of an error, for ERR lines and messages. */
const char *topic_strerror(enum topic_error err);

#endif
