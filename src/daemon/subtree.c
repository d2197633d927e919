/*
 * The subscription index; see subtree.h.
 *
 * Each node is one level of some filter. Literal children sit in a chained
 * hash table keyed by their level text; the '+' and '#' children have their
 * own pointers, so matching a topic looks up one literal child per level and
 * follows '+' and '#' where they exist. Matching is iterative, with a stack
 * kept in the tree, so a topic with thousands of levels cannot overflow the
 * C stack.
 *
 * The owner half is each owner's own list, and one chained hash table
 * (node, owner) -> subscription. Both kinds of table hash with the tree's
 * SipHash key.
 */
#include "subtree.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* The children of a node; most nodes are leaves (a client's own topic)
 * and have none, so they live apart. */
struct subkids {
	struct subnode **buckets; /* literal children; NULL when none */
	uint32_t nbuckets;        /* a power of two */
	uint32_t nchildren;       /* literal children */
	struct subnode *plus;     /* the '+' child */
	struct subnode *hash;     /* the '#' child */
};

struct subnode {
	struct subnode *parent;
	struct subnode *hnext;     /* next in the parent's bucket */
	struct subkids *kids;      /* NULL while it has no child */
	struct subscription *subs; /* subscriptions whose filter ends here */
	uint32_t hashval;
	uint32_t len;
	char level[]; /* this level's text, not NUL-terminated */
};

/* A pending branch of a match: node reached, offset of the next level. */
struct frame {
	const struct subnode *node;
	size_t level; /* the topic's next level; nlevels once all are consumed */
};

/* One level of the topic being matched, hashed once for every branch. */
struct level {
	const char *text;
	size_t len;
	uint32_t hash;
};

struct subtree {
	struct subnode *root;
	size_t count;
	struct frame *stack;  /* reused by every match */
	struct level *levels; /* likewise: the topic's levels */
	size_t stack_cap;
	struct siphash_key key;
	struct subscription **pairs; /* (node, owner) -> subscription */
	size_t npairs_buckets;       /* a power of two, or 0 */
	uint64_t generation;         /* bumped by every add and remove */
};

/* The keyed hash of a level. */
static uint32_t
level_hash(const struct subtree *t, const char *s, size_t len)
{
	return (uint32_t)siphash13(&t->key, s, len);
}

/* The keyed hash of a pointer pair (the second may be NULL). */
static uint64_t
ptr_hash(const struct subtree *t, const void *a, const void *b)
{
	const void *p[2] = { a, b };

	return siphash13(&t->key, p, sizeof p);
}

/* The bucket of (node, owner) in the pair table. */
static size_t
pair_bucket(const struct subtree *t, const struct subnode *node, const struct subowner *owner)
{
	return ptr_hash(t, node, owner) & (t->npairs_buckets - 1);
}

/* Doubles the pair table (or makes one of 16 buckets). The table is kept
 * at most one entry per bucket on average; if growing fails it only gets
 * slower. */
static void
pairs_grow(struct subtree *t)
{
	size_t n = t->npairs_buckets, cap = n ? n * 2 : 16;
	struct subscription **old = t->pairs, **b = calloc(cap, sizeof *b);

	if (b == NULL)
		return;
	t->pairs = b;
	t->npairs_buckets = cap;
	for (size_t i = 0; i < n; i++) {
		for (struct subscription *s = old[i], *next; s != NULL; s = next) {
			size_t k = pair_bucket(t, s->node, s->owner);

			next = s->hnext;
			s->hnext = b[k];
			b[k] = s;
		}
	}
	free(old);
}

/* Puts s in the (node, owner) index; false if there is no table. */
static bool
pair_insert(struct subtree *t, struct subscription *s)
{
	struct subscription **slot;

	if (t->count >= t->npairs_buckets)
		pairs_grow(t);
	if (t->npairs_buckets == 0)
		return false;
	slot = &t->pairs[pair_bucket(t, s->node, s->owner)];
	s->hnext = *slot;
	*slot = s;
	return true;
}

/* Takes s out of the (node, owner) index. */
static void
pair_remove(struct subtree *t, struct subscription *s)
{
	struct subscription **pp = &t->pairs[pair_bucket(t, s->node, s->owner)];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
}

static struct subnode *
node_new(struct subnode *parent, const char *level, size_t len, uint32_t hashval)
{
	struct subnode *n = calloc(1, sizeof *n + len);

	if (n == NULL)
		return NULL;
	n->parent = parent;
	n->hashval = hashval;
	n->len = (uint32_t)len;
	memcpy(n->level, level, len);
	return n;
}

static bool
kids_empty(const struct subkids *k)
{
	return k == NULL || (k->nchildren == 0 && k->plus == NULL && k->hash == NULL);
}

static bool
node_is_empty(const struct subnode *n)
{
	return n->subs == NULL && kids_empty(n->kids);
}

/* The '+' and '#' children of n, or NULL. */
static struct subnode *
plus_of(const struct subnode *n)
{
	return n->kids != NULL ? n->kids->plus : NULL;
}

static struct subnode *
hash_of(const struct subnode *n)
{
	return n->kids != NULL ? n->kids->hash : NULL;
}

/* The literal child of n for a level, or NULL. */
static struct subnode *
child_find(const struct subnode *n, const char *level, size_t len, uint32_t h)
{
	const struct subkids *k = n->kids;
	struct subnode *c;

	if (k == NULL || k->nbuckets == 0)
		return NULL;
	for (c = k->buckets[h & (k->nbuckets - 1)]; c != NULL; c = c->hnext)
		if (c->hashval == h && c->len == len && memcmp(c->level, level, len) == 0)
			return c;
	return NULL;
}

/* Doubles the bucket array of k (or creates it). Returns -1 if
 * out of memory. */
static int
buckets_grow(struct subkids *k)
{
	uint32_t cap = k->nbuckets ? k->nbuckets * 2 : 4;
	struct subnode **b = calloc(cap, sizeof *b);

	if (b == NULL)
		return -1;
	for (uint32_t i = 0; i < k->nbuckets; i++) {
		struct subnode *c = k->buckets[i], *next;

		for (; c != NULL; c = next) {
			next = c->hnext;
			c->hnext = b[c->hashval & (cap - 1)];
			b[c->hashval & (cap - 1)] = c;
		}
	}
	free(k->buckets);
	k->buckets = b;
	k->nbuckets = cap;
	return 0;
}

/* The child of n for a level, created if missing; NULL if out of memory. */
static struct subnode *
child_get(const struct subtree *t, struct subnode *n, const char *level, size_t len)
{
	uint32_t h = level_hash(t, level, len);
	struct subnode *c, **slot;
	struct subkids *k;

	if ((c = child_find(n, level, len, h)) != NULL)
		return c;
	/* (Left empty if what follows fails: node_is_empty still holds.) */
	if (n->kids == NULL && (n->kids = calloc(1, sizeof *n->kids)) == NULL)
		return NULL;
	k = n->kids;
	if (len == 1 && (level[0] == '+' || level[0] == '#')) {
		slot = level[0] == '+' ? &k->plus : &k->hash;
		if (*slot == NULL)
			*slot = node_new(n, level, len, h);
		return *slot;
	}
	if (k->nchildren >= k->nbuckets && buckets_grow(k) < 0)
		return NULL;
	if ((c = node_new(n, level, len, h)) == NULL)
		return NULL;
	c->hnext = k->buckets[h & (k->nbuckets - 1)];
	k->buckets[h & (k->nbuckets - 1)] = c;
	k->nchildren++;
	return c;
}

/* Frees the children of n, which has none left. */
static void
kids_free(struct subnode *n)
{
	if (n->kids != NULL)
		free(n->kids->buckets);
	free(n->kids);
	n->kids = NULL;
}

/* Unlinks the empty node n from its parent and frees it. */
static void
child_remove(struct subnode *n)
{
	struct subnode *p = n->parent, **pp;
	struct subkids *k = p->kids;

	if (k->plus == n)
		k->plus = NULL;
	else if (k->hash == n)
		k->hash = NULL;
	else {
		pp = &k->buckets[n->hashval & (k->nbuckets - 1)];
		while (*pp != n)
			pp = &(*pp)->hnext;
		*pp = n->hnext;
		if (--k->nchildren == 0) {
			free(k->buckets);
			k->buckets = NULL;
			k->nbuckets = 0;
		}
	}
	if (kids_empty(k))
		kids_free(p);
	kids_free(n);
	free(n);
}

/* Frees n, its subtree and their subscriptions, leaving their owners
 * holding none. */
static void
node_free_all(struct subnode *n)
{
	struct subscription *s, *next;

	if (n == NULL)
		return;
	for (uint32_t i = 0; n->kids != NULL && i < n->kids->nbuckets; i++) {
		struct subnode *c = n->kids->buckets[i], *cnext;

		for (; c != NULL; c = cnext) {
			cnext = c->hnext;
			node_free_all(c);
		}
	}
	node_free_all(plus_of(n));
	node_free_all(hash_of(n));
	for (s = n->subs; s != NULL; s = next) {
		next = s->next;
		s->owner->subs = NULL; /* the owners outlive the tree */
		s->owner->count = 0;
		free(s);
	}
	kids_free(n);
	free(n);
}

struct subtree *
subtree_new_keyed(const struct siphash_key *key)
{
	struct subtree *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	if ((t->root = node_new(NULL, "", 0, 0)) == NULL) {
		free(t);
		return NULL;
	}
	t->key = *key;
	return t;
}

struct subtree *
subtree_new(void)
{
	struct siphash_key key;

	siphash_random_key(&key);
	return subtree_new_keyed(&key);
}

void
subtree_free(struct subtree *t)
{
	if (t == NULL)
		return;
	node_free_all(t->root);
	free(t->pairs);
	free(t->stack);
	free(t->levels);
	free(t);
}

/* Follows the levels of filter s from n: the node it names, or NULL if
 * there is none (create: if out of memory). *last is the deepest node
 * reached. */
static struct subnode *
walk(const struct subtree *t, struct subnode *n, const char *s, size_t len, bool create,
     struct subnode **last)
{
	size_t pos = 0;

	for (;;) {
		*last = n;
		const char *slash = memchr(s + pos, '/', len - pos);
		size_t llen = slash ? (size_t)(slash - (s + pos)) : len - pos;

		if (create)
			n = child_get(t, n, s + pos, llen);
		else if (llen == 1 && s[pos] == '+')
			n = plus_of(n);
		else if (llen == 1 && s[pos] == '#')
			n = hash_of(n);
		else
			n = child_find(n, s + pos, llen, level_hash(t, s + pos, llen));
		if (n == NULL || slash == NULL)
			return n;
		pos += llen + 1;
	}
}

/* Removes the empty nodes from n up towards the root. */
static void
prune(struct subtree *t, struct subnode *n)
{
	while (n != t->root && node_is_empty(n)) {
		struct subnode *parent = n->parent;

		child_remove(n);
		n = parent;
	}
}

struct subscription *
subtree_add(struct subtree *t, const char *filter, size_t len, struct subowner *o)
{
	struct subnode *last, *n = walk(t, t->root, filter, len, true, &last);
	struct subscription *s = NULL;

	if (n == NULL || (s = calloc(1, sizeof *s)) == NULL)
		goto oom;
	s->node = n;
	s->owner = o;
	if (!pair_insert(t, s))
		goto oom;
	s->next = n->subs;
	if (n->subs != NULL)
		n->subs->prev = s;
	n->subs = s;
	s->owner_next = o->subs;
	if (o->subs != NULL)
		o->subs->owner_prev = s;
	o->subs = s;
	o->count++;
	t->count++;
	t->generation++;
	return s;
oom:
	/* Out of memory part way: drop the nodes made for nothing. */
	free(s);
	prune(t, n != NULL ? n : last);
	return NULL;
}

void
subtree_remove(struct subtree *t, struct subscription *s)
{
	struct subnode *n = s->node;
	struct subowner *o = s->owner;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		n->subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->owner_prev != NULL)
		s->owner_prev->owner_next = s->owner_next;
	else
		o->subs = s->owner_next;
	if (s->owner_next != NULL)
		s->owner_next->owner_prev = s->owner_prev;
	o->count--;
	pair_remove(t, s);
	free(s);
	t->count--;
	t->generation++;
	prune(t, n);
}

struct subscription *
subtree_lookup(const struct subtree *t, const char *filter, size_t len, const struct subowner *o)
{
	struct subnode *last, *n = walk(t, t->root, filter, len, false, &last);

	if (n == NULL || n->subs == NULL)
		return NULL;
	for (struct subscription *s = t->pairs[pair_bucket(t, n, o)]; s != NULL; s = s->hnext)
		if (s->node == n && s->owner == o)
			return s;
	return NULL;
}

void
subtree_remove_owner(struct subtree *t, struct subowner *o)
{
	while (o->subs != NULL)
		subtree_remove(t, o->subs);
}

struct subnode *
subtree_find(const struct subtree *t, const char *filter, size_t len)
{
	struct subnode *last, *n = walk(t, t->root, filter, len, false, &last);

	return n != NULL && n->subs != NULL ? n : NULL;
}

/* Calls cb for every subscription of n. */
static size_t
deliver(const struct subnode *n, subtree_match_cb *cb, void *arg)
{
	size_t calls = 0;

	for (struct subscription *s = n->subs, *next; s != NULL; s = next) {
		next = s->next;
		cb(s, arg);
		calls++;
	}
	return calls;
}

/* Makes room for the deepest possible match of a topic of len bytes: each
 * level pushes at most two frames and pops one. */
static int
stack_reserve(struct subtree *t, size_t len)
{
	size_t need = len + 3;
	struct frame *s;
	struct level *l;

	if (need <= t->stack_cap)
		return 0;
	if ((s = realloc(t->stack, need * sizeof *s)) == NULL)
		return -1;
	t->stack = s;
	if ((l = realloc(t->levels, need * sizeof *l)) == NULL)
		return -1; /* stack_cap unchanged: the next match tries again */
	t->levels = l;
	t->stack_cap = need;
	return 0;
}

size_t
subtree_match(const struct subtree *ct, const char *topic, size_t len, subtree_match_cb *cb,
              void *arg)
{
	/* The stack and levels are scratch space, not part of the tree's
	 * logical state. */
	struct subtree *t = (struct subtree *)ct;
	size_t top = 0, calls = 0, nlevels = 0;
	bool reserved = len > 0 && topic[0] == '$';

	if (stack_reserve(t, len) < 0)
		return 0;
	for (size_t pos = 0;;) {
		const char *slash = memchr(topic + pos, '/', len - pos);
		size_t llen = slash ? (size_t)(slash - (topic + pos)) : len - pos;

		t->levels[nlevels++] =
		    (struct level){ topic + pos, llen, level_hash(t, topic + pos, llen) };
		if (slash == NULL)
			break;
		pos += llen + 1;
	}
	t->stack[top++] = (struct frame){ t->root, 0 };
	while (top > 0) {
		struct frame f = t->stack[--top];
		const struct subnode *n = f.node, *c, *hash = hash_of(f.node), *plus;
		const struct level *l;
		bool wild_ok = !(reserved && f.level == 0);

		if (f.level == nlevels) {
			/* Every level consumed: this node's filters match, and so
			 * does "x/#" for the parent "x". */
			calls += deliver(n, cb, arg);
			if (hash != NULL)
				calls += deliver(hash, cb, arg);
			continue;
		}
		if (n->kids == NULL)
			continue; /* a leaf, with levels left */
		plus = n->kids->plus;
		if (hash != NULL && wild_ok)
			calls += deliver(hash, cb, arg);
		if (plus != NULL && wild_ok)
			t->stack[top++] = (struct frame){ plus, f.level + 1 };
		l = &t->levels[f.level];
		if ((c = child_find(n, l->text, l->len, l->hash)) != NULL)
			t->stack[top++] = (struct frame){ c, f.level + 1 };
	}
	return calls;
}

size_t
subtree_filter(const struct subnode *n, char *buf, size_t size)
{
	size_t len = 0, pos;
	const struct subnode *m;

	for (m = n; m->parent != NULL; m = m->parent)
		len += m->len + (m != n);
	if (len > size || n->parent == NULL)
		return 0;
	/* Fill from the end: the deepest level goes last. */
	pos = len;
	for (m = n; m->parent != NULL; m = m->parent) {
		if (m != n)
			buf[--pos] = '/';
		pos -= m->len;
		memcpy(buf + pos, m->level, m->len);
	}
	return len;
}

size_t
subtree_count(const struct subtree *t)
{
	return t->count;
}

uint64_t
subtree_generation(const struct subtree *t)
{
	return t->generation;
}

/* The longest bucket chain under n. */
static size_t
longest_chain(const struct subnode *n)
{
	size_t longest = 0;

	if (n == NULL)
		return 0;
	for (uint32_t i = 0; n->kids != NULL && i < n->kids->nbuckets; i++) {
		size_t len = 0;

		for (const struct subnode *c = n->kids->buckets[i]; c != NULL; c = c->hnext) {
			size_t below = longest_chain(c);

			len++;
			if (below > longest)
				longest = below;
		}
		if (len > longest)
			longest = len;
	}
	for (int i = 0; i < 2; i++) {
		size_t below = longest_chain(i == 0 ? plus_of(n) : hash_of(n));

		if (below > longest)
			longest = below;
	}
	return longest;
}

size_t
subtree_longest_chain(const struct subtree *t)
{
	return longest_chain(t->root);
}
