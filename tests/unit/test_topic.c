/* Topic and filter validation and the reference matcher (src/common/topic.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "match_table.h"
#include "topic.h"

#define MAX 256

/* One validation case: len 0 means strlen(s), for strings without NUL. */
struct check_case {
	const char *s;
	size_t len;
	enum topic_error want;
};

static size_t
len_of(const struct check_case *c)
{
	return c->len ? c->len : strlen(c->s);
}

static const struct check_case topic_cases[] = {
	{ "a", 0, TOPIC_OK },
	{ "a/b", 0, TOPIC_OK },
	{ "a//b", 0, TOPIC_OK },
	{ "/a", 0, TOPIC_OK },
	{ "a/", 0, TOPIC_OK },
	{ "/", 0, TOPIC_OK },
	{ "//", 0, TOPIC_OK },
	{ "$SYS/uptime", 0, TOPIC_OK }, /* valid, though reserved */
	{ "caf\xc3\xa9", 0, TOPIC_OK },
	{ "\xe2\x82\xac/\xf0\x9f\x98\x80", 0, TOPIC_OK }, /* U+20AC, U+1F600 */
	{ "\xc2\xa0", 0, TOPIC_OK },                      /* U+00A0, first after C1 */
	{ "\xf4\x8f\xbf\xbf", 0, TOPIC_OK },              /* U+10FFFF, the last */
	{ "\xed\x9f\xbf\xee\x80\x80", 0, TOPIC_OK },      /* U+D7FF, U+E000 */
	{ "\x80\xff", 0, TOPIC_BAD_UTF8 },
	{ "!\"$%&'()*,-.:;<=>?@[\\]^_`{|}~", 0, TOPIC_OK },
	{ "", 0, TOPIC_EMPTY },
	{ "a b", 0, TOPIC_BAD_BYTE },
	{ " ", 0, TOPIC_BAD_BYTE },
	{ "a\tb", 0, TOPIC_BAD_BYTE },
	{ "a\nb", 0, TOPIC_BAD_BYTE },
	{ "a\r", 0, TOPIC_BAD_BYTE },
	{ "\x01", 0, TOPIC_BAD_BYTE },
	{ "\x1f", 0, TOPIC_BAD_BYTE },
	{ "a\x7f", 0, TOPIC_BAD_BYTE },
	{ "a\0b", 3, TOPIC_BAD_BYTE },
	{ "a/+", 0, TOPIC_WILDCARD },
	{ "a/#", 0, TOPIC_WILDCARD },
	{ "+", 0, TOPIC_WILDCARD },
	{ "#", 0, TOPIC_WILDCARD },
	{ "a+b", 0, TOPIC_WILDCARD },
	{ "a#", 0, TOPIC_WILDCARD },
};

static const struct check_case filter_cases[] = {
	{ "a", 0, TOPIC_OK },
	{ "#", 0, TOPIC_OK },
	{ "+", 0, TOPIC_OK },
	{ "a/#", 0, TOPIC_OK },
	{ "a/+/c", 0, TOPIC_OK },
	{ "+/+", 0, TOPIC_OK },
	{ "/+", 0, TOPIC_OK },
	{ "+/", 0, TOPIC_OK },
	{ "/#", 0, TOPIC_OK },
	{ "a//#", 0, TOPIC_OK },
	{ "a//b", 0, TOPIC_OK },
	{ "+/#", 0, TOPIC_OK },
	{ "+/+/+", 0, TOPIC_OK },
	{ "$SYS/#", 0, TOPIC_OK },
	{ "/", 0, TOPIC_OK },
	{ "a#", 0, TOPIC_WILDCARD },
	{ "a/#/b", 0, TOPIC_WILDCARD },
	{ "#/a", 0, TOPIC_WILDCARD },
	{ "#/", 0, TOPIC_WILDCARD },
	{ "a/#/", 0, TOPIC_WILDCARD },
	{ "##", 0, TOPIC_WILDCARD },
	{ "a+", 0, TOPIC_WILDCARD },
	{ "+a", 0, TOPIC_WILDCARD },
	{ "++", 0, TOPIC_WILDCARD },
	{ "a/b+", 0, TOPIC_WILDCARD },
	{ "a/+b/c", 0, TOPIC_WILDCARD },
	{ "+#", 0, TOPIC_WILDCARD },
	{ "", 0, TOPIC_EMPTY },
	{ "a b", 0, TOPIC_BAD_BYTE },
	{ "a/\x01", 0, TOPIC_BAD_BYTE },
	{ "a\x7f/#", 0, TOPIC_BAD_BYTE },
	{ "+/\0", 3, TOPIC_BAD_BYTE },
	{ "a/\xc2\x9f/#", 0, TOPIC_BAD_BYTE },
	{ "+/\xc0\xaf", 0, TOPIC_BAD_UTF8 },
	{ "caf\xc3/#", 0, TOPIC_BAD_UTF8 },
	{ "\xed\xbf\xbf/+", 0, TOPIC_BAD_UTF8 },
	{ "\xe2\x82\xac/+/\xf0\x9f\x98\x80/#", 0, TOPIC_OK },
};

/* Well-formed UTF-8 (SPEC "Topics and filters", as MQTT requires): each
 * case is put alone, after 1..17 ASCII bytes (so that it falls anywhere in
 * the 8-byte blocks the fast path skips), and before a level; as topic and
 * as filter it must get the same answer. */
static const struct check_case utf8_cases[] = {
	{ "\xc3\xa9", 0, TOPIC_OK },                       /* U+00E9 */
	{ "\xdf\xbf", 0, TOPIC_OK },                       /* U+07FF, the last of two bytes */
	{ "\xe0\xa0\x80", 0, TOPIC_OK },                   /* U+0800, the first of three */
	{ "\xef\xbf\xbd", 0, TOPIC_OK },                   /* U+FFFD */
	{ "\xf0\x90\x80\x80", 0, TOPIC_OK },               /* U+10000, the first of four */
	{ "\xf4\x8f\xbf\xbf", 0, TOPIC_OK },               /* U+10FFFF */
	{ "\xc2\x80", 0, TOPIC_BAD_BYTE },                 /* U+0080, C1 control */
	{ "\xc2\x85", 0, TOPIC_BAD_BYTE },                 /* U+0085, NEL */
	{ "\xc2\x9f", 0, TOPIC_BAD_BYTE },                 /* U+009F, the last C1 */
	{ "\xc0\x80", 0, TOPIC_BAD_UTF8 },                 /* overlong NUL */
	{ "\xc0\xaf", 0, TOPIC_BAD_UTF8 },                 /* overlong '/' */
	{ "\xc1\xbf", 0, TOPIC_BAD_UTF8 },                 /* overlong U+007F */
	{ "\xe0\x80\xaf", 0, TOPIC_BAD_UTF8 },             /* overlong '/' in three */
	{ "\xe0\x9f\xbf", 0, TOPIC_BAD_UTF8 },             /* overlong U+07FF */
	{ "\xf0\x80\x80\xaf", 0, TOPIC_BAD_UTF8 },         /* overlong '/' in four */
	{ "\xf0\x8f\xbf\xbf", 0, TOPIC_BAD_UTF8 },         /* overlong U+FFFF */
	{ "\xed\xa0\x80", 0, TOPIC_BAD_UTF8 },             /* U+D800, a surrogate */
	{ "\xed\xbf\xbf", 0, TOPIC_BAD_UTF8 },             /* U+DFFF */
	{ "\xed\xa0\xbd\xed\xb8\x80", 0, TOPIC_BAD_UTF8 }, /* CESU-8 pair */
	{ "\xf4\x90\x80\x80", 0, TOPIC_BAD_UTF8 },         /* U+110000 */
	{ "\xf5\x80\x80\x80", 0, TOPIC_BAD_UTF8 },
	{ "\xf7\xbf\xbf\xbf", 0, TOPIC_BAD_UTF8 },         /* U+1FFFFF */
	{ "\xf8\x88\x80\x80\x80", 0, TOPIC_BAD_UTF8 },     /* five bytes */
	{ "\xfc\x84\x80\x80\x80\x80", 0, TOPIC_BAD_UTF8 }, /* six bytes */
	{ "\xfe", 0, TOPIC_BAD_UTF8 },
	{ "\xff", 0, TOPIC_BAD_UTF8 },
	{ "\x80", 0, TOPIC_BAD_UTF8 }, /* a stray continuation byte */
	{ "\xbf", 0, TOPIC_BAD_UTF8 },
	{ "\xc3", 0, TOPIC_BAD_UTF8 }, /* cut short */
	{ "\xe2\x82", 0, TOPIC_BAD_UTF8 },
	{ "\xf0\x9f\x98", 0, TOPIC_BAD_UTF8 },
	{ "\xc3\x28", 0, TOPIC_BAD_UTF8 }, /* continuation byte missing */
	{ "\xe2\x28\xa1", 0, TOPIC_BAD_UTF8 },
	{ "\xe2\x82\x28", 0, TOPIC_BAD_UTF8 },
	{ "\xf0\x9f\x98\x28", 0, TOPIC_BAD_UTF8 },
	{ "\xc3\xa9\xa9", 0, TOPIC_BAD_UTF8 }, /* one continuation byte too many */
};

/* Runs one UTF-8 case at every offset of a longer topic and filter. */
static void
check_utf8_at(const struct check_case *c, size_t prefix, const char *suffix)
{
	char buf[64];
	size_t n = len_of(c), sn = strlen(suffix), len = prefix + n + sn;

	cr_assert_lt(len, sizeof buf);
	memset(buf, 'p', prefix);
	memcpy(buf + prefix, c->s, n);
	memcpy(buf + prefix + n, suffix, sn);
	cr_expect_eq(topic_check(buf, len, MAX), c->want,
	             "topic_check(%zu x 'p' + case \"%s\" + \"%s\"): got %d, want %d", prefix, c->s,
	             suffix, topic_check(buf, len, MAX), c->want);
	cr_expect_eq(topic_check_filter(buf, len, MAX), c->want,
	             "topic_check_filter(%zu x 'p' + case \"%s\" + \"%s\"): got %d, want %d",
	             prefix, c->s, suffix, topic_check_filter(buf, len, MAX), c->want);
}

Test(topic, utf8_well_formed)
{
	for (size_t i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++) {
		const struct check_case *c = &utf8_cases[i];

		cr_expect_eq(topic_check(c->s, len_of(c), MAX), c->want,
		             "topic_check case %zu (\"%s\"): got %d, want %d", i, c->s,
		             topic_check(c->s, len_of(c), MAX), c->want);
		for (size_t prefix = 0; prefix <= 17; prefix++) {
			check_utf8_at(c, prefix, "");
			check_utf8_at(c, prefix, "/level/x");
		}
	}
}

/* utf8_char_len() itself, the length of each well-formed character. */
Test(topic, utf8_char_len)
{
	cr_expect_eq(utf8_char_len((const unsigned char *)"a", 1), 1);
	cr_expect_eq(utf8_char_len((const unsigned char *)"\xc3\xa9", 2), 2);
	cr_expect_eq(utf8_char_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	cr_expect_eq(utf8_char_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	/* Only n bytes count, whatever follows them. */
	cr_expect_eq(utf8_char_len((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
	cr_expect_eq(utf8_char_len((const unsigned char *)"\xc3\xa9", 1), 0);
}

/* Every byte value, alone and after ASCII at every block offset: the fast
 * path agrees with the plain byte rule for ASCII and never lets a lone
 * byte >= 0x80 through. */
Test(topic, every_single_byte)
{
	for (unsigned b = 0; b < 256; b++) {
		for (size_t prefix = 0; prefix <= 17; prefix++) {
			char buf[32];
			enum topic_error want;

			memset(buf, 'q', sizeof buf);
			buf[prefix] = (char)b;
			if (b == '+' || b == '#')
				want = TOPIC_WILDCARD;
			else if (b >= 0x80)
				want = TOPIC_BAD_UTF8;
			else if (b < 0x21 || b == 0x7f)
				want = TOPIC_BAD_BYTE;
			else
				want = TOPIC_OK;
			cr_expect_eq(topic_check(buf, 20, MAX), want, "byte 0x%02x at %zu: got %d",
			             b, prefix, topic_check(buf, 20, MAX));
		}
	}
}

Test(topic, check_table)
{
	for (size_t i = 0; i < sizeof topic_cases / sizeof topic_cases[0]; i++) {
		const struct check_case *c = &topic_cases[i];

		cr_expect_eq(topic_check(c->s, len_of(c), MAX), c->want,
		             "topic_check case %zu (\"%s\"): got %d, want %d", i, c->s,
		             topic_check(c->s, len_of(c), MAX), c->want);
	}
}

Test(topic, check_filter_table)
{
	for (size_t i = 0; i < sizeof filter_cases / sizeof filter_cases[0]; i++) {
		const struct check_case *c = &filter_cases[i];

		cr_expect_eq(topic_check_filter(c->s, len_of(c), MAX), c->want,
		             "topic_check_filter case %zu (\"%s\"): got %d, want %d", i, c->s,
		             topic_check_filter(c->s, len_of(c), MAX), c->want);
	}
}

/* Every topic valid as a topic is valid as a filter too. */
Test(topic, valid_topics_are_valid_filters)
{
	for (size_t i = 0; i < sizeof topic_cases / sizeof topic_cases[0]; i++) {
		const struct check_case *c = &topic_cases[i];

		if (c->want == TOPIC_OK)
			cr_expect_eq(topic_check_filter(c->s, len_of(c), MAX), TOPIC_OK, "\"%s\"",
			             c->s);
	}
}

Test(topic, length_limit)
{
	char buf[MAX + 2];

	memset(buf, 'x', sizeof buf);
	buf[10] = '/';
	cr_expect_eq(topic_check(buf, MAX, MAX), TOPIC_OK);
	cr_expect_eq(topic_check(buf, MAX + 1, MAX), TOPIC_TOO_LONG);
	cr_expect_eq(topic_check_filter(buf, MAX, MAX), TOPIC_OK);
	cr_expect_eq(topic_check_filter(buf, MAX + 1, MAX), TOPIC_TOO_LONG);
	/* The limit is the caller's, not a constant. */
	cr_expect_eq(topic_check("abc", 3, 3), TOPIC_OK);
	cr_expect_eq(topic_check("abc", 3, 2), TOPIC_TOO_LONG);
	cr_expect_eq(topic_check_filter("a/#", 3, 2), TOPIC_TOO_LONG);
	cr_expect_eq(topic_check("a", 1, 1), TOPIC_OK);
}

/* Only the given length counts: bytes past it are never looked at. */
Test(topic, length_is_explicit)
{
	cr_expect_eq(topic_check("ab cd", 2, MAX), TOPIC_OK);
	cr_expect_eq(topic_check("a/+", 2, MAX), TOPIC_OK);
	cr_expect_eq(topic_check_filter("a#", 1, MAX), TOPIC_OK);
	cr_expect_eq(topic_check("abc", 0, MAX), TOPIC_EMPTY);
}

Test(topic, reserved)
{
	cr_expect(topic_is_reserved("$SYS/x", 6));
	cr_expect(topic_is_reserved("$", 1));
	cr_expect(topic_is_reserved("$foo", 4));
	cr_expect_not(topic_is_reserved("a$", 2));
	cr_expect_not(topic_is_reserved("/$SYS", 5));
	cr_expect_not(topic_is_reserved("SYS", 3));
	cr_expect_not(topic_is_reserved("$SYS", 0));
}

Test(topic, matches_table)
{
	cr_assert_geq(N_MATCH_CASES, 40);
	for (size_t i = 0; i < N_MATCH_CASES; i++) {
		const struct match_case *c = &match_cases[i];

		/* The table itself must hold valid input only. */
		cr_assert_eq(topic_check_filter(c->filter, strlen(c->filter), MAX), TOPIC_OK,
		             "table filter \"%s\" invalid", c->filter);
		cr_assert_eq(topic_check(c->topic, strlen(c->topic), MAX), TOPIC_OK,
		             "table topic \"%s\" invalid", c->topic);
		cr_expect_eq(
		    topic_matches(c->filter, strlen(c->filter), c->topic, strlen(c->topic)),
		    c->match, "case %zu: filter \"%s\" topic \"%s\": want %s", i, c->filter,
		    c->topic, c->match ? "match" : "no match");
	}
}

/* A filter without wildcards matches exactly the topic equal to it. */
Test(topic, literal_filter_is_equality)
{
	for (size_t i = 0; i < N_MATCH_CASES; i++) {
		for (size_t j = 0; j < N_MATCH_CASES; j++) {
			const char *f = match_cases[i].topic, *t = match_cases[j].topic;

			cr_expect_eq(topic_matches(f, strlen(f), t, strlen(t)), strcmp(f, t) == 0,
			             "filter \"%s\" topic \"%s\"", f, t);
		}
	}
}

/* Lengths are explicit: the matcher stops at them. */
Test(topic, matches_uses_lengths)
{
	cr_expect(topic_matches("a/bXXX", 3, "a/bYYY", 3));
	cr_expect_not(topic_matches("a/b", 3, "a/bc", 4));
	cr_expect(topic_matches("a/#", 3, "a/b/c", 1));
}

Test(topic, strerror_distinct)
{
	enum topic_error all[] = { TOPIC_OK,       TOPIC_EMPTY,    TOPIC_TOO_LONG,
		                   TOPIC_BAD_BYTE, TOPIC_WILDCARD, TOPIC_BAD_UTF8 };
	size_t n = sizeof all / sizeof all[0];

	for (size_t i = 0; i < n; i++) {
		const char *s = topic_strerror(all[i]);

		cr_assert_not_null(s);
		cr_expect_gt(strlen(s), 0);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(s, topic_strerror(all[j]));
	}
}
