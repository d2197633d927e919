/*
 * The echo window; see bridgeecho.h. The ring says which messages are in
 * the window, in order; the table counts, per hash, those not yet echoed
 * (live) and those echoed (taken). When a hash leaves the window it was
 * one of either: identical messages are interchangeable, so a taken one
 * is forgotten first.
 */
#include "bridgeecho.h"

#include <stdlib.h>
#include <string.h>

/* The keyed hash of topic and payload; never 0 (the empty slot). */
static uint64_t
hash_of(const struct bridge_echo *e, const char *topic, size_t tlen, const void *payload,
        size_t plen)
{
	uint64_t h[2] = { siphash13(&e->key, topic, tlen), siphash13(&e->key, payload, plen) };
	uint64_t v = siphash13(&e->key, h, sizeof h);

	return v != 0 ? v : 1;
}

int
bridge_echo_init(struct bridge_echo *e, uint32_t cap)
{
	memset(e, 0, sizeof *e);
	e->cap = cap;
	e->tabcap = 4;
	while (e->tabcap < cap * 2)
		e->tabcap *= 2;
	e->ring = calloc(cap, sizeof *e->ring);
	e->tab = calloc(e->tabcap, sizeof *e->tab);
	if (e->ring == NULL || e->tab == NULL) {
		bridge_echo_free(e);
		return -1;
	}
	siphash_random_key(&e->key);
	return 0;
}

void
bridge_echo_free(struct bridge_echo *e)
{
	free(e->ring);
	free(e->tab);
	memset(e, 0, sizeof *e);
}

/* The slot of hash h, or the first free one for it (a tombstone of the
 * same hash is its own slot). */
static struct echo_slot *
slot(struct bridge_echo *e, uint64_t h)
{
	uint32_t mask = e->tabcap - 1;

	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask)
		if (e->tab[i].hash == h || e->tab[i].hash == 0)
			return &e->tab[i];
}

/* Drops the tombstones: the slots of hashes no longer in the window. */
static void
rehash(struct bridge_echo *e)
{
	struct echo_slot *old = e->tab;
	struct echo_slot *tab = calloc(e->tabcap, sizeof *tab);

	if (tab == NULL)
		return; /* keep the old one: still right, only fuller */
	e->tab = tab;
	e->used = 0;
	for (uint32_t i = 0; i < e->tabcap; i++) {
		if (old[i].hash != 0 && (old[i].live > 0 || old[i].taken > 0)) {
			*slot(e, old[i].hash) = old[i];
			e->used++;
		}
	}
	free(old);
}

void
bridge_echo_sent(struct bridge_echo *e, const char *topic, size_t tlen, const void *payload,
                 size_t plen)
{
	uint64_t h;
	struct echo_slot *s;

	if (e->cap == 0)
		return;
	if (e->count == e->cap) {
		/* The oldest leaves the window. */
		s = slot(e, e->ring[e->head]);
		if (s->taken > 0)
			s->taken--;
		else if (s->live > 0)
			s->live--;
		e->head = (e->head + 1) % e->cap;
		e->count--;
	}
	if (e->used + 1 > e->tabcap / 4 * 3)
		rehash(e);
	h = hash_of(e, topic, tlen, payload, plen);
	s = slot(e, h);
	if (s->hash == 0) {
		if (e->used + 1 >= e->tabcap)
			return; /* full of tombstones and no memory to clear them */
		s->hash = h;
		e->used++;
	}
	s->live++;
	e->ring[(e->head + e->count) % e->cap] = h;
	e->count++;
}

bool
bridge_echo_take(struct bridge_echo *e, const char *topic, size_t tlen, const void *payload,
                 size_t plen)
{
	struct echo_slot *s;

	if (e->cap == 0 || e->count == 0)
		return false;
	s = slot(e, hash_of(e, topic, tlen, payload, plen));
	if (s->hash == 0 || s->live == 0)
		return false;
	s->live--;
	s->taken++;
	return true;
}
