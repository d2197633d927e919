/*
 * How udsctl sub prints one delivery: the payload alone, "TOPIC PAYLOAD"
 * (-v), a -F template, or one JSON object (--json); always one line.
 *
 * -F templates: %t topic, %p payload, %u uid, %g gid, %P pid (empty when
 * unknown), %r 1 for a retained delivery else 0, %% a '%'; the escapes
 * \n \t \r \\ \0 \a \e \v as in mosquitto_sub -F. A newline follows each
 * message. Anything else after '%' or '\' is refused when the template is
 * compiled, before udsctl connects.
 *
 * --json: {"topic":..,"payload":..,"retained":true|false} plus "uid",
 * "gid", "pid" when known. Strings are escaped as RFC 8259 requires ('"',
 * '\', and every control character, as \n or \u00XX). A payload that is not
 * well-formed UTF-8 cannot be a JSON string as it is: "payload" then holds
 * it with each malformed byte replaced by U+FFFD, and "payload_base64" holds
 * the exact bytes.
 *
 * Pure but for the stream written to.
 */
#ifndef UDSCTL_FORMAT_H
#define UDSCTL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum fmt_kind {
	FMT_PAYLOAD,  /* the payload */
	FMT_VERBOSE,  /* -v: topic, space, payload */
	FMT_TEMPLATE, /* -F */
	FMT_JSON,     /* --json */
};

/* A compiled output format. */
struct fmt {
	enum fmt_kind kind;
	const char *template; /* FMT_TEMPLATE: checked by fmt_template */
};

/* One delivery as the format sees it. */
struct fmt_msg {
	const char *topic;
	size_t topic_len;
	const char *payload;
	size_t payload_len;
	bool retained;
	long long uid, gid, pid; /* -1: unknown */
};

/* Checks template and makes f print it. Returns 0, or -1 with a sentence
 * saying what is wrong (and where) in err. template must outlive f. */
int fmt_template(struct fmt *f, const char *template, char *err, size_t err_size);

/* Whether the format shows the sender's identity (needs OPT meta on). */
bool fmt_needs_meta(const struct fmt *f);

/* Writes m in format f, newline included. Returns 0, or -1 when the stream
 * failed (ferror). */
int fmt_write(const struct fmt *f, const struct fmt_msg *m, FILE *out);

/* Writes s (len bytes) as a JSON string, quotes included, as --json does
 * for "payload"; returns whether s was well-formed UTF-8 (if not, each bad
 * byte became U+FFFD). */
bool fmt_json_string(FILE *out, const char *s, size_t len);

#endif
