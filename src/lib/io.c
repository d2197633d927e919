/*
 * Socket I/O of libudsbroker: the write buffer, the bounded line reader,
 * dispatch of broker lines to the waiting call or the event queue, and
 * waits with deadlines. The socket is non-blocking; only poll() waits.
 *
 * Matching replies to requests: replies come in the order of requests, and a
 * PUB or RETAIN has no reply unless it fails. An ERR is the answer of the
 * oldest pending request that can fail (PEND_CAN_FAIL: SUB, UNSUB, WILL,
 * OPT meta, REQ), else it belongs to an earlier PUB. So that "else" is never
 * ambiguous, such a request sent after PUBs is preceded by a PING of our
 * own (PEND_SYNC): every ERR before its PONG is a PUB's. PING and STATS
 * cannot fail (the library bounds their length), so they need no such PING.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "escape.h"
#include "linescan.h"
#include "monoclock.h"
#include "proto.h"
#include "topic.h"

/* The absolute deadline for a wait of timeout_ms; -1 for none. */
int64_t
lib_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
}

/* Milliseconds left until deadline for poll(): -1 forever, 0 once passed. */
int
lib_remaining_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - mono_ms();
	if (left <= 0)
		return 0;
	return left > 1000000000 ? 1000000000 : (int)left;
}

size_t
lib_wpending(const struct udsb *c)
{
	return c->wend - c->wstart;
}

/* Returns room for n more bytes at the end of the write buffer, or NULL when
 * out of memory. The caller fills it and adds n to wend. */
char *
lib_wspace(struct udsb *c, size_t n)
{
	size_t pending = lib_wpending(c);

	if (c->wcap - c->wend >= n)
		return c->wbuf + c->wend;
	if (c->wstart > 0) {
		memmove(c->wbuf, c->wbuf + c->wstart, pending);
		c->wstart = 0;
		c->wend = pending;
	}
	if (c->wcap - c->wend < n) {
		size_t cap = c->wcap ? c->wcap : WBUF_CHUNK * 2;
		char *nbuf;

		while (cap - pending < n) {
			if (cap > SIZE_MAX / 2)
				return NULL;
			cap *= 2;
		}
		nbuf = realloc(c->wbuf, cap);
		if (nbuf == NULL)
			return NULL;
		c->wbuf = nbuf;
		c->wcap = cap;
	}
	return c->wbuf + c->wend;
}

/* Appends len bytes to the write buffer. Returns UDSB_OK or UDSB_ENOMEM
 * (nothing appended). */
static int
append(struct udsb *c, const char *s, size_t len)
{
	char *p = lib_wspace(c, len);

	if (p == NULL)
		return UDSB_ENOMEM;
	memcpy(p, s, len);
	c->wend += len;
	return UDSB_OK;
}

/* Makes room in the ring of pending replies for n more. */
static int
pend_reserve(struct udsb *c, size_t n)
{
	size_t cap = c->pend_cap ? c->pend_cap : 16;
	unsigned char *ring;

	if (c->pend_count + n <= c->pend_cap)
		return 0;
	while (cap < c->pend_count + n)
		cap *= 2;
	ring = malloc(cap);
	if (ring == NULL)
		return -1;
	/* Unwrap the old ring into the new one, oldest first. */
	for (size_t i = 0; i < c->pend_count; i++)
		ring[i] = c->pend[(c->pend_head + i) % c->pend_cap];
	free(c->pend);
	c->pend = ring;
	c->pend_cap = cap;
	c->pend_head = 0;
	return 0;
}

/* Records that a reply of this kind is now expected. Room was reserved. */
static uint64_t
pend_push(struct udsb *c, enum pending kind)
{
	c->pend[(c->pend_head + c->pend_count) % c->pend_cap] = (unsigned char)kind;
	c->pend_count++;
	return ++c->sent_seq;
}

/* Buffers a request line (with its '\n') that expects a reply; *seq is the
 * number lib_wait_reply() waits for. See the comment at the top. */
int
lib_request(struct udsb *c, enum pending kind, const char *line, size_t len, uint64_t *seq)
{
	if (pend_reserve(c, 2) < 0)
		return UDSB_ENOMEM;
	if (PEND_CAN_FAIL(kind) && c->pubs_unsynced) {
		if (append(c, "PING\n", 5) != UDSB_OK)
			return UDSB_ENOMEM;
		pend_push(c, PEND_SYNC);
		c->pubs_unsynced = false;
	}
	if (append(c, line, len) != UDSB_OK)
		return UDSB_ENOMEM;
	*seq = pend_push(c, kind);
	return UDSB_OK;
}

/* Queues an event; running out of memory here loses the connection, since
 * the line cannot be kept and must not vanish silently. */
void
lib_push_event(struct udsb *c, const struct evq_item *it)
{
	if (evq_push_item(&c->evq, it) < 0)
		lib_lose(c, UDSB_EIO, ENOMEM, "queueing an event");
}

/* Queues an event of two strings and a count. */
static void
push_event(struct udsb *c, enum udsb_event_type type, const char *a, size_t a_len, const char *b,
           size_t b_len, unsigned long long count)
{
	if (evq_push(&c->evq, type, a, a_len, b, b_len, count) < 0)
		lib_lose(c, UDSB_EIO, ENOMEM, "queueing an event");
}

/* Queues a delivery (MSG or RMSG). With meta on, the field after the topic
 * is the meta: "<topic> <meta>[ <payload>]". */
static void
push_delivery(struct udsb *c, const struct proto_reply *r)
{
	struct evq_item it = {
		.type = UDSB_EV_MSG,
		.a = r->a,
		.a_len = r->a_len,
		.b = r->b,
		.b_len = r->b_len,
		.retained = r->kind == PROTO_R_RMSG,
		.uid = -1,
		.gid = -1,
		.pid = -1,
	};

	if (c->meta_wire) {
		const char *sp = memchr(r->b, ' ', r->b_len);
		struct proto_meta_fields m;

		size_t field = sp ? (size_t)(sp - r->b) : r->b_len;

		it.meta = r->b;
		it.b = sp ? sp + 1 : r->b + r->b_len;
		it.b_len = sp ? r->b_len - field - 1 : 0;
		/* A NUL (no broker sends one there) ends the meta as the
		 * event's string shows it, so the fields agree with ev->meta. */
		it.meta_len = strnlen(it.meta, field);
		proto_parse_meta(it.meta, it.meta_len, &m);
		it.uid = m.uid;
		it.gid = m.gid;
		it.pid = m.pid;
		it.via = m.via;
		it.via_len = m.via_len;
		it.reply = m.reply;
		it.reply_len = m.reply_len;
	}
	lib_push_event(c, &it);
}

/* Is s (len bytes) a reply topic as the broker makes them: "$reply/" and
 * a token, the whole a valid topic (topic_check())? */
static bool
is_reply_topic(const struct udsb *c, const char *s, size_t len)
{
	return len > 7 && memcmp(s, "$reply/", 7) == 0 &&
	       topic_check(s, len, c->max_line) == TOPIC_OK;
}

/* Copies s (len bytes) into *buf, a string of *cap bytes grown as needed,
 * and NUL-terminates it. Returns 0 or -1 when out of memory (*buf kept). */
static int
keep_string(char **buf, size_t *cap, const char *s, size_t len)
{
	if (*cap < len + 1) {
		char *t = realloc(*buf, len + 1);

		if (t == NULL)
			return -1;
		*buf = t;
		*cap = len + 1;
	}
	memcpy(*buf, s, len);
	(*buf)[len] = '\0';
	return 0;
}

/* Keeps the STATS line for the waiting udsb_stats() and splits it into
 * key/value items. Returns 0 or -1 when out of memory. */
static int
save_stats(struct udsb *c, const char *s, size_t len)
{
	size_t n = 1;
	char *p;

	if (keep_string(&c->stats_line, &c->stats_cap, s, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		n += s[i] == ' ';
	if (c->stats_items_cap < n) {
		struct udsb_stat *items = realloc(c->stats, n * sizeof *items);

		if (items == NULL)
			return -1;
		c->stats = items;
		c->stats_items_cap = n;
	}
	c->nstats = 0;
	for (p = c->stats_line; *p != '\0';) {
		char *end = strchr(p, ' ');
		char *eq;

		if (end != NULL)
			*end = '\0';
		if (*p != '\0') {
			eq = strchr(p, '=');
			if (eq != NULL)
				*eq = '\0';
			c->stats[c->nstats].key = p;
			c->stats[c->nstats].value = eq ? eq + 1 : "";
			c->nstats++;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* The reply to the oldest pending request came: hands its status to the
 * call waiting for it, or, when that call gave up (timeout), turns an ERR
 * into an event so it is not lost. */
static void
complete(struct udsb *c, int status, const struct proto_reply *r)
{
	uint64_t seq = ++c->done_seq;

	c->pend_head = (c->pend_head + 1) % c->pend_cap;
	c->pend_count--;
	if (seq == c->wait_seq) {
		c->wait_status = status;
		if (status == UDSB_EBROKER && r != NULL) {
			escape_text(c->broker_code, sizeof c->broker_code, r->a, r->a_len);
			escape_text(c->broker_text, sizeof c->broker_text, r->b, r->b_len);
		}
	} else if (status == UDSB_EBROKER && r != NULL) {
		push_event(c, UDSB_EV_ERROR, r->a, r->a_len, r->b, r->b_len, 0);
	} else if (status == UDSB_ETOOLONG) {
		/* The call gave up before: say the line was skipped all the same. */
		c->skip_reply = false;
	}
}

/* A reply that matches no request: the two sides no longer agree. */
static void
unexpected(struct udsb *c, const char *line, size_t len)
{
	char esc[80];

	lib_lose(c, UDSB_EPROTO, 0, "unexpected \"%s\" from the broker",
	         escape_text(esc, sizeof esc, line, len));
}

/* An OK came: it answers the oldest request if that one takes an OK. */
static void
dispatch_ok(struct udsb *c, int head, const struct proto_reply *r, const char *line, size_t len)
{
	switch (head) {
	case PEND_META_ON:
	case PEND_META_OFF:
		/* Deliveries after this OK are framed the new way. */
		c->meta_wire = head == PEND_META_ON;
		/* fall through */
	case PEND_SUB:
	case PEND_UNSUB:
	case PEND_WILL:
		complete(c, UDSB_OK, r);
		return;
	case PEND_REQ:
		if (!is_reply_topic(c, r->a, r->a_len)) {
			unexpected(c, line, len); /* an OK without a reply topic */
		} else if (c->done_seq + 1 == c->wait_seq &&
		           keep_string(&c->reply_topic, &c->reply_cap, r->a, r->a_len) < 0) {
			lib_lose(c, UDSB_EIO, ENOMEM, "keeping the reply topic");
		} else {
			complete(c, UDSB_OK, r);
		}
		return;
	default:
		unexpected(c, line, len);
	}
}

/* Handles one line from the broker (without its '\n'). */
static void
dispatch(struct udsb *c, const char *line, size_t len)
{
	struct proto_reply r;
	int head = c->pend_count ? c->pend[c->pend_head] : -1;

	if (len == 0)
		return;
	if (proto_parse_reply(line, len, &r) < 0) {
		push_event(c, UDSB_EV_UNKNOWN, line, len, NULL, 0, 0);
		return;
	}
	switch (r.kind) {
	case PROTO_R_MSG:
	case PROTO_R_RMSG:
		push_delivery(c, &r);
		break;
	case PROTO_R_DROPPED:
		push_event(c, UDSB_EV_DROPPED, NULL, 0, NULL, 0, r.count);
		break;
	case PROTO_R_BYE:
		escape_text(c->bye_reason, sizeof c->bye_reason, r.a, r.a_len);
		push_event(c, UDSB_EV_BYE, r.a, r.a_len, NULL, 0, 0);
		break;
	case PROTO_R_ERR:
		if (head >= 0 && PEND_CAN_FAIL(head))
			complete(c, UDSB_EBROKER, &r);
		else
			push_event(c, UDSB_EV_ERROR, r.a, r.a_len, r.b, r.b_len, 0);
		break;
	case PROTO_R_OK:
		dispatch_ok(c, head, &r, line, len);
		break;
	case PROTO_R_PONG:
		if (head == PEND_PING || head == PEND_SYNC) {
			complete(c, UDSB_OK, &r);
		} else if (head == PEND_RESTORE) {
			complete(c, UDSB_OK, &r);
			rc_restored(c);
		} else {
			unexpected(c, line, len);
		}
		break;
	case PROTO_R_STATS:
		if (head != PEND_STATS) {
			unexpected(c, line, len);
		} else if (c->done_seq + 1 == c->wait_seq && save_stats(c, r.a, r.a_len) < 0) {
			lib_lose(c, UDSB_EIO, ENOMEM, "keeping the STATS reply");
		} else {
			complete(c, UDSB_OK, &r);
		}
		break;
	}
}

/* Which request an over-long line answers, from its first word: -1 for a
 * line no request waits for (a delivery, a notice, an ERR for a PUB), so
 * only an event says it was skipped. A reply nobody asked for loses the
 * connection as a short one would. */
static int
overlong_reply(struct udsb *c, const char *p, size_t n)
{
	static const struct {
		const char *word;
		unsigned kinds; /* bits of the pending kinds it answers */
	} words[] = {
		{ "OK", PEND_CAN_FAIL_BITS },
		{ "ERR", PEND_CAN_FAIL_BITS },
		{ "PONG", 1u << PEND_PING | 1u << PEND_SYNC | 1u << PEND_RESTORE },
		{ "STATS", 1u << PEND_STATS },
	};
	int head = c->pend_count ? c->pend[c->pend_head] : -1;

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t wl = strlen(words[i].word);

		if (n <= wl || memcmp(p, words[i].word, wl) != 0 || (p[wl] != ' ' && p[wl] != '\n'))
			continue;
		if (head >= 0 && (words[i].kinds & (1u << head)) != 0)
			return head;
		if (strcmp(words[i].word, "ERR") == 0)
			return -1; /* the answer to an earlier PUB */
		unexpected(c, p, wl);
		return -1;
	}
	return -1;
}

/* An over-long line starts at p (n bytes of it here): a reply completes
 * its request with UDSB_ETOOLONG at once, without waiting for its end;
 * anything else is reported as an event once its end has come. */
static void
overlong(struct udsb *c, const char *p, size_t n)
{
	int head = overlong_reply(c, p, n);

	c->skipped = 0;
	c->skip_reply = head >= 0;
	if (c->skip_reply)
		complete(c, UDSB_ETOOLONG, NULL);
	if (head == PEND_RESTORE)
		rc_restored(c);
}

/* Splits the read buffer into lines and dispatches them. A line longer than
 * max_line is discarded as it streams in: an over-long reply fails its
 * call at once (overlong()), anything else is reported once as an event,
 * with its length, when its end comes. */
static void
split_lines(struct udsb *c)
{
	while (c->rstart < c->rend && !c->lost) {
		char *p = c->rbuf + c->rstart;
		size_t n;
		enum linescan_result r =
		    linescan_next(&c->scan, p, c->rend - c->rstart, c->max_line, &n);

		if (r == LINESCAN_NONE)
			break;
		c->rstart += n;
		if (r == LINESCAN_READY) {
			dispatch(c, p, n - 1);
			continue;
		}
		if (r == LINESCAN_TOO_LONG)
			overlong(c, p, n);
		c->skipped += n;
		if (!c->scan.skipping && !c->lost) {
			if (!c->skip_reply)
				push_event(c, UDSB_EV_OVERLONG, NULL, 0, NULL, 0, c->skipped);
			c->skipped = 0;
			c->skip_reply = false;
		}
	}
	if (c->rstart == c->rend) {
		c->rstart = c->rend = 0;
		c->scan.scanned = 0;
	}
}

/* Makes room at the end of the read buffer: what is left before rstart is
 * part of one line, shorter than max_line, moved to the front. */
static void
compact_rbuf(struct udsb *c)
{
	if (c->rcap - c->rend < RBUF_SLACK && c->rstart > 0) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
}

/* Takes len bytes as if read from the socket: the reading step alone, for
 * the fuzz target and tests. Returns 0, or -1 when out of memory. */
int
lib_input(struct udsb *c, const char *data, size_t len)
{
	if (c->rbuf == NULL && lib_alloc_rbuf(c) < 0)
		return -1;
	while (len > 0 && !c->lost) {
		size_t room, n;

		compact_rbuf(c);
		room = c->rcap - c->rend;
		n = len < room ? len : room;
		memcpy(c->rbuf + c->rend, data, n);
		c->rend += n;
		data += n;
		len -= n;
		split_lines(c);
	}
	return 0;
}

/* Allocates the read buffer: max_line and room for large reads. */
int
lib_alloc_rbuf(struct udsb *c)
{
	c->rcap = c->max_line + RBUF_SLACK;
	c->rbuf = malloc(c->rcap);
	return c->rbuf != NULL ? 0 : -1;
}

/* Loses the connection after the broker closed it (err 0: at EOF). */
static void
lose_closed(struct udsb *c, int err)
{
	if (c->bye_reason[0] != '\0')
		lib_lose(c, UDSB_ECLOSED, 0, "the broker closed the connection (BYE %s)",
		         c->bye_reason);
	else if (err == 0)
		lib_lose(c, UDSB_ECLOSED, 0, "the broker closed the connection");
	else
		lib_lose(c, UDSB_ECLOSED, err, "%s", "");
}

/* Loses the connection after a failed read or write. */
static void
lose_errno(struct udsb *c, int err)
{
	if (err == EPIPE || err == ECONNRESET)
		lose_closed(c, err);
	else
		lib_lose(c, UDSB_EIO, err, "%s", "");
}

/* Reads what the socket has without blocking and dispatches it. Stops at
 * EAGAIN, at a short read, once the call waiting for a reply has it, or
 * once limit bytes of events are queued. */
static void
read_some(struct udsb *c, size_t limit)
{
	while (!c->lost) {
		size_t room;
		ssize_t n;

		if (evq_bytes(&c->evq) >= limit)
			break;
		if (c->wait_seq != 0 && c->done_seq >= c->wait_seq)
			break;
		compact_rbuf(c);
		room = c->rcap - c->rend;
		n = read(c->fd, c->rbuf + c->rend, room);
		if (n > 0) {
			c->rend += (size_t)n;
			split_lines(c);
			if ((size_t)n < room)
				break;
		} else if (n == 0) {
			/* A partial line left at the end is never a whole reply. */
			c->rstart = c->rend = c->scan.scanned = 0;
			lose_closed(c, 0);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			lose_errno(c, errno);
		}
	}
}

/* Writes what the socket takes without blocking. Returns UDSB_OK or the
 * lost status. After a failed write, reads what the broker sent before it
 * went away (a BYE, an ERR) so it is not lost with the connection. */
int
lib_write_some(struct udsb *c)
{
	while (!c->lost && c->wend > c->wstart) {
		size_t len = c->wend - c->wstart;
		ssize_t n = send(c->fd, c->wbuf + c->wstart, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->wstart += (size_t)n;
			if ((size_t)n < len)
				break; /* full for now: save the call that says EAGAIN */
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else if (n < 0 && errno != EINTR) {
			int err = errno;

			read_some(c, SIZE_MAX);
			lose_errno(c, err);
		}
	}
	if (c->wstart == c->wend)
		c->wstart = c->wend = 0;
	c->wtry_at = lib_wpending(c) + WBUF_CHUNK;
	return c->lost;
}

/* One non-blocking round: write what can go, read what is there (while
 * fewer than read_limit bytes of events are queued). Returns UDSB_OK or
 * the lost status. */
int
lib_pump(struct udsb *c, size_t read_limit)
{
	if (!c->lost && lib_wpending(c) > 0)
		lib_write_some(c);
	if (!c->lost)
		read_some(c, read_limit);
	return c->lost;
}

/* Waits until the socket is ready for events or the deadline passes.
 * Returns UDSB_OK, UDSB_ETIMEDOUT (nothing recorded), or the lost status. */
int
lib_wait_fd(struct udsb *c, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = events };
		int n = poll(&pfd, 1, lib_remaining_ms(deadline));

		if (n > 0)
			return UDSB_OK;
		if (n == 0)
			return UDSB_ETIMEDOUT;
		if (errno != EINTR) {
			lib_lose(c, UDSB_EIO, errno, "poll");
			return c->lost;
		}
	}
}

/* Waits for the reply numbered seq, at most the connection's timeout. Sends
 * what is buffered meanwhile and queues whatever else arrives. Returns the
 * reply's status (UDSB_OK, UDSB_EBROKER with broker_code/broker_text set)
 * or a failure already recorded. */
int
lib_wait_reply(struct udsb *c, uint64_t seq)
{
	int64_t deadline = lib_deadline(c->timeout_ms);
	short ev;

	c->wait_seq = seq;
	c->wait_status = UDSB_OK;
	for (;;) {
		if (c->done_seq >= seq || c->lost)
			break;
		lib_pump(c, SIZE_MAX);
		if (c->done_seq >= seq || c->lost)
			break;
		ev = POLLIN | (lib_wpending(c) ? POLLOUT : 0);
		if (lib_wait_fd(c, ev, deadline) == UDSB_ETIMEDOUT) {
			c->wait_seq = 0;
			return lib_fail(c, UDSB_ETIMEDOUT,
			                "no answer from the broker at %s within %d ms", c->path,
			                c->timeout_ms);
		}
	}
	c->wait_seq = 0;
	if (c->done_seq >= seq && c->wait_status == UDSB_ETOOLONG)
		return lib_fail(c, UDSB_ETOOLONG,
		                "the broker at %s sent a reply longer than max_line (%zu bytes, "
		                "see udsb_set_max_line()); it was skipped",
		                c->path, c->max_line);
	if (c->done_seq >= seq)
		return c->wait_status;
	return lib_fail_lost(c);
}

/* Writes until at most limit bytes are buffered, waiting at most the
 * connection's timeout. Reads meanwhile, bounded as udsb_process() is. */
int
lib_flush_below(struct udsb *c, size_t limit)
{
	int64_t deadline = lib_deadline(c->timeout_ms);

	for (;;) {
		short ev;

		if (c->lost)
			return lib_fail_lost(c);
		if (lib_wpending(c) <= limit)
			return UDSB_OK;
		lib_pump(c, EVQ_LIMIT);
		if (c->lost || lib_wpending(c) <= limit)
			continue;
		ev = POLLOUT | (evq_bytes(&c->evq) < EVQ_LIMIT ? POLLIN : 0);
		if (lib_wait_fd(c, ev, deadline) == UDSB_ETIMEDOUT)
			return lib_fail(c, UDSB_ETIMEDOUT,
			                "the broker at %s took nothing more within %d ms "
			                "(%zu bytes still to send)",
			                c->path, c->timeout_ms, lib_wpending(c));
	}
}
