/*
 * A bridge's queue of outgoing messages: every message meant for the
 * remote from the moment it matched an out filter until the remote took it
 * (PUBACK at QoS 1; written to the socket at QoS 0). The oldest are handed
 * to the MQTT client, at most a window at a time; the rest wait. It holds
 * at most `limit` bytes, counting for each message its remote topic, its
 * payload and its bookkeeping (BQ_COST), so the limit bounds the memory: a
 * message that does not fit drops the oldest waiting ones, and each drop
 * is counted. When the
 * connection is lost, what was handed and not taken waits again, to be
 * sent again after the reconnect.
 */
#ifndef UDSB_BRIDGEQUEUE_H
#define UDSB_BRIDGEQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bq_entry {
	struct bq_entry *next;
	int mid;     /* the MQTT client's message id once handed */
	bool handed; /* given to the MQTT client on this connection */
	bool done;   /* the remote took it */
	bool retain;
	uint32_t tlen, plen;
	char data[]; /* the topic, a NUL, the payload */
};

/* The bytes a message of a tlen-byte topic and a plen-byte payload counts
 * for: what it holds in memory. */
#define BQ_COST(tlen, plen) (sizeof(struct bq_entry) + (size_t)(tlen) + 1 + (size_t)(plen))

struct bridge_queue {
	struct bq_entry *head, *tail;
	struct bq_entry *last_handed; /* the handed ones are head..last_handed */
	size_t bytes;                 /* BQ_COST of the messages held */
	size_t limit;
	size_t count;     /* messages held */
	size_t handed;    /* of which handed */
	uint64_t dropped; /* messages dropped since start */
};

/* An empty queue of at most limit bytes. */
void bq_init(struct bridge_queue *q, size_t limit);

/* Frees what it holds. */
void bq_clear(struct bridge_queue *q);

/* Queues a message whose remote topic is prefix (prelen bytes, NULL if
 * none) then topic, copied once into its entry; drops the oldest waiting
 * ones (never the handed) if it would not fit, the message itself when it
 * cannot fit at all or memory runs out. Returns the number of messages
 * dropped. */
unsigned bq_push(struct bridge_queue *q, const char *prefix, size_t prelen, const char *topic,
                 size_t tlen, const void *payload, size_t plen, bool retain);

/* The oldest message not yet handed, or NULL. */
struct bq_entry *bq_next(struct bridge_queue *q);

/* Records that e (bq_next's) was handed with message id mid. */
void bq_handed(struct bridge_queue *q, struct bq_entry *e, int mid);

/* The remote took the message with id mid: it leaves the queue once the
 * ones before it did. Returns true if mid was one handed. */
bool bq_done(struct bridge_queue *q, int mid);

/* The connection is lost: what was handed and not taken waits again. */
void bq_unhand(struct bridge_queue *q);

/* The entry's topic and payload. */
static inline const char *
bq_topic(const struct bq_entry *e)
{
	return e->data;
}

static inline const char *
bq_payload(const struct bq_entry *e)
{
	return e->data + e->tlen + 1;
}

#endif
