/*
 * One connection's socket I/O, and nothing else: reading in large chunks
 * into a refcounted input block, splitting lines in place (bounded by
 * max_line), queueing output (outq) and writing it once per loop pass.
 * A line handed up lies in the input block, so the owner may rewrite it in
 * place and queue it to others by reference. What happens on the socket is reported up
 * through a small ops table; a conn knows no topic, limit or counter.
 */
#ifndef UDSB_CONN_H
#define UDSB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include "linescan.h"
#include "outq.h"

struct event;
struct event_base;

/* What a conn tells its owner. Each is called from the conn's own events;
 * the owner may close the conn inside any of them. */
struct conn_ops {
	void (*on_read)(void *arg, size_t n); /* n bytes arrived */
	/* One line, without its '\n', at line in block; the owner may
	 * rewrite it in place and share it (it is not read again). */
	void (*on_line)(void *arg, char *line, size_t len, struct outblock *block);
	void (*on_line_too_long)(void *arg);           /* one was discarded */
	void (*on_eof)(void *arg);                     /* the peer sends no more */
	void (*on_drained)(void *arg);                 /* output was written */
	void (*on_closed)(void *arg, const char *why); /* once; why NULL: finished */
};

TAILQ_HEAD(conn_list, conn);

/* Empty output queues a loop keeps for the next conn that has output,
 * each with its small ring (outq_reset): at most 256 x ~1 KiB, and what
 * members of a shared group, which drain and refill on every pass, take
 * instead of malloc. */
#define CONN_SPARE_QUEUES 256

/* What every conn of one event loop shares: the block pools, the list of
 * conns to write at the end of the loop pass, and the epoll set their
 * sockets are read from. That set is one event of the loop, so a conn
 * costs libevent nothing until its socket fills: an idle client is only
 * its owner's memory and the kernel's. */
struct connloop {
	struct event_base *base;
	int epfd;                              /* the conns being read */
	struct event *reader;                  /* epfd is readable: some conn is */
	struct outpool pool;                   /* output queues' copy blocks */
	struct outpool inpool;                 /* input blocks */
	struct outq *spare[CONN_SPARE_QUEUES]; /* empty output queues to reuse */
	unsigned nspare;
	struct conn_list flushq;
	struct event *flusher;
	size_t max_line; /* the longest line taken, counting the '\n' */
};

enum conn_state {
	CONN_OPEN,      /* reading and writing */
	CONN_FINISHING, /* not reading; closed once the output is written */
	CONN_CLOSED,    /* events gone; the owner frees it */
};

struct conn {
	struct connloop *loop;
	const struct conn_ops *ops;
	void *arg;
	struct event *wev;    /* writable: armed only while the socket is full;
	                       * NULL until it first was */
	struct outblock *in;  /* input; NULL while there is none */
	struct outq *out;     /* what it owes; NULL while nothing: an idle client
	                       * keeps no queue */
	struct linescan scan; /* the bounded line rule's state */
	TAILQ_ENTRY(conn) flush_entry;
	int fd;
	uint32_t rpos;      /* in->data[rpos, in->len) is not handled yet */
	uint8_t state;      /* enum conn_state */
	bool paused;        /* reading stopped by the owner */
	bool flush_queued;  /* in the loop's flush list */
	bool write_blocked; /* wev armed: the socket took less than we had */
	bool watched;       /* in the loop's epoll set */
};

/* Sets up loop on base. Returns 0, or -1 if out of memory. */
int connloop_init(struct connloop *loop, struct event_base *base);
void connloop_free(struct connloop *loop);

/* Wraps a non-blocking socket and starts reading it; c takes over fd (it
 * is closed on failure too). Returns 0, or -1 if it cannot be registered. */
int conn_init(struct conn *c, struct connloop *loop, int fd, const struct conn_ops *ops, void *arg);

/* Queues a copy of data. Returns 0, or -1 when the conn is closed or out of
 * memory (then it is closed). */
int conn_send(struct conn *c, const void *data, size_t len);

/* Queues a frame, by reference to its block where it has one. Returns 0
 * or -1, as conn_send. */
int conn_send_frame(struct conn *c, const struct frame *f);

/* Bytes queued and not yet written. */
static inline size_t
conn_pending(const struct conn *c)
{
	return c->out != NULL ? c->out->bytes : 0;
}

/* Inside on_line: the bytes read after the line being handled, in the
 * same block, not handled yet; *avail of them (0 once reading stopped).
 * The owner may take whole lines from their start at once with conn_take
 * (each at most max_line bytes, its '\n' included), so that a pipelined
 * burst costs one call; what it leaves is handed up as usual. */
static inline char *
conn_unhandled(const struct conn *c, size_t *avail)
{
	const struct outblock *b = c->in;

	*avail = c->state == CONN_OPEN && !c->paused && b != NULL ? b->len - c->rpos : 0;
	return b != NULL ? (char *)b->data + c->rpos : NULL;
}

/* Takes n bytes of whole lines conn_unhandled gave: they count as handled.
 * The owner also found no '\n' in the clean bytes after them, which are
 * then not searched again. */
static inline void
conn_take(struct conn *c, size_t n, size_t clean)
{
	c->rpos += (uint32_t)n;
	c->scan.scanned = clean > UINT32_MAX ? UINT32_MAX : (uint32_t)clean;
}

/* Stops reading lines, or starts again (lines already buffered first). */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/* Stops reading for good; closes c once its output is written (bounded by
 * a write timeout). */
void conn_finish(struct conn *c);

/* Closes c now (on_closed is called with why). Safe inside its callbacks. */
void conn_close(struct conn *c, const char *why);

/* Frees a closed conn's memory and descriptor (never from its callbacks). */
void conn_free(struct conn *c);

#endif
