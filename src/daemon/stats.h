/*
 * The broker's counters and gauges: one list, from which STATS and the
 * $SYS topics are written. The order is STATS's order; new ones go at the end.
 */
#ifndef UDSB_STATS_H
#define UDSB_STATS_H

#include <stddef.h>
#include <stdint.h>

enum stat_id {
	STAT_CLIENTS,          /* gauge: clients connected now */
	STAT_SUBSCRIPTIONS,    /* gauge: subscriptions held now */
	STAT_PUBLISHED,        /* PUBs accepted */
	STAT_DELIVERED,        /* MSG frames queued to subscribers */
	STAT_DROPPED,          /* frames not queued: over a subscriber's queue_limit */
	STAT_BYTES_IN,         /* bytes read from clients */
	STAT_BYTES_OUT,        /* bytes queued to clients */
	STAT_UPTIME,           /* gauge: seconds since start */
	STAT_CONNECTIONS,      /* clients accepted since start */
	STAT_REFUSED,          /* clients refused: max_clients, max_clients_per_uid */
	STAT_SLOW_DISCONNECTS, /* clients sent BYE slow-consumer */
	STAT_DENIED,           /* requests the access rules refused */
	STAT_REVOKED,          /* subscriptions a reload removed: no longer allowed */
	STAT_RETAINED,         /* gauge: retained values of clients */
	STAT_RETAINED_BYTES,   /* gauge: their topic + payload bytes */
	STAT_LINES_DISCARDED,  /* lines-mode lines over max_line, discarded */
	STAT_COUNT,
};

/* The name of a statistic as STATS writes it ("published"). */
const char *stat_name(enum stat_id st);

/* Its topic under $SYS/broker/ ("messages/published"). */
const char *stat_sys_topic(enum stat_id st);

/* Writes "name=value name=value ..." for all of v into buf (NUL-terminated,
 * cut short if it does not fit). Returns the length written. */
size_t stats_format(const uint64_t v[STAT_COUNT], char *buf, size_t size);

#endif
