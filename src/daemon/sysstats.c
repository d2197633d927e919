/* The $SYS topics; see sysstats.h. */
#include "sysstats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buildconf.h"

#define SYS_PREFIX "$SYS/broker/"

/* Calls cb for $SYS/broker/name = value. */
static void
put(sysstats_cb *cb, void *arg, const char *name, const char *value)
{
	char topic[128];
	int n = snprintf(topic, sizeof topic, SYS_PREFIX "%s", name);

	cb(topic, (size_t)n, value, strlen(value), arg);
}

/* Moves an exponential average over a minute towards rate, dt ms later. */
static double
decay(double avg, double rate, int64_t dt)
{
	double keep = exp(-(double)dt / 60000.0);

	return avg * keep + rate * (1 - keep);
}

/* The two load averages, brought up to now. */
static void
update_loads(struct sysstats *sys, const uint64_t v[STAT_COUNT], int64_t now)
{
	int64_t dt = now - sys->last_ms;

	if (sys->last_ms != 0 && dt > 0) {
		double pub = (double)(v[STAT_PUBLISHED] - sys->last_published) * 1000 / (double)dt;
		double del = (double)(v[STAT_DELIVERED] - sys->last_delivered) * 1000 / (double)dt;

		sys->published_1min = decay(sys->published_1min, pub, dt);
		sys->delivered_1min = decay(sys->delivered_1min, del, dt);
	}
	sys->last_ms = now;
	sys->last_published = v[STAT_PUBLISHED];
	sys->last_delivered = v[STAT_DELIVERED];
}

void
sysstats_each(struct sysstats *sys, const uint64_t v[STAT_COUNT], int64_t now_ms, sysstats_cb *cb,
              void *arg)
{
	char value[32];

	update_loads(sys, v, now_ms);
	put(cb, arg, "version", UDSB_VERSION);
	for (int i = 0; i < STAT_COUNT; i++) {
		snprintf(value, sizeof value, "%llu", (unsigned long long)v[i]);
		put(cb, arg, stat_sys_topic((enum stat_id)i), value);
	}
	snprintf(value, sizeof value, "%.2f", sys->published_1min);
	put(cb, arg, "load/published/1min", value);
	snprintf(value, sizeof value, "%.2f", sys->delivered_1min);
	put(cb, arg, "load/delivered/1min", value);
}
