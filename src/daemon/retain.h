/*
 * The retained store: the last value of each topic (RETAIN), and the
 * broker's own $SYS values.
 *
 * A value is one refcounted allocation holding the ready frame
 * "RMSG <topic> <payload>\n" (the only copy of topic and payload) and the
 * publisher's credentials, for delivery metadata. It is an outq block
 * (outq.h) whose bytes are the frame, so the broker queues it to many
 * subscribers by reference (struct frame's block): a value replaced or
 * cleared meanwhile stays valid for whoever holds a reference, a queue's
 * included.
 *
 * The index is a tree of topic levels, the children of a node hashed with
 * a keyed SipHash. Matching walks it with a FILTER (MQTT rules, as
 * topic_matches() states them), costing what the filter can match: an
 * exact filter O(levels), "a/+/c" the children of "a", "#" everything.
 * Nothing recurses on the C stack; nodes left empty by a clear are pruned.
 *
 * Bounds (max_count values, max_bytes of topic + payload) apply to client
 * values; $SYS values (RETAIN_SYS) count toward neither the bounds nor the
 * figures.
 */
#ifndef UDSB_RETAIN_H
#define UDSB_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RETAIN_TOPIC_MAX   65535      /* longest topic the store takes */
#define RETAIN_PAYLOAD_MAX (1u << 30) /* longest payload */
#define RETAIN_VIA_MAX     32         /* longest "via" name */

struct outblock;
struct retain;
struct retain_cursor;
struct retain_value;

/* Who published a value, as the broker knew them. */
struct retain_origin {
	int64_t uid, gid, pid; /* -1 when unknown (no SO_PEERCRED); else what the
	                        * kernel can give: uid and gid below UINT32_MAX,
	                        * pid at most INT32_MAX */
	const char *via;       /* listener or bridge name ("main"), NUL-terminated, at
	                        * most RETAIN_VIA_MAX bytes of printable ASCII but space,
	                        * ';' and '='; NULL or "" for none */
};

enum retain_result {
	RETAIN_OK = 0,  /* stored, replaced or cleared */
	RETAIN_FULL,    /* the new state would exceed a bound: nothing changed */
	RETAIN_NOMEM,   /* out of memory: nothing changed */
	RETAIN_INVALID, /* bad topic, payload with '\n' or too long, bad origin:
	                 * nothing changed */
};

/* What r means, for a log line: "the retained values are full"... */
const char *retain_strerror(enum retain_result r);

/* Flags of retain_set. */
#define RETAIN_SYS       0x1 /* the broker's own value: outside bounds and figures */
#define RETAIN_UNBOUNDED 0x2 /* ignore the bounds (loading a saved store) */

/* Called for each matching value; it may take a reference, not change the
 * store nor walk it again (the walk's stack is the store's). */
typedef void retain_match_cb(struct retain_value *v, void *arg);

/* An empty store keyed with a random key, without bounds; NULL if out of
 * memory. */
struct retain *retain_new(void);

/* Frees the store and drops its references: values still held elsewhere
 * live on until their last unref. */
void retain_free(struct retain *r);

/* Bounds on client values (max_retained, max_retained_bytes); SIZE_MAX is
 * none. Values already stored stay, even over new bounds. */
void retain_set_limits(struct retain *r, size_t max_count, size_t max_bytes);

/* Makes payload the retained value of topic (replacing the old one), or
 * with plen 0 clears it. The bounds are checked counting the state after
 * the old value is replaced: RETAIN_FULL if it would exceed either, and
 * then nothing changes. Clearing always succeeds. origin may be NULL (all
 * unknown). flags: RETAIN_SYS, RETAIN_UNBOUNDED. */
enum retain_result retain_set(struct retain *r, const char *topic, size_t tlen, const char *payload,
                              size_t plen, const struct retain_origin *origin, unsigned flags);

/* The value of exactly topic, or NULL; no reference is taken. */
struct retain_value *retain_get(const struct retain *r, const char *topic, size_t tlen);

/* Calls cb for every value whose topic the valid filter matches (topics
 * beginning with '$' are not matched by a leading '+' or '#'). Returns the
 * number of calls. Never allocates. */
size_t retain_match(const struct retain *r, const char *filter, size_t flen, retain_match_cb *cb,
                    void *arg);

/* A match spread over several calls (a SUB's retained values, sent a
 * chunk per loop pass): a cursor walks filter from where it stopped.
 * While any cursor is open the store frees no node and moves no table
 * with children, so the cursor's place stays valid whatever changes:
 * values replaced meanwhile are reported as they are when reached, values
 * cleared before they are reached are not, and values stored under a
 * place already passed are not (they are newer than the walk). Nodes left
 * empty meanwhile are freed by a sweep of the store when the last cursor
 * closes, once they come from at least 1024 clears and an eighth of the
 * values held (so a sweep costs O(1) a clear, and they take at most that
 * much memory). NULL if out of memory. */
struct retain_cursor *retain_cursor_new(struct retain *r, const char *filter, size_t flen);

/* Calls cb for the next matching values until their frames add up to at
 * least budget bytes. Returns 1 if more may follow, 0 when the walk is
 * done, -1 if out of memory (the cursor can only be freed). */
int retain_cursor_next(struct retain_cursor *c, size_t budget, retain_match_cb *cb, void *arg);

/* Closes a cursor (NULL: nothing). */
void retain_cursor_free(struct retain_cursor *c);

/* Calls cb for every value, $SYS ones included (saving). */
size_t retain_foreach(const struct retain *r, retain_match_cb *cb, void *arg);

/* Client values held, and their topic + payload bytes (STATS retained=,
 * retained_bytes=; the measures of the bounds). */
size_t retain_count(const struct retain *r);
size_t retain_bytes(const struct retain *r);

/* Are the figures over the bounds (after a load, or new bounds)? */
bool retain_over_bounds(const struct retain *r);

/* Has a client value changed since the store was made or marked clean? */
bool retain_dirty(const struct retain *r);
void retain_mark_clean(struct retain *r);

/* Takes a reference to v; returns v. */
struct retain_value *retain_value_ref(struct retain_value *v);

/* Drops a reference; the last one frees v. */
void retain_value_unref(struct retain_value *v);

/* v as the outq block that holds its frame, [0, len): to queue by
 * reference (outq_share, or a struct frame's block; the queue takes its
 * own reference and drops it with outblock_unref). Its refcount is v's. */
struct outblock *retain_value_block(struct retain_value *v);

/* The bytes of v, each with its length in *len: the frame
 * "RMSG <topic> <payload>\n", and the topic and payload inside it (not
 * NUL-terminated). */
const char *retain_value_frame(const struct retain_value *v, size_t *len);
const char *retain_value_topic(const struct retain_value *v, size_t *len);
const char *retain_value_payload(const struct retain_value *v, size_t *len);

/* The publisher of v; o->via points into v ("" for none). */
void retain_value_origin(const struct retain_value *v, struct retain_origin *o);

/* Is v one of the broker's own ($SYS) values? */
bool retain_value_is_sys(const struct retain_value *v);

/* For tests: the nodes of the index (the root included), the longest
 * chain in a children table, and the nodes the last match or foreach
 * reached (what a filter cost). */
size_t retain_node_count(const struct retain *r);
size_t retain_last_visits(const struct retain *r);
size_t retain_longest_chain(const struct retain *r);

#endif
