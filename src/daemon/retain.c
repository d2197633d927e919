/*
 * The retained store; see retain.h.
 *
 * Each node is one level of some stored topic, with the value of the topic
 * it ends (if any). Children sit in a chained hash table keyed by their
 * level text; there are no wildcard children, the wildcards are in the
 * filters that walk the tree. A walk keeps one frame per level of the
 * current path in a stack owned by the store and sized, when a topic is
 * stored, for the deepest topic ever stored: matching never allocates and
 * never recurses.
 *
 * A value is one allocation, an outq block (outq.h): the frame
 * "RMSG " topic [" " payload] "\n" is the block's bytes, [0, len), so the
 * broker queues it by reference as it does published frames, and the
 * block's refcount is the value's. After the frame, in the block's spare
 * capacity: the via name and a NUL, then the rest of the value (struct
 * vmeta, unaligned: copied in and out) in the last bytes.
 */
#include "retain.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "siphash.h"
#include "topic.h"

#define FRAME_HEAD     "RMSG "
#define FRAME_HEAD_LEN 5

/* What a value holds besides its frame. The credentials are kept in the
 * widths the kernel gives them (uid_t, gid_t, pid_t), "unknown" as
 * UINT32_MAX and -1: 12 bytes less per value than three int64_t. */
struct vmeta {
	uint32_t uid, gid;
	int32_t pid;
	uint16_t tlen;
	uint8_t vialen;
	bool sys;
};

/* struct retain_value is never defined: a value is a struct outblock. */
static struct outblock *
block_of(struct retain_value *v)
{
	return (struct outblock *)v;
}

static const struct outblock *
cblock_of(const struct retain_value *v)
{
	return (const struct outblock *)v;
}

/* The rest of v. */
static struct vmeta
meta_of(const struct retain_value *v)
{
	const struct outblock *b = cblock_of(v);
	struct vmeta m;

	memcpy(&m, b->data + b->cap - sizeof m, sizeof m);
	return m;
}

/* The payload length of a value whose frame is flen bytes. */
static size_t
plen_of(const struct outblock *b, const struct vmeta *m)
{
	return b->len == FRAME_HEAD_LEN + m->tlen + 1u ? 0 : b->len - FRAME_HEAD_LEN - m->tlen - 2u;
}

struct rnode {
	struct rnode *parent;
	struct rnode *hnext;        /* next in the parent's bucket */
	struct rnode **buckets;     /* children; NULL when none */
	struct retain_value *value; /* of the topic ending here, or NULL */
	uint32_t nbuckets;          /* a power of two, or 0 */
	uint32_t nchildren;
	uint32_t len;
	char level[]; /* this level's text, not NUL-terminated */
};

/* A node is allocated to the end of its text, which starts in the padding
 * after len (but never smaller than the struct). The level's hash is not
 * kept: it is made again when a table is resized, which saves 4 bytes a
 * node, often 16 of malloc's. */
#define NODE_SIZE(len)                                                \
	(offsetof(struct rnode, level) + (len) > sizeof(struct rnode) \
	     ? offsetof(struct rnode, level) + (len)                  \
	     : sizeof(struct rnode))

/* One node whose children a walk is visiting. */
struct wframe {
	const struct rnode *node;
	const struct rnode *child; /* next child in the current chain */
	uint32_t bucket;           /* next bucket to start a chain from */
	bool walk;                 /* every descendant matches ('#'), else one level ('+') */
	bool skip_dollar;          /* first level under a wildcard: not '$...' */
	size_t next;               /* filter offset for the children ('+') */
};

/* The walk stack; apart from the store so that a match through a const
 * store may use it. */
struct rscratch {
	struct wframe *stack;
	size_t cap;
	size_t visits; /* nodes the last walk reached */
};

struct retain {
	struct rnode *root;
	struct rscratch *scratch;
	struct siphash_key key;
	size_t count; /* client values */
	size_t bytes; /* their topic + payload bytes */
	size_t max_count;
	size_t max_bytes;
	bool dirty;
	unsigned pins;   /* cursors open: no node is freed, no table moved */
	size_t unpruned; /* clears that left their nodes while pinned */
	bool sweeping;   /* sweep() runs: tables are not shrunk under it */
};

/* A walk in progress: the filter, the callback, the calls made. */
struct walk {
	const char *filter;
	size_t flen;
	retain_match_cb *cb;
	void *arg;
	struct wframe *stack;
	size_t top;
	size_t calls;
	size_t visits; /* nodes reached */
	size_t budget; /* frame bytes to report before stopping */
	bool stop;     /* the budget is spent: stop at the next frame */
};

/* A walk that goes on over several calls (retain.h): its own stack and
 * filter, the store pinned. */
struct retain_cursor {
	struct retain *r;
	struct walk w;
	size_t cap; /* frames its stack holds */
	bool started;
	char filter[];
};

/* The keyed hash of a level. */
static uint32_t
level_hash(const struct retain *r, const char *s, size_t len)
{
	return (uint32_t)siphash13(&r->key, s, len);
}

static struct rnode *
node_new(struct rnode *parent, const char *level, size_t len)
{
	struct rnode *n = calloc(1, NODE_SIZE(len));

	if (n == NULL)
		return NULL;
	n->parent = parent;
	n->len = (uint32_t)len;
	memcpy(n->level, level, len);
	return n;
}

/* The child of n for a level, or NULL. */
static struct rnode *
child_find(const struct rnode *n, const char *level, size_t len, uint32_t h)
{
	if (n->nbuckets == 0)
		return NULL;
	for (struct rnode *c = n->buckets[h & (n->nbuckets - 1)]; c != NULL; c = c->hnext)
		if (c->len == len && memcmp(c->level, level, len) == 0)
			return c;
	return NULL;
}

/* Rehashes n's children into cap buckets. Returns -1 if out of memory,
 * leaving n as it was. */
static int
buckets_resize(const struct retain *r, struct rnode *n, uint32_t cap)
{
	struct rnode **b = calloc(cap, sizeof *b);

	if (b == NULL)
		return -1;
	for (uint32_t i = 0; i < n->nbuckets; i++) {
		for (struct rnode *c = n->buckets[i], *next; c != NULL; c = next) {
			uint32_t h = level_hash(r, c->level, c->len) & (cap - 1);

			next = c->hnext;
			c->hnext = b[h];
			b[h] = c;
		}
	}
	free(n->buckets);
	n->buckets = b;
	n->nbuckets = cap;
	return 0;
}

/* The child of n for a level, created if missing; NULL if out of memory. */
static struct rnode *
child_get(const struct retain *r, struct rnode *n, const char *level, size_t len)
{
	uint32_t h = level_hash(r, level, len);
	struct rnode *c;

	if ((c = child_find(n, level, len, h)) != NULL)
		return c;
	/* While a cursor is open a table with children is not moved: its
	 * chains only grow longer until the last cursor closes. */
	if (n->nchildren >= n->nbuckets && (n->nbuckets == 0 || r->pins == 0) &&
	    buckets_resize(r, n, n->nbuckets ? n->nbuckets * 2 : 4) < 0)
		return NULL;
	if ((c = node_new(n, level, len)) == NULL)
		return NULL;
	c->hnext = n->buckets[h & (n->nbuckets - 1)];
	n->buckets[h & (n->nbuckets - 1)] = c;
	n->nchildren++;
	return c;
}

/* Unlinks the childless, valueless node n from its parent and frees it;
 * the parent's table shrinks when it is mostly empty, so that a '+' over
 * few children does not scan many buckets. */
static void
child_remove(const struct retain *r, struct rnode *n)
{
	struct rnode *p = n->parent, **pp;

	pp = &p->buckets[level_hash(r, n->level, n->len) & (p->nbuckets - 1)];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	if (--p->nchildren == 0) {
		free(p->buckets);
		p->buckets = NULL;
		p->nbuckets = 0;
	} else if (!r->sweeping && p->nbuckets > 4 && p->nchildren < p->nbuckets / 4) {
		/* If this fails the table only stays too big. */
		(void)buckets_resize(r, p, p->nbuckets / 2);
	}
	free(n->buckets);
	free(n);
}

/* Removes the empty nodes from n up towards the root; while a cursor is
 * open, leaves them to sweep(). */
static void
prune(struct retain *r, struct rnode *n)
{
	if (r->pins > 0) {
		r->unpruned++;
		return;
	}
	while (n != r->root && n->value == NULL && n->nchildren == 0) {
		struct rnode *parent = n->parent;

		child_remove(r, n);
		n = parent;
	}
}

struct retain *
retain_new(void)
{
	struct retain *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	r->root = node_new(NULL, "", 0);
	r->scratch = calloc(1, sizeof *r->scratch);
	if (r->root == NULL || r->scratch == NULL) {
		free(r->root);
		free(r->scratch);
		free(r);
		return NULL;
	}
	siphash_random_key(&r->key);
	r->max_count = SIZE_MAX;
	r->max_bytes = SIZE_MAX;
	return r;
}

void
retain_free(struct retain *r)
{
	struct rnode *n;

	if (r == NULL)
		return;
	/* Down to a leaf, free it, back up: no recursion, each table scanned
	 * once from its end. */
	n = r->root;
	while (n != NULL) {
		struct rnode *parent;

		while (n->nbuckets > 0 && n->buckets[n->nbuckets - 1] == NULL)
			n->nbuckets--;
		if (n->nbuckets > 0) {
			struct rnode *c = n->buckets[n->nbuckets - 1];

			n->buckets[n->nbuckets - 1] = c->hnext;
			n = c;
			continue;
		}
		parent = n->parent;
		if (n->value != NULL)
			retain_value_unref(n->value);
		free(n->buckets);
		free(n);
		n = parent;
	}
	free(r->scratch->stack);
	free(r->scratch);
	free(r);
}

void
retain_set_limits(struct retain *r, size_t max_count, size_t max_bytes)
{
	r->max_count = max_count;
	r->max_bytes = max_bytes;
}

/* Is via a name the store keeps: at most RETAIN_VIA_MAX bytes, printable
 * ASCII but space, ';' and '=' (it goes into a "via=NAME" meta field)?
 * Its length in *len. */
static bool
via_ok(const char *via, size_t *len)
{
	size_t i;

	*len = 0;
	if (via == NULL)
		return true;
	for (i = 0; via[i] != '\0'; i++) {
		unsigned char c = (unsigned char)via[i];

		if (i >= RETAIN_VIA_MAX || c <= 0x20 || c >= 0x7f || c == ';' || c == '=')
			return false;
	}
	*len = i;
	return true;
}

/* Is the origin one the store keeps? Its via's length in *vialen. */
static bool
origin_ok(const struct retain_origin *o, size_t *vialen)
{
	*vialen = 0;
	if (o == NULL)
		return true;
	if (o->uid < -1 || o->uid >= (int64_t)UINT32_MAX || o->gid < -1 ||
	    o->gid >= (int64_t)UINT32_MAX || o->pid < -1 || o->pid > INT32_MAX)
		return false;
	return via_ok(o->via, vialen);
}

/* A new value with one reference; NULL if out of memory. */
static struct retain_value *
value_new(const char *topic, size_t tlen, const char *payload, size_t plen,
          const struct retain_origin *o, size_t vialen, bool sys)
{
	size_t flen = FRAME_HEAD_LEN + tlen + (plen > 0 ? 1 + plen : 0) + 1;
	struct outblock *b = outblock_new(NULL, flen + vialen + 1 + sizeof(struct vmeta));
	struct vmeta m = {
		.uid = o != NULL && o->uid >= 0 ? (uint32_t)o->uid : UINT32_MAX,
		.gid = o != NULL && o->gid >= 0 ? (uint32_t)o->gid : UINT32_MAX,
		.pid = o != NULL ? (int32_t)o->pid : -1,
		.tlen = (uint16_t)tlen,
		.vialen = (uint8_t)vialen,
		.sys = sys,
	};
	char *p;

	if (b == NULL)
		return NULL;
	b->len = (uint32_t)flen;
	p = b->data;
	memcpy(p, FRAME_HEAD, FRAME_HEAD_LEN);
	p += FRAME_HEAD_LEN;
	memcpy(p, topic, tlen);
	p += tlen;
	if (plen > 0) {
		*p++ = ' ';
		memcpy(p, payload, plen);
		p += plen;
	}
	*p++ = '\n';
	if (vialen > 0)
		memcpy(p, o->via, vialen);
	p[vialen] = '\0';
	memcpy(b->data + b->cap - sizeof m, &m, sizeof m);
	return (struct retain_value *)b;
}

/* Makes the walk stack hold a topic of len bytes: one frame per level. */
static int
stack_reserve(struct retain *r, const char *topic, size_t len)
{
	size_t need = 2;
	struct wframe *s;

	for (const char *p = topic; (p = memchr(p, '/', len - (size_t)(p - topic))) != NULL; p++)
		need++;
	need++; /* the topic's last level */
	if (need <= r->scratch->cap)
		return 0;
	if ((s = realloc(r->scratch->stack, need * sizeof *s)) == NULL)
		return -1;
	r->scratch->stack = s;
	r->scratch->cap = need;
	return 0;
}

/* The node of topic, or NULL. */
static struct rnode *
find_node(const struct retain *r, const char *topic, size_t len)
{
	struct rnode *n = r->root;
	size_t pos = 0;

	for (;;) {
		const char *slash = memchr(topic + pos, '/', len - pos);
		size_t llen = slash ? (size_t)(slash - (topic + pos)) : len - pos;

		n = child_find(n, topic + pos, llen, level_hash(r, topic + pos, llen));
		if (n == NULL || slash == NULL)
			return n;
		pos += llen + 1;
	}
}

/* The node of topic, made if missing; NULL if out of memory, with the
 * nodes made for nothing pruned. */
static struct rnode *
make_node(struct retain *r, const char *topic, size_t len)
{
	struct rnode *n = r->root, *c;
	size_t pos = 0;

	for (;;) {
		const char *slash = memchr(topic + pos, '/', len - pos);
		size_t llen = slash ? (size_t)(slash - (topic + pos)) : len - pos;

		if ((c = child_get(r, n, topic + pos, llen)) == NULL) {
			prune(r, n);
			return NULL;
		}
		n = c;
		if (slash == NULL)
			return n;
		pos += llen + 1;
	}
}

/* Takes v's share out of the figures, or puts it in (sign +1). */
static void
account(struct retain *r, const struct retain_value *v, int sign)
{
	struct vmeta m;
	size_t bytes;

	if (v == NULL || (m = meta_of(v)).sys)
		return;
	bytes = m.tlen + plen_of(cblock_of(v), &m);
	if (sign > 0) {
		r->count++;
		r->bytes += bytes;
	} else {
		r->count--;
		r->bytes -= bytes;
	}
	r->dirty = true;
}

/* Clears topic's value, pruning its nodes. */
static void
clear(struct retain *r, const char *topic, size_t tlen)
{
	struct rnode *n = find_node(r, topic, tlen);

	if (n == NULL || n->value == NULL)
		return;
	account(r, n->value, -1);
	retain_value_unref(n->value);
	n->value = NULL;
	prune(r, n);
}

/* Would storing a client value of tlen + plen bytes in place of old exceed
 * a bound? */
static bool
over_bounds(const struct retain *r, const struct retain_value *old, size_t tlen, size_t plen)
{
	size_t count = r->count, bytes = r->bytes;
	struct vmeta m;

	if (old != NULL && !(m = meta_of(old)).sys) {
		count--;
		bytes -= m.tlen + plen_of(cblock_of(old), &m);
	}
	return count + 1 > r->max_count || bytes > r->max_bytes ||
	       tlen + plen > r->max_bytes - bytes;
}

const char *
retain_strerror(enum retain_result r)
{
	switch (r) {
	case RETAIN_OK:
		return "stored";
	case RETAIN_FULL:
		return "the retained values are full";
	case RETAIN_NOMEM:
		return "out of memory";
	case RETAIN_INVALID:
		break;
	}
	return "the retained values refused it";
}

enum retain_result
retain_set(struct retain *r, const char *topic, size_t tlen, const char *payload, size_t plen,
           const struct retain_origin *origin, unsigned flags)
{
	bool sys = (flags & RETAIN_SYS) != 0;
	struct rnode *n;
	struct retain_value *v, *old;
	size_t vialen;

	if (topic_check(topic, tlen, RETAIN_TOPIC_MAX) != TOPIC_OK || plen > RETAIN_PAYLOAD_MAX ||
	    (plen > 0 && memchr(payload, '\n', plen) != NULL) || !origin_ok(origin, &vialen))
		return RETAIN_INVALID;
	if (plen == 0) {
		clear(r, topic, tlen);
		return RETAIN_OK;
	}
	n = find_node(r, topic, tlen);
	old = n != NULL ? n->value : NULL;
	if (!sys && !(flags & RETAIN_UNBOUNDED) && over_bounds(r, old, tlen, plen))
		return RETAIN_FULL;
	if ((v = value_new(topic, tlen, payload, plen, origin, vialen, sys)) == NULL)
		return RETAIN_NOMEM;
	if (n == NULL &&
	    (stack_reserve(r, topic, tlen) < 0 || (n = make_node(r, topic, tlen)) == NULL)) {
		retain_value_unref(v);
		return RETAIN_NOMEM;
	}
	account(r, old, -1);
	if (old != NULL)
		retain_value_unref(old);
	n->value = v;
	account(r, v, +1);
	return RETAIN_OK;
}

struct retain_value *
retain_get(const struct retain *r, const char *topic, size_t tlen)
{
	struct rnode *n;

	if (tlen == 0)
		return NULL;
	n = find_node(r, topic, tlen);
	return n != NULL ? n->value : NULL;
}

/* Reports n's value, if any, to the walk, out of its budget. */
static void
emit(struct walk *w, const struct rnode *n)
{
	if (n->value != NULL) {
		size_t len = cblock_of(n->value)->len;

		w->cb(n->value, w->arg);
		w->calls++;
		if (len >= w->budget)
			w->stop = true;
		else
			w->budget -= len;
	}
}

/* Pushes a frame that visits n's children, if it has any. The stack holds
 * one frame per level of the deepest stored topic, and frames are only
 * pushed for nodes on the current path: it cannot overflow. */
static void
push(struct walk *w, const struct rnode *n, bool walk_all, bool skip_dollar, size_t next)
{
	if (n->nchildren == 0)
		return;
	w->stack[w->top++] = (struct wframe){ n, NULL, 0, walk_all, skip_dollar, next };
}

/* n is reached with the filter's level at pos still to match against its
 * children (pos == flen + 1: the filter is consumed). Follows literal
 * levels down; stops at the end of the filter or at a wildcard, pushing a
 * frame for it. */
static void
enter(struct walk *w, const struct retain *r, const struct rnode *n, size_t pos)
{
	for (;;) {
		const char *f = w->filter + pos, *slash;
		size_t llen, next;

		if (pos > w->flen) {
			emit(w, n);
			return;
		}
		slash = memchr(f, '/', w->flen - pos);
		llen = slash ? (size_t)(slash - f) : w->flen - pos;
		next = slash ? pos + llen + 1 : w->flen + 1;
		if (llen == 1 && f[0] == '#') {
			/* "a/#" matches "a" too; the root holds no value. */
			emit(w, n);
			push(w, n, true, pos == 0, 0);
			return;
		}
		if (llen == 1 && f[0] == '+') {
			push(w, n, false, pos == 0, next);
			return;
		}
		if ((n = child_find(n, f, llen, level_hash(r, f, llen))) == NULL)
			return;
		w->visits++;
		pos = next;
	}
}

/* The next child of the frame's node, or NULL when all are visited. */
static const struct rnode *
next_child(struct wframe *f)
{
	const struct rnode *c;

	for (;;) {
		while (f->child == NULL) {
			if (f->bucket >= f->node->nbuckets)
				return NULL;
			f->child = f->node->buckets[f->bucket++];
		}
		c = f->child;
		f->child = c->hnext;
		if (!(f->skip_dollar && c->len > 0 && c->level[0] == '$'))
			return c;
	}
}

/* Runs the frames on the stack to the end, or until the budget is spent. */
static void
run(struct walk *w, const struct retain *r)
{
	while (w->top > 0 && !w->stop) {
		struct wframe *f = &w->stack[w->top - 1];
		const struct rnode *c = next_child(f);

		if (c == NULL) {
			w->top--;
			continue;
		}
		w->visits++;
		if (f->walk) {
			emit(w, c);
			push(w, c, true, false, 0);
		} else
			enter(w, r, c, f->next);
	}
}

size_t
retain_match(const struct retain *r, const char *filter, size_t flen, retain_match_cb *cb,
             void *arg)
{
	struct walk w = { filter, flen, cb, arg, r->scratch->stack, 0, 0, 0, SIZE_MAX, false };

	r->scratch->visits = 0;
	if (flen == 0 || w.stack == NULL)
		return 0;
	enter(&w, r, r->root, 0);
	run(&w, r);
	r->scratch->visits = w.visits;
	return w.calls;
}

size_t
retain_foreach(const struct retain *r, retain_match_cb *cb, void *arg)
{
	struct walk w = { NULL, 0, cb, arg, r->scratch->stack, 0, 0, 0, SIZE_MAX, false };

	r->scratch->visits = 0;
	if (w.stack == NULL)
		return 0;
	push(&w, r->root, true, false, 0);
	run(&w, r);
	r->scratch->visits = w.visits;
	return w.calls;
}

/* Clears left unpruned by cursors before a sweep is worth it. */
#define SWEEP_MIN 1024

/* Frees the nodes left empty while cursors were open: a walk of the whole
 * tree, children before their parent. */
static void
sweep(struct retain *r)
{
	struct wframe *stack = r->scratch->stack;
	size_t top = 0;

	r->unpruned = 0;
	if (stack == NULL || r->root->nchildren == 0)
		return;
	r->sweeping = true;
	stack[top++] = (struct wframe){ r->root, NULL, 0, true, false, 0 };
	while (top > 0) {
		struct wframe *f = &stack[top - 1];
		struct rnode *c = (struct rnode *)next_child(f);

		if (c == NULL) {
			struct rnode *n = (struct rnode *)f->node;

			top--;
			if (n != r->root && n->value == NULL && n->nchildren == 0)
				child_remove(r, n);
		} else if (c->nchildren > 0) {
			stack[top++] = (struct wframe){ c, NULL, 0, true, false, 0 };
		} else if (c->value == NULL) {
			/* next_child moved past c already. */
			child_remove(r, c);
		}
	}
	r->sweeping = false;
}

struct retain_cursor *
retain_cursor_new(struct retain *r, const char *filter, size_t flen)
{
	struct retain_cursor *c = calloc(1, sizeof *c + flen);

	if (c == NULL)
		return NULL;
	memcpy(c->filter, filter, flen);
	c->r = r;
	c->w = (struct walk){ .filter = c->filter, .flen = flen };
	r->pins++;
	return c;
}

int
retain_cursor_next(struct retain_cursor *c, size_t budget, retain_match_cb *cb, void *arg)
{
	struct retain *r = c->r;

	/* Deeper topics may have come since the last call. */
	if (c->cap < r->scratch->cap) {
		struct wframe *s = realloc(c->w.stack, r->scratch->cap * sizeof *s);

		if (s == NULL)
			return -1;
		c->w.stack = s;
		c->cap = r->scratch->cap;
	}
	c->w.cb = cb;
	c->w.arg = arg;
	c->w.budget = budget;
	c->w.stop = false;
	if (!c->started) {
		c->started = true;
		if (c->w.flen == 0 || c->w.stack == NULL)
			return 0; /* an empty store: nothing to walk */
		enter(&c->w, r, r->root, 0);
	}
	run(&c->w, r);
	return c->w.top > 0 ? 1 : 0;
}

void
retain_cursor_free(struct retain_cursor *c)
{
	struct retain *r;

	if (c == NULL)
		return;
	r = c->r;
	free(c->w.stack);
	free(c);
	/* A sweep walks the whole store: it waits until the clears it undoes
	 * are an eighth of the values (or a thousand), so that it costs O(1)
	 * per clear and the empty nodes left meanwhile stay within that. */
	if (--r->pins == 0 && r->unpruned >= SWEEP_MIN && r->unpruned >= r->count / 8)
		sweep(r);
}

size_t
retain_count(const struct retain *r)
{
	return r->count;
}

size_t
retain_bytes(const struct retain *r)
{
	return r->bytes;
}

bool
retain_over_bounds(const struct retain *r)
{
	return r->count > r->max_count || r->bytes > r->max_bytes;
}

bool
retain_dirty(const struct retain *r)
{
	return r->dirty;
}

void
retain_mark_clean(struct retain *r)
{
	r->dirty = false;
}

struct retain_value *
retain_value_ref(struct retain_value *v)
{
	block_of(v)->refs++;
	return v;
}

void
retain_value_unref(struct retain_value *v)
{
	outblock_unref(block_of(v));
}

struct outblock *
retain_value_block(struct retain_value *v)
{
	return block_of(v);
}

const char *
retain_value_frame(const struct retain_value *v, size_t *len)
{
	*len = cblock_of(v)->len;
	return cblock_of(v)->data;
}

const char *
retain_value_topic(const struct retain_value *v, size_t *len)
{
	*len = meta_of(v).tlen;
	return cblock_of(v)->data + FRAME_HEAD_LEN;
}

const char *
retain_value_payload(const struct retain_value *v, size_t *len)
{
	const struct outblock *b = cblock_of(v);
	struct vmeta m = meta_of(v);

	*len = plen_of(b, &m);
	return b->data + FRAME_HEAD_LEN + m.tlen + (*len > 0);
}

void
retain_value_origin(const struct retain_value *v, struct retain_origin *o)
{
	struct vmeta m = meta_of(v);

	o->uid = m.uid == UINT32_MAX ? -1 : (int64_t)m.uid;
	o->gid = m.gid == UINT32_MAX ? -1 : (int64_t)m.gid;
	o->pid = m.pid;
	o->via = cblock_of(v)->data + cblock_of(v)->len;
}

bool
retain_value_is_sys(const struct retain_value *v)
{
	return meta_of(v).sys;
}

/* The longest chain in n's table. */
static size_t
chain_max(const struct rnode *n)
{
	size_t longest = 0;

	for (uint32_t i = 0; i < n->nbuckets; i++) {
		size_t chain = 0;

		for (const struct rnode *c = n->buckets[i]; c != NULL; c = c->hnext)
			chain++;
		if (chain > longest)
			longest = chain;
	}
	return longest;
}

/* Counts the nodes of the tree and finds the longest bucket chain. */
static void
census(const struct retain *r, size_t *nodes, size_t *longest)
{
	struct wframe *stack = r->scratch->stack;
	const struct rnode *c;
	size_t top = 0, chain;

	*nodes = 1;
	*longest = chain_max(r->root);
	if (r->root->nchildren == 0 || stack == NULL)
		return;
	stack[top++] = (struct wframe){ r->root, NULL, 0, true, false, 0 };
	while (top > 0) {
		if ((c = next_child(&stack[top - 1])) == NULL) {
			top--;
			continue;
		}
		(*nodes)++;
		if ((chain = chain_max(c)) > *longest)
			*longest = chain;
		if (c->nchildren > 0)
			stack[top++] = (struct wframe){ c, NULL, 0, true, false, 0 };
	}
}

size_t
retain_last_visits(const struct retain *r)
{
	return r->scratch->visits;
}

size_t
retain_node_count(const struct retain *r)
{
	size_t nodes, longest;

	census(r, &nodes, &longest);
	return nodes;
}

size_t
retain_longest_chain(const struct retain *r)
{
	size_t nodes, longest;

	census(r, &nodes, &longest);
	return longest;
}
