/*
 * The protocol's commands: one table carrying each command's handler and
 * the shape of its argument, and one dispatch that checks the shape, so
 * "needs a topic" or "needs a filter" is decided here once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "escape.h"
#include "log.h"
#include "proto.h"
#include "replies.h"
#include "retain.h"
#include "share.h"
#include "subtree.h"
#include "topic.h"

/* What a command takes after its word. */
enum arg_shape {
	ARG_IGNORED,       /* anything; not looked at */
	ARG_TEXT,          /* optional text, echoed */
	ARG_FILTER,        /* a valid filter */
	ARG_TOPIC_PAYLOAD, /* a valid topic, then an optional payload */
};

/* One request being handled: the line as parsed, and where it lies. */
struct request {
	struct proto_request p;
	char *line;             /* writable: PUB turns it into its MSG frame */
	struct outblock *block; /* the input block holding line */
	bool known;             /* the topic is the last published one, and this
	                         * session was allowed to publish it */
};

typedef void command_fn(struct broker *b, struct session *s, struct request *r);

struct command {
	command_fn *run;
	enum arg_shape args;
};

static void
reply_ok(struct session *s)
{
	session_send(s, "OK\n", 3);
}

/* May s publish to topic (a valid one)? Answers ERR forbidden if not. */
static bool
may_publish(struct broker *b, struct session *s, const char *cmd, const char *topic, size_t tlen)
{
	if (topic_is_reserved(topic, tlen)) {
		broker_reply_err(s, PROTO_ERR_FORBIDDEN, "topics starting with $ are the broker's");
		return false;
	}
	if (!access_can_publish(&b->cfg.access, &s->peer, topic, tlen)) {
		broker_denied(b, s, cmd, topic, tlen);
		broker_reply_err(s, PROTO_ERR_FORBIDDEN, "not allowed to publish to this topic");
		return false;
	}
	return true;
}

/* Is topic (or filter) under "$reply/"? */
static bool
is_reply_topic(const char *topic, size_t len)
{
	return len >= sizeof REPLY_PREFIX - 1 &&
	       memcmp(topic, REPLY_PREFIX, sizeof REPLY_PREFIX - 1) == 0;
}

/* PUB to a reply topic: to its requester alone, or to nobody. Any client
 * may answer: the token is the capability, not the access rules. */
static void
pub_reply(struct broker *b, struct session *s, struct request *r)
{
	struct session *to = replies_find(&b->replies, r->p.topic, r->p.topic_len);
	struct frame f = {
		.data = r->line,
		.len = proto_pub_to_msg(r->line, &r->p),
		.block = r->block,
	};

	if (to == NULL) {
		b->stats[STAT_PUBLISHED]++; /* as a PUB nobody subscribed to */
		return;
	}
	broker_publish_reply(b, s, to, r->p.topic, r->p.topic_len, r->p.payload, r->p.payload_len,
	                     &f);
}

/* A pipelined burst: the lines already read right after r's that publish
 * to the same topic (so they are allowed too) become MSG frames in place
 * that extend its frame f, and are taken. Returns how many. */
static size_t
take_burst(struct broker *b, struct session *s, const struct request *r, struct frame *f)
{
	size_t avail, count = 0, clean = 0, max = b->cfg.max_line;
	char *start = session_unhandled(s, &avail), *p = start, *nl;

	if (start != f->data + f->len)
		return 0; /* a '\r' or a trailing space: the frame is shorter */
	while (avail > 0) {
		if ((nl = memchr(p, '\n', avail < max ? avail : max)) == NULL) {
			clean = avail < max ? avail : 0; /* a partial line, searched */
			break;
		}
		if (!proto_pub_same_topic(p, (size_t)(nl - p), r->p.topic, r->p.topic_len))
			break;
		avail -= (size_t)(nl + 1 - p);
		p = nl + 1;
		count++;
	}
	session_take(s, (size_t)(p - start), clean);
	f->len += (size_t)(p - start);
	return count;
}

static void
cmd_pub(struct broker *b, struct session *s, struct request *r)
{
	if (!r->known && is_reply_topic(r->p.topic, r->p.topic_len)) {
		pub_reply(b, s, r);
		return;
	}
	if (!r->known) {
		if (!may_publish(b, s, "PUB", r->p.topic, r->p.topic_len))
			return;
		broker_topic_allowed(b, r->p.topic, r->p.topic_len, s);
	}
	/* The line becomes the frame where it lies, shared by every queue. */
	struct frame f = {
		.data = r->line,
		.len = proto_pub_to_msg(r->line, &r->p),
		.block = r->block,
	};
	size_t count = 1 + take_burst(b, s, r, &f);

	if (count > 1)
		broker_publish_burst(b, s, r->p.topic, r->p.topic_len, &f, count);
	else
		broker_publish_frame(b, s, r->p.topic, r->p.topic_len, r->p.payload,
		                     r->p.payload_len, &f);
}

/* The subscriptions s holds, shared ones and open requests included: what
 * max_subscriptions bounds. */
static size_t
held(const struct session *s)
{
	return s->sub.filters.count + s->sub.nshares + s->replies.count;
}

/* Answers ERR bad-filter for a malformed "$share..." and returns true. */
static bool
bad_share(struct session *s, enum share_syntax syn)
{
	if (syn != SHARE_BAD)
		return false;
	broker_reply_err(s, PROTO_ERR_BAD_FILTER,
	                 "a shared subscription is $share/GROUP/FILTER, GROUP one level "
	                 "without wildcards");
	return true;
}

/* May s subscribe to filter? Answers ERR forbidden if not. */
static bool
may_subscribe(struct broker *b, struct session *s, const char *filter, size_t flen)
{
	if (is_reply_topic(filter, flen) || (flen == 6 && memcmp(filter, "$reply", 6) == 0)) {
		broker_reply_err(s, PROTO_ERR_FORBIDDEN,
		                 "reply topics are their requesters' alone");
		return false;
	}
	if (!access_can_subscribe(&b->cfg.access, &s->peer, filter, flen)) {
		broker_denied(b, s, "SUB", filter, flen);
		broker_reply_err(s, PROTO_ERR_FORBIDDEN, "not allowed to subscribe to this filter");
		return false;
	}
	return true;
}

/* SUB $share/GROUP/FILTER: joins the group; no retained values. */
static void
sub_shared(struct broker *b, struct session *s, struct request *r, const char *filter, size_t flen)
{
	if (!may_subscribe(b, s, filter, flen))
		return;
	if (share_find(b->shares, &s->sub, r->p.arg, r->p.arg_len) != NULL) {
		reply_ok(s); /* idempotent */
		return;
	}
	if (held(s) >= b->cfg.max_subscriptions) {
		broker_reply_err(s, PROTO_ERR_TOO_MANY_SUBS, "at most %u subscriptions per client",
		                 b->cfg.max_subscriptions);
		return;
	}
	if (share_join(b->shares, &s->sub, r->p.arg, r->p.arg_len) == NULL) {
		broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		return;
	}
	reply_ok(s);
}

static void
cmd_sub(struct broker *b, struct session *s, struct request *r)
{
	const char *filter;
	size_t flen;
	enum share_syntax syn = share_parse(r->p.arg, r->p.arg_len, &filter, &flen);

	if (bad_share(s, syn))
		return;
	if (syn == SHARE_OK) {
		sub_shared(b, s, r, filter, flen);
		return;
	}
	if (!may_subscribe(b, s, r->p.arg, r->p.arg_len))
		return;
	if (subtree_lookup(b->subs, r->p.arg, r->p.arg_len, &s->sub.filters) != NULL) {
		reply_ok(s); /* idempotent, but the retained values come again */
		broker_send_retained(b, s, r->p.arg, r->p.arg_len);
		return;
	}
	if (held(s) >= b->cfg.max_subscriptions) {
		broker_reply_err(s, PROTO_ERR_TOO_MANY_SUBS, "at most %u subscriptions per client",
		                 b->cfg.max_subscriptions);
		return;
	}
	if (subtree_add(b->subs, r->p.arg, r->p.arg_len, &s->sub.filters) == NULL) {
		broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		return;
	}
	reply_ok(s);
	broker_send_retained(b, s, r->p.arg, r->p.arg_len);
}

static void
cmd_retain(struct broker *b, struct session *s, struct request *r)
{
	if (!may_publish(b, s, "RETAIN", r->p.topic, r->p.topic_len))
		return;
	switch (broker_retain(b, s, r->p.topic, r->p.topic_len, r->p.payload, r->p.payload_len)) {
	case RETAIN_OK:
		break;
	case RETAIN_FULL:
		broker_reply_err(s, PROTO_ERR_RETAINED_FULL,
		                 "at most %u retained values of %zu bytes in all",
		                 b->cfg.max_retained, b->cfg.max_retained_bytes);
		break;
	case RETAIN_NOMEM:
		broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		break;
	case RETAIN_INVALID:
		broker_reply_err(s, PROTO_ERR_BAD_TOPIC, "this value cannot be retained");
		break;
	}
}

/* WILL PUB|RETAIN topic payload, or WILL alone to clear it. */
static void
cmd_will(struct broker *b, struct session *s, struct request *r)
{
	struct proto_request w;
	struct will *will;
	enum topic_error err;

	if (r->p.arg_len == 0) {
		free(s->will);
		s->will = NULL;
		reply_ok(s);
		return;
	}
	proto_parse_request(r->p.arg, r->p.arg_len, &w);
	if (w.cmd != PROTO_PUB && w.cmd != PROTO_RETAIN) {
		broker_reply_err(s, PROTO_ERR_BAD_ARGUMENT, "WILL takes PUB or RETAIN");
		return;
	}
	if (w.topic_len == 0) {
		broker_reply_err(s, PROTO_ERR_BAD_TOPIC, "WILL %s needs a topic",
		                 proto_cmd_name(w.cmd));
		return;
	}
	if ((err = topic_check(w.topic, w.topic_len, b->cfg.max_topic)) != TOPIC_OK) {
		broker_reply_err(s, PROTO_ERR_BAD_TOPIC, "topic %s", topic_strerror(err));
		return;
	}
	if (!may_publish(b, s, w.cmd == PROTO_PUB ? "WILL PUB" : "WILL RETAIN", w.topic,
	                 w.topic_len))
		return;
	if ((will = malloc(sizeof *will + w.topic_len + w.payload_len)) == NULL) {
		broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		return;
	}
	will->retain = w.cmd == PROTO_RETAIN;
	will->topic_len = w.topic_len;
	will->payload_len = w.payload_len;
	memcpy(will->text, w.topic, w.topic_len);
	memcpy(will->text + w.topic_len, w.payload, w.payload_len);
	free(s->will);
	s->will = will;
	reply_ok(s);
}

static void
cmd_unsub(struct broker *b, struct session *s, struct request *r)
{
	struct subscription *sub;
	struct share_member *m;
	const char *filter;
	size_t flen;
	enum share_syntax syn = share_parse(r->p.arg, r->p.arg_len, &filter, &flen);

	if (bad_share(s, syn))
		return;
	if (syn == SHARE_OK) {
		if ((m = share_find(b->shares, &s->sub, r->p.arg, r->p.arg_len)) != NULL)
			share_leave(b->shares, m);
		reply_ok(s);
		return;
	}
	if (is_reply_topic(r->p.arg, r->p.arg_len)) {
		replies_remove(&b->replies, &s->replies, r->p.arg, r->p.arg_len);
		reply_ok(s);
		return;
	}
	if ((sub = subtree_lookup(b->subs, r->p.arg, r->p.arg_len, &s->sub.filters)) != NULL)
		subtree_remove(b->subs, sub);
	reply_ok(s);
}

/* REQ topic payload: published like PUB, with a new reply topic in the
 * meta; answered with that topic, or no-responders. */
static void
cmd_req(struct broker *b, struct session *s, struct request *r)
{
	char topic[REPLY_TOPIC_LEN + 1], line[REPLY_TOPIC_LEN + 8];
	long reached;
	int n;

	if (!may_publish(b, s, "REQ", r->p.topic, r->p.topic_len))
		return;
	if (held(s) >= b->cfg.max_subscriptions) {
		broker_reply_err(s, PROTO_ERR_TOO_MANY_SUBS,
		                 "at most %u subscriptions and open requests per client",
		                 b->cfg.max_subscriptions);
		return;
	}
	if (replies_add(&b->replies, s, &s->replies, topic) < 0) {
		broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		return;
	}
	reached = broker_publish_request(b, s, r->p.topic, r->p.topic_len, r->p.payload,
	                                 r->p.payload_len, topic, REPLY_TOPIC_LEN);
	if (reached <= 0) {
		replies_remove(&b->replies, &s->replies, topic, REPLY_TOPIC_LEN);
		if (reached == 0)
			broker_reply_err(s, PROTO_ERR_NO_RESPONDERS,
			                 "no subscriber for this topic");
		else
			broker_reply_err(s, PROTO_ERR_SERVER_BUSY, "out of memory");
		return;
	}
	n = snprintf(line, sizeof line, "OK %s\n", topic);
	session_send(s, line, (size_t)n);
}

/* OPT meta on|off. */
static void
cmd_opt(struct broker *b, struct session *s, struct request *r)
{
	static const struct {
		const char *arg;
		bool meta;
	} opts[] = { { "meta on", true }, { "meta off", false } };

	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		if (r->p.arg_len == strlen(opts[i].arg) &&
		    memcmp(r->p.arg, opts[i].arg, r->p.arg_len) == 0) {
			s->sub.meta = opts[i].meta;
			reply_ok(s);
			return;
		}
	}
	broker_reply_err(s, PROTO_ERR_BAD_ARGUMENT, "OPT takes \"meta on\" or \"meta off\"");
}

static void
cmd_ping(struct broker *b, struct session *s, struct request *r)
{
	if (r->p.arg_len == 0) {
		session_send(s, "PONG\n", 5);
		return;
	}
	session_send(s, "PONG ", 5);
	session_send(s, r->p.arg, r->p.arg_len);
	session_send(s, "\n", 1);
}

static void
cmd_stats(struct broker *b, struct session *s, struct request *r)
{
	char line[16384];
	size_t n;

	memcpy(line, "STATS ", 6);
	n = 6 + broker_format_stats(b, line + 6, sizeof line - 7);
	line[n++] = '\n';
	session_send(s, line, n);
}

static void
cmd_quit(struct broker *b, struct session *s, struct request *r)
{
	free(s->will); /* a clean end: no will */
	s->will = NULL;
	session_finish(s);
}

/* The commands, by proto_cmd, one a line. */
/* clang-format off */
static const struct command commands[] = {
	[PROTO_PUB] = { cmd_pub, ARG_TOPIC_PAYLOAD },
	[PROTO_SUB] = { cmd_sub, ARG_FILTER },
	[PROTO_UNSUB] = { cmd_unsub, ARG_FILTER },
	[PROTO_PING] = { cmd_ping, ARG_TEXT },
	[PROTO_STATS] = { cmd_stats, ARG_IGNORED },
	[PROTO_QUIT] = { cmd_quit, ARG_IGNORED },
	[PROTO_RETAIN] = { cmd_retain, ARG_TOPIC_PAYLOAD },
	[PROTO_WILL] = { cmd_will, ARG_TEXT },
	[PROTO_OPT] = { cmd_opt, ARG_TEXT },
	[PROTO_REQ] = { cmd_req, ARG_TOPIC_PAYLOAD },
};
/* clang-format on */

/* Checks req's argument against the shape; answers ERR and returns false
 * if it does not fit. */
static bool
check_args(struct broker *b, struct session *s, struct request *r, enum arg_shape shape)
{
	enum topic_error err;

	switch (shape) {
	case ARG_IGNORED:
	case ARG_TEXT:
		return true;
	case ARG_FILTER:
		if (r->p.arg_len == 0) {
			broker_reply_err(s, PROTO_ERR_BAD_FILTER, "%s needs a filter",
			                 proto_cmd_name(r->p.cmd));
			return false;
		}
		err = topic_check_filter(r->p.arg, r->p.arg_len, b->cfg.max_topic);
		if (err != TOPIC_OK) {
			broker_reply_err(s, PROTO_ERR_BAD_FILTER, "filter %s", topic_strerror(err));
			return false;
		}
		return true;
	case ARG_TOPIC_PAYLOAD:
		if (r->p.topic_len == 0) {
			broker_reply_err(s, PROTO_ERR_BAD_TOPIC, "%s needs a topic",
			                 proto_cmd_name(r->p.cmd));
			return false;
		}
		r->known = broker_topic_known(b, r->p.topic, r->p.topic_len, s);
		if (r->known)
			return true; /* the last one published: checked then */
		err = topic_check(r->p.topic, r->p.topic_len, b->cfg.max_topic);
		if (err != TOPIC_OK) {
			broker_reply_err(s, PROTO_ERR_BAD_TOPIC, "topic %s", topic_strerror(err));
			return false;
		}
		return true;
	}
	return false;
}

void
broker_request(struct broker *b, struct session *s, char *line, size_t len, struct outblock *block)
{
	struct request r = { .line = line, .block = block };
	const struct command *cmd;
	char word[64];

	proto_parse_request(line, len, &r.p);
	if (r.p.cmd == PROTO_EMPTY)
		return;
	if (r.p.cmd == PROTO_UNKNOWN) {
		broker_reply_err(s, PROTO_ERR_UNKNOWN_COMMAND, "unknown command \"%s\"",
		                 escape_text(word, sizeof word, r.p.word, r.p.word_len));
		return;
	}
	cmd = &commands[r.p.cmd];
	if (check_args(b, s, &r, cmd->args))
		cmd->run(b, s, &r);
}
