/* What a bridge makes of the messages it carries; see bridgemap.h. */
#include "bridgemap.h"

#include <string.h>

#include "proto.h"
#include "topic.h"

int
bridgemap_parse_local(const char *frame, size_t len, struct bridge_local *m)
{
	const char *p, *end, *sp;

	memset(m, 0, sizeof *m);
	if (len < 4 || memcmp(frame, "MSG ", 4) != 0 || frame[len - 1] != '\n')
		return -1;
	p = frame + 4;
	end = frame + len - 1; /* the '\n' */
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL || sp == p)
		return -1; /* no meta: not a frame with meta */
	m->topic = p;
	m->tlen = (size_t)(sp - p);
	p = sp + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL)
		sp = end; /* an empty payload */
	/* The meta: key=value pairs joined by ';'. */
	for (const char *k = p; k < sp;) {
		const char *semi = memchr(k, ';', (size_t)(sp - k));
		const char *kend = semi != NULL ? semi : sp;

		if ((size_t)(kend - k) >= 4 && memcmp(k, "via=", 4) == 0) {
			m->via = k + 4;
			m->vlen = (size_t)(kend - k - 4);
		}
		k = kend + 1;
	}
	m->payload = sp < end ? sp + 1 : end;
	m->plen = sp < end ? (size_t)(end - sp - 1) : 0;
	return 0;
}

bool
bridgemap_came_via(const struct bridge_local *m, const char *name)
{
	size_t n = strlen(name);

	return m->via != NULL && m->vlen == n && memcmp(m->via, name, n) == 0;
}

size_t
bridgemap_join(char *buf, size_t size, const char *prefix, const char *topic, size_t tlen)
{
	size_t plen = prefix != NULL ? strlen(prefix) : 0;

	if (plen + tlen + 1 > size)
		return 0;
	if (plen > 0)
		memcpy(buf, prefix, plen);
	memcpy(buf + plen, topic, tlen);
	buf[plen + tlen] = '\0';
	return plen + tlen;
}

enum bridgemap_in
bridgemap_in(const char *local_prefix, const char *topic, size_t tlen, const void *payload,
             size_t plen, size_t max_topic, size_t max_line, char *buf, size_t size,
             size_t *out_len)
{
	size_t len = bridgemap_join(buf, size, local_prefix, topic, tlen);

	*out_len = 0;
	if (len == 0 && tlen + (local_prefix != NULL ? strlen(local_prefix) : 0) > 0)
		return BRIDGEMAP_TOO_LONG;
	if (topic_check(buf, len, max_topic) != TOPIC_OK)
		return BRIDGEMAP_BAD_TOPIC;
	if (topic_is_reserved(buf, len))
		return BRIDGEMAP_RESERVED;
	if (plen > 0 && memchr(payload, '\n', plen) != NULL)
		return BRIDGEMAP_BAD_PAYLOAD;
	if (proto_msg_len(len, plen) > max_line)
		return BRIDGEMAP_TOO_LONG;
	*out_len = len;
	return BRIDGEMAP_OK;
}

const char *
bridgemap_strerror(enum bridgemap_in r)
{
	switch (r) {
	case BRIDGEMAP_OK:
		return "ok";
	case BRIDGEMAP_BAD_TOPIC:
		return "its topic is not a valid topic here (a space, a control character, "
		       "a wildcard, bad UTF-8, or too long)";
	case BRIDGEMAP_RESERVED:
		return "its topic would begin with $, which is the broker's";
	case BRIDGEMAP_BAD_PAYLOAD:
		return "its payload holds a newline, which the line protocol cannot carry";
	case BRIDGEMAP_TOO_LONG:
		return "it would be longer than max_line";
	}
	return "?";
}
