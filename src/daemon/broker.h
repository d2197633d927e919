/*
 * The broker: policy and counters. It admits sessions, runs their requests
 * through the command table (commands.c), fans each publish out through
 * the subscription index to subscribers, applies the slow-consumer policy,
 * and owns the lifetimes: dead sessions are freed by a deferred reaper,
 * never inside the callback that killed them.
 */
#ifndef UDSB_BROKER_H
#define UDSB_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "conn.h"
#include "listeners.h"
#include "replies.h"
#include "retain.h"
#include "rstream.h"
#include "session.h"
#include "share.h"
#include "stats.h"
#include "sysstats.h"
#include "uidcount.h"

struct event_base;
struct event;
struct subtree;

/* Frames at least this long are shared by reference between subscribers'
 * output queues; shorter ones are copied, which costs less than the
 * bookkeeping of a reference. */
#define BROKER_SHARE_MIN 1024

/* Meta frames are made one after the other in arenas of this size. */
#define BROKER_META_ARENA 65536

/* The last topic published, whether it may be published, and whom it
 * reaches: reused while neither the index nor the config changed, which is
 * the common case of one topic published again and again. */
struct topic_cache {
	char *topic; /* NULL: empty */
	size_t len;
	size_t cap;
	bool vetted;              /* valid and not reserved, under config_gen */
	uint64_t config_gen;      /* the broker's config_gen it was vetted at */
	uint64_t allowed_id;      /* the session allowed to publish it, or 0 */
	bool matched;             /* subs is its match at index_gen */
	uint64_t index_gen;       /* subtree_generation() it was matched at */
	struct subscriber **subs; /* the matching subscribers, each once */
	size_t nsubs;
	size_t ngroups; /* how many of them are shared groups (pick) */
	size_t subs_cap;
};

/* Extra STATS and $SYS values, from modules plugged into the broker
 * (bridges): the STATS key ("bridge.x.state"), its topic under
 * $SYS/broker/ ("bridge/x/state") and its value, as text. */
typedef void broker_gauge_cb(const char *key, const char *sys, const char *value, void *arg);
/* Calls cb for each of owner's values. */
typedef void broker_gauges_fn(void *owner, broker_gauge_cb *cb, void *arg);

/* A STATS line being written. */
struct stats_line {
	char *buf;
	size_t len;
	size_t size;
};

struct broker {
	struct event_base *base;
	struct config cfg;
	struct listeners listeners;   /* main socket first */
	struct connloop loop;         /* I/O shared by every connection */
	struct session_env env;       /* what every session shares */
	struct subtree *subs;         /* the subscription index */
	struct shares *shares;        /* its shared groups */
	struct session_list sessions; /* live: active or closing */
	unsigned nsessions;
	struct session_list dead; /* closed, waiting to be freed */
	struct event *reaper;     /* frees the dead outside their callbacks */
	struct event *deadline;   /* shutdown: gives up flushing */
	bool shutting_down;
	uint64_t next_id;
	uint64_t msg_seq;             /* one per match, to list each subscriber once */
	uint64_t config_gen;          /* bumped by every reload */
	struct topic_cache cache;     /* the publish path's memory */
	struct outblock *meta_arena;  /* where meta frames are made, or NULL */
	struct outpool meta_pool;     /* arenas to reuse */
	struct notices *notices;      /* of refused connections, or NULL */
	char frame[BROKER_SHARE_MIN]; /* the frame being published, when short */
	uint64_t stats[STAT_COUNT];   /* the counters; gauges filled in by broker_stats */
	int64_t started_ms;           /* mono_ms() at start */
	struct retain *retained;      /* the retained values, $SYS ones included */
	struct rstreams streams;      /* SUBs still owed retained values */
	struct event *sync_timer;     /* writes them to [retain] file when changed */
	struct event *sys_timer;      /* publishes $SYS every sys_interval */
	struct sysstats sys;
	struct replies replies;   /* the open reply topics of REQ */
	struct uidcount uids;     /* live sessions per uid */
	broker_gauges_fn *gauges; /* extra STATS and $SYS values, or NULL */
	void *gauges_owner;
};

/* Sets up b with a loaded config (b takes it over) and opens the main
 * socket on path and the config's listeners. Returns 0, or -1 with the
 * reason in err. */
int broker_init(struct broker *b, struct event_base *base, struct config *cfg, const char *path,
                char *err, size_t errlen);

/* Applies a newly loaded config (b takes it over): limits, policy, level. */
void broker_reload(struct broker *b, struct config *cfg);

/* Stops accepting, says BYE to everyone after their queues, and exits the
 * loop once all are gone or the flush deadline passed. */
void broker_shutdown(struct broker *b);

/* Closes the listener and frees everything. */
void broker_free(struct broker *b);

/* Every statistic, gauges included, as of now. */
void broker_stats(const struct broker *b, uint64_t v[STAT_COUNT]);

/* ---- for the commands (commands.c) ---- */

/* Frames a message once and queues it to every matching subscriber. */
void broker_publish(struct broker *b, struct session *s, const char *topic, size_t tlen,
                    const char *payload, size_t plen);

/* Queues a message already framed to every subscriber matching topic. */
void broker_publish_frame(struct broker *b, struct session *s, const char *topic, size_t tlen,
                          const char *payload, size_t plen, const struct frame *f);

/* Publishes a burst of s: count messages of topic, framed back to back in
 * f ("MSG <topic>[ <payload>]\n" each), to every subscriber matching it;
 * as one frame to those that take bursts, else message by message. */
void broker_publish_burst(struct broker *b, struct session *s, const char *topic, size_t tlen,
                          const struct frame *f, size_t count);

/* Publishes a request of s, its reply topic in the meta of subscribers
 * that want meta. Returns how many subscribers it reached, or -1 if out of
 * memory. */
long broker_publish_request(struct broker *b, struct session *s, const char *topic, size_t tlen,
                            const char *payload, size_t plen, const char *reply, size_t rlen);

/* Delivers s's answer to the requester to, alone (f: its MSG frame). */
void broker_publish_reply(struct broker *b, struct session *s, struct session *to,
                          const char *topic, size_t tlen, const char *payload, size_t plen,
                          const struct frame *f);

/* True if topic is the one last published, so it is known to be valid and
 * not reserved; and, if s is not NULL, s was allowed to publish it. */
bool broker_topic_known(const struct broker *b, const char *topic, size_t tlen,
                        const struct session *s);

/* Remembers that s was allowed to publish topic (valid, not reserved). */
void broker_topic_allowed(struct broker *b, const char *topic, size_t tlen,
                          const struct session *s);

/* Makes payload the retained value of topic for s (NULL: the broker) and
 * publishes it live, unless the store refuses (then nothing happens). */
enum retain_result broker_retain(struct broker *b, struct session *s, const char *topic,
                                 size_t tlen, const char *payload, size_t plen);

/* Publishes a message that came in through a bridge (via: its name, in
 * the meta), retained if retain. Returns RETAIN_OK, or why it was not
 * stored (then nothing was published). */
enum retain_result broker_publish_via(struct broker *b, const char *via, const char *topic,
                                      size_t tlen, const char *payload, size_t plen, bool retain);

/* Adds filter (valid) to sub's subscriptions, if it does not hold it yet.
 * Returns 0, or -1 if out of memory. */
int broker_subscribe(struct broker *b, struct subscriber *sub, const char *filter, size_t flen);

/* Removes all of sub's subscriptions. */
void broker_unsubscribe_all(struct broker *b, struct subscriber *sub);

/* Makes fn give extra STATS and $SYS values (one owner: a second call
 * replaces it; fn NULL removes it). */
void broker_set_gauges(struct broker *b, broker_gauges_fn *fn, void *owner);

/* Writes the STATS counters, then the extra values, as "key=value ..."
 * into buf (NUL-terminated, cut at a whole key=value if it does not fit).
 * Returns the length. */
size_t broker_format_stats(const struct broker *b, char *buf, size_t size);

/* Publishes the $SYS values now, unless sys_interval is 0. */
void broker_publish_sys(struct broker *b);

/* Sets one of the broker's own $SYS values and publishes it. */
void broker_set_sys(struct broker *b, const char *topic, size_t tlen, const char *value,
                    size_t vlen);

/* Sends s an RMSG for every retained value filter matches, a chunk per
 * loop pass, before any later MSG (rstream.h). */
void broker_send_retained(struct broker *b, struct session *s, const char *filter, size_t flen);

/* Writes the retained values to [retain] file, if one is set and they
 * changed since the last write, or whether they did if force (SIGUSR1).
 * Logs a failure. */
void broker_save_retained(struct broker *b, bool force);

/* Handles one request line of s, lying in block (commands.c). */
void broker_request(struct broker *b, struct session *s, char *line, size_t len,
                    struct outblock *block);

/* Counts and (rate-limited) logs that the access rules refused s the
 * command cmd on the topic or filter what. */
void broker_denied(struct broker *b, struct session *s, const char *cmd, const char *what,
                   size_t len);

/* A line of the lines session s: published to its listener's topic under
 * the access rules (lines.c). */
void broker_publish_line(struct broker *b, struct session *s, const char *line, size_t len);

/* A line of the lines session s was over max_line: counted (lines.c). */
void broker_line_discarded(struct broker *b, struct session *s);

/* Queues "ERR <code> <text>" to s. */
void broker_reply_err(struct session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
