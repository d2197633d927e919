/*
 * The broker: the protocol's commands (one table, one dispatch), publish
 * fan-out, the clients' lifetimes and the counters.
 *
 * A published message is framed once ("MSG <topic> <payload>\n") and that
 * frame goes to every matching client: copied when short, referenced when
 * long. Each publish has a sequence number; a client remembers the last one
 * it was given, so several matching filters deliver it once.
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

#include "log.h"
#include "proto.h"
#include "subtree.h"
#include "topic.h"

/* On shutdown, clients get this long to take what they are owed. */
#define SHUTDOWN_FLUSH_SEC 2

/* Queues "ERR <code> <text>". */
static void __attribute__((format(printf, 3, 4)))
reply_err(struct client *c, const char *code, const char *fmt, ...)
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
	client_send(c, line, (size_t)n);
}

static void
reply_ok(struct client *c)
{
	client_send(c, "OK\n", 3);
}

/* Fan-out of one message: the frame and its sequence number. */
struct fanout {
	uint64_t seq;
	const char *frame;
	size_t len;
	struct outblock *shared;  /* NULL when the frame is copied */
};

static void
fanout_cb(struct subscription *s, void *arg)
{
	struct fanout *f = arg;
	struct client *c = s->owner;

	if (c->last_msg == f->seq || c->state != CLIENT_ACTIVE)
		return;
	c->last_msg = f->seq;
	client_deliver(c, f->frame, f->len, f->shared);
}

/* Frames a message once and queues it to every matching client. */
static void
publish(struct broker *b, const char *topic, size_t tlen, const char *payload, size_t plen)
{
	struct fanout f = { .seq = ++b->msg_seq, .len = proto_msg_len(tlen, plen) };

	if (f.len < sizeof b->frame) {
		f.frame = b->frame;
	} else {
		/* Ours, until the fan-out is done; then the queues'. */
		if ((f.shared = outblock_new(&b->pool, f.len)) == NULL) {
			log_warnx("out of memory: a %zu-byte message was not published", f.len);
			return;
		}
		f.shared->len = (uint32_t)f.len;
		f.frame = f.shared->data;
	}
	proto_format_msg((char *)f.frame, topic, tlen, payload, plen);
	b->stats.published++;
	subtree_match(b->subs, topic, tlen, fanout_cb, &f);
	if (f.shared != NULL)
		outblock_unref(&b->pool, f.shared);
}

static void
cmd_pub(struct broker *b, struct client *c, const struct proto_request *req)
{
	enum topic_error err;

	if (req->topic_len == 0) {
		reply_err(c, PROTO_ERR_BAD_TOPIC, "PUB needs a topic");
		return;
	}
	if ((err = topic_check(req->topic, req->topic_len, b->cfg.max_topic)) != TOPIC_OK) {
		reply_err(c, PROTO_ERR_BAD_TOPIC, "topic %s", topic_strerror(err));
		return;
	}
	if (topic_is_reserved(req->topic, req->topic_len)) {
		reply_err(c, PROTO_ERR_FORBIDDEN, "topics starting with $ are the broker's");
		return;
	}
	if (!access_can_publish(&b->cfg.access, &c->peer, req->topic, req->topic_len)) {
		reply_err(c, PROTO_ERR_FORBIDDEN, "not allowed to publish to this topic");
		return;
	}
	publish(b, req->topic, req->topic_len, req->payload, req->payload_len);
}

/* Checks the filter of SUB/UNSUB; answers ERR and returns false if bad. */
static bool
check_filter(struct broker *b, struct client *c, const struct proto_request *req)
{
	enum topic_error err;

	if (req->arg_len == 0) {
		reply_err(c, PROTO_ERR_BAD_FILTER, "%s needs a filter", proto_cmd_name(req->cmd));
		return false;
	}
	err = topic_check_filter(req->arg, req->arg_len, b->cfg.max_topic);
	if (err != TOPIC_OK) {
		reply_err(c, PROTO_ERR_BAD_FILTER, "filter %s", topic_strerror(err));
		return false;
	}
	return true;
}

/* Index in c->subs of its subscription to the filter at node n, or -1. */
static int
find_sub(const struct client *c, const struct subnode *n)
{
	if (n == NULL)
		return -1;
	for (unsigned i = 0; i < c->nsubs; i++)
		if (c->subs[i]->node == n)
			return (int)i;
	return -1;
}

static void
cmd_sub(struct broker *b, struct client *c, const struct proto_request *req)
{
	struct subscription *s;

	if (!check_filter(b, c, req))
		return;
	if (!access_can_subscribe(&b->cfg.access, &c->peer, req->arg, req->arg_len)) {
		reply_err(c, PROTO_ERR_FORBIDDEN, "not allowed to subscribe to this filter");
		return;
	}
	if (find_sub(c, subtree_find(b->subs, req->arg, req->arg_len)) >= 0) {
		reply_ok(c); /* idempotent */
		return;
	}
	if (c->nsubs >= b->cfg.max_subscriptions) {
		reply_err(c, PROTO_ERR_TOO_MANY_SUBS, "at most %u subscriptions per client",
		          b->cfg.max_subscriptions);
		return;
	}
	if (c->nsubs == c->subs_cap) {
		unsigned cap = c->subs_cap ? c->subs_cap * 2 : 2;
		struct subscription **subs = realloc(c->subs, cap * sizeof *subs);

		if (subs == NULL)
			goto oom;
		c->subs = subs;
		c->subs_cap = cap;
	}
	if ((s = subtree_add(b->subs, req->arg, req->arg_len, c)) == NULL)
		goto oom;
	c->subs[c->nsubs++] = s;
	reply_ok(c);
	return;
oom:
	reply_err(c, PROTO_ERR_SERVER_BUSY, "out of memory");
}

static void
cmd_unsub(struct broker *b, struct client *c, const struct proto_request *req)
{
	int i;

	if (!check_filter(b, c, req))
		return;
	i = find_sub(c, subtree_find(b->subs, req->arg, req->arg_len));
	if (i >= 0) {
		subtree_remove(b->subs, c->subs[i]);
		c->subs[i] = c->subs[--c->nsubs];
	}
	reply_ok(c);
}

static void
cmd_ping(struct broker *b, struct client *c, const struct proto_request *req)
{
	if (req->arg_len == 0) {
		client_send(c, "PONG\n", 5);
		return;
	}
	client_send(c, "PONG ", 5);
	client_send(c, req->arg, req->arg_len);
	client_send(c, "\n", 1);
}

/* Seconds since the broker started. */
static unsigned long long
uptime(const struct broker *b)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (unsigned long long)(now.tv_sec - b->started.tv_sec);
}

static void
cmd_stats(struct broker *b, struct client *c, const struct proto_request *req)
{
	const struct broker_stats *s = &b->stats;
	char line[512];
	int n;

	n = snprintf(line, sizeof line,
	             "STATS clients=%u subscriptions=%zu published=%llu delivered=%llu "
	             "dropped=%llu bytes_in=%llu bytes_out=%llu uptime=%llu "
	             "connections=%llu refused=%llu\n",
	             b->nclients, subtree_count(b->subs), (unsigned long long)s->published,
	             (unsigned long long)s->delivered, (unsigned long long)s->dropped,
	             (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
	             uptime(b), (unsigned long long)s->connections,
	             (unsigned long long)s->refused);
	client_send(c, line, (size_t)n);
}

static void
cmd_quit(struct broker *b, struct client *c, const struct proto_request *req)
{
	client_close_after_flush(c);
}

typedef void command_fn(struct broker *b, struct client *c, const struct proto_request *req);

/* The commands, by proto_cmd. */
static command_fn *const commands[] = {
	[PROTO_PUB] = cmd_pub,
	[PROTO_SUB] = cmd_sub,
	[PROTO_UNSUB] = cmd_unsub,
	[PROTO_PING] = cmd_ping,
	[PROTO_STATS] = cmd_stats,
	[PROTO_QUIT] = cmd_quit,
};

void
broker_command(struct broker *b, struct client *c, const char *line, size_t len)
{
	struct proto_request req;
	char word[64];

	proto_parse_request(line, len, &req);
	if (req.cmd == PROTO_EMPTY)
		return;
	if (req.cmd == PROTO_UNKNOWN) {
		reply_err(c, PROTO_ERR_UNKNOWN_COMMAND, "unknown command \"%s\"",
		          log_escape(word, sizeof word, req.word, req.word_len));
		return;
	}
	commands[req.cmd](b, c, &req);
}

void
broker_line_too_long(struct broker *b, struct client *c)
{
	reply_err(c, PROTO_ERR_LINE_TOO_LONG, "line longer than %zu bytes", b->cfg.max_line);
}

/* Tells a new connection it is not admitted, and closes it. */
static void
refuse(struct broker *b, int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof line, "ERR %s %s\n", PROTO_ERR_SERVER_BUSY, why);

	/* Best effort: the socket is new, its buffer empty. */
	if (send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("refusing a client: %s", strerror(errno));
	close(fd);
	b->stats.refused++;
	log_debug("refused a client: %s", why);
}

/* Number of live clients of uid. */
static unsigned
clients_of(const struct broker *b, uid_t uid)
{
	const struct client *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &b->clients, entry)
		n += c->peer.uid == uid;
	return n;
}

/* A connection arrived: admit it, or tell it the broker is full. */
static void
accept_cb(int fd, void *arg)
{
	struct broker *b = arg;
	struct peer peer;
	struct client *c;

	if (b->shutting_down) {
		close(fd);
		return;
	}
	if (b->nclients >= b->cfg.max_clients) {
		refuse(b, fd, "too many clients");
		return;
	}
	if (peer_from_socket(&peer, fd) < 0) {
		log_warn("cannot read the credentials of a new client");
		close(fd);
		return;
	}
	if (b->cfg.max_clients_per_uid > 0 &&
	    clients_of(b, peer.uid) >= b->cfg.max_clients_per_uid) {
		peer_free(&peer);
		refuse(b, fd, "too many clients for this user");
		return;
	}
	if ((c = client_new(b, fd, ++b->next_id, &peer)) == NULL) {
		log_warnx("out of memory: a client was refused");
		return;
	}
	TAILQ_INSERT_TAIL(&b->clients, c, entry);
	b->nclients++;
	b->stats.connections++;
	log_debug("client %llu: connected: pid %ld, uid %lu, gid %lu", (unsigned long long)c->id,
	          (long)c->peer.pid, (unsigned long)c->peer.uid, (unsigned long)c->peer.gid);
}

/* Frees the dead clients, outside the callbacks that killed them. */
static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct client *c;

	while ((c = TAILQ_FIRST(&b->dead)) != NULL) {
		TAILQ_REMOVE(&b->dead, c, entry);
		client_free(c);
		listener_fd_freed(&b->listener);
	}
	if (b->shutting_down && b->nclients == 0)
		event_base_loopexit(b->base, NULL);
}

void
broker_schedule_flush(struct broker *b, struct client *c)
{
	TAILQ_INSERT_TAIL(&b->flushq, c, flush_entry);
	event_active(b->flusher, 0, 0);
}

/* Runs after the reads of a loop pass: every client that got output is
 * written once, so a burst of messages costs one write per subscriber. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct client *c;

	while ((c = TAILQ_FIRST(&b->flushq)) != NULL) {
		TAILQ_REMOVE(&b->flushq, c, flush_entry);
		c->flush_queued = false;
		client_flush(c);
	}
}

void
broker_client_gone(struct broker *b, struct client *c)
{
	if (c->flush_queued) {
		TAILQ_REMOVE(&b->flushq, c, flush_entry);
		c->flush_queued = false;
	}
	TAILQ_REMOVE(&b->clients, c, entry);
	b->nclients--;
	TAILQ_INSERT_TAIL(&b->dead, c, entry);
	event_active(b->reaper, 0, 0);
}

int
broker_init(struct broker *b, struct event_base *base, struct config *cfg, const char *path,
            char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	b->base = base;
	b->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg); /* consumed */
	TAILQ_INIT(&b->clients);
	TAILQ_INIT(&b->dead);
	TAILQ_INIT(&b->flushq);
	clock_gettime(CLOCK_MONOTONIC, &b->started);
	b->subs = subtree_new();
	b->reaper = event_new(base, -1, 0, reap_cb, b);
	b->flusher = event_new(base, -1, 0, flush_cb, b);
	if (b->subs == NULL || b->reaper == NULL || b->flusher == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return listener_open(&b->listener, base, path, b->cfg.socket_mode, b->cfg.socket_group,
	                     accept_cb, b, err, errlen);
}

/* Compares two optional strings. */
static bool
same_string(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* Removes the subscriptions of c that the access rules no longer allow. */
static void
recheck_subscriptions(struct broker *b, struct client *c)
{
	char filter[65536];

	for (unsigned i = 0; i < c->nsubs;) {
		size_t len = subtree_filter(c->subs[i]->node, filter, sizeof filter);

		if (len == 0 || access_can_subscribe(&b->cfg.access, &c->peer, filter, len)) {
			i++;
			continue;
		}
		log_info("client %llu: subscription %.*s removed: no longer allowed",
		         (unsigned long long)c->id, (int)len, filter);
		subtree_remove(b->subs, c->subs[i]);
		c->subs[i] = c->subs[--c->nsubs];
	}
}

void
broker_reload(struct broker *b, struct config *cfg)
{
	struct client *c, *next;

	if (!same_string(b->cfg.socket, cfg->socket) || b->cfg.socket_mode != cfg->socket_mode ||
	    !same_string(b->cfg.socket_group, cfg->socket_group))
		log_warnx("socket settings changed: they take effect when udsbrokerd restarts");
	/* Keep the socket settings in force, so the next reload compares
	 * against what is really in use. */
	free(cfg->socket);
	free(cfg->socket_group);
	cfg->socket = b->cfg.socket;
	cfg->socket_group = b->cfg.socket_group;
	cfg->socket_mode = b->cfg.socket_mode;
	b->cfg.socket = b->cfg.socket_group = NULL; /* moved to cfg */
	config_free(&b->cfg);
	b->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg); /* consumed */
	for (c = TAILQ_FIRST(&b->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		recheck_subscriptions(b, c);
		/* New limits: queues may now be under their new half mark. */
		client_check_queue(c);
	}
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct client *c;

	if (b->nclients > 0)
		log_warnx("shutdown: %u clients still had data queued; closing them", b->nclients);
	while ((c = TAILQ_FIRST(&b->clients)) != NULL)
		client_kill(c, "shutdown deadline");
	event_base_loopexit(b->base, NULL);
}

void
broker_shutdown(struct broker *b)
{
	struct timeval tv = { SHUTDOWN_FLUSH_SEC, 0 };
	struct client *c, *next;

	if (b->shutting_down)
		return;
	b->shutting_down = true;
	listener_stop(&b->listener);
	for (c = TAILQ_FIRST(&b->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		client_bye(c, PROTO_BYE_SHUTDOWN);
	}
	if (b->nclients == 0) {
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
	struct client *c;

	while ((c = TAILQ_FIRST(&b->clients)) != NULL)
		client_kill(c, NULL);
	while ((c = TAILQ_FIRST(&b->dead)) != NULL) {
		TAILQ_REMOVE(&b->dead, c, entry);
		client_free(c);
	}
	listener_close(&b->listener);
	if (b->reaper != NULL)
		event_free(b->reaper);
	if (b->flusher != NULL)
		event_free(b->flusher);
	if (b->deadline != NULL)
		event_free(b->deadline);
	subtree_free(b->subs);
	outpool_clear(&b->pool);
	config_free(&b->cfg);
}
