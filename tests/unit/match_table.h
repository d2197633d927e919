/*
 * The MQTT matching rules as a table, shared by the reference matcher's
 * tests (test_topic.c) and the subscription tree's (test_subtree.c), so the
 * broker's tree is held to exactly the same answers.
 */
#ifndef UDSB_TEST_MATCH_TABLE_H
#define UDSB_TEST_MATCH_TABLE_H

#include <stdbool.h>

struct match_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct match_case match_cases[] = {
	/* Literal levels. */
	{ "a", "a", true },
	{ "a", "b", false },
	{ "A", "a", false },            /* case-sensitive */
	{ "a/b", "a/b", true },
	{ "a/b", "a", false },
	{ "a", "a/b", false },
	{ "a/b/c", "a/b/c/", false },
	{ "ab", "a", false },
	{ "a", "ab", false },
	/* Empty levels are levels. */
	{ "a//b", "a//b", true },
	{ "a//b", "a/b", false },
	{ "a/b", "a//b", false },
	{ "/a", "/a", true },
	{ "/a", "a", false },
	{ "a/", "a/", true },
	{ "a/", "a", false },
	{ "a", "a/", false },
	{ "//", "//", true },
	/* '#': this level and everything below, the parent included. */
	{ "#", "a", true },
	{ "#", "a/b/c", true },
	{ "#", "/", true },
	{ "#", "/a", true },
	{ "#", "a$", true },
	{ "a/#", "a", true },
	{ "a/#", "a/", true },
	{ "a/#", "a/b", true },
	{ "a/#", "a/b/c", true },
	{ "a/#", "a/b/", true },
	{ "a/#", "ab", false },
	{ "a/#", "b/a", false },
	{ "a/b/#", "a/b", true },
	{ "a/b/#", "a/bc", false },
	{ "a/b/#", "a", false },
	{ "/#", "/", true },
	{ "/#", "/a/b", true },
	{ "/#", "a", false },
	/* '+': exactly one level, possibly empty. */
	{ "+", "a", true },
	{ "+", "a/b", false },
	{ "+", "/a", false },
	{ "+/a", "/a", true },
	{ "+/+", "a/b", true },
	{ "+/+", "a", false },
	{ "+/+", "/", true },
	{ "+/+/+", "//", true },
	{ "/+", "/", true },
	{ "a/+", "a/", true },
	{ "a/+", "a", false },
	{ "a/+", "a/b", true },
	{ "a/+", "a/b/c", false },
	{ "a/+/c", "a/b/c", true },
	{ "a/+/c", "a//c", true },
	{ "a/+/c", "a/b/d", false },
	{ "a/+/c", "a/b/c/d", false },
	{ "+/$x", "a/$x", true },
	/* Both wildcards. */
	{ "a/+/#", "a/b", true },
	{ "a/+/#", "a", false },
	{ "a/+/#", "a/b/c/d", true },
	{ "+/#", "a", true },
	{ "+/#", "/", true },
	{ "+/+/#", "a", false },
	/* '$' topics: not matched by a leading wildcard, only by literal "$...". */
	{ "#", "$SYS/x", false },
	{ "#", "$SYS", false },
	{ "+/x", "$SYS/x", false },
	{ "+", "$SYS", false },
	{ "+/#", "$SYS/x", false },
	{ "$SYS/#", "$SYS/x", true },
	{ "$SYS/#", "$SYS", true },
	{ "$SYS/#", "$SYS/a/b", true },
	{ "$SYS/#", "$SYSX", false },
	{ "$SYS/+", "$SYS/uptime", true },
	{ "$SYS/uptime", "$SYS/uptime", true },
	{ "a/#", "$SYS/a", false },
	/* UTF-8 is ordinary bytes. */
	{ "caf\xc3\xa9/+", "caf\xc3\xa9/x", true },
	{ "caf\xc3\xa9", "cafe", false },
};

#define N_MATCH_CASES (sizeof match_cases / sizeof match_cases[0])

#endif
