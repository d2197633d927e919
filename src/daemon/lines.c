/*
 * The lines sessions' side of the broker: each line a client of a mode =
 * lines listener sends is published to the listener's topic, as "PUB
 * topic line" would be from that client, under the access rules; nothing
 * is ever answered. A line the rules refuse is dropped and counted in
 * denied= (logged at most once per notice interval per client), one over
 * max_line in lines_discarded= (logged at debug level).
 */
#include "broker.h"
#include "log.h"
#include "monoclock.h"

void
broker_publish_line(struct broker *b, struct session *s, const char *line, size_t len)
{
	const struct listener *l = s->listener;

	if (len > 0 && line[len - 1] == '\r') /* as for every line of the protocol */
		len--;
	if (!broker_topic_known(b, l->topic, l->topic_len, s)) {
		if (!access_can_publish(&b->cfg.access, &s->peer, l->topic, l->topic_len)) {
			broker_denied(b, s, "a line to", l->topic, l->topic_len);
			return;
		}
		broker_topic_allowed(b, l->topic, l->topic_len, s);
	}
	broker_publish(b, s, l->topic, l->topic_len, line, len);
}

void
broker_line_discarded(struct broker *b, struct session *s)
{
	char who[96];

	b->stats[STAT_LINES_DISCARDED]++;
	log_debug("%s: a line longer than %zu bytes was discarded", session_who(s, who, sizeof who),
	          b->cfg.max_line);
}
