/*
 * Topic and filter validation, MQTT style.
 *
 * Valid topics:   "a", "a/b", "a//b", "/a", "a/", "sensors/kitchen/temp",
 *                 "caf\xc3\xa9" (UTF-8), "$SYS/uptime" (valid, but reserved)
 * Invalid topics: "" (empty), "a b" (space), "a/+" and "a/#" (wildcards),
 *                 "a\tb" (control byte), longer than max_topic bytes
 * Valid filters:  "#", "+", "a/#", "a/+/c", "+/+", "/+", "a//#"
 * Invalid:        "a#", "a/#/b" ('#' not last), "a+", "+a/b" ('+' not a whole level)
 *
 * Matching: '+' is exactly one level (possibly empty), '#' is this level and
 * everything below, including the parent ("a/#" matches "a"). Filters starting
 * with a wildcard never match topics starting with '$'.
 */
#include "topic.h"

#include <string.h>

/* A byte that may appear in a topic: printable ASCII but space, or UTF-8. */
static bool
topic_byte_ok(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* Shared check of both kinds; wildcards allowed when filter is true. */
static enum topic_error
check(const char *s, size_t len, size_t max, bool filter)
{
	size_t level_start = 0;

	if (len == 0)
		return TOPIC_EMPTY;
	if (len > max)
		return TOPIC_TOO_LONG;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/') {
			level_start = i + 1;
			continue;
		}
		if (!topic_byte_ok(c))
			return TOPIC_BAD_BYTE;
		if (c != '+' && c != '#')
			continue;
		if (!filter)
			return TOPIC_WILDCARD;
		/* A wildcard must be a whole level... */
		if (i != level_start || (i + 1 < len && s[i + 1] != '/'))
			return TOPIC_WILDCARD;
		/* ...and '#' must be the last one. */
		if (c == '#' && i + 1 != len)
			return TOPIC_WILDCARD;
	}
	return TOPIC_OK;
}

enum topic_error
topic_check(const char *topic, size_t len, size_t max)
{
	return check(topic, len, max, false);
}

enum topic_error
topic_check_filter(const char *filter, size_t len, size_t max)
{
	return check(filter, len, max, true);
}

bool
topic_is_reserved(const char *topic, size_t len)
{
	return len > 0 && topic[0] == '$';
}

bool
topic_matches(const char *f, size_t flen, const char *t, size_t tlen)
{
	size_t fi = 0, ti = 0;

	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		/* Bounds of the current level in filter and topic. */
		const char *fs = f + fi, *ts = t + ti;
		const char *fe = memchr(fs, '/', flen - fi);
		const char *te = memchr(ts, '/', tlen - ti);
		size_t fl = fe ? (size_t)(fe - fs) : flen - fi;
		size_t tl = te ? (size_t)(te - ts) : tlen - ti;

		if (fl == 1 && fs[0] == '#')
			return true;
		if (!(fl == 1 && fs[0] == '+') && (fl != tl || memcmp(fs, ts, fl) != 0))
			return false;
		if (!te) /* topic exhausted: match if the filter is too, or goes on with "/#" */
			return !fe || (flen - (fi + fl) == 2 && fs[fl + 1] == '#');
		if (!fe)
			return false;
		fi += fl + 1;
		ti += tl + 1;
	}
}

const char *
topic_strerror(enum topic_error err)
{
	switch (err) {
	case TOPIC_OK:
		return "valid";
	case TOPIC_EMPTY:
		return "empty";
	case TOPIC_TOO_LONG:
		return "too long";
	case TOPIC_BAD_BYTE:
		return "contains a space or control byte";
	case TOPIC_WILDCARD:
		return "misplaced wildcard";
	}
	return "invalid";
}
