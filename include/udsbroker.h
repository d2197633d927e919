/*
 * libudsbroker: a small C client for udsbrokerd, the local publish/subscribe
 * broker (protocol: udsbroker(7)). udsctl(1) is built on this API alone.
 *
 *   #include <udsbroker.h>          cc prog.c $(pkg-config --cflags --libs udsbroker)
 *
 * Model
 *   A struct udsb is one connection. Create it with udsb_new(), connect it
 *   with udsb_connect(), free it with udsb_free(). The library keeps no global
 *   state: different connections may be used from different threads at once;
 *   one connection must not be used by two threads at the same time.
 *
 *   Publishing is pipelined: udsb_publish() appends the line to the
 *   connection's write buffer and returns; the buffer goes out in large
 *   chunks. udsb_ping() is the barrier that proves every earlier line was
 *   processed by the broker. Calls that need an answer (subscribe,
 *   unsubscribe, ping, stats, will, set_meta, request) send everything
 *   buffered, then wait for their reply, at most the connection's timeout
 *   (udsb_set_timeout()).
 *
 *   Everything the broker sends that is not the answer to a call -- message
 *   deliveries, DROPPED and BYE notices, an ERR for an earlier publish -- is
 *   queued as an event and handed out, in arrival order, by udsb_recv().
 *
 * Two ways to receive
 *   Blocking: udsb_recv(c, &ev, timeout_ms) waits for the next event.
 *   In your own loop (poll, epoll, libevent...): watch udsb_fd(c) for the
 *   poll events udsb_events(c) asks for (level-triggered), call
 *   udsb_process(c) when it is ready, then udsb_recv(c, &ev, 0) until it
 *   returns UDSB_ETIMEDOUT. Neither udsb_process() nor udsb_recv(.., 0) ever
 *   blocks. udsb_process() stops reading while more than 1 MiB of events
 *   wait to be taken with udsb_recv(): the backlog then stays in the broker,
 *   which applies its slow-consumer policy, and the client's memory stays
 *   bounded.
 *
 * Errors
 *   Every call that can fail returns an enum udsb_status: UDSB_OK (0) or an
 *   error code. Every call given a NULL connection returns UDSB_EINVAL (or,
 *   for those that return no status, "", -1 or 0) and never crashes. The library never prints and
 * never exits. After a failure, udsb_errmsg(c) is one readable line naming the socket path and the
 *   reason, e.g. "cannot connect to /run/udsbroker.sock: No such file or
 *   directory (is udsbrokerd running?)"; udsb_error(c) repeats the code.
 *   Codes marked "connection lost" below are final: every later call on that
 *   connection returns the same code (udsb_recv() first hands out the events
 *   that arrived before the end, such as BYE), and the only thing left to do
 *   is udsb_free(). After any other code the connection is still usable.
 *   With automatic reconnect (udsb_set_reconnect()) a lost connection is not
 *   final: calls return UDSB_EDOWN until it is back. udsb_strerror() gives
 *   a sentence for a code, udsb_status_name() its constant's name.
 *
 * Ownership
 *   The caller owns the struct udsb (free it with udsb_free()) and every
 *   buffer it passes in; the library copies what it keeps. Strings and
 *   pointers the library returns (udsb_errmsg(), udsb_path(), event fields,
 *   udsb_stats() items) belong to the connection and stay valid until the
 *   next call on the same connection (udsb_path(): until udsb_free()).
 *
 * Signals
 *   The library writes with MSG_NOSIGNAL: a closed connection is an error
 *   code, never SIGPIPE. Interrupted system calls (EINTR) are resumed, with
 *   the remaining timeout.
 */
#ifndef UDSBROKER_H
#define UDSBROKER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define UDSB_API __attribute__((visibility("default")))
#else
#define UDSB_API
#endif

/* The version of this header; udsb_version() is the library's. */
#define UDSB_VERSION_MAJOR 0
#define UDSB_VERSION_MINOR 2
#define UDSB_VERSION_PATCH 0

/* Default for udsb_set_max_line(): the broker's default max_line (65536)
 * plus room, so every line a default broker sends fits. */
#define UDSB_MAX_LINE_DEFAULT (65536 + 1024)

/* Result of every call that can fail. */
enum udsb_status {
	UDSB_OK = 0,
	/* Nothing came within the timeout (with timeout 0: nothing was ready,
	 * or the write buffer is full). Still usable. */
	UDSB_ETIMEDOUT,
	/* A bad argument: NULL, a payload holding '\n', a line longer than
	 * max_line, a call in the wrong state. Nothing was sent. Still usable. */
	UDSB_EINVAL,
	/* The topic or filter breaks the MQTT rules (udsbroker(7)); checked
	 * before sending, so nothing was sent. Still usable. */
	UDSB_ETOPIC,
	/* The broker answered ERR to this call; udsb_broker_error(c) is its
	 * code ("bad-filter", "too-many-subscriptions"...). Still usable. */
	UDSB_EBROKER,
	/* The socket path is unusable: longer than a Unix socket address holds
	 * (the message names the limit), or no default could be built. */
	UDSB_EPATH,
	/* connect() failed: no broker at that path, permission denied... */
	UDSB_ECONNECT,
	/* udsb_connect() has not succeeded on this connection yet. */
	UDSB_ENOTCONN,
	/* Connection lost: the broker closed it (after BYE, or at EOF). */
	UDSB_ECLOSED,
	/* Connection lost: a system call on the socket failed (udsb_errno()). */
	UDSB_EIO,
	/* Connection lost: the broker sent a reply that matches no request. */
	UDSB_EPROTO,
	/* Out of memory. Nothing was sent. Still usable. */
	UDSB_ENOMEM,
	/* The broker's reply to this call was longer than max_line
	 * (udsb_set_max_line()): it was skipped as it streamed in, without
	 * waiting for its end, and the call failed at once. The connection
	 * stays in step: still usable. */
	UDSB_ETOOLONG,
	/* udsb_request(): no subscriber matched the request (the broker
	 * answered ERR no-responders). Still usable. */
	UDSB_ENORESPONDERS,
	/* Automatic reconnect is on (udsb_set_reconnect()) and the connection
	 * is down right now: nothing was sent (publish, retain, request...).
	 * A call that was waiting for its answer when the connection broke
	 * returns it too: its effect did not survive the old connection.
	 * Still usable: the library keeps reconnecting. */
	UDSB_EDOWN,
};

/* What udsb_recv() hands out. */
enum udsb_event_type {
	/* A delivery: topic and payload. */
	UDSB_EV_MSG,
	/* The broker dropped count messages meant for this connection since
	 * its last DROPPED notice, because it was reading too slowly. */
	UDSB_EV_DROPPED,
	/* The broker is about to close the connection; text is the reason
	 * ("shutdown", "slow-consumer", "idle"). UDSB_ECLOSED follows, or
	 * with automatic reconnect UDSB_EV_RECONNECTED once it is back. */
	UDSB_EV_BYE,
	/* The broker answered ERR to a line no call was waiting for: an earlier
	 * udsb_publish() (e.g. "forbidden" for a '$' topic, "line-too-long"),
	 * or a call that had already given up with UDSB_ETIMEDOUT. code is the
	 * ERR code, text the broker's explanation. */
	UDSB_EV_ERROR,
	/* An incoming line was longer than max_line (udsb_set_max_line()); its
	 * count bytes were discarded without being buffered. If it was a
	 * delivery, that message is lost. (An over-long reply to a call is
	 * that call's UDSB_ETOOLONG instead.) */
	UDSB_EV_OVERLONG,
	/* A line this library does not know (a newer broker?); text is the line. */
	UDSB_EV_UNKNOWN,
	/* Automatic reconnect (udsb_set_reconnect()) re-established the
	 * connection, subscribed again to every filter held, and set the will
	 * and meta option again. text: why the old connection ended; count:
	 * the connection attempts it took. Messages published meanwhile by
	 * others were not delivered to this connection. */
	UDSB_EV_RECONNECTED,
};

/* One event. Every pointer is NUL-terminated and valid until the next call
 * on the connection; unused fields are "" and 0 (uid, gid, pid: -1). A
 * payload may itself hold NUL bytes: use payload_len. Since 0.2.0 the
 * struct is larger (libudsbroker.so.1): rebuild programs built against 0.1. */
struct udsb_event {
	enum udsb_event_type type;
	const char *topic; /* MSG: the topic */
	size_t topic_len;
	const char *payload; /* MSG: the payload, may be empty */
	size_t payload_len;
	const char *code;         /* ERROR: the broker's code, e.g. "bad-topic" */
	const char *text;         /* ERROR: human text; BYE: reason; UNKNOWN: line */
	unsigned long long count; /* DROPPED: messages lost; OVERLONG: bytes;
	                             RECONNECTED: connection attempts */
	/* Release 2 (0.2.0) */
	int retained;            /* MSG: 1 when the broker sent it as RMSG */
	long long uid, gid, pid; /* MSG with meta on: the publisher's; -1 unknown */
	const char *via;         /* MSG with meta on: listener/bridge name, else "" */
	const char *reply;       /* MSG with meta on: reply topic of a request, else "" */
	const char *meta;        /* MSG with meta on: the raw meta field, else "" */
};

/* One broker counter from udsb_stats(): "published" and "42". */
struct udsb_stat {
	const char *key;
	const char *value;
};

struct udsb;

/* Creates an unconnected connection with default options. Returns NULL only
 * when out of memory. */
UDSB_API struct udsb *udsb_new(void);

/* Closes the socket and frees everything, including whatever was still in the
 * write buffer: call udsb_flush() or udsb_ping() first to be sure published
 * lines left (or were processed). Without udsb_close() first, the broker
 * takes this for an abnormal end and runs the will, if one is set. NULL is
 * a no-op. */
UDSB_API void udsb_free(struct udsb *c);

/* Ends the connection cleanly: sends everything buffered and QUIT, then
 * waits (at most the timeout) until the broker has closed it. The broker
 * does not run the will after this. Events that arrived meanwhile can still
 * be taken with udsb_recv(); every other call then returns UDSB_ECLOSED.
 * Reconnect stops. Free the connection with udsb_free() afterwards. */
UDSB_API enum udsb_status udsb_close(struct udsb *c);

/* How long calls that wait (subscribe, unsubscribe, ping, stats, flush,
 * will, set_meta, request, close, and publish or retain when the write
 * buffer is full) may wait, in milliseconds:
 * -1 forever (the default), 0 never (such calls return UDSB_ETIMEDOUT at
 * once instead of waiting). Returns UDSB_EINVAL for values below -1. */
UDSB_API enum udsb_status udsb_set_timeout(struct udsb *c, int timeout_ms);

/* The longest line accepted from the broker, '\n' included, and the longest
 * line udsb_publish() sends; default UDSB_MAX_LINE_DEFAULT. Set it at least
 * to the broker's max_line. Only before udsb_connect() (else UDSB_EINVAL);
 * at least 64. */
UDSB_API enum udsb_status udsb_set_max_line(struct udsb *c, size_t max_line);

/* Connects to the broker. path is the socket; NULL picks it as udsctl does:
 * $UDSBROKER_SOCKET if set and not empty, else
 * $XDG_RUNTIME_DIR/udsbroker.sock when it is a socket owned by the caller
 * (a personal broker), else /run/udsbroker.sock (the system broker); never
 * a path in /tmp. An EACCES message says which group may connect. On failure
 * (UDSB_EPATH, UDSB_ECONNECT, UDSB_ENOMEM) the connection may be connected
 * again; UDSB_EINVAL if it is already connected. */
UDSB_API enum udsb_status udsb_connect(struct udsb *c, const char *path);

/* The socket path chosen by the last udsb_connect() ("" before, and for a
 * NULL connection). */
UDSB_API const char *udsb_path(const struct udsb *c);

/* Publishes payload (len bytes, any bytes but '\n'; may be empty) on topic.
 * Pipelined: the line is buffered and sent later in large chunks, no round
 * trip. If the broker rejects it, a UDSB_EV_ERROR event comes later (after
 * udsb_ping() at the latest). Blocks only while more than 1 MiB is waiting
 * to be written, at most the timeout (UDSB_ETIMEDOUT then: nothing queued).
 * UDSB_ETOPIC for a topic with wildcards, spaces or control bytes;
 * UDSB_EINVAL for a payload with '\n' or a line over max_line. */
UDSB_API enum udsb_status udsb_publish(struct udsb *c, const char *topic, const void *payload,
                                       size_t len);

/* Subscribes to filter (MQTT wildcards '+' and '#') and waits for the
 * broker's OK. UDSB_EBROKER with udsb_broker_error() "bad-filter",
 * "too-many-subscriptions"... when it refuses; UDSB_ETOPIC when the filter
 * is invalid (nothing sent). Deliveries that arrive meanwhile are queued. */
UDSB_API enum udsb_status udsb_subscribe(struct udsb *c, const char *filter);

/* Removes a subscription and waits for OK (a filter not held is OK too).
 * Deliveries already on their way may still arrive afterwards; after a
 * following udsb_ping() none can. */
UDSB_API enum udsb_status udsb_unsubscribe(struct udsb *c, const char *filter);

/* Sends PING and waits for PONG: proves every earlier line of this
 * connection was processed (use it as the barrier after publishing; ERR
 * replies to those lines are queued as events by then). When rtt_us is not
 * NULL it receives the round trip in microseconds. */
UDSB_API enum udsb_status udsb_ping(struct udsb *c, long *rtt_us);

/* Asks the broker for its counters and waits for them. On UDSB_OK, *items
 * points to *count key/value pairs in the broker's order (clients,
 * subscriptions, published, delivered, dropped, bytes_in, bytes_out, uptime,
 * maybe more), valid until the next call on the connection. */
UDSB_API enum udsb_status udsb_stats(struct udsb *c, const struct udsb_stat **items, size_t *count);

/* Takes the next event. Waits at most timeout_ms (-1: forever; 0: only what
 * is already readable, never blocks). Sends buffered publishes meanwhile.
 * Returns UDSB_OK with *ev filled, UDSB_ETIMEDOUT when nothing came, or the
 * connection-lost code once the events that arrived before the end were
 * all taken. With automatic reconnect, a lost connection is reconnected in
 * here (within the timeout; UDSB_ETIMEDOUT while still down). */
UDSB_API enum udsb_status udsb_recv(struct udsb *c, struct udsb_event *ev, int timeout_ms);

/* The connection's socket, for poll/epoll/libevent; -1 when not connected
 * (or c is NULL), and while automatic reconnect is down (see
 * udsb_next_timeout()); a reconnect may bring a different number.
 * The socket is non-blocking and belongs to the connection: do not read,
 * write or close it. */
UDSB_API int udsb_fd(const struct udsb *c);

/* The poll(2) events to watch on udsb_fd() now: POLLIN, plus POLLOUT while
 * buffered output waits for the socket. 0 when not connected or lost (or
 * c is NULL). */
UDSB_API short udsb_events(const struct udsb *c);

/* Does whatever the socket allows without blocking: writes buffered output,
 * reads what is readable and queues the events it holds. Call it when
 * udsb_fd() is ready, then take the events with udsb_recv(c, &ev, 0).
 * Returns UDSB_OK, or the connection-lost code (pending events can still
 * be taken); with automatic reconnect, UDSB_EDOWN while the connection is
 * down, which is not an end. */
UDSB_API enum udsb_status udsb_process(struct udsb *c);

/* Writes everything buffered, waiting at most the timeout. It is then in the
 * broker's socket, not necessarily processed: see udsb_ping(). */
UDSB_API enum udsb_status udsb_flush(struct udsb *c);

/* The code of the last failed call (UDSB_OK if none failed yet;
 * UDSB_EINVAL for a NULL connection). */
UDSB_API enum udsb_status udsb_error(const struct udsb *c);

/* One line describing the last failure, naming the socket path and the
 * reason; "" if none. */
UDSB_API const char *udsb_errmsg(const struct udsb *c);

/* The errno behind the last UDSB_ECONNECT or UDSB_EIO, else 0. */
UDSB_API int udsb_errno(const struct udsb *c);

/* The broker's ERR code behind the last UDSB_EBROKER ("bad-filter"...),
 * else "". */
UDSB_API const char *udsb_broker_error(const struct udsb *c);

/* A constant name for a status code, e.g. "UDSB_ECONNECT"; "UDSB_E?" for
 * a number that is none. */
UDSB_API const char *udsb_status_name(int status);

/* The library's version, e.g. "0.2.0": the UDSB_VERSION_* it was built
 * with, which may differ from those of the header a program was compiled
 * against. */
UDSB_API const char *udsb_version(void);

/* A readable sentence for a status code ("no subscriber matched the
 * request"...), constant, never NULL (a sentence saying so for a number
 * that is no code). */
UDSB_API const char *udsb_strerror(int code);

/* Release 2: retained values, last will, metadata, request/reply,
 * automatic reconnect. */

/* Publishes like udsb_publish() and makes payload the topic's retained
 * value (RETAIN): later subscribers get it at once, as an event with
 * retained = 1. An empty payload clears the retained value. Pipelined like
 * udsb_publish(): a refusal (ERR retained-full, forbidden...) comes later
 * as a UDSB_EV_ERROR event. */
UDSB_API enum udsb_status udsb_retain(struct udsb *c, const char *topic, const void *payload,
                                      size_t len);

/* Sets (topic != NULL) or clears (topic == NULL) the last will and waits
 * for OK: the broker publishes it on this connection's behalf when the
 * connection ends any way other than udsb_close() (udsb_free() without it,
 * the process dying, a read or write error, a slow-consumer BYE), but not
 * on broker shutdown. retain != 0: WILL RETAIN (it also becomes the topic's
 * retained value), else WILL PUB. Remembered and set again after an
 * automatic reconnect. */
UDSB_API enum udsb_status udsb_will(struct udsb *c, int retain, const char *topic,
                                    const void *payload, size_t len);

/* Turns delivery metadata on or off (OPT meta on|off) and waits for OK.
 * With it on, UDSB_EV_MSG events carry the publisher's uid, gid and pid as
 * the kernel reported them, the listener it came through (via) and the
 * reply topic of a request (reply). Remembered across reconnects. */
UDSB_API enum udsb_status udsb_set_meta(struct udsb *c, int on);

/* Sends a request (REQ) and waits for the broker's answer. On UDSB_OK
 * *reply_topic is "$reply/<token>" (valid until the next call on c);
 * replies arrive as UDSB_EV_MSG events whose topic is that string, until
 * udsb_unsubscribe(c, *reply_topic) or the connection ends.
 * UDSB_ENORESPONDERS when no subscriber matched. */
UDSB_API enum udsb_status udsb_request(struct udsb *c, const char *topic, const void *payload,
                                       size_t len, const char **reply_topic);

/* Automatic reconnect: min_ms > 0 turns it on, with a back-off from min_ms
 * doubling to max_ms (udsctl uses 100 and 5000); min_ms == 0 turns it off
 * (the default). Only after an established connection is lost: a first
 * udsb_connect() that fails still fails. Reconnecting happens inside
 * udsb_recv(), which waits for the next attempt within its timeout, and
 * inside udsb_process() and every call that sends, which make an attempt
 * when one is due but never wait for one. While down, udsb_fd() is -1,
 * calls that send return UDSB_EDOWN, and udsb_next_timeout() tells a
 * caller with its own loop when to call udsb_process() again. UDSB_EINVAL
 * for min_ms < 0 or max_ms < min_ms. */
UDSB_API enum udsb_status udsb_set_reconnect(struct udsb *c, int min_ms, int max_ms);

/* Milliseconds until udsb_process() has work to do without the socket
 * (the next reconnect attempt); -1 when nothing is due (or c is NULL). */
UDSB_API int udsb_next_timeout(const struct udsb *c);

#ifdef __cplusplus
}
#endif

#endif
