/* A client's output queue; see outq.h. */
#include "outq.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Slices handed to one writev(). */
#define WRITE_SLICES 64

/* The link to the next free block in a pool, kept in a free block's data
 * (copied, since data is not pointer-aligned). */
static struct outblock *
get_next_free(const struct outblock *b)
{
	struct outblock *next;

	memcpy(&next, b->data, sizeof next);
	return next;
}

static void
set_next_free(struct outblock *b, struct outblock *next)
{
	memcpy(b->data, &next, sizeof next);
}

void
outpool_init(struct outpool *pool, uint32_t size, unsigned max)
{
	pool->free = NULL;
	pool->count = 0;
	pool->max = max;
	pool->size = size;
}

struct outblock *
outblock_new(struct outpool *pool, size_t cap)
{
	struct outblock *b;

	if (pool != NULL && cap == pool->size && pool->free != NULL) {
		b = pool->free;
		pool->free = get_next_free(b);
		pool->count--;
	} else if (cap > UINT32_MAX || (b = malloc(sizeof *b + cap)) == NULL) {
		return NULL;
	}
	b->refs = 1;
	b->cap = (uint32_t)cap;
	b->len = 0;
	b->foreign = false;
	b->pool = pool != NULL && cap == pool->size ? pool : NULL;
	return b;
}

void
outblock_unref(struct outblock *b)
{
	struct outpool *pool = b->pool;

	if (--b->refs > 0)
		return;
	if (pool != NULL && pool->count < pool->max) {
		set_next_free(b, pool->free);
		pool->free = b;
		pool->count++;
		return;
	}
	free(b);
}

void
outpool_clear(struct outpool *pool)
{
	while (pool->free != NULL) {
		struct outblock *b = pool->free;

		pool->free = get_next_free(b);
		free(b);
	}
	pool->count = 0;
}

/* The newest slice; the queue must not be empty. */
static struct outslice *
last_slice(struct outq *q)
{
	return &q->ring[(q->head + q->count - 1) & (q->cap - 1)];
}

/* Makes room for one more slice. */
static int
ring_reserve(struct outq *q)
{
	struct outslice *ring;
	uint32_t cap;

	if (q->count < q->cap)
		return 0;
	cap = q->cap ? q->cap * 2 : 4;
	if ((ring = malloc(cap * sizeof *ring)) == NULL)
		return -1;
	/* Unwrap the old ring into the start of the new one. */
	for (uint32_t i = 0; i < q->count; i++)
		ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

/* Appends a slice of b (taking a reference), or extends the newest slice
 * when it ends where this one starts. */
static int
push(struct outq *q, struct outblock *b, uint32_t start, uint32_t end)
{
	if (q->count > 0) {
		struct outslice *s = last_slice(q);

		if (s->block == b && s->end == start) {
			s->end = end;
			return 0;
		}
	}
	if (ring_reserve(q) < 0)
		return -1;
	b->refs++;
	q->nforeign += b->foreign;
	q->ring[(q->head + q->count++) & (q->cap - 1)] = (struct outslice){ b, start, end };
	return 0;
}

int
outq_copy(struct outq *q, const void *data, size_t len)
{
	struct outblock *b = q->tail;
	uint32_t start;

	if (len == 0)
		return 0;
	if (b == NULL || b->cap - b->len < len) {
		if ((b = outblock_new(q->pool, len > OUTQ_BLOCK_SIZE ? len : OUTQ_BLOCK_SIZE)) ==
		    NULL)
			return -1;
		if (q->tail != NULL)
			outblock_unref(q->tail);
		q->tail = b; /* the queue's own reference */
	}
	start = b->len;
	if (push(q, b, start, start + (uint32_t)len) < 0)
		return -1;
	memcpy(b->data + start, data, len);
	b->len += (uint32_t)len;
	q->bytes += len;
	return 0;
}

int
outq_share(struct outq *q, struct outblock *b)
{
	if (push(q, b, 0, b->len) < 0)
		return -1;
	q->bytes += b->len;
	return 0;
}

int
outq_frame(struct outq *q, const struct frame *f)
{
	uint32_t start, end;

	if (f->block == NULL)
		return outq_copy(q, f->data, f->len);
	if (outq_extend(q, f))
		return 0;
	start = (uint32_t)(f->data - f->block->data);
	end = start + (uint32_t)f->len;
	if (f->len < OUTQ_SHARE_MIN && q->nforeign >= OUTQ_MAX_FOREIGN)
		return outq_copy(q, f->data, f->len);
	if (push(q, f->block, start, end) < 0)
		return -1;
	q->bytes += f->len;
	return 0;
}

/* Drops n written bytes from the front. */
static void
consume(struct outq *q, size_t n)
{
	q->bytes -= n;
	while (n > 0) {
		struct outslice *s = &q->ring[q->head];
		size_t len = s->end - s->start;

		if (n < len) {
			s->start += (uint32_t)n;
			return;
		}
		n -= len;
		q->nforeign -= s->block->foreign;
		outblock_unref(s->block);
		q->head = (q->head + 1) & (q->cap - 1);
		q->count--;
	}
}

ssize_t
outq_write(struct outq *q, int fd)
{
	struct iovec iov[WRITE_SLICES];
	ssize_t total = 0, n;

	while (q->count > 0) {
		int niov = 0;

		for (uint32_t i = 0; i < q->count && niov < WRITE_SLICES; i++) {
			struct outslice *s = &q->ring[(q->head + i) & (q->cap - 1)];

			iov[niov].iov_base = s->block->data + s->start;
			iov[niov++].iov_len = s->end - s->start;
		}
		do
			n = writev(fd, iov, niov);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return total > 0 && errno == EAGAIN ? total : -1;
		consume(q, (size_t)n);
		total += n;
	}
	/* Everything is out: no blocks are held for an idle client. */
	outq_reset(q);
	return total;
}

void
outq_reset(struct outq *q)
{
	consume(q, q->bytes);
	if (q->tail != NULL)
		outblock_unref(q->tail);
	q->tail = NULL;
	if (q->cap > OUTQ_KEEP_SLICES) {
		free(q->ring);
		q->ring = NULL;
		q->cap = 0;
	}
	q->head = q->count = q->nforeign = 0;
}

void
outq_clear(struct outq *q)
{
	struct outpool *pool = q->pool;

	outq_reset(q);
	free(q->ring);
	memset(q, 0, sizeof *q);
	q->pool = pool;
}
