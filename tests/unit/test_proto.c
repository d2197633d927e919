/* The protocol parser and formatter (src/common/proto.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"

/* A line given with its length, so it may hold NUL bytes. */
#define L(s) s, sizeof(s) - 1

/* Compares [p, p+len) with want (with its own length); p may be NULL only
 * when want is NULL. */
static bool
same(const char *p, size_t len, const char *want, size_t want_len)
{
	if (want == NULL)
		return p == NULL && len == 0;
	return p != NULL && len == want_len && memcmp(p, want, len) == 0;
}

struct req_case {
	const char *line;
	size_t len;
	enum proto_cmd cmd;
	const char *arg; /* NULL: no argument expected */
	size_t arg_len;
	const char *topic; /* PUB only; NULL: none */
	size_t topic_len;
	const char *payload;
	size_t payload_len;
};

#define NOARG NULL, 0
#define ARG(s) s, sizeof(s) - 1

static const struct req_case req_cases[] = {
	{ L("PUB t hello"), PROTO_PUB, ARG("t hello"), ARG("t"), ARG("hello") },
	{ L("pub t hello"), PROTO_PUB, ARG("t hello"), ARG("t"), ARG("hello") },
	{ L("PuB a/b x"), PROTO_PUB, ARG("a/b x"), ARG("a/b"), ARG("x") },
	{ L("PUB t hello world"), PROTO_PUB, ARG("t hello world"), ARG("t"), ARG("hello world") },
	{ L("PUB t  two"), PROTO_PUB, ARG("t  two"), ARG("t"), ARG(" two") },
	{ L("PUB t x "), PROTO_PUB, ARG("t x "), ARG("t"), ARG("x ") },
	{ L("PUB t"), PROTO_PUB, ARG("t"), ARG("t"), ARG("") },
	{ L("PUB t "), PROTO_PUB, ARG("t "), ARG("t"), ARG("") },
	{ L("PUB  x"), PROTO_PUB, ARG(" x"), ARG(""), ARG("x") },
	{ L("PUB "), PROTO_PUB, ARG(""), ARG(""), ARG("") },
	{ L("PUB"), PROTO_PUB, NOARG, NOARG, NOARG },
	{ L("PUB t a\0b"), PROTO_PUB, ARG("t a\0b"), ARG("t"), ARG("a\0b") },
	{ L("PUB t \0"), PROTO_PUB, ARG("t \0"), ARG("t"), ARG("\0") },
	{ L("PUB t x\r"), PROTO_PUB, ARG("t x"), ARG("t"), ARG("x") },
	{ L("PUB t x\r\r"), PROTO_PUB, ARG("t x\r"), ARG("t"), ARG("x\r") },
	{ L("PUB t\r"), PROTO_PUB, ARG("t"), ARG("t"), ARG("") },
	{ L("SUB a/+"), PROTO_SUB, ARG("a/+"), NOARG, NOARG },
	{ L("sub #"), PROTO_SUB, ARG("#"), NOARG, NOARG },
	{ L("SUB"), PROTO_SUB, NOARG, NOARG, NOARG },
	{ L("SUB "), PROTO_SUB, ARG(""), NOARG, NOARG },
	{ L("SUB a b"), PROTO_SUB, ARG("a b"), NOARG, NOARG },
	{ L("SUB a\r"), PROTO_SUB, ARG("a"), NOARG, NOARG },
	{ L("UNSUB a"), PROTO_UNSUB, ARG("a"), NOARG, NOARG },
	{ L("Unsub a"), PROTO_UNSUB, ARG("a"), NOARG, NOARG },
	{ L("PING"), PROTO_PING, NOARG, NOARG, NOARG },
	{ L("ping"), PROTO_PING, NOARG, NOARG, NOARG },
	{ L("PING a b"), PROTO_PING, ARG("a b"), NOARG, NOARG },
	{ L("PING \r"), PROTO_PING, ARG(""), NOARG, NOARG },
	{ L("STATS"), PROTO_STATS, NOARG, NOARG, NOARG },
	{ L("sTaTs now"), PROTO_STATS, ARG("now"), NOARG, NOARG },
	{ L("QUIT"), PROTO_QUIT, NOARG, NOARG, NOARG },
	{ L("quit\r"), PROTO_QUIT, NOARG, NOARG, NOARG },
	{ L(""), PROTO_EMPTY, NOARG, NOARG, NOARG },
	{ L("\r"), PROTO_EMPTY, NOARG, NOARG, NOARG },
	{ L("FOO"), PROTO_UNKNOWN, NOARG, NOARG, NOARG },
	{ L("FOO bar"), PROTO_UNKNOWN, ARG("bar"), NOARG, NOARG },
	{ L("PUBX t x"), PROTO_UNKNOWN, ARG("t x"), NOARG, NOARG },
	{ L("PU t x"), PROTO_UNKNOWN, ARG("t x"), NOARG, NOARG },
	{ L("SUBSCRIBE a"), PROTO_UNKNOWN, ARG("a"), NOARG, NOARG },
	{ L(" PUB t x"), PROTO_UNKNOWN, ARG("PUB t x"), NOARG, NOARG },
	{ L("P\0B t x"), PROTO_UNKNOWN, ARG("t x"), NOARG, NOARG },
	{ L("PING\0"), PROTO_UNKNOWN, NOARG, NOARG, NOARG },
	{ L("\0"), PROTO_UNKNOWN, NOARG, NOARG, NOARG },
	{ L("\r\r"), PROTO_UNKNOWN, NOARG, NOARG, NOARG },
	{ L("PUB\tt x"), PROTO_UNKNOWN, ARG("x"), NOARG, NOARG },
};

Test(proto, request_table)
{
	for (size_t i = 0; i < sizeof req_cases / sizeof req_cases[0]; i++) {
		const struct req_case *c = &req_cases[i];
		struct proto_request r;

		proto_parse_request(c->line, c->len, &r);
		cr_expect_eq(r.cmd, c->cmd, "case %zu: cmd %d, want %d", i, r.cmd, c->cmd);
		cr_expect(same(r.arg, r.arg_len, c->arg, c->arg_len),
		          "case %zu: arg \"%.*s\" (%zu)", i, (int)r.arg_len, r.arg ? r.arg : "",
		          r.arg_len);
		if (c->cmd != PROTO_PUB)
			continue;
		cr_expect(same(r.topic, r.topic_len, c->topic, c->topic_len),
		          "case %zu: topic \"%.*s\" (%zu)", i, (int)r.topic_len,
		          r.topic ? r.topic : "", r.topic_len);
		if (c->payload != NULL)
			cr_expect(r.payload_len == c->payload_len &&
			                  (c->payload_len == 0 ||
			                   memcmp(r.payload, c->payload, c->payload_len) == 0),
			          "case %zu: payload (%zu) \"%.*s\"", i, r.payload_len,
			          (int)r.payload_len, r.payload ? r.payload : "");
		else
			cr_expect_eq(r.payload_len, 0, "case %zu", i);
	}
}

/* The word points into the line, as sent. */
Test(proto, request_word_in_place)
{
	static const char line[] = "pUb t x";
	struct proto_request r;

	proto_parse_request(line, sizeof line - 1, &r);
	cr_expect_eq(r.word, line);
	cr_expect_eq(r.word_len, 3);
	cr_expect_eq(r.topic, line + 4);
	cr_expect_eq(r.payload, line + 6);
}

/* Bytes past len are not part of the line. */
Test(proto, request_respects_len)
{
	struct proto_request r;

	proto_parse_request("PING abcdef", 6, &r);
	cr_expect_eq(r.cmd, PROTO_PING);
	cr_expect(same(r.arg, r.arg_len, "a", 1));
	proto_parse_request("SUBX", 3, &r);
	cr_expect_eq(r.cmd, PROTO_SUB);
	cr_expect_null(r.arg);
}

/* A leftover from an earlier parse never leaks into the next one. */
Test(proto, request_resets_result)
{
	struct proto_request r;

	proto_parse_request(L("PUB t payload"), &r);
	proto_parse_request(L("PING"), &r);
	cr_expect_null(r.arg);
	cr_expect_null(r.topic);
	cr_expect_eq(r.payload_len, 0);
}

Test(proto, cmd_names)
{
	cr_expect_str_eq(proto_cmd_name(PROTO_PUB), "PUB");
	cr_expect_str_eq(proto_cmd_name(PROTO_SUB), "SUB");
	cr_expect_str_eq(proto_cmd_name(PROTO_UNSUB), "UNSUB");
	cr_expect_str_eq(proto_cmd_name(PROTO_PING), "PING");
	cr_expect_str_eq(proto_cmd_name(PROTO_STATS), "STATS");
	cr_expect_str_eq(proto_cmd_name(PROTO_QUIT), "QUIT");
	cr_expect_not_null(proto_cmd_name(PROTO_UNKNOWN));
	cr_expect_not_null(proto_cmd_name((enum proto_cmd)1000));
}

struct rep_case {
	const char *line;
	size_t len;
	int rc;
	enum proto_reply_kind kind;
	const char *a;
	size_t a_len;
	const char *b;
	size_t b_len;
	unsigned long long count;
};

static const struct rep_case rep_cases[] = {
	{ L("MSG t hello"), 0, PROTO_R_MSG, ARG("t"), ARG("hello"), 0 },
	{ L("MSG a/b hello world"), 0, PROTO_R_MSG, ARG("a/b"), ARG("hello world"), 0 },
	{ L("MSG t"), 0, PROTO_R_MSG, ARG("t"), ARG(""), 0 },
	{ L("MSG t "), 0, PROTO_R_MSG, ARG("t"), ARG(""), 0 },
	{ L("MSG t a\0b"), 0, PROTO_R_MSG, ARG("t"), ARG("a\0b"), 0 },
	{ L("MSG t x\r"), 0, PROTO_R_MSG, ARG("t"), ARG("x"), 0 },
	{ L("MSG"), -1, 0, NOARG, NOARG, 0 },
	{ L("MSG "), -1, 0, NOARG, NOARG, 0 },
	{ L("OK"), 0, PROTO_R_OK, NOARG, NOARG, 0 },
	{ L("OK\r"), 0, PROTO_R_OK, ARG(""), NOARG, 0 },
	{ L("OK $reply/00ff"), 0, PROTO_R_OK, ARG("$reply/00ff"), NOARG, 0 },
	{ L("RMSG t v"), 0, PROTO_R_RMSG, ARG("t"), ARG("v"), 0 },
	{ L("RMSG t uid=1;via=main v w"), 0, PROTO_R_RMSG, ARG("t"), ARG("uid=1;via=main v w"),
	  0 },
	{ L("RMSG"), -1, 0, NOARG, NOARG, 0 },
	{ L("PONG"), 0, PROTO_R_PONG, ARG(""), NOARG, 0 },
	{ L("PONG abc"), 0, PROTO_R_PONG, ARG("abc"), NOARG, 0 },
	{ L("PONG a b c"), 0, PROTO_R_PONG, ARG("a b c"), NOARG, 0 },
	{ L("ERR bad-topic topic is empty"), 0, PROTO_R_ERR, ARG("bad-topic"),
	  ARG("topic is empty"), 0 },
	{ L("ERR server-busy"), 0, PROTO_R_ERR, ARG("server-busy"), ARG(""), 0 },
	{ L("ERR"), -1, 0, NOARG, NOARG, 0 },
	{ L("ERR "), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 5"), 0, PROTO_R_DROPPED, NOARG, NOARG, 5 },
	{ L("DROPPED 0"), 0, PROTO_R_DROPPED, NOARG, NOARG, 0 },
	{ L("DROPPED 1234567\r"), 0, PROTO_R_DROPPED, NOARG, NOARG, 1234567 },
	{ L("DROPPED 18446744073709551615"), 0, PROTO_R_DROPPED, NOARG, NOARG,
	  18446744073709551615ULL },
	{ L("DROPPED 18446744073709551616"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 99999999999999999999"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 123456789012345678901234"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED "), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED x"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 12x"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED -1"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED +1"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 1 2"), -1, 0, NOARG, NOARG, 0 },
	{ L("DROPPED 1\0"), -1, 0, NOARG, NOARG, 0 },
	{ L("BYE shutdown"), 0, PROTO_R_BYE, ARG("shutdown"), NOARG, 0 },
	{ L("BYE slow-consumer"), 0, PROTO_R_BYE, ARG("slow-consumer"), NOARG, 0 },
	{ L("STATS clients=1 published=2"), 0, PROTO_R_STATS, ARG("clients=1 published=2"),
	  NOARG, 0 },
	{ L(""), -1, 0, NOARG, NOARG, 0 },
	{ L("FOO"), -1, 0, NOARG, NOARG, 0 },
	{ L("MSGX t x"), -1, 0, NOARG, NOARG, 0 },
	{ L("PONGPONG"), -1, 0, NOARG, NOARG, 0 },
	{ L(" OK"), -1, 0, NOARG, NOARG, 0 },
};

Test(proto, reply_table)
{
	for (size_t i = 0; i < sizeof rep_cases / sizeof rep_cases[0]; i++) {
		const struct rep_case *c = &rep_cases[i];
		struct proto_reply r;
		int rc = proto_parse_reply(c->line, c->len, &r);

		cr_expect_eq(rc, c->rc, "case %zu \"%s\": rc %d, want %d", i, c->line, rc, c->rc);
		if (rc != 0 || c->rc != 0)
			continue;
		cr_expect_eq(r.kind, c->kind, "case %zu \"%s\": kind %d, want %d", i, c->line,
		             r.kind, c->kind);
		if (c->a != NULL)
			cr_expect(r.a_len == c->a_len && memcmp(r.a, c->a, c->a_len) == 0,
			          "case %zu: a \"%.*s\"", i, (int)r.a_len, r.a);
		if (c->b != NULL)
			cr_expect(r.b_len == c->b_len && (c->b_len == 0 || memcmp(r.b, c->b, c->b_len) == 0),
			          "case %zu: b \"%.*s\"", i, (int)r.b_len, r.b);
		if (c->kind == PROTO_R_DROPPED)
			cr_expect_eq(r.count, c->count, "case %zu: count %llu", i, r.count);
	}
}

Test(proto, msg_len)
{
	cr_expect_eq(proto_msg_len(1, 5), sizeof "MSG t hello\n" - 1);
	cr_expect_eq(proto_msg_len(1, 0), sizeof "MSG t\n" - 1);
	cr_expect_eq(proto_msg_len(3, 1), sizeof "MSG a/b x\n" - 1);
}

/* Formats into a buffer with a guard after it; returns the frame length. */
static size_t
format_guarded(char *buf, size_t bufsize, const char *t, size_t tl, const char *p, size_t pl)
{
	size_t need = proto_msg_len(tl, pl), n;

	cr_assert_lt(need, bufsize);
	memset(buf, 0x5a, bufsize);
	n = proto_format_msg(buf, t, tl, p, pl);
	cr_expect_eq(n, need);
	for (size_t i = need; i < bufsize; i++)
		cr_assert_eq((unsigned char)buf[i], 0x5a, "wrote past proto_msg_len at %zu", i);
	return n;
}

Test(proto, format_msg)
{
	char buf[128];
	size_t n;

	n = format_guarded(buf, sizeof buf, "t", 1, "hello world", 11);
	cr_expect(n == 18 && memcmp(buf, "MSG t hello world\n", n) == 0);
	n = format_guarded(buf, sizeof buf, "a/b", 3, "", 0);
	cr_expect(n == 8 && memcmp(buf, "MSG a/b\n", n) == 0);
	n = format_guarded(buf, sizeof buf, "a/b", 3, NULL, 0);
	cr_expect(n == 8 && memcmp(buf, "MSG a/b\n", n) == 0);
	n = format_guarded(buf, sizeof buf, "t", 1, "a\0b", 3);
	cr_expect(n == 10 && memcmp(buf, "MSG t a\0b\n", n) == 0);
}

/* What the broker formats, a client parses back to the same topic and payload. */
Test(proto, format_then_parse)
{
	static const struct {
		const char *topic, *payload;
		size_t plen;
	} cases[] = {
		{ "t", "x", 1 },        { "a/b/c", "hello world", 11 }, { "t", "", 0 },
		{ "t", " lead", 5 },    { "t", "trail ", 6 },           { "t", "nul\0in", 6 },
		{ "$SYS/x", "1 2 3", 5 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[128];
		size_t tl = strlen(cases[i].topic);
		size_t n = format_guarded(buf, sizeof buf, cases[i].topic, tl, cases[i].payload,
		                          cases[i].plen);
		struct proto_reply r;

		cr_assert_eq(buf[n - 1], '\n');
		cr_assert_eq(proto_parse_reply(buf, n - 1, &r), 0, "case %zu", i);
		cr_expect_eq(r.kind, PROTO_R_MSG);
		cr_expect(r.a_len == tl && memcmp(r.a, cases[i].topic, tl) == 0, "case %zu", i);
		cr_expect(r.b_len == cases[i].plen && memcmp(r.b, cases[i].payload, r.b_len) == 0,
		          "case %zu", i);
	}
}

Test(proto, pub_len)
{
	cr_expect_eq(proto_pub_len(1, 5), sizeof "PUB t hello\n" - 1);
	cr_expect_eq(proto_pub_len(1, 0), sizeof "PUB t\n" - 1);
	cr_expect_eq(proto_pub_len(3, 1), sizeof "PUB a/b x\n" - 1);
}

/* What a client frames, the broker parses back to the same topic and
 * payload; a guard after the buffer proves proto_pub_len() is enough. */
Test(proto, format_pub_then_parse)
{
	static const struct {
		const char *topic, *payload;
		size_t plen;
		const char *want;
		size_t want_len;
	} cases[] = {
		{ "t", "hello world", 11, "PUB t hello world\n", 18 },
		{ "a/b", "", 0, "PUB a/b\n", 8 },
		{ "a/b", NULL, 0, "PUB a/b\n", 8 },
		{ "t", "a\0b", 3, "PUB t a\0b\n", 10 },
		{ "t", " lead", 5, "PUB t  lead\n", 12 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char buf[128];
		size_t tl = strlen(cases[i].topic), need = proto_pub_len(tl, cases[i].plen), n;
		struct proto_request req;

		memset(buf, 0x5a, sizeof buf);
		n = proto_format_pub(buf, cases[i].topic, tl, cases[i].payload, cases[i].plen);
		cr_expect_eq(n, need, "case %zu", i);
		cr_expect(n == cases[i].want_len && memcmp(buf, cases[i].want, n) == 0, "case %zu",
		          i);
		for (size_t j = need; j < sizeof buf; j++)
			cr_assert_eq((unsigned char)buf[j], 0x5a, "wrote past proto_pub_len at %zu", j);
		proto_parse_request(buf, n - 1, &req);
		cr_expect_eq(req.cmd, PROTO_PUB, "case %zu", i);
		cr_expect(req.topic_len == tl && memcmp(req.topic, cases[i].topic, tl) == 0,
		          "case %zu", i);
		cr_expect(req.payload_len == cases[i].plen &&
		              (cases[i].plen == 0 ||
		               memcmp(req.payload, cases[i].payload, cases[i].plen) == 0),
		          "case %zu", i);
	}
}

/* A burst's next line: taken only when its MSG frame is the whole line,
 * and then it is exactly the frame the general path makes of it. */
Test(proto, pub_same_topic)
{
	static const struct {
		const char *line;
		bool taken;
	} cases[] = {
		{ "PUB t hello", true },      { "PUB t", true },        { "PUB t a b", true },
		{ "PUB t  lead", true },      { "PUB t \r\x01", true }, { "PUB t ", false },
		{ "PUB t hello\r", false },   { "PUB t\r", false },     { "pub t hello", false },
		{ "PUB tt hello", false },    { "PUB t/a x", false },   { "PUB x hello", false },
		{ "PUB", false },             { "PUB ", false },        { "PUBt hello", false },
		{ "SUB t", false },           { "PUB  t x", false },    { "", false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char line[64], general[64];
		size_t len = strlen(cases[i].line);
		struct proto_request req;

		memcpy(line, cases[i].line, len);
		line[len] = '\n';
		memcpy(general, line, len + 1);
		cr_expect_eq(proto_pub_same_topic(line, len, "t", 1), cases[i].taken, "case %zu", i);
		if (!cases[i].taken) {
			cr_expect(memcmp(line, cases[i].line, len) == 0 && line[len] == '\n',
			          "case %zu: changed", i);
			continue;
		}
		proto_parse_request(general, len, &req);
		cr_assert_eq(req.cmd, PROTO_PUB, "case %zu", i);
		cr_expect(req.topic_len == 1 && req.topic[0] == 't', "case %zu", i);
		cr_expect_eq(proto_pub_to_msg(general, &req), len + 1, "case %zu", i);
		cr_expect(memcmp(line, general, len + 1) == 0, "case %zu: %.*s", i, (int)len + 1,
		          line);
	}
}

/* The meta field as a client reads it: known keys in any order, unknown
 * ones and pairs without '=' ignored, bad numbers unknown (-1). */
Test(proto, parse_meta)
{
	static const struct {
		const char *meta;
		long long uid, gid, pid;
		const char *via, *reply;
	} cases[] = {
		{ "uid=1000;gid=100;pid=4242;via=main", 1000, 100, 4242, "main", "" },
		{ "uid=0;gid=0;pid=1;via=main;reply=$reply/ab12", 0, 0, 1, "main", "$reply/ab12" },
		{ "via=br1", -1, -1, -1, "br1", "" },
		{ "color=red;uid=5;x;=;gid=;pid=7x;via=a;via=b;future=1=2", 5, -1, -1, "b", "" },
		{ "uid=9223372036854775807", 9223372036854775807LL, -1, -1, "", "" },
		{ "uid=9223372036854775808;gid=-1;pid=+3", -1, -1, -1, "", "" },
		{ "", -1, -1, -1, "", "" },
		{ ";;;", -1, -1, -1, "", "" },
		{ "UID=3;Via=x", -1, -1, -1, "", "" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proto_meta_fields m;

		proto_parse_meta(cases[i].meta, strlen(cases[i].meta), &m);
		cr_expect_eq(m.uid, cases[i].uid, "case %zu: uid %lld", i, m.uid);
		cr_expect_eq(m.gid, cases[i].gid, "case %zu: gid %lld", i, m.gid);
		cr_expect_eq(m.pid, cases[i].pid, "case %zu: pid %lld", i, m.pid);
		cr_expect(m.via_len == strlen(cases[i].via) &&
		              memcmp(m.via, cases[i].via, m.via_len) == 0,
		          "case %zu: via %.*s", i, (int)m.via_len, m.via);
		cr_expect(m.reply_len == strlen(cases[i].reply) &&
		              memcmp(m.reply, cases[i].reply, m.reply_len) == 0,
		          "case %zu: reply %.*s", i, (int)m.reply_len, m.reply);
	}
}

/* What proto_format_meta writes, proto_parse_meta reads back. */
Test(proto, meta_round_trip)
{
	struct proto_meta out = { 1000, 100, 4242, "main", "$reply/0123", 11 };
	struct proto_meta_fields in;
	char buf[PROTO_META_MAX + 16];
	size_t n = proto_format_meta(buf, &out);

	proto_parse_meta(buf, n, &in);
	cr_expect_eq(in.uid, 1000);
	cr_expect_eq(in.gid, 100);
	cr_expect_eq(in.pid, 4242);
	cr_expect(in.via_len == 4 && memcmp(in.via, "main", 4) == 0);
	cr_expect(in.reply_len == 11 && memcmp(in.reply, "$reply/0123", 11) == 0);
}

Test(proto, format_cmd)
{
	char buf[64];
	size_t n = proto_format_cmd(buf, "WILL RETAIN", "svc/x", 5, "down now", 8);

	cr_expect_eq(n, proto_cmd_len(11, 5, 8));
	cr_expect(n == 27 && memcmp(buf, "WILL RETAIN svc/x down now\n", n) == 0, "%.*s", (int)n,
	          buf);
	n = proto_format_cmd(buf, "RETAIN", "t", 1, NULL, 0);
	cr_expect(n == 9 && memcmp(buf, "RETAIN t\n", n) == 0, "%.*s", (int)n, buf);
	cr_expect_eq(proto_cmd_len(3, 1, 2), proto_pub_len(1, 2));
}
