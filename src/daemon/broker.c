/*
 * The broker: admission, the publish path, the slow-consumer policy, the
 * counters, reload and shutdown; see broker.h. The commands are in
 * commands.c.
 *
 * A published message is framed once ("MSG <topic> <payload>\n") and that
 * frame goes to every matching subscriber: copied when short, referenced
 * when long. Each publish has a sequence number; a subscriber remembers the
 * last one it was given, so several matching filters deliver it once.
 */
#include "broker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "escape.h"
#include "log.h"
#include "monoclock.h"
#include "proto.h"
#include "replies.h"
#include "retainfile.h"
#include "subtree.h"

/* On shutdown, clients get this long to take what they are owed. */
#define SHUTDOWN_FLUSH_SEC 2

void
broker_reply_err(struct session *s, const char *code, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof line, "ERR %s ", code);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	session_send(s, line, (size_t)n);
}

/* One message being published: its topic and payload, its frame, who sent
 * it, and the frame with that meta once a subscriber asked for it. */
struct message {
	const char *topic;
	size_t tlen;
	const char *payload;
	size_t plen;
	struct frame plain;            /* "MSG topic payload\n" */
	const struct proto_meta *meta; /* the sender */
	struct frame with_meta;        /* data NULL until made */
	bool meta_failed;              /* out of memory making it */
	size_t reached;                /* subscribers it was offered to */
};

/* What to do with a delivery over its subscriber's limit. */
static enum overflow_policy
policy(const struct broker *b)
{
	return b->cfg.slow_consumer == SLOW_CONSUMER_DISCONNECT ? OVERFLOW_DISCONNECT
	                                                        : OVERFLOW_DROP;
}

/* The frame of m with meta, made the first time a subscriber wants it;
 * NULL if out of memory. */
static const struct frame *
meta_frame(struct message *m)
{
	char meta[PROTO_META_MAX + REPLY_TOPIC_LEN + 8];
	size_t mlen, len;
	struct outblock *blk;

	if (m->with_meta.data != NULL || m->meta_failed)
		return m->meta_failed ? NULL : &m->with_meta;
	mlen = proto_format_meta(meta, m->meta);
	len = proto_meta_frame_len(3, m->tlen, mlen, m->plen);
	if ((blk = outblock_new(NULL, len)) == NULL) {
		m->meta_failed = true;
		return NULL;
	}
	blk->len = (uint32_t)proto_format_meta_frame(blk->data, "MSG", m->topic, m->tlen, meta,
	                                             mlen, m->payload, m->plen);
	m->with_meta = (struct frame){ blk->data, blk->len, blk };
	return &m->with_meta;
}

/* Queues m to one subscriber, with meta if it asked for it, under its
 * limit and the policy. */
static void
deliver_one(struct broker *b, struct subscriber *s, struct message *m)
{
	const struct frame *f = &m->plain;

	if (s->closed)
		return;
	m->reached++;
	if (s->meta && (f = meta_frame(m)) == NULL) {
		b->stats[STAT_DROPPED]++; /* out of memory: counted, not silent */
		s->ops->overflow(s, OVERFLOW_DROP);
		return;
	}
	switch (s->ops->deliver(s, f)) {
	case DELIVERED:
		b->stats[STAT_DELIVERED]++;
		break;
	case OVER_LIMIT:
		b->stats[STAT_DROPPED]++;
		if (policy(b) == OVERFLOW_DISCONNECT)
			b->stats[STAT_SLOW_DISCONNECTS]++;
		s->ops->overflow(s, policy(b));
		break;
	case FAILED:
		/* Out of memory: the subscriber is closed; not silent. */
		b->stats[STAT_DROPPED]++;
		log_warnx("out of memory: a message could not be queued, and its subscriber was "
		          "closed");
		break;
	}
}

/* A match in progress: each subscriber once, into the cache, or (out of
 * memory for the cache) the frame straight to them. */
struct match {
	struct broker *b;
	uint64_t seq;
	struct message *msg; /* NULL: collect into the cache */
	bool failed;         /* the cache could not grow */
};

static void
match_cb(struct subscription *sub, void *arg)
{
	struct match *m = arg;
	struct topic_cache *c = &m->b->cache;
	struct subscriber *s = subscriber_of(sub->owner);

	if (s->last_seq == m->seq)
		return;
	s->last_seq = m->seq;
	if (m->msg != NULL) {
		deliver_one(m->b, s, m->msg);
		return;
	}
	if (c->nsubs == c->subs_cap) {
		size_t cap = c->subs_cap ? c->subs_cap * 2 : 16;
		struct subscriber **subs = realloc(c->subs, cap * sizeof *subs);

		if (subs == NULL) {
			m->failed = true;
			return;
		}
		c->subs = subs;
		c->subs_cap = cap;
	}
	c->subs[c->nsubs++] = s;
}

/* Is topic the one the cache holds? */
static bool
cache_holds(const struct topic_cache *c, const char *topic, size_t tlen)
{
	return c->topic != NULL && c->len == tlen && memcmp(c->topic, topic, tlen) == 0;
}

/* Makes the cache hold topic, knowing nothing of it yet. Returns false if
 * out of memory (the cache is then empty). */
static bool
cache_take(struct topic_cache *c, const char *topic, size_t tlen)
{
	if (tlen > c->cap) {
		char *t = realloc(c->topic, tlen);

		if (t == NULL) {
			free(c->topic);
			memset(c, 0, offsetof(struct topic_cache, subs));
			return false;
		}
		c->topic = t;
		c->cap = tlen;
	}
	memcpy(c->topic, topic, tlen);
	c->len = tlen;
	c->vetted = false;
	c->allowed_id = 0;
	c->matched = false;
	return true;
}

bool
broker_topic_known(const struct broker *b, const char *topic, size_t tlen, const struct session *s)
{
	const struct topic_cache *c = &b->cache;

	return c->vetted && c->config_gen == b->config_gen && cache_holds(c, topic, tlen) &&
	       (s == NULL || c->allowed_id == s->id);
}

void
broker_topic_allowed(struct broker *b, const char *topic, size_t tlen, const struct session *s)
{
	struct topic_cache *c = &b->cache;

	if (!cache_holds(c, topic, tlen) && !cache_take(c, topic, tlen))
		return;
	c->vetted = true;
	c->config_gen = b->config_gen;
	c->allowed_id = s->id;
}

/* Makes the cache hold topic's match. Returns false if out of memory for
 * it (then it holds nothing). */
static bool
cache_match(struct broker *b, const char *topic, size_t tlen)
{
	struct topic_cache *c = &b->cache;
	struct match m = { .b = b, .seq = ++b->msg_seq };

	if (!cache_holds(c, topic, tlen) && !cache_take(c, topic, tlen))
		return false;
	if (c->matched && c->index_gen == subtree_generation(b->subs))
		return true;
	c->nsubs = 0;
	subtree_match(b->subs, topic, tlen, match_cb, &m);
	c->matched = !m.failed;
	c->index_gen = subtree_generation(b->subs);
	return c->matched;
}

/* Queues m to every subscriber matching its topic. */
static void
fan_out(struct broker *b, struct message *msg)
{
	struct topic_cache *c = &b->cache;

	if (!cache_match(b, msg->topic, msg->tlen)) {
		/* No memory to remember the match: deliver as matched. */
		struct match m = { .b = b, .seq = ++b->msg_seq, .msg = msg };

		subtree_match(b->subs, msg->topic, msg->tlen, match_cb, &m);
		return;
	}
	/* Deliveries never change the index (the dead leave it from the
	 * reaper), so the list stays right while it is walked. */
	for (size_t i = 0; i < c->nsubs; i++)
		deliver_one(b, c->subs[i], msg);
}

/* Fans m out, then lets go of its meta frame. */
static void
send_message(struct broker *b, struct message *m)
{
	fan_out(b, m);
	if (m->with_meta.block != NULL)
		outblock_unref(m->with_meta.block);
}

/* The meta of s as a publisher. */
static struct proto_meta
meta_of(const struct session *s)
{
	return (struct proto_meta){ s->peer.uid, s->peer.gid, s->peer.pid, "main", NULL, 0 };
}

/* The broker's own meta: no credentials. */
static const struct proto_meta broker_meta = { -1, -1, -1, "broker", NULL, 0 };

/* A message of s's, already framed as f. */
static struct message
framed(const struct proto_meta *meta, const char *topic, size_t tlen, const char *payload,
       size_t plen, const struct frame *f)
{
	return (struct message){ .topic = topic,
		                 .tlen = tlen,
		                 .payload = payload,
		                 .plen = plen,
		                 .plain = *f,
		                 .meta = meta };
}

void
broker_publish_frame(struct broker *b, struct session *s, const char *topic, size_t tlen,
                     const char *payload, size_t plen, const struct frame *f)
{
	struct proto_meta meta = meta_of(s);
	struct message m = framed(&meta, topic, tlen, payload, plen, f);

	b->stats[STAT_PUBLISHED]++;
	send_message(b, &m);
}

/* The message of a burst (see broker_publish_burst) whose frame starts at
 * data, before end; its payload is found again in the frame. */
static struct message
burst_message(const struct message *first, const char *data, const char *end)
{
	const char *nl = memchr(data, '\n', (size_t)(end - data));
	size_t len = (size_t)(nl + 1 - data), head = 4 + first->tlen; /* "MSG <topic>" */
	struct message m = {
		.topic = first->topic,
		.tlen = first->tlen,
		.payload = data + head + (len > head + 1),
		.plen = len > head + 1 ? len - head - 2 : 0,
		.plain = { data, len, first->plain.block },
		.meta = first->meta,
	};

	return m;
}

/* Queues a burst of count messages to sub as one frame, if it takes
 * bursts, wants no meta and has room for all of it. Returns false when it
 * must take them message by message instead. */
static bool
deliver_burst(struct broker *b, struct subscriber *sub, const struct frame *f, size_t count)
{
	if (!sub->bursts || sub->meta)
		return false;
	switch (sub->ops->deliver(sub, f)) {
	case DELIVERED:
		b->stats[STAT_DELIVERED] += count;
		return true;
	case FAILED:
		b->stats[STAT_DROPPED] += count; /* it closed itself */
		log_warnx("out of memory: %zu messages could not be queued, and their subscriber "
		          "was closed",
		          count);
		return true;
	case OVER_LIMIT:
		break;
	}
	return false; /* as many as fit, then the policy */
}

void
broker_publish_burst(struct broker *b, struct session *s, const char *topic, size_t tlen,
                     const struct frame *f, size_t count)
{
	struct proto_meta meta = meta_of(s);
	struct message burst = framed(&meta, topic, tlen, NULL, 0, f);
	const char *end = f->data + f->len;
	struct topic_cache *c = &b->cache;
	uint64_t slow = ++b->msg_seq; /* marks who takes it message by message */
	bool cached = cache_match(b, topic, tlen), any_slow = !cached;

	b->stats[STAT_PUBLISHED] += count;
	for (size_t i = 0; cached && i < c->nsubs; i++) {
		struct subscriber *sub = c->subs[i];

		if (!sub->closed && !deliver_burst(b, sub, f, count)) {
			sub->last_seq = slow;
			any_slow = true;
		}
	}
	if (!any_slow)
		return;
	/* Message by message for the others: each message's meta frame is
	 * made once, and every limit and drop is counted as it would be. */
	for (const char *p = f->data; p < end;) {
		struct message m = burst_message(&burst, p, end);

		p += m.plain.len;
		if (!cached) {
			fan_out(b, &m);
		} else {
			for (size_t i = 0; i < c->nsubs; i++)
				if (c->subs[i]->last_seq == slow)
					deliver_one(b, c->subs[i], &m);
		}
		if (m.with_meta.block != NULL)
			outblock_unref(m.with_meta.block);
	}
}

/* Frames a message, with reply topic reply if not NULL, and fans it out;
 * counted as published if count. Returns how many subscribers it reached,
 * or -1 if out of memory. */
static long
publish(struct broker *b, const struct proto_meta *meta, const char *topic, size_t tlen,
        const char *payload, size_t plen, bool count)
{
	struct message m = {
		.topic = topic,
		.tlen = tlen,
		.payload = payload,
		.plen = plen,
		.meta = meta,
		.plain.len = proto_msg_len(tlen, plen),
	};

	if (m.plain.len < sizeof b->frame) {
		m.plain.data = b->frame;
	} else {
		/* Ours, until the fan-out is done; then the queues'. */
		if ((m.plain.block = outblock_new(NULL, m.plain.len)) == NULL) {
			log_warnx("out of memory: a %zu-byte message was not published",
			          m.plain.len);
			return -1;
		}
		m.plain.block->len = (uint32_t)m.plain.len;
		m.plain.data = m.plain.block->data;
	}
	proto_format_msg((char *)m.plain.data, topic, tlen, payload, plen);
	if (count)
		b->stats[STAT_PUBLISHED]++;
	send_message(b, &m);
	if (m.plain.block != NULL)
		outblock_unref(m.plain.block);
	return (long)m.reached;
}

void
broker_publish(struct broker *b, struct session *s, const char *topic, size_t tlen,
               const char *payload, size_t plen)
{
	struct proto_meta meta = s != NULL ? meta_of(s) : broker_meta;

	publish(b, &meta, topic, tlen, payload, plen, true);
}

long
broker_publish_request(struct broker *b, struct session *s, const char *topic, size_t tlen,
                       const char *payload, size_t plen, const char *reply, size_t rlen)
{
	struct proto_meta meta = meta_of(s);

	meta.reply = reply;
	meta.reply_len = rlen;
	return publish(b, &meta, topic, tlen, payload, plen, true);
}

void
broker_publish_reply(struct broker *b, struct session *s, struct session *to, const char *topic,
                     size_t tlen, const char *payload, size_t plen, const struct frame *f)
{
	struct proto_meta meta = meta_of(s);
	struct message m = framed(&meta, topic, tlen, payload, plen, f);

	b->stats[STAT_PUBLISHED]++;
	deliver_one(b, &to->sub, &m);
	if (m.with_meta.block != NULL)
		outblock_unref(m.with_meta.block);
}

enum retain_result
broker_retain(struct broker *b, struct session *s, const char *topic, size_t tlen,
              const char *payload, size_t plen)
{
	struct retain_origin o = { -1, -1, -1, "main" };
	enum retain_result rc;

	if (s != NULL) {
		o.uid = s->peer.uid;
		o.gid = s->peer.gid;
		o.pid = s->peer.pid;
	}
	if ((rc = retain_set(b->retained, topic, tlen, payload, plen, &o, 0)) == RETAIN_OK)
		broker_publish(b, s, topic, tlen, payload, plen);
	return rc;
}

void
broker_set_sys(struct broker *b, const char *topic, size_t tlen, const char *value, size_t vlen)
{
	if (retain_set(b->retained, topic, tlen, value, vlen, NULL, RETAIN_SYS) == RETAIN_OK)
		publish(b, &broker_meta, topic, tlen, value, vlen, false); /* not a client's */
}

/* Queues one retained value to the session being answered, with the
 * meta of who retained it if the session asked for meta. */
static void
send_rmsg(struct retain_value *v, void *arg)
{
	struct session *s = arg;
	struct frame f = { .block = retain_value_block(v) };
	struct retain_origin o;
	struct proto_meta meta;
	char mbuf[PROTO_META_MAX], *frame;
	const char *topic, *payload;
	size_t tlen, plen, mlen, len;

	f.data = retain_value_frame(v, &f.len);
	if (!s->sub.meta) {
		session_send_frame(s, &f);
		return;
	}
	retain_value_origin(v, &o);
	meta = (struct proto_meta){ o.uid, o.gid, o.pid, o.via[0] ? o.via : "broker", NULL, 0 };
	topic = retain_value_topic(v, &tlen);
	payload = retain_value_payload(v, &plen);
	mlen = proto_format_meta(mbuf, &meta);
	len = proto_meta_frame_len(4, tlen, mlen, plen);
	if ((frame = malloc(len)) == NULL) {
		session_kill(s, "out of memory");
		return;
	}
	proto_format_meta_frame(frame, "RMSG", topic, tlen, mbuf, mlen, payload, plen);
	session_send(s, frame, len);
	free(frame);
}

void
broker_send_retained(struct broker *b, struct session *s, const char *filter, size_t flen)
{
	retain_match(b->retained, filter, flen, send_rmsg, s);
}

void
broker_save_retained(struct broker *b, bool force)
{
	char err[512];

	if (b->cfg.retain_file == NULL || (!force && !retain_dirty(b->retained)))
		return;
	if (retainfile_save(b->retained, b->cfg.retain_file, err, sizeof err) < 0) {
		log_warnx("%s", err);
		return;
	}
	retain_mark_clean(b->retained);
	log_debug("retained values written to %s", b->cfg.retain_file);
}

static void
sync_cb(evutil_socket_t fd, short what, void *arg)
{
	broker_save_retained(arg, false);
}

/* Sets one $SYS value (a sysstats_each callback). */
static void
put_sys(const char *topic, size_t tlen, const char *value, size_t vlen, void *arg)
{
	broker_set_sys(arg, topic, tlen, value, vlen);
}

/* Publishes every $SYS value now. */
static void
publish_sys(struct broker *b)
{
	uint64_t v[STAT_COUNT];

	broker_stats(b, v);
	sysstats_each(&b->sys, v, mono_ms(), put_sys, b);
}

static void
sys_cb(evutil_socket_t fd, short what, void *arg)
{
	publish_sys(arg);
}

/* (Re)arms the timers of [retain] sync and sys_interval. */
static void
arm_timers(struct broker *b)
{
	struct timeval sync = { b->cfg.retain_sync, 0 }, sys = { b->cfg.sys_interval, 0 };

	event_del(b->sync_timer);
	event_del(b->sys_timer);
	if (b->cfg.retain_file != NULL)
		event_add(b->sync_timer, &sync);
	if (b->cfg.sys_interval > 0)
		event_add(b->sys_timer, &sys);
}

/* Loads [retain] file, if one is set. Returns 0, or -1 with why in err. */
static int
load_retained(struct broker *b, char *err, size_t errlen)
{
	struct retainfile_report rep;

	if (b->cfg.retain_file == NULL)
		return 0;
	if (retainfile_load(b->retained, b->cfg.retain_file, &rep, err, errlen) < 0)
		return -1;
	if (rep.corrupt)
		log_warnx("%s", err);
	if (rep.over_bounds)
		log_warnx("%s holds more retained values than max_retained or max_retained_bytes "
		          "allow; they are kept, new ones are refused until there is room",
		          b->cfg.retain_file);
	if (!rep.missing)
		log_info("%zu retained values loaded from %s", rep.loaded, b->cfg.retain_file);
	return 0;
}

void
broker_stats(const struct broker *b, uint64_t v[STAT_COUNT])
{
	memcpy(v, b->stats, sizeof b->stats);
	v[STAT_CLIENTS] = b->nsessions;
	v[STAT_SUBSCRIPTIONS] = subtree_count(b->subs);
	v[STAT_BYTES_IN] = b->env.bytes_in;
	v[STAT_BYTES_OUT] = b->env.bytes_out;
	v[STAT_UPTIME] = (uint64_t)((mono_ms() - b->started_ms) / 1000);
	v[STAT_RETAINED] = retain_count(b->retained);
	v[STAT_RETAINED_BYTES] = retain_bytes(b->retained);
}

/* ---- sessions: admission and lifetimes ---- */

static void
on_request(void *arg, struct session *s, char *line, size_t len, struct outblock *block)
{
	broker_request(arg, s, line, len, block);
}

static void
on_line_too_long(void *arg, struct session *s)
{
	struct broker *b = arg;

	broker_reply_err(s, PROTO_ERR_LINE_TOO_LONG, "line longer than %zu bytes", b->cfg.max_line);
}

/* s is closed: forget it now, free it from the reaper. */
static void
on_closed(void *arg, struct session *s, const char *why)
{
	struct broker *b = arg;

	TAILQ_REMOVE(&b->sessions, s, entry);
	b->nsessions--;
	uidcount_remove(&b->uids, s->peer.uid);
	TAILQ_INSERT_TAIL(&b->dead, s, entry);
	event_active(b->reaper, 0, 0);
}

static const struct session_hooks session_hooks = {
	.request = on_request,
	.line_too_long = on_line_too_long,
	.closed = on_closed,
};

/* Tells a new connection it is not admitted, and closes it. */
static void
refuse(struct broker *b, int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof line, "ERR %s %s\n", PROTO_ERR_SERVER_BUSY, why);
	uint64_t held;

	/* Best effort: the socket is new, its buffer empty. */
	if (send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("refusing a client: %s", strerror(errno));
	close(fd);
	b->stats[STAT_REFUSED]++;
	if (!notice_due(&b->notices, NOTICE_REFUSED, mono_ms(), &held))
		return;
	if (held == 0)
		log_info("refused a client: %s", why);
	else
		log_info("refused a client: %s (and %llu more since the last notice)", why,
		         (unsigned long long)held);
}

void
broker_denied(struct broker *b, struct session *s, const char *cmd, const char *what, size_t len)
{
	char who[96], esc[128];
	uint64_t held;

	b->stats[STAT_DENIED]++;
	if (!notice_due(&s->notices, NOTICE_DENIED, mono_ms(), &held))
		return;
	if (held == 0)
		log_info("%s: %s \"%s\" denied by the access rules",
		         session_who(s, who, sizeof who), cmd,
		         escape_text(esc, sizeof esc, what, len));
	else
		log_info("%s: %s \"%s\" denied by the access rules, and %llu more requests since "
		         "the last notice",
		         session_who(s, who, sizeof who), cmd,
		         escape_text(esc, sizeof esc, what, len), (unsigned long long)held);
}

/* A connection arrived: admit it, or tell it the broker is full. */
static void
accept_cb(int fd, void *arg)
{
	struct broker *b = arg;
	struct peer peer;
	struct session *s;

	if (b->shutting_down) {
		close(fd);
		return;
	}
	if (b->nsessions >= b->cfg.max_clients) {
		refuse(b, fd, "too many clients");
		return;
	}
	if (peer_from_socket(&peer, fd) < 0) {
		log_warn("cannot read the credentials of a new client");
		close(fd);
		return;
	}
	if (b->cfg.max_clients_per_uid > 0 &&
	    uidcount_get(&b->uids, peer.uid) >= b->cfg.max_clients_per_uid) {
		peer_free(&peer);
		refuse(b, fd, "too many clients for this user");
		return;
	}
	if (uidcount_add(&b->uids, peer.uid) < 0) {
		peer_free(&peer);
		refuse(b, fd, "out of memory");
		return;
	}
	if ((s = session_new(&b->env, fd, ++b->next_id, &peer)) == NULL) {
		uidcount_remove(&b->uids, peer.uid);
		log_warnx("out of memory: a client was refused");
		return;
	}
	TAILQ_INSERT_TAIL(&b->sessions, s, entry);
	b->nsessions++;
	b->stats[STAT_CONNECTIONS]++;
	log_debug("client %llu: connected: pid %ld, uid %lu, gid %lu", (unsigned long long)s->id,
	          (long)s->peer.pid, (unsigned long)s->peer.uid, (unsigned long)s->peer.gid);
}

/* Runs the will of s, which ended without QUIT: as its PUB or RETAIN,
 * under the access rules in force now. */
static void
run_will(struct broker *b, struct session *s)
{
	const struct will *w = s->will;
	const char *payload = w->text + w->topic_len;
	char who[96], esc[128];

	escape_text(esc, sizeof esc, w->text, w->topic_len);
	if (!access_can_publish(&b->cfg.access, &s->peer, w->text, w->topic_len)) {
		broker_denied(b, s, w->retain ? "WILL RETAIN" : "WILL PUB", w->text, w->topic_len);
		return;
	}
	if (!w->retain)
		broker_publish(b, s, w->text, w->topic_len, payload, w->payload_len);
	else if (broker_retain(b, s, w->text, w->topic_len, payload, w->payload_len) != RETAIN_OK)
		log_info("%s: its will could not be retained on \"%s\" (retained values full)",
		         session_who(s, who, sizeof who), esc);
	log_debug("%s: will run on \"%s\"", session_who(s, who, sizeof who), esc);
}

/* Frees the dead sessions, outside the callbacks that killed them: a
 * session may close in the middle of a fan-out, which must not see the
 * index change under it. Their wills run here for the same reason. */
static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct session *s;

	while ((s = TAILQ_FIRST(&b->dead)) != NULL) {
		TAILQ_REMOVE(&b->dead, s, entry);
		subtree_remove_owner(b->subs, &s->sub.filters);
		replies_remove_all(&b->replies, &s->replies);
		if (s->will != NULL && !b->shutting_down)
			run_will(b, s);
		session_free(s);
		listener_fd_freed(&b->listener);
	}
	if (b->shutting_down && b->nsessions == 0)
		event_base_loopexit(b->base, NULL);
}

/* The limits sessions read, from the config in force. */
static void
apply_limits(struct broker *b)
{
	b->loop.max_line = b->cfg.max_line;
	b->env.queue_limit = b->cfg.queue_limit;
	retain_set_limits(b->retained, b->cfg.max_retained, b->cfg.max_retained_bytes);
}

int
broker_init(struct broker *b, struct event_base *base, struct config *cfg, const char *path,
            char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	b->base = base;
	b->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg); /* consumed */
	TAILQ_INIT(&b->sessions);
	TAILQ_INIT(&b->dead);
	b->started_ms = mono_ms();
	b->env.loop = &b->loop;
	b->env.hooks = &session_hooks;
	b->env.arg = b;
	b->subs = subtree_new();
	b->reaper = event_new(base, -1, 0, reap_cb, b);
	b->retained = retain_new();
	b->sync_timer = event_new(base, -1, EV_PERSIST, sync_cb, b);
	b->sys_timer = event_new(base, -1, EV_PERSIST, sys_cb, b);
	if (connloop_init(&b->loop, base) < 0 || b->subs == NULL || b->reaper == NULL ||
	    b->retained == NULL || b->sync_timer == NULL || b->sys_timer == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	apply_limits(b);
	if (load_retained(b, err, errlen) < 0)
		return -1;
	arm_timers(b);
	if (b->cfg.sys_interval > 0)
		publish_sys(b);
	return listener_open(&b->listener, base, path, b->cfg.socket_mode, b->cfg.socket_group,
	                     accept_cb, b, err, errlen);
}

/* Compares two optional strings. */
static bool
same_string(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* Removes the subscriptions of s that the access rules no longer allow. */
static void
recheck_subscriptions(struct broker *b, struct session *s)
{
	char filter[65536], list[320], who[96];
	struct subscription *sub, *next;
	size_t removed = 0, used = 0;

	for (sub = s->sub.filters.subs; sub != NULL; sub = next) {
		size_t len = subtree_filter(sub->node, filter, sizeof filter);
		char esc[128];

		next = sub->owner_next;
		if (len == 0 || access_can_subscribe(&b->cfg.access, &s->peer, filter, len))
			continue;
		if (used < sizeof list - 1) {
			int n = snprintf(list + used, sizeof list - used, "%s\"%s\"",
			                 removed ? ", " : "",
			                 escape_text(esc, sizeof esc, filter, len));

			used = n < 0 ? used : used + (size_t)n;
		}
		removed++;
		subtree_remove(b->subs, sub);
	}
	if (removed == 0)
		return;
	b->stats[STAT_REVOKED] += removed;
	if (used >= sizeof list - 1)
		memcpy(list + sizeof list - 4, "...", 4);
	log_info("%s: %zu subscription%s removed by the reload, no longer allowed: %s",
	         session_who(s, who, sizeof who), removed, removed == 1 ? "" : "s", list);
}

void
broker_reload(struct broker *b, struct config *cfg)
{
	struct session *s, *next;

	if (!same_string(b->cfg.socket, cfg->socket) || b->cfg.socket_mode != cfg->socket_mode ||
	    !same_string(b->cfg.socket_group, cfg->socket_group))
		log_warnx("socket settings changed: they take effect when udsbrokerd restarts");
	if (!same_string(b->cfg.retain_file, cfg->retain_file))
		log_warnx("[retain] file changed: it takes effect when udsbrokerd restarts");
	/* Keep the socket settings and the retained file in force, so the next
	 * reload compares against what is really in use. */
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->retain_file);
	cfg->socket = b->cfg.socket;
	cfg->socket_group = b->cfg.socket_group;
	cfg->socket_mode = b->cfg.socket_mode;
	cfg->retain_file = b->cfg.retain_file;
	b->cfg.socket = b->cfg.socket_group = b->cfg.retain_file = NULL; /* moved to cfg */
	config_free(&b->cfg);
	b->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg); /* consumed */
	/* What the topic cache knew may no longer hold. */
	b->config_gen++;
	apply_limits(b);
	arm_timers(b);
	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		recheck_subscriptions(b, s);
		/* New limits: queues may now be under their new half mark. */
		session_check_queue(s);
	}
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct session *s;

	if (b->nsessions > 0)
		log_warnx("shutdown: %u clients still had data queued; closing them", b->nsessions);
	while ((s = TAILQ_FIRST(&b->sessions)) != NULL)
		session_kill(s, "shutdown deadline");
	event_base_loopexit(b->base, NULL);
}

void
broker_shutdown(struct broker *b)
{
	struct timeval tv = { SHUTDOWN_FLUSH_SEC, 0 };
	struct session *s, *next;

	if (b->shutting_down)
		return;
	b->shutting_down = true;
	listener_stop(&b->listener);
	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_bye(s, PROTO_BYE_SHUTDOWN);
	}
	if (b->nsessions == 0) {
		event_base_loopexit(b->base, NULL);
		return;
	}
	b->deadline = evtimer_new(b->base, deadline_cb, b);
	if (b->deadline == NULL || evtimer_add(b->deadline, &tv) < 0)
		deadline_cb(-1, 0, b);
}

void
broker_free(struct broker *b)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&b->sessions)) != NULL)
		session_kill(s, NULL);
	while ((s = TAILQ_FIRST(&b->dead)) != NULL) {
		TAILQ_REMOVE(&b->dead, s, entry);
		session_free(s);
	}
	listener_close(&b->listener);
	if (b->reaper != NULL)
		event_free(b->reaper);
	if (b->deadline != NULL)
		event_free(b->deadline);
	subtree_free(b->subs);
	replies_free(&b->replies);
	uidcount_free(&b->uids);
	notice_free(b->notices);
	if (b->retained != NULL)
		broker_save_retained(b, false);
	retain_free(b->retained);
	if (b->sync_timer != NULL)
		event_free(b->sync_timer);
	if (b->sys_timer != NULL)
		event_free(b->sys_timer);
	free(b->cache.topic);
	free(b->cache.subs);
	connloop_free(&b->loop);
	config_free(&b->cfg);
}
