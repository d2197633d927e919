/* Clients per uid; see uidcount.h. */
#include "uidcount.h"

#include <stdlib.h>
#include <string.h>

struct uidentry {
	uid_t uid;
	unsigned count; /* 0: a free slot */
};

/* The slot of uid, or the free one where it would go. */
static struct uidentry *
slot(const struct uidcount *u, uid_t uid)
{
	size_t i = ((size_t)uid * 0x9e3779b97f4a7c15ull) & (u->cap - 1);

	while (u->entries[i].count != 0 && u->entries[i].uid != uid)
		i = (i + 1) & (u->cap - 1);
	return &u->entries[i];
}

unsigned
uidcount_get(const struct uidcount *u, uid_t uid)
{
	return u->cap == 0 ? 0 : slot(u, uid)->count;
}

/* Doubles the table (or makes one of 16 slots). Returns 0 or -1. */
static int
grow(struct uidcount *u)
{
	struct uidcount bigger = { NULL, u->cap ? u->cap * 2 : 16, 0 };

	if ((bigger.entries = calloc(bigger.cap, sizeof *bigger.entries)) == NULL)
		return -1;
	for (size_t i = 0; i < u->cap; i++)
		if (u->entries[i].count != 0) {
			*slot(&bigger, u->entries[i].uid) = u->entries[i];
			bigger.used++;
		}
	free(u->entries);
	*u = bigger;
	return 0;
}

int
uidcount_add(struct uidcount *u, uid_t uid)
{
	struct uidentry *e;

	if ((u->used + 1) * 2 > u->cap && grow(u) < 0)
		return -1;
	e = slot(u, uid);
	if (e->count++ == 0) {
		e->uid = uid;
		u->used++;
	}
	return 0;
}

void
uidcount_remove(struct uidcount *u, uid_t uid)
{
	struct uidentry *e = slot(u, uid);
	size_t i, j;

	if (e->count == 0 || --e->count > 0)
		return;
	u->used--;
	/* Close the gap, so no probe stops short of an entry past it. */
	i = (size_t)(e - u->entries);
	for (j = (i + 1) & (u->cap - 1); u->entries[j].count != 0; j = (j + 1) & (u->cap - 1)) {
		struct uidentry moved = u->entries[j];

		u->entries[j].count = 0;
		*slot(u, moved.uid) = moved;
	}
}

void
uidcount_free(struct uidcount *u)
{
	free(u->entries);
	memset(u, 0, sizeof *u);
}
