/*
 * A subscriber: whatever the broker delivers messages to. Sessions
 * implement it; a shared group (share.h) stands for its members through
 * pick; bridge links and reply topics will implement it too. The broker's
 * fan-out talks to every kind through these ops alone.
 */
#ifndef UDSB_SUBSCRIBER_H
#define UDSB_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outq.h"
#include "subtree.h"

struct share_member;
struct subscriber;

/* What to do with a message that does not fit (config slow_consumer). */
enum overflow_policy {
	OVERFLOW_DROP,       /* drop it, and say how many were lost */
	OVERFLOW_DISCONNECT, /* say goodbye and close */
};

/* What deliver() did with a frame. */
enum delivery {
	DELIVERED,  /* queued */
	OVER_LIMIT, /* not queued: it would go over its limit */
	FAILED,     /* not queued: out of memory (it closed itself) */
};

struct subscriber_ops {
	/* Queues f if it fits within its limit. */
	enum delivery (*deliver)(struct subscriber *sub, const struct frame *f);
	/* A message was over its limit: apply the policy. */
	void (*overflow)(struct subscriber *sub, enum overflow_policy policy);
	/* Is its queue over half its limit? (A shared group passes it over
	 * while another member is not.) */
	bool (*busy)(const struct subscriber *sub);
	/* Set by a subscriber that stands for others (a shared group), which
	 * then has no other op: the one that takes the next message, or NULL
	 * if none can. The broker delivers to that one instead. */
	struct subscriber *(*pick)(struct subscriber *sub);
	/* With pick: the member that takes every message, since it is the
	 * only one, or NULL. The broker may then give it a burst whole. */
	struct subscriber *(*sole)(struct subscriber *sub);
};

struct subscriber {
	const struct subscriber_ops *ops;
	uint64_t last_seq;           /* the last match it was listed in: once per message */
	bool closed;                 /* takes no more messages */
	bool meta;                   /* wants the meta of each message (OPT meta on) */
	bool bursts;                 /* deliver() may be given a burst: several messages
	                              * of one topic, back to back, as one frame (queued
	                              * whole or not at all); else (the default) one
	                              * message a frame */
	struct subowner filters;     /* its subscriptions, in the index */
	struct share_member *shares; /* the shared groups it is a member of */
	size_t nshares;
};

/* The subscriber whose filters o is (the owner of a subscription). */
static inline struct subscriber *
subscriber_of(struct subowner *o)
{
	return (struct subscriber *)((char *)o - offsetof(struct subscriber, filters));
}

#endif
