/*
 * Connected clients per uid, for max_clients_per_uid: a small hash map,
 * so admitting a client costs O(1), not a walk over every client.
 */
#ifndef UDSB_UIDCOUNT_H
#define UDSB_UIDCOUNT_H

#include <stddef.h>
#include <sys/types.h>

struct uidcount {
	struct uidentry *entries; /* open addressing, linear probing */
	size_t cap;               /* a power of two, or 0 */
	size_t used;              /* uids with a count above 0 */
};

/* The number of clients of uid. */
unsigned uidcount_get(const struct uidcount *u, uid_t uid);

/* One more client of uid. Returns 0, or -1 if out of memory. */
int uidcount_add(struct uidcount *u, uid_t uid);

/* One client of uid less (it must have been added). */
void uidcount_remove(struct uidcount *u, uid_t uid);

void uidcount_free(struct uidcount *u);

#endif
