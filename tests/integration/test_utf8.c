/*
 * Topics and filters must be well-formed UTF-8 without control characters
 * (SPEC "Topics and filters", udsbroker(7)): the real daemon answers
 * ERR bad-topic / ERR bad-filter to overlong forms, surrogates, code points
 * above U+10FFFF, cut sequences, stray continuation bytes and C1 controls,
 * publishes nothing for them, and still takes well-formed UTF-8.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(utf8, .fini = stop, .timeout = 120);

/* Each of these breaks the UTF-8 rule or is a C1 control; put in a topic
 * or a filter, at the start, in the middle or at the end of a level. */
static const char *const bad[] = {
	"\xc0\xaf",             /* overlong '/' */
	"\xc1\xbf",             /* overlong U+007F */
	"\xe0\x80\xaf",         /* overlong '/' in three bytes */
	"\xf0\x80\x80\xaf",     /* overlong '/' in four bytes */
	"\xed\xa0\x80",         /* U+D800, a surrogate */
	"\xed\xbf\xbf",         /* U+DFFF */
	"\xf4\x90\x80\x80",     /* U+110000 */
	"\xf7\xbf\xbf\xbf",     /* U+1FFFFF */
	"\xf8\x88\x80\x80\x80", /* five bytes */
	"\xff",
	"\x80",     /* a stray continuation byte */
	"\xc3",     /* cut short by the end of the level */
	"\xe2\x82", /* cut short */
	"\xc3\x28", /* a continuation byte missing */
	"\xc2\x80", /* U+0080, a C1 control */
	"\xc2\x85", /* U+0085, NEL */
	"\xc2\x9f", /* U+009F */
};
#define NBAD (sizeof bad / sizeof bad[0])

/* The three places a bad sequence goes: "S", "a/S/b", "long-level-S". */
static void
build(char *buf, size_t size, int where, const char *seq)
{
	static const char *const before[] = { "", "a/", "a-level-longer-than-eight/x" };
	static const char *const after[] = { "", "/b", "" };

	snprintf(buf, size, "%s%s%s", before[where], seq, after[where]);
}

Test(utf8, bad_topics_are_refused)
{
	char topic[128], line[256];
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	xsub(s, "#");
	p = xconnect(&b);
	for (size_t i = 0; i < NBAD; i++) {
		for (int where = 0; where < 3; where++) {
			build(topic, sizeof topic, where, bad[i]);
			snprintf(line, sizeof line, "PUB %s payload\n", topic);
			xsend(p, line);
			expect_err(p, "bad-topic");
		}
	}
	/* One line says which rule: the UTF-8 one, or the control one. */
	xsend(p, "PUB a/\xed\xa0\x80 x\n");
	expect_next(p, "ERR bad-topic topic is not well-formed UTF-8");
	xsend(p, "PUB a/\xc2\x85 x\n");
	expect_next(p, "ERR bad-topic topic contains a space or control character");
	quiet(p);
	quiet(s); /* nothing was published */
	cr_expect_eq(stat_of(p, "published"), 0);
}

Test(utf8, bad_filters_are_refused)
{
	char filter[128], line[256];
	int s;

	xstart(&b, NULL);
	s = xconnect(&b);
	for (size_t i = 0; i < NBAD; i++) {
		for (int where = 0; where < 3; where++) {
			build(filter, sizeof filter, where, bad[i]);
			snprintf(line, sizeof line, "SUB %s/#\n", filter);
			xsend(s, line);
			expect_err(s, "bad-filter");
			snprintf(line, sizeof line, "UNSUB +/%s\n", filter);
			xsend(s, line);
			expect_err(s, "bad-filter");
		}
	}
	xsend(s, "SUB +/\xf4\x90\x80\x80/#\n");
	expect_next(s, "ERR bad-filter filter is not well-formed UTF-8");
	quiet(s);
	cr_expect_eq(stat_of(s, "subscriptions"), 0);
}

/* A topic published just before, then cut or spoiled: the broker's check
 * of a topic it has seen is no shortcut for one it has not. */
Test(utf8, near_miss_of_a_known_topic)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	xsub(s, "#");
	p = xconnect(&b);
	xsend(p, "PUB caf\xc3\xa9 one\n");
	xsend(p, "PUB caf\xc3 two\n");
	expect_err(p, "bad-topic");
	xsend(p, "PUB caf\xc3\xa9\xa9 three\n");
	expect_err(p, "bad-topic");
	xsend(p, "PUB caf\xc3\xa9 four\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG caf\xc3\xa9 one\nMSG caf\xc3\xa9 four\n");
}

/* Well-formed UTF-8 up to U+10FFFF still goes through, in topics and in
 * filters, and '+' matches a level of it. */
Test(utf8, well_formed_is_delivered)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	xsub(s, "\xe2\x82\xac/+/\xf4\x8f\xbf\xbf");
	xsub(s, "\xc2\xa0/#");
	p = xconnect(&b);
	xsend(p, "PUB \xe2\x82\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf one\n");
	xsend(p, "PUB \xc2\xa0/\xed\x9f\xbf/\xee\x80\x80 two\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG \xe2\x82\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf one\n"
	                             "MSG \xc2\xa0/\xed\x9f\xbf/\xee\x80\x80 two\n");
}
