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

/* Room for n bytes of a meta frame: the tail of the broker's meta arena,
 * where consecutive frames lie next to each other, so a subscriber's queue
 * takes a burst of them as one slice, as it does plain frames from an
 * input block; a long frame gets a block of its own. The block returned
 * holds a reference for the caller; NULL if out of memory. */
static struct outblock *
meta_block(struct broker *b, size_t n)
{
	struct outblock *a = b->meta_arena;

	if (n > BROKER_META_ARENA / 4)
		return outblock_new(NULL, n);
	if (a == NULL || a->cap - a->len < n) {
		if (a != NULL)
			outblock_unref(a);
		if ((a = b->meta_arena = outblock_new(&b->meta_pool, BROKER_META_ARENA)) == NULL)
			return NULL;
		a->foreign = true; /* shared like an input block, pinned the same way */
	}
	a->refs++;
	return a;
}

/* The frame of m with meta, made the first time a subscriber wants it;
 * NULL if out of memory. */
static const struct frame *
meta_frame(struct broker *b, struct message *m)
{
	char meta[PROTO_META_MAX + REPLY_TOPIC_LEN + 8];
	size_t mlen, len;
	struct outblock *blk;
	char *at;

	if (m->with_meta.data != NULL || m->meta_failed)
		return m->meta_failed ? NULL : &m->with_meta;
	mlen = proto_format_meta(meta, m->meta);
	len = proto_meta_frame_len(3, m->tlen, mlen, m->plen);
	if ((blk = meta_block(b, len)) == NULL) {
		m->meta_failed = true;
		return NULL;
	}
	at = blk->data + blk->len;
	len =
	    proto_format_meta_frame(at, "MSG", m->topic, m->tlen, meta, mlen, m->payload, m->plen);
	blk->len += (uint32_t)len;
	m->with_meta = (struct frame){ at, len, blk, m->plain.retained };
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
	if (s->meta && (f = meta_frame(b, m)) == NULL) {
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

/* Queues m to s, or for a shared group to the member it picks, which
 * takes it once: a member that had it already (a plain filter of its
 * matched too) took the group's delivery as well. seq: the message's
 * number; had: the mark of those who have it already besides (a burst's
 * takers of it whole), or seq. */
static void
deliver_to(struct broker *b, struct subscriber *s, struct message *m, uint64_t seq, uint64_t had)
{
	struct subscriber *member;

	if (s->ops->pick != NULL) {
		if ((member = s->ops->pick(s)) == NULL || member->last_seq == seq ||
		    member->last_seq == had)
			return;
		member->last_seq = seq;
		s = member;
	}
	deliver_one(b, s, m);
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
		deliver_to(m->b, s, m->msg, m->seq, m->seq);
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
	if (s->ops->pick != NULL)
		c->ngroups++;
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
	c->nsubs = c->ngroups = 0;
	subtree_match(b->subs, topic, tlen, match_cb, &m);
	c->matched = !m.failed;
	c->index_gen = subtree_generation(b->subs);
	return c->matched;
}

/* fan_out's walk of the cached list when it holds shared groups, and a
 * burst's message by message: a group's member may be on the list too, so
 * each delivery is stamped with the message's number seq and nobody is
 * given it twice. had: as deliver_to's (those marked had are passed over). */
static void
fan_out_shared(struct broker *b, struct message *msg, uint64_t seq, uint64_t had)
{
	struct topic_cache *c = &b->cache;

	for (size_t i = 0; i < c->nsubs; i++) {
		struct subscriber *s = c->subs[i];

		if (s->last_seq == seq || s->last_seq == had)
			continue; /* a group chose it already, or it has the burst */
		s->last_seq = seq;
		deliver_to(b, s, msg, seq, had);
	}
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
	if (c->ngroups > 0) {
		uint64_t seq = ++b->msg_seq;

		fan_out_shared(b, msg, seq, seq);
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

/* The meta of s as a publisher: no credentials over TCP. */
static struct proto_meta
meta_of(const struct session *s)
{
	const struct peer *p = &s->peer;

	if (!p->has_creds)
		return (struct proto_meta){ -1, -1, -1, p->listener, NULL, 0 };
	return (struct proto_meta){ p->uid, p->gid, p->pid, p->listener, NULL, 0 };
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
		.plain = { data, len, first->plain.block, first->plain.retained },
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
	/* Marks who took it whole, and who takes it message by message. */
	uint64_t took = ++b->msg_seq, slow = ++b->msg_seq;
	bool cached = cache_match(b, topic, tlen), any_slow = !cached;

	b->stats[STAT_PUBLISHED] += count;
	for (size_t i = 0; cached && i < c->nsubs; i++) {
		struct subscriber *sub = c->subs[i];

		/* A group picks a member per message, unless it has only
		 * one: that one takes it whole, as a plain subscriber does. */
		if (sub->ops->pick != NULL && (sub = sub->ops->sole(sub)) == NULL) {
			any_slow = true;
			continue;
		}
		if (sub->last_seq == took || sub->last_seq == slow)
			continue; /* offered it already, as plain or a group's member */
		if (sub->closed || deliver_burst(b, sub, f, count)) {
			sub->last_seq = took;
		} else {
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
		if (cached)
			fan_out_shared(b, &m, ++b->msg_seq, took); /* but to who took it whole */
		else
			fan_out(b, &m); /* each subscriber once, groups included */
		if (m.with_meta.block != NULL)
			outblock_unref(m.with_meta.block);
	}
}

/* How publish() counts and marks a message. */
#define PUBLISH_COUNT    1u /* counted as published (a client's, not $SYS) */
#define PUBLISH_RETAINED 2u /* the live delivery of a retained value */

/* Frames a message, with reply topic reply if not NULL, and fans it out;
 * flags are PUBLISH_*. Returns how many subscribers it reached, or -1 if
 * out of memory. */
static long
publish(struct broker *b, const struct proto_meta *meta, const char *topic, size_t tlen,
        const char *payload, size_t plen, unsigned flags)
{
	struct message m = {
		.topic = topic,
		.tlen = tlen,
		.payload = payload,
		.plen = plen,
		.meta = meta,
		.plain.len = proto_msg_len(tlen, plen),
		.plain.retained = (flags & PUBLISH_RETAINED) != 0,
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
	if (flags & PUBLISH_COUNT)
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

	publish(b, &meta, topic, tlen, payload, plen, PUBLISH_COUNT);
}

long
broker_publish_request(struct broker *b, struct session *s, const char *topic, size_t tlen,
                       const char *payload, size_t plen, const char *reply, size_t rlen)
{
	struct proto_meta meta = meta_of(s);

	meta.reply = reply;
	meta.reply_len = rlen;
	return publish(b, &meta, topic, tlen, payload, plen, PUBLISH_COUNT);
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
		struct proto_meta m = meta_of(s);

		o = (struct retain_origin){ m.uid, m.gid, m.pid, m.via };
	}
	if ((rc = retain_set(b->retained, topic, tlen, payload, plen, &o, 0)) == RETAIN_OK) {
		struct proto_meta meta = s != NULL ? meta_of(s) : broker_meta;

		publish(b, &meta, topic, tlen, payload, plen, PUBLISH_COUNT | PUBLISH_RETAINED);
	}
	return rc;
}

enum retain_result
broker_publish_via(struct broker *b, const char *via, const char *topic, size_t tlen,
                   const char *payload, size_t plen, bool retain)
{
	struct proto_meta meta = { -1, -1, -1, via, NULL, 0 };
	struct retain_origin o = { -1, -1, -1, via };
	enum retain_result rc = RETAIN_OK;

	if (retain &&
	    (rc = retain_set(b->retained, topic, tlen, payload, plen, &o, 0)) != RETAIN_OK)
		return rc;
	if (publish(b, &meta, topic, tlen, payload, plen,
	            PUBLISH_COUNT | (retain ? PUBLISH_RETAINED : 0)) < 0)
		return RETAIN_NOMEM;
	return RETAIN_OK;
}

int
broker_subscribe(struct broker *b, struct subscriber *sub, const char *filter, size_t flen)
{
	if (subtree_lookup(b->subs, filter, flen, &sub->filters) != NULL)
		return 0;
	return subtree_add(b->subs, filter, flen, &sub->filters) != NULL ? 0 : -1;
}

void
broker_unsubscribe_all(struct broker *b, struct subscriber *sub)
{
	subtree_remove_owner(b->subs, &sub->filters);
}

void
broker_set_gauges(struct broker *b, broker_gauges_fn *fn, void *owner)
{
	b->gauges = fn;
	b->gauges_owner = owner;
}

/* Appends " key=value" to a STATS line being written. */
static void
stats_gauge(const char *key, const char *sys, const char *value, void *arg)
{
	struct stats_line *l = arg;
	int n;

	if (l->len >= l->size)
		return;
	n = snprintf(l->buf + l->len, l->size - l->len, " %s=%s", key, value);
	if (n < 0 || (size_t)n >= l->size - l->len)
		l->len = l->size; /* cut short: full */
	else
		l->len += (size_t)n;
}

size_t
broker_format_stats(const struct broker *b, char *buf, size_t size)
{
	uint64_t v[STAT_COUNT];
	struct stats_line l = { buf, 0, size };

	broker_stats(b, v);
	l.len = stats_format(v, buf, size);
	if (b->gauges != NULL)
		b->gauges(b->gauges_owner, stats_gauge, &l);
	if (l.len >= size) {
		/* Cut at the last whole key=value. */
		char *sp = memrchr(buf, ' ', size - 1);

		l.len = sp != NULL ? (size_t)(sp - buf) : 0;
		buf[l.len] = '\0';
	}
	return l.len;
}

void
broker_set_sys(struct broker *b, const char *topic, size_t tlen, const char *value, size_t vlen)
{
	if (retain_set(b->retained, topic, tlen, value, vlen, NULL, RETAIN_SYS) == RETAIN_OK)
		publish(b, &broker_meta, topic, tlen, value, vlen,
		        PUBLISH_RETAINED); /* not a client's */
}

void
broker_send_retained(struct broker *b, struct session *s, const char *filter, size_t flen)
{
	rstream_start(&b->streams, s, filter, flen);
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

/* Sets one extra $SYS value (a broker_gauge_cb). */
static void
put_sys_gauge(const char *key, const char *sys, const char *value, void *arg)
{
	char topic[160];
	int n = snprintf(topic, sizeof topic, "$SYS/broker/%s", sys);

	if (n > 0 && (size_t)n < sizeof topic)
		broker_set_sys(arg, topic, (size_t)n, value, strlen(value));
}

/* Publishes every $SYS value now. */
static void
publish_sys(struct broker *b)
{
	uint64_t v[STAT_COUNT];

	broker_stats(b, v);
	sysstats_each(&b->sys, v, mono_ms(), put_sys, b);
	if (b->gauges != NULL)
		b->gauges(b->gauges_owner, put_sys_gauge, b);
}

void
broker_publish_sys(struct broker *b)
{
	if (b->cfg.sys_interval > 0)
		publish_sys(b);
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
	/* A group is one subscription in the index; each member holds one. */
	v[STAT_SUBSCRIPTIONS] =
	    subtree_count(b->subs) - share_group_count(b->shares) + share_member_count(b->shares);
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

	rstream_cancel(&b->streams, s);
	TAILQ_REMOVE(&b->sessions, s, entry);
	b->nsessions--;
	if (s->peer.has_creds)
		uidcount_remove(&b->uids, s->peer.uid);
	TAILQ_INSERT_TAIL(&b->dead, s, entry);
	event_active(b->reaper, 0, 0);
}

static void
on_publish_line(void *arg, struct session *s, char *line, size_t len, struct outblock *block)
{
	broker_publish_line(arg, s, line, len);
}

static void
on_line_discarded(void *arg, struct session *s)
{
	broker_line_discarded(arg, s);
}

static void
on_drained(void *arg, struct session *s)
{
	struct broker *b = arg;

	rstream_drained(&b->streams, s);
}

static const struct session_hooks session_hooks = {
	.request = on_request,
	.line_too_long = on_line_too_long,
	.publish_line = on_publish_line,
	.line_discarded = on_line_discarded,
	.closed = on_closed,
	.drained = on_drained,
};

/* Tells a new connection it is not admitted (a lines client is told
 * nothing), and closes it. */
static void
refuse(struct broker *b, const struct listener *l, int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof line, "ERR %s %s\n", PROTO_ERR_SERVER_BUSY, why);
	uint64_t held;

	/* Best effort: the socket is new, its buffer empty. */
	if (l->mode != LISTEN_LINES && send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
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

/* The peer of a new connection on l: credentials for a Unix one (and a
 * place in the per-uid count), none over TCP. Returns NULL, or why it is
 * refused. */
static const char *
admit_peer(struct broker *b, const struct listener *l, int fd, struct peer *peer)
{
	memset(peer, 0, sizeof *peer);
	if (!l->tcp) {
		if (peer_from_socket(peer, fd) < 0) {
			log_warn("cannot read the credentials of a new client");
			return "";
		}
		if (b->cfg.max_clients_per_uid > 0 &&
		    uidcount_get(&b->uids, peer->uid) >= b->cfg.max_clients_per_uid) {
			peer_free(peer);
			return "too many clients for this user";
		}
		if (uidcount_add(&b->uids, peer->uid) < 0) {
			peer_free(peer);
			return "out of memory";
		}
	}
	peer->listener = l->name;
	return NULL;
}

/* Logs who connected. */
static void
log_connected(const struct session *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char addr[80] = "?";

	if (s->peer.has_creds) {
		log_debug("client %llu: connected to %s: pid %ld, uid %lu, gid %lu",
		          (unsigned long long)s->id, s->peer.listener, (long)s->peer.pid,
		          (unsigned long)s->peer.uid, (unsigned long)s->peer.gid);
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		listenconf_addr_text(&ss, addr, sizeof addr);
	log_debug("client %llu: connected to %s over tcp from %s", (unsigned long long)s->id,
	          s->peer.listener, addr);
}

/* A connection arrived on l: admit it, or tell it the broker is full. */
static void
accept_cb(struct listener *l, int fd, void *arg)
{
	struct broker *b = arg;
	struct peer peer;
	struct session *s;
	const char *why;

	if (b->shutting_down) {
		close(fd);
		return;
	}
	if (b->nsessions >= b->cfg.max_clients) {
		refuse(b, l, fd, "too many clients");
		return;
	}
	if ((why = admit_peer(b, l, fd, &peer)) != NULL) {
		if (why[0] != '\0')
			refuse(b, l, fd, why);
		else
			close(fd);
		return;
	}
	if ((s = session_new(&b->env, fd, ++b->next_id, &peer, l->mode == LISTEN_LINES)) == NULL) {
		if (!l->tcp)
			uidcount_remove(&b->uids, peer.uid);
		log_warnx("out of memory: a client was refused");
		return;
	}
	s->listener = l;
	TAILQ_INSERT_TAIL(&b->sessions, s, entry);
	b->nsessions++;
	b->stats[STAT_CONNECTIONS]++;
	log_connected(s, fd);
}

/* Runs the will of s, which ended without QUIT: as its PUB or RETAIN,
 * under the access rules in force now. */
static void
run_will(struct broker *b, struct session *s)
{
	const struct will *w = s->will;
	const char *payload = w->text + w->topic_len;
	char who[96], esc[128];
	enum retain_result rr;

	escape_text(esc, sizeof esc, w->text, w->topic_len);
	if (!access_can_publish(&b->cfg.access, &s->peer, w->text, w->topic_len)) {
		broker_denied(b, s, w->retain ? "WILL RETAIN" : "WILL PUB", w->text, w->topic_len);
		return;
	}
	if (!w->retain) {
		broker_publish(b, s, w->text, w->topic_len, payload, w->payload_len);
	} else if ((rr = broker_retain(b, s, w->text, w->topic_len, payload, w->payload_len)) !=
	           RETAIN_OK) {
		log_info("%s: its will could not be retained on \"%s\" (%s)",
		         session_who(s, who, sizeof who), esc, retain_strerror(rr));
		return;
	}
	log_debug("%s: will run on \"%s\"", session_who(s, who, sizeof who), esc);
}

/* Takes a dead session out of the index, its groups and reply topics. */
static void
unlink_session(struct broker *b, struct session *s)
{
	share_leave_all(b->shares, &s->sub);
	subtree_remove_owner(b->subs, &s->sub.filters);
	replies_remove_all(&b->replies, &s->replies);
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
		unlink_session(b, s);
		if (s->will != NULL && !b->shutting_down)
			run_will(b, s);
		session_free(s);
		listeners_fd_freed(&b->listeners);
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
	outpool_init(&b->meta_pool, BROKER_META_ARENA, 2);
	b->subs = subtree_new();
	b->shares = b->subs != NULL ? shares_new(b->subs) : NULL;
	b->reaper = event_new(base, -1, 0, reap_cb, b);
	b->retained = retain_new();
	b->sync_timer = event_new(base, -1, EV_PERSIST, sync_cb, b);
	b->sys_timer = event_new(base, -1, EV_PERSIST, sys_cb, b);
	if (connloop_init(&b->loop, base) < 0 || b->subs == NULL || b->shares == NULL ||
	    b->reaper == NULL || b->retained == NULL || b->sync_timer == NULL ||
	    b->sys_timer == NULL || rstreams_init(&b->streams, base, b->retained) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	apply_limits(b);
	if (load_retained(b, err, errlen) < 0)
		return -1;
	arm_timers(b);
	if (b->cfg.sys_interval > 0)
		publish_sys(b);
	return listeners_open(&b->listeners, base, &b->cfg, path, accept_cb, b, err, errlen);
}

/* Compares two optional strings. */
static bool
same_string(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* The room for the list of revoked filters in a log line. */
#define REVOKED_MAX 320

/* Appends "filter" to the list of revoked filters (used bytes of it, the
 * n-th), as far as it goes. */
static void
list_revoked(char list[REVOKED_MAX], size_t *used, size_t n, const char *filter, size_t len)
{
	char esc[128];

	if (*used < REVOKED_MAX - 1) {
		int k = snprintf(list + *used, REVOKED_MAX - *used, "%s\"%s\"", n ? ", " : "",
		                 escape_text(esc, sizeof esc, filter, len));

		*used = k < 0 ? *used : *used + (size_t)k;
	}
}

/* Removes the subscriptions of s that the access rules no longer allow. */
static void
recheck_subscriptions(struct broker *b, struct session *s)
{
	char filter[65536], list[REVOKED_MAX], who[96];
	struct subscription *sub, *next;
	struct share_member *m, *mnext;
	size_t removed = 0, used = 0;

	for (sub = s->sub.filters.subs; sub != NULL; sub = next) {
		size_t len = subtree_filter(sub->node, filter, sizeof filter);

		next = sub->owner_next;
		if (len == 0 || access_can_subscribe(&b->cfg.access, &s->peer, filter, len))
			continue;
		list_revoked(list, &used, removed++, filter, len);
		subtree_remove(b->subs, sub);
	}
	/* A shared subscription is allowed by its filter. */
	for (m = s->sub.shares; m != NULL; m = mnext) {
		size_t flen, nlen;
		const char *f = share_member_filter(m, &flen), *name = share_member_name(m, &nlen);

		mnext = m->next;
		if (access_can_subscribe(&b->cfg.access, &s->peer, f, flen))
			continue;
		list_revoked(list, &used, removed++, name, nlen);
		share_leave(b->shares, m);
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
	if (!listenconf_equal(&b->cfg.listeners, &cfg->listeners))
		log_warnx("[listener] sections changed: they take effect when udsbrokerd restarts");
	if (!same_string(b->cfg.retain_file, cfg->retain_file))
		log_warnx("[retain] file changed: it takes effect when udsbrokerd restarts");
	if (!bridgeconf_same(&b->cfg.bridges, &cfg->bridges))
		log_warnx("[bridge] sections changed: they take effect when udsbrokerd restarts");
	/* The bridges run on the sections they started with. */
	bridgeconf_free(&cfg->bridges);
	cfg->bridges = b->cfg.bridges;
	memset(&b->cfg.bridges, 0, sizeof b->cfg.bridges); /* moved to cfg */
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
	listenconf_free(&cfg->listeners);
	cfg->listeners = b->cfg.listeners;
	memset(&b->cfg.listeners, 0, sizeof b->cfg.listeners); /* moved to cfg */
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
	listeners_stop(&b->listeners);
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

	rstreams_free(&b->streams);
	while ((s = TAILQ_FIRST(&b->sessions)) != NULL)
		session_kill(s, NULL);
	while ((s = TAILQ_FIRST(&b->dead)) != NULL) {
		TAILQ_REMOVE(&b->dead, s, entry);
		unlink_session(b, s); /* the index outlives them: subtree_free writes to owners */
		session_free(s);
	}
	listeners_close(&b->listeners);
	if (b->reaper != NULL)
		event_free(b->reaper);
	if (b->deadline != NULL)
		event_free(b->deadline);
	subtree_free(b->subs);
	shares_free(b->shares); /* after the tree: it clears the groups' lists */
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
	if (b->meta_arena != NULL)
		outblock_unref(b->meta_arena);
	outpool_clear(&b->meta_pool);
	connloop_free(&b->loop);
	config_free(&b->cfg);
}
