/* The retained store (src/daemon/retain.h): values and their frames,
 * bounds, $SYS values, references, pruning, and matching held to the
 * reference matcher topic_matches(). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "match_table.h"
#include "outq.h"
#include "retain.h"
#include "topic.h"

static const struct retain_origin someone = { 1000, 100, 4242, "main" };

/* Stores a NUL-terminated topic and payload; returns the result. */
static enum retain_result
set(struct retain *r, const char *topic, const char *payload)
{
	return retain_set(r, topic, strlen(topic), payload, strlen(payload), &someone, 0);
}

static enum retain_result
set_sys(struct retain *r, const char *topic, const char *payload)
{
	return retain_set(r, topic, strlen(topic), payload, strlen(payload), NULL, RETAIN_SYS);
}

static struct retain_value *
get(struct retain *r, const char *topic)
{
	return retain_get(r, topic, strlen(topic));
}

/* Asserts v holds topic and payload, and the frame that goes with them. */
static void
assert_value(const struct retain_value *v, const char *topic, const char *payload)
{
	char want[256];
	const char *p;
	size_t len;

	cr_assert_not_null(v, "no value for %s", topic);
	p = retain_value_topic(v, &len);
	cr_assert(len == strlen(topic) && memcmp(p, topic, len) == 0, "topic %.*s", (int)len, p);
	p = retain_value_payload(v, &len);
	cr_assert(len == strlen(payload) && memcmp(p, payload, len) == 0, "payload %.*s", (int)len,
	          p);
	if (payload[0] != '\0')
		snprintf(want, sizeof want, "RMSG %s %s\n", topic, payload);
	else
		snprintf(want, sizeof want, "RMSG %s\n", topic);
	p = retain_value_frame(v, &len);
	cr_assert(len == strlen(want) && memcmp(p, want, len) == 0, "frame %.*s", (int)len, p);
}

Test(retain, set_replace_clear)
{
	struct retain *r = retain_new();
	struct retain_origin o;

	cr_assert_not_null(r);
	cr_assert_eq(set(r, "a/b", "hello world"), RETAIN_OK);
	assert_value(get(r, "a/b"), "a/b", "hello world");
	cr_assert_null(get(r, "a"));
	cr_assert_null(get(r, "a/b/c"));
	cr_assert_eq(retain_count(r), 1);
	cr_assert_eq(retain_bytes(r), 3 + 11);
	retain_value_origin(get(r, "a/b"), &o);
	cr_assert(o.uid == 1000 && o.gid == 100 && o.pid == 4242 && strcmp(o.via, "main") == 0);

	cr_assert_eq(set(r, "a/b", "x"), RETAIN_OK);
	assert_value(get(r, "a/b"), "a/b", "x");
	cr_assert_eq(retain_count(r), 1);
	cr_assert_eq(retain_bytes(r), 4);

	cr_assert_eq(set(r, "a/b", ""), RETAIN_OK);
	cr_assert_null(get(r, "a/b"));
	cr_assert_eq(retain_count(r), 0);
	cr_assert_eq(retain_bytes(r), 0);
	cr_assert_eq(set(r, "never/set", ""), RETAIN_OK, "clearing nothing is fine");
	cr_assert_eq(retain_node_count(r), 1, "everything pruned");
	retain_free(r);
}

Test(retain, unknown_origin_and_via)
{
	struct retain *r = retain_new();
	struct retain_origin o, tcp = { -1, -1, -1, "tcp-lan" };

	cr_assert_eq(retain_set(r, "t", 1, "p", 1, NULL, 0), RETAIN_OK);
	retain_value_origin(get(r, "t"), &o);
	cr_assert(o.uid == -1 && o.gid == -1 && o.pid == -1 && o.via[0] == '\0');
	cr_assert_eq(retain_set(r, "t", 1, "p", 1, &tcp, 0), RETAIN_OK);
	retain_value_origin(get(r, "t"), &o);
	cr_assert(o.uid == -1 && strcmp(o.via, "tcp-lan") == 0);
	retain_free(r);
}

Test(retain, invalid_input_changes_nothing)
{
	struct retain *r = retain_new();
	struct retain_origin bad_uid = { -2, 0, 0, "main" };
	struct retain_origin big_uid = { UINT32_MAX, 0, 0, "main" };
	struct retain_origin big_pid = { 0, 0, (int64_t)INT32_MAX + 1, "main" };
	struct retain_origin max_ids = { UINT32_MAX - 1, UINT32_MAX - 1, INT32_MAX, "main" };
	struct retain_origin o;
	struct retain_origin bad_via = { 0, 0, 0, "has space" };
	struct retain_origin semi = { 0, 0, 0, "a;b" };
	struct retain_origin long_via = { 0, 0, 0, "0123456789abcdef0123456789abcdefX" };
	struct retain_origin max_via = { 0, 0, 0, "0123456789abcdef0123456789abcdef" };

	cr_assert_eq(set(r, "a/+", "x"), RETAIN_INVALID);
	cr_assert_eq(set(r, "a/#", "x"), RETAIN_INVALID);
	cr_assert_eq(set(r, "a b", "x"), RETAIN_INVALID);
	cr_assert_eq(set(r, "", "x"), RETAIN_INVALID);
	cr_assert_eq(set(r, "a", "line\nbreak"), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &bad_uid, 0), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &big_uid, 0), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &big_pid, 0), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &bad_via, 0), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &semi, 0), RETAIN_INVALID);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &long_via, 0), RETAIN_INVALID);
	cr_assert_eq(retain_count(r), 0);
	cr_assert(!retain_dirty(r));
	cr_assert_eq(retain_node_count(r), 1);
	cr_assert_eq(retain_set(r, "a", 1, "x", 1, &max_via, 0), RETAIN_OK);
	cr_assert_eq(retain_set(r, "m", 1, "x", 1, &max_ids, 0), RETAIN_OK);
	retain_value_origin(get(r, "m"), &o);
	cr_assert(o.uid == UINT32_MAX - 1 && o.gid == UINT32_MAX - 1 && o.pid == INT32_MAX);
	/* Any byte but '\n' in a payload, NUL included. */
	cr_assert_eq(retain_set(r, "b", 1, "x\0\r\x01\xff", 5, NULL, 0), RETAIN_OK);
	retain_free(r);
}

Test(retain, count_bound_exactly_at_the_edge)
{
	struct retain *r = retain_new();

	retain_set_limits(r, 2, SIZE_MAX);
	cr_assert_eq(set(r, "a", "1"), RETAIN_OK);
	cr_assert_eq(set(r, "b", "2"), RETAIN_OK, "the second of two fits");
	cr_assert_eq(set(r, "c", "3"), RETAIN_FULL);
	cr_assert_null(get(r, "c"));
	cr_assert_eq(retain_node_count(r), 3, "no node left behind by the refusal");
	cr_assert_eq(set(r, "a", "replaced"), RETAIN_OK, "a replacement adds no value");
	cr_assert_eq(set(r, "a", ""), RETAIN_OK);
	cr_assert_eq(set(r, "c", "3"), RETAIN_OK, "room again after a clear");
	cr_assert_eq(retain_count(r), 2);
	retain_free(r);
}

Test(retain, byte_bound_exactly_at_the_edge)
{
	struct retain *r = retain_new();

	/* "t1" + 8 bytes = 10, "t2" + 8 = 10: 20 fits, 21 does not. */
	retain_set_limits(r, SIZE_MAX, 20);
	cr_assert_eq(set(r, "t1", "12345678"), RETAIN_OK);
	cr_assert_eq(set(r, "t2", "123456789"), RETAIN_FULL, "one byte more than the bound");
	cr_assert_null(get(r, "t2"));
	cr_assert_eq(retain_bytes(r), 10);
	cr_assert_eq(set(r, "t2", "12345678"), RETAIN_OK, "exactly the bound");
	cr_assert_eq(retain_bytes(r), 20);
	cr_assert_eq(set(r, "t1", "123456789"), RETAIN_FULL, "growing a value when full");
	assert_value(get(r, "t1"), "t1", "12345678");
	cr_assert_eq(set(r, "t1", "1234"), RETAIN_OK, "shrinking a value when full");
	cr_assert_eq(retain_bytes(r), 16);
	cr_assert_eq(set(r, "t1", "12345678"), RETAIN_OK, "and back to the bound");
	cr_assert_eq(set(r, "t1", ""), RETAIN_OK, "clearing always succeeds");
	cr_assert_eq(retain_bytes(r), 10);
	cr_assert(!retain_over_bounds(r));
	retain_free(r);
}

Test(retain, zero_bounds_refuse_everything_but_clears)
{
	struct retain *r = retain_new();

	retain_set_limits(r, 0, SIZE_MAX);
	cr_assert_eq(set(r, "a", "1"), RETAIN_FULL);
	retain_set_limits(r, SIZE_MAX, 0);
	cr_assert_eq(set(r, "a", "1"), RETAIN_FULL);
	cr_assert_eq(set(r, "a", ""), RETAIN_OK);
	cr_assert_eq(set_sys(r, "$SYS/broker/uptime", "5"), RETAIN_OK, "$SYS is outside bounds");
	retain_free(r);
}

Test(retain, unbounded_flag_and_over_bounds)
{
	struct retain *r = retain_new();

	retain_set_limits(r, 1, SIZE_MAX);
	cr_assert_eq(set(r, "a", "1"), RETAIN_OK);
	cr_assert_eq(retain_set(r, "b", 1, "2", 1, NULL, RETAIN_UNBOUNDED), RETAIN_OK);
	cr_assert(retain_over_bounds(r));
	cr_assert_eq(set(r, "a", "1"), RETAIN_FULL, "over the bounds, even a same-size replace");
	cr_assert_eq(set(r, "b", ""), RETAIN_OK);
	cr_assert(!retain_over_bounds(r));
	retain_free(r);
}

Test(retain, sys_values_are_kept_apart)
{
	struct retain *r = retain_new();
	struct retain_value *v;

	retain_set_limits(r, 1, 4);
	cr_assert_eq(set_sys(r, "$SYS/broker/version", "0.1.0"), RETAIN_OK);
	cr_assert_eq(set_sys(r, "$SYS/broker/uptime", "12345"), RETAIN_OK);
	cr_assert_eq(retain_count(r), 0);
	cr_assert_eq(retain_bytes(r), 0);
	cr_assert(!retain_dirty(r), "$SYS changes need no save");
	cr_assert_eq(set(r, "a", "123"), RETAIN_OK, "the bounds are all the clients'");
	v = get(r, "$SYS/broker/uptime");
	cr_assert(retain_value_is_sys(v));
	assert_value(v, "$SYS/broker/uptime", "12345");
	cr_assert_eq(set_sys(r, "$SYS/broker/uptime", ""), RETAIN_OK);
	cr_assert_eq(retain_count(r), 1);
	cr_assert_eq(retain_bytes(r), 4);
	retain_free(r);
}

Test(retain, dirty_tracks_client_changes)
{
	struct retain *r = retain_new();

	cr_assert(!retain_dirty(r));
	cr_assert_eq(set(r, "a", "1"), RETAIN_OK);
	cr_assert(retain_dirty(r));
	retain_mark_clean(r);
	cr_assert(!retain_dirty(r));
	cr_assert_eq(set(r, "b", ""), RETAIN_OK);
	cr_assert(!retain_dirty(r), "clearing nothing changes nothing");
	retain_set_limits(r, 1, SIZE_MAX);
	cr_assert_eq(set(r, "b", "2"), RETAIN_FULL);
	cr_assert(!retain_dirty(r), "a refusal changes nothing");
	cr_assert_eq(set(r, "a", "2"), RETAIN_OK);
	cr_assert(retain_dirty(r));
	retain_mark_clean(r);
	cr_assert_eq(set(r, "a", ""), RETAIN_OK);
	cr_assert(retain_dirty(r));
	retain_free(r);
}

Test(retain, a_held_value_outlives_replace_clear_and_free)
{
	struct retain *r = retain_new();
	struct retain_value *v1, *v2;

	cr_assert_eq(set(r, "a/b", "first"), RETAIN_OK);
	v1 = retain_value_ref(get(r, "a/b"));
	cr_assert_eq(set(r, "a/b", "second"), RETAIN_OK);
	v2 = retain_value_ref(get(r, "a/b"));
	cr_assert_neq(v1, v2);
	cr_assert_eq(set(r, "a/b", ""), RETAIN_OK);
	assert_value(v1, "a/b", "first");
	assert_value(v2, "a/b", "second");
	retain_value_unref(v1);
	cr_assert_eq(set(r, "c", "third"), RETAIN_OK);
	v1 = retain_value_ref(get(r, "c"));
	retain_free(r);
	assert_value(v1, "c", "third");
	assert_value(v2, "a/b", "second");
	retain_value_unref(v1);
	retain_value_unref(v2);
}

/* A value queued by reference in an outq survives its clear; the queue's
 * write frees it (ASan would see a leak or a use after free). */
Test(retain, a_value_is_an_outq_block)
{
	struct retain *r = retain_new();
	struct outq q = { 0 };
	struct outpool pool;
	struct outblock *b;
	struct frame f;
	char buf[64];
	int p[2];
	ssize_t n;

	outpool_init(&pool, OUTQ_BLOCK_SIZE, 16);
	q.pool = &pool;
	cr_assert_eq(set(r, "a/b", "payload"), RETAIN_OK);
	b = retain_value_block(get(r, "a/b"));
	f.data = retain_value_frame(get(r, "a/b"), &f.len);
	f.block = b;
	cr_assert_eq(f.data, b->data);
	cr_assert_eq(b->len, strlen("RMSG a/b payload\n"));
	cr_assert_eq(outq_share(&q, b), 0);
	cr_assert_eq(outq_frame(&q, &f), 0, "twice, as a repeated SUB would");
	cr_assert_eq(set(r, "a/b", ""), RETAIN_OK);
	retain_free(r);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(outq_write(&q, p[1]), 34); /* and b is gone */
	close(p[1]);
	n = read(p[0], buf, sizeof buf);
	close(p[0]);
	cr_assert_eq(n, 34);
	cr_assert_eq(memcmp(buf, "RMSG a/b payload\nRMSG a/b payload\n", 34), 0);
	outq_clear(&q);
	outpool_clear(&pool);
}

Test(retain, clears_prune_empty_nodes)
{
	struct retain *r = retain_new();

	cr_assert_eq(set(r, "a/b/c/d", "1"), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 5);
	cr_assert_eq(set(r, "a/b", "2"), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 5, "a/b is a node already");
	cr_assert_eq(set(r, "a/x", "3"), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 6);
	cr_assert_eq(set(r, "a/b/c/d", ""), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 4, "c and d pruned, a/b holds a value");
	cr_assert_eq(set(r, "a/b", ""), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 3);
	cr_assert_eq(set(r, "a/x", ""), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), 1);
	/* A wide level shrinks back. */
	for (int i = 0; i < 5000; i++) {
		char t[32];

		snprintf(t, sizeof t, "w/%d", i);
		cr_assert_eq(set(r, t, "v"), RETAIN_OK);
	}
	cr_assert_eq(retain_node_count(r), 5002);
	for (int i = 0; i < 5000; i++) {
		char t[32];

		snprintf(t, sizeof t, "w/%d", i);
		cr_assert_eq(set(r, t, ""), RETAIN_OK);
	}
	cr_assert_eq(retain_node_count(r), 1);
	retain_free(r);
}

/* Collects the topics a match reports. */
struct found {
	char topics[64][64];
	size_t n;
};

static void
collect(struct retain_value *v, void *arg)
{
	struct found *f = arg;
	size_t len;
	const char *t = retain_value_topic(v, &len);

	cr_assert_lt(f->n, 64);
	cr_assert_lt(len, 64);
	memcpy(f->topics[f->n], t, len);
	f->topics[f->n][len] = '\0';
	f->n++;
}

/* One topic, one filter: the store answers as the shared table does. */
Test(retain, match_table_one_topic)
{
	for (size_t i = 0; i < N_MATCH_CASES; i++) {
		const struct match_case *c = &match_cases[i];
		struct retain *r = retain_new();
		struct found f = { .n = 0 };
		size_t n;

		if (topic_check(c->topic, strlen(c->topic), 1024) != TOPIC_OK ||
		    topic_check_filter(c->filter, strlen(c->filter), 1024) != TOPIC_OK) {
			retain_free(r);
			continue;
		}
		cr_assert_eq(set(r, c->topic, "v"), RETAIN_OK);
		n = retain_match(r, c->filter, strlen(c->filter), collect, &f);
		cr_assert_eq(n, f.n);
		cr_assert_eq(n, c->match ? 1u : 0u, "filter %s, topic %s: %zu matches", c->filter,
		             c->topic, n);
		retain_free(r);
	}
}

Test(retain, dollar_topics_and_wildcards)
{
	struct retain *r = retain_new();
	struct found f;

	cr_assert_eq(set_sys(r, "$SYS/broker/uptime", "1"), RETAIN_OK);
	cr_assert_eq(set(r, "$other", "2"), RETAIN_OK);
	cr_assert_eq(set(r, "a/$b", "3"), RETAIN_OK);
	cr_assert_eq(set(r, "x", "4"), RETAIN_OK);
#define COUNT(filter) (f.n = 0, retain_match(r, filter, strlen(filter), collect, &f))
	cr_assert_eq(COUNT("#"), 2, "# matches a/$b and x, not $ topics");
	cr_assert_eq(COUNT("+"), 1);
	cr_assert_eq(COUNT("+/broker/uptime"), 0);
	cr_assert_eq(COUNT("$SYS/#"), 1);
	cr_assert_eq(COUNT("$SYS/+/uptime"), 1);
	cr_assert_eq(COUNT("$SYS/broker/uptime"), 1);
	cr_assert_eq(COUNT("$other"), 1);
	cr_assert_eq(COUNT("a/+"), 1, "a '+' below the first level matches '$b'");
	cr_assert_eq(COUNT("a/#"), 1);
	cr_assert_eq(retain_foreach(r, collect, (f.n = 0, &f)), 4, "foreach sees everything");
#undef COUNT
	retain_free(r);
}

/* A random topic of up to 5 levels from a small alphabet, so that
 * topics and filters meet often; '$' levels and empty ones included. */
static size_t
random_topic(char *buf, unsigned *seed)
{
	static const char *words[] = { "a", "b", "", "$SYS", "$x", "ab", "c" };
	size_t levels = 1 + (size_t)rand_r(seed) % 5, len = 0;

	for (size_t i = 0; i < levels; i++) {
		const char *w = words[(size_t)rand_r(seed) % 7];

		if (i > 0)
			buf[len++] = '/';
		memcpy(buf + len, w, strlen(w));
		len += strlen(w);
	}
	buf[len] = '\0';
	return len;
}

/* A random filter: a random topic with some levels made '+' and maybe a
 * last '#'. */
static size_t
random_filter(char *buf, unsigned *seed)
{
	char t[64];
	size_t len = 0, tlen = random_topic(t, seed);
	const char *p = t, *end = t + tlen;

	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t llen = slash ? (size_t)(slash - p) : (size_t)(end - p);

		if (rand_r(seed) % 3 == 0)
			buf[len++] = '+';
		else {
			memcpy(buf + len, p, llen);
			len += llen;
		}
		if (slash == NULL)
			break;
		buf[len++] = '/';
		p = slash + 1;
	}
	if (rand_r(seed) % 3 == 0) {
		if (rand_r(seed) % 2)
			len = 0; /* "#" alone */
		else
			buf[len++] = '/';
		buf[len++] = '#';
	}
	buf[len] = '\0';
	return len;
}

/* Many random stores and filters: the store's matches are exactly the
 * stored topics topic_matches() accepts, each once. */
Test(retain, match_agrees_with_topic_matches)
{
	unsigned seed = 12345;

	for (int round = 0; round < 300; round++) {
		struct retain *r = retain_new();
		char topics[40][64];
		size_t ntopics = 0;

		for (int i = 0; i < 40; i++) {
			char t[64];
			size_t len = random_topic(t, &seed);

			if (topic_check(t, len, 1024) != TOPIC_OK || get(r, t) != NULL)
				continue;
			cr_assert_eq(set(r, t, "v"), RETAIN_OK);
			strcpy(topics[ntopics++], t);
		}
		/* Clear a few, so that pruned trees are matched too. */
		for (size_t i = 0; i < ntopics; i += 1 + (size_t)rand_r(&seed) % 8) {
			cr_assert_eq(set(r, topics[i], ""), RETAIN_OK);
			topics[i][0] = '\0';
		}
		for (int k = 0; k < 50; k++) {
			char fl[140];
			size_t flen = random_filter(fl, &seed), want = 0, got;
			struct found f = { .n = 0 };

			if (topic_check_filter(fl, flen, 1024) != TOPIC_OK)
				continue;
			got = retain_match(r, fl, flen, collect, &f);
			cr_assert_eq(got, f.n);
			for (size_t i = 0; i < ntopics; i++) {
				size_t seen = 0;

				if (topics[i][0] == '\0' ||
				    !topic_matches(fl, flen, topics[i], strlen(topics[i])))
					continue;
				want++;
				for (size_t j = 0; j < f.n; j++)
					seen += strcmp(f.topics[j], topics[i]) == 0;
				cr_assert_eq(seen, 1, "filter %s, topic %s: reported %zu times", fl,
				             topics[i], seen);
			}
			cr_assert_eq(got, want, "filter %s: %zu matches, want %zu", fl, got, want);
		}
		retain_free(r);
	}
}

static void
count_cb(struct retain_value *v, void *arg)
{
	(void)v;
	(*(size_t *)arg)++;
}

/* Thousands of levels: no recursion in set, match, clear or free. */
Test(retain, very_deep_topics)
{
	struct retain *r = retain_new();
	size_t levels = 30000, len = 2 * levels - 1, n = 0;
	char *t = malloc(len + 1), *fl = malloc(len + 1);

	cr_assert(t != NULL && fl != NULL);
	for (size_t i = 0; i < len; i++) {
		t[i] = i % 2 ? '/' : 'a';
		fl[i] = i % 2 ? '/' : '+';
	}
	cr_assert_eq(retain_set(r, t, len, "deep", 4, NULL, 0), RETAIN_OK);
	cr_assert_eq(retain_set(r, t, len - 2, "less", 4, NULL, 0), RETAIN_OK);
	cr_assert_eq(retain_match(r, "#", 1, count_cb, &n), 2);
	cr_assert_eq(retain_match(r, fl, len, count_cb, &n), 1);
	fl[len - 1] = '#';
	cr_assert_eq(retain_match(r, fl, len, count_cb, &n), 2, "+/.../# matches the parent too");
	cr_assert_eq(retain_match(r, t, len, count_cb, &n), 1);
	cr_assert_eq(retain_node_count(r), levels + 1);
	cr_assert_eq(retain_set(r, t, len - 2, "", 0, NULL, 0), RETAIN_OK);
	cr_assert_eq(retain_node_count(r), levels + 1, "still on the deeper one's path");
	cr_assert_eq(retain_set(r, t, len, "x", 1, NULL, 0), RETAIN_OK);
	retain_free(r); /* with a deep tree in it */
	free(t);
	free(fl);
}

/* A '+' visits the children of one node, not the whole tree. */
Test(retain, plus_walks_one_level)
{
	struct retain *r = retain_new();
	size_t n = 0;

	for (int i = 0; i < 1000; i++) {
		char t[64];

		snprintf(t, sizeof t, "big/%d/x", i);
		cr_assert_eq(set(r, t, "v"), RETAIN_OK);
		snprintf(t, sizeof t, "small/%d/x", i % 3);
		cr_assert_eq(set(r, t, "v"), RETAIN_OK);
	}
	/* small, its 3 children, their x: 7 nodes, whatever big holds. */
	cr_assert_eq(retain_match(r, "small/+/x", 9, count_cb, &n), 3);
	cr_assert_eq(retain_last_visits(r), 7);
	cr_assert_eq(retain_match(r, "big/517/x", 9, count_cb, &n), 1);
	cr_assert_eq(retain_last_visits(r), 3, "an exact filter costs its levels");
	cr_assert_eq(retain_match(r, "big/517/y", 9, count_cb, &n), 0);
	cr_assert_eq(retain_match(r, "small/+/y", 9, count_cb, &n), 0);
	cr_assert_eq(retain_last_visits(r), 4, "small and its children, no x below");
	n = 0;
	cr_assert_eq(retain_match(r, "+/+/x", 5, count_cb, &n), 1003);
	cr_assert_eq(retain_match(r, "big/#", 5, count_cb, &n), 1000);
	cr_assert_eq(retain_last_visits(r), 2001, "big, its 1000 children, their x");
	cr_assert_eq(retain_match(r, "#", 1, count_cb, &n), 1003);
	cr_assert_eq(retain_last_visits(r), retain_node_count(r) - 1, "everything but the root");
	cr_assert_lt(retain_longest_chain(r), 16, "keyed hash: short chains");
	retain_free(r);
}

/* Bytes of heap per value for 10^6 values of 32-byte topics and 16-byte
 * payloads, printed for the record. Not measurable under a sanitizer's
 * allocator (mallinfo2 sees nothing): then only checks the store works. */
Test(retain, memory_per_value, .timeout = 120)
{
	const size_t n = 1000000;
	struct mallinfo2 before, after;
	struct retain *r;
	char t[64];
	double per;

	before = mallinfo2();
	r = retain_new();
	cr_assert_not_null(r);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(t, sizeof t, "sensors/room%03zu/temp/value%06zu", i % 1000, i);

		cr_assert_eq(len, 32);
		cr_assert_eq(retain_set(r, t, 32, "0123456789abcdef", 16, &someone, 0), RETAIN_OK);
	}
	after = mallinfo2();
	cr_assert_eq(retain_count(r), n);
	if (after.uordblks > before.uordblks) {
		per = (double)(after.uordblks - before.uordblks) / (double)n;
		fprintf(stderr,
		        "retain: %.1f bytes of heap per value (10^6 values, 32-byte topics, "
		        "16-byte payloads)\n",
		        per);
		cr_assert_lt(per, 256.0);
	}
	retain_free(r);
}

/* ---- cursors: a match spread over several calls ---- */

/* What a cursor reported: how many times each "c/<i>" came. */
struct tally {
	unsigned char *count;
	size_t n;
	size_t calls;
};

static void
tally_cb(struct retain_value *v, void *arg)
{
	struct tally *t = arg;
	size_t len;
	const char *topic = retain_value_topic(v, &len);
	char buf[32];
	long i;

	cr_assert(len > 2 && len < sizeof buf && memcmp(topic, "c/", 2) == 0);
	memcpy(buf, topic + 2, len - 2);
	buf[len - 2] = '\0';
	i = strtol(buf, NULL, 10);
	cr_assert(i >= 0 && (size_t)i < t->n, "topic %.*s", (int)len, topic);
	t->count[i]++;
	t->calls++;
}

static void
set_c(struct retain *r, long i, const char *payload)
{
	char topic[32];

	snprintf(topic, sizeof topic, "c/%ld", i);
	cr_assert_eq(set(r, topic, payload), RETAIN_OK);
}

/* A budget of one byte reports one value per call; a big one all the
 * rest; every value once. */
Test(retain, cursor_reports_every_value_once_in_chunks)
{
	enum { N = 3000 };
	struct retain *r = retain_new();
	struct tally t = { calloc(N, 1), N, 0 };
	struct retain_cursor *c;
	size_t calls = 0;
	int rc;

	for (long i = 0; i < N; i++)
		set_c(r, i, "value");
	cr_assert_eq(set(r, "other/x", "y"), RETAIN_OK);
	c = retain_cursor_new(r, "c/+", 3);
	cr_assert_not_null(c);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(retain_cursor_next(c, 1, tally_cb, &t), 1);
		cr_assert_eq(t.calls, ++calls, "one value per byte of budget spent");
	}
	/* "RMSG c/NNNN value\n" is at most 18 bytes: 10 values per 180. */
	cr_assert_eq(retain_cursor_next(c, 180, tally_cb, &t), 1);
	cr_assert_geq(t.calls, calls + 10);
	while ((rc = retain_cursor_next(c, 4096, tally_cb, &t)) == 1)
		;
	cr_assert_eq(rc, 0);
	cr_assert_eq(t.calls, N);
	for (long i = 0; i < N; i++)
		cr_assert_eq(t.count[i], 1, "c/%ld came %d times", i, t.count[i]);
	cr_assert_eq(retain_cursor_next(c, 4096, tally_cb, &t), 0, "done stays done");
	retain_cursor_free(c);
	free(t.count);
	retain_free(r);
}

/* The store changes while a cursor is open: no node goes away under it
 * (clears are pruned when it closes), replaced values are reported as
 * they are, cleared ones not, untouched ones exactly once; new topics are
 * reported at most once. Under ASan a freed node would show. */
Test(retain, cursor_survives_changes_to_the_store)
{
	enum { N = 4000 };
	struct retain *r = retain_new();
	struct tally t = { calloc(2 * N, 1), 2 * N, 0 };
	struct retain_cursor *c, *c2;
	int rc;

	for (long i = 0; i < N; i++)
		set_c(r, i, "old");
	cr_assert_eq(retain_node_count(r), N + 2);
	c = retain_cursor_new(r, "#", 1);
	c2 = retain_cursor_new(r, "c/+", 3); /* a second one, closed first */
	cr_assert(c != NULL && c2 != NULL);
	cr_assert_eq(retain_cursor_next(c, 2000, tally_cb, &t), 1);
	/* Clear every odd one, replace every fourth, add N new ones (their
	 * level's table would grow, and does not while pinned). */
	for (long i = 1; i < N; i += 2)
		set_c(r, i, "");
	for (long i = 0; i < N; i += 4)
		set_c(r, i, "new");
	for (long i = N; i < 2 * N; i++)
		set_c(r, i, "added");
	cr_assert_eq(retain_node_count(r), 2 * N + 2, "nothing pruned while pinned");
	retain_cursor_free(c2);
	cr_assert_eq(retain_node_count(r), 2 * N + 2, "still pinned by the first");
	while ((rc = retain_cursor_next(c, 2000, tally_cb, &t)) == 1)
		;
	cr_assert_eq(rc, 0);
	for (long i = 0; i < N; i += 2)
		cr_assert_eq(t.count[i], 1, "c/%ld, never cleared, came %d times", i, t.count[i]);
	for (long i = 1; i < 2 * N; i++)
		cr_assert_leq(t.count[i], 1, "c/%ld came %d times", i, t.count[i]);
	retain_cursor_free(c);
	cr_assert_eq(retain_node_count(r), N / 2 + N + 2, "the cleared ones pruned at the close");
	cr_assert_eq(retain_count(r), N / 2 + N);
	/* The store is whole: a new match sees exactly what is there. */
	memset(t.count, 0, 2 * N);
	t.calls = 0;
	cr_assert_eq(retain_match(r, "c/#", 3, tally_cb, &t), N / 2 + N);
	for (long i = 0; i < 2 * N; i++)
		cr_assert_eq(t.count[i], i >= N || i % 2 == 0, "c/%ld", i);
	/* And it grows and prunes normally again. */
	for (long i = 0; i < 2 * N; i++)
		set_c(r, i, "");
	cr_assert_eq(retain_node_count(r), 1);
	free(t.count);
	retain_free(r);
}

/* A cursor over an empty store, or one whose topics got deeper since it
 * opened. */
Test(retain, cursor_empty_store_and_deeper_topics)
{
	struct retain *r = retain_new();
	struct found f = { .n = 0 };
	struct retain_cursor *c = retain_cursor_new(r, "#", 1);

	cr_assert_eq(retain_cursor_next(c, 100, collect, &f), 0);
	retain_cursor_free(c);
	cr_assert_eq(set(r, "a", "1"), RETAIN_OK);
	c = retain_cursor_new(r, "#", 1);
	cr_assert_eq(set(r, "a/b/c/d/e/f/g/h", "2"), RETAIN_OK);
	while (retain_cursor_next(c, 1, collect, &f) == 1)
		;
	cr_assert_leq(f.n, 2);
	cr_assert_geq(f.n, 1);
	retain_cursor_free(c);
	retain_free(r);
}

/* Few clears under a cursor leave their nodes until enough of them make a
 * sweep worth it; the empty nodes meanwhile change no answer. */
Test(retain, cursor_sweep_waits_for_enough_clears)
{
	enum { N = 2000 };
	struct retain *r = retain_new();
	struct tally t = { calloc(N, 1), N, 0 };
	struct retain_cursor *c;

	for (long i = 0; i < N; i++)
		set_c(r, i, "v");
	c = retain_cursor_new(r, "#", 1);
	for (long i = 0; i < 10; i++)
		set_c(r, i, "");
	retain_cursor_free(c);
	cr_assert_eq(retain_node_count(r), N + 2, "10 clears: no sweep yet");
	cr_assert_eq(retain_match(r, "c/+", 3, tally_cb, &t), N - 10);
	set_c(r, 3, "back"); /* reuses its node */
	cr_assert_eq(retain_node_count(r), N + 2);
	c = retain_cursor_new(r, "#", 1);
	for (long i = 10; i < 1100; i++)
		set_c(r, i, "");
	retain_cursor_free(c);
	cr_assert_eq(retain_node_count(r), N - 1100 + 1 + 2, "1100 clears: swept");
	cr_assert_eq(retain_count(r), N - 1100 + 1);
	free(t.count);
	retain_free(r);
}
