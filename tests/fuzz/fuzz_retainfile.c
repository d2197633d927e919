/*
 * Fuzz target: the retained-store file parser (src/daemon/retainfile.c)
 * and the store it fills (src/daemon/retain.c).
 *
 * Input: one mode byte, then the file.
 *   bit 0  recompute every checksum the file's lengths lead to before
 *          loading, so mutations get past the CRCs to the checks behind
 *          them (lengths, topics, payloads, origins, duplicates, counts)
 *   bit 1  load into a store that holds a $SYS value already
 *   bit 2  bounds of 3 values and 64 bytes (a load ignores them)
 *
 * Checks: the load never fails but for a file that is not one (no magic,
 * later version); what it loads is no more than the bytes can hold, every
 * value is valid and found under its topic; a clean load is a file that
 * saving the store writes again at the same length; saving and loading
 * again gives the same values, cleanly. Matching the loaded store with
 * filters made from its topics gives what topic_matches() says.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"
#include "fuzz.h"
#include "retain.h"
#include "retainfile.h"
#include "topic.h"

#define HEADER_LEN 16
#define VALUE_HEAD_LEN 40
#define MIN_VALUE_LEN 46 /* head, one byte of topic and payload, CRC */
#define END_LEN 24

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rewrites the checksums of f as far as its records can be followed. */
static void
fix_checksums(unsigned char *f, size_t n)
{
	size_t off = HEADER_LEN;

	if (n < HEADER_LEN)
		return;
	put_u32(f + 12, crc32c(0, f, 12));
	while (off < n) {
		unsigned char *p = f + off;
		uint64_t total;

		if (p[0] == 'E' && n - off >= END_LEN) {
			put_u32(p + 20, crc32c(0, p, 20));
			off += END_LEN;
			continue;
		}
		if (p[0] != 'V' || n - off < VALUE_HEAD_LEN)
			return;
		put_u32(p + 36, crc32c(0, p, 36));
		total = (uint64_t)VALUE_HEAD_LEN + get_u32(p + 4) + get_u32(p + 8) + p[1] + 4;
		if (total > n - off)
			return;
		put_u32(p + total - 4, crc32c(0, p, (size_t)(total - 4)));
		off += (size_t)total;
	}
}

/* What a walk over a store saw. */
struct census {
	const struct retain *r;
	size_t values;
	size_t bytes;
};

/* Checks one value of the store. */
static void
check_value(struct retain_value *v, void *arg)
{
	struct census *c = arg;
	struct retain_origin o;
	const char *t, *p, *fr;
	size_t tl, pl, fl;

	if (retain_value_is_sys(v))
		return;
	t = retain_value_topic(v, &tl);
	p = retain_value_payload(v, &pl);
	fr = retain_value_frame(v, &fl);
	retain_value_origin(v, &o);
	FUZZ_CHECK(topic_check(t, tl, RETAIN_TOPIC_MAX) == TOPIC_OK, "a bad topic was loaded");
	FUZZ_CHECK(pl > 0 && memchr(p, '\n', pl) == NULL, "a bad payload was loaded");
	FUZZ_CHECK(fl == 5 + tl + 1 + pl + 1 && memcmp(fr, "RMSG ", 5) == 0 && fr[5 + tl] == ' ' &&
	               fr[fl - 1] == '\n' && t == fr + 5 && p == fr + 6 + tl,
	           "a bad frame");
	FUZZ_CHECK(strlen(o.via) <= RETAIN_VIA_MAX && o.uid >= -1 && o.gid >= -1 && o.pid >= -1,
	           "a bad origin");
	FUZZ_CHECK(retain_get(c->r, t, tl) == v, "a value not under its topic");
	c->values++;
	c->bytes += tl + pl;
}

/* Finds each value of the walked store in c->r, the same. */
static void
find_value(struct retain_value *v, void *arg)
{
	struct census *c = arg;
	struct retain_origin a, b;
	const char *t, *fa, *fb;
	size_t tl, la, lb;
	struct retain_value *w;

	if (retain_value_is_sys(v))
		return;
	t = retain_value_topic(v, &tl);
	w = retain_get(c->r, t, tl);
	FUZZ_CHECK(w != NULL, "a value lost in a save and load");
	fa = retain_value_frame(v, &la);
	fb = retain_value_frame(w, &lb);
	retain_value_origin(v, &a);
	retain_value_origin(w, &b);
	FUZZ_CHECK(la == lb && memcmp(fa, fb, la) == 0 && a.uid == b.uid && a.gid == b.gid &&
	               a.pid == b.pid && strcmp(a.via, b.via) == 0,
	           "a value changed in a save and load");
	c->values++;
}

#define MATCH_MAX 16 /* values whose topics make filters */

/* The loaded values, for matching. */
struct loaded {
	struct retain_value *v[MATCH_MAX];
	size_t n;
};

static void
keep_value(struct retain_value *v, void *arg)
{
	struct loaded *l = arg;

	if (l->n < MATCH_MAX)
		l->v[l->n++] = v;
}

static void
count_match(struct retain_value *v, void *arg)
{
	(void)v;
	(*(size_t *)arg)++;
}

/* retain_match of filter agrees with topic_matches over the values of a
 * store that holds only those (all of them when l->n < MATCH_MAX). */
static void
check_filter(const struct retain *r, const struct loaded *l, const char *f, size_t flen)
{
	size_t want = 0, calls = 0, got;

	if (topic_check_filter(f, flen, RETAIN_TOPIC_MAX) != TOPIC_OK)
		return;
	for (size_t i = 0; i < l->n; i++) {
		size_t tl;
		const char *t = retain_value_topic(l->v[i], &tl);

		want += topic_matches(f, flen, t, tl);
	}
	got = retain_match(r, f, flen, count_match, &calls);
	FUZZ_CHECK(got == calls && got == want, "filter \"%.*s\": %zu matches, want %zu", (int)flen,
	           f, got, want);
}

/* Filters made from each topic: itself, its first level made '+', its
 * last made '#', "#" and "+". */
static void
check_matching(const struct retain *r)
{
	struct loaded l = {.n = 0};
	static char f[RETAIN_TOPIC_MAX + 4];

	retain_foreach(r, keep_value, &l);
	if (l.n == MATCH_MAX)
		return; /* not all of them: no reference to hold it to */
	check_filter(r, &l, "#", 1);
	check_filter(r, &l, "+", 1);
	for (size_t i = 0; i < l.n; i++) {
		size_t tl;
		const char *t = retain_value_topic(l.v[i], &tl);
		const char *slash = memchr(t, '/', tl), *last = memrchr(t, '/', tl);

		check_filter(r, &l, t, tl);
		if (slash != NULL) {
			size_t rest = tl - (size_t)(slash - t);

			f[0] = '+';
			memcpy(f + 1, slash, rest);
			check_filter(r, &l, f, 1 + rest);
		}
		if (last != NULL) {
			size_t keep = (size_t)(last - t) + 1;

			memcpy(f, t, keep);
			f[keep] = '#';
			check_filter(r, &l, f, keep + 1);
		}
	}
}

/* A store with the input's mode; never NULL. */
static struct retain *
store(uint8_t mode)
{
	struct retain *r = retain_new();

	FUZZ_CHECK(r != NULL, "out of memory");
	if (mode & 2)
		FUZZ_CHECK(retain_set(r, "$SYS/broker/version", 19, "1", 1, NULL, RETAIN_SYS) ==
		               RETAIN_OK,
		           "a $SYS value");
	if (mode & 4)
		retain_set_limits(r, 3, 64);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t mode = fuzz_byte(&in);
	unsigned char *file = malloc(in.n ? in.n : 1), *again = NULL;
	struct retain *r = store(mode), *back;
	struct retainfile_report rep, rep2;
	struct census c = {r, 0, 0}, d;
	char err[256];
	size_t alen;
	int rc;

	FUZZ_CHECK(file != NULL, "out of memory");
	memcpy(file, in.p, in.n);
	if (mode & 1)
		fix_checksums(file, in.n);
	rc = retainfile_load_buffer(r, file, in.n, &rep, err, sizeof err);
	FUZZ_CHECK(err[0] != '\0' || (rc == 0 && !rep.corrupt), "no message");
	if (rc < 0) {
		FUZZ_CHECK(in.n >= 7 || memcmp(file, "UDSBRET", in.n) != 0,
		           "a prefix of the magic is refused: %s", err);
		FUZZ_CHECK(retain_count(r) == 0, "a refused file loaded values");
		goto out;
	}
	FUZZ_CHECK(!rep.missing, "missing?");
	FUZZ_CHECK(rep.loaded == 0 || rep.loaded <= (in.n - HEADER_LEN) / MIN_VALUE_LEN,
	           "%zu values from %zu bytes", rep.loaded, in.n);
	FUZZ_CHECK(!rep.corrupt || rep.bad_offset <= in.n, "bad offset past the end");
	FUZZ_CHECK(retain_count(r) == rep.loaded, "count %zu, loaded %zu", retain_count(r),
	           rep.loaded);
	FUZZ_CHECK(retain_dirty(r) == (rep.corrupt && rep.loaded > 0), "dirty after a load");
	retain_foreach(r, check_value, &c);
	FUZZ_CHECK(c.values == rep.loaded && c.bytes == retain_bytes(r), "the walk saw %zu",
	           c.values);
	FUZZ_CHECK(rep.over_bounds == retain_over_bounds(r), "over_bounds");

	check_matching(r);

	/* Save and load again: the same values, cleanly. */
	FUZZ_CHECK(retainfile_save_buffer(r, &again, &alen) == 0, "out of memory");
	FUZZ_CHECK(rep.corrupt || alen == in.n, "a clean file of %zu bytes saves as %zu", in.n,
	           alen);
	back = store(mode);
	FUZZ_CHECK(retainfile_load_buffer(back, again, alen, &rep2, err, sizeof err) == 0 &&
	               !rep2.corrupt && rep2.loaded == rep.loaded,
	           "a saved store does not load back: %s", err);
	d = (struct census){back, 0, 0};
	retain_foreach(r, find_value, &d);
	FUZZ_CHECK(d.values == rep.loaded, "compared %zu", d.values);
	retain_free(back);
out:
	free(again);
	free(file);
	retain_free(r);
	return 0;
}
