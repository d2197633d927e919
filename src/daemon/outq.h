/*
 * A client's output queue: what the broker owes one client, as a list of
 * slices of refcounted blocks. Short frames and replies are copied into the
 * client's own tail block; long message frames are shared by every
 * subscriber's queue, counted by reference, never copied. Written with
 * writev(). The bytes it holds are counted exactly, and the memory behind
 * them is those bytes plus at most one partly filled block.
 */
#ifndef UDSB_OUTQ_H
#define UDSB_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Size of the blocks short frames are copied into. */
#define OUTQ_BLOCK_SIZE 4096

/* A refcounted block of bytes: a connection's input, whose lines become
 * the frames every subscriber's queue shares; a long frame of its own; or a
 * queue's own block of copied frames. */
struct outblock {
	unsigned refs;
	uint32_t cap;
	uint32_t len;
	bool foreign;         /* not a queue's own copy block: counted in nforeign */
	struct outpool *pool; /* where it goes back to, or NULL */
	char data[];
};

/* One framed message: len bytes at data, which lie in block when it is
 * shared (block NULL: copy them). */
struct frame {
	const char *data;
	size_t len;
	struct outblock *block;
	bool retained; /* the delivery of a RETAIN: a bridge forwards it retained */
};

/* A queue refers to at most this many stretches of foreign blocks at a
 * time; past that, short frames are copied. So a slow subscriber pins at
 * most this many blocks besides the bytes queue_limit counts. */
#define OUTQ_MAX_FOREIGN 4

/* Frames this long or longer are always shared, never copied. */
#define OUTQ_SHARE_MIN 1024

/* Free blocks of one size kept for reuse, so the hot path (a burst of
 * deliveries, written out, then the next) does not go back to malloc,
 * which on a churned heap costs more than the write itself. */
struct outpool {
	struct outblock *free; /* a stack, linked through the blocks' data */
	unsigned count;
	unsigned max;  /* at most this many are kept */
	uint32_t size; /* the capacity of the blocks it keeps */
};

/* An empty pool of blocks of size bytes, keeping at most max. */
void outpool_init(struct outpool *pool, uint32_t size, unsigned max);

/* Frees the blocks kept in pool. */
void outpool_clear(struct outpool *pool);

/* A slice [start, end) of a block. */
struct outslice {
	struct outblock *block;
	uint32_t start;
	uint32_t end;
};

/* The largest ring outq_reset keeps, in slices. */
#define OUTQ_KEEP_SLICES 64

struct outq {
	struct outpool *pool;  /* where its own blocks come from and go back to */
	struct outslice *ring; /* slices, oldest at head */
	struct outblock *tail; /* our own block copies go into, or NULL */
	size_t bytes;          /* bytes queued and not yet written */
	uint32_t head;
	uint32_t count;
	uint32_t cap;      /* a power of two, 0 before the first append */
	uint32_t nforeign; /* slices of foreign blocks in the ring */
};

/* A new block of cap bytes, refs 1, len 0, from pool when it has one of
 * that size (pool may be NULL); NULL if out of memory. */
struct outblock *outblock_new(struct outpool *pool, size_t cap);

/* Drops a reference; with the last one the block goes back to the pool it
 * came from, or is freed. */
void outblock_unref(struct outblock *b);

/* Appends a copy of data. Returns 0, or -1 if out of memory (nothing
 * appended). */
int outq_copy(struct outq *q, const void *data, size_t len);

/* Appends all of block b, taking a reference to it. Returns 0 or -1. */
int outq_share(struct outq *q, struct outblock *b);

/* Appends a frame: a slice of its block, extending the newest slice when
 * the frame follows it in the block, else a new reference (copied instead
 * when short and the queue already refers to OUTQ_MAX_FOREIGN stretches).
 * Without a block, a copy. Returns 0 or -1. */
int outq_frame(struct outq *q, const struct frame *f);

/* outq_frame's common case, inline: the next line of a burst extends the
 * newest slice. Returns false when it does not apply. */
static inline bool
outq_extend(struct outq *q, const struct frame *f)
{
	struct outslice *s;

	if (q->count == 0 || f->block == NULL)
		return false;
	s = &q->ring[(q->head + q->count - 1) & (q->cap - 1)];
	if (s->block != f->block || s->block->data + s->end != f->data)
		return false;
	s->end += (uint32_t)f->len;
	q->bytes += f->len;
	return true;
}

/* Writes as much as the socket takes. Returns the bytes written (0 when the
 * queue is empty), or -1 with errno (EAGAIN: the socket is full). */
ssize_t outq_write(struct outq *q, int fd);

/* Drops everything queued and frees the queue's memory. */
void outq_clear(struct outq *q);

/* Drops everything queued, keeping a small ring (OUTQ_KEEP_SLICES) for
 * the next use: a queue that empties and fills again on every pass (a
 * shared group's member, say) does not remake it each time. */
void outq_reset(struct outq *q);

#endif
