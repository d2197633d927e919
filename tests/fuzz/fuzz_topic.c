/*
 * Fuzz target: topic and filter validation (src/common/topic.c) and the
 * broker's subscription tree (src/daemon/subtree.c).
 *
 * Input: two header bytes, then pieces separated by '\n', each tried as a
 * topic and as a filter.
 *   byte 0   max length for the validators - 1 (1..256)
 *   byte 1   which subscriptions to remove half way (bit i % 8 for the i-th)
 *
 * Three matchers must agree on every (valid filter, valid topic) pair: the
 * tree, topic_matches(), and a plain level-by-level statement of the rules
 * written here. The validators are checked against a statement of the
 * rules too. topic_filter_covers() and topic_filter_overlaps() (access
 * rules) are checked on pairs of filters for their invariants, and on pairs
 * of short filters against a brute force search over every topic that can
 * tell the two filters apart. subtree_find() and subtree_filter() must
 * name the nodes of the filters added. Valid filters are also read as
 * shared subscriptions ("$share/GROUP/FILTER", share_parse() against the
 * rule stated here), and two subscribers join and leave the groups they
 * name: one subscription per group in the tree, picks among members.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "share.h"
#include "subscriber.h"
#include "subtree.h"
#include "topic.h"

#define MAX_PIECES  64
#define MAX_SUBS    32
#define BIG_MAX     65535 /* the largest max_topic the config allows */
#define PAIRS       16    /* the first filters, related pairwise */
#define BRUTE_PAIRS 8     /* the first filters, brute-forced pairwise */

struct piece {
	const char *s;
	size_t n;
};

/* The levels of s: start and length of each, up to max of them. */
static size_t
levels(const char *s, size_t n, struct piece *lv, size_t max)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i <= n && count < max; i++)
		if (i == n || s[i] == '/') {
			lv[count++] = (struct piece){ s + start, i - start };
			start = i + 1;
		}
	return count;
}

static bool
level_is(const struct piece *lv, char c)
{
	return lv->n == 1 && lv->s[0] == c;
}

/* The UTF-8 rule stated as decoding: the code point of the sequence at s
 * (n bytes available) must be spelled in the fewest bytes, be no surrogate
 * and at most U+10FFFF. Returns the sequence's length and its code point in
 * *cp, or 0 when it is not well-formed. */
static size_t
ref_utf8(const unsigned char *s, size_t n, unsigned long *cp)
{
	static const unsigned long least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len = 0;

	while (len < 8 && (s[0] & (0x80u >> len)) != 0)
		len++;
	if (len == 0) {
		*cp = s[0];
		return 1;
	}
	if (len == 1 || len > 4 || n < len)
		return 0;
	*cp = s[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] >> 6) != 2)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < least[len] || (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return 0;
	return len;
}

/* Which rules of topic.h the input breaks, stated level by level. */
struct broken {
	bool byte; /* a space or a control character: C0, DEL, C1 */
	bool utf8; /* not well-formed UTF-8 */
	bool wild; /* a wildcard where it may not be */
};

/* The rules of topic.h stated level by level. Returns TOPIC_OK or an error
 * the input must get; for input that breaks several rules, any of their
 * errors is right: *b says which. */
static enum topic_error
ref_check(const char *s, size_t n, size_t max, bool filter, struct broken *b)
{
	size_t start = 0;

	*b = (struct broken){ false, false, false };
	if (n == 0)
		return TOPIC_EMPTY;
	if (n > max)
		return TOPIC_TOO_LONG;
	for (size_t i = 0; i < n;) {
		unsigned long cp;
		size_t len = ref_utf8((const unsigned char *)s + i, n - i, &cp);

		if (len == 0) {
			b->utf8 = true;
			i++; /* resynchronise anywhere: only whether it is broken counts */
			continue;
		}
		if (cp <= 0x20 || (cp >= 0x7f && cp <= 0x9f))
			b->byte = true;
		i += len;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		/* The level [start, i). */
		{
			const char *l = s + start;
			size_t ln = i - start;
			bool wild = memchr(l, '+', ln) != NULL || memchr(l, '#', ln) != NULL;

			if (wild && (!filter || ln != 1 || (l[0] == '#' && i != n)))
				b->wild = true;
		}
		start = i + 1;
	}
	return b->byte   ? TOPIC_BAD_BYTE
	       : b->utf8 ? TOPIC_BAD_UTF8
	       : b->wild ? TOPIC_WILDCARD
	                 : TOPIC_OK;
}

/* Is got one of the errors b allows, or want when there is only one? */
static bool
error_allowed(enum topic_error got, enum topic_error want, const struct broken *b)
{
	if (got == want)
		return true;
	return (got == TOPIC_BAD_BYTE && b->byte) || (got == TOPIC_BAD_UTF8 && b->utf8) ||
	       (got == TOPIC_WILDCARD && b->wild);
}

static void
check_validators(const char *s, size_t n, size_t max)
{
	enum topic_error te = topic_check(s, n, max), fe = topic_check_filter(s, n, max);
	struct broken b;
	enum topic_error want;

	want = ref_check(s, n, max, false, &b);
	FUZZ_CHECK(error_allowed(te, want, &b),
	           "topic_check of %zu bytes (max %zu): %d, rules say %d", n, max, (int)te,
	           (int)want);
	want = ref_check(s, n, max, true, &b);
	FUZZ_CHECK(error_allowed(fe, want, &b),
	           "topic_check_filter of %zu bytes (max %zu): %d, rules say %d", n, max, (int)fe,
	           (int)want);
	FUZZ_CHECK(te != TOPIC_OK || fe == TOPIC_OK, "a valid topic is not a valid filter");
	FUZZ_CHECK(topic_strerror(te) != NULL && topic_strerror(fe) != NULL, "no error text");
	FUZZ_CHECK(topic_is_reserved(s, n) == (n > 0 && s[0] == '$'), "reserved");
	for (size_t i = 0; i < n;) {
		unsigned long cp;
		size_t want_len = ref_utf8((const unsigned char *)s + i, n - i, &cp);
		size_t len = utf8_char_len((const unsigned char *)s + i, n - i);

		FUZZ_CHECK(len == want_len, "utf8_char_len at %zu of %zu bytes: %zu, rules say %zu",
		           i, n, len, want_len);
		i += len ? len : 1;
	}
}

/* The matching rules stated level by level, for the levels of a valid
 * filter and of a valid topic. */
static bool
match_levels(const struct piece *fl, size_t nf, const struct piece *tl, size_t nt)
{
	if (tl[0].n > 0 && tl[0].s[0] == '$' && (level_is(&fl[0], '+') || level_is(&fl[0], '#')))
		return false;
	for (size_t i = 0; i < nf; i++) {
		if (level_is(&fl[i], '#'))
			return true; /* "a/#" matches "a" too: i == nt is fine */
		if (i >= nt)
			return false;
		if (!level_is(&fl[i], '+') &&
		    (fl[i].n != tl[i].n || memcmp(fl[i].s, tl[i].s, fl[i].n) != 0))
			return false;
	}
	return nf == nt;
}

/* The same for a filter and a topic as strings. */
static bool
ref_matches(const char *f, size_t fn, const char *t, size_t tn)
{
	static struct piece fl[BIG_MAX + 1], tl[BIG_MAX + 1];
	size_t nf = levels(f, fn, fl, BIG_MAX + 1), nt = levels(t, tn, tl, BIG_MAX + 1);

	return match_levels(fl, nf, tl, nt);
}

#define BRUTE_LEVELS 5  /* filters with more levels are not brute-forced */
#define BRUTE_LEN    64 /* nor longer ones */

/* Decides covers(a, b) and overlaps(a, b) by trying topics. A topic that
 * matches one filter and not the other (or both) stays one when each level
 * that is not a literal of either filter at that position is replaced by a
 * fresh literal, and when it is cut to one level more than the longer
 * filter: so trying, at each position, the literals of a and b there and
 * one fresh literal, for every length up to that, is enough. Returns false
 * when the filters are too long to try. */
static bool
brute_relations(const char *a, size_t an, const char *b, size_t bn, bool *covers, bool *overlaps)
{
	struct piece la[BRUTE_LEVELS + 1], lb[BRUTE_LEVELS + 1], opt[BRUTE_LEVELS + 1][3];
	struct piece tl[BRUTE_LEVELS + 1];
	size_t na, nb, nopt[BRUTE_LEVELS + 1], pick[BRUTE_LEVELS + 1], maxl, longest = 0;
	char fresh[BRUTE_LEN + 1];

	if (an > BRUTE_LEN || bn > BRUTE_LEN)
		return false;
	na = levels(a, an, la, BRUTE_LEVELS + 1);
	nb = levels(b, bn, lb, BRUTE_LEVELS + 1);
	if (na > BRUTE_LEVELS || nb > BRUTE_LEVELS)
		return false;
	/* Longer than any level of either: equal to none of them. */
	for (size_t i = 0; i < na || i < nb; i++) {
		if (i < na && la[i].n > longest)
			longest = la[i].n;
		if (i < nb && lb[i].n > longest)
			longest = lb[i].n;
	}
	memset(fresh, '~', longest + 1);
	maxl = (na > nb ? na : nb) + 1;
	for (size_t i = 0; i < maxl; i++) {
		size_t k = 0;

		if (i < na && !level_is(&la[i], '+') && !level_is(&la[i], '#'))
			opt[i][k++] = la[i];
		if (i < nb && !level_is(&lb[i], '+') && !level_is(&lb[i], '#') &&
		    !(k == 1 && opt[i][0].n == lb[i].n &&
		      memcmp(opt[i][0].s, lb[i].s, lb[i].n) == 0))
			opt[i][k++] = lb[i];
		opt[i][k++] = (struct piece){ fresh, longest + 1 };
		nopt[i] = k;
	}

	*covers = true;
	*overlaps = false;
	for (size_t len = 1; len <= maxl; len++) {
		memset(pick, 0, sizeof pick);
		for (;;) {
			size_t i;

			for (i = 0; i < len; i++)
				tl[i] = opt[i][pick[i]];
			if (len > 1 || tl[0].n > 0) { /* "" is no topic */
				bool ma = match_levels(la, na, tl, len),
				     mb = match_levels(lb, nb, tl, len);

				*overlaps = *overlaps || (ma && mb);
				*covers = *covers && (ma || !mb);
			}
			/* The next combination, or the next length. */
			for (i = 0; i < len && ++pick[i] == nopt[i]; i++)
				pick[i] = 0;
			if (i == len)
				break;
		}
	}
	return true;
}

/* covers and overlaps of two valid filters: their invariants, and the
 * brute force answer when brute is true and the filters are short. */
static void
check_relations(const char *a, size_t an, const char *b, size_t bn, bool brute)
{
	bool cov = topic_filter_covers(a, an, b, bn), ovl = topic_filter_overlaps(a, an, b, bn);
	bool want_cov, want_ovl;

	FUZZ_CHECK(!cov || ovl, "\"%.*s\" covers \"%.*s\" but does not overlap it", (int)an, a,
	           (int)bn, b);
	FUZZ_CHECK(ovl == topic_filter_overlaps(b, bn, a, an),
	           "overlaps(\"%.*s\", \"%.*s\") "
	           "is not symmetric",
	           (int)an, a, (int)bn, b);
	if (topic_check(b, bn, BIG_MAX) == TOPIC_OK) {
		bool m = topic_matches(a, an, b, bn);

		FUZZ_CHECK(cov == m, "covers(\"%.*s\", topic \"%.*s\") = %d, topic_matches %d",
		           (int)an, a, (int)bn, b, cov, m);
		FUZZ_CHECK(ovl == m, "overlaps(\"%.*s\", topic \"%.*s\") = %d, topic_matches %d",
		           (int)an, a, (int)bn, b, ovl, m);
	}
	if (brute && brute_relations(a, an, b, bn, &want_cov, &want_ovl)) {
		FUZZ_CHECK(cov == want_cov, "covers(\"%.*s\", \"%.*s\") = %d, topics say %d",
		           (int)an, a, (int)bn, b, cov, want_cov);
		FUZZ_CHECK(ovl == want_ovl, "overlaps(\"%.*s\", \"%.*s\") = %d, topics say %d",
		           (int)an, a, (int)bn, b, ovl, want_ovl);
	}
}

struct sub {
	const char *filter;
	size_t len;
	struct subscription *s; /* NULL once removed */
};

struct hits {
	unsigned count[MAX_SUBS];
	size_t calls;
};

/* Subscription i is owned by owners[i]. */
static struct subowner owners[MAX_SUBS];

static void
on_match(struct subscription *s, void *arg)
{
	struct hits *h = arg;
	size_t i = (size_t)(s->owner - owners);

	FUZZ_CHECK(s->owner >= owners && i < MAX_SUBS, "unknown owner %p", (void *)s->owner);
	h->count[i]++;
	h->calls++;
}

/* Matches every topic against the tree; each live subscription must be hit
 * exactly when its filter matches, once. */
static void
check_tree(const struct subtree *tree, const struct sub *subs, size_t nsubs,
           const struct piece *topics, size_t ntopics)
{
	for (size_t t = 0; t < ntopics; t++) {
		struct hits h = { { 0 }, 0 };
		size_t calls = subtree_match(tree, topics[t].s, topics[t].n, on_match, &h);

		FUZZ_CHECK(calls == h.calls, "subtree_match said %zu calls, made %zu", calls,
		           h.calls);
		for (size_t i = 0; i < nsubs; i++) {
			bool want = subs[i].s != NULL && topic_matches(subs[i].filter, subs[i].len,
			                                               topics[t].s, topics[t].n);

			FUZZ_CHECK(h.count[i] == (want ? 1u : 0u),
			           "filter \"%.*s\" %s topic \"%.*s\": tree called %u times",
			           (int)subs[i].len, subs[i].filter,
			           want ? "matches" : "does not match", (int)topics[t].n,
			           topics[t].s, h.count[i]);
		}
	}
}

/* subtree_filter names a node by the filter it was added with; into a
 * buffer one byte short it writes nothing. */
static void
check_filter_of(const struct subnode *n, const char *filter, size_t len)
{
	char *buf = malloc(len + 1);
	size_t got;

	FUZZ_CHECK(buf != NULL, "out of memory");
	got = subtree_filter(n, buf, len + 1);
	FUZZ_CHECK(got == len && memcmp(buf, filter, len) == 0,
	           "subtree_filter of \"%.*s\" gave \"%.*s\"", (int)len, filter, (int)got, buf);
	got = subtree_filter(n, buf, len - 1);
	FUZZ_CHECK(got == 0, "subtree_filter of \"%.*s\" in %zu bytes gave %zu", (int)len, filter,
	           len - 1, got);
	free(buf);
}

/* subtree_find knows a filter exactly when a live subscription holds it. */
static void
check_find(const struct subtree *tree, const struct sub *subs, size_t nsubs)
{
	for (size_t i = 0; i < nsubs; i++) {
		struct subnode *n = subtree_find(tree, subs[i].filter, subs[i].len);
		bool held = false;

		for (size_t j = 0; j < nsubs; j++)
			if (subs[j].s != NULL && subs[j].len == subs[i].len &&
			    memcmp(subs[j].filter, subs[i].filter, subs[i].len) == 0) {
				FUZZ_CHECK(n == subs[j].s->node,
				           "subtree_find of \"%.*s\": wrong node", (int)subs[i].len,
				           subs[i].filter);
				held = true;
			}
		FUZZ_CHECK(held || n == NULL, "subtree_find found the removed \"%.*s\"",
		           (int)subs[i].len, subs[i].filter);
		if (subs[i].s != NULL)
			check_filter_of(subs[i].s->node, subs[i].filter, subs[i].len);
	}
}

/* share_parse's rule, stated plainly: "$share" then "/" GROUP "/" FILTER,
 * GROUP not empty and no wildcard, FILTER not empty; anything else that
 * begins with "$share" followed by nothing or '/' is bad. */
static enum share_syntax
ref_share(const char *s, size_t n, size_t *foff)
{
	size_t g = 7, e;

	if (n < 6 || memcmp(s, "$share", 6) != 0 || (n > 6 && s[6] != '/'))
		return SHARE_NONE;
	for (e = g; e < n && s[e] != '/'; e++)
		;
	if (e >= n || e == g || (e - g == 1 && (s[g] == '+' || s[g] == '#')) || e + 1 >= n)
		return SHARE_BAD;
	*foff = e + 1;
	return SHARE_OK;
}

/* A subscriber of the shares check: busy when told so. */
struct fake {
	struct subscriber sub;
	bool busy;
};

static bool
fake_busy(const struct subscriber *sub)
{
	return ((const struct fake *)sub)->busy;
}

static const struct subscriber_ops fake_ops = { .busy = fake_busy };

/* What a group picks, by the state of the two fakes. */
struct pick_check {
	struct fake *a, *b;
};

static void
on_pick(struct subscription *s, void *arg)
{
	struct pick_check *pc = arg;
	struct subscriber *g = subscriber_of(s->owner), *m;

	FUZZ_CHECK(g->ops->pick != NULL, "a plain subscription in a tree of groups");
	m = g->ops->pick(g);
	if (pc->a->sub.closed)
		FUZZ_CHECK(m == NULL || m == &pc->b->sub, "a closed member was picked");
	else if (!pc->a->busy)
		FUZZ_CHECK(m == &pc->a->sub, "a busy member was picked while another was not");
	else
		FUZZ_CHECK(m == &pc->a->sub || m == &pc->b->sub, "a group picked a stranger");
}

/* Two subscribers join every well-formed shared subscription among the
 * pieces (the second every other one), are picked, and leave. */
static void
check_shares(const struct piece *pieces, size_t npieces)
{
	struct subtree *tree = subtree_new();
	struct shares *sh = tree != NULL ? shares_new(tree) : NULL;
	struct fake a = { .sub.ops = &fake_ops }, b = { .sub.ops = &fake_ops, .busy = true };
	size_t joined = 0;

	FUZZ_CHECK(sh != NULL, "out of memory");
	for (size_t i = 0; i < npieces; i++) {
		const struct piece *p = &pieces[i];
		const char *f = NULL;
		size_t flen = 0, foff = 0;
		enum share_syntax got, want;
		struct share_member *m;

		if (topic_check_filter(p->s, p->n, BIG_MAX) != TOPIC_OK)
			continue;
		got = share_parse(p->s, p->n, &f, &flen);
		want = ref_share(p->s, p->n, &foff);
		FUZZ_CHECK(got == want, "share_parse(\"%.*s\") = %d, rules say %d", (int)p->n, p->s,
		           got, want);
		if (got != SHARE_OK)
			continue;
		FUZZ_CHECK(f == p->s + foff && flen == p->n - foff, "the filter of \"%.*s\"",
		           (int)p->n, p->s);
		if (share_find(sh, &a.sub, p->s, p->n) == NULL)
			joined++;
		m = share_join(sh, &a.sub, p->s, p->n);
		FUZZ_CHECK(m != NULL && share_find(sh, &a.sub, p->s, p->n) == m, "join");
		FUZZ_CHECK(share_join(sh, &a.sub, p->s, p->n) == m, "a second join");
		if (i % 2 == 0)
			FUZZ_CHECK(share_join(sh, &b.sub, p->s, p->n) != NULL, "join");
	}
	FUZZ_CHECK(share_group_count(sh) == joined && subtree_count(tree) == joined,
	           "%zu groups, %zu subscriptions, %zu joined", share_group_count(sh),
	           subtree_count(tree), joined);
	FUZZ_CHECK(a.sub.nshares == joined, "a holds %zu of %zu", a.sub.nshares, joined);
	/* Every group matching a topic picks a while b is busy; with both
	 * busy, either; with a closed, b where it is a member. */
	for (size_t i = 0; i < npieces; i++) {
		struct pick_check pc = { &a, &b };

		if (topic_check(pieces[i].s, pieces[i].n, BIG_MAX) != TOPIC_OK)
			continue;
		a.busy = false;
		subtree_match(tree, pieces[i].s, pieces[i].n, on_pick, &pc);
		a.busy = true;
		subtree_match(tree, pieces[i].s, pieces[i].n, on_pick, &pc);
		a.sub.closed = true;
		subtree_match(tree, pieces[i].s, pieces[i].n, on_pick, &pc);
		a.sub.closed = false;
	}
	share_leave_all(sh, &a.sub);
	FUZZ_CHECK(share_member_count(sh) == b.sub.nshares, "only b's left");
	FUZZ_CHECK(subtree_count(tree) == b.sub.nshares, "a group per member left");
	share_leave_all(sh, &b.sub);
	FUZZ_CHECK(share_group_count(sh) == 0 && subtree_count(tree) == 0, "all gone");
	shares_free(sh);
	subtree_free(tree);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	size_t max = 1 + (size_t)fuzz_byte(&in);
	uint8_t remove_mask = fuzz_byte(&in);
	const char *s = (const char *)in.p;
	struct piece pieces[MAX_PIECES], topics[MAX_PIECES];
	struct sub subs[MAX_SUBS];
	size_t npieces = 0, ntopics = 0, nsubs = 0, live = 0, start = 0;
	struct subtree *tree;

	for (size_t i = 0; i <= in.n && npieces < MAX_PIECES; i++)
		if (i == in.n || s[i] == '\n') {
			pieces[npieces++] = (struct piece){ s + start, i - start };
			start = i + 1;
		}

	check_shares(pieces, npieces);
	tree = subtree_new();
	FUZZ_CHECK(tree != NULL, "out of memory");
	for (size_t i = 0; i < npieces; i++) {
		const struct piece *p = &pieces[i];

		check_validators(p->s, p->n, max);
		if (topic_check(p->s, p->n, BIG_MAX) == TOPIC_OK) {
			topics[ntopics++] = *p;
			FUZZ_CHECK(topic_matches(p->s, p->n, p->s, p->n),
			           "a topic does not match itself");
		}
		if (topic_check_filter(p->s, p->n, BIG_MAX) == TOPIC_OK && nsubs < MAX_SUBS) {
			subs[nsubs] = (struct sub){ p->s, p->n, NULL };
			subs[nsubs].s = subtree_add(tree, p->s, p->n, &owners[nsubs]);
			FUZZ_CHECK(subs[nsubs].s != NULL, "subtree_add failed");
			nsubs++;
			live++;
		}
	}
	FUZZ_CHECK(subtree_count(tree) == live, "count %zu, %zu added", subtree_count(tree), live);

	/* Two independent statements of the rules must agree. */
	for (size_t i = 0; i < nsubs; i++)
		for (size_t t = 0; t < ntopics; t++) {
			bool got =
			    topic_matches(subs[i].filter, subs[i].len, topics[t].s, topics[t].n);
			bool want =
			    ref_matches(subs[i].filter, subs[i].len, topics[t].s, topics[t].n);

			FUZZ_CHECK(got == want,
			           "topic_matches(\"%.*s\", \"%.*s\") = %d, rules say %d",
			           (int)subs[i].len, subs[i].filter, (int)topics[t].n, topics[t].s,
			           got, want);
		}

	/* Pairs of filters; the first few also by brute force. */
	for (size_t i = 0; i < nsubs && i < PAIRS; i++) {
		FUZZ_CHECK(
		    topic_filter_covers(subs[i].filter, subs[i].len, subs[i].filter, subs[i].len),
		    "\"%.*s\" does not cover itself", (int)subs[i].len, subs[i].filter);
		for (size_t j = 0; j < nsubs && j < PAIRS; j++)
			check_relations(subs[i].filter, subs[i].len, subs[j].filter, subs[j].len,
			                i < BRUTE_PAIRS && j < BRUTE_PAIRS);
	}

	check_tree(tree, subs, nsubs, topics, ntopics);
	check_find(tree, subs, nsubs);

	/* Remove some, which prunes nodes; the rest must still match. */
	for (size_t i = 0; i < nsubs; i++)
		if (remove_mask >> (i % 8) & 1) {
			subtree_remove(tree, subs[i].s);
			subs[i].s = NULL;
			live--;
		}
	FUZZ_CHECK(subtree_count(tree) == live, "count %zu, %zu left", subtree_count(tree), live);
	check_tree(tree, subs, nsubs, topics, ntopics);
	check_find(tree, subs, nsubs);

	/* Then the others, in reverse order: the tree must end up empty. */
	for (size_t i = nsubs; i-- > 0;)
		if (subs[i].s != NULL) {
			subtree_remove(tree, subs[i].s);
			subs[i].s = NULL;
		}
	FUZZ_CHECK(subtree_count(tree) == 0, "count %zu when empty", subtree_count(tree));
	check_tree(tree, subs, nsubs, topics, ntopics);
	check_find(tree, subs, nsubs);
	subtree_free(tree);
	return 0;
}
