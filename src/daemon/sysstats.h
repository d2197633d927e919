/*
 * The $SYS topics: the broker's statistics (the list in stats.h), with the
 * version and two load averages, as the (topic, value) pairs the broker
 * publishes as its own retained values under $SYS/broker/, at start and
 * then every sys_interval seconds.
 */
#ifndef UDSB_SYSSTATS_H
#define UDSB_SYSSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

/* What the load averages remember between two publications. */
struct sysstats {
	int64_t last_ms;         /* when they were last computed; 0: never */
	uint64_t last_published; /* the counters then */
	uint64_t last_delivered;
	double published_1min; /* messages per second, averaged over a minute */
	double delivered_1min;
};

/* Called with each "$SYS/broker/..." topic and its value. */
typedef void sysstats_cb(const char *topic, size_t tlen, const char *value, size_t vlen, void *arg);

/* Brings the load averages up to now_ms with the statistics v, then calls
 * cb for every $SYS value. */
void sysstats_each(struct sysstats *sys, const uint64_t v[STAT_COUNT], int64_t now_ms,
                   sysstats_cb *cb, void *arg);

#endif
