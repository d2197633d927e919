/*
 * Retained streams; see rstream.h.
 *
 * A stream is freed only outside its own cursor walk: a session killed
 * inside the walk's callback (out of memory queueing an RMSG) marks its
 * stream cancelled, and whoever runs the walk frees it afterwards.
 */
#include "rstream.h"

#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "proto.h"
#include "retain.h"
#include "session.h"

struct rstream {
	struct rstreams *rs;
	struct session *s;
	struct retain_cursor *cursor;
	TAILQ_ENTRY(rstream) entry;       /* in rs->all */
	TAILQ_ENTRY(rstream) ready_entry; /* in the list on, when due */
	struct rstream_list *on;          /* rs->ready, or a tick's list of those due now */
	bool walking;                     /* inside retain_cursor_next */
	bool cancelled;                   /* its session closed meanwhile */
};

/* Queues one retained value to the session, with the meta of who retained
 * it if the session asked for meta: the stored frame "RMSG <topic>[
 * <payload>]\n" is sent in two pieces with " <meta>" between them. */
static void
send_rmsg(struct retain_value *v, void *arg)
{
	struct session *s = arg;
	struct frame f = { .block = retain_value_block(v) };
	struct retain_origin o;
	struct proto_meta meta;
	char mbuf[1 + PROTO_META_MAX];
	size_t tlen, head;

	f.data = retain_value_frame(v, &f.len);
	if (!s->sub.meta) {
		session_send_frame(s, &f);
		return;
	}
	retain_value_origin(v, &o);
	meta = (struct proto_meta){ o.uid, o.gid, o.pid, o.via[0] ? o.via : "broker", NULL, 0 };
	mbuf[0] = ' ';
	head = (size_t)(retain_value_topic(v, &tlen) - f.data) + tlen; /* "RMSG <topic>" */
	session_send(s, f.data, head);
	session_send(s, mbuf, 1 + proto_format_meta(mbuf + 1, &meta));
	session_send(s, f.data + head, f.len - head);
}

static void
stream_free(struct rstream *st)
{
	struct rstreams *rs = st->rs;

	if (st->on != NULL)
		TAILQ_REMOVE(st->on, st, ready_entry);
	TAILQ_REMOVE(&rs->all, st, entry);
	if (st->s != NULL && st->s->stream == st)
		st->s->stream = NULL;
	retain_cursor_free(st->cursor);
	free(st);
}

/* Makes the next chunk. Returns false if st is gone: done (its session
 * released), or its session closed. */
static bool
step(struct rstream *st)
{
	struct session *s = st->s;
	int rc;

	st->walking = true;
	rc = retain_cursor_next(st->cursor, RSTREAM_CHUNK, send_rmsg, s);
	st->walking = false;
	if (st->cancelled) {
		stream_free(st);
		return false;
	}
	if (rc < 0) {
		stream_free(st);
		session_kill(s, "out of memory");
		return false;
	}
	if (rc == 0) {
		stream_free(st); /* before the release, which may read a new SUB */
		session_release(s);
		return false;
	}
	return true;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rstreams *rs = arg;
	struct rstream_list due = TAILQ_HEAD_INITIALIZER(due);
	struct rstream *st;

	/* Only the streams due now: one chunk each per pass. A chunk may
	 * end other streams (a delivery that kills their session). */
	TAILQ_CONCAT(&due, &rs->ready, ready_entry);
	TAILQ_FOREACH(st, &due, ready_entry)
		st->on = &due;
	while ((st = TAILQ_FIRST(&due)) != NULL) {
		TAILQ_REMOVE(&due, st, ready_entry);
		st->on = NULL;
		if (!session_active(st->s)) {
			stream_free(st); /* said BYE: what was held went out first */
			continue;
		}
		if (conn_pending(&st->s->conn) < RSTREAM_CHUNK)
			step(st);
		/* else: its next drain makes it due again */
	}
}

int
rstreams_init(struct rstreams *rs, struct event_base *base, struct retain *store)
{
	rs->store = store;
	TAILQ_INIT(&rs->ready);
	TAILQ_INIT(&rs->all);
	rs->tick = evtimer_new(base, tick_cb, rs);
	return rs->tick != NULL ? 0 : -1;
}

void
rstreams_free(struct rstreams *rs)
{
	while (!TAILQ_EMPTY(&rs->all))
		stream_free(TAILQ_FIRST(&rs->all));
	if (rs->tick != NULL)
		event_free(rs->tick);
	rs->tick = NULL;
}

void
rstream_start(struct rstreams *rs, struct session *s, const char *filter, size_t flen)
{
	struct rstream *st = calloc(1, sizeof *st);

	if (st == NULL || (st->cursor = retain_cursor_new(rs->store, filter, flen)) == NULL) {
		/* Out of memory for a stream: all of them now, as one burst. */
		free(st);
		retain_match(rs->store, filter, flen, send_rmsg, s);
		return;
	}
	st->rs = rs;
	st->s = s;
	TAILQ_INSERT_TAIL(&rs->all, st, entry);
	s->stream = st;
	if (step(st))
		session_hold(s); /* more to come: the rest waits for it to drain */
}

void
rstream_drained(struct rstreams *rs, struct session *s)
{
	static const struct timeval next_pass = { 0, 0 };
	struct rstream *st = s->stream;

	if (st == NULL || st->on != NULL || conn_pending(&s->conn) >= RSTREAM_CHUNK)
		return;
	st->on = &rs->ready;
	TAILQ_INSERT_TAIL(&rs->ready, st, ready_entry);
	/* A timer, not an active event: it runs after the next poll for
	 * I/O, so other clients are served between two chunks. */
	evtimer_add(rs->tick, &next_pass);
}

void
rstream_cancel(struct rstreams *rs, struct session *s)
{
	struct rstream *st = s->stream;

	if (st == NULL)
		return;
	st->s->stream = NULL;
	if (st->walking) {
		st->cancelled = true; /* step() frees it */
		return;
	}
	st->s = NULL;
	stream_free(st);
}
