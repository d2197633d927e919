/*
 * Reply topics of request/reply: "$reply/<token>", one per REQ, each
 * leading back to the session that asked. The token is 64 random bits
 * (getrandom), the capability to answer: nobody can subscribe to these
 * topics, and a message to one reaches its requester only.
 */
#ifndef UDSB_REPLIES_H
#define UDSB_REPLIES_H

#include <stddef.h>
#include <stdint.h>

struct session;

/* The tokens of one owner, kept in the owner. */
struct reply_list {
	struct reply *first;
	unsigned count;
};

struct replies {
	struct reply **buckets;
	size_t nbuckets; /* a power of two, or 0 */
	size_t count;
};

/* "$reply/" and the 16 hex digits of a token. */
#define REPLY_PREFIX    "$reply/"
#define REPLY_TOPIC_LEN (sizeof REPLY_PREFIX - 1 + 16)

/* A new token owned by s (listed in *list), its topic written into topic
 * (REPLY_TOPIC_LEN + 1 bytes, NUL-terminated). Returns 0, or -1 if out of
 * memory or randomness. */
int replies_add(struct replies *r, struct session *s, struct reply_list *list, char *topic);

/* The session a reply topic leads to, or NULL (unknown, expired, or not a
 * reply topic at all). */
struct session *replies_find(const struct replies *r, const char *topic, size_t len);

/* Drops the reply topic of list's owner; returns 0, or -1 if it held none
 * by that name. */
int replies_remove(struct replies *r, struct reply_list *list, const char *topic, size_t len);

/* Drops every reply topic in list (its owner is leaving). */
void replies_remove_all(struct replies *r, struct reply_list *list);

void replies_free(struct replies *r);

#endif
