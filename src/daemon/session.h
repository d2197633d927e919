/*
 * A session: the protocol state of one connected client — its connection,
 * peer credentials, and drop count — and its side of the subscriber
 * interface. Requests go up to the broker through the hooks; replies come
 * down through session_send.
 *
 * A lines session (a client of a mode = lines listener) is the other kind:
 * each line it sends goes up as a line to publish, an over-long one as
 * discarded, and nothing is ever sent back to it, not even BYE.
 */
#ifndef UDSB_SESSION_H
#define UDSB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "access.h"
#include "conn.h"
#include "notice.h"
#include "replies.h"
#include "subscriber.h"

struct listener;
struct rstream;
struct session;

/* How a session reports up. Called from its connection's events. */
struct session_hooks {
	/* A request line, in block (see conn_ops.on_line). */
	void (*request)(void *arg, struct session *s, char *line, size_t len,
	                struct outblock *block);
	void (*line_too_long)(void *arg, struct session *s);
	/* A lines session: a line to publish, in block; one discarded. */
	void (*publish_line)(void *arg, struct session *s, char *line, size_t len,
	                     struct outblock *block);
	void (*line_discarded)(void *arg, struct session *s);
	void (*closed)(void *arg, struct session *s, const char *why);
	/* Output was written while it holds deliveries (session_hold). */
	void (*drained)(void *arg, struct session *s);
};

/* What the broker shares with every session: the loop, limits, hooks, and
 * the byte counters sessions keep for STATS. */
struct session_env {
	struct connloop *loop;
	size_t queue_limit; /* bytes of pending output */
	const struct session_hooks *hooks;
	void *arg;
	uint64_t bytes_in;  /* read from clients */
	uint64_t bytes_out; /* queued to clients */
};

/* A last will: the PUB or RETAIN the broker runs for a client whose
 * connection ends any way but QUIT. */
struct will {
	bool retain;
	size_t topic_len;
	size_t payload_len;
	char text[]; /* the topic, then the payload */
};

struct session {
	struct conn conn;
	struct subscriber sub; /* how the broker delivers to it */
	struct session_env *env;
	uint64_t id;                     /* for logs */
	struct peer peer;                /* credentials, for access rules */
	uint64_t dropped;                /* messages dropped since the last DROPPED */
	struct notices *notices;         /* what the log was told of it, or NULL */
	struct will *will;               /* or NULL (also once it said QUIT) */
	bool lines;                      /* a lines session: it is never sent a byte */
	bool holding;                    /* session_hold: its deliveries go to held */
	const struct listener *listener; /* it came in through, or NULL */
	struct reply_list replies;       /* the reply topics of its requests */
	struct rstream *stream;          /* the retained values a SUB still owes it, or NULL */
	struct outq *held;               /* deliveries held behind them (session_hold),
	                                  * made by the first one; else NULL */
	TAILQ_ENTRY(session) entry;      /* the broker's live or dead sessions */
};

TAILQ_HEAD(session_list, session);

/* A session over an accepted connection; it takes over fd and peer. A
 * lines session if lines. Returns NULL (fd closed, peer freed) if out of
 * memory. */
struct session *session_new(struct session_env *env, int fd, uint64_t id, struct peer *peer,
                            bool lines);

/* Frees a closed session (never from its own callbacks). */
void session_free(struct session *s);

/* True until it starts closing: it still reads requests and takes messages. */
bool session_active(const struct session *s);

/* Queues reply bytes. Replies are never dropped: a session whose output is
 * over queue_limit stops being read instead, until it drains to half. */
void session_send(struct session *s, const void *data, size_t len);

/* Queues a frame as a reply: never dropped, as session_send (RMSG). */
void session_send_frame(struct session *s, const struct frame *f);

/* Queues "BYE <reason>" after what it is owed, then closes it. */
void session_bye(struct session *s, const char *reason);

/* Closes it once everything queued is written (QUIT, end of input). */
void session_finish(struct session *s);

/* Closes it now. */
void session_kill(struct session *s, const char *why);

/* "client ID (pid P, uid U)", for log lines. Returns buf. */
const char *session_who(const struct session *s, char *buf, size_t size);

/* While a request of s is handled: the request bytes read after it and
 * not handled yet, and taking whole lines of them (see conn_unhandled). */
static inline char *
session_unhandled(const struct session *s, size_t *avail)
{
	return conn_unhandled(&s->conn, avail);
}

static inline void
session_take(struct session *s, size_t n, size_t clean)
{
	conn_take(&s->conn, n, clean);
}

/* Holds its deliveries back (queued apart, within queue_limit with what
 * it is owed) and stops reading its requests, while an answer still owes
 * it more (a SUB's retained values): every later MSG comes after them.
 * hooks->drained tells whenever some of its output was written. */
void session_hold(struct session *s);

/* Queues what was held, delivers normally again, resumes reading. */
void session_release(struct session *s);

/* Looks at its queue after a limit changed: sends a pending DROPPED and
 * resumes reading once under half of queue_limit. */
void session_check_queue(struct session *s);

#endif
