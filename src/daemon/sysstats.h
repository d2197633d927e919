/*
 * The $SYS topics: the broker's statistics (the list in stats.h) published
 * as its own retained values under $SYS/broker/, at start and then every
 * sys_interval seconds, with the version and two load averages.
 */
#ifndef UDSB_SYSSTATS_H
#define UDSB_SYSSTATS_H

#include <stdint.h>

struct broker;

/* What the load averages remember between two publications. */
struct sysstats {
	int64_t last_ms;         /* when they were last computed; 0: never */
	uint64_t last_published; /* the counters then */
	uint64_t last_delivered;
	double published_1min; /* messages per second, averaged over a minute */
	double delivered_1min;
};

/* Publishes every $SYS/broker/ value now. */
void sysstats_publish(struct broker *b);

#endif
