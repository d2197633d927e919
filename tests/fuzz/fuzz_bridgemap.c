/*
 * Fuzz target: what a bridge parses (src/daemon/bridgemap.c) — the local
 * deliveries it is handed and the remote messages it maps in, with their
 * prefixes — and its echo window (bridgeecho.c).
 *
 * Input: two header bytes, then three parts separated by NUL bytes:
 *   byte 0   max_topic - 1 (1..256)
 *   byte 1   max_line / 16 (at least 64)
 *   part 0   a local frame, as the broker would hand it ("MSG t meta p\n")
 *   part 1   the local prefix (empty: none)
 *   part 2   a remote topic, then after its first 0x01 byte the payload
 *
 * A parsed frame must point inside itself, its topic without a space and
 * its payload ending at the '\n'. A remote message mapped in must be
 * prefix + topic, a valid unreserved topic under max_topic, a payload
 * without a newline, and a MSG line within max_line; one refused must
 * break the rule named. The echo window takes a message sent, once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bridgeecho.h"
#include "bridgemap.h"
#include "fuzz.h"
#include "proto.h"
#include "topic.h"

/* Splits the input at NUL bytes into at most n parts. */
static size_t
split(const char *s, size_t len, const char **part, size_t *plen, size_t n)
{
	size_t k = 0;

	while (k < n) {
		const char *z = memchr(s, '\0', len);

		part[k] = s;
		plen[k] = z != NULL ? (size_t)(z - s) : len;
		k++;
		if (z == NULL)
			break;
		len -= plen[k - 1] + 1;
		s = z + 1;
	}
	return k;
}

static void
check_local(const char *f, size_t len)
{
	struct bridge_local m;

	if (bridgemap_parse_local(f, len, &m) < 0)
		return;
	FUZZ_CHECK(len >= 4 && memcmp(f, "MSG ", 4) == 0 && f[len - 1] == '\n', "not a frame");
	FUZZ_CHECK(m.topic == f + 4 && m.tlen > 0 && memchr(m.topic, ' ', m.tlen) == NULL,
	           "bad topic");
	FUZZ_CHECK(m.payload + m.plen == f + len - 1, "payload does not end at the newline");
	FUZZ_CHECK(m.payload >= m.topic + m.tlen + 1, "payload before the meta");
	if (m.via != NULL)
		FUZZ_CHECK(m.via > m.topic + m.tlen && m.via + m.vlen <= f + len - 1 &&
		               memcmp(m.via - 4, "via=", 4) == 0,
		           "via outside the meta");
}

static void
check_in(const char *prefix, size_t prelen, const char *rest, size_t rlen, size_t max_topic,
         size_t max_line)
{
	char pre[300], buf[600];
	const char *sep = memchr(rest, 1, rlen);
	size_t tlen = sep != NULL ? (size_t)(sep - rest) : rlen;
	const char *payload = sep != NULL ? sep + 1 : rest + rlen;
	size_t plen = sep != NULL ? rlen - tlen - 1 : 0, out = 0;
	enum bridgemap_in r;

	if (prelen >= sizeof pre || tlen > 280)
		return;
	memcpy(pre, prefix, prelen);
	pre[prelen] = '\0';
	r = bridgemap_in(prelen > 0 ? pre : NULL, rest, tlen, payload, plen, max_topic, max_line,
	                 buf, sizeof buf, &out);
	if (r != BRIDGEMAP_OK) {
		FUZZ_CHECK(out == 0, "a length for a refused message");
		if (r == BRIDGEMAP_BAD_PAYLOAD)
			FUZZ_CHECK(memchr(payload, '\n', plen) != NULL, "no newline, yet refused");
		if (r == BRIDGEMAP_RESERVED)
			FUZZ_CHECK(buf[0] == '$', "not reserved, yet refused");
		return;
	}
	FUZZ_CHECK(out == prelen + tlen && memcmp(buf, pre, prelen) == 0 &&
	               memcmp(buf + prelen, rest, tlen) == 0,
	           "not prefix + topic");
	FUZZ_CHECK(topic_check(buf, out, max_topic) == TOPIC_OK, "an invalid topic mapped in");
	FUZZ_CHECK(!topic_is_reserved(buf, out), "a $ topic mapped in");
	FUZZ_CHECK(plen == 0 || memchr(payload, '\n', plen) == NULL, "a newline mapped in");
	FUZZ_CHECK(proto_msg_len(out, plen) <= max_line, "longer than max_line");
}

/* The echo window: whatever was sent is taken back exactly as often. */
static void
check_echo(const char *t, size_t tlen, const char *p, size_t plen)
{
	struct bridge_echo e;

	if (bridge_echo_init(&e, 4) < 0)
		return;
	bridge_echo_sent(&e, t, tlen, p, plen);
	bridge_echo_sent(&e, t, tlen, p, plen);
	FUZZ_CHECK(bridge_echo_take(&e, t, tlen, p, plen), "first echo not taken");
	FUZZ_CHECK(bridge_echo_take(&e, t, tlen, p, plen), "second echo not taken");
	FUZZ_CHECK(!bridge_echo_take(&e, t, tlen, p, plen), "a third echo taken");
	for (int i = 0; i < 8; i++)
		bridge_echo_sent(&e, p, plen, t, tlen); /* push them out of the window */
	FUZZ_CHECK(!bridge_echo_take(&e, t, tlen, p, plen) || (tlen == plen && !memcmp(t, p, tlen)),
	           "taken after leaving the window");
	bridge_echo_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[3] = { "", "", "" };
	size_t plen[3] = { 0, 0, 0 };
	size_t max_topic, max_line;

	if (size < 2)
		return 0;
	max_topic = (size_t)data[0] + 1;
	max_line = (size_t)data[1] * 16 < 64 ? 64 : (size_t)data[1] * 16;
	split((const char *)data + 2, size - 2, part, plen, 3);
	check_local(part[0], plen[0]);
	check_in(part[1], plen[1], part[2], plen[2], max_topic, max_line);
	check_echo(part[0], plen[0], part[2], plen[2]);
	return 0;
}
