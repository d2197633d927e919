/* The broker's statistics; see stats.h. */
#include "stats.h"

#include <stdio.h>

/* clang-format off: one name a line */
static const char *const names[STAT_COUNT] = {
	[STAT_CLIENTS] = "clients",
	[STAT_SUBSCRIPTIONS] = "subscriptions",
	[STAT_PUBLISHED] = "published",
	[STAT_DELIVERED] = "delivered",
	[STAT_DROPPED] = "dropped",
	[STAT_BYTES_IN] = "bytes_in",
	[STAT_BYTES_OUT] = "bytes_out",
	[STAT_UPTIME] = "uptime",
	[STAT_CONNECTIONS] = "connections",
	[STAT_REFUSED] = "refused",
	[STAT_SLOW_DISCONNECTS] = "slow_disconnects",
	[STAT_DENIED] = "denied",
	[STAT_REVOKED] = "revoked",
};
/* clang-format on */

const char *
stat_name(enum stat st)
{
	return names[st];
}

size_t
stats_format(const uint64_t v[STAT_COUNT], char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	for (int i = 0; i < STAT_COUNT && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%s=%llu", i ? " " : "", names[i],
		                 (unsigned long long)v[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	return len < size ? len : size - 1;
}
