/* Parsing and formatting of protocol lines; see proto.h and udsbroker(7). */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cmd_names[] = {
	[PROTO_PUB] = "PUB",       [PROTO_SUB] = "SUB",     [PROTO_UNSUB] = "UNSUB",
	[PROTO_PING] = "PING",     [PROTO_STATS] = "STATS", [PROTO_QUIT] = "QUIT",
	[PROTO_RETAIN] = "RETAIN", [PROTO_WILL] = "WILL",   [PROTO_OPT] = "OPT",
	[PROTO_REQ] = "REQ",       [PROTO_EMPTY] = "",      [PROTO_UNKNOWN] = "?",
};

/* Strips the one '\r' a line may end with. */
static size_t
strip_cr(const char *line, size_t len)
{
	return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

/* Is the word [w, w+len) equal to name, ignoring case? */
static bool
word_is(const char *w, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(w, name, len) == 0;
}

void
proto_parse_request(const char *line, size_t len, struct proto_request *req)
{
	const char *sp;

	memset(req, 0, sizeof *req);
	len = strip_cr(line, len);
	if (len == 0) {
		req->cmd = PROTO_EMPTY;
		return;
	}

	sp = memchr(line, ' ', len);
	req->word = line;
	req->word_len = sp ? (size_t)(sp - line) : len;
	if (sp) {
		req->arg = sp + 1;
		req->arg_len = len - req->word_len - 1;
	}

	req->cmd = PROTO_UNKNOWN;
	if (req->word_len == 3 && memcmp(line, "PUB", 3) == 0)
		req->cmd = PROTO_PUB; /* the hot one, as clients write it */
	for (int c = PROTO_PUB; c < PROTO_EMPTY && req->cmd == PROTO_UNKNOWN; c++) {
		if (word_is(req->word, req->word_len, cmd_names[c])) {
			req->cmd = (enum proto_cmd)c;
			break;
		}
	}

	if ((req->cmd == PROTO_PUB || req->cmd == PROTO_RETAIN || req->cmd == PROTO_REQ) &&
	    req->arg) {
		const char *tsp = memchr(req->arg, ' ', req->arg_len);

		req->topic = req->arg;
		req->topic_len = tsp ? (size_t)(tsp - req->arg) : req->arg_len;
		req->payload = tsp ? tsp + 1 : req->arg + req->arg_len;
		req->payload_len = tsp ? req->arg_len - req->topic_len - 1 : 0;
	}
}

const char *
proto_cmd_name(enum proto_cmd cmd)
{
	if ((unsigned)cmd > PROTO_UNKNOWN)
		return "?";
	return cmd_names[cmd];
}

/* Splits "first rest" at the first space: a = first, b = rest (may be empty). */
static void
split(const char *s, size_t len, struct proto_reply *rep)
{
	const char *sp = memchr(s, ' ', len);

	rep->a = s;
	rep->a_len = sp ? (size_t)(sp - s) : len;
	rep->b = sp ? sp + 1 : s + len;
	rep->b_len = sp ? len - rep->a_len - 1 : 0;
}

int
proto_parse_reply(const char *line, size_t len, struct proto_reply *rep)
{
	static const struct {
		const char *word;
		enum proto_reply_kind kind;
	} kinds[] = {
		{ "MSG", PROTO_R_MSG },         { "OK", PROTO_R_OK },
		{ "PONG", PROTO_R_PONG },       { "ERR", PROTO_R_ERR },
		{ "DROPPED", PROTO_R_DROPPED }, { "BYE", PROTO_R_BYE },
		{ "STATS", PROTO_R_STATS },     { "RMSG", PROTO_R_RMSG },
	};
	const char *sp, *rest;
	size_t wlen, rest_len;
	size_t i;

	memset(rep, 0, sizeof *rep);
	len = strip_cr(line, len);
	sp = memchr(line, ' ', len);
	wlen = sp ? (size_t)(sp - line) : len;
	rest = sp ? sp + 1 : line + len;
	rest_len = sp ? len - wlen - 1 : 0;

	for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (word_is(line, wlen, kinds[i].word))
			break;
	if (i == sizeof kinds / sizeof kinds[0])
		return -1;
	rep->kind = kinds[i].kind;

	switch (rep->kind) {
	case PROTO_R_MSG:
	case PROTO_R_RMSG:
	case PROTO_R_ERR:
		split(rest, rest_len, rep);
		return rep->a_len > 0 ? 0 : -1;
	case PROTO_R_DROPPED: {
		unsigned long long n = 0;

		if (rest_len == 0 || rest_len > 20)
			return -1;
		for (i = 0; i < rest_len; i++) {
			unsigned d = (unsigned char)rest[i] - '0';

			if (d > 9 || n > (~0ULL - d) / 10)
				return -1;
			n = n * 10 + d;
		}
		rep->count = n;
		return 0;
	}
	case PROTO_R_OK:
	case PROTO_R_PONG:
	case PROTO_R_BYE:
	case PROTO_R_STATS:
		rep->a = rest;
		rep->a_len = rest_len;
		return 0;
	}
	return -1;
}

/* A meta number: decimal digits below 2^63, else -1. */
static long long
meta_number(const char *s, size_t len)
{
	long long n = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || n > (0x7fffffffffffffffLL - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	return n;
}

void
proto_parse_meta(const char *s, size_t len, struct proto_meta_fields *m)
{
	const char *end = s + len;

	m->uid = m->gid = m->pid = -1;
	m->via = m->reply = "";
	m->via_len = m->reply_len = 0;
	while (s < end) {
		const char *semi = memchr(s, ';', (size_t)(end - s));
		const char *pend = semi ? semi : end;
		const char *eq = memchr(s, '=', (size_t)(pend - s));

		if (eq != NULL) {
			size_t klen = (size_t)(eq - s), vlen = (size_t)(pend - eq - 1);
			const char *v = eq + 1;

			if (klen == 3 && memcmp(s, "uid", 3) == 0)
				m->uid = meta_number(v, vlen);
			else if (klen == 3 && memcmp(s, "gid", 3) == 0)
				m->gid = meta_number(v, vlen);
			else if (klen == 3 && memcmp(s, "pid", 3) == 0)
				m->pid = meta_number(v, vlen);
			else if (klen == 3 && memcmp(s, "via", 3) == 0)
				m->via = v, m->via_len = vlen;
			else if (klen == 5 && memcmp(s, "reply", 5) == 0)
				m->reply = v, m->reply_len = vlen;
		}
		s = semi ? semi + 1 : end;
	}
}

/* Appends "key=N;" for a known N (n >= 0) at buf; returns the bytes. By
 * hand, not snprintf: this runs once per message a meta subscriber gets. */
static size_t
put_pair(char *buf, const char *key, long long n)
{
	char digits[20];
	size_t len = 0, i = 0;
	unsigned long long u = (unsigned long long)n;

	if (n < 0)
		return 0;
	do
		digits[i++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	memcpy(buf, key, 3);
	buf[3] = '=';
	len = 4;
	while (i > 0)
		buf[len++] = digits[--i];
	buf[len++] = ';';
	return len;
}

size_t
proto_format_meta(char *buf, const struct proto_meta *m)
{
	size_t n = 0, vlen = strnlen(m->via, 32);

	n += put_pair(buf + n, "uid", m->uid);
	n += put_pair(buf + n, "gid", m->gid);
	n += put_pair(buf + n, "pid", m->pid);
	memcpy(buf + n, "via=", 4);
	memcpy(buf + n + 4, m->via, vlen);
	n += 4 + vlen;
	if (m->reply != NULL) {
		memcpy(buf + n, ";reply=", 7);
		memcpy(buf + n + 7, m->reply, m->reply_len);
		n += 7 + m->reply_len;
	}
	return n;
}

size_t
proto_meta_frame_len(size_t word_len, size_t topic_len, size_t meta_len, size_t payload_len)
{
	return word_len + 1 + topic_len + (meta_len ? 1 + meta_len : 0) +
	       (payload_len ? 1 + payload_len : 0) + 1;
}

size_t
proto_format_meta_frame(char *buf, const char *word, const char *topic, size_t topic_len,
                        const char *meta, size_t meta_len, const char *payload, size_t payload_len)
{
	size_t wlen = strlen(word), n = 0;

	memcpy(buf, word, wlen);
	n = wlen;
	buf[n++] = ' ';
	memcpy(buf + n, topic, topic_len);
	n += topic_len;
	if (meta_len) {
		buf[n++] = ' ';
		memcpy(buf + n, meta, meta_len);
		n += meta_len;
	}
	if (payload_len) {
		buf[n++] = ' ';
		memcpy(buf + n, payload, payload_len);
		n += payload_len;
	}
	buf[n++] = '\n';
	return n;
}

size_t
proto_pub_to_msg(char *line, const struct proto_request *req)
{
	size_t len = proto_msg_len(req->topic_len, req->payload_len);

	memcpy(line, "MSG", 3);
	line[len - 1] = '\n';
	return len;
}

size_t
proto_cmd_len(size_t word_len, size_t topic_len, size_t payload_len)
{
	return proto_meta_frame_len(word_len, topic_len, 0, payload_len);
}

size_t
proto_format_cmd(char *buf, const char *word, const char *topic, size_t topic_len,
                 const char *payload, size_t payload_len)
{
	return proto_format_meta_frame(buf, word, topic, topic_len, NULL, 0, payload, payload_len);
}

/* Length of a MSG frame. */
size_t
proto_msg_len(size_t topic_len, size_t payload_len)
{
	return proto_cmd_len(3, topic_len, payload_len);
}

/* Frames a delivery as MSG. */
size_t
proto_format_msg(char *buf, const char *topic, size_t topic_len, const char *payload,
                 size_t payload_len)
{
	return proto_format_cmd(buf, "MSG", topic, topic_len, payload, payload_len);
}

/* Length of a PUB request. */
size_t
proto_pub_len(size_t topic_len, size_t payload_len)
{
	return proto_msg_len(topic_len, payload_len); /* "PUB" is as long as "MSG" */
}

/* Frames a publish as PUB. */
size_t
proto_format_pub(char *buf, const char *topic, size_t topic_len, const char *payload,
                 size_t payload_len)
{
	return proto_format_cmd(buf, "PUB", topic, topic_len, payload, payload_len);
}
