/* The broker's subscription tree (src/daemon/subtree.h), held to the same
 * answers as the reference matcher topic_matches(). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_table.h"
#include "subtree.h"
#include "topic.h"

/* What a match saw: number of calls, and per owner index how many. */
struct seen {
	size_t calls;
	size_t per_owner[2048];
	void *last_owner;
	struct subscription *last_sub;
	const void *base; /* owners are base + index */
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
	i = (size_t)((const char *)sub->owner - (const char *)s->base);
	cr_assert_lt(i, s->n_owners, "callback with an unknown owner");
	s->per_owner[i]++;
}

/* Matches topic, returning what was seen; checks the returned count. */
static struct seen *
match(const struct subtree *t, const char *topic, const void *base, size_t n_owners)
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

static char owners[2048]; /* owner i is owners + i */

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

/* The tree does not deduplicate: the broker does (with subtree_find and its
 * own per-client list). Two adds are two subscriptions on one node. */
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
