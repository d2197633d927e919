/* udsctl sub's output formats (src/ctl/format.h): payload, -v, -F, --json. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* What f makes of m, in a static buffer. */
static const char *
render(const struct fmt *f, const struct fmt_msg *m, size_t *len)
{
	static char out[1024];
	char *text = NULL;
	size_t size = 0;
	FILE *s = open_memstream(&text, &size);

	cr_assert_not_null(s);
	cr_assert_eq(fmt_write(f, m, s), 0);
	cr_assert_eq(fclose(s), 0);
	cr_assert_lt(size, sizeof out);
	memcpy(out, text, size + 1);
	free(text);
	if (len != NULL)
		*len = size;
	return out;
}

/* A delivery with a known sender. */
static struct fmt_msg
msg(const char *topic, const char *payload, size_t plen, bool retained)
{
	return (struct fmt_msg){
		.topic = topic,
		.topic_len = strlen(topic),
		.payload = payload,
		.payload_len = plen,
		.retained = retained,
		.uid = 1000,
		.gid = 100,
		.pid = 4242,
	};
}

/* Compiles template, asserting it is accepted. */
static struct fmt template(const char *t)
{
	struct fmt f;
	char err[256];

	cr_assert_eq(fmt_template(&f, t, err, sizeof err), 0, "'%s' refused: %s", t, err);
	return f;
}

Test(ctl_format, payload_and_verbose)
{
	struct fmt_msg m = msg("a/b", "x y", 3, false);

	cr_expect_str_eq(render(&(struct fmt){ FMT_PAYLOAD, NULL }, &m, NULL), "x y\n");
	cr_expect_str_eq(render(&(struct fmt){ FMT_VERBOSE, NULL }, &m, NULL), "a/b x y\n");
	cr_expect(!fmt_needs_meta(&(struct fmt){ FMT_VERBOSE, NULL }));
}

Test(ctl_format, every_directive)
{
	struct fmt f = template("%t|%p|%u|%g|%P|%r|%%|\\n\\t\\r\\\\\\a\\e\\v|plain");
	struct fmt_msg m = msg("a/b", "pay load", 8, true);

	cr_expect_str_eq(render(&f, &m, NULL),
	                 "a/b|pay load|1000|100|4242|1|%|\n\t\r\\\a\033\v|plain\n");
	cr_expect(fmt_needs_meta(&f));
	/* Unknown sender: empty; a live message: %r is 0. */
	m.uid = m.gid = m.pid = -1;
	m.retained = false;
	cr_expect_str_eq(render(&f, &m, NULL), "a/b|pay load||||0|%|\n\t\r\\\a\033\v|plain\n");
}

Test(ctl_format, nul_escape_and_nul_payload)
{
	struct fmt f = template("%p\\0%t");
	struct fmt_msg m = msg("t", "a\0b", 3, false);
	size_t len;
	const char *out = render(&f, &m, &len);

	cr_expect_eq(len, 6);
	cr_expect_eq(memcmp(out, "a\0b\0t\n", 6), 0);
}

Test(ctl_format, bad_templates_are_refused_with_the_place)
{
	const struct {
		const char *t, *want;
	} cases[] = {
		{ "%x", "-F: unknown directive %x at character 1 of FORMAT" },
		{ "ab%", "-F: FORMAT ends with a lone '%'" },
		{ "a\\", "-F: FORMAT ends with a lone '\\'" },
		{ "xy\\q", "-F: unknown escape \\q at character 3 of FORMAT" },
		{ "%%%", "-F: FORMAT ends with a lone '%'" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fmt f;
		char err[256];

		cr_expect_eq(fmt_template(&f, cases[i].t, err, sizeof err), -1, "'%s'", cases[i].t);
		cr_expect(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "'%s': %s",
		          cases[i].t, err);
	}
}

Test(ctl_format, json_object)
{
	struct fmt f = { FMT_JSON, NULL };
	struct fmt_msg m = msg("a/b", "v", 1, true);

	cr_expect_str_eq(render(&f, &m, NULL),
	                 "{\"topic\":\"a/b\",\"payload\":\"v\",\"retained\":true,"
	                 "\"uid\":1000,\"gid\":100,\"pid\":4242}\n");
	m.uid = m.gid = m.pid = -1;
	m.retained = false;
	cr_expect_str_eq(render(&f, &m, NULL),
	                 "{\"topic\":\"a/b\",\"payload\":\"v\",\"retained\":false}\n");
	cr_expect(fmt_needs_meta(&f));
}

Test(ctl_format, json_escapes_what_rfc8259_requires)
{
	static const char payload[] = "q\"b\\s/\x01\x1f\x7f\t\n\r\b\f\0é€😀";
	struct fmt f = { FMT_JSON, NULL };
	struct fmt_msg m = msg("t", payload, sizeof payload - 1, false);

	m.uid = m.gid = m.pid = -1;
	cr_expect_str_eq(render(&f, &m, NULL),
	                 "{\"topic\":\"t\",\"payload\":\"q\\\"b\\\\s/\\u0001\\u001f\x7f"
	                 "\\t\\n\\r\\b\\f\\u0000é€😀\",\"retained\":false}\n");
}

Test(ctl_format, json_malformed_utf8_keeps_the_bytes_in_base64)
{
	/* A stray continuation byte, a cut sequence, an overlong '/', a
	 * surrogate: each bad byte becomes U+FFFD in "payload". */
	static const char payload[] = "a\x80"
	                              "b\xc3"
	                              "\xc0\xaf"
	                              "\xed\xa0\x80";
	struct fmt f = { FMT_JSON, NULL };
	struct fmt_msg m = msg("t", payload, sizeof payload - 1, false);

	m.uid = m.gid = m.pid = -1;
	cr_expect_str_eq(render(&f, &m, NULL),
	                 "{\"topic\":\"t\",\"payload\":\"a\xef\xbf\xbd"
	                 "b\xef\xbf\xbd"
	                 "\xef\xbf\xbd\xef\xbf\xbd"
	                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
	                 "\"payload_base64\":\"YYBiw8Cv7aCA\",\"retained\":false}\n");
}

Test(ctl_format, base64_padding)
{
	struct fmt f = { FMT_JSON, NULL };
	const struct {
		const char *p, *b64;
	} cases[] = { { "\xff", "/w==" }, { "\xff\xfe", "//4=" }, { "\xff\xfe\xfd", "//79" } };

	for (size_t i = 0; i < 3; i++) {
		struct fmt_msg m = msg("t", cases[i].p, strlen(cases[i].p), false);
		char want[128];

		m.uid = m.gid = m.pid = -1;
		snprintf(want, sizeof want, "\"payload_base64\":\"%s\"", cases[i].b64);
		cr_expect_not_null(strstr(render(&f, &m, NULL), want), "case %zu", i);
	}
}
