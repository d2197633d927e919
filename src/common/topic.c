/*
 * Topic and filter validation, MQTT style.
 *
 * Valid topics:   "a", "a/b", "a//b", "/a", "a/", "sensors/kitchen/temp",
 *                 "caf\xc3\xa9" (UTF-8), "$SYS/uptime" (valid, but reserved)
 * Invalid topics: "" (empty), "a b" (space), "a/+" and "a/#" (wildcards),
 *                 "a\tb" (control byte), "a\xc2\x85" (C1 control U+0085),
 *                 "\xc0\xaf" (overlong '/'), "\xed\xa0\x80" (surrogate),
 *                 "\xf4\x90\x80\x80" (above U+10FFFF), "caf\xc3" (cut short),
 *                 "\x80" (stray continuation byte), longer than max_topic bytes
 * Valid filters:  "#", "+", "a/#", "a/+/c", "+/+", "/+", "a//#"
 * Invalid:        "a#", "a/#/b" ('#' not last), "a+", "+a/b" ('+' not a whole level)
 *
 * Matching: '+' is exactly one level (possibly empty), '#' is this level and
 * everything below, including the parent ("a/#" matches "a"). Filters starting
 * with a wildcard never match topics starting with '$'.
 */
#include "topic.h"

#include <stdint.h>
#include <string.h>

#define ONES  UINT64_C(0x0101010101010101)
#define HIGHS (ONES * 0x80)

/* Does any byte of v equal zero? (The classic bit trick: exact for "any".) */
static inline uint64_t
has_zero(uint64_t v)
{
	return (v - ONES) & ~v & HIGHS;
}

/* Are the 8 bytes at s all printable ASCII but space, '+' and '#', bytes
 * check() may skip without looking at them one by one? */
static inline bool
block_plain(const char *s)
{
	uint64_t v, below, above;

	memcpy(&v, s, sizeof v);
	below = (v - ONES * 0x21) & ~v & HIGHS; /* a byte < 0x21 */
	above = ((v + ONES * 1) | v) & HIGHS;   /* a byte > 0x7e: DEL or non-ASCII */
	return (below | above | has_zero(v ^ (ONES * '+')) | has_zero(v ^ (ONES * '#'))) == 0;
}

/* The UTF-8 rules of Unicode's table 3-7, the well-formed byte sequences. */
size_t
utf8_char_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xc2) /* a continuation byte, or the lead of an overlong pair */
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates U+D800..U+DFFF */
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0; /* above U+10FFFF, or no UTF-8 lead at all */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Shared check of both kinds; wildcards allowed when filter is true. Plain
 * ASCII goes 8 bytes at a time; UTF-8 is decoded only where a byte >= 0x80
 * is, so the common topic costs a few word operations. */
static enum topic_error
check(const char *s, size_t len, size_t max, bool filter)
{
	size_t i = 0;

	if (len == 0)
		return TOPIC_EMPTY;
	if (len > max)
		return TOPIC_TOO_LONG;
	while (i < len) {
		unsigned char c;

		if (len - i >= 8 && block_plain(s + i)) {
			i += 8;
			continue;
		}
		c = (unsigned char)s[i];
		if (c >= 0x80) {
			const unsigned char *u = (const unsigned char *)s + i;
			size_t n = utf8_char_len(u, len - i);

			if (n == 0)
				return TOPIC_BAD_UTF8;
			if (n == 2 && c == 0xc2 && u[1] < 0xa0)
				return TOPIC_BAD_BYTE; /* C1 control, U+0080..U+009F */
			i += n;
			continue;
		}
		if (c < 0x21 || c == 0x7f)
			return TOPIC_BAD_BYTE;
		if (c == '+' || c == '#') {
			if (!filter)
				return TOPIC_WILDCARD;
			/* A wildcard must be a whole level... */
			if ((i > 0 && s[i - 1] != '/') || (i + 1 < len && s[i + 1] != '/'))
				return TOPIC_WILDCARD;
			/* ...and '#' must be the last one. */
			if (c == '#' && i + 1 != len)
				return TOPIC_WILDCARD;
		}
		i++;
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

/* Cursor over the levels of a filter. */
struct levels {
	const char *s;
	size_t len;
	size_t pos;  /* start of the current level */
	size_t llen; /* its length */
	bool done;   /* no level left */
};

static void
levels_init(struct levels *l, const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);

	*l = (struct levels){ s, len, 0, slash ? (size_t)(slash - s) : len, false };
}

static void
levels_next(struct levels *l)
{
	const char *slash;

	if (l->pos + l->llen >= l->len) {
		l->done = true;
		return;
	}
	l->pos += l->llen + 1;
	slash = memchr(l->s + l->pos, '/', l->len - l->pos);
	l->llen = slash ? (size_t)(slash - (l->s + l->pos)) : l->len - l->pos;
}

/* Is the current level the single character c? */
static bool
level_is(const struct levels *l, char c)
{
	return !l->done && l->llen == 1 && l->s[l->pos] == c;
}

/* Does the rest of l, from its current level, consist of exactly "#"? */
static bool
rest_is_hash(const struct levels *l)
{
	return level_is(l, '#') && l->pos + 1 == l->len;
}

/* Do the levels before l's current one spell the empty topic ""? (That
 * "parent" of "/#" is no topic at all.) */
static bool
prefix_is_empty_topic(const struct levels *l)
{
	return l->pos == 1 && l->s[0] == '/';
}

/* Is the rest of l exactly "+/#"? */
static bool
rest_is_plus_hash(const struct levels *l)
{
	return level_is(l, '+') && l->pos + 3 == l->len && l->s[l->pos + 2] == '#';
}

/* Wildcards in the first level never match '$' topics: true when one
 * filter can only match '$' topics and the other cannot match any. */
static bool
dollar_apart(const char *a, size_t alen, const char *b, size_t blen)
{
	bool a_dollar = alen > 0 && a[0] == '$', b_dollar = blen > 0 && b[0] == '$';
	bool a_wild = alen > 0 && (a[0] == '+' || a[0] == '#');
	bool b_wild = blen > 0 && (b[0] == '+' || b[0] == '#');

	return (a_dollar && b_wild) || (b_dollar && a_wild);
}

bool
topic_filter_covers(const char *r, size_t rlen, const char *f, size_t flen)
{
	struct levels lr, lf;

	if (dollar_apart(r, rlen, f, flen))
		return false;
	levels_init(&lr, r, rlen);
	levels_init(&lf, f, flen);
	for (;;) {
		if (lf.done) /* "a/#" covers "a" */
			return lr.done || rest_is_hash(&lr);
		if (lr.done)
			return false;
		if (level_is(&lr, '#'))
			return true;
		if (level_is(&lf, '#')) {
			/* f takes any number of further levels, at least one
			 * where the topic would otherwise be empty. */
			bool one_or_more = lf.pos == 0 || prefix_is_empty_topic(&lf);

			return one_or_more && rest_is_plus_hash(&lr);
		}
		if (!level_is(&lr, '+') && (level_is(&lf, '+') || lr.llen != lf.llen ||
		                            memcmp(r + lr.pos, f + lf.pos, lr.llen) != 0))
			return false;
		levels_next(&lr);
		levels_next(&lf);
	}
}

bool
topic_filter_overlaps(const char *r, size_t rlen, const char *f, size_t flen)
{
	struct levels lr, lf;

	if (dollar_apart(r, rlen, f, flen))
		return false;
	levels_init(&lr, r, rlen);
	levels_init(&lf, f, flen);
	for (;;) {
		if (lr.done && lf.done)
			return true;
		if (lr.done || lf.done) /* the witness is the prefix itself */
			return (rest_is_hash(&lr) && !prefix_is_empty_topic(&lr)) ||
			       (rest_is_hash(&lf) && !prefix_is_empty_topic(&lf));
		if (level_is(&lr, '#') || level_is(&lf, '#'))
			return true;
		if (!level_is(&lr, '+') && !level_is(&lf, '+') &&
		    (lr.llen != lf.llen || memcmp(r + lr.pos, f + lf.pos, lr.llen) != 0))
			return false;
		levels_next(&lr);
		levels_next(&lf);
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
		return "contains a space or control character";
	case TOPIC_WILDCARD:
		return "misplaced wildcard";
	case TOPIC_BAD_UTF8:
		return "is not well-formed UTF-8";
	}
	return "invalid";
}
