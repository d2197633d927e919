/* Strict number parsing; see parse.h. */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>

/* Parses the leading digits of s in base (8 or 10) into *v; *end is set
 * past them. PARSE_INVALID if s does not start with a digit or overflows. */
static int
leading_digits(const char *s, int base, uint64_t *v, const char **end)
{
	char *e;
	unsigned long long n;

	if (*s < '0' || *s > (base == 8 ? '7' : '9'))
		return PARSE_INVALID;
	errno = 0;
	n = strtoull(s, &e, base);
	if (errno != 0)
		return PARSE_INVALID;
	*v = n;
	*end = e;
	return PARSE_OK;
}

/* Checks v against [min, max], keeping it in *out either way. */
static int
in_range(uint64_t v, uint64_t min, uint64_t max, uint64_t *out)
{
	*out = v;
	return v < min || v > max ? PARSE_RANGE : PARSE_OK;
}

/* Parses a whole string of decimal digits within [min, max]. */
int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (leading_digits(s, 10, &v, &end) != PARSE_OK || *end != '\0')
		return PARSE_INVALID;
	return in_range(v, min, max, out);
}

/* Parses a whole string of octal digits within [0, max]. */
int
parse_octal(const char *s, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (leading_digits(s, 8, &v, &end) != PARSE_OK || *end != '\0')
		return PARSE_INVALID;
	return in_range(v, 0, max, out);
}

/* Parses digits with an optional K or M suffix within [min, max]. */
int
parse_size(const char *s, size_t min, size_t max, size_t *out)
{
	const char *end;
	uint64_t v, mult = 1, r;
	int rc;

	if (leading_digits(s, 10, &v, &end) != PARSE_OK)
		return PARSE_INVALID;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024, end++;
	if (*end != '\0' || v > SIZE_MAX / mult)
		return PARSE_INVALID;
	rc = in_range(v * mult, min, max, &r);
	*out = (size_t)r;
	return rc;
}

/* Parses positive seconds into whole milliseconds, rounded up. */
int
parse_seconds_ms(const char *s, double max_s, int *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* !(v > 0) also refuses NaN; max_s refuses infinity. */
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > max_s)
		return PARSE_INVALID;
	v *= 1000.0;
	*ms = (int)v;
	if (*ms < v)
		(*ms)++; /* round up: never shorter than asked */
	return PARSE_OK;
}

bool
parse_is_name(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}
