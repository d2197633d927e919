/*
 * One connection's socket I/O; see conn.h.
 *
 * Input: the socket is read into the free end of a refcounted input block
 * and split into lines in place. A line is handed up where it lies; the
 * owner may turn it into a frame that queues share by reference, so the
 * bytes of a block are never moved while a queue may refer to them: a
 * block with a partial line at its end is compacted only when nobody else
 * holds it, else the partial line moves to a fresh block. A block whose
 * lines are all handled is let go at once (an idle conn holds none).
 *
 * Output: bytes go into the conn's outq, and the conn is put on the loop's
 * flush list; a deferred event writes every listed conn once, after the
 * pass's reads, so a burst of messages costs one writev() per socket. Only
 * when the socket takes less than that is a write event armed, until it
 * drains.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

/* Input blocks, and the least a read is offered. */
#define IN_BLOCK_SIZE (128 * 1024)
#define IN_READ_MIN   (16 * 1024)

/* Free blocks kept: 4 MiB of output blocks, 8 MiB of input blocks. */
#define POOL_MAX   1024
#define INPOOL_MAX 64

/* A finishing conn must make write progress within this many seconds. */
#define FINISH_TIMEOUT_SEC 5

/* Readable conns handled per wake-up of the loop's epoll set; the others
 * stay ready (level-triggered) for the next pass. */
#define READY_MAX 256

static void ready_cb(evutil_socket_t fd, short what, void *arg);
static void read_conn(struct conn *c);
static void write_cb(evutil_socket_t fd, short what, void *arg);
static void flush_cb(evutil_socket_t fd, short what, void *arg);

int
connloop_init(struct connloop *loop, struct event_base *base)
{
	memset(loop, 0, sizeof *loop);
	loop->base = base;
	loop->epfd = -1;
	outpool_init(&loop->pool, OUTQ_BLOCK_SIZE, POOL_MAX);
	outpool_init(&loop->inpool, IN_BLOCK_SIZE, INPOOL_MAX);
	TAILQ_INIT(&loop->flushq);
	loop->flusher = event_new(base, -1, 0, flush_cb, loop);
	if ((loop->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	loop->reader = event_new(base, loop->epfd, EV_READ | EV_PERSIST, ready_cb, loop);
	if (loop->flusher == NULL || loop->reader == NULL || event_add(loop->reader, NULL) < 0)
		return -1;
	return 0;
}

void
connloop_free(struct connloop *loop)
{
	if (loop->flusher != NULL)
		event_free(loop->flusher);
	loop->flusher = NULL;
	if (loop->reader != NULL)
		event_free(loop->reader);
	loop->reader = NULL;
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	while (loop->nspare > 0) {
		struct outq *q = loop->spare[--loop->nspare];

		outq_clear(q);
		free(q);
	}
	outpool_clear(&loop->pool);
	outpool_clear(&loop->inpool);
}

/* Starts or stops reading c: in the loop's epoll set or not. (Not merely
 * without EPOLLIN: a hung-up socket would still be reported, level-
 * triggered, on every pass.) Returns 0, or -1 if it cannot be added. */
static int
watch(struct conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (on == c->watched)
		return 0;
	if (epoll_ctl(c->loop->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, c->fd, &ev) < 0 && on)
		return -1;
	c->watched = on;
	return 0;
}

int
conn_init(struct conn *c, struct connloop *loop, int fd, const struct conn_ops *ops, void *arg)
{
	memset(c, 0, sizeof *c);
	c->loop = loop;
	c->fd = fd;
	c->ops = ops;
	c->arg = arg;
	if (watch(c, true) == 0)
		return 0;
	c->state = CONN_CLOSED;
	conn_free(c);
	return -1;
}

/* c's output queue, taken from the loop's spares or made on first use;
 * NULL if out of memory. */
static struct outq *
out_of(struct conn *c)
{
	struct connloop *loop = c->loop;

	if (c->out != NULL)
		return c->out;
	if (loop->nspare > 0)
		c->out = loop->spare[--loop->nspare];
	else if ((c->out = calloc(1, sizeof *c->out)) == NULL)
		return NULL;
	c->out->pool = &loop->pool;
	return c->out;
}

/* Drops what c still owes and gives its queue back to the loop. */
static void
out_release(struct conn *c)
{
	struct connloop *loop = c->loop;
	struct outq *q = c->out;

	if (q == NULL)
		return;
	c->out = NULL;
	if (loop->nspare < CONN_SPARE_QUEUES) {
		outq_reset(q); /* its ring kept for the next conn */
		loop->spare[loop->nspare++] = q;
	} else {
		outq_clear(q);
		free(q);
	}
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
	struct outq *q;

	if (c->state == CONN_CLOSED)
		return -1;
	if ((q = out_of(c)) == NULL || outq_copy(q, data, len) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	want_flush(c);
	return 0;
}

int
conn_send_frame(struct conn *c, const struct frame *f)
{
	struct outq *q;

	if (c->state == CONN_CLOSED)
		return -1;
	if (c->flush_queued && c->out != NULL && outq_extend(c->out, f))
		return 0; /* already listed for this pass's write */
	if ((q = out_of(c)) == NULL || outq_frame(q, f) < 0) {
		conn_close(c, "out of memory");
		return -1;
	}
	want_flush(c);
	return 0;
}

/* Lets go of the input block once every byte of it is handled. */
static void
release_input(struct conn *c)
{
	if (c->in != NULL && c->rpos == c->in->len) {
		outblock_unref(c->in);
		c->in = NULL;
		c->rpos = 0;
	}
}

/* Hands the complete lines buffered to the owner, while it wants them;
 * discards over-long lines as they stream in. */
static void
process_input(struct conn *c)
{
	while (c->state == CONN_OPEN && !c->paused && c->in != NULL && c->rpos < c->in->len) {
		struct outblock *b = c->in;
		char *start = b->data + c->rpos;
		size_t n;
		enum linescan_result r =
		    linescan_next(&c->scan, start, b->len - c->rpos, c->loop->max_line, &n);

		if (r == LINESCAN_NONE)
			break;
		c->rpos += (uint32_t)n; /* handled from here on, whatever happens */
		if (r == LINESCAN_READY)
			c->ops->on_line(c->arg, start, n - 1, b);
		else if (r == LINESCAN_TOO_LONG)
			c->ops->on_line_too_long(c->arg);
	}
	release_input(c);
}

/* Makes room to read at least IN_READ_MIN bytes into c->in. Returns 0, or
 * -1 if out of memory. */
static int
make_room(struct conn *c)
{
	struct outblock *b = c->in, *fresh;
	size_t keep, cap;

	if (b != NULL && b->cap - b->len >= IN_READ_MIN)
		return 0;
	keep = b != NULL ? b->len - c->rpos : 0; /* a partial line, < max_line */
	if (b != NULL && b->refs == 1 && keep + IN_READ_MIN <= b->cap) {
		memmove(b->data, b->data + c->rpos, keep);
		b->len = (uint32_t)keep;
		c->rpos = 0;
		return 0;
	}
	cap = keep + IN_READ_MIN <= IN_BLOCK_SIZE ? IN_BLOCK_SIZE : keep + IN_READ_MIN;
	if ((fresh = outblock_new(&c->loop->inpool, cap)) == NULL)
		return -1;
	fresh->foreign = true;
	if (b != NULL) {
		memcpy(fresh->data, b->data + c->rpos, keep);
		outblock_unref(b);
	}
	fresh->len = (uint32_t)keep;
	c->in = fresh;
	c->rpos = 0;
	return 0;
}

/* Some conns are readable: read each once. None is freed meanwhile (that
 * is the reaper's, outside I/O callbacks), but one may have closed or
 * paused since epoll_wait said it was ready. */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct connloop *loop = arg;
	struct epoll_event ready[READY_MAX];
	int n;

	do
		n = epoll_wait(loop->epfd, ready, READY_MAX, 0);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < n; i++) {
		struct conn *c = ready[i].data.ptr;

		if (c->state == CONN_OPEN && !c->paused)
			read_conn(c);
	}
}

static void
read_conn(struct conn *c)
{
	int fd = c->fd;
	ssize_t n;

	if (make_room(c) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	do
		n = read(fd, c->in->data + c->in->len, c->in->cap - c->in->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		release_input(c);
		if (n == 0) {
			watch(c, false);
			c->ops->on_eof(c->arg);
		} else if (errno != EAGAIN) {
			conn_close(c, strerror(errno));
		}
		return;
	}
	c->in->len += (uint32_t)n;
	c->ops->on_read(c->arg, (size_t)n);
	process_input(c);
}

/* Writes what the socket takes; arms or disarms the write event; tells the
 * owner, or closes a finished conn. */
static void
write_out(struct conn *c)
{
	struct timeval tv = { FINISH_TIMEOUT_SEC, 0 };
	ssize_t n = c->out != NULL ? outq_write(c->out, c->fd) : 0;

	if (n < 0 && errno != EAGAIN) {
		conn_close(c, strerror(errno));
		return;
	}
	if (conn_pending(c) == 0) {
		out_release(c);
		if (c->write_blocked)
			event_del(c->wev);
		c->write_blocked = false;
	} else if (!c->write_blocked || (n > 0 && c->state == CONN_FINISHING)) {
		/* A finishing conn gets FINISH_TIMEOUT_SEC from its last
		 * progress; the others wait as long as they like. The event
		 * is made the first time it is needed: most never fill up. */
		if (c->wev == NULL &&
		    (c->wev = event_new(c->loop->base, c->fd, EV_WRITE | EV_PERSIST, write_cb,
		                        c)) == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		c->write_blocked = true;
		event_add(c->wev, c->state == CONN_FINISHING ? &tv : NULL);
	}
	if (c->state == CONN_FINISHING && conn_pending(c) == 0)
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
	watch(c, false);
}

void
conn_resume(struct conn *c)
{
	if (!c->paused || c->state != CONN_OPEN)
		return;
	c->paused = false;
	if (watch(c, true) < 0) {
		conn_close(c, "out of memory");
		return;
	}
	process_input(c);
}

void
conn_finish(struct conn *c)
{
	struct timeval tv = { FINISH_TIMEOUT_SEC, 0 };

	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_FINISHING;
	watch(c, false);
	if (conn_pending(c) == 0) {
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
	watch(c, false);
	if (c->wev != NULL)
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
	watch(c, false);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->in != NULL)
		outblock_unref(c->in);
	c->in = NULL;
	out_release(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1; /* consumed */
}
