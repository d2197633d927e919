/*
 * One client connection; see client.h.
 *
 * Input: the socket is read 64 KiB at a time into an evbuffer and split
 * into lines by the bounded line reader.
 *
 * Output: frames and replies go into the client's outq; the client is put
 * on the broker's flush list, and the broker writes every listed client
 * once at the end of the loop pass, so a burst of messages costs one
 * writev() per subscriber. Only when the socket takes less than that is a
 * write event armed, until it drains.
 *
 * Output is bounded two ways. Deliveries over queue_limit follow the
 * slow-consumer policy (dropped and counted, or BYE). Replies to the
 * client's own commands are never dropped; instead, while its output is
 * over queue_limit, the broker stops reading its commands, so a client that
 * sends PINGs without reading the PONGs cannot grow its queue for ever.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "broker.h"
#include "log.h"
#include "subtree.h"

/* Bytes read from a socket at a time (a 64 KiB libevent chain with its
 * header). */
#define READ_CHUNK (65536 - 128)

/* A closing client must make write progress within this many seconds. */
#define CLOSE_TIMEOUT_SEC 5

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);

struct client *
client_new(struct broker *b, int fd, uint64_t id, struct peer *peer)
{
	struct client *c = calloc(1, sizeof *c);

	if (c == NULL)
		goto fail;
	c->in = evbuffer_new();
	c->rev = event_new(b->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->wev = event_new(b->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	if (c->in == NULL || c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) < 0)
		goto fail;
	c->broker = b;
	c->out.pool = &b->pool;
	c->fd = fd;
	c->id = id;
	c->state = CLIENT_ACTIVE;
	c->peer = *peer;
	memset(peer, 0, sizeof *peer); /* consumed */
	return c;
fail:
	if (c != NULL) {
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->wev != NULL)
			event_free(c->wev);
		free(c);
	}
	close(fd);
	peer_free(peer);
	return NULL;
}

/* c has new output: have it written at the end of this loop pass. */
static void
want_flush(struct client *c)
{
	if (c->flush_queued || c->write_blocked)
		return; /* already listed, or the write event owns it */
	c->flush_queued = true;
	broker_schedule_flush(c->broker, c);
}

void
client_send(struct client *c, const void *data, size_t len)
{
	if (c->state == CLIENT_DEAD)
		return;
	if (outq_copy(&c->out, data, len) < 0) {
		client_kill(c, "out of memory");
		return;
	}
	c->broker->stats.bytes_out += len;
	want_flush(c);
}

bool
client_deliver(struct client *c, const char *frame, size_t len, struct outblock *shared)
{
	struct broker *b = c->broker;
	int rc;

	if (c->out.bytes + len > b->cfg.queue_limit) {
		b->stats.dropped++;
		if (b->cfg.slow_consumer == SLOW_CONSUMER_DISCONNECT) {
			log_info("client %llu: slow consumer, disconnecting",
			         (unsigned long long)c->id);
			client_bye(c, "slow-consumer");
		} else if (c->dropped++ == 0) {
			log_debug("client %llu: slow consumer, dropping messages",
			          (unsigned long long)c->id);
		}
		return false;
	}
	rc = shared != NULL ? outq_share(&c->out, shared) : outq_copy(&c->out, frame, len);
	if (rc < 0) {
		client_kill(c, "out of memory");
		return false;
	}
	b->stats.delivered++;
	b->stats.bytes_out += len;
	want_flush(c);
	return true;
}

/* Handles the complete lines buffered from c. */
static void
process_input(struct client *c)
{
	struct broker *b = c->broker;
	size_t len;

	while (c->state == CLIENT_ACTIVE) {
		if (c->out.bytes >= b->cfg.queue_limit) {
			/* Not reading its replies: stop reading its commands. */
			c->paused = true;
			event_del(c->rev);
			return;
		}
		switch (linereader_next(&c->reader, c->in, b->cfg.max_line, &len)) {
		case LINE_NONE:
			return;
		case LINE_TOO_LONG:
			broker_line_too_long(b, c);
			break;
		case LINE_READY: {
			const char *line = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)len);

			if (line == NULL) {
				client_kill(c, "out of memory");
				return;
			}
			broker_command(b, c, line, len - 1);
			/* The buffer lives until the reaper frees c, even if
			 * the command closed it. */
			evbuffer_drain(c->in, len);
			break;
		}
		}
	}
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	ssize_t n;
	int nvec;

	if ((nvec = evbuffer_reserve_space(c->in, READ_CHUNK, vec, 2)) < 0) {
		client_kill(c, "out of memory");
		return;
	}
	for (int i = 0; i < nvec; i++)
		iov[i] = (struct iovec){ vec[i].iov_base, vec[i].iov_len };
	do
		n = readv(fd, iov, nvec);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN)
			client_kill(c, strerror(errno));
		return;
	}
	if (n == 0) {
		/* End of input acts like QUIT: what it sent was handled, a
		 * partial last line is dropped, its replies are flushed. */
		log_debug("client %llu: end of input", (unsigned long long)c->id);
		client_close_after_flush(c);
		return;
	}
	/* Commit what readv filled: all of the first vector, then the rest. */
	if ((size_t)n <= vec[0].iov_len) {
		vec[0].iov_len = (size_t)n;
		nvec = 1;
	} else {
		vec[1].iov_len = (size_t)n - vec[0].iov_len;
	}
	evbuffer_commit_space(c->in, vec, nvec);
	c->broker->stats.bytes_in += (uint64_t)n;
	process_input(c);
}

/* Writes what the socket takes; arms or disarms the write event. Returns
 * false if c was killed. */
static bool
write_out(struct client *c)
{
	struct timeval tv = { CLOSE_TIMEOUT_SEC, 0 };
	ssize_t n = outq_write(&c->out, c->fd);

	if (n < 0 && errno != EAGAIN) {
		client_kill(c, strerror(errno));
		return false;
	}
	if (c->out.bytes == 0) {
		if (c->write_blocked)
			event_del(c->wev);
		c->write_blocked = false;
	} else if (!c->write_blocked || (n > 0 && c->state == CLIENT_CLOSING)) {
		/* A closing client gets CLOSE_TIMEOUT_SEC from its last
		 * progress; the others wait as long as they like. */
		c->write_blocked = true;
		event_add(c->wev, c->state == CLIENT_CLOSING ? &tv : NULL);
	}
	return true;
}

void
client_flush(struct client *c)
{
	if (c->state == CLIENT_DEAD || c->write_blocked)
		return;
	if (write_out(c))
		client_check_queue(c);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (what & EV_TIMEOUT) {
		client_kill(c, "write timed out");
		return;
	}
	if (write_out(c))
		client_check_queue(c);
}

/* Queues "DROPPED <n>" for the messages dropped since the last one. */
static void
announce_drops(struct client *c)
{
	char line[32];
	int n;

	if (c->dropped == 0)
		return;
	n = snprintf(line, sizeof line, "DROPPED %llu\n", (unsigned long long)c->dropped);
	c->dropped = 0;
	client_send(c, line, (size_t)n);
}

void
client_check_queue(struct client *c)
{
	size_t pending = c->out.bytes;

	if (c->state == CLIENT_CLOSING && pending == 0) {
		client_kill(c, NULL);
		return;
	}
	if (c->state != CLIENT_ACTIVE || pending > c->broker->cfg.queue_limit / 2)
		return;
	announce_drops(c);
	if (c->paused) {
		c->paused = false;
		event_add(c->rev, NULL);
		process_input(c);
	}
}

void
client_bye(struct client *c, const char *reason)
{
	char line[64];
	int n;

	if (c->state != CLIENT_ACTIVE)
		return;
	announce_drops(c); /* BYE is the last line */
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
	/* Nothing more will be queued to it: loss is never silent, so the
	 * count goes out now rather than once the queue drained. */
	announce_drops(c);
	c->state = CLIENT_CLOSING; /* the fan-out skips it from now on */
	event_del(c->rev);
	if (c->out.bytes == 0) {
		client_kill(c, NULL);
		return;
	}
	/* Write what is owed; from now on a full socket must drain within
	 * the close timeout. */
	if (c->write_blocked)
		event_add(c->wev, &tv);
	else
		want_flush(c);
}

void
client_kill(struct client *c, const char *why)
{
	if (c->state == CLIENT_DEAD)
		return;
	if (why != NULL)
		log_debug("client %llu: closed: %s", (unsigned long long)c->id, why);
	c->state = CLIENT_DEAD;
	event_del(c->rev);
	event_del(c->wev);
	broker_client_gone(c->broker, c);
}

void
client_free(struct client *c)
{
	/* Only here, from the reaper: a client may be closed in the middle of
	 * a fan-out, which must not see the tree change under it. */
	for (unsigned i = 0; i < c->nsubs; i++)
		subtree_remove(c->broker->subs, c->subs[i]);
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->in);
	outq_clear(&c->out);
	close(c->fd);
	peer_free(&c->peer);
	free(c->subs);
	free(c);
}
