/*
 * Fuzz target: udsctl sub's output formats (src/ctl/format.c) on arbitrary
 * payloads and -F templates: what a publisher sends is untrusted bytes.
 *
 * Input: a flags byte, then the template up to the first '\n', the topic up
 * to the next one, and the payload (the rest, any bytes).
 *   bit 0  retained; bit 1  the sender's ids are known
 *
 * --json must always be one line of well-formed UTF-8 without a raw control
 * byte, and read back (by a decoder written here) to the exact payload and
 * topic: from "payload" when the payload is well-formed UTF-8, else from
 * "payload_base64". A template fmt_template accepts must render without
 * crashing, ending in '\n'.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "fuzz.h"
#include "topic.h"

/* Renders m in f into a new buffer. */
static char *
render(const struct fmt *f, const struct fmt_msg *m, size_t *len)
{
	char *text = NULL;
	FILE *s = open_memstream(&text, len);

	FUZZ_CHECK(s != NULL, "open_memstream");
	FUZZ_CHECK(fmt_write(f, m, s) == 0, "fmt_write failed");
	FUZZ_CHECK(fclose(s) == 0, "fclose");
	return text;
}

/* Decodes the JSON string at *p (its opening quote) into out, as our writer
 * makes them; returns its length and moves *p past the closing quote. */
static size_t
json_string(const char **p, const char *end, char *out)
{
	const char *s = *p;
	size_t n = 0;

	FUZZ_CHECK(s < end && *s == '"', "no string at %.20s", s);
	for (s++; s < end && *s != '"'; s++) {
		if (*s != '\\') {
			out[n++] = *s;
			continue;
		}
		FUZZ_CHECK(++s < end, "cut escape");
		switch (*s) {
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case '"':
		case '\\':
			out[n++] = *s;
			break;
		case 'u':
			FUZZ_CHECK(end - s > 4 && strncmp(s + 1, "00", 2) == 0,
			           "\\u beyond 0x00ff");
			out[n++] = (char)strtol((char[]){ s[3], s[4], 0 }, NULL, 16);
			FUZZ_CHECK((unsigned char)out[n - 1] < 0x20, "\\u for a printable byte");
			s += 4;
			break;
		default:
			FUZZ_CHECK(0, "unknown escape \\%c", *s);
		}
	}
	FUZZ_CHECK(s < end, "unterminated string");
	*p = s + 1;
	return n;
}

/* Decodes base64 at *p up to its closing quote into out; returns the length. */
static size_t
base64(const char **p, const char *end, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *s = *p + 1;
	size_t n = 0;

	while (s + 4 <= end && *s != '"') {
		unsigned long v = 0;
		int pad = 0;

		for (int i = 0; i < 4; i++) {
			const char *c = strchr(b64, s[i]);

			if (s[i] == '=')
				pad++;
			FUZZ_CHECK(s[i] == '=' || (c != NULL && s[i] != '\0'), "bad base64");
			v = v << 6 | (s[i] == '=' ? 0 : (unsigned long)(c - b64));
		}
		out[n++] = (char)(v >> 16);
		if (pad < 2)
			out[n++] = (char)(v >> 8);
		if (pad < 1)
			out[n++] = (char)v;
		s += 4;
	}
	FUZZ_CHECK(s < end && *s == '"', "unterminated base64");
	*p = s + 1;
	return n;
}

/* Whether s is well-formed UTF-8. */
static bool
well_formed(const char *s, size_t len)
{
	size_t n;

	for (size_t i = 0; i < len; i += n) {
		n = (unsigned char)s[i] < 0x80
		        ? 1
		        : utf8_char_len((const unsigned char *)s + i, len - i);
		if (n == 0)
			return false;
	}
	return true;
}

/* The checks of --json on m. */
static void
check_json(const struct fmt_msg *m)
{
	struct fmt f = { FMT_JSON, NULL };
	size_t len, n, pn, i = 0;
	char *text = render(&f, m, &len), *buf = malloc(len + 1);
	const char *p = text, *end = text + len;

	FUZZ_CHECK(buf != NULL, "malloc");
	FUZZ_CHECK(len >= 2 && text[len - 1] == '\n' && text[len - 2] == '}', "not an object line");
	while (i < len - 1) {
		unsigned char c = (unsigned char)text[i];

		FUZZ_CHECK(c >= 0x20, "raw control byte 0x%02x at %zu", c, i);
		n = c < 0x80 ? 1 : utf8_char_len((const unsigned char *)text + i, len - 1 - i);
		FUZZ_CHECK(n > 0, "malformed UTF-8 at %zu", i);
		i += n;
	}
	FUZZ_CHECK(strncmp(p, "{\"topic\":", 9) == 0, "no topic first");
	p += 9;
	/* A topic is well-formed UTF-8 (the broker sees to it); a payload
	 * need not be. */
	n = json_string(&p, end, buf);
	FUZZ_CHECK(!well_formed(m->topic, m->topic_len) ||
	               (n == m->topic_len && memcmp(buf, m->topic, n) == 0),
	           "topic read back differs");
	FUZZ_CHECK(strncmp(p, ",\"payload\":", 11) == 0, "no payload second");
	p += 11;
	pn = json_string(&p, end, buf);
	if (well_formed(m->payload, m->payload_len)) {
		FUZZ_CHECK(pn == m->payload_len && memcmp(buf, m->payload, pn) == 0,
		           "payload read back differs");
		FUZZ_CHECK(strstr(p, "payload_base64") == NULL, "base64 for well-formed UTF-8");
	} else {
		FUZZ_CHECK(strncmp(p, ",\"payload_base64\":", 18) == 0, "no payload_base64");
		p += 18;
		n = base64(&p, end, buf);
		FUZZ_CHECK(n == m->payload_len && memcmp(buf, m->payload, n) == 0,
		           "payload_base64 read back differs");
	}
	FUZZ_CHECK(strncmp(p, m->retained ? ",\"retained\":true" : ",\"retained\":false", 16) == 0,
	           "retained flag");
	free(buf);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_byte(&in);
	const char *rest = (const char *)in.p, *nl, *nl2;
	char *template;
	struct fmt f;
	char err[256];
	struct fmt_msg m;

	nl = memchr(rest, '\n', in.n);
	if (nl == NULL)
		return 0;
	nl2 = memchr(nl + 1, '\n', in.n - (size_t)(nl + 1 - rest));
	if (nl2 == NULL)
		return 0;
	template = strndup(rest, (size_t)(nl - rest)); /* stops at a NUL: C strings */
	FUZZ_CHECK(template != NULL, "strndup");
	m = (struct fmt_msg){
		.topic = nl + 1,
		.topic_len = (size_t)(nl2 - nl - 1),
		.payload = nl2 + 1,
		.payload_len = in.n - (size_t)(nl2 + 1 - rest),
		.retained = flags & 1,
		.uid = flags & 2 ? 1000 : -1,
		.gid = flags & 2 ? 100 : -1,
		.pid = flags & 2 ? 4242 : -1,
	};
	check_json(&m);
	if (fmt_template(&f, template, err, sizeof err) == 0) {
		size_t len;
		char *text = render(&f, &m, &len);

		FUZZ_CHECK(len > 0 && text[len - 1] == '\n', "no newline at the end");
		free(text);
	} else {
		FUZZ_CHECK(strncmp(err, "-F: ", 4) == 0, "error without its option: %s", err);
	}
	free(template);
	return 0;
}
