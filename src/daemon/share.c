/*
 * Shared subscriptions; see share.h.
 *
 * The groups sit in one chained hash table keyed (SipHash, random key) by
 * their "$share/<group>/<filter>" text. A group is a struct subscriber
 * whose only op is pick, owner of its filter's subscription; its members
 * are an array of memberships, so picking costs O(1) while members keep
 * up and O(members) only when some are busy or closing. Leaving swaps the
 * last member into the gap.
 */
#include "share.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"
#include "subscriber.h"
#include "subtree.h"

struct share_group {
	struct subscriber sub; /* its side of the index */
	struct share_group *hnext;
	struct share_member **members;
	size_t nmembers, cap;
	size_t next;      /* the member whose turn it is */
	uint64_t hash;    /* of key */
	size_t filter_at; /* where the filter starts in key */
	size_t len;
	char key[]; /* "$share/<group>/<filter>" */
};

struct shares {
	struct subtree *tree;
	struct siphash_key key;
	struct share_group **buckets; /* a power of two of them, or none */
	size_t nbuckets;
	size_t ngroups;
	size_t nmembers;
};

enum share_syntax
share_parse(const char *arg, size_t len, const char **filter, size_t *flen)
{
	const size_t plen = sizeof SHARE_PREFIX - 1;
	const char *group, *slash;
	size_t glen;

	if (len < plen - 1 || memcmp(arg, SHARE_PREFIX, plen - 1) != 0 ||
	    (len > plen - 1 && arg[plen - 1] != '/'))
		return SHARE_NONE; /* neither "$share" nor "$share/..." */
	if (len <= plen)
		return SHARE_BAD;
	group = arg + plen;
	if ((slash = memchr(group, '/', len - plen)) == NULL)
		return SHARE_BAD; /* no filter */
	glen = (size_t)(slash - group);
	/* The filter was checked whole, so a wildcard is a level of its own. */
	if (glen == 0 || (glen == 1 && (group[0] == '+' || group[0] == '#')))
		return SHARE_BAD;
	*filter = slash + 1;
	*flen = len - plen - glen - 1;
	return *flen > 0 ? SHARE_OK : SHARE_BAD;
}

/* A group stands for its members: the one whose turn it is, unless it is
 * busy and another is not; closed ones are passed over. */
static struct subscriber *
pick(struct subscriber *sub)
{
	struct share_group *g = (struct share_group *)sub;
	size_t n = g->nmembers, i = g->next < n ? g->next : 0, fallback = n;

	for (size_t tries = 0; tries < n; tries++, i = i + 1 < n ? i + 1 : 0) {
		struct subscriber *m = g->members[i]->sub;

		if (m->closed)
			continue;
		if (!m->ops->busy(m)) {
			g->next = i + 1;
			return m;
		}
		if (fallback == n)
			fallback = i;
	}
	if (fallback == n)
		return NULL; /* nobody takes messages */
	/* Every member is busy: the one whose turn it is, under the policy. */
	g->next = fallback + 1;
	return g->members[fallback]->sub;
}

static struct subscriber *
sole(struct subscriber *sub)
{
	struct share_group *g = (struct share_group *)sub;

	return g->nmembers == 1 && !g->members[0]->sub->closed ? g->members[0]->sub : NULL;
}

static const struct subscriber_ops group_ops = {
	.pick = pick,
	.sole = sole,
};

struct shares *
shares_new(struct subtree *tree)
{
	struct shares *sh = calloc(1, sizeof *sh);

	if (sh == NULL)
		return NULL;
	sh->tree = tree;
	siphash_random_key(&sh->key);
	return sh;
}

static void
group_free(struct share_group *g)
{
	for (size_t i = 0; i < g->nmembers; i++)
		free(g->members[i]);
	free(g->members);
	free(g);
}

void
shares_free(struct shares *sh)
{
	if (sh == NULL)
		return;
	for (size_t i = 0; i < sh->nbuckets; i++) {
		for (struct share_group *g = sh->buckets[i], *next; g != NULL; g = next) {
			next = g->hnext;
			group_free(g);
		}
	}
	free(sh->buckets);
	free(sh);
}

/* The group keyed arg, or NULL; its hash in *hash. */
static struct share_group *
group_find(const struct shares *sh, const char *arg, size_t len, uint64_t *hash)
{
	*hash = siphash13(&sh->key, arg, len);
	if (sh->nbuckets == 0)
		return NULL;
	for (struct share_group *g = sh->buckets[*hash & (sh->nbuckets - 1)]; g != NULL;
	     g = g->hnext)
		if (g->hash == *hash && g->len == len && memcmp(g->key, arg, len) == 0)
			return g;
	return NULL;
}

/* Doubles the table (or makes one); if that fails it only gets slower. */
static void
table_grow(struct shares *sh)
{
	size_t cap = sh->nbuckets ? sh->nbuckets * 2 : 16;
	struct share_group **b = calloc(cap, sizeof *b);

	if (b == NULL)
		return;
	for (size_t i = 0; i < sh->nbuckets; i++) {
		for (struct share_group *g = sh->buckets[i], *next; g != NULL; g = next) {
			next = g->hnext;
			g->hnext = b[g->hash & (cap - 1)];
			b[g->hash & (cap - 1)] = g;
		}
	}
	free(sh->buckets);
	sh->buckets = b;
	sh->nbuckets = cap;
}

/* A new group for arg, in the table and the index; NULL if out of memory. */
static struct share_group *
group_new(struct shares *sh, const char *arg, size_t len, uint64_t hash)
{
	const char *filter;
	size_t flen;
	struct share_group *g;

	if (share_parse(arg, len, &filter, &flen) != SHARE_OK)
		return NULL;
	if (sh->ngroups >= sh->nbuckets)
		table_grow(sh);
	if (sh->nbuckets == 0 || (g = calloc(1, sizeof *g + len)) == NULL)
		return NULL;
	g->sub.ops = &group_ops;
	g->hash = hash;
	g->len = len;
	g->filter_at = (size_t)(filter - arg);
	memcpy(g->key, arg, len);
	if (subtree_add(sh->tree, g->key + g->filter_at, flen, &g->sub.filters) == NULL) {
		free(g);
		return NULL;
	}
	g->hnext = sh->buckets[hash & (sh->nbuckets - 1)];
	sh->buckets[hash & (sh->nbuckets - 1)] = g;
	sh->ngroups++;
	return g;
}

/* Takes the memberless g out of the table and the index, and frees it. */
static void
group_remove(struct shares *sh, struct share_group *g)
{
	struct share_group **pp = &sh->buckets[g->hash & (sh->nbuckets - 1)];

	while (*pp != g)
		pp = &(*pp)->hnext;
	*pp = g->hnext;
	subtree_remove_owner(sh->tree, &g->sub.filters);
	sh->ngroups--;
	group_free(g);
}

struct share_member *
share_find(const struct shares *sh, const struct subscriber *sub, const char *arg, size_t len)
{
	uint64_t hash;
	struct share_group *g = group_find(sh, arg, len, &hash);

	if (g == NULL)
		return NULL;
	/* Whichever list is shorter: the group's, or the subscriber's. */
	if (g->nmembers <= sub->nshares) {
		for (size_t i = 0; i < g->nmembers; i++)
			if (g->members[i]->sub == sub)
				return g->members[i];
		return NULL;
	}
	for (struct share_member *m = sub->shares; m != NULL; m = m->next)
		if (m->group == g)
			return m;
	return NULL;
}

struct share_member *
share_join(struct shares *sh, struct subscriber *sub, const char *arg, size_t len)
{
	struct share_member *m;
	struct share_group *g;
	uint64_t hash;
	bool made = false;

	if ((m = share_find(sh, sub, arg, len)) != NULL)
		return m;
	if ((g = group_find(sh, arg, len, &hash)) == NULL) {
		if ((g = group_new(sh, arg, len, hash)) == NULL)
			return NULL;
		made = true;
	}
	if (g->nmembers == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4;
		struct share_member **a = realloc(g->members, cap * sizeof *a);

		if (a == NULL)
			goto oom;
		g->members = a;
		g->cap = cap;
	}
	if ((m = calloc(1, sizeof *m)) == NULL)
		goto oom;
	m->group = g;
	m->sub = sub;
	m->index = g->nmembers;
	g->members[g->nmembers++] = m;
	m->next = sub->shares;
	if (sub->shares != NULL)
		sub->shares->prev = m;
	sub->shares = m;
	sub->nshares++;
	sh->nmembers++;
	return m;
oom:
	if (made)
		group_remove(sh, g);
	return NULL;
}

void
share_leave(struct shares *sh, struct share_member *m)
{
	struct share_group *g = m->group;
	struct subscriber *sub = m->sub;

	g->members[m->index] = g->members[--g->nmembers];
	g->members[m->index]->index = m->index;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		sub->shares = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	sub->nshares--;
	sh->nmembers--;
	free(m);
	if (g->nmembers == 0)
		group_remove(sh, g);
}

void
share_leave_all(struct shares *sh, struct subscriber *sub)
{
	while (sub->shares != NULL)
		share_leave(sh, sub->shares);
}

const char *
share_member_name(const struct share_member *m, size_t *len)
{
	*len = m->group->len;
	return m->group->key;
}

const char *
share_member_filter(const struct share_member *m, size_t *len)
{
	*len = m->group->len - m->group->filter_at;
	return m->group->key + m->group->filter_at;
}

size_t
share_group_count(const struct shares *sh)
{
	return sh->ngroups;
}

size_t
share_member_count(const struct shares *sh)
{
	return sh->nmembers;
}
