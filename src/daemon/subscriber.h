/*
 * A subscriber: whatever the broker delivers messages to. Sessions
 * implement it today; bridge links, shared groups and reply topics will.
 * The broker's fan-out talks to every kind through these ops alone.
 */
#ifndef UDSB_SUBSCRIBER_H
#define UDSB_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outblock;
struct subscriber;

/* One framed message: bytes to copy, or a block to share by reference. */
struct frame {
	const char *data;
	size_t len;
	struct outblock *block; /* data's block when shared; NULL: copy data */
};

/* What to do with a message that does not fit (config slow_consumer). */
enum overflow_policy {
	OVERFLOW_DROP,       /* drop it, and say how many were lost */
	OVERFLOW_DISCONNECT, /* say goodbye and close */
};

struct subscriber_ops {
	/* Would len more bytes stay within its limit? */
	bool (*has_room)(const struct subscriber *sub, size_t len);
	/* Queues f. Returns 0, or -1 if it could not (it closed itself). */
	int (*deliver)(struct subscriber *sub, const struct frame *f);
	/* A message did not fit: apply the policy. */
	void (*overflow)(struct subscriber *sub, enum overflow_policy policy);
};

struct subscriber {
	const struct subscriber_ops *ops;
	uint64_t last_seq; /* the last message it was given: once per message */
	bool closed;       /* takes no more messages */
};

#endif
