/* The event queue; see evqueue.h. */
#include "evqueue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Header of one record; its strings follow, each with a NUL: a, b, meta,
 * via, reply. */
struct evrec {
	uint64_t count;
	size_t len[5]; /* a, b, meta, via, reply */
	int64_t uid, gid, pid;
	uint32_t type;
	uint32_t retained;
};

#define REC_ALIGN _Alignof(struct evrec)

/* An empty queue keeps at most this much memory after a burst. */
#define EVQ_KEEP (1024 * 1024)

/* Size of a record holding strings of these lengths, padded for the next
 * header; 0 when it would overflow. */
static size_t
rec_size(const size_t len[5])
{
	size_t n = sizeof(struct evrec);

	for (int i = 0; i < 5; i++) {
		if (len[i] > SIZE_MAX / 8 || n > SIZE_MAX / 2)
			return 0;
		n += len[i] + 1;
	}
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
evq_push_item(struct evqueue *q, const struct evq_item *it)
{
	const char *str[5] = { it->a, it->b, it->meta, it->via, it->reply };
	struct evrec rec = {
		.count = it->count,
		.len = { it->a_len, it->b_len, it->meta_len, it->via_len, it->reply_len },
		.uid = it->uid,
		.gid = it->gid,
		.pid = it->pid,
		.type = it->type,
		.retained = it->retained != 0,
	};
	size_t size = rec_size(rec.len);
	char *p;

	if (size == 0)
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
	for (int i = 0; i < 5; i++) {
		if (rec.len[i])
			memcpy(p, str[i], rec.len[i]);
		p[rec.len[i]] = '\0';
		p += rec.len[i] + 1;
	}
	q->tail += size;
	return 0;
}

int
evq_push(struct evqueue *q, enum udsb_event_type type, const char *a, size_t a_len, const char *b,
         size_t b_len, unsigned long long count)
{
	struct evq_item it = {
		.type = type,
		.a = a,
		.a_len = a_len,
		.b = b,
		.b_len = b_len,
		.count = count,
		.uid = -1,
		.gid = -1,
		.pid = -1,
	};

	return evq_push_item(q, &it);
}

bool
evq_pop(struct evqueue *q, struct udsb_event *ev)
{
	struct evrec rec;
	const char *str[5];
	const char *p;

	if (q->head == q->tail)
		return false;
	memcpy(&rec, q->buf + q->head, sizeof rec);
	p = q->buf + q->head + sizeof rec;
	for (int i = 0; i < 5; i++) {
		str[i] = p;
		p += rec.len[i] + 1;
	}
	q->head += rec_size(rec.len);

	memset(ev, 0, sizeof *ev);
	ev->type = (enum udsb_event_type)rec.type;
	ev->topic = ev->payload = ev->code = ev->text = "";
	ev->via = ev->reply = ev->meta = "";
	ev->uid = ev->gid = ev->pid = -1;
	switch (ev->type) {
	case UDSB_EV_MSG:
		ev->topic = str[0];
		ev->topic_len = rec.len[0];
		ev->payload = str[1];
		ev->payload_len = rec.len[1];
		ev->retained = (int)rec.retained;
		ev->meta = str[2];
		ev->via = str[3];
		ev->reply = str[4];
		ev->uid = rec.uid;
		ev->gid = rec.gid;
		ev->pid = rec.pid;
		break;
	case UDSB_EV_ERROR:
		ev->code = str[0];
		ev->text = str[1];
		break;
	case UDSB_EV_BYE:
	case UDSB_EV_UNKNOWN:
		ev->text = str[0];
		break;
	case UDSB_EV_RECONNECTED:
		ev->text = str[0];
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
