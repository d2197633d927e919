/* The event queue; see evqueue.h. */
#include "evqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Header of one record; the two strings follow, each with a NUL. */
struct evrec {
	uint64_t count;
	size_t a_len;
	size_t b_len;
	uint32_t type;
};

#define REC_ALIGN _Alignof(struct evrec)

/* An empty queue keeps at most this much memory after a burst. */
#define EVQ_KEEP (1024 * 1024)

/* Size of a record holding a_len + b_len bytes, padded for the next header. */
static size_t
rec_size(size_t a_len, size_t b_len)
{
	size_t n = sizeof(struct evrec) + a_len + 1 + b_len + 1;

	return (n + REC_ALIGN - 1) & ~(REC_ALIGN - 1);
}

/* Makes room for n more bytes at the tail: reuses the space before head
 * first, grows the buffer second. */
static int
reserve(struct evqueue *q, size_t n)
{
	size_t used = q->tail - q->head;
	size_t cap;
	char *nbuf;

	if (q->cap - q->tail >= n)
		return 0;
	if (q->head > 0) {
		memmove(q->buf, q->buf + q->head, used);
		q->head = 0;
		q->tail = used;
		if (q->cap - used >= n)
			return 0;
	}
	cap = q->cap ? q->cap : 4096;
	while (cap - used < n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	nbuf = realloc(q->buf, cap);
	if (nbuf == NULL)
		return -1;
	q->buf = nbuf;
	q->cap = cap;
	return 0;
}

int
evq_push(struct evqueue *q, enum udsb_event_type type, const char *a, size_t a_len, const char *b,
         size_t b_len, unsigned long long count)
{
	size_t size = rec_size(a_len, b_len);
	struct evrec rec = { .count = count, .a_len = a_len, .b_len = b_len, .type = type };
	char *p;

	if (a_len > SIZE_MAX / 4 || b_len > SIZE_MAX / 4)
		return -1;
	if (q->head == q->tail) {
		/* Empty: start over, nothing moves; give back what a burst grew. */
		q->head = q->tail = 0;
		if (q->cap > EVQ_KEEP) {
			free(q->buf);
			q->buf = NULL;
			q->cap = 0;
		}
	}
	if (reserve(q, size) < 0)
		return -1;
	p = q->buf + q->tail;
	memcpy(p, &rec, sizeof rec);
	p += sizeof rec;
	if (a_len)
		memcpy(p, a, a_len);
	p[a_len] = '\0';
	p += a_len + 1;
	if (b_len)
		memcpy(p, b, b_len);
	p[b_len] = '\0';
	q->tail += size;
	return 0;
}

bool
evq_pop(struct evqueue *q, struct udsb_event *ev)
{
	struct evrec rec;
	const char *a, *b;

	if (q->head == q->tail)
		return false;
	memcpy(&rec, q->buf + q->head, sizeof rec);
	a = q->buf + q->head + sizeof rec;
	b = a + rec.a_len + 1;
	q->head += rec_size(rec.a_len, rec.b_len);

	memset(ev, 0, sizeof *ev);
	ev->type = (enum udsb_event_type)rec.type;
	ev->topic = ev->payload = ev->code = ev->text = "";
	switch (ev->type) {
	case UDSB_EV_MSG:
		ev->topic = a;
		ev->topic_len = rec.a_len;
		ev->payload = b;
		ev->payload_len = rec.b_len;
		break;
	case UDSB_EV_ERROR:
		ev->code = a;
		ev->text = b;
		break;
	case UDSB_EV_BYE:
	case UDSB_EV_UNKNOWN:
		ev->text = a;
		break;
	case UDSB_EV_RECONNECTED:
		ev->text = a;
		ev->count = rec.count;
		break;
	case UDSB_EV_DROPPED:
	case UDSB_EV_OVERLONG:
		ev->count = rec.count;
		break;
	}
	return true;
}

size_t
evq_bytes(const struct evqueue *q)
{
	return q->tail - q->head;
}

void
evq_free(struct evqueue *q)
{
	free(q->buf);
	memset(q, 0, sizeof *q);
}
