/*
 * Retained streams: the RMSGs a SUB owes, sent a chunk per loop pass.
 *
 * A SUB is answered with RMSGs for what its filter matches in the
 * retained store. A first chunk (RSTREAM_CHUNK bytes) goes out at once,
 * which is all of it for most filters. When more is owed, the session
 * holds its live deliveries back (session_hold: they queue apart, behind
 * the stream, within queue_limit) and stops reading requests; each time
 * its output drains below a chunk, the next chunk is made on the next
 * loop pass, from a cursor into the store (retain_cursor_*). Once the
 * walk is done the held deliveries follow and the session reads again.
 *
 * So a SUB "#" over a big store costs every other client one chunk of
 * work per pass, the subscriber's memory stays within a chunk of RMSGs
 * plus queue_limit of held deliveries, and a subscriber that does not
 * read simply stops the stream (its held deliveries then meet the
 * slow-consumer policy). One that leaves ends it.
 */
#ifndef UDSB_RSTREAM_H
#define UDSB_RSTREAM_H

#include <stddef.h>
#include <sys/queue.h>

struct event;
struct event_base;
struct retain;
struct session;
struct rstream;

/* Bytes of RMSGs made in one go (and the output below which the next
 * chunk is made). */
#define RSTREAM_CHUNK (64 * 1024)

TAILQ_HEAD(rstream_list, rstream);

struct rstreams {
	struct retain *store;
	struct event *tick;        /* runs the ready streams on the next pass */
	struct rstream_list ready; /* streams whose next chunk is due */
	struct rstream_list all;
};

/* Sets up rs over store. Returns 0, or -1 if out of memory. */
int rstreams_init(struct rstreams *rs, struct event_base *base, struct retain *store);

/* Ends every stream and frees rs's memory. */
void rstreams_free(struct rstreams *rs);

/* Sends s an RMSG for every retained value filter matches, before any
 * later MSG (with its meta if s wants meta). */
void rstream_start(struct rstreams *rs, struct session *s, const char *filter, size_t flen);

/* Some of s's output was written (its hooks->drained). */
void rstream_drained(struct rstreams *rs, struct session *s);

/* s closed: its stream, if any, ends. */
void rstream_cancel(struct rstreams *rs, struct session *s);

#endif
