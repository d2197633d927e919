/* The broker's subscription tree (src/daemon/subtree.h), held to the same
 * answers as the reference matcher topic_matches(). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_table.h"
#include "siphash.h"
#include "subtree.h"
#include "topic.h"

/* What a match saw: number of calls, and per owner index how many. */
struct seen {
	size_t calls;
	size_t per_owner[2048];
	struct subowner *last_owner;
	struct subscription *last_sub;
	const struct subowner *base; /* owners are base + index */
	size_t n_owners;
};

static void
record(struct subscription *sub, void *arg)
{
	struct seen *s = arg;
	size_t i;

	s->calls++;
	s->last_owner = sub->owner;
	s->last_sub = sub;
	if (s->base == NULL)
		return;
	i = (size_t)(sub->owner - s->base);
	cr_assert_lt(i, s->n_owners, "callback with an unknown owner");
	s->per_owner[i]++;
}

/* Matches topic, returning what was seen; checks the returned count. */
static struct seen *
match(const struct subtree *t, const char *topic, const struct subowner *base, size_t n_owners)
{
	static struct seen s;
	size_t n;

	memset(&s, 0, sizeof s);
	s.base = base;
	s.n_owners = n_owners;
	n = subtree_match(t, topic, strlen(topic), record, &s);
	cr_assert_eq(n, s.calls, "subtree_match returned %zu after %zu calls", n, s.calls);
	return &s;
}

static struct subowner owners[2048]; /* owner i is owners + i */

static struct subscription *
add(struct subtree *t, const char *filter, size_t owner)
{
	struct subscription *sub = subtree_add(t, filter, strlen(filter), owners + owner);

	cr_assert_not_null(sub, "subtree_add(\"%s\")", filter);
	cr_assert_eq(sub->owner, owners + owner);
	return sub;
}

/* One filter, one topic: the tree answers as the table and the reference do. */
Test(subtree, match_table_one_filter)
{
	for (size_t i = 0; i < N_MATCH_CASES; i++) {
		const struct match_case *c = &match_cases[i];
		struct subtree *t = subtree_new();
		struct subscription *sub;
		struct seen *s;
		bool ref;

		cr_assert_not_null(t);
		sub = add(t, c->filter, 0);
		s = match(t, c->topic, NULL, 0);
		ref = topic_matches(c->filter, strlen(c->filter), c->topic, strlen(c->topic));
		cr_expect_eq(s->calls, c->match ? 1 : 0, "case %zu: filter \"%s\" topic \"%s\": %zu calls",
		             i, c->filter, c->topic, s->calls);
		cr_expect_eq(s->calls == 1, ref, "case %zu: tree and topic_matches disagree", i);
		if (s->calls == 1) {
			cr_expect_eq(s->last_sub, sub);
			cr_expect_eq(s->last_owner, owners + 0);
		}
		subtree_free(t);
	}
}

/* Every filter of the table in one tree: each topic reaches exactly the
 * filters the reference says, wherever they sit in the tree. */
Test(subtree, match_table_all_filters)
{
	struct subtree *t = subtree_new();
	const char *topics[N_MATCH_CASES + 8];
	size_t n_topics = 0;

	for (size_t i = 0; i < N_MATCH_CASES; i++) {
		add(t, match_cases[i].filter, i);
		topics[n_topics++] = match_cases[i].topic;
	}
	topics[n_topics++] = "x/y/z";
	topics[n_topics++] = "$other";
	topics[n_topics++] = "a/b/c/d/e/f";
	cr_expect_eq(subtree_count(t), N_MATCH_CASES);

	for (size_t k = 0; k < n_topics; k++) {
		const char *topic = topics[k];
		struct seen *s = match(t, topic, owners, N_MATCH_CASES);
		size_t want_calls = 0;

		for (size_t i = 0; i < N_MATCH_CASES; i++) {
			const char *f = match_cases[i].filter;
			bool ref = topic_matches(f, strlen(f), topic, strlen(topic));

			want_calls += ref;
			cr_expect_eq(s->per_owner[i], ref ? 1 : 0, "topic \"%s\" filter \"%s\": %zu calls",
			             topic, f, s->per_owner[i]);
		}
		cr_expect_eq(s->calls, want_calls, "topic \"%s\"", topic);
	}
	subtree_free(t);
}

Test(subtree, count_add_remove)
{
	struct subtree *t = subtree_new();
	struct subscription *a, *b, *c;

	cr_expect_eq(subtree_count(t), 0);
	cr_expect_eq(match(t, "a", NULL, 0)->calls, 0);
	a = add(t, "a", 0);
	b = add(t, "a/+", 1);
	c = add(t, "#", 2);
	cr_expect_eq(subtree_count(t), 3);
	cr_expect_eq(match(t, "a", NULL, 0)->calls, 2);
	cr_expect_eq(match(t, "a/x", NULL, 0)->calls, 2);
	subtree_remove(t, b);
	cr_expect_eq(subtree_count(t), 2);
	cr_expect_eq(match(t, "a/x", NULL, 0)->calls, 1);
	subtree_remove(t, c);
	cr_expect_eq(match(t, "a/x", NULL, 0)->calls, 0);
	cr_expect_eq(match(t, "a", NULL, 0)->calls, 1);
	subtree_remove(t, a);
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_eq(match(t, "a", NULL, 0)->calls, 0);
	subtree_free(t);
}

/* The tree does not deduplicate: the broker does (with subtree_lookup).
 * Two adds are two subscriptions on one node. */
Test(subtree, duplicates_are_kept)
{
	struct subtree *t = subtree_new();
	struct subscription *a = add(t, "x/y", 0), *b = add(t, "x/y", 0);

	cr_expect_neq(a, b);
	cr_expect_eq(a->node, b->node);
	cr_expect_eq(subtree_count(t), 2);
	cr_expect_eq(match(t, "x/y", NULL, 0)->calls, 2);
	subtree_remove(t, a);
	cr_expect_eq(match(t, "x/y", NULL, 0)->calls, 1);
	cr_expect_not_null(subtree_find(t, "x/y", 3));
	subtree_free(t); /* frees b with the tree */
}

Test(subtree, find)
{
	struct subtree *t = subtree_new();
	struct subscription *s1, *s2;

	cr_expect_null(subtree_find(t, "a/b", 3));
	s1 = add(t, "a/b", 0);
	cr_expect_eq(subtree_find(t, "a/b", 3), s1->node);
	cr_expect_null(subtree_find(t, "a", 1), "a prefix no one holds");
	cr_expect_null(subtree_find(t, "a/b/c", 5));
	cr_expect_null(subtree_find(t, "a/+", 3));
	cr_expect_null(subtree_find(t, "a/#", 3));
	s2 = add(t, "a/+", 1);
	cr_expect_eq(subtree_find(t, "a/+", 3), s2->node);
	cr_expect_neq(s1->node, s2->node, "'+' is kept apart from literal levels");
	/* Lengths are explicit. */
	cr_expect_eq(subtree_find(t, "a/bcd", 3), s1->node);
	subtree_remove(t, s1);
	cr_expect_null(subtree_find(t, "a/b", 3));
	cr_expect_not_null(subtree_find(t, "a/+", 3));
	subtree_free(t);
}

/* Nodes left empty go away; nodes still holding subscriptions, or leading
 * to some, stay. */
Test(subtree, prune)
{
	struct subtree *t = subtree_new();
	struct subscription *deep = add(t, "a/b/c/d", 0), *mid = add(t, "a/b", 1);

	subtree_remove(t, deep);
	cr_expect_null(subtree_find(t, "a/b/c/d", 7));
	cr_expect_null(subtree_find(t, "a/b/c", 5));
	cr_expect_eq(subtree_find(t, "a/b", 3), mid->node);
	cr_expect_eq(match(t, "a/b", NULL, 0)->calls, 1);
	cr_expect_eq(match(t, "a/b/c/d", NULL, 0)->calls, 0);

	/* Removing the parent first keeps the path to the child alive. */
	deep = add(t, "a/b/c/d", 2);
	subtree_remove(t, mid);
	cr_expect_null(subtree_find(t, "a/b", 3));
	cr_expect_eq(match(t, "a/b/c/d", NULL, 0)->calls, 1);
	subtree_remove(t, deep);
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_null(subtree_find(t, "a", 1));

	/* Everything gone, the tree is as good as new. */
	deep = add(t, "a/b/c/d", 3);
	cr_expect_eq(match(t, "a/b/c/d", owners, 8)->per_owner[3], 1);
	subtree_remove(t, deep);
	subtree_free(t);
}

/* A thousand owners on one wildcard filter, each with a literal one too. */
Test(subtree, many_owners)
{
	enum { N = 1000 };
	struct subtree *t = subtree_new();
	static struct subscription *wild[N], *lit[N];
	struct seen *s;
	char filter[64];

	for (size_t i = 0; i < N; i++) {
		snprintf(filter, sizeof filter, "sensors/%zu/temp", i);
		wild[i] = add(t, "sensors/+/temp", i);
		lit[i] = add(t, filter, i);
	}
	cr_expect_eq(subtree_count(t), 2 * N);

	s = match(t, "sensors/5/temp", owners, N);
	cr_expect_eq(s->calls, N + 1);
	for (size_t i = 0; i < N; i++)
		cr_expect_eq(s->per_owner[i], i == 5 ? 2 : 1, "owner %zu", i);

	for (size_t i = 0; i < N; i += 2)
		subtree_remove(t, wild[i]);
	s = match(t, "sensors/5/temp", owners, N);
	cr_expect_eq(s->calls, N / 2 + 1);
	for (size_t i = 0; i < N; i++)
		cr_expect_eq(s->per_owner[i], (i % 2 ? 1 : 0) + (i == 5), "owner %zu", i);
	s = match(t, "sensors/4/temp", owners, N);
	cr_expect_eq(s->calls, N / 2 + 1);
	cr_expect_eq(s->per_owner[4], 1);

	for (size_t i = 0; i < N; i++) {
		if (i % 2)
			subtree_remove(t, wild[i]);
		subtree_remove(t, lit[i]);
	}
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_null(subtree_find(t, "sensors/+/temp", 14));
	cr_expect_eq(match(t, "sensors/5/temp", NULL, 0)->calls, 0);
	subtree_free(t);
}

/* Many siblings under one node (the child hash grows), each found. */
Test(subtree, many_siblings)
{
	enum { N = 20000 };
	struct subtree *t = subtree_new();
	struct subscription **subs = calloc(N, sizeof *subs);
	char name[32];

	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof name, "f/%zu", i);
		subs[i] = subtree_add(t, name, strlen(name), owners + (i % 2048));
		cr_assert_not_null(subs[i]);
	}
	for (size_t i = 0; i < N; i += 997) {
		snprintf(name, sizeof name, "f/%zu", i);
		cr_expect_eq(match(t, name, NULL, 0)->calls, 1, "%s", name);
		cr_expect_eq(subtree_find(t, name, strlen(name)), subs[i]->node);
	}
	cr_expect_eq(match(t, "f/20000", NULL, 0)->calls, 0);
	for (size_t i = 0; i < N; i++)
		subtree_remove(t, subs[i]);
	cr_expect_eq(subtree_count(t), 0);
	cr_expect_null(subtree_find(t, "f/1", 3));
	free(subs);
	subtree_free(t);
}

/* xorshift, for a churn that is the same on every run. */
static uint32_t
rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* A random valid filter (wild) or topic from a small alphabet of levels,
 * so that collisions and overlaps are frequent. */
static void
random_name(uint32_t *st, bool wild, char *out, size_t size)
{
	static const char *const levels[] = { "a", "b", "", "$s", "long-level", "c" };
	size_t n = 1 + rnd(st) % 4, used = 0;

	for (size_t i = 0; i < n; i++) {
		const char *lv = levels[rnd(st) % (sizeof levels / sizeof levels[0])];
		uint32_t w = rnd(st) % 8;

		if (wild && w == 0)
			lv = "+";
		if (wild && w == 1 && i == n - 1)
			lv = "#";
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "/" : "", lv);
	}
	if (used == 0) /* one empty level: not a topic */
		used = (size_t)snprintf(out, size, "a");
	cr_assert_eq(wild ? topic_check_filter(out, used, 256) : topic_check(out, used, 256),
	             TOPIC_OK, "generated \"%s\"", out);
}

/* Random adds and removes against a plain list checked with topic_matches. */
Test(subtree, churn_against_reference)
{
	enum { SLOTS = 300 };
	struct subtree *t = subtree_new();
	static struct subscription *subs[SLOTS];
	static char filters[SLOTS][64];
	uint32_t st = 0x2545f491;

	for (int round = 0; round < 20000; round++) {
		size_t slot = rnd(&st) % SLOTS;

		if (subs[slot] != NULL) {
			subtree_remove(t, subs[slot]);
			subs[slot] = NULL;
		} else {
			random_name(&st, true, filters[slot], sizeof filters[slot]);
			subs[slot] = add(t, filters[slot], slot);
		}
		if (round % 50 == 0) {
			char topic[64];
			struct seen *s;
			size_t live = 0;

			random_name(&st, false, topic, sizeof topic);
			s = match(t, topic, owners, SLOTS);
			for (size_t i = 0; i < SLOTS; i++) {
				bool ref = subs[i] != NULL &&
				           topic_matches(filters[i], strlen(filters[i]), topic, strlen(topic));

				live += subs[i] != NULL;
				cr_assert_eq(s->per_owner[i], ref ? 1 : 0,
				             "round %d: topic \"%s\" filter \"%s\": %zu calls", round, topic,
				             filters[i], s->per_owner[i]);
			}
			cr_assert_eq(subtree_count(t), live);
		}
	}
	subtree_free(t);
}

/* The tree takes its own copy of the filter text. */
Test(subtree, copies_filter)
{
	struct subtree *t = subtree_new();
	char filter[] = "a/b";

	add(t, filter, 0);
	filter[2] = 'z';
	cr_expect_eq(match(t, "a/b", NULL, 0)->calls, 1);
	cr_expect_eq(match(t, "a/z", NULL, 0)->calls, 0);
	subtree_free(t);
}

/* ---- the owner half of the index ---- */

/* Every subscription of owner, by walking its list: checks the list
 * against subtree_owner_count and that each entry is the owner's. */
static size_t
owner_walk(const struct subtree *t, const struct subowner *owner)
{
	size_t n = 0;

	for (struct subscription *s = owner->subs; s != NULL; s = s->owner_next) {
		cr_assert_eq(s->owner, owner);
		n++;
	}
	cr_assert_eq(n, owner->count);
	return n;
}

/* lookup finds an owner's own subscription to a filter, not another's. */
Test(subtree_owner, lookup_is_per_owner)
{
	struct subtree *t = subtree_new();
	struct subscription *a1 = add(t, "x/y", 0), *b1 = add(t, "x/y", 1), *a2 = add(t, "x/#", 0);

	cr_expect_eq(subtree_lookup(t, "x/y", 3, owners + 0), a1);
	cr_expect_eq(subtree_lookup(t, "x/y", 3, owners + 1), b1);
	cr_expect_eq(subtree_lookup(t, "x/#", 3, owners + 0), a2);
	cr_expect_null(subtree_lookup(t, "x/#", 3, owners + 1));
	cr_expect_null(subtree_lookup(t, "x/y", 3, owners + 2), "an owner with nothing");
	cr_expect_null(subtree_lookup(t, "x", 1, owners + 0), "a prefix of a held filter");
	cr_expect_null(subtree_lookup(t, "x/+", 3, owners + 0));
	cr_expect_eq(owner_walk(t, owners + 0), 2);
	cr_expect_eq(owner_walk(t, owners + 1), 1);
	cr_expect_eq(owner_walk(t, owners + 2), 0);
	subtree_remove(t, a1);
	cr_expect_null(subtree_lookup(t, "x/y", 3, owners + 0));
	cr_expect_eq(subtree_lookup(t, "x/y", 3, owners + 1), b1);
	cr_expect_eq(owner_walk(t, owners + 0), 1);
	subtree_free(t);
}

/* remove_owner takes all of one owner's subscriptions and no other's, and
 * prunes what only it held. */
Test(subtree_owner, remove_owner)
{
	struct subtree *t = subtree_new();

	add(t, "a/b", 0);
	add(t, "a/+", 0);
	add(t, "#", 0);
	add(t, "only/mine", 0);
	add(t, "a/b", 1);
	add(t, "#", 1);
	cr_expect_eq(subtree_count(t), 6);
	subtree_remove_owner(t, owners + 0);
	cr_expect_eq(subtree_count(t), 2);
	cr_expect_eq(owner_walk(t, owners + 0), 0);
	cr_expect_eq(owner_walk(t, owners + 1), 2);
	cr_expect_null(subtree_find(t, "only/mine", 9));
	cr_expect_null(subtree_find(t, "a/+", 3));
	cr_expect_eq(match(t, "a/b", owners, 2)->per_owner[1], 2);
	cr_expect_eq(match(t, "a/b", owners, 2)->per_owner[0], 0);
	subtree_remove_owner(t, owners + 0); /* nothing left: no effect */
	subtree_remove_owner(t, owners + 1);
	cr_expect_eq(subtree_count(t), 0);
	subtree_free(t);
}

/* Many owners on one filter and one owner on many filters: every lookup
 * answers with the one subscription, whichever half is large. */
Test(subtree_owner, many)
{
	enum { N = 20000 };
	static struct subscription *mine[N];
	static struct subscription *theirs[2048];
	struct subtree *t = subtree_new();
	char f[32];

	for (size_t i = 0; i < N; i++) {
		snprintf(f, sizeof f, "m/%zu/x", i);
		mine[i] = add(t, f, 0);
	}
	for (size_t i = 1; i < 2048; i++)
		theirs[i] = add(t, "m/7/x", i);
	for (size_t i = 0; i < N; i++) {
		snprintf(f, sizeof f, "m/%zu/x", i);
		cr_assert_eq(subtree_lookup(t, f, strlen(f), owners + 0), mine[i], "%s", f);
	}
	for (size_t i = 1; i < 2048; i++)
		cr_assert_eq(subtree_lookup(t, "m/7/x", 5, owners + i), theirs[i]);
	for (size_t i = 0; i < N; i += 2) {
		snprintf(f, sizeof f, "m/%zu/x", i);
		subtree_remove(t, subtree_lookup(t, f, strlen(f), owners + 0));
	}
	cr_expect_eq(owner_walk(t, owners + 0), N / 2);
	for (size_t i = 0; i < N; i++) {
		snprintf(f, sizeof f, "m/%zu/x", i);
		cr_assert_eq(subtree_lookup(t, f, strlen(f), owners + 0), i % 2 ? mine[i] : NULL);
	}
	cr_expect_eq(subtree_count(t), N / 2 + 2047);
	subtree_free(t);
}

/* ---- the keyed hash ---- */

/* The unkeyed 32-bit FNV-1a the tree used to hash levels with, from state h. */
static uint32_t
fnv1a(uint32_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* A random 8-character block of letters and digits. */
static void
random_block(uint64_t *st, char out[8])
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (int i = 0; i < 8; i++) {
		*st = *st * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = abc[(*st >> 33) % (sizeof abc - 1)];
	}
}

/* Two different blocks that FNV-1a takes from state h to one state
 * (a birthday search). Returns that state. */
static uint32_t
colliding_pair(uint64_t *st, uint32_t h, char a[8], char b[8])
{
	enum { SLOTS = 1 << 20 };
	static char blocks[SLOTS][8];
	static uint32_t hashes[SLOTS];
	static bool used[SLOTS];

	memset(used, 0, sizeof used);
	for (;;) {
		char blk[8];
		uint32_t v;
		size_t i;

		random_block(st, blk);
		v = fnv1a(h, blk, 8);
		for (i = v & (SLOTS - 1); used[i] && hashes[i] != v; i = (i + 1) & (SLOTS - 1))
			;
		if (used[i] && memcmp(blocks[i], blk, 8) != 0) {
			memcpy(a, blocks[i], 8);
			memcpy(b, blk, 8);
			return v;
		}
		used[i] = true;
		hashes[i] = v;
		memcpy(blocks[i], blk, 8);
	}
}

/* 4096 level names that all have one FNV-1a hash, built from 12 colliding
 * pairs of blocks (FNV-1a's state chains: A||Z and B||Z collide when A and B
 * do). Unkeyed, they would all sit in one bucket; keyed, they spread. */
Test(subtree_hash, crafted_collisions_spread)
{
	enum { PAIRS = 12, N = 1 << PAIRS };
	char pair[PAIRS][2][8];
	uint32_t h = 2166136261u;
	uint64_t st = 42;
	struct subtree *t = subtree_new();
	char name[PAIRS * 8 + 1];
	uint32_t first = 0;

	for (int p = 0; p < PAIRS; p++)
		h = colliding_pair(&st, h, pair[p][0], pair[p][1]);
	for (size_t i = 0; i < N; i++) {
		for (int p = 0; p < PAIRS; p++)
			memcpy(name + 8 * p, pair[p][(i >> p) & 1], 8);
		name[PAIRS * 8] = '\0';
		if (i == 0)
			first = fnv1a(2166136261u, name, PAIRS * 8);
		cr_assert_eq(fnv1a(2166136261u, name, PAIRS * 8), first, "the names collide");
		add(t, name, i % 2048);
	}
	cr_expect_eq(subtree_count(t), N);
	/* 4096 keys over at least 4096 buckets: a chain of 16 has a chance
	 * far below 1e-9; unkeyed, the chain would be 4096 long. */
	cr_expect_lt(subtree_longest_chain(t), 16, "longest chain %zu",
	             subtree_longest_chain(t));
	subtree_free(t);
}

/* The tree's answers do not depend on its key. */
Test(subtree_hash, any_key_same_answers)
{
	struct siphash_key k1 = { 0, 0 }, k2 = { 0x0123456789abcdefull, ~0ull };
	struct subtree *t1 = subtree_new_keyed(&k1), *t2 = subtree_new_keyed(&k2);
	const char *filters[] = { "a/b", "a/+", "#", "a/b/#", "+/b", "c" };

	for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
		cr_assert_not_null(subtree_add(t1, filters[i], strlen(filters[i]), owners + i));
		cr_assert_not_null(subtree_add(t2, filters[i], strlen(filters[i]), owners + i));
	}
	cr_expect_eq(match(t1, "a/b", NULL, 0)->calls, 5);
	cr_expect_eq(match(t2, "a/b", NULL, 0)->calls, 5);
	cr_expect_eq(match(t1, "c", NULL, 0)->calls, 2);
	cr_expect_eq(match(t2, "c", NULL, 0)->calls, 2);
	subtree_free(t1);
	subtree_free(t2);
}

/* SipHash-2-4 against the paper's vectors (key 00..0f); SipHash-1-3 is the
 * same code with other round counts. */
Test(subtree_hash, siphash_vectors)
{
	struct siphash_key key = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
	unsigned char msg[15];

	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	cr_expect_eq(siphash24(&key, msg, 0), 0x726fdb47dd0e0e31ull);
	cr_expect_eq(siphash24(&key, msg, 15), 0xa129ca6149be45e5ull);
	cr_expect_neq(siphash13(&key, msg, 15), siphash24(&key, msg, 15));
}
