/* A bridge's queue of outgoing messages; see bridgequeue.h. */
#include "bridgequeue.h"

#include <stdlib.h>
#include <string.h>

void
bq_init(struct bridge_queue *q, size_t limit)
{
	memset(q, 0, sizeof *q);
	q->limit = limit;
}

void
bq_clear(struct bridge_queue *q)
{
	struct bq_entry *e, *next;

	for (e = q->head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	q->head = q->tail = q->last_handed = NULL;
	q->bytes = q->count = q->handed = 0;
}

/* Bytes e counts for. */
static size_t
cost(const struct bq_entry *e)
{
	return BQ_COST(e->tlen, e->plen);
}

/* Unlinks e, which follows prev (NULL: e is the head), and frees it. */
static void
unlink_entry(struct bridge_queue *q, struct bq_entry *prev, struct bq_entry *e)
{
	if (prev == NULL)
		q->head = e->next;
	else
		prev->next = e->next;
	if (q->tail == e)
		q->tail = prev;
	if (q->last_handed == e)
		q->last_handed = prev;
	if (e->handed)
		q->handed--;
	q->bytes -= cost(e);
	q->count--;
	free(e);
}

/* Drops the oldest message not handed. Returns false if there is none. */
static bool
drop_oldest_waiting(struct bridge_queue *q)
{
	struct bq_entry *prev = q->last_handed;
	struct bq_entry *e = prev != NULL ? prev->next : q->head;

	if (e == NULL)
		return false;
	unlink_entry(q, prev, e);
	q->dropped++;
	return true;
}

unsigned
bq_push(struct bridge_queue *q, const char *prefix, size_t prelen, const char *topic, size_t tlen,
        const void *payload, size_t plen, bool retain)
{
	size_t need = BQ_COST(prelen + tlen, plen);
	unsigned dropped = 0;
	struct bq_entry *e;

	if (need > q->limit || prelen + tlen > UINT32_MAX || plen > UINT32_MAX) {
		q->dropped++;
		return 1;
	}
	while (q->bytes + need > q->limit) {
		if (!drop_oldest_waiting(q)) {
			q->dropped++; /* all of it is in flight: this one goes */
			return dropped + 1;
		}
		dropped++;
	}
	if ((e = malloc(need)) == NULL) {
		q->dropped++;
		return dropped + 1;
	}
	memset(e, 0, sizeof *e);
	e->retain = retain;
	e->tlen = (uint32_t)(prelen + tlen);
	e->plen = (uint32_t)plen;
	if (prelen > 0)
		memcpy(e->data, prefix, prelen);
	memcpy(e->data + prelen, topic, tlen);
	e->data[e->tlen] = '\0';
	if (plen > 0)
		memcpy(e->data + e->tlen + 1, payload, plen);
	if (q->tail != NULL)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->bytes += need;
	q->count++;
	return dropped;
}

struct bq_entry *
bq_next(struct bridge_queue *q)
{
	return q->last_handed != NULL ? q->last_handed->next : q->head;
}

void
bq_handed(struct bridge_queue *q, struct bq_entry *e, int mid)
{
	e->handed = true;
	e->mid = mid;
	q->last_handed = e;
	q->handed++;
}

bool
bq_done(struct bridge_queue *q, int mid)
{
	struct bq_entry *e;
	bool found = false;

	for (e = q->head; e != NULL && e->handed; e = e->next) {
		if (e->mid == mid && !e->done) {
			e->done = true;
			found = true;
			break;
		}
	}
	while (q->head != NULL && q->head->done)
		unlink_entry(q, NULL, q->head);
	return found;
}

void
bq_unhand(struct bridge_queue *q)
{
	struct bq_entry *e, *prev = NULL, *next;

	for (e = q->head; e != NULL && e->handed; e = next) {
		next = e->next;
		if (e->done) {
			unlink_entry(q, prev, e);
			continue;
		}
		e->handed = false;
		e->mid = 0;
		prev = e;
	}
	q->last_handed = NULL;
	q->handed = 0;
}
