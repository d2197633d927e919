/* Framing per target: udsbroker lines, the relay's lines, Redis RESP. */
#include "wire.h"

#include <stdio.h>
#include <string.h>

/* Longest array a pub/sub reply has ("pmessage pattern channel payload"). */
#define RESP_MAX_ELEMS 8

/* Longest header or simple string we accept (error texts included). */
#define RESP_MAX_HEADER 4096

/* One element of a RESP array. */
struct resp_elem {
	bool is_int;
	const char *s;
	size_t len;
	long long n;
};

/* Parses an unsigned decimal; returns false if s[0..len) is not one. */
static bool
parse_ull(const char *s, size_t len, unsigned long long *out)
{
	unsigned long long v = 0;
	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Parses a signed decimal (RESP lengths and integers). */
static bool
parse_ll(const char *s, size_t len, long long *out)
{
	unsigned long long v;
	bool neg = len > 0 && s[0] == '-';
	if (!parse_ull(s + neg, len - neg, &v))
		return false;
	*out = neg ? -(long long)v : (long long)v;
	return true;
}

/* True when the n bytes at s are the NUL-terminated word w. */
static bool
is_word(const char *s, size_t n, const char *w)
{
	return n == strlen(w) && memcmp(s, w, n) == 0;
}

/* Sets a frame that carries only its text. */
static void
frame_text(struct frame *f, enum frame_kind kind, const char *s, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->text = s;
	f->text_len = n;
}

/* Moves the first word of a delivery's payload to its meta (MSG <topic>
 * <meta> <payload>) and finds the meta's reply= value. A delivery without
 * the field is left with meta_len 0, for the caller to object. */
static void
split_meta(struct frame *f)
{
	const char *m = f->payload;
	size_t n = f->payload_len;
	const char *sp = memchr(m, ' ', n);
	f->meta = m;
	f->meta_len = sp != NULL ? (size_t)(sp - m) : n;
	f->payload = sp != NULL ? sp + 1 : m + n;
	f->payload_len = sp != NULL ? n - f->meta_len - 1 : 0;
	for (size_t i = 0; i < f->meta_len;) {
		const char *semi = memchr(m + i, ';', f->meta_len - i);
		size_t end = semi != NULL ? (size_t)(semi - m) : f->meta_len;
		if (end - i > 6 && memcmp(m + i, "reply=", 6) == 0) {
			f->reply = m + i + 6;
			f->reply_len = end - i - 6;
		}
		i = end + 1;
	}
}

/* One udsbroker (or relay) line. */
static long
line_parse(bool meta, const char *buf, size_t len, struct frame *f)
{
	const char *nl = memchr(buf, '\n', len);
	if (nl == NULL)
		return 0;
	size_t n = (size_t)(nl - buf);
	long used = (long)n + 1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;

	if (n >= 4 && (memcmp(buf, "MSG ", 4) == 0 || memcmp(buf, "PUB ", 4) == 0)) {
		frame_text(f, FRAME_MSG, buf, n);
		const char *t = buf + 4;
		size_t rest = n - 4;
		const char *sp = memchr(t, ' ', rest);
		f->topic = t;
		if (sp != NULL) {
			f->topic_len = (size_t)(sp - t);
			f->payload = sp + 1;
			f->payload_len = rest - f->topic_len - 1;
		} else {
			f->topic_len = rest;
			f->payload = t + rest;
		}
		if (meta && buf[0] == 'M')
			split_meta(f);
	} else if (is_word(buf, n, "OK")) {
		frame_text(f, FRAME_ACK, buf, n);
	} else if (n > 3 && memcmp(buf, "OK ", 3) == 0) {
		frame_text(f, FRAME_ACK, buf, n); /* OK <reply-topic>, REQ's answer */
		f->topic = buf + 3;
		f->topic_len = n - 3;
	} else if (n > 8 && memcmp(buf, "DROPPED ", 8) == 0) {
		frame_text(f, FRAME_DROPPED, buf, n);
		if (!parse_ull(buf + 8, n - 8, &f->n))
			f->kind = FRAME_OTHER;
	} else if (n >= 4 && memcmp(buf, "PONG", 4) == 0 && (n == 4 || buf[4] == ' ')) {
		frame_text(f, FRAME_PONG, buf, n);
	} else if (n >= 3 && memcmp(buf, "ERR", 3) == 0 && (n == 3 || buf[3] == ' ')) {
		frame_text(f, FRAME_ERR, buf, n);
	} else if (n >= 3 && memcmp(buf, "BYE", 3) == 0 && (n == 3 || buf[3] == ' ')) {
		frame_text(f, FRAME_BYE, buf, n);
	} else {
		frame_text(f, FRAME_OTHER, buf, n);
	}
	return used;
}

/* Finds the "\r\n" that ends the header starting at buf[pos]; returns its
 * offset, 0 when not there yet, -1 when the header is implausibly long. */
static long
resp_eol(const char *buf, size_t len, size_t pos)
{
	size_t lim = len - pos < RESP_MAX_HEADER ? len - pos : RESP_MAX_HEADER;
	const char *cr = memchr(buf + pos, '\r', lim);
	if (cr == NULL)
		return lim == RESP_MAX_HEADER ? -1 : 0;
	size_t at = (size_t)(cr - buf);
	if (at + 1 >= len)
		return 0;
	return buf[at + 1] == '\n' ? (long)at : -1;
}

/* One element of an array (bulk string, integer or simple string) at
 * buf[*pos]; advances *pos. Returns 1, 0 if incomplete, -1 on bad framing. */
static int
resp_elem(const char *buf, size_t len, size_t *pos, struct resp_elem *e)
{
	size_t p = *pos;
	if (p >= len)
		return 0;
	long eol = resp_eol(buf, len, p + 1);
	if (eol <= 0)
		return (int)eol;
	const char *num = buf + p + 1;
	size_t num_len = (size_t)eol - p - 1;
	memset(e, 0, sizeof(*e));
	switch (buf[p]) {
	case ':':
		e->is_int = true;
		if (!parse_ll(num, num_len, &e->n))
			return -1;
		*pos = (size_t)eol + 2;
		return 1;
	case '+':
		e->s = num;
		e->len = num_len;
		*pos = (size_t)eol + 2;
		return 1;
	case '$': {
		long long blen;
		if (!parse_ll(num, num_len, &blen) || blen < -1)
			return -1;
		size_t start = (size_t)eol + 2;
		if (blen == -1) {
			e->s = buf + start;
			*pos = start;
			return 1;
		}
		if (len < start + (size_t)blen + 2)
			return 0;
		if (buf[start + blen] != '\r' || buf[start + blen + 1] != '\n')
			return -1;
		e->s = buf + start;
		e->len = (size_t)blen;
		*pos = start + (size_t)blen + 2;
		return 1;
	}
	default:
		return -1;
	}
}

/* One RESP reply. */
static long
resp_parse(const char *buf, size_t len, struct frame *f)
{
	if (len < 3)
		return 0;
	long eol = resp_eol(buf, len, 1);
	if (eol <= 0)
		return eol;
	size_t hdr_end = (size_t)eol + 2;
	switch (buf[0]) {
	case ':':
		frame_text(f, FRAME_INT, buf, (size_t)eol);
		return parse_ull(buf + 1, (size_t)eol - 1, &f->n) ? (long)hdr_end : -1;
	case '-':
		frame_text(f, FRAME_ERR, buf + 1, (size_t)eol - 1);
		return (long)hdr_end;
	case '+':
		frame_text(f, is_word(buf + 1, (size_t)eol - 1, "PONG") ? FRAME_PONG : FRAME_ACK,
			   buf + 1, (size_t)eol - 1);
		return (long)hdr_end;
	case '*':
		break;
	default:
		return -1;
	}

	long long count;
	if (!parse_ll(buf + 1, (size_t)eol - 1, &count) || count < 1 || count > RESP_MAX_ELEMS)
		return -1;
	struct resp_elem el[RESP_MAX_ELEMS];
	size_t pos = hdr_end;
	for (long long i = 0; i < count; i++) {
		int r = resp_elem(buf, len, &pos, &el[i]);
		if (r <= 0)
			return r;
	}
	frame_text(f, FRAME_OTHER, buf, pos);
	if (el[0].is_int)
		return (long)pos;
	if (count == 3 && is_word(el[0].s, el[0].len, "message")) {
		f->kind = FRAME_MSG;
		f->topic = el[1].s;
		f->topic_len = el[1].len;
		f->payload = el[2].s;
		f->payload_len = el[2].len;
	} else if (count == 4 && is_word(el[0].s, el[0].len, "pmessage")) {
		f->kind = FRAME_MSG;
		f->topic = el[2].s;
		f->topic_len = el[2].len;
		f->payload = el[3].s;
		f->payload_len = el[3].len;
	} else if (count == 3 && (is_word(el[0].s, el[0].len, "subscribe") ||
				  is_word(el[0].s, el[0].len, "psubscribe"))) {
		f->kind = FRAME_ACK;
		f->n = el[2].is_int ? (unsigned long long)el[2].n : 0;
	} else if (is_word(el[0].s, el[0].len, "pong")) {
		f->kind = FRAME_PONG;
	}
	return (long)pos;
}

/* The space-separated words of s[0..n), at most max; returns how many, or
 * -1 when there are more. */
static int
split_words(const char *s, size_t n, const char **w, size_t *wl, int max)
{
	int k = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		if (k == max)
			return -1;
		size_t j = i;
		while (j < n && s[j] != ' ' && s[j] != '\t')
			j++;
		w[k] = s + i;
		wl[k++] = j - i;
		i = j;
	}
	return k;
}

/* True when the n bytes at s start with the word w (case-insensitive, as
 * NATS operation names are), followed by the end or a space. */
static bool
is_op(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);
	if (n < k || (n > k && s[k] != ' ' && s[k] != '\t'))
		return false;
	for (size_t i = 0; i < k; i++)
		if ((s[i] | 0x20) != (w[i] | 0x20) && s[i] != w[i])
			return false;
	return true;
}

/* One NATS server operation: a control line ending in \r\n, and for MSG
 * the payload of the size it announces and its \r\n. */
static long
nats_parse(const char *buf, size_t len, struct frame *f)
{
	if (len >= 2 && buf[0] == '\r') { /* an empty line: nothing to act on */
		frame_text(f, FRAME_INFO, buf, 0);
		return buf[1] == '\n' ? 2 : -1;
	}
	long eol = resp_eol(buf, len, 0);
	if (eol <= 0)
		return eol;
	size_t n = (size_t)eol, hdr_end = n + 2;
	if (is_op(buf, n, "MSG")) {
		const char *w[5];
		size_t wl[5];
		int k = split_words(buf + 4, n > 4 ? n - 4 : 0, w, wl, 4);
		unsigned long long size;
		if (k < 3 || !parse_ull(w[k - 1], wl[k - 1], &size))
			return -1;
		if (len < hdr_end + size + 2)
			return 0;
		if (buf[hdr_end + size] != '\r' || buf[hdr_end + size + 1] != '\n')
			return -1;
		frame_text(f, FRAME_MSG, buf, hdr_end + size);
		f->topic = w[0];
		f->topic_len = wl[0];
		if (k == 4) {
			f->reply = w[2];
			f->reply_len = wl[2];
		}
		f->payload = buf + hdr_end;
		f->payload_len = size;
		return (long)(hdr_end + size + 2);
	}
	if (is_op(buf, n, "PING"))
		frame_text(f, FRAME_PING, buf, n);
	else if (is_op(buf, n, "PONG"))
		frame_text(f, FRAME_PONG, buf, n);
	else if (is_op(buf, n, "+OK"))
		frame_text(f, FRAME_ACK, buf, n);
	else if (is_op(buf, n, "-ERR"))
		frame_text(f, FRAME_ERR, buf, n);
	else if (is_op(buf, n, "INFO"))
		frame_text(f, FRAME_INFO, buf, n);
	else
		frame_text(f, FRAME_OTHER, buf, n);
	return (long)hdr_end;
}

long
wire_parse(enum target t, bool meta, const char *buf, size_t len, struct frame *f)
{
	switch (t) {
	case TARGET_REDIS:
		return resp_parse(buf, len, f);
	case TARGET_NATS:
		return nats_parse(buf, len, f);
	default:
		return line_parse(meta, buf, len, f);
	}
}

size_t
wire_sub(enum target t, char *out, size_t cap, const char *filter, bool wildcard)
{
	int n;
	if (t == TARGET_REDIS) {
		const char *cmd = wildcard ? "PSUBSCRIBE" : "SUBSCRIBE";
		n = snprintf(out, cap, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n", strlen(cmd), cmd,
			     strlen(filter), filter);
	} else {
		n = snprintf(out, cap, "SUB %s\n", filter);
	}
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int
wire_pub_frame(enum target t, const char *topic, size_t size, char *pre, size_t pre_cap,
	       size_t *pre_len, char *post, size_t post_cap, size_t *post_len)
{
	int n;
	const char *tail;
	if (t == TARGET_REDIS) {
		n = snprintf(pre, pre_cap, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n",
			     strlen(topic), topic, size);
		tail = "\r\n";
	} else {
		n = snprintf(pre, pre_cap, "PUB %s ", topic);
		tail = "\n";
	}
	if (n < 0 || (size_t)n >= pre_cap || strlen(tail) >= post_cap)
		return -1;
	*pre_len = (size_t)n;
	*post_len = strlen(tail);
	memcpy(post, tail, *post_len);
	return 0;
}

const char *
wire_target_name(enum target t)
{
	switch (t) {
	case TARGET_UDS:
		return "uds";
	case TARGET_RELAY:
		return "relay";
	case TARGET_REDIS:
		return "redis";
	case TARGET_NATS:
		return "nats";
	}
	return "?";
}

int
wire_target_parse(const char *name, enum target *t)
{
	static const enum target all[] = {TARGET_UDS, TARGET_RELAY, TARGET_REDIS, TARGET_NATS};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, wire_target_name(all[i])) == 0) {
			*t = all[i];
			return 0;
		}
	}
	return -1;
}
