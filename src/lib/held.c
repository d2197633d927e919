/* What a connection holds at the broker -- its filters, its will, its meta
 * option -- remembered once the broker confirmed them, so that automatic
 * reconnect (reconnect.c) can set them again. Bounded by what the broker
 * accepted (max_subscriptions). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The index of filter in h, or h->nfilters when it is not held. */
static size_t
find_filter(const struct held *h, const char *filter)
{
	size_t i;

	for (i = 0; i < h->nfilters; i++)
		if (strcmp(h->filters[i], filter) == 0)
			break;
	return i;
}

/* Remembers a filter the broker answered OK to (once). Returns 0, or -1
 * when out of memory (not remembered). */
int
held_add_filter(struct held *h, const char *filter)
{
	char *copy;

	if (find_filter(h, filter) < h->nfilters)
		return 0;
	if (h->nfilters == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		char **f = realloc(h->filters, cap * sizeof *f);

		if (f == NULL)
			return -1;
		h->filters = f;
		h->cap = cap;
	}
	if ((copy = strdup(filter)) == NULL)
		return -1;
	h->filters[h->nfilters++] = copy;
	return 0;
}

/* Forgets a filter the broker answered OK to UNSUB of, keeping the order of
 * the others. */
void
held_remove_filter(struct held *h, const char *filter)
{
	size_t i = find_filter(h, filter);

	if (i == h->nfilters)
		return;
	free(h->filters[i]);
	memmove(h->filters + i, h->filters + i + 1, (h->nfilters - i - 1) * sizeof *h->filters);
	h->nfilters--;
}

/* Remembers the WILL line (with its '\n') the broker answered OK to; NULL
 * clears it. Returns 0, or -1 when out of memory (the old one is kept). */
int
held_set_will(struct held *h, const char *line, size_t len)
{
	char *copy = NULL;

	if (line != NULL && (copy = malloc(len)) == NULL)
		return -1;
	if (copy != NULL)
		memcpy(copy, line, len);
	free(h->will_line);
	h->will_line = copy;
	h->will_len = copy != NULL ? len : 0;
	return 0;
}

void
held_free(struct held *h)
{
	for (size_t i = 0; i < h->nfilters; i++)
		free(h->filters[i]);
	free(h->filters);
	free(h->will_line);
	memset(h, 0, sizeof *h);
}
