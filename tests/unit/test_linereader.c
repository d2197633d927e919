/* The bounded line reader (src/daemon/linereader.h) over real evbuffers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "linereader.h"

/* Feeds chunks one by one; after each, takes lines until LINE_NONE. The
 * result is a trace: "[line]" for each line (its '\n' included), "!" for
 * each LINE_TOO_LONG. Checks on the way that the buffer stays bounded. */
static void
trace(size_t max_line, const char *const *chunks, char *out, size_t outsize)
{
	struct evbuffer *in = evbuffer_new();
	struct linereader lr = { 0 };
	size_t used = 0;

	cr_assert_not_null(in);
	out[0] = '\0';
	for (size_t c = 0; chunks[c] != NULL; c++) {
		size_t added = strlen(chunks[c]);

		evbuffer_add(in, chunks[c], added);
		for (;;) {
			size_t len = 0;
			enum linereader_result r = linereader_next(&lr, in, max_line, &len);

			if (r == LINE_NONE) {
				/* Whatever is left is the start of a line that may still fit. */
				cr_assert_lt(evbuffer_get_length(in), max_line,
				             "%zu bytes kept without a line (max_line %zu)",
				             evbuffer_get_length(in), max_line);
				if (lr.scan.skipping)
					cr_assert_eq(evbuffer_get_length(in), 0,
					             "skipping but %zu bytes kept", evbuffer_get_length(in));
				break;
			}
			if (r == LINE_TOO_LONG) {
				used += (size_t)snprintf(out + used, outsize - used, "!");
				continue;
			}
			cr_assert_eq(r, LINE_READY);
			cr_assert_leq(len, max_line);
			cr_assert_leq(len, evbuffer_get_length(in));
			{
				const char *line = (const char *)evbuffer_pullup(in, (ssize_t)len);

				cr_assert_eq(line[len - 1], '\n', "a line must end with its '\\n'");
				cr_assert_null(memchr(line, '\n', len - 1), "two lines returned as one");
				used += (size_t)snprintf(out + used, outsize - used, "[%.*s]",
				                         (int)(len - 1), line);
			}
			evbuffer_drain(in, len);
		}
		cr_assert_lt(used, outsize - 1, "trace buffer too small");
	}
	evbuffer_free(in);
}

struct lr_case {
	size_t max_line;
	const char *chunks[8];
	const char *want;
};

static const struct lr_case lr_cases[] = {
	{ 64, { "abc\n", NULL }, "[abc]" },
	{ 64, { "\n", NULL }, "[]" },
	{ 64, { "a\nb\nc\n", NULL }, "[a][b][c]" },
	{ 64, { "ab", "c\nde", "f\n", NULL }, "[abc][def]" },
	{ 64, { "a", "b", "c", "\n", NULL }, "[abc]" },
	{ 64, { "abc", NULL }, "" },               /* a partial line waits */
	{ 64, { "abc\r\n", NULL }, "[abc\r]" },     /* '\r' is the parser's business */
	/* max_line counts the '\n' and is inclusive. */
	{ 8, { "1234567\n", NULL }, "[1234567]" },
	{ 8, { "123456\r\n", NULL }, "[123456\r]" },
	{ 8, { "12345678\n", "ok\n", NULL }, "![ok]" },
	{ 8, { "1234567", "\n", NULL }, "[1234567]" },
	{ 8, { "12345678\nok\n", NULL }, "![ok]" },
	/* Too long before any '\n' is seen: reported once, then skipped. */
	{ 8, { "12345678", NULL }, "!" },
	{ 8, { "12345678", "9999", "99", "99\nok\n", NULL }, "![ok]" },
	{ 8, { "1234", "5678", "\n", "ok\n", NULL }, "![ok]" },
	{ 8, { "12345678", "\n", "ok\n", NULL }, "![ok]" },
	{ 8, { "123456789abcdef", "\nok\n", NULL }, "![ok]" },
	/* Back to back. */
	{ 4, { "aaaaaa\nbbbbbb\nok\n", NULL }, "!![ok]" },
	{ 4, { "aaaa", "aa\nbbbb", "bb\nok\n", NULL }, "!![ok]" },
	{ 4, { "ok\naaaaaaaaaa\nno\n", NULL }, "[ok]![no]" },
	/* The smallest limit: only empty lines fit. */
	{ 1, { "\n", "a\n", "\n", NULL }, "[]![]" },
};

Test(linereader, table)
{
	for (size_t i = 0; i < sizeof lr_cases / sizeof lr_cases[0]; i++) {
		char out[256];

		trace(lr_cases[i].max_line, lr_cases[i].chunks, out, sizeof out);
		cr_expect_str_eq(out, lr_cases[i].want, "case %zu: got \"%s\", want \"%s\"", i, out,
		                 lr_cases[i].want);
	}
}

/* Whatever the chunk boundaries, the same lines come out. */
Test(linereader, every_split)
{
	static const char text[] = "one\ntwo two\n\nthis line is far too long\nx\r\nlast\n";
	static const char want[] = "[one][two two][]![x\r][last]";
	size_t n = sizeof text - 1;

	for (size_t step = 1; step <= n; step++) {
		char pieces[sizeof text][sizeof text];
		const char *chunks[sizeof text + 1];
		size_t k = 0;
		char out[256];

		for (size_t off = 0; off < n; off += step, k++) {
			size_t len = n - off < step ? n - off : step;

			memcpy(pieces[k], text + off, len);
			pieces[k][len] = '\0';
			chunks[k] = pieces[k];
		}
		chunks[k] = NULL;
		trace(16, chunks, out, sizeof out);
		cr_expect_str_eq(out, want, "chunks of %zu: \"%s\"", step, out);
	}
}

/* A 10 MiB line streamed in: memory never grows past what was added since
 * the previous call, and the line is reported once. */
Test(linereader, bounded_memory)
{
	struct evbuffer *in = evbuffer_new();
	struct linereader lr = { 0 };
	char chunk[4096];
	size_t len, too_long = 0;

	memset(chunk, 'x', sizeof chunk);
	for (size_t sent = 0; sent < (10u << 20); sent += sizeof chunk) {
		enum linereader_result r;

		evbuffer_add(in, chunk, sizeof chunk);
		while ((r = linereader_next(&lr, in, 65536, &len)) != LINE_NONE) {
			cr_assert_eq(r, LINE_TOO_LONG);
			too_long++;
		}
		cr_assert_lt(evbuffer_get_length(in), 65536);
		if (lr.scan.skipping)
			cr_assert_eq(evbuffer_get_length(in), 0);
	}
	cr_expect_eq(too_long, 1);
	evbuffer_add(in, "\nPING\n", 6);
	cr_assert_eq(linereader_next(&lr, in, 65536, &len), LINE_READY);
	cr_expect_eq(len, 5);
	cr_expect(memcmp(evbuffer_pullup(in, 5), "PING\n", 5) == 0);
	evbuffer_free(in);
}

/* Lines of exactly max_line and one more, for a realistic limit. */
Test(linereader, limit_at_64k)
{
	struct evbuffer *in = evbuffer_new();
	struct linereader lr = { 0 };
	static char line[65537];
	size_t len;

	memset(line, 'p', sizeof line);
	line[65535] = '\n';
	evbuffer_add(in, line, 65536);
	cr_assert_eq(linereader_next(&lr, in, 65536, &len), LINE_READY);
	cr_expect_eq(len, 65536);
	evbuffer_drain(in, len);

	line[65535] = 'p';
	line[65536] = '\n';
	evbuffer_add(in, line, 65537);
	cr_expect_eq(linereader_next(&lr, in, 65536, &len), LINE_TOO_LONG);
	cr_expect_eq(evbuffer_get_length(in), 0);
	cr_expect_eq(linereader_next(&lr, in, 65536, &len), LINE_NONE);
	evbuffer_free(in);
}
