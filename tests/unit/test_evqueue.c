/*
 * Unit tests of libudsbroker's event queue (src/lib/evqueue.c): events come
 * out in the order they went in, with their strings intact, through growth
 * and the reuse of the space before the head; an emptied queue gives back
 * what a burst grew; a failed push (realloc is wrapped: -Wl,--wrap=realloc)
 * leaves the queue as it was.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evqueue.h"

/* What an empty queue may keep after a burst (EVQ_KEEP in evqueue.c). */
#define KEEP (1024 * 1024)

/* ---- realloc, failing on demand ---- */

void *__real_realloc(void *p, size_t size);
void *__wrap_realloc(void *p, size_t size);

static bool realloc_fails;

void *
__wrap_realloc(void *p, size_t size)
{
	if (realloc_fails) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, size);
}

/* ---- helpers ---- */

/* Pushes a MSG event topic/payload, asserting success. */
static void
push_msg(struct evqueue *q, const char *topic, const char *payload, size_t payload_len)
{
	cr_assert_eq(evq_push(q, UDSB_EV_MSG, topic, strlen(topic), payload, payload_len, 0), 0);
}

/* Pops the next event, asserting it is the MSG topic/payload. */
static void
pop_msg(struct evqueue *q, const char *topic, const char *payload, size_t payload_len)
{
	struct udsb_event ev;

	cr_assert(evq_pop(q, &ev), "queue empty, want MSG %s", topic);
	cr_assert_eq(ev.type, UDSB_EV_MSG);
	cr_assert_str_eq(ev.topic, topic);
	cr_assert_eq(ev.topic_len, strlen(topic));
	cr_assert_eq(ev.payload_len, payload_len, "topic %s", topic);
	cr_assert_eq(memcmp(ev.payload, payload, payload_len), 0, "topic %s: payload changed",
	             topic);
	cr_assert_eq(ev.payload[payload_len], '\0', "payload not terminated");
}

/* The n-th test payload: n's digits repeated to a length that varies. */
static size_t
payload_of(long n, char *buf, size_t size)
{
	size_t len = (size_t)(n * 37 % 1500);
	char digits[32];
	int dlen = snprintf(digits, sizeof digits, "%ld:", n);

	cr_assert_lt(len, size);
	for (size_t i = 0; i < len; i++)
		buf[i] = digits[i % (size_t)dlen];
	return len;
}

/* ---- tests ---- */

Test(evqueue, an_empty_queue_has_nothing)
{
	struct evqueue q = {0};
	struct udsb_event ev;

	cr_assert_not(evq_pop(&q, &ev));
	cr_assert_eq(evq_bytes(&q), 0);
	evq_free(&q);
}

Test(evqueue, every_kind_of_event_comes_out_as_it_went_in)
{
	struct evqueue q = {0};
	struct udsb_event ev;

	push_msg(&q, "a/b", "hello", 5);
	cr_assert_eq(evq_push(&q, UDSB_EV_ERROR, "bad-topic", 9, "no such thing", 13, 0), 0);
	cr_assert_eq(evq_push(&q, UDSB_EV_DROPPED, NULL, 0, NULL, 0, 42), 0);
	cr_assert_eq(evq_push(&q, UDSB_EV_BYE, "shutdown", 8, NULL, 0, 0), 0);
	cr_assert_eq(evq_push(&q, UDSB_EV_OVERLONG, NULL, 0, NULL, 0, 70000), 0);
	cr_assert_eq(evq_push(&q, UDSB_EV_UNKNOWN, "WHAT now", 8, NULL, 0, 0), 0);
	push_msg(&q, "empty", "", 0);

	pop_msg(&q, "a/b", "hello", 5);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(ev.type, UDSB_EV_ERROR);
	cr_assert_str_eq(ev.code, "bad-topic");
	cr_assert_str_eq(ev.text, "no such thing");
	cr_assert_str_empty(ev.topic);
	cr_assert_str_empty(ev.payload);
	cr_assert_eq(ev.count, 0);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(ev.type, UDSB_EV_DROPPED);
	cr_assert_eq(ev.count, 42);
	cr_assert_str_empty(ev.text);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(ev.type, UDSB_EV_BYE);
	cr_assert_str_eq(ev.text, "shutdown");
	cr_assert_str_empty(ev.code);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(ev.type, UDSB_EV_OVERLONG);
	cr_assert_eq(ev.count, 70000);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(ev.type, UDSB_EV_UNKNOWN);
	cr_assert_str_eq(ev.text, "WHAT now");
	pop_msg(&q, "empty", "", 0);
	cr_assert_not(evq_pop(&q, &ev));
	cr_assert_eq(evq_bytes(&q), 0);
	evq_free(&q);
}

Test(evqueue, payloads_keep_their_bytes_and_length)
{
	struct evqueue q = {0};
	static const char bin[] = {'a', '\0', 'b', '\n', '\0', (char)0xff};

	push_msg(&q, "bin", bin, sizeof bin);
	pop_msg(&q, "bin", bin, sizeof bin);
	evq_free(&q);
}

Test(evqueue, bytes_count_what_is_queued)
{
	struct evqueue q = {0};
	struct udsb_event ev;
	size_t one, total;

	push_msg(&q, "t", "x", 1);
	one = evq_bytes(&q);
	cr_assert_geq(one, 1 + 1 + 2, "a record holds its strings and their NULs");
	push_msg(&q, "t", "x", 1);
	cr_assert_eq(evq_bytes(&q), 2 * one);
	push_msg(&q, "topic", "a longer payload", 16);
	total = evq_bytes(&q);
	cr_assert_geq(total, 2 * one + 5 + 16 + 2);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(evq_bytes(&q), total - one);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(evq_bytes(&q), total - 2 * one);
	cr_assert(evq_pop(&q, &ev));
	cr_assert_eq(evq_bytes(&q), 0);
	evq_free(&q);
}

/* Many events with nothing popped: the buffer grows, order holds. */
Test(evqueue, growth_keeps_order)
{
	enum { N = 5000 };
	struct evqueue q = {0};
	static char payload[2048];
	char topic[32];

	for (long i = 0; i < N; i++) {
		size_t len = payload_of(i, payload, sizeof payload);

		snprintf(topic, sizeof topic, "t/%ld", i);
		push_msg(&q, topic, payload, len);
	}
	cr_assert_gt(q.cap, 4096, "the queue did not grow");
	cr_assert_geq(q.cap, evq_bytes(&q));
	for (long i = 0; i < N; i++) {
		size_t len = payload_of(i, payload, sizeof payload);

		snprintf(topic, sizeof topic, "t/%ld", i);
		pop_msg(&q, topic, payload, len);
	}
	cr_assert_eq(evq_bytes(&q), 0);
	evq_free(&q);
	cr_assert_null(q.buf);
	cr_assert_eq(q.cap, 0);
}

/* Pushing and popping in turn, never empty: the space before the head is
 * reused (records move to the front) rather than the buffer growing
 * without end, and the order survives each move. */
Test(evqueue, interleaving_reuses_the_space_before_the_head)
{
	struct evqueue q = {0};
	static char payload[2048];
	char topic[32];
	long pushed = 0, popped = 0;
	size_t cap_seen;

	for (; pushed < 3; pushed++) {
		size_t len = payload_of(pushed, payload, sizeof payload);

		snprintf(topic, sizeof topic, "t/%ld", pushed);
		push_msg(&q, topic, payload, len);
	}
	cap_seen = q.cap;
	for (int round = 0; round < 20000; round++) {
		size_t len = payload_of(pushed, payload, sizeof payload);

		snprintf(topic, sizeof topic, "t/%ld", pushed++);
		push_msg(&q, topic, payload, len);
		len = payload_of(popped, payload, sizeof payload);
		snprintf(topic, sizeof topic, "t/%ld", popped++);
		pop_msg(&q, topic, payload, len);
		cr_assert_leq(q.cap, 4 * cap_seen, "round %d: cap %zu for ~4 events", round, q.cap);
	}
	while (popped < pushed) {
		size_t len = payload_of(popped, payload, sizeof payload);

		snprintf(topic, sizeof topic, "t/%ld", popped++);
		pop_msg(&q, topic, payload, len);
	}
	cr_assert_eq(evq_bytes(&q), 0);
	evq_free(&q);
}

/* After a burst past EVQ_KEEP, the first push into the emptied queue gives
 * the big buffer back; a queue within it keeps its buffer. */
Test(evqueue, an_emptied_queue_gives_back_a_burst)
{
	struct evqueue q = {0};
	static char big[64 * 1024];
	struct udsb_event ev;
	char *buf;

	memset(big, 'z', sizeof big);
	for (int i = 0; i < 40; i++) /* 2.5 MiB */
		push_msg(&q, "burst", big, sizeof big);
	cr_assert_gt(q.cap, KEEP);
	while (evq_pop(&q, &ev))
		cr_assert_eq(ev.payload_len, sizeof big);
	cr_assert_gt(q.cap, KEEP, "popping alone already shrank the queue");
	push_msg(&q, "small", "1", 1);
	cr_assert_leq(q.cap, KEEP, "cap %zu after the burst was read", q.cap);
	cr_assert_eq(q.cap, 4096);
	pop_msg(&q, "small", "1", 1);

	/* Within the bound: emptied and refilled in place. */
	push_msg(&q, "small", "2", 1);
	buf = q.buf;
	pop_msg(&q, "small", "2", 1);
	push_msg(&q, "small", "3", 1);
	cr_assert_eq(q.buf, buf, "a small queue gave back its buffer");
	cr_assert_eq(q.head, 0, "an emptied queue did not start over");
	pop_msg(&q, "small", "3", 1);
	evq_free(&q);
}

Test(evqueue, a_failed_push_leaves_the_queue_as_it_was)
{
	struct evqueue q = {0};
	static char payload[4096];
	struct udsb_event ev;
	size_t bytes;

	/* Lengths no record can hold. */
	cr_assert_eq(evq_push(&q, UDSB_EV_MSG, "t", SIZE_MAX / 2, "", 0, 0), -1);
	cr_assert_eq(evq_push(&q, UDSB_EV_MSG, "t", 1, "", SIZE_MAX / 2, 0), -1);
	cr_assert_eq(evq_bytes(&q), 0);
	cr_assert_not(evq_pop(&q, &ev));

	/* No memory for the first buffer. */
	realloc_fails = true;
	cr_assert_eq(evq_push(&q, UDSB_EV_BYE, "idle", 4, NULL, 0, 0), -1);
	realloc_fails = false;
	cr_assert_eq(evq_bytes(&q), 0);
	cr_assert_not(evq_pop(&q, &ev));

	/* No memory to grow: what was queued stays, and stays usable. */
	push_msg(&q, "first", "1", 1);
	push_msg(&q, "second", "2", 1);
	bytes = evq_bytes(&q);
	memset(payload, 'p', sizeof payload);
	realloc_fails = true;
	cr_assert_eq(evq_push(&q, UDSB_EV_MSG, "big", 3, payload, sizeof payload, 0), -1);
	realloc_fails = false;
	cr_assert_eq(evq_bytes(&q), bytes);
	pop_msg(&q, "first", "1", 1);
	pop_msg(&q, "second", "2", 1);
	cr_assert_not(evq_pop(&q, &ev));
	push_msg(&q, "big", payload, sizeof payload);
	pop_msg(&q, "big", payload, sizeof payload);
	evq_free(&q);
}
