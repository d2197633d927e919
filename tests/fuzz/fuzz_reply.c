/*
 * Fuzz target: the client library's reading of what the broker sends
 * (src/lib/io.c): line assembly in the connection's read buffer under the
 * bounded line rule, proto_parse_reply, matching replies to the requests
 * pending, over-long replies, and the events built from it all.
 *
 * Input: a header, then the byte stream a broker would send.
 *   byte 0        max_line = 64 + 4 * byte (64..1084)
 *   byte 1        low 3 bits: k, requests pending (0..7); bit 3: a call
 *                 waits for the last of them; bits 4..7: chunk size - 1
 *                 in units of 8 bytes (8..128), and chunk size 1 when 0
 *   k bytes       each request's kind, % 5: SUB, UNSUB, PING, STATS, or
 *                 a PUB and then a SUB (which the library precedes by a
 *                 PING of its own)
 *   the rest      the stream
 *
 * The stream goes to two connections with the same requests: in one piece,
 * and in chunks. Both must end the same (events, the waiting call's status,
 * replies matched, lost or not): how the bytes arrive changes nothing.
 * Every event's strings end with a NUL at their lengths, the ring of
 * pending replies stays consistent, and the read buffer stays bounded.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"

#define MAX_REQ 7

/* One connection's run, told as text for comparing. */
struct outcome {
	char *text;
	size_t len;
};

/* Sets up c as a connection with the requests of the header pending. */
static void
prepare(struct udsb *c, size_t max_line, const uint8_t *kinds, size_t k, bool wait)
{
	uint64_t seq = 0;

	FUZZ_CHECK(udsb_set_max_line(c, max_line) == UDSB_OK, "max_line %zu", max_line);
	FUZZ_CHECK(lib_alloc_rbuf(c) == 0, "out of memory");
	for (size_t i = 0; i < k; i++) {
		static const enum pending kind[] = { PEND_SUB, PEND_UNSUB, PEND_PING, PEND_STATS,
			                             PEND_SUB };
		static const char *const line[] = { "SUB a\n", "UNSUB a\n", "PING 1\n", "STATS\n",
			                            "SUB a\n" };
		unsigned w = kinds[i] % 5;

		if (w == 4)
			c->pubs_unsynced = true; /* as after udsb_publish() */
		FUZZ_CHECK(lib_request(c, kind[w], line[w], strlen(line[w]), &seq) == UDSB_OK,
		           "lib_request");
	}
	if (wait && seq != 0) {
		c->wait_seq = seq;
		c->wait_status = UDSB_OK;
	}
}

/* The invariants of c between two inputs. */
static void
check_state(const struct udsb *c)
{
	FUZZ_CHECK(c->sent_seq == c->done_seq + c->pend_count, "sent %llu, done %llu, pending %zu",
	           (unsigned long long)c->sent_seq, (unsigned long long)c->done_seq, c->pend_count);
	FUZZ_CHECK(c->rstart <= c->rend && c->rend <= c->rcap, "read buffer [%zu, %zu) of %zu",
	           c->rstart, c->rend, c->rcap);
	FUZZ_CHECK(c->rend - c->rstart < c->max_line + RBUF_SLACK, "read buffer holds %zu",
	           c->rend - c->rstart);
	FUZZ_CHECK(c->lost == 0 || c->lost == UDSB_EPROTO || c->lost == UDSB_EIO, "lost %d",
	           c->lost);
}

/* Appends a field of n bytes to o, after its length. */
static void
put(FILE *f, const char *what, const char *s, size_t n)
{
	fprintf(f, "%s %zu:", what, n);
	fwrite(s, 1, n, f);
	fputc('\n', f);
}

/* Takes every event of c, checks it and tells it, with the end state. */
static void
finish(struct udsb *c, struct outcome *o)
{
	FILE *f = open_memstream(&o->text, &o->len);
	struct udsb_event ev;

	FUZZ_CHECK(f != NULL, "open_memstream");
	while (evq_pop(&c->evq, &ev)) {
		FUZZ_CHECK(ev.type <= UDSB_EV_UNKNOWN, "event type %d", (int)ev.type);
		FUZZ_CHECK(ev.topic != NULL && ev.payload != NULL && ev.code != NULL &&
		               ev.text != NULL,
		           "a NULL field in an event of type %d", (int)ev.type);
		FUZZ_CHECK(ev.topic[ev.topic_len] == '\0' && ev.payload[ev.payload_len] == '\0',
		           "an unterminated field");
		FUZZ_CHECK(ev.type != UDSB_EV_MSG || ev.topic_len > 0, "MSG without a topic");
		FUZZ_CHECK(ev.type != UDSB_EV_OVERLONG || ev.count > c->max_line,
		           "OVERLONG of %llu bytes, max_line %zu", ev.count, c->max_line);
		fprintf(f, "event %d count %llu\n", (int)ev.type, ev.count);
		put(f, "topic", ev.topic, ev.topic_len);
		put(f, "payload", ev.payload, ev.payload_len);
		put(f, "code", ev.code, strlen(ev.code));
		put(f, "text", ev.text, strlen(ev.text));
	}
	fprintf(f, "done %llu lost %d\n", (unsigned long long)c->done_seq, c->lost);
	if (c->wait_seq != 0 && c->done_seq >= c->wait_seq) {
		fprintf(f, "status %d\n", c->wait_status);
		if (c->wait_status == UDSB_EBROKER)
			fprintf(f, "broker %s %s\n", c->broker_code, c->broker_text);
		if (c->wait_status == UDSB_OK && c->pend_count == 0 && c->stats_line != NULL)
			for (size_t i = 0; i < c->nstats; i++)
				FUZZ_CHECK(c->stats[i].key != NULL && c->stats[i].value != NULL,
				           "stats item %zu", i);
	}
	FUZZ_CHECK(fclose(f) == 0, "fclose");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	size_t max_line = 64 + 4 * (size_t)fuzz_byte(&in), k, chunk;
	uint8_t flags = fuzz_byte(&in), kinds[MAX_REQ];
	struct udsb *whole = udsb_new(), *parts = udsb_new();
	struct outcome a = { 0 }, b = { 0 };
	bool wait = (flags & 8) != 0;

	k = flags & 7;
	chunk = (flags >> 4) == 0 ? 1 : 8 * (size_t)(flags >> 4);
	for (size_t i = 0; i < k; i++)
		kinds[i] = fuzz_byte(&in);
	FUZZ_CHECK(whole != NULL && parts != NULL, "out of memory");
	prepare(whole, max_line, kinds, k, wait);
	prepare(parts, max_line, kinds, k, wait);

	FUZZ_CHECK(lib_input(whole, (const char *)in.p, in.n) == 0, "out of memory");
	check_state(whole);
	for (size_t off = 0; off < in.n; off += chunk) {
		size_t n = in.n - off < chunk ? in.n - off : chunk;

		FUZZ_CHECK(lib_input(parts, (const char *)in.p + off, n) == 0, "out of memory");
		check_state(parts);
	}
	finish(whole, &a);
	finish(parts, &b);
	FUZZ_CHECK(a.len == b.len && memcmp(a.text, b.text, a.len) == 0,
	           "chunks of %zu change the outcome:\n--- whole\n%.*s\n--- in chunks\n%.*s", chunk,
	           (int)a.len, a.text, (int)b.len, b.text);
	free(a.text);
	free(b.text);
	udsb_free(whole);
	udsb_free(parts);
	return 0;
}
