/* Rate-limited operator notices; see notice.h. */
#include "notice.h"

#include <stdlib.h>

bool
notice_due(struct notices **np, enum notice_kind k, int64_t now_ms, uint64_t *held)
{
	struct notices *n = *np;

	*held = 0;
	if (n == NULL && (n = *np = calloc(1, sizeof *n)) == NULL)
		return true;
	if (n->said[k] && now_ms - n->last_ms[k] < NOTICE_INTERVAL_MS) {
		n->held[k]++;
		return false;
	}
	*held = n->held[k];
	n->held[k] = 0;
	n->said[k] = true;
	n->last_ms[k] = now_ms;
	return true;
}

uint64_t
notice_take(struct notices *n, enum notice_kind k)
{
	uint64_t held;

	if (n == NULL)
		return 0;
	held = n->held[k];
	n->held[k] = 0;
	return held;
}

void
notice_free(struct notices *n)
{
	free(n);
}
