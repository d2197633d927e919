/*
 * What udsbench says to each target and how it reads the answers:
 *   uds   — udsbroker(7) lines: "SUB f", "PUB t p"; deliveries "MSG t p".
 *   relay — the same lines; the relay forwards "PUB t p" verbatim, so a
 *           delivery may also be a "PUB t p" line.
 *   redis — RESP arrays: SUBSCRIBE / PSUBSCRIBE / PUBLISH; deliveries
 *           "*3 message t p" (and "*4 pmessage pat t p").
 *   nats  — the NATS client protocol (request/reply only): "SUB s [q] sid",
 *           "PUB s [reply] n\r\n<payload>"; deliveries
 *           "MSG s sid [reply] n\r\n<payload>", PING/PONG, INFO, +OK, -ERR.
 * With meta on (udsbroker's OPT meta on), a delivery has one more field,
 * "MSG t <meta> p"; the frame then carries the meta and its reply= value.
 * Parsing never copies: a frame points into the caller's buffer.
 */
#ifndef UDSBENCH_WIRE_H
#define UDSBENCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>

enum target { TARGET_UDS, TARGET_RELAY, TARGET_REDIS, TARGET_NATS };

enum frame_kind {
	FRAME_MSG,     /* a delivery: topic, payload */
	FRAME_ACK,     /* OK (topic: the rest of "OK <reply-topic>"), redis
			* (p)subscribe confirmation, NATS +OK */
	FRAME_DROPPED, /* n messages dropped for this client */
	FRAME_PONG,
	FRAME_PING,    /* NATS server's keep-alive: must be answered PONG */
	FRAME_INFO,    /* NATS server's INFO */
	FRAME_INT,     /* redis integer reply (PUBLISH receivers): n */
	FRAME_ERR,     /* ERR line or redis error: text */
	FRAME_BYE,     /* BYE line: text */
	FRAME_OTHER,   /* anything else: text */
};

struct frame {
	enum frame_kind kind;
	const char *topic;
	size_t topic_len;
	const char *payload;
	size_t payload_len;
	const char *meta; /* uds with meta on: the <meta> field */
	size_t meta_len;
	const char *reply; /* the reply address: meta's reply=, NATS reply-to */
	size_t reply_len;
	unsigned long long n;
	const char *text; /* the frame as received, for error messages */
	size_t text_len;
};

/* Parses the first frame of buf[0..len); meta: the connection has meta on
 * (uds), so a delivery carries a <meta> field. Returns the bytes it takes, 0
 * when the frame is not complete yet, -1 when the bytes are not valid
 * framing (a delivery without its meta field included). */
long wire_parse(enum target t, bool meta, const char *buf, size_t len, struct frame *f);

/* Writes a subscription command for filter (a pattern when the target needs
 * to be told) into out; returns its length, or 0 if it does not fit. */
size_t wire_sub(enum target t, char *out, size_t cap, const char *filter, bool wildcard);

/* Writes the bytes that go before and after a payload of size bytes when it
 * is published on topic. Returns 0, or -1 when they do not fit. */
int wire_pub_frame(enum target t, const char *topic, size_t size, char *pre, size_t pre_cap,
		   size_t *pre_len, char *post, size_t post_cap, size_t *post_len);

/* Name of a target as given on the command line, and back. */
const char *wire_target_name(enum target t);
int wire_target_parse(const char *name, enum target *t);

#endif
