/*
 * The udsbroker wire protocol (udsbroker(7)): pure parsing and formatting of
 * lines, no I/O. Shared by the broker, the client library and the fuzzers.
 *
 * All parsers take one line *without* its '\n' and strip one trailing '\r'.
 * They never copy: results point into the caller's line, with lengths, so a
 * payload may hold any byte, NUL included.
 */
#ifndef UDSB_PROTO_H
#define UDSB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Stable error codes sent in "ERR <code> <text>". */
#define PROTO_ERR_LINE_TOO_LONG   "line-too-long"
#define PROTO_ERR_UNKNOWN_COMMAND "unknown-command"
#define PROTO_ERR_BAD_TOPIC       "bad-topic"
#define PROTO_ERR_BAD_FILTER      "bad-filter"
#define PROTO_ERR_FORBIDDEN       "forbidden"
#define PROTO_ERR_TOO_MANY_SUBS   "too-many-subscriptions"
#define PROTO_ERR_SERVER_BUSY     "server-busy"
#define PROTO_ERR_RETAINED_FULL   "retained-full"
#define PROTO_ERR_BAD_ARGUMENT    "bad-argument"
#define PROTO_ERR_NO_RESPONDERS   "no-responders"

/* Reasons sent in "BYE <reason>". */
#define PROTO_BYE_SHUTDOWN      "shutdown"
#define PROTO_BYE_SLOW_CONSUMER "slow-consumer"
#define PROTO_BYE_IDLE          "idle"

/* Client-to-broker commands. */
enum proto_cmd {
	PROTO_PUB,
	PROTO_SUB,
	PROTO_UNSUB,
	PROTO_PING,
	PROTO_STATS,
	PROTO_QUIT,
	PROTO_RETAIN,
	PROTO_WILL,
	PROTO_OPT,
	PROTO_REQ,
	PROTO_EMPTY,   /* an empty line: ignored by the broker */
	PROTO_UNKNOWN, /* anything else */
};

/* One client-to-broker line, split in place. */
struct proto_request {
	enum proto_cmd cmd;
	const char *word; /* the command word as sent */
	size_t word_len;
	const char *arg; /* everything after the first space; NULL if no space */
	size_t arg_len;
	const char *topic; /* PUB, RETAIN: the topic, up to the next space (may be empty) */
	size_t topic_len;
	const char *payload; /* PUB, RETAIN: everything after that space (may be empty) */
	size_t payload_len;
};

/* Splits a client-to-broker line. Never fails: bad input is PROTO_UNKNOWN
 * or an empty argument, for the caller to answer with the right ERR. */
void proto_parse_request(const char *line, size_t len, struct proto_request *req);

/* Name of a command as written on the wire ("PUB"...), for logs. */
const char *proto_cmd_name(enum proto_cmd cmd);

/* Broker-to-client lines. */
enum proto_reply_kind {
	PROTO_R_MSG,     /* a = topic, b = payload (with meta on: "<meta> <payload>") */
	PROTO_R_OK,      /* a = text after "OK " (REQ: the reply topic), may be empty */
	PROTO_R_PONG,    /* a = echoed text (may be empty) */
	PROTO_R_ERR,     /* a = code, b = human text */
	PROTO_R_DROPPED, /* count */
	PROTO_R_BYE,     /* a = reason */
	PROTO_R_STATS,   /* a = "key=value key=value ..." */
	PROTO_R_RMSG,    /* a retained value: a = topic, b = payload */
};

struct proto_reply {
	enum proto_reply_kind kind;
	const char *a;
	size_t a_len;
	const char *b;
	size_t b_len;
	unsigned long long count;
};

/* Parses a broker-to-client line. Returns 0, or -1 if the line is not one
 * the protocol defines (unknown word, MSG without topic, DROPPED without a
 * number). */
int proto_parse_reply(const char *line, size_t len, struct proto_reply *rep);

/* Length of the frame "MSG <topic>[ <payload>]\n". */
size_t proto_msg_len(size_t topic_len, size_t payload_len);

/* Turns a PUB line (as parsed into req) into its MSG frame where it lies:
 * the frame is a prefix of the line ("PUB t p" and "MSG t p" have one
 * layout), ending in a '\n' written over the byte after the payload (the
 * line's '\r', a trailing space, or its own '\n', which must be there).
 * Returns the frame's length, proto_msg_len(). */
size_t proto_pub_to_msg(char *line, const struct proto_request *req);

/* If line (len bytes, its '\n' at line[len]) is "PUB <topic>" or "PUB
 * <topic> <payload>" as clients write it (upper case, no '\r', no empty
 * payload after a space), so that its MSG frame is the whole line, '\n'
 * included: turns it into that frame in place and returns true. Any other
 * line is left as it is (it may still be a PUB, for proto_parse_request). */
static inline bool
proto_pub_same_topic(char *line, size_t len, const char *topic, size_t topic_len)
{
	size_t end = 4 + topic_len; /* just after the topic */

	if (len < end || (len > end && (line[end] != ' ' || len == end + 1)) ||
	    line[len - 1] == '\r' || memcmp(line, "PUB ", 4) != 0 ||
	    memcmp(line + 4, topic, topic_len) != 0)
		return false;
	memcpy(line, "MSG", 3);
	return true;
}

/* Delivery metadata (OPT meta on): who published a message, as the
 * broker knows it, and where a request's reply goes. */
struct proto_meta {
	long long uid, gid, pid; /* -1: unknown, left out */
	const char *via;         /* the listener or bridge ("main"); never empty */
	const char *reply;       /* a request's reply topic, or NULL */
	size_t reply_len;
};

/* Meta as a client reads it (proto_parse_meta): pointers into the line. */
struct proto_meta_fields {
	long long uid, gid, pid; /* -1: absent or not a number */
	const char *via;         /* "" when absent */
	size_t via_len;
	const char *reply; /* "" when absent */
	size_t reply_len;
};

/* Parses a meta field "key=value;key=value" (no spaces). Unknown keys and
 * pairs without '=' are ignored, as udsbroker(7) asks of clients; a uid,
 * gid or pid that is not a decimal below 2^63 is -1; of a repeated key the
 * last one counts. Never fails. */
void proto_parse_meta(const char *s, size_t len, struct proto_meta_fields *m);

/* The longest meta field proto_format_meta writes (reply topic aside). */
#define PROTO_META_MAX 128

/* Writes "uid=U;gid=G;pid=P;via=V[;reply=R]" (unknown ones left out) into
 * buf, which must hold PROTO_META_MAX + m->reply_len bytes. Returns its
 * length. */
size_t proto_format_meta(char *buf, const struct proto_meta *m);

/* Length of "<word> <topic>[ <meta>][ <payload>]\n" (no meta when
 * meta_len is 0), and the frame itself written into buf (which must hold
 * that many bytes). */
size_t proto_meta_frame_len(size_t word_len, size_t topic_len, size_t meta_len, size_t payload_len);
size_t proto_format_meta_frame(char *buf, const char *word, const char *topic, size_t topic_len,
                               const char *meta, size_t meta_len, const char *payload,
                               size_t payload_len);

/* Writes that frame into buf, which must hold proto_msg_len() bytes.
 * Returns the number of bytes written. */
size_t proto_format_msg(char *buf, const char *topic, size_t topic_len, const char *payload,
                        size_t payload_len);

/* Length of "<word> <topic>[ <payload>]\n" for any command word
 * ("RETAIN", "REQ", "WILL PUB"...), and that line written into buf (which
 * must hold that many bytes); returns the bytes written. */
size_t proto_cmd_len(size_t word_len, size_t topic_len, size_t payload_len);
size_t proto_format_cmd(char *buf, const char *word, const char *topic, size_t topic_len,
                        const char *payload, size_t payload_len);

/* Length of the request "PUB <topic>[ <payload>]\n". */
size_t proto_pub_len(size_t topic_len, size_t payload_len);

/* Writes that request into buf, which must hold proto_pub_len() bytes.
 * Returns the number of bytes written. */
size_t proto_format_pub(char *buf, const char *topic, size_t topic_len, const char *payload,
                        size_t payload_len);

#endif
