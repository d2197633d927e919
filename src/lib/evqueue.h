/*
 * The connection's event queue: deliveries and notices wait here, copied out
 * of the read buffer, until udsb_recv() hands them out in arrival order.
 * One growing byte buffer of packed records; no allocation per event.
 */
#ifndef UDSB_LIB_EVQUEUE_H
#define UDSB_LIB_EVQUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "udsbroker.h"

struct evqueue {
	char *buf;
	size_t cap;
	size_t head; /* first byte of the oldest record */
	size_t tail; /* end of the newest record */
};

/* What one event holds, as evq_push() copies it: two strings (a, b) whose
 * meaning depends on the type (see evq_pop()), and for deliveries the
 * retained flag and the parsed meta (meta_len 0: none). */
struct evq_item {
	enum udsb_event_type type;
	const char *a, *b;
	size_t a_len, b_len;
	unsigned long long count;
	int retained;
	const char *meta; /* the raw field */
	size_t meta_len;
	long long uid, gid, pid;
	const char *via, *reply;
	size_t via_len, reply_len;
};

/* Appends an event holding copies of its strings. Returns 0, or -1 when
 * out of memory (nothing queued). */
int evq_push_item(struct evqueue *q, const struct evq_item *it);

/* The same for an event of two strings and a count, without meta. */
int evq_push(struct evqueue *q, enum udsb_event_type type, const char *a, size_t a_len,
             const char *b, size_t b_len, unsigned long long count);

/* Takes the oldest event into *ev; its strings point into the queue and stay
 * valid until the next evq_push(). Returns false when the queue is empty. */
bool evq_pop(struct evqueue *q, struct udsb_event *ev);

/* Bytes queued: what bounds reading ahead. */
size_t evq_bytes(const struct evqueue *q);

void evq_free(struct evqueue *q);

#endif
