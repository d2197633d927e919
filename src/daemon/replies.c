/* Reply topics; see replies.h. */
#include "replies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct reply {
	uint64_t token;
	struct session *owner;
	struct reply *hnext;      /* in its bucket */
	struct reply *owner_next; /* in its owner's list */
};

/* The bucket of a token (tokens are random: their low bits will do). */
static struct reply **
bucket(const struct replies *r, uint64_t token)
{
	return &r->buckets[token & (r->nbuckets - 1)];
}

/* The token a reply topic names; 0 if it names none. */
static uint64_t
parse_topic(const char *topic, size_t len)
{
	uint64_t t = 0;

	if (len != REPLY_TOPIC_LEN || memcmp(topic, REPLY_PREFIX, sizeof REPLY_PREFIX - 1) != 0)
		return 0;
	for (size_t i = sizeof REPLY_PREFIX - 1; i < len; i++) {
		char c = topic[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		                                    : 16;

		if (d == 16)
			return 0;
		t = t << 4 | d;
	}
	return t;
}

/* The reply of token, or NULL. */
static struct reply *
find(const struct replies *r, uint64_t token)
{
	if (r->nbuckets == 0 || token == 0)
		return NULL;
	for (struct reply *p = *bucket(r, token); p != NULL; p = p->hnext)
		if (p->token == token)
			return p;
	return NULL;
}

/* Doubles the table (or makes one); if that fails it only gets slower. */
static void
grow(struct replies *r)
{
	size_t cap = r->nbuckets ? r->nbuckets * 2 : 64;
	struct reply **b = calloc(cap, sizeof *b), **old = r->buckets;
	size_t n = r->nbuckets;

	if (b == NULL)
		return;
	r->buckets = b;
	r->nbuckets = cap;
	for (size_t i = 0; i < n; i++) {
		for (struct reply *p = old[i], *next; p != NULL; p = next) {
			next = p->hnext;
			p->hnext = *bucket(r, p->token);
			*bucket(r, p->token) = p;
		}
	}
	free(old);
}

int
replies_add(struct replies *r, struct session *s, struct reply_list *list, char *topic)
{
	struct reply *p;
	uint64_t token;

	if (r->count >= r->nbuckets)
		grow(r);
	if (r->nbuckets == 0)
		return -1;
	do {
		if (getrandom(&token, sizeof token, 0) != (ssize_t)sizeof token)
			return -1;
	} while (token == 0 || find(r, token) != NULL);
	if ((p = calloc(1, sizeof *p)) == NULL)
		return -1;
	p->token = token;
	p->owner = s;
	p->hnext = *bucket(r, token);
	*bucket(r, token) = p;
	p->owner_next = list->first;
	list->first = p;
	list->count++;
	r->count++;
	snprintf(topic, REPLY_TOPIC_LEN + 1, REPLY_PREFIX "%016llx", (unsigned long long)token);
	return 0;
}

struct session *
replies_find(const struct replies *r, const char *topic, size_t len)
{
	struct reply *p = find(r, parse_topic(topic, len));

	return p != NULL ? p->owner : NULL;
}

/* Unlinks p from the table and frees it (not from its owner's list). */
static void
drop(struct replies *r, struct reply *p)
{
	struct reply **pp = bucket(r, p->token);

	while (*pp != p)
		pp = &(*pp)->hnext;
	*pp = p->hnext;
	r->count--;
	free(p);
}

int
replies_remove(struct replies *r, struct reply_list *list, const char *topic, size_t len)
{
	uint64_t token = parse_topic(topic, len);

	for (struct reply **pp = &list->first; token != 0 && *pp != NULL; pp = &(*pp)->owner_next) {
		struct reply *p = *pp;

		if (p->token == token) {
			*pp = p->owner_next;
			list->count--;
			drop(r, p);
			return 0;
		}
	}
	return -1;
}

void
replies_remove_all(struct replies *r, struct reply_list *list)
{
	while (list->first != NULL) {
		struct reply *p = list->first;

		list->first = p->owner_next;
		drop(r, p);
	}
	list->count = 0;
}

void
replies_free(struct replies *r)
{
	for (size_t i = 0; i < r->nbuckets; i++) {
		for (struct reply *p = r->buckets[i], *next; p != NULL; p = next) {
			next = p->hnext;
			free(p);
		}
	}
	free(r->buckets);
	memset(r, 0, sizeof *r);
}
