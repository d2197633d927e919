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
	{ "\x80\xff", 0, TOPIC_OK },
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
};

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
			cr_expect_eq(topic_check_filter(c->s, len_of(c), MAX), TOPIC_OK, "\"%s\"", c->s);
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
		cr_expect_eq(topic_matches(c->filter, strlen(c->filter), c->topic, strlen(c->topic)),
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
	enum topic_error all[] = { TOPIC_OK, TOPIC_EMPTY, TOPIC_TOO_LONG, TOPIC_BAD_BYTE,
		                   TOPIC_WILDCARD };
	size_t n = sizeof all / sizeof all[0];

	for (size_t i = 0; i < n; i++) {
		const char *s = topic_strerror(all[i]);

		cr_assert_not_null(s);
		cr_expect_gt(strlen(s), 0);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(s, topic_strerror(all[j]));
	}
}
