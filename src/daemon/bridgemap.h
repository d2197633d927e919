/*
 * What a bridge makes of the messages it carries, with no I/O: the local
 * deliveries it is handed (MSG frames with meta), the topics with their
 * prefixes both ways, and what a remote MQTT message must be to be
 * published here (MQTT allows topics and payloads the line protocol
 * cannot carry). Fuzzed (tests/fuzz/fuzz_bridgemap.c).
 */
#ifndef UDSB_BRIDGEMAP_H
#define UDSB_BRIDGEMAP_H

#include <stdbool.h>
#include <stddef.h>

/* A local delivery: "MSG <topic> <meta>[ <payload>]\n", pointing into it. */
struct bridge_local {
	const char *topic;
	size_t tlen;
	const char *via; /* the meta's via=, or NULL if it has none */
	size_t vlen;
	const char *payload;
	size_t plen;
};

/* Splits a MSG frame with meta. Returns 0, or -1 if it is not one. */
int bridgemap_parse_local(const char *frame, size_t len, struct bridge_local *m);

/* Did the message come in through the bridge named name? */
bool bridgemap_came_via(const struct bridge_local *m, const char *name);

/* Why a remote message cannot be published here. */
enum bridgemap_in {
	BRIDGEMAP_OK,
	BRIDGEMAP_BAD_TOPIC,   /* prefix + topic is not a valid local topic */
	BRIDGEMAP_RESERVED,    /* it would begin with '$' */
	BRIDGEMAP_BAD_PAYLOAD, /* a newline: the line protocol cannot carry it */
	BRIDGEMAP_TOO_LONG,    /* its MSG line would be longer than max_line */
};

/* Writes prefix + topic into buf (size bytes). Returns the length, or 0 if
 * it does not fit. prefix may be NULL. */
size_t bridgemap_join(char *buf, size_t size, const char *prefix, const char *topic, size_t tlen);

/* Maps a remote message to its local topic (local_prefix + topic, into buf
 * of size bytes, *out_len its length) and checks that it can be published
 * here under max_topic and max_line. */
enum bridgemap_in bridgemap_in(const char *local_prefix, const char *topic, size_t tlen,
                               const void *payload, size_t plen, size_t max_topic, size_t max_line,
                               char *buf, size_t size, size_t *out_len);

/* A word for each result, for log lines. */
const char *bridgemap_strerror(enum bridgemap_in r);

#endif
