/*
 * One connection's socket I/O; see conn.h.
 *
 * Input: the socket is read 64 KiB at a time into an evbuffer and split
 * into lines by the bounded line reader.
 *
 * Output: bytes go into the conn's outq, and the conn is put on the loop's
 * flush list; a deferred event writes every listed conn once, after the
 * pass's reads, so a burst of messages costs one writev() per socket. Only
 * when the socket takes less than that is a write event armed, until it
 * drains.
 */
#include "conn.h"

#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

/* Bytes read from a socket at a time (a 64 KiB libevent chain with its
 * header). */
#define READ_CHUNK (65536 - 128)

/* A finishing conn must make write progress within this many seconds. */
#define FINISH_TIMEOUT_SEC 5

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);
static void flush_cb(evutil_socket_t fd, short what, void *arg);

int
connloop_init(struct connloop *loop, struct event_base *base)
{
	memset(loop, 0, sizeof *loop);
	loop->base = base;
	TAILQ_INIT(&loop->flushq);
	loop->flusher = event_new(base, -1, 0, flush_cb, loop);
	return loop->flusher != NULL ? 0 : -1;
}

void
connloop_free(struct connloop *loop)
{
	if (loop->flusher != NULL)
		event_free(loop->flusher);
	loop->flusher = NULL;
	outpool_clear(&loop->pool);
}

int
conn_init(struct conn *c, struct connloop *loop, int fd, size_t max_line,
          const struct conn_ops *ops, void *arg)
{
	memset(c, 0, sizeof *c);
	c->loop = loop;
	c->fd = fd;
	c->max_line = max_line;
	c->ops = ops;
	c->arg = arg;
	c->out.pool = &loop->pool;
	c->in = evbuffer_new();
	c->rev = event_new(loop->base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->wev = event_new(loop->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	if (c->in != NULL && c->rev != NULL && c->wev != NULL && event_add(c->rev, NULL) == 0)
		return 0;
	c->state = CONN_CLOSED;
	conn_free(c);
	return -1;
}

/* c has new output: have it written at the end of this loop pass. */
static void
want_flush(struct conn *c)
{
	if (c->flush_queued || c->write_blocked)
		return; /* already listed, or the write event owns it */
	c->flush_queued = true;
	TAILQ_INSERT_TAIL(&c->loop->flushq, c, flush_entry);
	event_active(c->loop->flusher, 0, 0);
}

int
conn_send(struct conn *c, const void *data, size_t len)
{
	if (c->state == CONN_CLOSED)
		return -1;
	if (outq_copy(&c->out, data, len) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	want_flush(c);
	return 0;
}

int
conn_send_block(struct conn *c, struct outblock *b)
{
	if (c->state == CONN_CLOSED)
		return -1;
	if (outq_share(&c->out, b) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	want_flush(c);
	return 0;
}

void
conn_set_max_line(struct conn *c, size_t max_line)
{
	c->max_line = max_line;
}

size_t
conn_pending(const struct conn *c)
{
	return c->out.bytes;
}

/* Hands the complete lines buffered to the owner, while it wants them. */
static void
process_input(struct conn *c)
{
	size_t len;

	while (c->state == CONN_OPEN && !c->paused) {
		switch (linereader_next(&c->reader, c->in, c->max_line, &len)) {
		case LINE_NONE:
			return;
		case LINE_TOO_LONG:
			c->ops->on_line_too_long(c->arg);
			break;
		case LINE_READY: {
			const char *line = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)len);

			if (line == NULL) {
				conn_close(c, "out of memory");
				return;
			}
			c->ops->on_line(c->arg, line, len - 1);
			/* The buffer lives until the owner frees c, even if
			 * the line closed it. */
			evbuffer_drain(c->in, len);
			break;
		}
		}
	}
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	ssize_t n;
	int nvec;

	if ((nvec = evbuffer_reserve_space(c->in, READ_CHUNK, vec, 2)) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	for (int i = 0; i < nvec; i++)
		iov[i] = (struct iovec){ vec[i].iov_base, vec[i].iov_len };
	do
		n = readv(fd, iov, nvec);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN)
			conn_close(c, strerror(errno));
		return;
	}
	if (n == 0) {
		event_del(c->rev);
		c->ops->on_eof(c->arg);
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
	c->ops->on_read(c->arg, (size_t)n);
	process_input(c);
}

/* Writes what the socket takes; arms or disarms the write event; tells the
 * owner, or closes a finished conn. */
static void
write_out(struct conn *c)
{
	struct timeval tv = { FINISH_TIMEOUT_SEC, 0 };
	ssize_t n = outq_write(&c->out, c->fd);

	if (n < 0 && errno != EAGAIN) {
		conn_close(c, strerror(errno));
		return;
	}
	if (c->out.bytes == 0) {
		if (c->write_blocked)
			event_del(c->wev);
		c->write_blocked = false;
	} else if (!c->write_blocked || (n > 0 && c->state == CONN_FINISHING)) {
		/* A finishing conn gets FINISH_TIMEOUT_SEC from its last
		 * progress; the others wait as long as they like. */
		c->write_blocked = true;
		event_add(c->wev, c->state == CONN_FINISHING ? &tv : NULL);
	}
	if (c->state == CONN_FINISHING && c->out.bytes == 0)
		conn_close(c, NULL);
	else if (c->state != CONN_CLOSED)
		c->ops->on_drained(c->arg);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if (what & EV_TIMEOUT)
		conn_close(c, "write timed out");
	else
		write_out(c);
}

/* Runs after the reads of a loop pass: every conn that got output is
 * written once. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connloop *loop = arg;
	struct conn *c;

	while ((c = TAILQ_FIRST(&loop->flushq)) != NULL) {
		TAILQ_REMOVE(&loop->flushq, c, flush_entry);
		c->flush_queued = false;
		if (c->state != CONN_CLOSED && !c->write_blocked)
			write_out(c);
	}
}

void
conn_pause(struct conn *c)
{
	if (c->paused || c->state != CONN_OPEN)
		return;
	c->paused = true;
	event_del(c->rev);
}

void
conn_resume(struct conn *c)
{
	if (!c->paused || c->state != CONN_OPEN)
		return;
	c->paused = false;
	event_add(c->rev, NULL);
	process_input(c);
}

void
conn_finish(struct conn *c)
{
	struct timeval tv = { FINISH_TIMEOUT_SEC, 0 };

	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_FINISHING;
	event_del(c->rev);
	if (c->out.bytes == 0) {
		conn_close(c, NULL);
		return;
	}
	/* Write what is owed; from now on a full socket must drain within
	 * the timeout. */
	if (c->write_blocked)
		event_add(c->wev, &tv);
	else
		want_flush(c);
}

void
conn_close(struct conn *c, const char *why)
{
	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	event_del(c->rev);
	event_del(c->wev);
	if (c->flush_queued) {
		TAILQ_REMOVE(&c->loop->flushq, c, flush_entry);
		c->flush_queued = false;
	}
	c->ops->on_closed(c->arg, why);
}

void
conn_free(struct conn *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	outq_clear(&c->out);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1; /* consumed */
}
