/*
 * One client's session; see session.h.
 *
 * Output is bounded two ways. Deliveries over queue_limit follow the
 * slow-consumer policy the broker hands to overflow(): dropped and counted
 * (announced by DROPPED once the queue drained to half), or BYE. Replies
 * to the client's own requests are never dropped; instead, while its
 * output is over queue_limit, its requests are not read, so a client that
 * sends PINGs without reading the PONGs cannot grow its queue for ever.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "monoclock.h"
#include "proto.h"

static const struct conn_ops session_conn_ops;
static const struct subscriber_ops session_subscriber_ops;
static const struct subscriber_ops holding_subscriber_ops;

struct session *
session_new(struct session_env *env, int fd, uint64_t id, struct peer *peer, bool lines)
{
	struct session *s = calloc(1, sizeof *s);

	if (s == NULL) {
		close(fd);
		peer_free(peer);
		return NULL;
	}
	if (conn_init(&s->conn, env->loop, fd, &session_conn_ops, s) < 0) {
		free(s); /* conn_init closed fd */
		peer_free(peer);
		return NULL;
	}
	s->env = env;
	s->id = id;
	s->sub.ops = &session_subscriber_ops;
	s->sub.bursts = true;  /* its queue takes a burst's frames as one */
	s->sub.closed = lines; /* never a subscriber */
	s->lines = lines;
	s->peer = *peer;
	memset(peer, 0, sizeof *peer); /* consumed */
	return s;
}

void
session_free(struct session *s)
{
	notice_free(s->notices);
	free(s->will);
	if (s->held != NULL)
		outq_clear(s->held);
	free(s->held);
	conn_free(&s->conn);
	peer_free(&s->peer);
	free(s);
}

const char *
session_who(const struct session *s, char *buf, size_t size)
{
	if (!s->peer.has_creds)
		snprintf(buf, size, "client %llu (tcp, listener %s)", (unsigned long long)s->id,
		         s->peer.listener != NULL ? s->peer.listener : "?");
	else
		snprintf(buf, size, "client %llu (pid %ld, uid %lu)", (unsigned long long)s->id,
		         (long)s->peer.pid, (unsigned long)s->peer.uid);
	return buf;
}

bool
session_active(const struct session *s)
{
	return s->conn.state == CONN_OPEN;
}

void
session_send(struct session *s, const void *data, size_t len)
{
	if (s->lines)
		return; /* never sent a byte */
	if (conn_send(&s->conn, data, len) < 0)
		return;
	s->env->bytes_out += len;
	if (conn_pending(&s->conn) >= s->env->queue_limit)
		conn_pause(&s->conn); /* not reading its replies: stop reading it */
}

void
session_send_frame(struct session *s, const struct frame *f)
{
	if (s->lines)
		return;
	if (conn_send_frame(&s->conn, f) < 0)
		return;
	s->env->bytes_out += f->len;
	if (conn_pending(&s->conn) >= s->env->queue_limit)
		conn_pause(&s->conn);
}

/* Queues "DROPPED <n>" for the messages dropped since the last one. */
static void
announce_drops(struct session *s)
{
	char line[32];
	int n;

	if (s->dropped == 0)
		return;
	n = snprintf(line, sizeof line, "DROPPED %llu\n", (unsigned long long)s->dropped);
	s->dropped = 0;
	session_send(s, line, (size_t)n);
}

/* Moves what was held to its output, after what it is owed, and
 * delivers normally again. */
static void
unhold(struct session *s)
{
	struct outq *q = s->held;

	if (!s->holding)
		return;
	for (uint32_t i = 0; q != NULL && i < q->count; i++) {
		const struct outslice *sl = &q->ring[(q->head + i) & (q->cap - 1)];
		struct frame f = { sl->block->data + sl->start, sl->end - sl->start, sl->block,
			           false };

		if (conn_send_frame(&s->conn, &f) < 0)
			break; /* closed: out of memory */
	}
	if (q != NULL)
		outq_clear(q);
	free(q);
	s->held = NULL;
	s->holding = false;
	s->sub.ops = &session_subscriber_ops;
}

void
session_hold(struct session *s)
{
	if (s->holding || !session_active(s))
		return;
	s->holding = true;
	s->sub.ops = &holding_subscriber_ops;
	conn_pause(&s->conn);
}

void
session_release(struct session *s)
{
	unhold(s);
	session_check_queue(s);
}

void
session_finish(struct session *s)
{
	if (!session_active(s))
		return;
	unhold(s); /* what was held is owed too, before a BYE */
	/* Nothing more will be queued to it: loss is never silent, so the
	 * count goes out now rather than once the queue drained. */
	announce_drops(s);
	s->sub.closed = true; /* the fan-out skips it from now on */
	conn_finish(&s->conn);
}

void
session_bye(struct session *s, const char *reason)
{
	char line[64];
	int n;

	if (!session_active(s))
		return;
	unhold(s);         /* what was held is owed before it */
	announce_drops(s); /* BYE is the last line */
	n = snprintf(line, sizeof line, "BYE %s\n", reason);
	session_send(s, line, (size_t)n);
	session_finish(s);
}

void
session_kill(struct session *s, const char *why)
{
	conn_close(&s->conn, why);
}

void
session_check_queue(struct session *s)
{
	/* While holding, DROPPED waits behind what is held, and requests
	 * wait for the answer in progress. */
	if (!session_active(s) || s->holding || conn_pending(&s->conn) > s->env->queue_limit / 2)
		return;
	announce_drops(s);
	conn_resume(&s->conn);
}

/* ---- its connection's events ---- */

static void
on_read(void *arg, size_t n)
{
	struct session *s = arg;

	s->env->bytes_in += n;
}

static void
on_line(void *arg, char *line, size_t len, struct outblock *block)
{
	struct session *s = arg;

	if (s->lines)
		s->env->hooks->publish_line(s->env->arg, s, line, len, block);
	else
		s->env->hooks->request(s->env->arg, s, line, len, block);
}

static void
on_line_too_long(void *arg)
{
	struct session *s = arg;

	if (s->lines)
		s->env->hooks->line_discarded(s->env->arg, s);
	else
		s->env->hooks->line_too_long(s->env->arg, s);
}

/* End of input acts like QUIT: what it sent was handled, a partial last
 * line is dropped, its replies are flushed. */
static void
on_eof(void *arg)
{
	struct session *s = arg;

	log_debug("client %llu: end of input", (unsigned long long)s->id);
	session_finish(s);
}

static void
on_drained(void *arg)
{
	struct session *s = arg;

	if (s->holding)
		s->env->hooks->drained(s->env->arg, s);
	else
		session_check_queue(s);
}

static void
on_closed(void *arg, const char *why)
{
	struct session *s = arg;
	uint64_t drops = notice_take(s->notices, NOTICE_DROPPED);
	uint64_t denials = notice_take(s->notices, NOTICE_DENIED);
	char who[96];

	if (drops > 0)
		log_info("%s: closed; %llu more messages were dropped for it since the last notice",
		         session_who(s, who, sizeof who), (unsigned long long)drops);
	if (denials > 0)
		log_info("%s: closed; %llu more of its requests were denied since the last notice",
		         session_who(s, who, sizeof who), (unsigned long long)denials);
	if (why != NULL)
		log_debug("client %llu: closed: %s", (unsigned long long)s->id, why);
	s->sub.closed = true;
	s->env->hooks->closed(s->env->arg, s, why);
}

static const struct conn_ops session_conn_ops = {
	.on_read = on_read,
	.on_line = on_line,
	.on_line_too_long = on_line_too_long,
	.on_eof = on_eof,
	.on_drained = on_drained,
	.on_closed = on_closed,
};

/* ---- the subscriber side ---- */

/* The session whose subscriber side sub is. */
static struct session *
from_sub(const struct subscriber *sub)
{
	return (struct session *)((char *)sub - offsetof(struct session, sub));
}

static const struct session *
from_csub(const struct subscriber *sub)
{
	return (const struct session *)((const char *)sub - offsetof(struct session, sub));
}

static enum delivery
deliver(struct subscriber *sub, const struct frame *f)
{
	struct session *s = from_sub(sub);
	if (conn_pending(&s->conn) + f->len > s->env->queue_limit)
		return OVER_LIMIT;
	if (conn_send_frame(&s->conn, f) < 0)
		return FAILED;
	s->env->bytes_out += f->len;
	return DELIVERED;
}

static void
overflow(struct subscriber *sub, enum overflow_policy policy)
{
	struct session *s = from_sub(sub);
	char who[96];
	uint64_t held;

	if (policy == OVERFLOW_DISCONNECT) {
		log_info("%s: slow consumer: disconnected", session_who(s, who, sizeof who));
		session_bye(s, PROTO_BYE_SLOW_CONSUMER);
		return;
	}
	s->dropped++;
	if (!notice_due(&s->notices, NOTICE_DROPPED, mono_ms(), &held))
		return;
	if (held == 0)
		log_info("%s: slow consumer: dropping messages", session_who(s, who, sizeof who));
	else
		log_info("%s: slow consumer: %llu more messages dropped",
		         session_who(s, who, sizeof who), (unsigned long long)held + 1);
}

/* What s owes: its output queue, and what it holds behind it. */
static size_t
owed(const struct session *s)
{
	return conn_pending(&s->conn) + (s->held != NULL ? s->held->bytes : 0);
}

static bool
busy(const struct subscriber *sub)
{
	const struct session *s = from_csub(sub);

	return owed(s) > s->env->queue_limit / 2;
}

static const struct subscriber_ops session_subscriber_ops = {
	.deliver = deliver,
	.overflow = overflow,
	.busy = busy,
};

/* While it holds deliveries: into the held queue, under the same limit
 * counting what it is owed. */
static enum delivery
deliver_held(struct subscriber *sub, const struct frame *f)
{
	struct session *s = from_sub(sub);

	if (owed(s) + f->len > s->env->queue_limit)
		return OVER_LIMIT;
	if (s->held == NULL && (s->held = calloc(1, sizeof *s->held)) != NULL)
		s->held->pool = &s->env->loop->pool;
	if (s->held == NULL || outq_frame(s->held, f) < 0) {
		session_kill(s, "out of memory");
		return FAILED;
	}
	s->env->bytes_out += f->len;
	return DELIVERED;
}

static const struct subscriber_ops holding_subscriber_ops = {
	.deliver = deliver_held,
	.overflow = overflow,
	.busy = busy,
};
