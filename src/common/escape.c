/* Escaping untrusted bytes; see escape.h. */
#include "escape.h"

#include <string.h>

/* Writes the escape of c into out (at most 4 bytes); returns its length. */
static size_t
escape_byte(unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '\\' || c == '"') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

/* Escapes src into dst, whole when it fits, else a prefix and "...". */
char *
escape_text(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0, whole = 0, room;
	char tmp[4];

	if (size == 0)
		return dst;
	for (size_t i = 0; i < len && whole < size; i++)
		whole += escape_byte((unsigned char)src[i], tmp);
	/* All of it when it fits; else a prefix with room for "..." and NUL. */
	room = whole < size ? size - 1 : (size >= 4 ? size - 4 : 0);
	for (size_t i = 0; i < len; i++) {
		size_t n = escape_byte((unsigned char)src[i], tmp);

		if (o + n > room)
			break;
		memcpy(dst + o, tmp, n);
		o += n;
	}
	if (whole >= size && size >= 4) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
