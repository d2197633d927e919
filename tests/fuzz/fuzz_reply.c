/*
 * Fuzz target: the client library's reading of what the broker sends
 * (src/lib/io.c): line assembly in the connection's read buffer under the
 * bounded line rule, proto_parse_reply, matching replies to the requests
 * pending, over-long replies, and the events built from it all: retained
 * deliveries (RMSG), the meta field once OPT meta on is confirmed
 * (proto_parse_meta), "OK <reply-topic>" for REQ, ERR no-responders, and
 * the PONG ending a reconnect's restore (UDSB_EV_RECONNECTED).
 *
 * Input: a header, then the byte stream a broker would send.
 *   byte 0        max_line = 64 + 4 * byte (64..1084)
 *   byte 1        low 3 bits: k, requests pending (0..7); bit 3: a call
 *                 waits for the last of them; bits 4..7: chunk size - 1
 *                 in units of 8 bytes (8..128), and chunk size 1 when 0
 *   k bytes       each request's kind, % 10: SUB, UNSUB, PING, STATS,
 *                 a PUB and then a SUB (which the library precedes by a
 *                 PING of its own), WILL, OPT meta on, OPT meta off, REQ,
 *                 the restore PING of a reconnect
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
#include "proto.h"

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
		static const enum pending kind[] = {
			PEND_SUB,  PEND_UNSUB,   PEND_PING,     PEND_STATS, PEND_SUB,
			PEND_WILL, PEND_META_ON, PEND_META_OFF, PEND_REQ,   PEND_RESTORE,
		};
		static const char *const line[] = {
			"SUB a\n",         "UNSUB a\n",      "PING 1\n",      "STATS\n",
			"SUB a\n",         "WILL PUB w x\n", "OPT meta on\n", "OPT meta off\n",
			"REQ q payload\n", "PING\n",
		};
		unsigned w = kinds[i] % 10;

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

/* The fields of a delivery agree with its meta, parsed again; outside
 * deliveries they are empty. */
static void
check_meta(const struct udsb_event *ev)
{
	struct proto_meta_fields m;

	if (ev->type != UDSB_EV_MSG) {
		FUZZ_CHECK(ev->retained == 0 && ev->meta[0] == '\0' && ev->via[0] == '\0' &&
		               ev->reply[0] == '\0' && ev->uid == -1 && ev->gid == -1 &&
		               ev->pid == -1,
		           "meta fields on an event of type %d", (int)ev->type);
		return;
	}
	FUZZ_CHECK(ev->retained == 0 || ev->retained == 1, "retained %d", ev->retained);
	FUZZ_CHECK(strchr(ev->meta, ' ') == NULL, "a space in the meta field \"%s\"", ev->meta);
	proto_parse_meta(ev->meta, strlen(ev->meta), &m);
	FUZZ_CHECK(m.uid == ev->uid && m.gid == ev->gid && m.pid == ev->pid,
	           "uid/gid/pid %lld/%lld/%lld, the meta says %lld/%lld/%lld", ev->uid, ev->gid,
	           ev->pid, m.uid, m.gid, m.pid);
	FUZZ_CHECK(ev->uid >= -1 && ev->gid >= -1 && ev->pid >= -1, "a negative id");
	FUZZ_CHECK(m.via_len == strlen(ev->via) && memcmp(m.via, ev->via, m.via_len) == 0 &&
	               m.reply_len == strlen(ev->reply) &&
	               memcmp(m.reply, ev->reply, m.reply_len) == 0,
	           "via/reply differ from the meta");
	FUZZ_CHECK(strchr(ev->via, ';') == NULL && strchr(ev->reply, ';') == NULL,
	           "a ';' inside a meta value");
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
		FUZZ_CHECK(ev.type <= UDSB_EV_RECONNECTED, "event type %d", (int)ev.type);
		FUZZ_CHECK(ev.topic != NULL && ev.payload != NULL && ev.code != NULL &&
		               ev.text != NULL && ev.via != NULL && ev.reply != NULL &&
		               ev.meta != NULL,
		           "a NULL field in an event of type %d", (int)ev.type);
		check_meta(&ev);
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
		fprintf(f, "retained %d uid %lld gid %lld pid %lld\n", ev.retained, ev.uid, ev.gid,
		        ev.pid);
		put(f, "meta", ev.meta, strlen(ev.meta));
		put(f, "via", ev.via, strlen(ev.via));
		put(f, "reply", ev.reply, strlen(ev.reply));
	}
	fprintf(f, "meta_wire %d\n", c->meta_wire);
	fprintf(f, "done %llu lost %d\n", (unsigned long long)c->done_seq, c->lost);
	if (c->wait_seq != 0 && c->done_seq >= c->wait_seq) {
		fprintf(f, "status %d\n", c->wait_status);
		if (c->wait_status == UDSB_EBROKER)
			fprintf(f, "broker %s %s\n", c->broker_code, c->broker_text);
		if (c->wait_status == UDSB_OK && c->reply_topic != NULL) {
			FUZZ_CHECK(c->reply_topic[0] != '\0', "an empty reply topic");
			FUZZ_CHECK(strlen(c->reply_topic) < c->max_line, "reply topic of %zu bytes",
			           strlen(c->reply_topic));
			fprintf(f, "reply topic %s\n", c->reply_topic);
		}
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
