/*
 * A bridge's memory of what it sent lately, so that the remote's echo of
 * one of its own messages is not published here again: the own mark used
 * where MQTT v5's no-local is not to be had (MQTT 3.1.1 remotes such as
 * nats-server, and retained values sent on subscribe). It keeps a keyed
 * hash of topic and payload for each of the last `cap` messages sent; an
 * incoming message that matches one of them takes it, once.
 */
#ifndef UDSB_BRIDGEECHO_H
#define UDSB_BRIDGEECHO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

struct echo_slot {
	uint64_t hash;  /* 0: empty */
	uint32_t live;  /* sent, in the window, not yet echoed */
	uint32_t taken; /* echoed, still in the window */
};

struct bridge_echo {
	uint64_t *ring; /* the hashes of the last cap messages, oldest at head */
	uint32_t head, count, cap;
	struct echo_slot *tab; /* open addressing, tabcap a power of two */
	uint32_t tabcap, used; /* used: slots not empty (live ones and tombstones) */
	struct siphash_key key;
};

/* Remembers up to cap messages. Returns 0, or -1 if out of memory. */
int bridge_echo_init(struct bridge_echo *e, uint32_t cap);

/* Frees its memory. */
void bridge_echo_free(struct bridge_echo *e);

/* Remembers a message sent (the remote topic and the payload). */
void bridge_echo_sent(struct bridge_echo *e, const char *topic, size_t tlen, const void *payload,
                      size_t plen);

/* Is this message the echo of one sent? If so it is taken: a second one
 * is not, unless that was sent twice. */
bool bridge_echo_take(struct bridge_echo *e, const char *topic, size_t tlen, const void *payload,
                      size_t plen);

#endif
