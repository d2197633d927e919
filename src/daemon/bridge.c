/*
 * Bridges to MQTT brokers; see bridge.h.
 *
 * A link's life: connecting (a new libmosquitto client, an asynchronous
 * connect, the CONNECT packet, waiting for CONNACK), connected (its in
 * filters subscribed, its queue pumped into the client a window at a
 * time), down (the client destroyed, a timer set for the next attempt,
 * 1 s doubling to 60 s, with jitter). Each attempt has a fresh client, so
 * the queue (bridgequeue.h) alone says what the remote still owes an
 * acknowledgement for; nothing is resent twice from two places.
 *
 * libmosquitto's callbacks may run inside mosquitto_loop_* and inside
 * mosquitto_publish; a client is never destroyed from them: a lost
 * connection is torn down from a deferred event.
 */
#include "bridge.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "bridgeconf.h"
#include "bridgeecho.h"
#include "bridgemap.h"
#include "bridgequeue.h"
#include "broker.h"
#include "log.h"
#include "monoclock.h"
#include "notice.h"
#include "subscriber.h"

/* Messages handed to the MQTT client at once, not yet taken by the remote:
 * bounds libmosquitto's own queue. */
#define WINDOW 256
/* Reconnect back-off, in ms. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* A connection that lasted this long resets the back-off: one that did
 * not (a remote that takes the connection and drops it, a second client
 * with the same client_id kicking this one off) keeps backing off. */
#define STABLE_MS 10000
/* An attempt that has no CONNACK after this many seconds is given up. */
#define CONNECT_TIMEOUT_S 30
/* Messages the echo window remembers (bridgeecho.h). */
#define ECHO_WINDOW 16384
/* Room for the longest local topic (max_topic is at most 65535). */
#define IN_TOPIC_SIZE 65536
/* The longest topic MQTT carries (a string with a two-byte length). */
#define MQTT_TOPIC_MAX 65535

enum link_state {
	LINK_DOWN,
	LINK_CONNECTING,
	LINK_CONNECTED,
};

static const char *const state_names[] = { "down", "connecting", "connected" };

struct link {
	struct subscriber sub; /* how the broker delivers local messages to it */
	struct bridges *owner;
	const struct bridge_conf *conf;
	struct mosquitto *mosq; /* NULL while down */
	enum link_state state;
	bool v311;            /* the remote refused MQTT 5: speak 3.1.1 */
	bool tcp_up;          /* this attempt's socket connected */
	bool lost;            /* torn down from the deferred event */
	bool publishing;      /* inside mosquitto_publish */
	int done_inline;      /* a mid taken inside mosquitto_publish, or 0 */
	int64_t attempt_ms;   /* when this attempt started */
	int64_t connected_ms; /* when it last connected */
	unsigned backoff_ms;
	struct event *rd, *wr; /* on the client's socket */
	struct event *misc;    /* every second: mosquitto_loop_misc */
	struct event *retry;   /* the next attempt */
	struct event *pump;    /* hands queued messages to the client */
	struct event *teardown;
	struct bridge_queue queue;
	struct bridge_echo echo;
	size_t prefix_len; /* of conf->remote_prefix, 0 if none */
	char *in_topic;    /* room for the longest local topic, coming in */
	uint64_t msgs_out, msgs_in, in_dropped, reconnects;
	bool ever_connected;
	struct notices *notices;
};

struct bridges {
	struct broker *b;
	struct event_base *base;
	struct link *links;
	size_t n;
};

static void start_attempt(struct link *l);

/* The link whose subscriber sub is. */
static struct link *
link_of(struct subscriber *sub)
{
	return (struct link *)((char *)sub - offsetof(struct link, sub));
}

/* Sets $SYS/broker/bridge/NAME/state at once when it changes. */
static void
set_state(struct link *l, enum link_state st)
{
	char topic[96];
	int n;

	if (l->state == st)
		return;
	l->state = st;
	if (l->owner->b->cfg.sys_interval == 0)
		return;
	n = snprintf(topic, sizeof topic, "$SYS/broker/bridge/%s/state", l->conf->name);
	broker_set_sys(l->owner->b, topic, (size_t)n, state_names[st], strlen(state_names[st]));
}

/* Watches the socket for writing while the client has something to write. */
static void
update_write(struct link *l)
{
	if (l->mosq == NULL || l->wr == NULL || l->lost)
		return;
	if (mosquitto_want_write(l->mosq))
		event_add(l->wr, NULL);
	else
		event_del(l->wr);
}

/* The connection is gone or must go: torn down from the deferred event. */
static void
lose(struct link *l)
{
	if (l->mosq == NULL || l->lost)
		return;
	l->lost = true;
	event_active(l->teardown, 0, 0);
}

/* Schedules a pump of the queue (never from inside libmosquitto). */
static void
want_pump(struct link *l)
{
	if (l->state == LINK_CONNECTED && !l->lost)
		event_active(l->pump, 0, 0);
}

/* Counts a message lost, and says so now and then. */
static void
note_dropped(struct link *l, unsigned n, const char *why)
{
	uint64_t held;

	if (n == 0 || !notice_due(&l->notices, NOTICE_DROPPED, mono_ms(), &held))
		return;
	log_info("bridge %s: %u message%s dropped (%s), %llu more since the last notice",
	         l->conf->name, n, n == 1 ? "" : "s", why, (unsigned long long)held);
}

/* ---- local messages: the subscriber side ---- */

static enum delivery
link_deliver(struct subscriber *sub, const struct frame *f)
{
	struct link *l = link_of(sub);
	struct bridge_local m;
	unsigned dropped;

	if (bridgemap_parse_local(f->data, f->len, &m) < 0)
		return DELIVERED; /* not a frame with meta: never made by the broker */
	if (bridgemap_came_via(&m, l->conf->name))
		return DELIVERED; /* it came in through this bridge: no loop */
	if (l->prefix_len + m.tlen > MQTT_TOPIC_MAX) {
		l->queue.dropped++;
		note_dropped(l, 1, "its remote topic is too long");
		return DELIVERED;
	}
	dropped = bq_push(&l->queue, l->conf->remote_prefix, l->prefix_len, m.topic, m.tlen,
	                  m.payload, m.plen, f->retained);
	note_dropped(l, dropped, "over the bridge's queue_limit");
	want_pump(l);
	return DELIVERED;
}

static void
link_overflow(struct subscriber *sub, enum overflow_policy policy)
{
	/* Never over its limit: the queue drops its oldest instead. */
}

static const struct subscriber_ops link_ops = {
	.deliver = link_deliver,
	.overflow = link_overflow,
};

/* Hands queued messages to the client, up to the window. */
static void
pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	struct bq_entry *e;

	while (l->state == LINK_CONNECTED && !l->lost && l->queue.handed < WINDOW &&
	       (e = bq_next(&l->queue)) != NULL) {
		int mid = 0, rc;

		l->publishing = true;
		l->done_inline = 0;
		rc = mosquitto_publish(l->mosq, &mid, bq_topic(e), (int)e->plen, bq_payload(e),
		                       l->conf->qos, e->retain);
		l->publishing = false;
		if (rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_PAYLOAD_SIZE ||
		    rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_INVAL) {
			/* The remote cannot take this one: counted, and on to the next. */
			bq_handed(&l->queue, e, -1);
			bq_done(&l->queue, -1);
			l->queue.dropped++;
			note_dropped(l, 1, mosquitto_strerror(rc));
			continue;
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			log_info("bridge %s: publish failed: %s", l->conf->name,
			         mosquitto_strerror(rc));
			lose(l);
			break;
		}
		if (l->v311 || e->retain)
			bridge_echo_sent(&l->echo, bq_topic(e), e->tlen, bq_payload(e), e->plen);
		bq_handed(&l->queue, e, mid);
		if (l->done_inline == mid && bq_done(&l->queue, mid))
			l->msgs_out++;
	}
	update_write(l);
}

/* ---- libmosquitto's callbacks ---- */

/* Subscribes to the in filters, with no-local under MQTT 5. */
static void
subscribe_in(struct link *l)
{
	for (size_t i = 0; i < l->conf->nin; i++) {
		int rc;

		if (l->v311)
			rc = mosquitto_subscribe(l->mosq, NULL, l->conf->in[i], l->conf->qos);
		else
			rc = mosquitto_subscribe_v5(
			    l->mosq, NULL, l->conf->in[i], l->conf->qos,
			    MQTT_SUB_OPT_NO_LOCAL | MQTT_SUB_OPT_RETAIN_AS_PUBLISHED, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_warnx("bridge %s: cannot subscribe to %s: %s", l->conf->name,
			          l->conf->in[i], mosquitto_strerror(rc));
			lose(l);
			return;
		}
	}
}

static void
on_connect(struct mosquitto *mosq, void *arg, int rc, int flags, const mosquitto_property *props)
{
	struct link *l = arg;

	if (rc != 0) {
		const char *why =
		    l->v311 ? mosquitto_connack_string(rc) : mosquitto_reason_string(rc);

		if (!l->v311 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
		                 rc == CONNACK_REFUSED_PROTOCOL_VERSION)) {
			log_info("bridge %s: %s does not speak MQTT 5; using 3.1.1", l->conf->name,
			         l->conf->address);
			l->v311 = true;
			l->backoff_ms = 0; /* try again at once */
		} else {
			log_warnx("bridge %s: %s refused the connection: %s", l->conf->name,
			          l->conf->address, why);
		}
		lose(l);
		return;
	}
	log_info("bridge %s: connected to %s (MQTT %s)", l->conf->name, l->conf->address,
	         l->v311 ? "3.1.1" : "5");
	if (l->ever_connected)
		l->reconnects++;
	l->ever_connected = true;
	l->connected_ms = mono_ms();
	set_state(l, LINK_CONNECTED);
	subscribe_in(l);
	want_pump(l);
}

static void
on_disconnect(struct mosquitto *mosq, void *arg, int rc, const mosquitto_property *props)
{
	struct link *l = arg;

	if (l->state == LINK_CONNECTED)
		log_info("bridge %s: connection to %s lost: %s", l->conf->name, l->conf->address,
		         rc == MOSQ_ERR_KEEPALIVE ? "no answer within keepalive"
		                                  : mosquitto_strerror(rc));
	lose(l);
}

static void
on_publish(struct mosquitto *mosq, void *arg, int mid, int reason, const mosquitto_property *props)
{
	struct link *l = arg;

	if (!bq_done(&l->queue, mid)) {
		if (l->publishing)
			l->done_inline = mid; /* taken before mosquitto_publish returned */
		return;
	}
	if (reason >= 0x80) {
		l->queue.dropped++;
		note_dropped(l, 1, mosquitto_reason_string(reason));
	} else {
		l->msgs_out++;
	}
	want_pump(l);
}

static void
on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg,
           const mosquitto_property *props)
{
	struct link *l = arg;
	struct broker *b = l->owner->b;
	size_t tlen = strlen(msg->topic), plen = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	const char *payload = plen > 0 ? msg->payload : "";
	enum bridgemap_in r;
	enum retain_result rr;
	size_t len;
	char *topic = l->in_topic;

	if ((l->v311 || msg->retain) && bridge_echo_take(&l->echo, msg->topic, tlen, payload, plen))
		return; /* the remote's echo of one this bridge sent */
	r = bridgemap_in(l->conf->local_prefix, msg->topic, tlen, payload, plen, b->cfg.max_topic,
	                 b->cfg.max_line, topic, IN_TOPIC_SIZE, &len);
	if (r != BRIDGEMAP_OK) {
		l->in_dropped++;
		note_dropped(l, 1, bridgemap_strerror(r));
	} else if ((rr = broker_publish_via(b, l->conf->name, topic, len, payload, plen,
	                                    msg->retain)) != RETAIN_OK) {
		l->in_dropped++;
		note_dropped(l, 1, retain_strerror(rr));
	} else {
		l->msgs_in++;
	}
}

static void
on_log(struct mosquitto *mosq, void *arg, int level, const char *text)
{
	struct link *l = arg;

	log_debug("bridge %s: libmosquitto: %s", l->conf->name, text);
}

/* ---- the socket and the timers ---- */

/* Has this attempt's socket connected? (A v5 attempt that fails after it
 * did is answered by a 3.1.1 one.) */
static void
check_tcp(struct link *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (!l->tcp_up && getpeername(mosquitto_socket(l->mosq), (struct sockaddr *)&ss, &len) == 0)
		l->tcp_up = true;
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	int rc;

	if (l->mosq == NULL || l->lost)
		return;
	check_tcp(l);
	rc = mosquitto_loop_read(l->mosq, 64);
	if (rc != MOSQ_ERR_SUCCESS)
		lose(l);
	update_write(l);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	int rc;

	if (l->mosq == NULL || l->lost)
		return;
	check_tcp(l);
	rc = mosquitto_loop_write(l->mosq, 64);
	if (rc != MOSQ_ERR_SUCCESS)
		lose(l);
	update_write(l);
	want_pump(l);
}

static void
misc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;

	if (l->mosq == NULL || l->lost)
		return;
	if (l->state == LINK_CONNECTING && mono_ms() - l->attempt_ms > CONNECT_TIMEOUT_S * 1000) {
		log_info("bridge %s: no answer from %s within %d s", l->conf->name,
		         l->conf->address, CONNECT_TIMEOUT_S);
		l->tcp_up = false; /* silence says nothing of its MQTT version */
		lose(l);
		return;
	}
	if (mosquitto_loop_misc(l->mosq) != MOSQ_ERR_SUCCESS)
		lose(l);
	update_write(l);
}

/* Destroys this attempt's client and its events. */
static void
drop_client(struct link *l)
{
	if (l->rd != NULL)
		event_free(l->rd);
	if (l->wr != NULL)
		event_free(l->wr);
	l->rd = l->wr = NULL;
	if (l->mosq != NULL)
		mosquitto_destroy(l->mosq);
	l->mosq = NULL;
	l->lost = false;
}

/* Waits before the next attempt: the back-off, with jitter of +-25%. */
static void
schedule_retry(struct link *l)
{
	unsigned ms = l->backoff_ms;
	struct timeval tv;

	if (ms > 0)
		ms = ms * 3 / 4 + arc4random_uniform(ms / 2 + 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	l->backoff_ms = l->backoff_ms == 0 ? BACKOFF_MIN_MS : l->backoff_ms * 2;
	if (l->backoff_ms > BACKOFF_MAX_MS)
		l->backoff_ms = BACKOFF_MAX_MS;
	set_state(l, LINK_DOWN);
	evtimer_add(l->retry, &tv);
	log_debug("bridge %s: next attempt in %u ms", l->conf->name, ms);
}

static void
teardown_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	bool v5_failed = l->state == LINK_CONNECTING && !l->v311 && l->tcp_up;

	if (l->state == LINK_CONNECTED && mono_ms() - l->connected_ms >= STABLE_MS)
		l->backoff_ms = BACKOFF_MIN_MS;

	drop_client(l);
	bq_unhand(&l->queue);
	if (v5_failed) {
		/* Reached, but no MQTT 5 session: some servers (nats-server)
		 * speak only 3.1.1 and close the connection instead of saying
		 * so. Try 3.1.1 at once. */
		log_info("bridge %s: %s closed an MQTT 5 connection; trying 3.1.1", l->conf->name,
		         l->conf->address);
		l->v311 = true;
		l->backoff_ms = 0;
	}
	schedule_retry(l);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	start_attempt(arg);
}

/* A new client, set up from the link's config. NULL on failure (logged). */
static struct mosquitto *
new_client(struct link *l)
{
	const struct bridge_conf *c = l->conf;
	struct mosquitto *m = mosquitto_new(c->client_id, true, l);
	int rc = MOSQ_ERR_SUCCESS;

	if (m == NULL) {
		log_warn("bridge %s: cannot make an MQTT client", c->name);
		return NULL;
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION,
	                     l->v311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
	mosquitto_max_inflight_messages_set(m, WINDOW);
	if (c->username != NULL)
		rc = mosquitto_username_pw_set(m, c->username, c->password);
	if (rc == MOSQ_ERR_SUCCESS && c->tls_ca != NULL)
		rc = mosquitto_tls_set(m, c->tls_ca, NULL, c->tls_cert, c->tls_key, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_warnx("bridge %s: %s", c->name, mosquitto_strerror(rc));
		mosquitto_destroy(m);
		return NULL;
	}
	mosquitto_connect_v5_callback_set(m, on_connect);
	mosquitto_disconnect_v5_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	mosquitto_message_v5_callback_set(m, on_message);
	/* libmosquitto formats a line for every packet once it has a log
	 * callback: only at debug level. */
	if (l->owner->b->cfg.log_level == LOG_LEVEL_DEBUG)
		mosquitto_log_callback_set(m, on_log);
	return m;
}

/* Starts one attempt to connect. */
static void
start_attempt(struct link *l)
{
	struct event_base *base = l->owner->base;
	int rc, fd;

	l->tcp_up = false;
	l->attempt_ms = mono_ms();
	set_state(l, LINK_CONNECTING);
	if ((l->mosq = new_client(l)) == NULL) {
		schedule_retry(l);
		return;
	}
	rc =
	    mosquitto_connect_async(l->mosq, l->conf->host, l->conf->port, (int)l->conf->keepalive);
	if (rc != MOSQ_ERR_SUCCESS || (fd = mosquitto_socket(l->mosq)) < 0) {
		log_debug("bridge %s: cannot connect to %s: %s", l->conf->name, l->conf->address,
		          rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		drop_client(l);
		schedule_retry(l);
		return;
	}
	l->rd = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, l);
	l->wr = event_new(base, fd, EV_WRITE, write_cb, l);
	if (l->rd == NULL || l->wr == NULL || event_add(l->rd, NULL) < 0) {
		log_warnx("bridge %s: out of memory", l->conf->name);
		drop_client(l);
		schedule_retry(l);
		return;
	}
	/* A connect in progress completes when the socket is writable. */
	event_add(l->wr, NULL);
}

/* ---- STATS and $SYS ---- */

static void
gauges(void *owner, broker_gauge_cb *cb, void *arg)
{
	struct bridges *br = owner;
	char key[96], sys[96], value[32];

	for (size_t i = 0; i < br->n; i++) {
		struct link *l = &br->links[i];
		const char *name = l->conf->name;
		const struct {
			const char *key, *sys;
			uint64_t v;
		} nums[] = {
			{ "queued_bytes", "queued_bytes", l->queue.bytes },
			{ "messages_out", "messages/out", l->msgs_out },
			{ "messages_in", "messages/in", l->msgs_in },
			{ "dropped", "dropped", l->queue.dropped + l->in_dropped },
			{ "reconnects", "reconnects", l->reconnects },
		};

		snprintf(key, sizeof key, "bridge.%s.state", name);
		snprintf(sys, sizeof sys, "bridge/%s/state", name);
		cb(key, sys, state_names[l->state], arg);
		for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
			snprintf(key, sizeof key, "bridge.%s.%s", name, nums[k].key);
			snprintf(sys, sizeof sys, "bridge/%s/%s", name, nums[k].sys);
			snprintf(value, sizeof value, "%llu", (unsigned long long)nums[k].v);
			cb(key, sys, value, arg);
		}
	}
}

/* ---- start and stop ---- */

/* Sets up link l for conf c: its events, queue and subscriptions. */
static int
link_init(struct bridges *br, struct link *l, const struct bridge_conf *c, char *err, size_t errlen)
{
	struct event_base *base = br->base;

	l->owner = br;
	l->conf = c;
	l->sub.ops = &link_ops;
	l->sub.meta = true; /* its via= says where a message came from */
	l->backoff_ms = BACKOFF_MIN_MS;
	l->state = LINK_DOWN;
	bq_init(&l->queue, c->queue_limit);
	l->prefix_len = c->remote_prefix != NULL ? strlen(c->remote_prefix) : 0;
	l->in_topic = malloc(IN_TOPIC_SIZE);
	l->misc = event_new(base, -1, EV_PERSIST, misc_cb, l);
	l->retry = evtimer_new(base, retry_cb, l);
	l->pump = event_new(base, -1, 0, pump_cb, l);
	l->teardown = event_new(base, -1, 0, teardown_cb, l);
	if (l->in_topic == NULL || l->misc == NULL || l->retry == NULL || l->pump == NULL ||
	    l->teardown == NULL || bridge_echo_init(&l->echo, ECHO_WINDOW) < 0) {
		snprintf(err, errlen, "bridge %s: out of memory", c->name);
		return -1;
	}
	for (size_t i = 0; i < c->nout; i++) {
		if (broker_subscribe(br->b, &l->sub, c->out[i], strlen(c->out[i])) < 0) {
			snprintf(err, errlen, "bridge %s: out of memory", c->name);
			return -1;
		}
	}
	return 0;
}

/* Frees what link_init made, after the link is disconnected. */
static void
link_free(struct bridges *br, struct link *l)
{
	if (l->conf == NULL)
		return;
	if (l->mosq != NULL && l->state == LINK_CONNECTED)
		mosquitto_disconnect(l->mosq);
	drop_client(l);
	if (l->queue.count > 0)
		log_info("bridge %s: %zu messages (%zu bytes) were never taken by %s",
		         l->conf->name, l->queue.count, l->queue.bytes, l->conf->address);
	broker_unsubscribe_all(br->b, &l->sub);
	bq_clear(&l->queue);
	bridge_echo_free(&l->echo);
	free(l->in_topic);
	if (l->misc != NULL)
		event_free(l->misc);
	if (l->retry != NULL)
		event_free(l->retry);
	if (l->pump != NULL)
		event_free(l->pump);
	if (l->teardown != NULL)
		event_free(l->teardown);
	notice_free(l->notices);
}

int
bridges_start(struct broker *b, struct event_base *base, struct bridges **out, char *err,
              size_t errlen)
{
	const struct bridge_confs *bc = &b->cfg.bridges;
	struct timeval second = { 1, 0 };
	struct bridges *br;

	*out = NULL;
	if (bc->count == 0)
		return 0;
	if ((br = calloc(1, sizeof *br)) == NULL ||
	    (br->links = calloc(bc->count, sizeof *br->links)) == NULL) {
		free(br);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	br->b = b;
	br->base = base;
	br->n = bc->count;
	mosquitto_lib_init();
	for (size_t i = 0; i < bc->count; i++) {
		if (link_init(br, &br->links[i], &bc->v[i], err, errlen) < 0) {
			bridges_stop(br);
			return -1;
		}
	}
	broker_set_gauges(b, gauges, br);
	for (size_t i = 0; i < br->n; i++) {
		event_add(br->links[i].misc, &second);
		start_attempt(&br->links[i]);
	}
	broker_publish_sys(b);
	*out = br;
	return 0;
}

void
bridges_stop(struct bridges *br)
{
	if (br == NULL)
		return;
	broker_set_gauges(br->b, NULL, NULL);
	for (size_t i = 0; i < br->n; i++)
		link_free(br, &br->links[i]);
	free(br->links);
	free(br);
	mosquitto_lib_cleanup();
}
