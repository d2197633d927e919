/* The output formats of udsctl sub: -v, -F and --json; see format.h. */
#include "format.h"

#include <string.h>

#include "topic.h"

/* The escapes a template may hold after '\', and what they stand for. */
static const char escapes_in[] = "ntr\\0aev";
static const char escapes_out[] = "\n\t\r\\\0\a\033\v";

/* The directives a template may hold after '%'. */
static const char directives[] = "tpugPr%";

int
fmt_template(struct fmt *f, const char *template, char *err, size_t err_size)
{
	for (size_t i = 0; template[i] != '\0'; i++) {
		const char *set;
		char c = template[i];

		if (c != '%' && c != '\\')
			continue;
		set = c == '%' ? directives : escapes_in;
		if (template[i + 1] == '\0') {
			snprintf(err, err_size, "-F: FORMAT ends with a lone '%c'%s", c,
			         c == '%' ? " (write %% for a '%')" : " (write \\\\ for a '\\')");
			return -1;
		}
		if (strchr(set, template[i + 1]) == NULL) {
			snprintf(err, err_size,
			         c == '%'
			             ? "-F: unknown directive %%%c at character %zu of FORMAT: "
			               "use %%t %%p %%u %%g %%P %%r or %%%%"
			             : "-F: unknown escape \\%c at character %zu of FORMAT: "
			               "use \\n \\t \\r \\\\ \\0 \\a \\e or \\v",
			         template[i + 1], i + 1);
			return -1;
		}
		i++;
	}
	f->kind = FMT_TEMPLATE;
	f->template = template;
	return 0;
}

bool
fmt_needs_meta(const struct fmt *f)
{
	return f->kind == FMT_TEMPLATE || f->kind == FMT_JSON;
}

/* Writes a credential, nothing when it is unknown. */
static void
write_id(FILE *out, long long id)
{
	if (id >= 0)
		fprintf(out, "%lld", id);
}

/* Writes m through the template. */
static void
write_template(const char *t, const struct fmt_msg *m, FILE *out)
{
	for (; *t != '\0'; t++) {
		if (*t == '\\') {
			t++;
			putc(escapes_out[strchr(escapes_in, *t) - escapes_in], out);
			continue;
		}
		if (*t != '%') {
			putc(*t, out);
			continue;
		}
		switch (*++t) {
		case 't':
			fwrite(m->topic, 1, m->topic_len, out);
			break;
		case 'p':
			fwrite(m->payload, 1, m->payload_len, out);
			break;
		case 'u':
			write_id(out, m->uid);
			break;
		case 'g':
			write_id(out, m->gid);
			break;
		case 'P':
			write_id(out, m->pid);
			break;
		case 'r':
			putc(m->retained ? '1' : '0', out);
			break;
		default: /* '%', the only other one fmt_template lets through */
			putc('%', out);
			break;
		}
	}
}

bool
fmt_json_string(FILE *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool valid = true;
	size_t i = 0;

	putc('"', out);
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n;

		if (c >= 0x80) {
			n = utf8_char_len((const unsigned char *)s + i, len - i);
			if (n == 0) {
				fputs("\xef\xbf\xbd", out); /* U+FFFD for one bad byte */
				valid = false;
				i++;
			} else {
				fwrite(s + i, 1, n, out);
				i += n;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		default:
			if (c < 0x20) {
				fputs("\\u00", out);
				putc(hex[c >> 4], out);
				putc(hex[c & 0xf], out);
			} else {
				putc(c, out);
			}
			break;
		}
	}
	putc('"', out);
	return valid;
}

/* Writes s as base64 (RFC 4648, padded) between quotes. */
static void
write_base64(FILE *out, const unsigned char *s, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	putc('"', out);
	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)s[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (unsigned long)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		putc(b64[(v >> 18) & 63], out);
		putc(b64[(v >> 12) & 63], out);
		putc(left > 1 ? b64[(v >> 6) & 63] : '=', out);
		putc(left > 2 ? b64[v & 63] : '=', out);
	}
	putc('"', out);
}

/* Writes m as one JSON object. */
static void
write_json(const struct fmt_msg *m, FILE *out)
{
	static const char *const id_keys[] = { "uid", "gid", "pid" };
	const long long ids[] = { m->uid, m->gid, m->pid };

	fputs("{\"topic\":", out);
	fmt_json_string(out, m->topic, m->topic_len);
	fputs(",\"payload\":", out);
	if (!fmt_json_string(out, m->payload, m->payload_len)) {
		fputs(",\"payload_base64\":", out);
		write_base64(out, (const unsigned char *)m->payload, m->payload_len);
	}
	fprintf(out, ",\"retained\":%s", m->retained ? "true" : "false");
	for (size_t i = 0; i < 3; i++)
		if (ids[i] >= 0)
			fprintf(out, ",\"%s\":%lld", id_keys[i], ids[i]);
	putc('}', out);
}

int
fmt_write(const struct fmt *f, const struct fmt_msg *m, FILE *out)
{
	switch (f->kind) {
	case FMT_VERBOSE:
		fwrite(m->topic, 1, m->topic_len, out);
		putc(' ', out);
		/* fall through */
	case FMT_PAYLOAD:
		fwrite(m->payload, 1, m->payload_len, out);
		break;
	case FMT_TEMPLATE:
		write_template(f->template, m, out);
		break;
	case FMT_JSON:
		write_json(m, out);
		break;
	}
	putc('\n', out);
	return ferror(out) ? -1 : 0;
}
