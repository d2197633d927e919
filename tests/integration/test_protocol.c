/* The wire protocol against the real daemon: commands, replies, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

/* Each test its own broker on its own socket. */
TestSuite(protocol, .fini = stop, .timeout = 120);

Test(protocol, sub_pub_fan_out)
{
	int s[3], p;

	xstart(&b, NULL);
	for (int i = 0; i < 3; i++) {
		s[i] = xconnect(&b);
		xsub(s[i], "news");
	}
	p = xconnect(&b);
	xsend(p, "PUB news hello world\n");
	for (int i = 0; i < 3; i++) {
		expect_next(s[i], "MSG news hello world");
		quiet(s[i]);
	}
	quiet(p); /* not subscribed: gets nothing */
}

Test(protocol, sub_is_idempotent)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	xsub(s, "t");
	xsend(p, "PUB t once\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG t once\n");
	cr_expect_eq(stat_of(p, "subscriptions"), 1);
}

Test(protocol, wildcards)
{
	static const char *const filters[] = { "a/+", "a/#", "#", "a/b", "+/c", "$SYS/#" };
	static const char *const want[] = {
		"MSG a/b x\n",                       /* a/+ */
		"MSG a/b x\nMSG a y\nMSG a/b/c z\n", /* a/# */
		"MSG a/b x\nMSG a y\nMSG x/c w\nMSG a/b/c z\n",
		"MSG a/b x\n",                       /* a/b */
		"MSG x/c w\n",                       /* +/c */
		"",                                  /* $SYS/#: nobody may publish there */
	};
	enum { N = sizeof filters / sizeof filters[0] };
	int s[N], p;

	xstart(&b, "sys_interval = 0\n"); /* the broker publishes nothing there either */
	for (int i = 0; i < N; i++) {
		s[i] = xconnect(&b);
		xsub(s[i], filters[i]);
	}
	p = xconnect(&b);
	xsend(p, "PUB a/b x\nPUB a y\nPUB x/c w\nPUB a/b/c z\n");
	quiet(p);
	for (int i = 0; i < N; i++) {
		const char *got = barrier(s[i]);

		cr_expect_str_eq(got, want[i], "filter %s got:\n%s", filters[i], got);
	}
}

/* MQTT: empty levels are levels, '+' matches an empty one. */
Test(protocol, empty_levels)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "a/+/b");
	xsub(s, "/x");
	xsend(p, "PUB a//b 1\nPUB a/b 2\nPUB /x 3\nPUB x 4\nPUB a/ 5\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG a//b 1\nMSG /x 3\n");
}

Test(protocol, overlapping_filters_deliver_once)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "a/b");
	xsub(s, "a/+");
	xsub(s, "a/#");
	xsub(s, "#");
	xsub(s, "+/b");
	xsub(s, "+/+");
	xsend(p, "PUB a/b once\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG a/b once\n");
}

Test(protocol, publisher_gets_own_messages)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsub(c, "me/#");
	xsend(c, "PUB me/1 hi\n");
	expect_next(c, "MSG me/1 hi");
	quiet(c);
}

Test(protocol, unsub_stops_delivery)
{
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	xsub(s, "u/+");
	xsend(p, "PUB t 1\n");
	expect_next(s, "MSG t 1");
	xsend(s, "UNSUB t\n");
	expect_next(s, "OK");
	xsend(p, "PUB t 2\nPUB u/x 3\n");
	quiet(p); /* the broker has handled both publishes */
	cr_expect_str_eq(barrier(s), "MSG u/x 3\n");
	cr_expect_eq(stat_of(p, "subscriptions"), 1);

	/* A filter not held, and the same again: OK, nothing changes. */
	xsend(s, "UNSUB t\n");
	expect_next(s, "OK");
	xsend(s, "UNSUB never/held\n");
	expect_next(s, "OK");
	/* UNSUB matches the filter text, not the topics: u/x is not u/+. */
	xsend(s, "UNSUB u/x\n");
	expect_next(s, "OK");
	xsend(p, "PUB u/y 4\n");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG u/y 4\n");
}

Test(protocol, ping_pong)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsend(c, "PING\n");
	expect_next(c, "PONG");
	xsend(c, "PING a b\n");
	expect_next(c, "PONG a b");
	xsend(c, "PING hello\n");
	expect_next(c, "PONG hello");
}

/* Parses "STATS k=v k=v ..." into the value of key, -1 if absent. */
static long long
field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(line, pat);
	if (p == NULL)
		return -1;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return -1;
	return strtoll(p, NULL, 10);
}

Test(protocol, stats_keys_and_counts)
{
	static const char *const keys[] = { "clients", "subscriptions", "published", "delivered",
		                             "dropped", "bytes_in", "bytes_out", "uptime" };
	char before[1024], after[1024];
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	wait_stat(p, "clients", 2);

	xsend(p, "STATS\n");
	snprintf(before, sizeof before, "%s", xrecv(p, NULL));
	cr_assert(strncmp(before, "STATS ", 6) == 0, "%s", before);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		cr_expect_geq(field(before, keys[i]), 0, "no %s=N in \"%s\"", keys[i], before);
	/* The documented order of the first eight, more keys may follow. */
	{
		unsigned long long v[8];
		int end = 0;

		cr_expect_eq(sscanf(before,
		                    "STATS clients=%llu subscriptions=%llu published=%llu "
		                    "delivered=%llu dropped=%llu bytes_in=%llu bytes_out=%llu "
		                    "uptime=%llu%n",
		                    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &end),
		             8, "\"%s\"", before);
		cr_expect(before[end] == '\0' || before[end] == ' ', "\"%s\"", before);
	}

	xsub(s, "t");
	xsub(s, "u");
	xsend(p, "PUB t 1\nPUB t 2\nPUB u 3\nPUB nobody 4\nPUB nobody 5\n");
	quiet(p);
	xsend(p, "STATS extra args are ignored\n");
	snprintf(after, sizeof after, "%s", xrecv(p, NULL));
	cr_assert(strncmp(after, "STATS ", 6) == 0, "%s", after);

	cr_expect_eq(field(after, "clients"), 2, "%s", after);
	cr_expect_eq(field(after, "subscriptions"), 2, "%s", after);
	cr_expect_eq(field(after, "published") - field(before, "published"), 5, "%s -> %s", before,
	             after);
	cr_expect_eq(field(after, "delivered") - field(before, "delivered"), 3, "%s -> %s", before,
	             after);
	cr_expect_eq(field(after, "dropped"), 0, "%s", after);
	cr_expect_gt(field(after, "bytes_in"), field(before, "bytes_in"));
	cr_expect_gt(field(after, "bytes_out"), field(before, "bytes_out"));
	cr_expect_geq(field(after, "uptime"), field(before, "uptime"));

	/* A client leaving takes its subscriptions with it. */
	th_close(s);
	wait_stat(p, "clients", 1);
	cr_expect_eq(stat_of(p, "subscriptions"), 0);
}

Test(protocol, quit_flushes_then_closes)
{
	enum { N = 1000 };
	char line[64];
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "PUB t m%d\n", i);
		xsend(p, line);
	}
	quiet(p);
	/* Everything owed is queued for s; QUIT (arguments ignored) must not lose it. */
	xsend(s, "QUIT now please\n");
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "MSG t m%d", i);
		expect_next(s, line);
	}
	cr_expect_eq(th_recv_eof(s, TH_TIMEOUT_MS), 0, "no EOF after QUIT (no BYE either)");
	quiet(p);
}

Test(protocol, commands_are_case_insensitive)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsend(c, "sub t\n");
	expect_next(c, "OK");
	xsend(c, "Pub t x\n");
	expect_next(c, "MSG t x");
	xsend(c, "pInG a\n");
	expect_next(c, "PONG a");
	xsend(c, "stats\n");
	cr_expect(strncmp(xrecv(c, NULL), "STATS ", 6) == 0);
	xsend(c, "uNsUb t\n");
	expect_next(c, "OK");
	xsend(c, "quit\n");
	cr_expect_eq(th_recv_eof(c, TH_TIMEOUT_MS), 0);
}

Test(protocol, crlf_lines)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsend(c, "SUB t\r\n");
	expect_next(c, "OK");
	xsend(c, "PUB t hello\r\n");
	expect_next(c, "MSG t hello");
	xsend(c, "PING x\r\n");
	expect_next(c, "PONG x");
	/* Only one '\r' is the line ending's; another is payload. */
	xsend(c, "PUB t cr\r\r\n");
	expect_next(c, "MSG t cr\r");
}

Test(protocol, payloads)
{
	long len;
	const char *line;
	int s, p;

	xstart(&b, NULL);
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	xsend(p, "PUB t\n");
	expect_next(s, "MSG t");
	xsend(p, "PUB t \n");
	expect_next(s, "MSG t");
	xsend(p, "PUB t  two  spaces \n");
	expect_next(s, "MSG t  two  spaces ");
	xsend_bytes(p, "PUB t a\0b\n", 10);
	line = xrecv(s, &len);
	cr_expect(len == 9 && memcmp(line, "MSG t a\0b", 9) == 0, "NUL in payload lost (%ld bytes)",
	          len);
	xsend_bytes(p, "PUB t \x01\x7f\xff\n", 10);
	line = xrecv(s, &len);
	cr_expect(len == 9 && memcmp(line, "MSG t \x01\x7f\xff", 9) == 0, "bytes changed");
	quiet(s);
}

Test(protocol, empty_lines_are_ignored)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsend(c, "\n\r\n\n");
	quiet(c);
}

/* Each bad line gets its ERR, nothing is delivered, the connection goes on. */
Test(protocol, errors)
{
	static const struct {
		const char *line;
		size_t len; /* 0: strlen */
		const char *code;
	} cases[] = {
		{ "FOO bar\n", 0, "unknown-command" },
		{ "FOO\n", 0, "unknown-command" },
		{ " PUB t x\n", 0, "unknown-command" },
		{ "PUBLISH t x\n", 0, "unknown-command" },
		{ "\0\0\0\n", 4, "unknown-command" },
		{ "PUB\n", 0, "bad-topic" },
		{ "PUB \n", 0, "bad-topic" },
		{ "PUB  x\n", 0, "bad-topic" },
		{ "PUB a+b x\n", 0, "bad-topic" },
		{ "PUB a/# x\n", 0, "bad-topic" },
		{ "PUB + x\n", 0, "bad-topic" },
		{ "PUB a\tb x\n", 0, "bad-topic" },
		{ "PUB a\0b x\n", 10, "bad-topic" },
		{ "PUB $SYS/x hi\n", 0, "forbidden" },
		{ "PUB $foo hi\n", 0, "forbidden" },
		{ "PUB $\n", 0, "forbidden" },
		{ "SUB\n", 0, "bad-filter" },
		{ "SUB \n", 0, "bad-filter" },
		{ "SUB a#\n", 0, "bad-filter" },
		{ "SUB a/#/b\n", 0, "bad-filter" },
		{ "SUB a+\n", 0, "bad-filter" },
		{ "SUB +a\n", 0, "bad-filter" },
		{ "SUB a b\n", 0, "bad-filter" },
		{ "SUB a\x01\n", 0, "bad-filter" },
		{ "UNSUB\n", 0, "bad-filter" },
		{ "UNSUB #/a\n", 0, "bad-filter" },
	};
	int c, w;

	xstart(&b, "sys_interval = 0\n"); /* no $SYS values either */
	w = xconnect(&b);
	xsub(w, "#");
	xsub(w, "$SYS/#");
	xsub(w, "$foo");
	c = xconnect(&b);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *line;
		size_t cl = strlen(cases[i].code);

		xsend_bytes(c, cases[i].line, cases[i].len ? cases[i].len : strlen(cases[i].line));
		line = xrecv(c, NULL);
		cr_expect(strncmp(line, "ERR ", 4) == 0 && strncmp(line + 4, cases[i].code, cl) == 0 &&
		                  (line[4 + cl] == '\0' || line[4 + cl] == ' '),
		          "case %zu: got \"%s\", want ERR %s", i, line, cases[i].code);
	}
	quiet(c);
	quiet(w); /* none of it was published */
	cr_expect_eq(stat_of(c, "subscriptions"), 3);
}

Test(protocol, topic_length_limit)
{
	char line[512], topic[300];
	int s, c;

	xstart(&b, "max_topic = 100\n");
	s = xconnect(&b);
	c = xconnect(&b);
	memset(topic, 'a', sizeof topic);
	topic[100] = '\0';
	snprintf(line, sizeof line, "SUB %s\n", topic);
	xsend(s, line);
	expect_next(s, "OK");
	snprintf(line, sizeof line, "PUB %s x\n", topic);
	xsend(c, line);
	quiet(c);
	topic[100] = 'a';
	topic[101] = '\0';
	snprintf(line, sizeof line, "PUB %s x\n", topic);
	xsend(c, line);
	expect_err(c, "bad-topic");
	snprintf(line, sizeof line, "SUB %s\n", topic);
	xsend(c, line);
	expect_err(c, "bad-filter");
	cr_expect_eq(strncmp(barrier(s), "MSG aaaa", 8), 0);
	quiet(s);
}

Test(protocol, max_subscriptions)
{
	int c, p;

	xstart(&b, "max_subscriptions = 3\n");
	c = xconnect(&b);
	p = xconnect(&b);
	xsub(c, "a");
	xsub(c, "b");
	xsub(c, "c/#");
	xsend(c, "SUB d\n");
	expect_err(c, "too-many-subscriptions");
	xsub(c, "a"); /* already held: OK even at the limit */
	xsend(p, "PUB d no\nPUB a yes\n");
	quiet(p);
	cr_expect_str_eq(barrier(c), "MSG a yes\n");
	xsend(c, "UNSUB a\n");
	expect_next(c, "OK");
	xsub(c, "d");
	/* The limit is per client. */
	xsub(p, "x");
	xsub(p, "y");
	xsub(p, "z");
	cr_expect_eq(stat_of(p, "subscriptions"), 6);
}

/* A line of max_line bytes counting its '\n' passes; one byte more does not. */
Test(protocol, max_line_is_inclusive)
{
	static char line[1100];
	int s, p;

	xstart(&b, "max_line = 1024\n");
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	memset(line, 'x', sizeof line);
	memcpy(line, "PUB t ", 6);
	line[1023] = '\n';
	xsend_bytes(p, line, 1024);
	quiet(p);
	{
		long len;
		const char *got = xrecv(s, &len);

		cr_expect_eq(len, 4 + 1 + 1 + 1017, "got %ld bytes", len);
		cr_expect(strncmp(got, "MSG t xxx", 9) == 0);
	}
	line[1023] = 'x';
	line[1024] = '\n';
	xsend_bytes(p, line, 1025);
	expect_err(p, "line-too-long");
	quiet(p);
	quiet(s);
	/* The same with "\r\n": the '\r' counts. */
	line[1022] = '\r';
	line[1023] = '\n';
	xsend_bytes(p, line, 1024);
	quiet(p);
	cr_expect_eq(strlen(barrier(s)), 4 + 1 + 1 + 1016 + 1);
}

/* The next line after a too-long one works, even in the same write. */
Test(protocol, line_too_long_then_next_line)
{
	static char buf[4096];
	size_t n = 0;
	int s, p;

	xstart(&b, "max_line = 1024\n");
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	n += (size_t)snprintf(buf + n, sizeof buf - n, "PUB t before\nPUB t ");
	memset(buf + n, 'y', 2000);
	n += 2000;
	n += (size_t)snprintf(buf + n, sizeof buf - n, "\nPUB t after\nPING z\n");
	xsend_bytes(p, buf, n);
	expect_err(p, "line-too-long");
	expect_next(p, "PONG z");
	cr_expect_str_eq(barrier(s), "MSG t before\nMSG t after\n");
}

/* 10 MiB without a newline, streamed: one ERR, the broker's memory stays
 * bounded, the connection works afterwards. */
Test(protocol, huge_line_streamed)
{
	static char chunk[65536];
	long rss0, rss_max = 0;
	int s, p;

	xstart(&b, "max_line = 64K\n");
	s = xconnect(&b);
	p = xconnect(&b);
	xsub(s, "t");
	quiet(p);
	rss0 = th_proc_status_kb(b.pid, "VmRSS");
	cr_assert_gt(rss0, 0);
	memset(chunk, 'z', sizeof chunk);
	memcpy(chunk, "PUB t ", 6);
	xsend_bytes(p, chunk, sizeof chunk);
	memset(chunk, 'z', 6);
	for (int i = 1; i < 160; i++) {
		long rss;

		xsend_bytes(p, chunk, sizeof chunk);
		rss = th_proc_status_kb(b.pid, "VmRSS");
		if (rss > rss_max)
			rss_max = rss;
	}
	xsend(p, "\nPUB t fine\n");
	expect_err(p, "line-too-long");
	quiet(p);
	cr_expect_str_eq(barrier(s), "MSG t fine\n");
	/* Buffering the line would cost 10 MiB; allow a few max_lines of slack. */
	expect_rss_growth_below(rss0, rss_max, 4 * 64 + 2048, "10 MiB line");
}

/* Binary garbage: an ERR per non-empty line, and both sides live on. */
Test(protocol, garbage)
{
	static char buf[1 << 16];
	unsigned seed = 12345;
	size_t n = 0, lines = 0;
	int c, w;

	xstart(&b, NULL);
	w = xconnect(&b);
	xsub(w, "#");
	c = xconnect(&b);
	while (n < sizeof buf - 200) {
		size_t len = 1 + (rand_r(&seed) % 150);

		/* A control byte first: never a command word, never empty. */
		buf[n++] = (char)(1 + rand_r(&seed) % 8);
		for (size_t i = 1; i < len; i++) {
			char ch = (char)(rand_r(&seed) & 0xff);

			buf[n++] = ch == '\n' ? '\0' : ch;
		}
		buf[n++] = '\n';
		lines++;
	}
	xsend_bytes(c, buf, n);
	for (size_t i = 0; i < lines; i++)
		expect_err(c, "unknown-command");
	quiet(c);
	quiet(w);
	/* And a fresh client still gets served. */
	quiet(xconnect(&b));
}
