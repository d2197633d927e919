/*
 * The subscription index, both halves of it.
 *
 * Filter -> subscriptions: filters stored level by level, the literal
 * children of a node in a hash table keyed by the level's text, '+' and '#'
 * children kept apart. Matching a topic costs O(levels of the topic x
 * wildcard branches), never O(number of subscriptions).
 *
 * Owner -> subscriptions: each owner embeds a struct subowner listing its
 * subscriptions, and every (filter node, owner) pair is hashed, so finding,
 * adding or removing one subscription of an owner costs O(levels of the
 * filter), however many the owner holds, and dropping an owner costs its
 * own subscriptions.
 *
 * Every hash is keyed with a random per-tree key (SipHash), so names
 * crafted to collide cost what random ones do.
 *
 * Owners are opaque to the tree beyond their struct subowner (the broker's
 * subscribers embed one).
 */
#ifndef UDSB_SUBTREE_H
#define UDSB_SUBTREE_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key;
struct subtree;
struct subnode;

/* The owner's half of the index, kept inside each owner. */
struct subowner {
	struct subscription *subs; /* its list, newest first */
	size_t count;
};

/* One (owner, filter) pair, owned by the tree. */
struct subscription {
	struct subnode *node; /* the filter's node */
	struct subowner *owner;
	struct subscription *prev, *next; /* in the node's list */
	struct subscription *owner_prev;  /* in the owner's list */
	struct subscription *owner_next;
	struct subscription *hnext; /* in the (node, owner) index */
};

/* Called for each matching subscription; may be called more than once for
 * one owner when several of its filters match. */
typedef void subtree_match_cb(struct subscription *sub, void *arg);

/* A tree keyed with a random key; NULL if out of memory. */
struct subtree *subtree_new(void);

/* The same with a chosen key (tests). */
struct subtree *subtree_new_keyed(const struct siphash_key *key);

/* Frees the tree and every subscription still in it; their owners are
 * left holding none. */
void subtree_free(struct subtree *tree);

/* Adds a subscription of owner to a valid filter. Does not check for
 * duplicates (see subtree_lookup). Returns NULL if out of memory. */
struct subscription *subtree_add(struct subtree *tree, const char *filter, size_t len,
                                 struct subowner *owner);

/* Removes and frees sub, pruning nodes left empty. */
void subtree_remove(struct subtree *tree, struct subscription *sub);

/* owner's subscription to filter, or NULL. O(levels). */
struct subscription *subtree_lookup(const struct subtree *tree, const char *filter, size_t len,
                                    const struct subowner *owner);

/* Removes every subscription of owner. */
void subtree_remove_owner(struct subtree *tree, struct subowner *owner);

/* (An owner's subscriptions: owner->subs, then follow owner_next; how many:
 * owner->count.) */

/* The node of filter if any subscription holds it, else NULL. */
struct subnode *subtree_find(const struct subtree *tree, const char *filter, size_t len);

/* Calls cb for every subscription whose filter matches the valid topic.
 * The callback must not add or remove subscriptions (the broker only
 * removes those of dead subscribers, from its reaper). Returns the number
 * of calls. */
size_t subtree_match(const struct subtree *tree, const char *topic, size_t len,
                     subtree_match_cb *cb, void *arg);

/* Writes the filter that names node n into buf (not NUL-terminated).
 * Returns its length, or 0 if it does not fit in size bytes. */
size_t subtree_filter(const struct subnode *n, char *buf, size_t size);

/* Number of subscriptions in the tree. */
size_t subtree_count(const struct subtree *tree);

/* A number that changes whenever a subscription is added or removed: a
 * match result is still right while it stays the same. */
uint64_t subtree_generation(const struct subtree *tree);

/* The longest chain in the literal-children hash tables (tests: crafted
 * names must not pile up in one bucket). */
size_t subtree_longest_chain(const struct subtree *tree);

#endif
