/* The broker's statistics; see stats.h. */
#include "stats.h"

#include <stdio.h>

/* Each statistic's STATS name and $SYS/broker/ topic, one a line. */
/* clang-format off */
static const struct {
	const char *name;
	const char *sys;
} stats[STAT_COUNT] = {
	[STAT_CLIENTS] = { "clients", "clients/connected" },
	[STAT_SUBSCRIPTIONS] = { "subscriptions", "subscriptions" },
	[STAT_PUBLISHED] = { "published", "messages/published" },
	[STAT_DELIVERED] = { "delivered", "messages/delivered" },
	[STAT_DROPPED] = { "dropped", "messages/dropped" },
	[STAT_BYTES_IN] = { "bytes_in", "bytes/received" },
	[STAT_BYTES_OUT] = { "bytes_out", "bytes/sent" },
	[STAT_UPTIME] = { "uptime", "uptime" },
	[STAT_CONNECTIONS] = { "connections", "clients/total" },
	[STAT_REFUSED] = { "refused", "clients/refused" },
	[STAT_SLOW_DISCONNECTS] = { "slow_disconnects", "clients/slow_disconnects" },
	[STAT_DENIED] = { "denied", "requests/denied" },
	[STAT_REVOKED] = { "revoked", "subscriptions/revoked" },
	[STAT_RETAINED] = { "retained", "retained" },
	[STAT_RETAINED_BYTES] = { "retained_bytes", "retained/bytes" },
	[STAT_LINES_DISCARDED] = { "lines_discarded", "lines/discarded" },
};
/* clang-format on */

const char *
stat_name(enum stat_id st)
{
	return stats[st].name;
}

const char *
stat_sys_topic(enum stat_id st)
{
	return stats[st].sys;
}

size_t
stats_format(const uint64_t v[STAT_COUNT], char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	for (int i = 0; i < STAT_COUNT && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s=%llu", i ? " " : "", stats[i].name,
		                 (unsigned long long)v[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return len < size ? len : size - 1;
}
