/*
 * One client connection: its socket and events, the bounded line reader
 * feeding the broker's commands, and its output queue with the accounting
 * behind queue_limit (the slow-consumer policy and the DROPPED notice).
 */
#ifndef UDSB_CLIENT_H
#define UDSB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "access.h"
#include "linereader.h"
#include "outq.h"

struct broker;
struct event;
struct evbuffer;
struct subscription;

enum client_state {
	CLIENT_ACTIVE,   /* reading commands, receiving messages */
	CLIENT_CLOSING,  /* flushing what it is owed, then closed */
	CLIENT_DEAD,     /* closed; freed by the broker's reaper */
};

struct client {
	struct broker *broker;
	int fd;
	struct event *rev;           /* readable (persistent) */
	struct event *wev;           /* writable: armed only while the socket is full */
	struct evbuffer *in;
	struct outq out;
	uint64_t id;                 /* for logs */
	struct peer peer;            /* credentials, for access rules */
	enum client_state state;
	struct linereader reader;
	bool paused;                 /* output over queue_limit: not reading commands */
	bool flush_queued;           /* in the broker's list of clients to flush */
	bool write_blocked;          /* wev armed: the socket took less than we had */

	struct subscription **subs;  /* this client's subscriptions */
	unsigned nsubs;
	unsigned subs_cap;

	uint64_t last_msg;           /* sequence of the last message queued here */
	uint64_t dropped;            /* messages dropped since the last DROPPED */

	TAILQ_ENTRY(client) entry;   /* broker's live clients, or its dead ones */
	TAILQ_ENTRY(client) flush_entry;
};

TAILQ_HEAD(client_list, client);
TAILQ_HEAD(flush_list, client);

/* Wraps an accepted connection; c takes over fd and peer. Returns NULL
 * (fd closed, peer freed) if out of memory. */
struct client *client_new(struct broker *b, int fd, uint64_t id, struct peer *peer);

/* Queues reply bytes to c. Replies are never dropped: a client that does not
 * read them is paused instead (see client.c). */
void client_send(struct client *c, const void *data, size_t len);

/* Queues a message frame to c under queue_limit and the slow-consumer
 * policy: shared (referenced) when frame is a block, else copied. Returns
 * true if it was queued. */
bool client_deliver(struct client *c, const char *frame, size_t len, struct outblock *shared);

/* Queues "BYE <reason>" after what c is owed, then closes it. */
void client_bye(struct client *c, const char *reason);

/* Stops reading; closes c once everything queued to it is written (QUIT,
 * end of input, BYE). Bounded by a write timeout. */
void client_close_after_flush(struct client *c);

/* Closes c now: it is removed from the broker and freed later. Safe in
 * the middle of a fan-out: the subscription tree is not touched. */
void client_kill(struct client *c, const char *why);

/* Removes a dead client's subscriptions and frees it (the broker's reaper
 * calls this, outside any fan-out). */
void client_free(struct client *c);

/* Writes what c is owed, as far as its socket takes it (the broker calls
 * this once per loop pass for every client that got output). */
void client_flush(struct client *c);

/* Looks at c's output queue: sends a pending DROPPED notice and resumes
 * reading once it drained below half of queue_limit; closes a closing
 * client once it is empty. */
void client_check_queue(struct client *c);

#endif
