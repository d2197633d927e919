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
#include "listener.h"
#include "replies.h"
#include "retain.h"
#include "session.h"
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
	size_t subs_cap;
};

struct broker {
	struct event_base *base;
	struct config cfg;
	struct listener listener;
	struct connloop loop;         /* I/O shared by every connection */
	struct session_env env;       /* what every session shares */
	struct subtree *subs;         /* the subscription index */
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
	struct notices *notices;      /* of refused connections, or NULL */
	char frame[BROKER_SHARE_MIN]; /* the frame being published, when short */
	uint64_t stats[STAT_COUNT];   /* the counters; gauges filled in by broker_stats */
	int64_t started_ms;           /* mono_ms() at start */
	struct retain *retained;      /* the retained values, $SYS ones included */
	struct event *sync_timer;     /* writes them to [retain] file when changed */
	struct event *sys_timer;      /* publishes $SYS every sys_interval */
	struct sysstats sys;
	struct replies replies; /* the open reply topics of REQ */
	struct uidcount uids;   /* live sessions per uid */
};

/* Sets up b with a loaded config (b takes it over) and opens the listener
 * on path. Returns 0, or -1 with the reason in err. */
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

/* Sets one of the broker's own $SYS values and publishes it. */
void broker_set_sys(struct broker *b, const char *topic, size_t tlen, const char *value,
                    size_t vlen);

/* Queues to s an RMSG for every retained value filter matches. */
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

/* Queues "ERR <code> <text>" to s. */
void broker_reply_err(struct session *s, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
