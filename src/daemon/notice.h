/*
 * Operator notices: what happened to a client, said at info level without
 * flooding the log. Per kind, the first occurrence is logged when it
 * happens; later ones within NOTICE_INTERVAL_MS of the last line are only
 * counted, and the count goes out with the next line of that kind, or
 * with the client's last words when it closes.
 */
#ifndef UDSB_NOTICE_H
#define UDSB_NOTICE_H

#include <stdbool.h>
#include <stdint.h>

#define NOTICE_INTERVAL_MS 10000

enum notice_kind {
	NOTICE_DROPPED, /* messages dropped for a slow consumer */
	NOTICE_DENIED,  /* requests the access rules refused */
	NOTICE_REFUSED, /* connections refused (the broker's own) */
	NOTICE_KINDS,
};

/* Made on the first occurrence of anything: most clients never need one. */
struct notices {
	int64_t last_ms[NOTICE_KINDS]; /* when a line of each kind was last logged */
	uint64_t held[NOTICE_KINDS];   /* occurrences since, not yet told */
	bool said[NOTICE_KINDS];       /* a line of that kind was logged */
};

/* One more occurrence of kind k at now_ms (*n is made if NULL). Returns
 * true if a line is due now; *held is then how many went untold before
 * this one. Out of memory, every occurrence is due. */
bool notice_due(struct notices **n, enum notice_kind k, int64_t now_ms, uint64_t *held);

/* The occurrences of kind k not told yet, and forgets them. */
uint64_t notice_take(struct notices *n, enum notice_kind k);

void notice_free(struct notices *n);

#endif
