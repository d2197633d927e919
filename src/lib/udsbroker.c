/* The public calls of libudsbroker; see include/udsbroker.h. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildconf.h"
#include "escape.h"
#include "monoclock.h"
#include "proto.h"
#include "topic.h"

struct udsb *
udsb_new(void)
{
	struct udsb *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->fd = -1;
	c->timeout_ms = -1;
	c->max_line = UDSB_MAX_LINE_DEFAULT;
	c->wtry_at = WBUF_CHUNK;
	return c;
}

void
udsb_free(struct udsb *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->pend);
	free(c->stats_line);
	free(c->stats);
	free(c->reply_topic);
	held_free(&c->held);
	evq_free(&c->evq);
	free(c);
}

enum udsb_status
udsb_set_timeout(struct udsb *c, int timeout_ms)
{
	if (c == NULL)
		return UDSB_EINVAL;
	if (timeout_ms < -1)
		return lib_fail(c, UDSB_EINVAL, "invalid timeout %d ms", timeout_ms);
	c->timeout_ms = timeout_ms;
	return UDSB_OK;
}

enum udsb_status
udsb_set_max_line(struct udsb *c, size_t max_line)
{
	if (c == NULL)
		return UDSB_EINVAL;
	if (c->fd >= 0)
		return lib_fail(c, UDSB_EINVAL, "max_line must be set before connecting");
	if (max_line < 64 || max_line > SIZE_MAX / 4)
		return lib_fail(c, UDSB_EINVAL, "invalid max_line %zu (at least 64)", max_line);
	c->max_line = max_line;
	return UDSB_OK;
}

/* Reports a socket path that cannot be used. */
static int
fail_path(struct udsb *c, const char *path, int err)
{
	char esc[256];

	if (path == NULL)
		path = getenv(SOCKPATH_ENV);
	if (err == ENAMETOOLONG && path != NULL && path[0] != '\0')
		return lib_fail(c, UDSB_EPATH,
		                "socket path %s is %zu bytes long, more than the %zu a Unix "
		                "socket address holds",
		                escape_text(esc, sizeof esc, path, strlen(path)), strlen(path),
		                (size_t)SOCKPATH_MAX);
	return lib_fail_errno(c, UDSB_EPATH, err, "cannot build the default socket path");
}

/* Dials c->path (already chosen) and makes the socket c->fd. With
 * nowait, a broker whose listen backlog is full is a failure (EAGAIN)
 * rather than a wait, so that a reconnect attempt never blocks. Returns
 * UDSB_OK, or UDSB_ECONNECT with the message recorded. */
int
lib_dial(struct udsb *c, bool nowait)
{
	struct sockaddr_un sun;
	socklen_t sun_len;
	int fd, err;

	if (sockpath_addr(c->path, &sun, &sun_len) < 0)
		return lib_fail_errno(c, UDSB_ECONNECT, errno, "cannot connect to %s", c->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nowait ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return lib_fail_errno(c, UDSB_ECONNECT, errno, "cannot connect to %s", c->path);
	/* Connect blocking (a local connect waits only for a full backlog),
	 * then switch to non-blocking for everything else. An interrupted
	 * connect on a Unix socket has not started: try again. A non-blocking
	 * one completes at once or fails (EAGAIN: backlog full). */
	while (connect(fd, (struct sockaddr *)&sun, sun_len) < 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(fd);
		if (err == ENOENT || err == ECONNREFUSED) {
			lib_fail_errno(c, UDSB_ECONNECT, err, "cannot connect to %s", c->path);
			strncat(c->errmsg, " (is udsbrokerd running?)",
			        sizeof c->errmsg - strlen(c->errmsg) - 1);
			return UDSB_ECONNECT;
		}
		lib_fail_errno(c, UDSB_ECONNECT, err, "cannot connect to %s", c->path);
		if (err == EACCES) {
			char hint[256];

			if (sockpath_access_hint(c->path, hint, sizeof hint)[0] != '\0')
				snprintf(c->errmsg + strlen(c->errmsg),
				         sizeof c->errmsg - strlen(c->errmsg), " (%s)", hint);
		}
		return UDSB_ECONNECT;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		err = errno;
		close(fd);
		return lib_fail_errno(c, UDSB_ECONNECT, err, "cannot connect to %s", c->path);
	}
	c->fd = fd;
	return UDSB_OK;
}

enum udsb_status
udsb_connect(struct udsb *c, const char *path)
{
	struct sockaddr_un sun;
	socklen_t sun_len;
	int err, rc;

	if (c == NULL)
		return UDSB_EINVAL;
	if (c->fd >= 0 || c->rc.established)
		return lib_fail(c, UDSB_EINVAL, "already connected to %s", c->path);
	c->path[0] = '\0';
	if (sockpath_client(path, c->path, sizeof c->path) < 0 ||
	    sockpath_addr(c->path, &sun, &sun_len) < 0) {
		err = errno;
		c->path[0] = '\0';
		return fail_path(c, path, err);
	}
	if (c->rbuf == NULL && lib_alloc_rbuf(c) < 0)
		return lib_fail(c, UDSB_ENOMEM, "out of memory connecting to %s", c->path);
	rc = lib_dial(c, false);
	if (rc == UDSB_OK)
		c->rc.established = true;
	return rc;
}

const char *
udsb_path(const struct udsb *c)
{
	return c != NULL ? c->path : "";
}

int
udsb_fd(const struct udsb *c)
{
	return c != NULL ? c->fd : -1;
}

short
udsb_events(const struct udsb *c)
{
	short ev = 0;

	if (c == NULL || c->fd < 0 || c->lost)
		return 0;
	if (evq_bytes(&c->evq) < EVQ_LIMIT)
		ev |= POLLIN;
	if (lib_wpending(c) > 0)
		ev |= POLLOUT;
	return ev;
}

/* Common check of calls that need a live connection; first in each, so
 * that a NULL connection is UDSB_EINVAL before anything looks at it. A
 * lost connection is reconnected here when an attempt is due (and
 * reconnect is on); still down, the call fails with UDSB_EDOWN. */
static int
check_live(struct udsb *c)
{
	if (c == NULL)
		return UDSB_EINVAL;
	if (c->lost && rc_step(c) != UDSB_OK)
		return lib_fail_lost(c);
	if (c->fd < 0)
		return lib_fail(c, UDSB_ENOTCONN, "not connected to a broker");
	return UDSB_OK;
}

enum udsb_status
udsb_process(struct udsb *c)
{
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (lib_pump(c, EVQ_LIMIT) != UDSB_OK)
		return lib_fail_lost(c);
	return UDSB_OK;
}

enum udsb_status
udsb_flush(struct udsb *c)
{
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	return lib_flush_below(c, 0);
}

/* Checks a topic and payload for a line "<word> <topic>[ <payload>]".
 * what names the call in messages. Returns UDSB_OK with the topic's length
 * in *topic_len and the line's in *line_len, or the failure (nothing
 * sent). */
static int
check_topic_payload(struct udsb *c, const char *what, size_t word_len, const char *topic,
                    const void *payload, size_t len, size_t *topic_len, size_t *line_len)
{
	enum topic_error te;
	size_t tlen;
	char esc[96];

	if (topic == NULL || (payload == NULL && len > 0))
		return lib_fail(c, UDSB_EINVAL, "%s: NULL topic or payload", what);
	*topic_len = tlen = strlen(topic);
	te = topic_check(topic, tlen, c->max_line);
	if (te != TOPIC_OK)
		return lib_fail(c, UDSB_ETOPIC, "cannot %s to \"%s\" at %s: invalid topic: %s",
		                what, escape_text(esc, sizeof esc, topic, tlen), c->path,
		                topic_strerror(te));
	if (len > 0 && memchr(payload, '\n', len) != NULL)
		return lib_fail(c, UDSB_EINVAL, "cannot %s to %s: the payload holds a newline",
		                what, escape_text(esc, sizeof esc, topic, tlen));
	*line_len = proto_cmd_len(word_len, tlen, len);
	if (len > c->max_line || *line_len > c->max_line)
		return lib_fail(c, UDSB_EINVAL,
		                "cannot %s to %s: a line of %zu bytes exceeds max_line %zu", what,
		                escape_text(esc, sizeof esc, topic, tlen), *line_len, c->max_line);
	return UDSB_OK;
}

/* PUB or RETAIN: pipelined, no reply unless it fails. */
static int
publish_line(struct udsb *c, const char *word, const char *what, const char *topic,
             const void *payload, size_t len)
{
	size_t tlen, line_len;
	char *p;
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	rc = check_topic_payload(c, what, strlen(word), topic, payload, len, &tlen, &line_len);
	if (rc != UDSB_OK)
		return rc;
	if (lib_wpending(c) >= WBUF_LIMIT) {
		rc = lib_flush_below(c, WBUF_LIMIT - 1);
		if (rc != UDSB_OK)
			return rc;
	}
	p = lib_wspace(c, line_len);
	if (p == NULL)
		return lib_fail(c, UDSB_ENOMEM, "out of memory publishing to %s", c->path);
	c->wend += proto_format_cmd(p, word, topic, tlen, payload, len);
	c->pubs_unsynced = true;
	if (lib_wpending(c) >= c->wtry_at && lib_write_some(c) != UDSB_OK)
		return lib_fail_lost(c);
	return UDSB_OK;
}

enum udsb_status
udsb_publish(struct udsb *c, const char *topic, const void *payload, size_t len)
{
	return publish_line(c, "PUB", "publish", topic, payload, len);
}

enum udsb_status
udsb_retain(struct udsb *c, const char *topic, const void *payload, size_t len)
{
	return publish_line(c, "RETAIN", "retain", topic, payload, len);
}

/* SUB or UNSUB: checks the filter, sends, waits for OK or ERR. */
static int
filter_request(struct udsb *c, enum pending kind, const char *word, const char *filter)
{
	enum topic_error te;
	size_t flen, line_len;
	uint64_t seq;
	char esc[96];
	char *line;
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (filter == NULL)
		return lib_fail(c, UDSB_EINVAL, "%s: NULL filter", word);
	flen = strlen(filter);
	te = topic_check_filter(filter, flen, c->max_line);
	if (te != TOPIC_OK)
		return lib_fail(c, UDSB_ETOPIC, "cannot %s \"%s\" at %s: invalid filter: %s",
		                kind == PEND_SUB ? "subscribe to" : "unsubscribe from",
		                escape_text(esc, sizeof esc, filter, flen), c->path,
		                topic_strerror(te));
	line_len = proto_cmd_len(strlen(word), flen, 0);
	if (line_len > c->max_line)
		return lib_fail(c, UDSB_EINVAL, "%s: the filter is longer than max_line %zu", word,
		                c->max_line);
	line = malloc(line_len);
	if (line == NULL)
		return lib_fail(c, UDSB_ENOMEM, "out of memory");
	proto_format_cmd(line, word, filter, flen, NULL, 0);
	rc = lib_request(c, kind, line, line_len, &seq);
	free(line);
	if (rc != UDSB_OK)
		return lib_fail(c, rc, "out of memory");
	rc = lib_wait_reply(c, seq);
	if (rc == UDSB_EBROKER)
		return lib_fail(c, rc, "the broker at %s refused %s %s: %s %s", c->path, word,
		                escape_text(esc, sizeof esc, filter, flen), c->broker_code,
		                c->broker_text);
	if (rc == UDSB_OK && kind == PEND_SUB && held_add_filter(&c->held, filter) < 0)
		return lib_fail(c, UDSB_ENOMEM,
		                "subscribed to %s, but out of memory remembering it for reconnects",
		                escape_text(esc, sizeof esc, filter, flen));
	if (rc == UDSB_OK && kind == PEND_UNSUB)
		held_remove_filter(&c->held, filter);
	return rc;
}

enum udsb_status
udsb_subscribe(struct udsb *c, const char *filter)
{
	return filter_request(c, PEND_SUB, "SUB", filter);
}

enum udsb_status
udsb_unsubscribe(struct udsb *c, const char *filter)
{
	return filter_request(c, PEND_UNSUB, "UNSUB", filter);
}

enum udsb_status
udsb_ping(struct udsb *c, long *rtt_us)
{
	int64_t t0;
	char line[PING_TEXT_MAX + 8];
	uint64_t seq;
	int n, rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	n = snprintf(line, sizeof line, "PING %llu\n", (unsigned long long)c->sent_seq + 1);
	t0 = mono_ns();
	rc = lib_request(c, PEND_PING, line, (size_t)n, &seq);
	if (rc != UDSB_OK)
		return lib_fail(c, rc, "out of memory");
	rc = lib_wait_reply(c, seq);
	if (rc == UDSB_OK && rtt_us != NULL)
		*rtt_us = (long)((mono_ns() - t0) / 1000);
	return rc;
}

enum udsb_status
udsb_stats(struct udsb *c, const struct udsb_stat **items, size_t *count)
{
	uint64_t seq;
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (items == NULL || count == NULL)
		return lib_fail(c, UDSB_EINVAL, "stats: NULL argument");
	rc = lib_request(c, PEND_STATS, "STATS\n", 6, &seq);
	if (rc != UDSB_OK)
		return lib_fail(c, rc, "out of memory");
	rc = lib_wait_reply(c, seq);
	if (rc != UDSB_OK)
		return rc;
	*items = c->stats;
	*count = c->nstats;
	return UDSB_OK;
}

enum udsb_status
udsb_recv(struct udsb *c, struct udsb_event *ev, int timeout_ms)
{
	int64_t deadline = lib_deadline(timeout_ms);

	if (c == NULL)
		return UDSB_EINVAL;
	if (ev == NULL)
		return lib_fail(c, UDSB_EINVAL, "recv: NULL event");
	if (c->fd < 0 && !c->lost)
		return lib_fail(c, UDSB_ENOTCONN, "not connected to a broker");
	for (;;) {
		short want;

		if (evq_pop(&c->evq, ev))
			return UDSB_OK;
		if (c->lost && !rc_enabled(c))
			return lib_fail_lost(c);
		if (c->lost && rc_step(c) != UDSB_OK) {
			/* Down: wait for the next attempt, within the timeout. */
			if (rc_wait(c, deadline) == UDSB_ETIMEDOUT) {
				return lib_fail(c, UDSB_ETIMEDOUT,
				                "nothing within %d ms: the connection to %s is "
				                "down, reconnecting",
				                timeout_ms, c->path);
			}
			continue;
		}
		lib_pump(c, EVQ_LIMIT);
		if (evq_bytes(&c->evq) > 0 || c->lost)
			continue;
		want = POLLIN | (lib_wpending(c) ? POLLOUT : 0);
		if (lib_wait_fd(c, want, deadline) == UDSB_ETIMEDOUT)
			return lib_fail(c, UDSB_ETIMEDOUT,
			                "nothing from the broker at %s within %d ms", c->path,
			                timeout_ms);
	}
}

const char *
udsb_version(void)
{
	return UDSB_VERSION;
}

/* Sends one request line that expects OK and waits for its answer.
 * what names the call in a refusal's message. */
static int
ok_request(struct udsb *c, enum pending kind, const char *line, size_t len, const char *what)
{
	uint64_t seq;
	int rc = lib_request(c, kind, line, len, &seq);

	if (rc != UDSB_OK)
		return lib_fail(c, rc, "out of memory");
	rc = lib_wait_reply(c, seq);
	if (rc == UDSB_EBROKER)
		return lib_fail(c, rc, "the broker at %s refused %s: %s %s", c->path, what,
		                c->broker_code, c->broker_text);
	return rc;
}

enum udsb_status
udsb_will(struct udsb *c, int retain, const char *topic, const void *payload, size_t len)
{
	const char *word = retain ? "WILL RETAIN" : "WILL PUB";
	size_t tlen, line_len;
	char *line;
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (topic == NULL) {
		rc = ok_request(c, PEND_WILL, "WILL\n", 5, "to clear the will");
		if (rc == UDSB_OK)
			held_set_will(&c->held, NULL, 0);
		return rc;
	}
	rc = check_topic_payload(c, "set a will", strlen(word), topic, payload, len, &tlen,
	                         &line_len);
	if (rc != UDSB_OK)
		return rc;
	if ((line = malloc(line_len)) == NULL)
		return lib_fail(c, UDSB_ENOMEM, "out of memory");
	proto_format_cmd(line, word, topic, tlen, payload, len);
	rc = ok_request(c, PEND_WILL, line, line_len, word);
	if (rc == UDSB_OK && held_set_will(&c->held, line, line_len) < 0)
		rc = lib_fail(c, UDSB_ENOMEM,
		              "the will is set, but out of memory remembering it for reconnects");
	free(line);
	return rc;
}

enum udsb_status
udsb_set_meta(struct udsb *c, int on)
{
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (on)
		rc = ok_request(c, PEND_META_ON, "OPT meta on\n", 12, "OPT meta on");
	else
		rc = ok_request(c, PEND_META_OFF, "OPT meta off\n", 13, "OPT meta off");
	if (rc == UDSB_OK)
		c->held.meta = on != 0;
	return rc;
}

enum udsb_status
udsb_request(struct udsb *c, const char *topic, const void *payload, size_t len,
             const char **reply_topic)
{
	size_t tlen, line_len;
	char *line;
	int rc = check_live(c);

	if (rc != UDSB_OK)
		return rc;
	if (reply_topic == NULL)
		return lib_fail(c, UDSB_EINVAL, "request: NULL reply_topic");
	rc = check_topic_payload(c, "send a request", 3, topic, payload, len, &tlen, &line_len);
	if (rc != UDSB_OK)
		return rc;
	if ((line = malloc(line_len)) == NULL)
		return lib_fail(c, UDSB_ENOMEM, "out of memory");
	proto_format_cmd(line, "REQ", topic, tlen, payload, len);
	rc = ok_request(c, PEND_REQ, line, line_len, "REQ");
	free(line);
	if (rc == UDSB_EBROKER && strcmp(c->broker_code, PROTO_ERR_NO_RESPONDERS) == 0) {
		char esc[96];

		return lib_fail(c, UDSB_ENORESPONDERS,
		                "no subscriber at %s matched the request to %s", c->path,
		                escape_text(esc, sizeof esc, topic, tlen));
	}
	if (rc == UDSB_OK)
		*reply_topic = c->reply_topic;
	return rc;
}

enum udsb_status
udsb_close(struct udsb *c)
{
	int64_t deadline;

	if (c == NULL)
		return UDSB_EINVAL;
	if (c->fd < 0 && !c->lost)
		return lib_fail(c, UDSB_ENOTCONN, "not connected to a broker");
	c->rc.closing = true; /* whatever happens now, no reconnect */
	if (c->lost)
		return c->lost == UDSB_ECLOSED ? UDSB_OK : lib_fail_lost(c);
	if (lib_wspace(c, 5) == NULL)
		return lib_fail(c, UDSB_ENOMEM, "out of memory");
	memcpy(c->wbuf + c->wend, "QUIT\n", 5);
	c->wend += 5;
	/* The broker sends what it still owes, then closes: read to the end. */
	deadline = lib_deadline(c->timeout_ms);
	while (!c->lost) {
		lib_pump(c, SIZE_MAX);
		if (c->lost)
			break;
		if (lib_wait_fd(c, POLLIN | (lib_wpending(c) ? POLLOUT : 0), deadline) ==
		    UDSB_ETIMEDOUT) {
			lib_lose(c, UDSB_ECLOSED, 0,
			         "closed by udsb_close() before the broker did");
			return lib_fail(
			    c, UDSB_ETIMEDOUT,
			    "the broker at %s did not close the connection within %d ms", c->path,
			    c->timeout_ms);
		}
	}
	if (c->lost != UDSB_ECLOSED)
		return lib_fail_lost(c);
	snprintf(c->lost_msg, sizeof c->lost_msg, "connection to %.250s closed by udsb_close()",
	         c->path);
	return UDSB_OK;
}
