/*
 * What udsbench says to each target and how it reads the answers:
 *   uds   — udsbroker(7) lines: "SUB f", "PUB t p"; deliveries "MSG t p".
 *   relay — the same lines; the relay forwards "PUB t p" verbatim, so a
 *           delivery may also be a "PUB t p" line.
 *   redis — RESP arrays: SUBSCRIBE / PSUBSCRIBE / PUBLISH; deliveries
 *           "*3 message t p" (and "*4 pmessage pat t p").
 * Parsing never copies: a frame points into the caller's buffer.
 */
#ifndef UDSBENCH_WIRE_H
#define UDSBENCH_WIRE_H

#include <stdbool.h>
#include <stddef.h>

enum target { TARGET_UDS, TARGET_RELAY, TARGET_REDIS };

enum frame_kind {
	FRAME_MSG,     /* a delivery: topic, payload */
	FRAME_ACK,     /* OK, or redis (p)subscribe confirmation */
	FRAME_DROPPED, /* n messages dropped for this client */
	FRAME_PONG,
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
	unsigned long long n;
	const char *text; /* the frame as received, for error messages */
	size_t text_len;
};

/* Parses the first frame of buf[0..len). Returns the bytes it takes, 0 when
 * the frame is not complete yet, -1 when the bytes are not valid framing. */
long wire_parse(enum target t, const char *buf, size_t len, struct frame *f);

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
