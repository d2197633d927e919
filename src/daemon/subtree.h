/*
 * The subscription tree: filters stored level by level, children of a node
 * in a hash table keyed by the level's text, with '+' and '#' children kept
 * apart. Matching a topic costs O(levels of the topic x wildcard branches),
 * never O(number of subscriptions).
 */
#ifndef UDSB_SUBTREE_H
#define UDSB_SUBTREE_H

#include <stddef.h>

struct subtree;
struct subnode;

/* One (owner, filter) pair, owned by the tree. */
struct subscription {
	struct subnode *node;        /* the filter's node */
	void *owner;                 /* the broker's client */
	struct subscription *prev;   /* in the node's list of subscriptions */
	struct subscription *next;
};

/* Called for each matching subscription; may be called more than once for
 * one owner when several of its filters match. */
typedef void subtree_match_cb(struct subscription *sub, void *arg);

struct subtree *subtree_new(void);

/* Frees the tree and every subscription still in it. */
void subtree_free(struct subtree *tree);

/* Adds a subscription of owner to a valid filter. Does not check for
 * duplicates (see subtree_find). Returns NULL if out of memory. */
struct subscription *subtree_add(struct subtree *tree, const char *filter,
                                 size_t len, void *owner);

/* Removes and frees sub, pruning nodes left empty. */
void subtree_remove(struct subtree *tree, struct subscription *sub);

/* The node of filter if any subscription holds it, else NULL. */
struct subnode *subtree_find(const struct subtree *tree, const char *filter, size_t len);

/* Calls cb for every subscription whose filter matches the valid topic.
 * The callback must not add or remove subscriptions (the broker only
 * removes those of dead clients, from its reaper). Returns the number of
 * calls. */
size_t subtree_match(const struct subtree *tree, const char *topic, size_t len,
                     subtree_match_cb *cb, void *arg);

/* Writes the filter that names node n into buf (not NUL-terminated).
 * Returns its length, or 0 if it does not fit in size bytes. */
size_t subtree_filter(const struct subnode *n, char *buf, size_t size);

/* Number of subscriptions in the tree. */
size_t subtree_count(const struct subtree *tree);

#endif
