/* The pure primitives of src/common shared by the daemon, the library and
 * udsctl: number parsing (parse.h), escaping (escape.h), the bounded line
 * rule (linescan.h) and the monotonic clock (monoclock.h). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "linescan.h"
#include "monoclock.h"
#include "parse.h"

/* ---- parse.h ---- */

Test(parse, u64)
{
	static const struct {
		const char *s;
		uint64_t min, max;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 10, PARSE_OK, 0 },
		{ "10", 0, 10, PARSE_OK, 10 },
		{ "11", 0, 10, PARSE_RANGE, 11 },
		{ "0", 1, 10, PARSE_RANGE, 0 },
		{ "007", 0, 10, PARSE_OK, 7 },
		{ "18446744073709551615", 0, UINT64_MAX, PARSE_OK, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX, PARSE_INVALID, 0 },
		{ "", 0, 10, PARSE_INVALID, 0 },
		{ "-1", 0, 10, PARSE_INVALID, 0 },
		{ "+1", 0, 10, PARSE_INVALID, 0 },
		{ " 1", 0, 10, PARSE_INVALID, 0 },
		{ "1 ", 0, 10, PARSE_INVALID, 0 },
		{ "1x", 0, 10, PARSE_INVALID, 0 },
		{ "0x1", 0, 10, PARSE_INVALID, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t v = 12345;
		int rc = parse_u64(cases[i].s, cases[i].min, cases[i].max, &v);

		cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].s, rc);
		if (rc != PARSE_INVALID)
			cr_expect_eq(v, cases[i].v, "\"%s\": %llu", cases[i].s,
			             (unsigned long long)v);
		else
			cr_expect_eq(v, 12345, "\"%s\": *out written on failure", cases[i].s);
	}
}

Test(parse, octal)
{
	uint64_t v;

	cr_expect_eq(parse_octal("0660", 0777, &v), PARSE_OK);
	cr_expect_eq(v, 0660);
	cr_expect_eq(parse_octal("7", 0777, &v), PARSE_OK);
	cr_expect_eq(v, 7);
	cr_expect_eq(parse_octal("1000", 0777, &v), PARSE_RANGE);
	cr_expect_eq(parse_octal("8", 0777, &v), PARSE_INVALID);
	cr_expect_eq(parse_octal("0778", 0777, &v), PARSE_INVALID);
	cr_expect_eq(parse_octal("", 0777, &v), PARSE_INVALID);
	cr_expect_eq(parse_octal("-1", 0777, &v), PARSE_INVALID);
}

Test(parse, size)
{
	static const struct {
		const char *s;
		int rc;
		size_t v;
	} cases[] = {
		{ "0", PARSE_OK, 0 },         { "4096", PARSE_OK, 4096 },
		{ "4K", PARSE_OK, 4096 },     { "4k", PARSE_OK, 4096 },
		{ "2M", PARSE_OK, 2 << 20 },  { "2m", PARSE_OK, 2 << 20 },
		{ "1024M", PARSE_RANGE, (size_t)1 << 30 },
		{ "4G", PARSE_INVALID, 0 },   { "K", PARSE_INVALID, 0 },
		{ "1KK", PARSE_INVALID, 0 },  { "1 K", PARSE_INVALID, 0 },
		{ "-1", PARSE_INVALID, 0 },   { "", PARSE_INVALID, 0 },
		{ "18446744073709551615M", PARSE_INVALID, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t v = 12345;
		int rc = parse_size(cases[i].s, 0, 1023u << 20, &v);

		cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].s, rc);
		if (rc != PARSE_INVALID)
			cr_expect_eq(v, cases[i].v, "\"%s\": %zu", cases[i].s, v);
	}
	cr_expect_eq(parse_size("3", 4, 8, &(size_t){0}), PARSE_RANGE);
}

Test(parse, seconds_ms)
{
	int ms = -7;

	cr_expect_eq(parse_seconds_ms("1", 10, &ms), PARSE_OK);
	cr_expect_eq(ms, 1000);
	cr_expect_eq(parse_seconds_ms("0.0001", 10, &ms), PARSE_OK);
	cr_expect_eq(ms, 1, "rounded up, not down to 0: %d", ms);
	cr_expect_eq(parse_seconds_ms("1.5", 10, &ms), PARSE_OK);
	cr_expect_eq(ms, 1500);
	cr_expect_eq(parse_seconds_ms("10", 10, &ms), PARSE_OK);
	ms = -7;
	cr_expect_eq(parse_seconds_ms("10.5", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("0", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("-1", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("nan", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("inf", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("", 10, &ms), PARSE_INVALID);
	cr_expect_eq(parse_seconds_ms("1s", 10, &ms), PARSE_INVALID);
	cr_expect_eq(ms, -7, "*ms written on failure");
}

/* A name is 1 to max of [A-Za-z0-9._-], judged on len bytes, not up to a NUL. */
Test(parse, is_name)
{
	static const struct {
		const char *s;
		size_t len, max;
		bool ok;
	} cases[] = {
		{ "main", 4, 32, true },
		{ "Ab.c-d_9", 8, 32, true },
		{ "abcd", 4, 4, true },
		{ "abcde", 5, 4, false },
		{ "", 0, 32, false },
		{ "a b", 3, 32, false },
		{ "a/b", 3, 32, false },
		{ "a;b", 3, 32, false },
		{ "a=b", 3, 32, false },
		{ "caf\xc3\xa9", 5, 32, false },
		{ "ab\0c", 4, 32, false },
		{ "ab/", 2, 32, true }, /* only len bytes are looked at */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(parse_is_name(cases[i].s, cases[i].len, cases[i].max), cases[i].ok,
		             "case %zu", i);
}

/* ---- escape.h ---- */

/* Escapes the C string in into a buffer of size and compares with want. */
static void
expect_escape(const char *in, size_t len, size_t size, const char *want)
{
	char buf[64];

	memset(buf, 'Z', sizeof buf);
	escape_text(buf, size, in, len);
	cr_expect_str_eq(buf, want, "escape of %zu bytes in %zu", len, size);
	cr_expect_eq(buf[size], 'Z', "wrote past the buffer of %zu", size);
}

Test(escape, bytes)
{
	expect_escape("plain text", 10, 32, "plain text");
	expect_escape("a\"b\\c", 5, 32, "a\\\"b\\\\c");
	expect_escape("\n\t\x7f\x80\xff", 5, 32, "\\x0a\\x09\\x7f\\x80\\xff");
	expect_escape("a\0b", 3, 32, "a\\x00b");
	expect_escape("", 0, 32, "");
}

Test(escape, cut_short)
{
	/* Whole when it fits, exactly: 9 bytes and the NUL in 10. */
	expect_escape("abcdefghi", 9, 10, "abcdefghi");
	expect_escape("abcdefghij", 10, 10, "abcdef...");
	/* An escape is never cut in the middle. */
	expect_escape("abcde\n", 6, 9, "abcde...");
	expect_escape("abcde\n", 6, 10, "abcde\\x0a");
	expect_escape("ab\ncd", 5, 8, "ab...");
	/* Too small for "...": nothing. */
	expect_escape("abcdef", 6, 3, "");
	expect_escape("ab", 2, 3, "ab");
	expect_escape("abcdef", 6, 4, "...");
	expect_escape("abc", 3, 1, "");
}

Test(escape, zero_size)
{
	char buf[1] = { 'Z' };

	cr_expect_eq(escape_text(buf, 0, "abc", 3), buf);
	cr_expect_eq(buf[0], 'Z');
}

/* ---- linescan.h ---- */

/* The results of feeding s to linescan_next as a library would: the input
 * consumed as told, lines written as "R<len>", over-long lines as "T<n>",
 * skips as "S<n>", joined by spaces. */
static void
scan_all(const char *s, size_t len, size_t max_line, char *out, size_t outlen)
{
	struct linescan ls = { 0 };
	size_t off = 0, o = 0, n;
	enum linescan_result r;

	out[0] = '\0';
	while ((r = linescan_next(&ls, s + off, len - off, max_line, &n)) != LINESCAN_NONE) {
		cr_assert_leq(n, len - off);
		cr_assert_gt(n, 0, "no progress at %zu", off);
		o += (size_t)snprintf(out + o, outlen - o, "%s%c%zu", o ? " " : "",
		                      r == LINESCAN_READY ? 'R' : r == LINESCAN_TOO_LONG ? 'T' : 'S',
		                      n);
		off += n;
	}
}

Test(linescan, table)
{
	static const struct {
		const char *in;
		size_t max_line;
		const char *want;
	} cases[] = {
		{ "", 8, "" },
		{ "abc", 8, "" },
		{ "abc\n", 8, "R4" },
		{ "abc\nde\n\n", 8, "R4 R3 R1" },
		{ "1234567\n", 8, "R8" },
		{ "12345678\n", 8, "T9" },
		{ "12345678", 8, "T8" },
		{ "1234567", 8, "" },
		{ "12345678abc\nok\n", 8, "T12 R3" },
		{ "123456789\nok", 8, "T10" },
	};
	char out[128];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		scan_all(cases[i].in, strlen(cases[i].in), cases[i].max_line, out, sizeof out);
		cr_expect_str_eq(out, cases[i].want, "\"%s\" max_line %zu", cases[i].in,
		                 cases[i].max_line);
	}
}

/* The state carries over calls: bytes already scanned are not scanned
 * again, and a skip goes on in the next input. */
Test(linescan, across_reads)
{
	struct linescan ls = { 0 };
	size_t n = 99;

	cr_expect_eq(linescan_next(&ls, "abc", 3, 8, &n), LINESCAN_NONE);
	cr_expect_eq(n, 0);
	cr_expect_eq(ls.scanned, 3);
	cr_expect_eq(linescan_next(&ls, "abcde\n", 6, 8, &n), LINESCAN_READY);
	cr_expect_eq(n, 6);
	cr_expect_eq(ls.scanned, 0);

	cr_expect_eq(linescan_next(&ls, "0123456789", 10, 8, &n), LINESCAN_TOO_LONG);
	cr_expect_eq(n, 10);
	cr_expect(ls.skipping);
	cr_expect_eq(linescan_next(&ls, "xyz", 3, 8, &n), LINESCAN_SKIP);
	cr_expect_eq(n, 3);
	cr_expect(ls.skipping);
	cr_expect_eq(linescan_next(&ls, "", 0, 8, &n), LINESCAN_NONE);
	cr_expect_eq(linescan_next(&ls, "z\nok\n", 5, 8, &n), LINESCAN_SKIP);
	cr_expect_eq(n, 2);
	cr_expect_not(ls.skipping);
	cr_expect_eq(linescan_next(&ls, "ok\n", 3, 8, &n), LINESCAN_READY);
	cr_expect_eq(n, 3);
}

/* linescan_step, for input not in one piece: the caller finds the '\n'. */
Test(linescan, step)
{
	struct linescan ls = { 0 };
	size_t n;

	cr_expect_eq(linescan_step(&ls, 5, -1, 8, &n), LINESCAN_NONE);
	cr_expect_eq(ls.scanned, 5);
	cr_expect_eq(linescan_step(&ls, 9, 6, 8, &n), LINESCAN_READY);
	cr_expect_eq(n, 7);
	cr_expect_eq(linescan_step(&ls, 9, 8, 8, &n), LINESCAN_TOO_LONG);
	cr_expect_eq(n, 9);
	cr_expect_not(ls.skipping);
}

/* ---- monoclock.h ---- */

Test(monoclock, monotonic)
{
	int64_t a = mono_ns(), ms = mono_ms(), b = mono_ns();

	cr_expect_leq(a, b);
	cr_expect_geq(ms, a / 1000000);
	cr_expect_leq(ms, b / 1000000);
}
