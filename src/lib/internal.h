/*
 * Inside libudsbroker: the connection object and the functions the library's
 * files share. Nothing here is exported (see udsbroker.map).
 */
#ifndef UDSB_LIB_INTERNAL_H
#define UDSB_LIB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "udsbroker.h"
#include "evqueue.h"
#include "linescan.h"
#include "sockpath.h"

/* Publish tries a write once this much more is buffered: large chunks, at
 * most one system call per chunk even while the socket is full. */
#define WBUF_CHUNK (64 * 1024)
/* Publish waits for the socket once this much is buffered. */
#define WBUF_LIMIT (1024 * 1024)
/* udsb_process() stops reading ahead while this much waits in the queue. */
#define EVQ_LIMIT (1024 * 1024)
/* Bytes the read buffer holds beyond max_line, so reads stay large. */
#define RBUF_SLACK (64 * 1024)
/* Longest text udsb_ping() sends, so a PING can never be refused. */
#define PING_TEXT_MAX 32

/* A request whose reply the connection still expects, in sending order. */
enum pending {
	PEND_SYNC, /* a PING the library inserted: see request() in io.c */
	PEND_SUB,
	PEND_UNSUB,
	PEND_PING,
	PEND_STATS,
	PEND_WILL,
	PEND_META_ON, /* OPT meta on: deliveries after its OK carry meta */
	PEND_META_OFF,
	PEND_REQ,     /* answered "OK <reply-topic>" */
	PEND_RESTORE, /* the PING ending a reconnect's restore: see reconnect.c */
};

/* The kinds the broker can answer with ERR (bits 1 << kind); those need the
 * PEND_SYNC, and their reply is OK or ERR. */
#define PEND_CAN_FAIL_BITS                                                          \
	(1u << PEND_SUB | 1u << PEND_UNSUB | 1u << PEND_WILL | 1u << PEND_META_ON | \
	 1u << PEND_META_OFF | 1u << PEND_REQ)
#define PEND_CAN_FAIL(k) ((PEND_CAN_FAIL_BITS & (1u << (k))) != 0)

/* What the connection holds at the broker and sets again after an
 * automatic reconnect (held.c): only what the broker confirmed. */
struct held {
	char **filters; /* subscribed filters, each once, in subscription order */
	size_t nfilters, cap;
	char *will_line; /* "WILL PUB|RETAIN topic payload\n"; NULL: none */
	size_t will_len;
	bool meta; /* OPT meta on */
};

/* Automatic reconnect (reconnect.c). */
struct reconnect {
	int min_ms, max_ms; /* min_ms 0: off */
	int delay_ms;       /* the next back-off step */
	int64_t next_ms;    /* monotonic time of the next attempt, while down */
	unsigned long long attempts;
	bool established; /* udsb_connect() succeeded: losses are reconnected */
	bool closing;     /* udsb_close() was called: never again */
	bool down;        /* the old socket is closed; attempts are due */
	bool restoring;   /* connected again, the restore not yet confirmed */
	char why[400];    /* why the old connection ended, for the event */
	char last[400];   /* the last failed attempt's message */
};

struct udsb {
	int fd;          /* -1 until connected */
	int timeout_ms;  /* for waiting calls; -1 forever */
	size_t max_line; /* longest line in either direction, '\n' included */
	char path[SOCKPATH_MAX + 1];

	/* Read side: bytes [rstart, rend) of rbuf are unparsed input. */
	char *rbuf;
	size_t rcap, rstart, rend;
	struct linescan scan;       /* the bounded line rule's state */
	unsigned long long skipped; /* bytes of the over-long line dropped so far */
	bool skip_reply;            /* that line is a reply: its call was told */

	/* Write side: bytes [wstart, wend) of wbuf wait for the socket. */
	char *wbuf;
	size_t wcap, wstart, wend;
	size_t wtry_at; /* publish writes when this much is pending */

	/* Replies expected, oldest first: a ring of pending kinds. The oldest
	 * has sequence number done_seq + 1, the newest sent_seq. */
	unsigned char *pend;
	size_t pend_cap, pend_head, pend_count;
	uint64_t sent_seq, done_seq;
	bool pubs_unsynced; /* a PUB went out since the last SUB/UNSUB */

	/* The call now waiting for a reply, and what it got. */
	uint64_t wait_seq; /* 0: nobody waits */
	int wait_status;
	char *stats_line;
	size_t stats_cap;
	struct udsb_stat *stats;
	size_t nstats, stats_items_cap;

	struct evqueue evq;

	char bye_reason[40]; /* from BYE, for the message when the end comes */

	/* Release 2 */
	bool meta_wire;    /* the broker confirmed OPT meta on: MSG lines carry meta */
	char *reply_topic; /* the last REQ's "OK <reply-topic>", for udsb_request() */
	size_t reply_cap;
	struct held held;
	struct reconnect rc;
	size_t lost_unsent; /* lines still in the write buffer when it was lost */

	/* Once lost, every call returns lost with lost_msg. */
	int lost;
	char lost_msg[320];

	/* The last failure. */
	int err;
	int err_errno;
	char errmsg[512];
	char broker_code[64];
	char broker_text[256];
};

#define ATTR_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* errors.c */
int lib_fail(struct udsb *c, int status, const char *fmt, ...) ATTR_PRINTF(3, 4);
int lib_fail_errno(struct udsb *c, int status, int err, const char *fmt, ...) ATTR_PRINTF(4, 5);
void lib_lose(struct udsb *c, int status, int err, const char *fmt, ...) ATTR_PRINTF(4, 5);
int lib_fail_lost(struct udsb *c);
const char *lib_strerror(int err, char *buf, size_t size);

/* held.c */
int held_add_filter(struct held *h, const char *filter);
void held_remove_filter(struct held *h, const char *filter);
int held_set_will(struct held *h, const char *line, size_t len);
void held_free(struct held *h);

/* reconnect.c */
bool rc_enabled(const struct udsb *c);
int rc_step(struct udsb *c);
int rc_fail_down(struct udsb *c);
void rc_restored(struct udsb *c);
int rc_next_timeout(const struct udsb *c);
int rc_wait(struct udsb *c, int64_t deadline);

/* udsbroker.c */
int lib_dial(struct udsb *c, bool nowait);

/* io.c */
int64_t lib_deadline(int timeout_ms);
int lib_remaining_ms(int64_t deadline);
size_t lib_wpending(const struct udsb *c);
char *lib_wspace(struct udsb *c, size_t n);
int lib_request(struct udsb *c, enum pending kind, const char *line, size_t len, uint64_t *seq);
int lib_pump(struct udsb *c, size_t read_limit);
int lib_wait_fd(struct udsb *c, short events, int64_t deadline);
int lib_wait_reply(struct udsb *c, uint64_t seq);
int lib_write_some(struct udsb *c);
int lib_flush_below(struct udsb *c, size_t limit);
int lib_alloc_rbuf(struct udsb *c);
int lib_input(struct udsb *c, const char *data, size_t len);
void lib_push_event(struct udsb *c, const struct evq_item *it);

#endif
