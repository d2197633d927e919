/* The retained store and its file when memory runs out: every allocation
 * of an operation is made to fail in turn (malloc, calloc and realloc are
 * wrapped: -Wl,--wrap=...), and each time the operation must say so and
 * leave everything as it was. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retain.h"
#include "retainfile.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

static long fail_at = -1; /* the allocation, counted from 0, that fails */
static long calls;        /* allocations since armed */

/* Arms the failure of the k-th allocation from now. */
static void
arm(long k)
{
	fail_at = k;
	calls = 0;
}

/* Does this allocation fail? */
static bool
failing(void)
{
	if (fail_at < 0)
		return false;
	if (calls++ == fail_at) {
		fail_at = -1;
		return true;
	}
	return false;
}

void *
__wrap_malloc(size_t size)
{
	if (failing()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(size);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	if (failing()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t size)
{
	if (failing()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, size);
}

/* What can be seen of a store from outside. */
struct state {
	size_t count, bytes, nodes;
	bool dirty;
};

static struct state
state_of(const struct retain *r)
{
	return (struct state){retain_count(r), retain_bytes(r), retain_node_count(r),
	                      retain_dirty(r)};
}

static void
assert_state(const struct retain *r, struct state s, long k)
{
	struct state now = state_of(r);

	cr_assert(now.count == s.count && now.bytes == s.bytes && now.nodes == s.nodes &&
	              now.dirty == s.dirty,
	          "allocation %ld failed: count %zu/%zu bytes %zu/%zu nodes %zu/%zu", k, now.count,
	          s.count, now.bytes, s.bytes, now.nodes, s.nodes);
}

Test(retain_oom, new)
{
	for (long k = 0;; k++) {
		struct retain *r;

		arm(k);
		r = retain_new();
		fail_at = -1;
		if (r != NULL) {
			cr_assert_gt(k, 0);
			retain_free(r);
			break;
		}
	}
}

/* A set that fails at each allocation in turn changes nothing; once it
 * gets them all it works. Topics on new paths, on existing ones, and
 * replacing values. */
Test(retain_oom, set_changes_nothing_when_it_fails)
{
	static const char *topics[] = {"a/b/c/d/e", "a/b/x", "a/b/c/d/e", "a", "f/g/h/i/j/k/l"};
	struct retain *r = retain_new();
	char many[32];

	cr_assert_not_null(r);
	/* A wide level, so that table growth is among the allocations. */
	for (int i = 0; i < 7; i++) {
		snprintf(many, sizeof many, "a/b/%d", i);
		cr_assert_eq(retain_set(r, many, strlen(many), "v", 1, NULL, 0), RETAIN_OK);
	}
	retain_mark_clean(r);
	for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
		for (long k = 0;; k++) {
			struct state before = state_of(r);
			struct retain_value *old = retain_get(r, topics[t], strlen(topics[t]));
			enum retain_result res;

			arm(k);
			res = retain_set(r, topics[t], strlen(topics[t]), "new value", 9, NULL, 0);
			fail_at = -1;
			if (res == RETAIN_OK)
				break;
			cr_assert_eq(res, RETAIN_NOMEM, "allocation %ld: result %d", k, res);
			assert_state(r, before, k);
			cr_assert_eq(retain_get(r, topics[t], strlen(topics[t])), old);
		}
		retain_mark_clean(r);
	}
	retain_free(r);
}

/* A clear never allocates, so it cannot fail; shrinking a table that
 * cannot get memory keeps the big one. */
Test(retain_oom, clears_need_no_memory)
{
	struct retain *r = retain_new();
	char t[32];

	for (int i = 0; i < 64; i++) {
		snprintf(t, sizeof t, "w/%d", i);
		cr_assert_eq(retain_set(r, t, strlen(t), "v", 1, NULL, 0), RETAIN_OK);
	}
	for (int i = 0; i < 64; i++) {
		snprintf(t, sizeof t, "w/%d", i);
		arm(0);
		cr_assert_eq(retain_set(r, t, strlen(t), "", 0, NULL, 0), RETAIN_OK);
		fail_at = -1;
		cr_assert_null(retain_get(r, t, strlen(t)));
		for (int j = i + 1; j < 64; j++) {
			char u[32];

			snprintf(u, sizeof u, "w/%d", j);
			cr_assert_not_null(retain_get(r, u, strlen(u)), "w/%d lost", j);
		}
	}
	cr_assert_eq(retain_node_count(r), 1);
	retain_free(r);
}

/* Fills r with a few values. */
static void
fill(struct retain *r)
{
	struct retain_origin o = {1, 2, 3, "main"};

	for (int i = 0; i < 50; i++) {
		char t[32];

		snprintf(t, sizeof t, "x/%d/y", i);
		cr_assert_eq(retain_set(r, t, strlen(t), "payload", 7, &o, 0), RETAIN_OK);
	}
}

Test(retain_oom, save_and_load)
{
	char dir[] = "/tmp/retain-oom-XXXXXX", path[64], tmp[80], err[512];
	struct retain *r = retain_new(), *back;
	struct retainfile_report rep;
	int rc;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/db", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fill(r);
	cr_assert_eq(retainfile_save(r, path, err, sizeof err), 0, "%s", err);
	/* Saving: fails cleanly, the old file stays. */
	for (long k = 0;; k++) {
		arm(k);
		rc = retainfile_save(r, path, err, sizeof err);
		fail_at = -1;
		if (rc == 0)
			break;
		cr_assert_eq(errno, ENOMEM, "allocation %ld: %s", k, err);
		cr_assert(access(tmp, F_OK) < 0, "allocation %ld: temporary file left", k);
		cr_assert(access(path, F_OK) == 0);
	}
	/* Loading: -1 and nothing lost on disk. */
	for (long k = 0;; k++) {
		back = retain_new();
		arm(k);
		rc = retainfile_load(back, path, &rep, err, sizeof err);
		fail_at = -1;
		if (rc == 0) {
			cr_assert(!rep.corrupt && rep.loaded == 50, "%s", err);
			retain_free(back);
			break;
		}
		cr_assert_eq(errno, ENOMEM, "allocation %ld: %s", k, err);
		cr_assert(access(path, F_OK) == 0, "the file must stay where it is");
		retain_free(back);
	}
	/* In memory. */
	for (long k = 0;; k++) {
		unsigned char *buf;
		size_t len;

		arm(k);
		rc = retainfile_save_buffer(r, &buf, &len);
		fail_at = -1;
		if (rc == 0) {
			free(buf);
			break;
		}
	}
	unlink(path);
	rmdir(dir);
	retain_free(r);
}
