/*
 * Fuzz target: the bounded line rule over a flat buffer (src/common/
 * linescan.h, the way a daemon connection, the client library and udsctl
 * read), feeding the protocol parser, plus the reply parser, MSG and PUB
 * framing (also in place, as the broker does, alone and in a burst), and log escaping of each
 * line.
 *
 * Input: a header, then the byte stream a client would send.
 *   byte 0, low 2 bits of byte 1   max_line - 1 (so 1..1024)
 *   byte 1 >> 2                    buffer size for escape_text (0..63)
 *   byte 2 & 7                     k - 1: number of chunk sizes that follow
 *   k bytes                        chunk sizes - 1, used in turn
 *   the rest                       the stream, added to the buffer chunk
 *                                  by chunk, lines taken after each chunk
 *
 * The reader is checked against a plain model of the rules (every line up
 * to max_line bytes comes out whole, every longer one is reported once,
 * nothing else), and its buffer must stay bounded.
 */
#include <stdbool.h>
#include <string.h>

#include "escape.h"
#include "fuzz.h"
#include "linescan.h"
#include "log.h"
#include "proto.h"
#include "topic.h"

#define MAX_TOPIC 256 /* the config default */

/* One event the line reader must produce, in order. */
struct expect {
	bool ready;      /* LINE_READY, else LINE_TOO_LONG */
	size_t off, len; /* the line in the stream, '\n' included */
};

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Is [w, w+len) the word name, ignoring ASCII case? Written apart from
 * proto.c's on purpose. */
static bool
same_word(const char *w, size_t len, const char *name)
{
	size_t i;

	for (i = 0; i < len && name[i] != '\0'; i++)
		if (lower((unsigned char)w[i]) != lower((unsigned char)name[i]))
			return false;
	return i == len && name[i] == '\0';
}

/* Is [p, p+n) inside [base, base+len]? */
static bool
inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p <= base + len && n <= (size_t)(base + len - p);
}

static void
check_request(const char *line, size_t len)
{
	static const char *const names[] = {
	    [PROTO_PUB] = "PUB",   [PROTO_SUB] = "SUB",     [PROTO_UNSUB] = "UNSUB",
	    [PROTO_PING] = "PING", [PROTO_STATS] = "STATS", [PROTO_QUIT] = "QUIT",
	    [PROTO_RETAIN] = "RETAIN", [PROTO_WILL] = "WILL", [PROTO_OPT] = "OPT",
	    [PROTO_REQ] = "REQ",
	};
	struct proto_request req;
	size_t eff = len > 0 && line[len - 1] == '\r' ? len - 1 : len;
	int known = -1;

	proto_parse_request(line, len, &req);
	FUZZ_CHECK(req.cmd >= PROTO_PUB && req.cmd <= PROTO_UNKNOWN, "cmd %d", (int)req.cmd);
	FUZZ_CHECK(proto_cmd_name(req.cmd) != NULL, "no name");
	if (eff == 0) {
		FUZZ_CHECK(req.cmd == PROTO_EMPTY, "empty line parsed as %d", (int)req.cmd);
		return;
	}
	FUZZ_CHECK(req.cmd != PROTO_EMPTY, "a %zu-byte line parsed as empty", eff);

	/* The word is the line up to its first space; arg the rest. */
	FUZZ_CHECK(req.word == line, "word does not start the line");
	FUZZ_CHECK(req.word_len <= eff, "word_len %zu > %zu", req.word_len, eff);
	FUZZ_CHECK(memchr(req.word, ' ', req.word_len) == NULL, "space in the word");
	if (req.arg == NULL) {
		FUZZ_CHECK(req.word_len == eff, "no arg but word_len %zu of %zu", req.word_len,
		           eff);
	} else {
		FUZZ_CHECK(line[req.word_len] == ' ', "arg not after a space");
		FUZZ_CHECK(req.arg == line + req.word_len + 1, "arg misplaced");
		FUZZ_CHECK(req.arg + req.arg_len == line + eff, "arg does not end the line");
	}

	for (int c = PROTO_PUB; c < PROTO_EMPTY; c++)
		if (same_word(req.word, req.word_len, names[c]))
			known = c;
	if (known < 0)
		FUZZ_CHECK(req.cmd == PROTO_UNKNOWN, "word parsed as %d", (int)req.cmd);
	else
		FUZZ_CHECK((int)req.cmd == known, "%s parsed as %d", names[known], (int)req.cmd);

	if ((req.cmd != PROTO_PUB && req.cmd != PROTO_RETAIN && req.cmd != PROTO_REQ) ||
	    req.arg == NULL) {
		FUZZ_CHECK(req.topic == NULL && req.payload == NULL, "topic without PUB arg");
		return;
	}
	/* PUB: topic up to the next space, payload everything after it. */
	FUZZ_CHECK(req.topic == req.arg, "topic does not start the arg");
	FUZZ_CHECK(req.topic_len <= req.arg_len, "topic_len %zu > arg_len %zu", req.topic_len,
	           req.arg_len);
	FUZZ_CHECK(memchr(req.topic, ' ', req.topic_len) == NULL, "space in the topic");
	FUZZ_CHECK(inside(req.payload, req.payload_len, line, eff), "payload outside the line");
	if (req.topic_len < req.arg_len) {
		FUZZ_CHECK(req.topic[req.topic_len] == ' ', "topic not ended by a space");
		FUZZ_CHECK(req.payload == req.topic + req.topic_len + 1, "payload misplaced");
		FUZZ_CHECK(req.payload_len == req.arg_len - req.topic_len - 1, "payload_len %zu",
		           req.payload_len);
	} else {
		FUZZ_CHECK(req.payload_len == 0, "payload without a space");
	}

	/* What the broker does with a valid PUB: frame it as MSG; a client
	 * must read back the same topic and payload. */
	if (req.topic_len > 0 && topic_check(req.topic, req.topic_len, MAX_TOPIC) == TOPIC_OK) {
		size_t mlen = proto_msg_len(req.topic_len, req.payload_len);
		char *msg = malloc(mlen);
		struct proto_reply rep;
		size_t n;

		FUZZ_CHECK(msg != NULL, "out of memory");
		n = proto_format_msg(msg, req.topic, req.topic_len, req.payload, req.payload_len);
		FUZZ_CHECK(n == mlen, "formatted %zu bytes, proto_msg_len said %zu", n, mlen);
		FUZZ_CHECK(msg[n - 1] == '\n', "MSG frame without its newline");
		FUZZ_CHECK(memchr(msg, '\n', n - 1) == NULL, "newline inside a MSG frame");
		FUZZ_CHECK(proto_parse_reply(msg, n - 1, &rep) == 0, "own MSG frame rejected");
		if (req.cmd == PROTO_PUB) {
			/* The broker turns the line into the frame where it lies:
			 * it must come out as the same bytes. */
			char *copy = malloc(len + 1);
			struct proto_request again;

			FUZZ_CHECK(copy != NULL, "out of memory");
			memcpy(copy, line, len);
			copy[len] = '\n';
			proto_parse_request(copy, len, &again);
			FUZZ_CHECK(proto_pub_to_msg(copy, &again) == n, "in-place frame length");
			FUZZ_CHECK(memcmp(copy, msg, n) == 0, "in-place frame differs");
			/* As the next line of a burst on its own topic: taken
			 * only when its frame is the whole line, then the same
			 * bytes; else left alone. */
			memcpy(copy, line, len);
			copy[len] = '\n';
			if (proto_pub_same_topic(copy, len, req.topic, req.topic_len)) {
				FUZZ_CHECK(n == len + 1 && memcmp(copy, msg, n) == 0,
				           "burst frame differs");
			} else {
				FUZZ_CHECK(memcmp(copy, line, len) == 0, "burst line changed");
				FUZZ_CHECK(n != len + 1 || memcmp(line, "PUB ", 4) != 0 ||
				               line[len - 1] == '\r',
				           "a burst line was refused");
			}
			free(copy);
		}
		FUZZ_CHECK(rep.kind == PROTO_R_MSG, "MSG read back as %d", (int)rep.kind);
		FUZZ_CHECK(rep.a_len == req.topic_len && memcmp(rep.a, req.topic, rep.a_len) == 0,
		           "topic changed through MSG");
		/* A payload ending in '\r' loses it to the reader's CR stripping:
		 * a known limit of the line protocol, not checked here. */
		if (req.payload_len == 0 || req.payload[req.payload_len - 1] != '\r')
			FUZZ_CHECK(rep.b_len == req.payload_len &&
			               memcmp(rep.b, req.payload, rep.b_len) == 0,
			           "payload changed through MSG (%zu -> %zu bytes)",
			           req.payload_len, rep.b_len);
		free(msg);

		/* What a client does to send it: frame it as PUB; the broker
		 * must read back the same topic and payload. */
		mlen = proto_pub_len(req.topic_len, req.payload_len);
		msg = malloc(mlen);
		FUZZ_CHECK(msg != NULL, "out of memory");
		n = proto_format_pub(msg, req.topic, req.topic_len, req.payload, req.payload_len);
		FUZZ_CHECK(n == mlen, "formatted %zu bytes, proto_pub_len said %zu", n, mlen);
		FUZZ_CHECK(msg[n - 1] == '\n' && memchr(msg, '\n', n - 1) == NULL,
		           "PUB frame not one line");
		{
			struct proto_request back;

			proto_parse_request(msg, n - 1, &back);
			FUZZ_CHECK(back.cmd == PROTO_PUB, "own PUB read back as %d", (int)back.cmd);
			FUZZ_CHECK(back.topic_len == req.topic_len &&
			               memcmp(back.topic, req.topic, req.topic_len) == 0,
			           "topic changed through PUB");
			if (req.payload_len == 0 || req.payload[req.payload_len - 1] != '\r')
				FUZZ_CHECK(back.payload_len == req.payload_len &&
				               memcmp(back.payload, req.payload, req.payload_len) == 0,
				           "payload changed through PUB");
		}
		free(msg);
	}
}

/* The client library's side: any line from a broker parses safely. */
static void
check_reply(const char *line, size_t len)
{
	struct proto_reply rep;
	size_t eff = len > 0 && line[len - 1] == '\r' ? len - 1 : len;

	if (proto_parse_reply(line, len, &rep) < 0)
		return;
	switch (rep.kind) {
	case PROTO_R_MSG:
	case PROTO_R_RMSG:
	case PROTO_R_ERR:
		FUZZ_CHECK(rep.a_len > 0, "MSG/RMSG/ERR accepted with an empty first field");
		FUZZ_CHECK(inside(rep.a, rep.a_len, line, eff), "a outside the line");
		FUZZ_CHECK(inside(rep.b, rep.b_len, line, eff), "b outside the line");
		FUZZ_CHECK(memchr(rep.a, ' ', rep.a_len) == NULL, "space in the first field");
		break;
	case PROTO_R_DROPPED: {
		const char *sp = memchr(line, ' ', eff);
		unsigned long long n = 0;

		FUZZ_CHECK(sp != NULL && sp + 1 < line + eff, "DROPPED without a number");
		for (const char *d = sp + 1; d < line + eff; d++) {
			FUZZ_CHECK(*d >= '0' && *d <= '9', "DROPPED with a non-digit");
			FUZZ_CHECK(n <= (~0ULL - (unsigned)(*d - '0')) / 10,
			           "DROPPED overflow accepted");
			n = n * 10 + (unsigned)(*d - '0');
		}
		FUZZ_CHECK(rep.count == n, "DROPPED %llu read as %llu", n, rep.count);
		break;
	}
	case PROTO_R_PONG:
	case PROTO_R_BYE:
	case PROTO_R_STATS:
		FUZZ_CHECK(inside(rep.a, rep.a_len, line, eff), "a outside the line");
		break;
	case PROTO_R_OK:
		break;
	default:
		FUZZ_CHECK(0, "reply kind %d", (int)rep.kind);
	}
}

/* Decodes escape_text's output back into bytes; returns the length. */
static size_t
unescape(const char *s, char *out)
{
	size_t n = 0;

	while (*s != '\0') {
		if (*s != '\\') {
			out[n++] = *s++;
		} else if (s[1] == 'x') {
			unsigned v = 0;

			for (int i = 2; i < 4; i++) {
				char c = s[i];

				FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'),
				           "bad hex escape");
				v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
			}
			out[n++] = (char)v;
			s += 4;
		} else {
			FUZZ_CHECK(s[1] == '\\' || s[1] == '"', "bad escape \\%c", s[1]);
			out[n++] = s[1];
			s += 2;
		}
	}
	return n;
}

/* Log lines quote untrusted words: the result is printable, bounded, and
 * when it is not cut short it decodes back to the input. */
static void
check_escape(const char *line, size_t len, size_t small)
{
	size_t full_size = 4 * len + 4;
	char *full = malloc(full_size), *back = malloc(len + 1), *cut = malloc(small ? small : 1);
	size_t flen;

	FUZZ_CHECK(full != NULL && back != NULL && cut != NULL, "out of memory");
	escape_text(full, full_size, line, len);
	flen = strlen(full);
	FUZZ_CHECK(flen < full_size, "escape overran");
	for (size_t i = 0; i < flen; i++)
		FUZZ_CHECK(full[i] >= 0x20 && full[i] < 0x7f, "unprintable byte 0x%02x escaped",
		           (unsigned char)full[i]);
	FUZZ_CHECK(unescape(full, back) == len && memcmp(back, line, len) == 0,
	           "escape does not decode back to its input");

	cut[0] = 'Z';
	escape_text(cut, small, line, len);
	if (small == 0) {
		FUZZ_CHECK(cut[0] == 'Z', "escape_text wrote into a zero-size buffer");
	} else {
		size_t clen = strlen(cut); /* ASan catches a missing NUL */

		FUZZ_CHECK(clen < small, "cut escape of %zu in %zu", clen, small);
		/* Cut short: "..." ends it, when the buffer has room for it. */
		if (strcmp(cut, full) != 0 && small >= 4) {
			FUZZ_CHECK(clen >= 3 && memcmp(cut + clen - 3, "...", 3) == 0,
			           "cut short without \"...\"");
			FUZZ_CHECK(memcmp(cut, full, clen - 3) == 0, "cut escape is not a prefix");
		} else if (strcmp(cut, full) != 0) {
			FUZZ_CHECK(clen == 0, "%zu bytes in a buffer of %zu", clen, small);
		}
	}
	free(full);
	free(back);
	free(cut);
}

/* The model: the events the stream must produce. Returns their number. */
static size_t
expected_events(const char *s, size_t n, size_t max_line, struct expect *ev)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\n')
			continue;
		ev[count++] = (struct expect){i + 1 - start <= max_line, start, i + 1 - start};
		start = i + 1;
	}
	/* A partial last line is reported only once it cannot fit any more. */
	if (n - start >= max_line)
		ev[count++] = (struct expect){false, start, n - start};
	return count;
}

/* The flat-buffer reader of the library: chunks appended to a buffer, the
 * rule applied after each, consumed bytes removed. It must give the
 * model's events: READY for each line that fits, TOO_LONG once for each
 * other, then SKIPs adding up to that line's length when its end came. */
static void
check_flat(const char *stream, size_t slen, const size_t *chunk, size_t nchunk,
           size_t max_line, const struct expect *ev, size_t nev)
{
	struct linescan ls = {0};
	char *buf = malloc(max_line + 256);
	size_t held = 0, off = 0, seen = 0, dropped = 0;

	FUZZ_CHECK(buf != NULL, "out of memory");
	for (size_t c = 0; off < slen; c++) {
		size_t add = chunk[c % nchunk] < slen - off ? chunk[c % nchunk] : slen - off;
		size_t front = 0, n;
		enum linescan_result r;

		memcpy(buf + held, stream + off, add);
		held += add;
		off += add;
		while ((r = linescan_next(&ls, buf + front, held - front, max_line, &n)) !=
		       LINESCAN_NONE) {
			FUZZ_CHECK(n >= 1 && n <= held - front, "consume %zu of %zu", n, held - front);
			if (r == LINESCAN_SKIP) {
				FUZZ_CHECK(seen > 0 && !ev[seen - 1].ready, "skip without a long line");
				dropped += n;
			} else {
				FUZZ_CHECK(seen < nev, "flat: event %zu beyond the %zu expected", seen,
				           nev);
				FUZZ_CHECK(ev[seen].ready == (r == LINESCAN_READY),
				           "flat: line at %zu (%zu bytes, max_line %zu) came out as %d",
				           ev[seen].off, ev[seen].len, max_line, (int)r);
				if (r == LINESCAN_READY) {
					FUZZ_CHECK(n == ev[seen].len &&
					               memcmp(buf + front, stream + ev[seen].off, n) == 0,
					           "flat: line of %zu bytes came out as %zu", ev[seen].len,
					           n);
				}
				dropped = r == LINESCAN_TOO_LONG ? n : 0;
				seen++;
			}
			if (r != LINESCAN_READY && !ls.skipping)
				FUZZ_CHECK(dropped == ev[seen - 1].len,
				           "flat: a long line of %zu bytes dropped as %zu",
				           ev[seen - 1].len, dropped);
			front += n;
		}
		/* Bounded: what is kept is part of one line shorter than max_line. */
		held -= front;
		memmove(buf, buf + front, held);
		FUZZ_CHECK(held < max_line, "flat: %zu bytes kept, max_line %zu", held, max_line);
		FUZZ_CHECK(!ls.skipping || held == 0, "flat: skipping but %zu bytes kept", held);
	}
	FUZZ_CHECK(seen == nev, "flat: %zu events of the %zu expected", seen, nev);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in);
	size_t max_line = 1 + (b0 | (size_t)(b1 & 3) << 8);
	size_t escape_size = b1 >> 2;
	size_t nchunk = 1 + (fuzz_byte(&in) & 7), chunk[8];
	const char *stream;
	size_t slen, nev;
	struct expect *ev;

	for (size_t i = 0; i < nchunk; i++)
		chunk[i] = 1 + (size_t)fuzz_byte(&in);
	stream = (const char *)in.p;
	slen = in.n;

	ev = malloc((slen + 1) * sizeof *ev);
	FUZZ_CHECK(ev != NULL, "out of memory");
	nev = expected_events(stream, slen, max_line, ev);
	check_flat(stream, slen, chunk, nchunk, max_line, ev, nev);
	for (size_t i = 0; i < nev; i++) {
		const char *line = stream + ev[i].off;

		if (!ev[i].ready)
			continue;
		check_request(line, ev[i].len - 1);
		check_reply(line, ev[i].len - 1);
		check_escape(line, ev[i].len - 1, escape_size);
	}
	free(ev);
	return 0;
}

