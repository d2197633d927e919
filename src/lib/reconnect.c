/*
 * Automatic reconnect (udsb_set_reconnect()). When an established
 * connection is lost, the next call that can reconnect (rc_step(): from
 * udsb_recv(), udsb_process() and every call that sends) closes the old
 * socket and dials the same path again, at once and then with a back-off
 * doubling from min_ms to max_ms. Once connected it sends what the
 * connection held (held.c: OPT meta on, the WILL, every SUB) and a PING;
 * that PING's PONG proves all of it was processed, and only then is
 * UDSB_EV_RECONNECTED queued, so a message published after the event
 * reaches the old subscriptions. A refusal of one of them (a changed
 * config) comes as UDSB_EV_ERROR before it. Nothing here waits: waiting
 * for the back-off is udsb_recv()'s, within its timeout.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monoclock.h"
#include "proto.h"

bool
rc_enabled(const struct udsb *c)
{
	return c->rc.min_ms > 0 && c->rc.established && !c->rc.closing;
}

/* Schedules the next attempt after the current back-off step, and doubles
 * the step up to max_ms. */
static void
back_off(struct reconnect *rc)
{
	rc->next_ms = mono_ms() + rc->delay_ms;
	rc->delay_ms = rc->delay_ms > rc->max_ms / 2 ? rc->max_ms : rc->delay_ms * 2;
}

/* Closes the lost socket and forgets everything that belonged to it: the
 * unparsed input, the replies it still owed (no call waits for them any
 * more: they returned UDSB_EDOWN), the meta framing. Schedules the first
 * attempt: at once after a connection that was fully restored, else (it
 * was lost again while restoring) after the next back-off step. */
static void
go_down(struct udsb *c)
{
	struct reconnect *rc = &c->rc;

	/* The event tells why the connection that was up ended, not why a
	 * later attempt failed while restoring. */
	if (!rc->restoring) {
		size_t n = (size_t)snprintf(rc->why, sizeof rc->why, "%.300s", c->lost_msg);

		if (c->lost_unsent > 0 && n < sizeof rc->why)
			snprintf(rc->why + n, sizeof rc->why - n,
			         "; %zu buffered line%s never sent (udsb_ping() is the proof of "
			         "delivery)",
			         c->lost_unsent, c->lost_unsent == 1 ? " was" : "s were");
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rstart = c->rend = 0;
	memset(&c->scan, 0, sizeof c->scan);
	c->skipped = 0;
	c->skip_reply = false;
	c->wstart = c->wend = 0;
	c->wtry_at = WBUF_CHUNK;
	c->pend_count = c->pend_head = 0;
	c->done_seq = c->sent_seq;
	c->wait_seq = 0;
	c->pubs_unsynced = false;
	c->meta_wire = false;
	c->bye_reason[0] = '\0';
	if (rc->restoring) {
		back_off(rc);
	} else {
		rc->delay_ms = rc->min_ms;
		rc->next_ms = mono_ms();
		rc->attempts = 0;
	}
	rc->restoring = false;
	rc->down = true;
	rc->last[0] = '\0';
}

/* Buffers "<word> <arg>\n" as a request of kind. Returns UDSB_OK or
 * UDSB_ENOMEM. */
static int
request_arg(struct udsb *c, enum pending kind, const char *word, const char *arg)
{
	size_t alen = strlen(arg), len = proto_cmd_len(strlen(word), alen, 0);
	char *line = malloc(len);
	uint64_t seq;
	int rc;

	if (line == NULL)
		return UDSB_ENOMEM;
	proto_format_cmd(line, word, arg, alen, NULL, 0);
	rc = lib_request(c, kind, line, len, &seq);
	free(line);
	return rc;
}

/* Sends what the connection held, then the PING whose PONG ends the
 * restore (rc_restored()). */
static void
restore(struct udsb *c)
{
	const struct held *h = &c->held;
	uint64_t seq;
	int rc = UDSB_OK;

	if (h->meta)
		rc = lib_request(c, PEND_META_ON, "OPT meta on\n", 12, &seq);
	if (rc == UDSB_OK && h->will_line != NULL)
		rc = lib_request(c, PEND_WILL, h->will_line, h->will_len, &seq);
	for (size_t i = 0; rc == UDSB_OK && i < h->nfilters; i++)
		rc = request_arg(c, PEND_SUB, "SUB", h->filters[i]);
	if (rc == UDSB_OK)
		rc = lib_request(c, PEND_RESTORE, "PING\n", 5, &seq);
	if (rc != UDSB_OK) {
		lib_lose(c, UDSB_EIO, ENOMEM, "restoring the subscriptions");
		return;
	}
	lib_write_some(c);
}

/* One connection attempt. A failure is remembered for the messages, not
 * reported as the current call's error. */
static void
attempt(struct udsb *c)
{
	struct reconnect *rc = &c->rc;
	int err = c->err, err_errno = c->err_errno;
	char errmsg[sizeof c->errmsg];

	rc->attempts++;
	memcpy(errmsg, c->errmsg, sizeof errmsg);
	if (lib_dial(c, true) != UDSB_OK) {
		snprintf(rc->last, sizeof rc->last, "%.390s", c->errmsg);
		memcpy(c->errmsg, errmsg, sizeof errmsg);
		c->err = err;
		c->err_errno = err_errno;
		back_off(rc);
		return;
	}
	c->lost = 0;
	c->lost_msg[0] = '\0';
	c->lost_unsent = 0;
	rc->down = false;
	rc->restoring = true;
	restore(c);
}

/* Called by every call that can reconnect, when the connection is lost:
 * goes down and makes an attempt when one is due. Returns UDSB_OK when the
 * connection is up (again), UDSB_EDOWN while it is down, or the final
 * lost code when reconnect is off. */
int
rc_step(struct udsb *c)
{
	if (!c->lost)
		return UDSB_OK;
	if (!rc_enabled(c))
		return c->lost;
	if (!c->rc.down)
		go_down(c);
	if (mono_ms() >= c->rc.next_ms)
		attempt(c);
	return c->lost ? UDSB_EDOWN : UDSB_OK;
}

/* Reports to the current call that the connection is down. */
int
rc_fail_down(struct udsb *c)
{
	const struct reconnect *rc = &c->rc;

	return lib_fail(c, UDSB_EDOWN, "%.250s; reconnecting, nothing was sent%s%.200s%s",
	                rc->down ? rc->why : c->lost_msg, rc->last[0] ? " (last attempt: " : "",
	                rc->last, rc->last[0] ? ")" : "");
}

/* The PONG of the restore came: the connection is back as it was. */
void
rc_restored(struct udsb *c)
{
	struct evq_item it = {
		.type = UDSB_EV_RECONNECTED,
		.a = c->rc.why,
		.a_len = strlen(c->rc.why),
		.count = c->rc.attempts,
		.uid = -1,
		.gid = -1,
		.pid = -1,
	};

	c->rc.restoring = false;
	c->rc.delay_ms = c->rc.min_ms;
	lib_push_event(c, &it);
	c->rc.attempts = 0;
}

int
rc_next_timeout(const struct udsb *c)
{
	if (!c->lost || !rc_enabled(c))
		return -1;
	return c->rc.down ? lib_remaining_ms(c->rc.next_ms) : 0;
}

enum udsb_status
udsb_set_reconnect(struct udsb *c, int min_ms, int max_ms)
{
	if (c == NULL)
		return UDSB_EINVAL;
	if (min_ms < 0 || (min_ms > 0 && max_ms < min_ms))
		return lib_fail(c, UDSB_EINVAL, "invalid reconnect back-off %d..%d ms", min_ms,
		                max_ms);
	c->rc.min_ms = min_ms;
	c->rc.max_ms = max_ms;
	c->rc.delay_ms = min_ms;
	return UDSB_OK;
}

int
udsb_next_timeout(const struct udsb *c)
{
	return c != NULL ? rc_next_timeout(c) : -1;
}

/* Sleeps until the next attempt is due, or the deadline (-1: none) passes
 * first. Returns UDSB_ETIMEDOUT once the deadline has passed, else UDSB_OK. */
int
rc_wait(struct udsb *c, int64_t deadline)
{
	int64_t until = c->rc.next_ms;
	int ms;

	if (deadline >= 0 && deadline < until)
		until = deadline;
	/* A signal (EINTR) ends the sleep early: the caller's loop goes on. */
	if ((ms = lib_remaining_ms(until)) > 0)
		poll(NULL, 0, ms);
	return deadline >= 0 && mono_ms() >= deadline ? UDSB_ETIMEDOUT : UDSB_OK;
}
