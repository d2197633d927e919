/*
 * One client connection; see client.h.
 *
 * Output is bounded two ways. Deliveries over queue_limit follow the
 * slow-consumer policy (dropped and counted, or BYE). Replies to the
 * client's own commands are never dropped; instead, while its output is
 * over queue_limit, the broker stops reading its commands, so a client that
 * sends PINGs without reading the PONGs cannot grow its queue for ever.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "broker.h"
#include "log.h"
#include "subtree.h"

/* A closing client must make write progress within this many seconds. */
#define CLOSE_TIMEOUT_SEC 5

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short events, void *arg);

struct client *
client_new(struct broker *b, int fd, uint64_t id, struct peer *peer)
{
	struct client *c = calloc(1, sizeof *c);

	if (c == NULL || (c->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		peer_free(peer);
		free(c);
		return NULL;
	}
	c->peer = *peer;
	memset(peer, 0, sizeof *peer); /* consumed */
	c->broker = b;
	c->id = id;
	c->state = CLIENT_ACTIVE;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

size_t
client_pending(const struct client *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* The write callback fires once the output is at or below the low
 * watermark: half of queue_limit while a DROPPED notice or a pause waits
 * for the queue to drain, else empty. */
static void
update_watermark(struct client *c)
{
	size_t low = 0;

	if (c->state == CLIENT_ACTIVE && (c->paused || c->dropped > 0))
		low = c->broker->cfg.queue_limit / 2;
	bufferevent_setwatermark(c->bev, EV_WRITE, low, 0);
}

void
client_send(struct client *c, const void *data, size_t len)
{
	if (c->state == CLIENT_DEAD)
		return;
	if (evbuffer_add(bufferevent_get_output(c->bev), data, len) < 0) {
		client_kill(c, "out of memory");
		return;
	}
	c->broker->stats.bytes_out += len;
}

bool
client_deliver(struct client *c, const char *frame, size_t len, struct message *shared)
{
	struct broker *b = c->broker;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;

	if (evbuffer_get_length(out) + len > b->cfg.queue_limit) {
		b->stats.dropped++;
		if (b->cfg.slow_consumer == SLOW_CONSUMER_DISCONNECT) {
			log_info("client %llu: slow consumer, disconnecting",
			         (unsigned long long)c->id);
			client_bye(c, "slow-consumer");
		} else if (c->dropped++ == 0) {
			log_debug("client %llu: slow consumer, dropping messages",
			          (unsigned long long)c->id);
			update_watermark(c);
		}
		return false;
	}
	if (shared != NULL) {
		rc = evbuffer_add_reference(out, shared->frame, len,
		                            message_release, shared);
		if (rc == 0)
			shared->refs++;
	} else {
		rc = evbuffer_add(out, frame, len);
	}
	if (rc < 0) {
		client_kill(c, "out of memory");
		return false;
	}
	b->stats.delivered++;
	b->stats.bytes_out += len;
	return true;
}

/* Stops reading c's commands until its output drains. */
static void
pause_reading(struct client *c)
{
	c->paused = true;
	bufferevent_disable(c->bev, EV_READ);
	update_watermark(c);
}

void
client_process_input(struct client *c)
{
	struct broker *b = c->broker;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len;

	b->stats.bytes_in += evbuffer_get_length(in) - c->in_seen;
	while (c->state == CLIENT_ACTIVE && !c->paused) {
		if (client_pending(c) >= b->cfg.queue_limit) {
			pause_reading(c);
			break;
		}
		switch (linereader_next(&c->reader, in, b->cfg.max_line, &len)) {
		case LINE_NONE:
			goto out;
		case LINE_TOO_LONG:
			broker_line_too_long(b, c);
			break;
		case LINE_READY: {
			const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);

			if (line == NULL) {
				client_kill(c, "out of memory");
				return;
			}
			broker_command(b, c, line, len - 1);
			/* The buffer lives until the reaper frees c, even if the
			 * command closed it. */
			evbuffer_drain(in, len);
			break;
		}
		}
	}
out:
	c->in_seen = evbuffer_get_length(in);
}

void
client_check_queue(struct client *c)
{
	size_t pending = client_pending(c);

	if (c->state == CLIENT_CLOSING && pending == 0) {
		client_kill(c, NULL);
		return;
	}
	if (c->state != CLIENT_ACTIVE || pending > c->broker->cfg.queue_limit / 2)
		return;
	if (c->dropped > 0) {
		char line[32];
		int n = snprintf(line, sizeof line, "DROPPED %llu\n", (unsigned long long)c->dropped);

		c->dropped = 0;
		client_send(c, line, (size_t)n);
	}
	if (c->paused) {
		c->paused = false;
		bufferevent_enable(c->bev, EV_READ);
		client_process_input(c);
	}
	if (c->state == CLIENT_ACTIVE)
		update_watermark(c);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	client_process_input(arg);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	client_check_queue(arg);
}

static void
event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct client *c = arg;

	if (events & BEV_EVENT_EOF) {
		/* End of input acts like QUIT: what it sent was handled in
		 * read_cb, a partial last line is dropped, its replies flushed. */
		log_debug("client %llu: end of input", (unsigned long long)c->id);
		client_close_after_flush(c);
	} else if (events & BEV_EVENT_TIMEOUT) {
		client_kill(c, "write timed out");
	} else if (events & BEV_EVENT_ERROR) {
		client_kill(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
}

/* Removes every subscription of c from the tree. */
static void
drop_subscriptions(struct client *c)
{
	for (unsigned i = 0; i < c->nsubs; i++)
		subtree_remove(c->broker->subs, c->subs[i]);
	c->nsubs = 0;
}

void
client_bye(struct client *c, const char *reason)
{
	char line[64];
	int n;

	if (c->state != CLIENT_ACTIVE)
		return;
	n = snprintf(line, sizeof line, "BYE %s\n", reason);
	client_send(c, line, (size_t)n);
	client_close_after_flush(c);
}

void
client_close_after_flush(struct client *c)
{
	struct timeval tv = { CLOSE_TIMEOUT_SEC, 0 };

	if (c->state != CLIENT_ACTIVE)
		return;
	c->state = CLIENT_CLOSING;
	drop_subscriptions(c);
	bufferevent_disable(c->bev, EV_READ);
	if (client_pending(c) == 0) {
		client_kill(c, NULL);
		return;
	}
	update_watermark(c);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
}

void
client_kill(struct client *c, const char *why)
{
	if (c->state == CLIENT_DEAD)
		return;
	if (why != NULL)
		log_debug("client %llu: closed: %s", (unsigned long long)c->id, why);
	drop_subscriptions(c);
	c->state = CLIENT_DEAD;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	broker_client_gone(c->broker, c);
}

void
client_free(struct client *c)
{
	bufferevent_free(c->bev);
	peer_free(&c->peer);
	free(c->subs);
	free(c);
}
