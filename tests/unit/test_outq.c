/*
 * Unit tests of the output queue (src/daemon/outq.c): copies into the
 * queue's own blocks, shared blocks counted by reference, short writes and
 * EAGAIN on a socket with a small send buffer, clearing, the block pool's
 * bounds, and malloc failing (malloc is wrapped: -Wl,--wrap=malloc).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outq.h"

/* ---- malloc, failing on demand ---- */

void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

/* The number of mallocs to let through before one fails; -1: never fail. */
static int malloc_fail_after = -1;

void *
__wrap_malloc(size_t size)
{
	if (malloc_fail_after == 0) {
		malloc_fail_after = -1;
		errno = ENOMEM;
		return NULL;
	}
	if (malloc_fail_after > 0)
		malloc_fail_after--;
	return __real_malloc(size);
}

/* ---- helpers ---- */

/* A pool of OUTQ_BLOCK_SIZE blocks, as the daemon's output queues use. */
#define POOL_MAX 1024
#define POOL     ((struct outpool){ .size = OUTQ_BLOCK_SIZE, .max = POOL_MAX })

/* A shared block of len bytes of text (repeated), refs 1. */
static struct outblock *
frame(struct outpool *pool, size_t cap, const char *text, size_t len)
{
	struct outblock *b = outblock_new(pool, cap);
	size_t tlen = strlen(text);

	cr_assert_not_null(b);
	cr_assert_leq(len, cap);
	for (size_t i = 0; i < len; i++)
		b->data[i] = text[i % tlen];
	b->len = (uint32_t)len;
	return b;
}

/* A non-blocking socket pair whose writing end ([0]) has a small send
 * buffer, so that writev takes only part of a large queue. */
static void
small_socketpair(int sv[2])
{
	int size = 4096;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

/* Reads at most max bytes (whatever is there) from fd into buf at *got. */
static void
read_some(int fd, char *buf, size_t cap, size_t *got, size_t max)
{
	size_t room = cap - *got < max ? cap - *got : max;
	ssize_t n = read(fd, buf + *got, room);

	if (n < 0)
		cr_assert(errno == EAGAIN, "read: %s", strerror(errno));
	else
		*got += (size_t)n;
}

/* Writes q out through a pipe (it fits) and returns what came out. */
static char *
drain_through_pipe(struct outq *q, size_t *len)
{
	static char buf[65536];
	int p[2];
	ssize_t n;
	size_t want = q->bytes;

	cr_assert_lt(want, sizeof buf);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(outq_write(q, p[1]), (ssize_t)want);
	close(p[1]);
	*len = 0;
	while ((n = read(p[0], buf + *len, sizeof buf - *len)) > 0)
		*len += (size_t)n;
	close(p[0]);
	return buf;
}

/* ---- copies ---- */

Test(outq, copies_are_counted_and_come_out_in_order)
{
	struct outq q = { 0 };
	size_t len;
	const char *out;

	cr_assert_eq(outq_copy(&q, "PONG a\n", 7), 0);
	cr_assert_eq(outq_copy(&q, "OK\n", 3), 0);
	cr_assert_eq(q.bytes, 10);
	/* Adjacent copies into the same block extend one slice. */
	cr_assert_eq(q.count, 1);
	cr_assert_not_null(q.tail);
	cr_assert_eq(q.tail->cap, OUTQ_BLOCK_SIZE);
	cr_assert_eq(q.tail->len, 10);
	cr_assert_eq(q.tail->refs, 2, "the queue's tail reference and the slice's");

	out = drain_through_pipe(&q, &len);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(out, "PONG a\nOK\n", 10), 0);
	/* Written out: an idle queue holds no block, only its small ring
	 * for the next use; clearing frees that too. */
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(q.count, 0);
	cr_assert_null(q.tail);
	cr_assert_not_null(q.ring);
	cr_assert_leq(q.cap, OUTQ_KEEP_SLICES);
	outq_clear(&q);
	cr_assert_null(q.ring);
}

/* A ring grown past OUTQ_KEEP_SLICES is not kept by a reset; a small one
 * is, and takes slices again. */
Test(outq, reset_keeps_only_a_small_ring)
{
	struct outblock *b = outblock_new(NULL, 64);
	struct outq q = { 0 };

	cr_assert_not_null(b);
	b->len = 64;
	/* Bytes 0 and 32 of b by turns: no slice extends the one before. */
	for (unsigned i = 0; q.cap <= OUTQ_KEEP_SLICES; i++) {
		struct frame f = { b->data + (i % 2) * 32, 1, b, false };

		cr_assert_eq(outq_frame(&q, &f), 0);
	}
	cr_assert_gt(q.count, OUTQ_KEEP_SLICES);
	outq_reset(&q);
	cr_assert_null(q.ring, "a ring of %u slices was kept", q.cap);
	cr_assert_eq(q.count, 0);
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(b->refs, 1, "every slice's reference was dropped");

	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < 3; i++) {
			struct frame f = { b->data + i * 2, 1, b, false };

			cr_assert_eq(outq_frame(&q, &f), 0);
		}
		cr_assert_eq(q.count, 3);
		cr_assert_eq(q.bytes, 3);
		outq_reset(&q);
		cr_assert_not_null(q.ring, "a ring of %u slices was not kept", q.cap);
		cr_assert_eq(b->refs, 1);
	}
	outq_clear(&q);
	cr_assert_null(q.ring);
	outblock_unref(b);
}

Test(outq, empty_copy_and_empty_write)
{
	struct outq q = { 0 };
	int p[2];

	cr_assert_eq(outq_copy(&q, "x", 0), 0);
	cr_assert_eq(q.bytes, 0);
	cr_assert_null(q.ring, "an empty copy allocated a ring");
	cr_assert_null(q.tail);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(outq_write(&q, p[1]), 0);
	close(p[0]);
	close(p[1]);
}

Test(outq, a_copy_that_does_not_fit_starts_a_new_block)
{
	struct outq q = { 0 };
	static char big[OUTQ_BLOCK_SIZE * 3];
	struct outblock *first;
	size_t len;
	const char *out;

	memset(big, 'a', 4000);
	cr_assert_eq(outq_copy(&q, big, 4000), 0);
	first = q.tail;
	memset(big, 'b', 200);
	cr_assert_eq(outq_copy(&q, big, 200), 0);
	cr_assert_neq(q.tail, first, "200 bytes went into a block with 96 free");
	cr_assert_eq(q.count, 2);
	cr_assert_eq(first->refs, 1, "the old tail keeps only its slice's reference");
	cr_assert_eq(q.bytes, 4200);

	/* Larger than a block: a block of exactly that size. */
	memset(big, 'c', sizeof big);
	cr_assert_eq(outq_copy(&q, big, sizeof big), 0);
	cr_assert_eq(q.tail->cap, sizeof big);
	cr_assert_eq(q.count, 3);
	cr_assert_eq(q.bytes, 4200 + sizeof big);

	out = drain_through_pipe(&q, &len);
	cr_assert_eq(len, 4200 + sizeof big);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(out[i], i < 4000 ? 'a' : i < 4200 ? 'b' : 'c', "byte %zu", i);
	outq_clear(&q); /* the ring a drained queue keeps */
}

/* ---- shared blocks ---- */

Test(outq, shared_blocks_are_counted_by_reference)
{
	struct outq q1 = { 0 }, q2 = { 0 };
	struct outblock *b = frame(NULL, 64, "MSG t hello\n", 12);
	size_t len;
	const char *out;

	cr_assert_eq(b->refs, 1);
	cr_assert_eq(outq_share(&q1, b), 0);
	cr_assert_eq(outq_share(&q2, b), 0);
	cr_assert_eq(b->refs, 3);
	cr_assert_eq(q1.bytes, 12);
	cr_assert_eq(q2.bytes, 12);

	/* The same frame twice to one queue: two slices, two copies out. */
	cr_assert_eq(outq_copy(&q2, "OK\n", 3), 0);
	cr_assert_eq(outq_share(&q2, b), 0);
	cr_assert_eq(b->refs, 4);
	cr_assert_eq(q2.count, 3);
	cr_assert_eq(q2.bytes, 27);

	outq_clear(&q1);
	cr_assert_eq(b->refs, 3, "clear dropped q1's reference");
	cr_assert_eq(q1.bytes, 0);
	cr_assert_null(q1.ring);

	out = drain_through_pipe(&q2, &len);
	cr_assert_eq(len, 27);
	cr_assert_eq(memcmp(out, "MSG t hello\nOK\nMSG t hello\n", 27), 0);
	cr_assert_eq(b->refs, 1, "written out: only the creator's reference is left");
	outq_clear(&q2); /* the ring a drained queue keeps */
	outblock_unref(b);
}

Test(outq, clear_drops_everything_and_keeps_the_pool)
{
	struct outpool pool = POOL;
	struct outq q = { .pool = &pool };
	struct outblock *b = frame(NULL, 100, "x", 100);

	for (int i = 0; i < 10; i++) {
		cr_assert_eq(outq_copy(&q, "PONG\n", 5), 0);
		cr_assert_eq(outq_share(&q, b), 0);
	}
	cr_assert_eq(b->refs, 11);
	cr_assert_eq(q.bytes, 10 * 105);
	outq_clear(&q);
	cr_assert_eq(b->refs, 1);
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(q.count, 0);
	cr_assert_null(q.ring);
	cr_assert_null(q.tail);
	cr_assert_eq(q.pool, &pool, "clear forgot the pool");
	cr_assert_eq(pool.count, 1, "the copy block went back to the pool");
	outblock_unref(b);
	outpool_clear(&pool);
}

/* ---- writing ---- */

/* A queue of ~1 MiB in many slices (more than one writev takes), written
 * through a socket that takes a few KiB at a time: every short write is
 * accounted for, EAGAIN leaves the queue as it was, and what comes out is
 * what went in, in order. */
Test(outq, short_writes_and_eagain_keep_the_bytes_in_order)
{
	enum { FRAMES = 300 };
	static char want[1 << 21], got[1 << 21];
	struct outpool pool = POOL;
	struct outq q = { .pool = &pool };
	struct outblock *shared[3];
	size_t wlen = 0, glen = 0;
	int sv[2], shorts = 0, eagains = 0;

	shared[0] = frame(&pool, 5000, "0123456789abcdef", 5000);
	shared[1] = frame(&pool, OUTQ_BLOCK_SIZE, "ghijklmnop", 3000);
	shared[2] = frame(&pool, 17, "qrstuvw", 17);
	for (int i = 0; i < FRAMES; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "line %d\n", i);
		struct outblock *b = shared[i % 3];

		cr_assert_eq(outq_copy(&q, line, (size_t)n), 0);
		memcpy(want + wlen, line, (size_t)n);
		wlen += (size_t)n;
		cr_assert_eq(outq_share(&q, b), 0);
		memcpy(want + wlen, b->data, b->len);
		wlen += b->len;
	}
	cr_assert_eq(q.bytes, wlen);
	cr_assert_gt(q.count, 64, "fewer slices than one writev takes");

	small_socketpair(sv);
	while (q.bytes > 0) {
		size_t before = q.bytes;
		ssize_t n = outq_write(&q, sv[0]);

		if (n < 0) {
			cr_assert_eq(errno, EAGAIN, "outq_write: %s", strerror(errno));
			cr_assert_eq(q.bytes, before, "EAGAIN but bytes dropped");
			eagains++;
		} else {
			cr_assert_gt(n, 0, "nothing written, no error, %zu bytes queued", before);
			cr_assert_eq(q.bytes, before - (size_t)n, "written %zd of %zu", n, before);
			if (q.bytes > 0)
				shorts++;
		}
		/* The reader takes a little at a time, so the socket fills up. */
		read_some(sv[1], got, sizeof got, &glen, 3000);
	}
	while (glen < wlen) {
		size_t before = glen;

		read_some(sv[1], got, sizeof got, &glen, sizeof got);
		cr_assert_gt(glen, before, "bytes missing: %zu of %zu", glen, wlen);
	}
	cr_assert_gt(shorts, 0, "no short write: the test proved nothing");
	cr_assert_gt(eagains, 0, "never EAGAIN: the test proved nothing");
	cr_assert_eq(glen, wlen);
	cr_assert_eq(memcmp(got, want, wlen), 0, "the bytes came out changed or out of order");
	cr_assert_null(q.ring, "an emptied queue keeps its ring");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(shared[i]->refs, 1, "shared block %d: refs %u", i, shared[i]->refs);
		outblock_unref(shared[i]);
	}
	close(sv[0]);
	close(sv[1]);
	outpool_clear(&pool);
}

Test(outq, a_write_error_is_reported_and_keeps_the_queue)
{
	struct outq q = { 0 };
	int sv[2];

	signal(SIGPIPE, SIG_IGN); /* as the daemon does */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	cr_assert_eq(outq_copy(&q, "MSG t x\n", 8), 0);
	cr_assert_eq(outq_write(&q, sv[0]), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(q.bytes, 8);
	cr_assert_eq(q.count, 1);
	outq_clear(&q);
	close(sv[0]);
}

/* ---- the pool ---- */

Test(outq, blocks_go_back_to_the_pool_and_are_reused)
{
	struct outpool pool = POOL;
	struct outblock *b = outblock_new(&pool, OUTQ_BLOCK_SIZE), *again, *odd;

	cr_assert_not_null(b);
	cr_assert_eq(pool.count, 0);
	b->len = 100;
	outblock_unref(b);
	cr_assert_eq(pool.count, 1);
	cr_assert_eq(pool.free, b);

	again = outblock_new(&pool, OUTQ_BLOCK_SIZE);
	cr_assert_eq(again, b, "a pooled block was not reused");
	cr_assert_eq(pool.count, 0);
	cr_assert_null(pool.free);
	cr_assert_eq(again->refs, 1);
	cr_assert_eq(again->len, 0, "a reused block kept its old length");
	cr_assert_eq(again->cap, OUTQ_BLOCK_SIZE);

	/* Only blocks of OUTQ_BLOCK_SIZE are pooled; others are freed. */
	odd = outblock_new(&pool, 100);
	cr_assert_not_null(odd);
	outblock_unref(odd);
	cr_assert_eq(pool.count, 0, "a block of 100 bytes was pooled");
	/* Not the last reference: nothing goes back. */
	again->refs = 2;
	outblock_unref(again);
	cr_assert_eq(pool.count, 0);
	cr_assert_eq(again->refs, 1);
	outblock_unref(again);
	cr_assert_eq(pool.count, 1);
	outpool_clear(&pool);
	cr_assert_eq(pool.count, 0);
	cr_assert_null(pool.free);
}

Test(outq, the_pool_keeps_at_most_outpool_max)
{
	enum { N = POOL_MAX + 10 };
	static struct outblock *blocks[N];
	struct outpool pool = POOL;

	for (int i = 0; i < N; i++) {
		blocks[i] = outblock_new(&pool, OUTQ_BLOCK_SIZE);
		cr_assert_not_null(blocks[i]);
	}
	for (int i = 0; i < N; i++)
		outblock_unref(blocks[i]);
	cr_assert_eq(pool.count, POOL_MAX);
	/* The free list holds exactly count blocks: take them all out. */
	for (unsigned i = 0; i < POOL_MAX; i++) {
		blocks[i] = outblock_new(&pool, OUTQ_BLOCK_SIZE);
		cr_assert_not_null(blocks[i]);
		cr_assert_eq(pool.count, POOL_MAX - 1 - i);
	}
	cr_assert_eq(pool.count, 0);
	cr_assert_null(pool.free);
	for (unsigned i = 0; i < POOL_MAX; i++)
		outblock_unref(blocks[i]);
	cr_assert_eq(pool.count, POOL_MAX);
	outpool_clear(&pool);
	cr_assert_eq(pool.count, 0);
	cr_assert_null(pool.free);
}

/* ---- out of memory ---- */

Test(outq, out_of_memory_appends_nothing)
{
	struct outq q = { 0 };
	struct outblock *b[5];

	/* No block for the copy. */
	malloc_fail_after = 0;
	cr_assert_eq(outq_copy(&q, "OK\n", 3), -1);
	cr_assert_eq(q.bytes, 0);
	cr_assert_eq(q.count, 0);

	/* No bigger ring for the fifth slice (the ring starts at 4). */
	for (int i = 0; i < 5; i++)
		b[i] = frame(NULL, 8, "abcdefgh", 8);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(outq_share(&q, b[i]), 0);
	cr_assert_eq(q.cap, 4);
	malloc_fail_after = 0;
	cr_assert_eq(outq_share(&q, b[4]), -1);
	cr_assert_eq(b[4]->refs, 1, "a failed share kept a reference");
	cr_assert_eq(q.bytes, 32);
	cr_assert_eq(q.count, 4);
	/* The same for a copy: its new block is made, the ring cannot grow. */
	malloc_fail_after = 1;
	cr_assert_eq(outq_copy(&q, "PONG\n", 5), -1);
	cr_assert_eq(q.bytes, 32);
	cr_assert_eq(q.count, 4);
	/* And it works again once memory is back. */
	cr_assert_eq(outq_copy(&q, "PONG\n", 5), 0);
	cr_assert_eq(q.bytes, 37);
	cr_assert_eq(q.count, 5);
	outq_clear(&q);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(b[i]->refs, 1);
		outblock_unref(b[i]);
	}
}

/* ---- frames: slices of input blocks ---- */

/* An input block holding lines "MSG t <i>\n" one after another, as the
 * conn reads them; *off[i] is where line i starts. */
static struct outblock *
input_block(int n, size_t *off)
{
	struct outblock *b = outblock_new(NULL, 4096);

	cr_assert_not_null(b);
	b->foreign = true;
	for (int i = 0; i < n; i++) {
		off[i] = b->len;
		b->len += (uint32_t)snprintf(b->data + b->len, b->cap - b->len, "MSG t %d\n", i);
	}
	off[n] = b->len;
	return b;
}

/* Consecutive lines of one block extend one slice: a burst is one iovec
 * and one reference, whatever its length. */
Test(outq, consecutive_frames_of_a_block_extend_one_slice)
{
	size_t off[11], len;
	struct outblock *b = input_block(10, off);
	struct outq q = { 0 };
	const char *out;

	for (int i = 0; i < 10; i++) {
		struct frame f = { b->data + off[i], off[i + 1] - off[i], b, false };

		cr_assert_eq(outq_frame(&q, &f), 0);
	}
	cr_expect_eq(q.count, 1, "%u slices for one burst", q.count);
	cr_expect_eq(b->refs, 2, "one reference for the whole burst");
	cr_expect_eq(q.bytes, off[10]);
	cr_expect_eq(q.nforeign, 1);
	out = drain_through_pipe(&q, &len);
	cr_expect_eq(len, off[10]);
	cr_expect(memcmp(out, b->data, len) == 0, "bytes changed on the way");
	cr_expect_eq(b->refs, 1, "the queue let go once written");
	cr_expect_eq(q.nforeign, 0);
	outq_clear(&q); /* the ring a drained queue keeps */
	outblock_unref(b);
}

/* A gap (a line this subscriber does not get) starts a new slice. */
Test(outq, a_skipped_line_starts_a_new_slice)
{
	size_t off[4], len;
	struct outblock *b = input_block(3, off);
	struct outq q = { 0 };
	struct frame f0 = { b->data + off[0], off[1] - off[0], b, false };
	struct frame f2 = { b->data + off[2], off[3] - off[2], b, false };
	const char *out;

	cr_assert_eq(outq_frame(&q, &f0), 0);
	cr_assert_eq(outq_frame(&q, &f2), 0);
	cr_expect_eq(q.count, 2);
	cr_expect_eq(b->refs, 3);
	out = drain_through_pipe(&q, &len);
	cr_expect_eq(len, f0.len + f2.len);
	cr_expect(memcmp(out, "MSG t 0\nMSG t 2\n", len) == 0);
	outq_clear(&q); /* the ring a drained queue keeps */
	outblock_unref(b);
}

/* A queue refers to at most OUTQ_MAX_FOREIGN stretches of foreign blocks;
 * past that short frames are copied, so a slow subscriber pins a bounded
 * number of blocks; long frames are still shared. */
Test(outq, foreign_references_are_bounded)
{
	enum { N = OUTQ_MAX_FOREIGN + 3 };
	struct outblock *blocks[N], *big;
	struct outq q = { 0 };
	size_t off[2], len, total = 0;
	const char *out;

	for (int i = 0; i < N; i++) {
		struct frame f;

		blocks[i] = input_block(1, off);
		f = (struct frame){ blocks[i]->data, off[1], blocks[i], false };
		cr_assert_eq(outq_frame(&q, &f), 0);
		total += f.len;
		cr_expect_eq(blocks[i]->refs, i < OUTQ_MAX_FOREIGN ? 2u : 1u, "block %d", i);
	}
	cr_expect_eq(q.nforeign, OUTQ_MAX_FOREIGN);
	big = outblock_new(NULL, OUTQ_SHARE_MIN);
	cr_assert_not_null(big);
	big->foreign = true;
	memset(big->data, 'x', OUTQ_SHARE_MIN - 1);
	big->data[OUTQ_SHARE_MIN - 1] = '\n';
	big->len = OUTQ_SHARE_MIN;
	{
		struct frame f = { big->data, big->len, big, false };

		cr_assert_eq(outq_frame(&q, &f), 0);
	}
	cr_expect_eq(big->refs, 2, "a long frame is shared even past the bound");
	total += OUTQ_SHARE_MIN;
	cr_expect_eq(q.bytes, total);
	out = drain_through_pipe(&q, &len);
	cr_expect_eq(len, total);
	cr_expect(memcmp(out, "MSG t 0\n", 8) == 0 && memcmp(out + len - 1, "\n", 1) == 0);
	outq_clear(&q); /* the ring a drained queue keeps */
	for (int i = 0; i < N; i++) {
		cr_expect_eq(blocks[i]->refs, 1);
		outblock_unref(blocks[i]);
	}
	outblock_unref(big);
}
