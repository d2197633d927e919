/*
 * The broker: clients, the subscription tree, the commands of the protocol,
 * publish fan-out, and the counters.
 */
#ifndef UDSB_BROKER_H
#define UDSB_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "listener.h"

struct event_base;
struct event;
struct subtree;

/* Frames at least this long are shared by reference between subscribers'
 * output queues; shorter ones are copied, which costs less than the
 * bookkeeping of a reference. */
#define BROKER_SHARE_MIN 1024


struct broker_stats {
	uint64_t published;   /* PUBs accepted */
	uint64_t delivered;   /* MSG frames queued to subscribers */
	uint64_t dropped;     /* frames not queued: over a client's queue_limit */
	uint64_t bytes_in;    /* bytes read from clients */
	uint64_t bytes_out;   /* bytes queued to clients */
	uint64_t connections; /* clients accepted since start */
	uint64_t refused;     /* clients refused: max_clients */
};

struct broker {
	struct event_base *base;
	struct config cfg;
	struct listener listener;
	struct subtree *subs;
	struct client_list clients;     /* live: ACTIVE or CLOSING */
	unsigned nclients;
	struct client_list dead;        /* closed, waiting to be freed */
	struct event *reaper;           /* frees the dead outside their callbacks */
	struct flush_list flushq;       /* clients with output to write this pass */
	struct event *flusher;          /* writes them, after the pass's reads */
	struct event *deadline;         /* shutdown: gives up flushing */
	bool shutting_down;
	uint64_t next_id;
	uint64_t msg_seq;               /* one per publish, to deliver once per client */
	char frame[BROKER_SHARE_MIN];   /* the frame being published, when short */
	struct outpool pool;            /* output blocks for reuse */
	struct broker_stats stats;
	struct timespec started;        /* CLOCK_MONOTONIC */
};

/* Sets up b with a loaded config (b takes it over) and opens the listener
 * on path. Returns 0, or -1 with the reason in err. */
int broker_init(struct broker *b, struct event_base *base, struct config *cfg,
                const char *path, char *err, size_t errlen);

/* Handles one line of c (without its '\n'). */
void broker_command(struct broker *b, struct client *c, const char *line, size_t len);

/* A line of c was longer than max_line. */
void broker_line_too_long(struct broker *b, struct client *c);

/* Applies a newly loaded config (b takes it over): limits, policy, level. */
void broker_reload(struct broker *b, struct config *cfg);

/* Stops accepting, says BYE to everyone after their queues, and exits the
 * loop once all are gone or the flush deadline passed. */
void broker_shutdown(struct broker *b);

/* Called by the client module: c has output to write this loop pass. */
void broker_schedule_flush(struct broker *b, struct client *c);

/* Called by the client module: c was closed and must be forgotten. */
void broker_client_gone(struct broker *b, struct client *c);

/* Closes the listener and frees everything. */
void broker_free(struct broker *b);

#endif
