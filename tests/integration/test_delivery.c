/* Delivery under load against the real daemon: ordering, slow consumers,
 * client limits, many clients, half-closed publishers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(delivery, .fini = stop, .timeout = 120);

/* Appends "PUB topic <prefix><i>\n" for i in [from, to) to buf. */
static size_t
pubs(char *buf, size_t size, const char *topic, const char *prefix, int from, int to)
{
	size_t n = 0;

	for (int i = from; i < to; i++) {
		n += (size_t)snprintf(buf + n, size - n, "PUB %s %s%d\n", topic, prefix, i);
		cr_assert_lt(n, size);
	}
	return n;
}

Test(delivery, order_of_10000)
{
	enum { N = 10000, SUBS = 3 };
	static char buf[N * 32];
	char want[64];
	int s[SUBS], p;
	size_t n;

	xstart(&b, NULL);
	for (int i = 0; i < SUBS; i++) {
		s[i] = xconnect(&b);
		xsub(s[i], i == 0 ? "seq" : i == 1 ? "#" : "+");
	}
	p = xconnect(&b);
	n = pubs(buf, sizeof buf, "seq", "", 0, N);
	xsend_bytes(p, buf, n);
	quiet(p);
	for (int i = 0; i < SUBS; i++) {
		for (int k = 0; k < N; k++) {
			snprintf(want, sizeof want, "MSG seq %d", k);
			expect_next(s[i], want);
		}
		quiet(s[i]);
	}
}

/* Two publishers at once: each one's messages keep their order. */
Test(delivery, order_per_publisher)
{
	enum { N = 5000 };
	static char buf_a[N * 32], buf_b[N * 32];
	int next[2] = { 0, 0 };
	int s, pa, pb;
	size_t na, nb, off_a = 0, off_b = 0;

	xstart(&b, NULL);
	s = xconnect(&b);
	xsub(s, "t");
	pa = xconnect(&b);
	pb = xconnect(&b);
	na = pubs(buf_a, sizeof buf_a, "t", "a", 0, N);
	nb = pubs(buf_b, sizeof buf_b, "t", "b", 0, N);
	/* Interleave the two streams in chunks that split lines anywhere. */
	while (off_a < na || off_b < nb) {
		size_t ca = na - off_a < 777 ? na - off_a : 777;
		size_t cb = nb - off_b < 555 ? nb - off_b : 555;

		xsend_bytes(pa, buf_a + off_a, ca);
		xsend_bytes(pb, buf_b + off_b, cb);
		off_a += ca;
		off_b += cb;
	}
	quiet(pa);
	quiet(pb);
	for (int k = 0; k < 2 * N; k++) {
		const char *line = xrecv(s, NULL);
		int who, seq;

		cr_assert(strncmp(line, "MSG t ", 6) == 0 && (line[6] == 'a' || line[6] == 'b'),
		          "%s", line);
		who = line[6] - 'a';
		seq = atoi(line + 7);
		cr_assert_eq(seq, next[who], "publisher %c: got %d, want %d", 'a' + who, seq,
		             next[who]);
		next[who]++;
	}
	quiet(s);
}

/* Pipelined PUBs to one topic go out as a burst, one frame per subscriber;
 * a line that cannot join one (another topic, lower case, a '\r', a space
 * and no payload, a command) ends it. Either way every message arrives
 * once, in order, framed as if sent alone: at a plain subscriber, a
 * wildcard one, the publisher itself, and a meta subscriber, which takes a
 * burst message by message. The counters count messages, not bursts. */
Test(delivery, bursts_keep_every_message_and_its_frame)
{
	enum { N = 2000 };
	static const char *const want[] = {
		"MSG b 0",   "MSG b 1",   "MSG b", "MSG b 3 x", "MSG b", "MSG b 5", "MSG b 6",
		"MSG b 7",   "MSG b/c 8", "MSG b 9", "PONG mid",  "MSG b 10", "MSG b 11",
	};
	static char buf[N * 32];
	char line[256];
	const char *meta;
	int plain, wild, self, m;
	size_t n;

	xstart(&b, "sys_interval = 0\n");
	plain = xconnect(&b);
	xsub(plain, "b");
	wild = xconnect(&b);
	xsub(wild, "#");
	m = xconnect(&b);
	xsend(m, "OPT meta on\n");
	expect_next(m, "OK");
	xsub(m, "b");
	self = xconnect(&b);
	xsub(self, "b");
	meta = own_meta("main");

	xsend(self, "PUB b 0\nPUB b 1\nPUB b\nPUB b 3 x\nPUB b \nPUB b 5\r\nPUB b 6\npub b 7\n"
	            "PUB b/c 8\nPUB b 9\nPING mid\nPUB b 10\nPUB b 11\n");
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		bool pong = strcmp(want[i], "PONG mid") == 0, other = strcmp(want[i], "MSG b/c 8") == 0;

		if (pong || !other)
			expect_next(self, want[i]);
		if (pong)
			continue;
		if (!other)
			expect_next(plain, want[i]);
		expect_next(wild, want[i]);
		if (other)
			continue;
		/* With meta: "MSG b <meta>[ <payload>]". */
		snprintf(line, sizeof line, "MSG b %s%s", meta, want[i] + 5);
		expect_next(m, line);
	}
	quiet(self);

	/* A long burst, split across reads wherever the kernel likes. */
	n = pubs(buf, sizeof buf, "b", "", 0, N);
	xsend_bytes(self, buf, n);
	for (int k = 0; k < N; k++) {
		snprintf(line, sizeof line, "MSG b %d", k);
		expect_next(self, line);
		expect_next(plain, line);
		expect_next(wild, line);
		snprintf(line, sizeof line, "MSG b %s %d", meta, k);
		expect_next(m, line);
	}
	quiet(self);
	quiet(plain);
	quiet(wild);
	quiet(m);
	cr_expect_eq(stat_of(self, "published"), 12 + N);
	cr_expect_eq(stat_of(self, "delivered"), 4 * (11 + N) + 1);
	cr_expect_eq(stat_of(self, "dropped"), 0);
}

/* Publishes count messages of about size bytes on topic, numbered from 0,
 * watching the broker's RSS; returns the largest RSS seen (KiB). */
static long
flood(int p, const char *topic, int count, size_t size)
{
	static char buf[1 << 20];
	long rss_max = 0;
	size_t n = 0;

	for (int i = 0; i < count; i++) {
		int len = snprintf(buf + n, sizeof buf - n, "PUB %s %d ", topic, i);

		cr_assert_gt(len, 0);
		n += (size_t)len;
		memset(buf + n, 'd', size);
		n += size;
		buf[n++] = '\n';
		if (sizeof buf - n < size + 64 || i == count - 1) {
			long rss;

			/* The broker must take it all: a blocked publisher times out here. */
			cr_assert_eq(th_send_all(p, buf, n), 0,
			             "publisher stuck at message %d: %s (timed out: blocked)", i,
			             strerror(errno));
			n = 0;
			rss = th_proc_status_kb(b.pid, "VmRSS");
			if (rss > rss_max)
				rss_max = rss;
		}
	}
	return rss_max;
}

/* slow_consumer = drop: the publisher is never held up, memory stays
 * bounded, and the slow subscriber learns exactly how much it lost. */
Test(delivery, slow_consumer_drop)
{
	enum { COUNT = 32768, SIZE = 1000, QUEUE_KB = 64, LINE_KB = 4 };
	long long delivered = 0, dropped = 0, notices = 0;
	long rss0, rss_max;
	int s, p, last = -1;

	xstart(&b, "queue_limit = 64K\nmax_line = 4K\nslow_consumer = drop\n");
	s = xconnect(&b);
	xsub(s, "t");
	p = xconnect(&b);
	quiet(p);
	rss0 = th_proc_status_kb(b.pid, "VmRSS");

	/* 32 MiB at a subscriber that does not read. */
	rss_max = flood(p, "t", COUNT, SIZE);
	quiet(p); /* every PUB handled: the publisher was not blocked */
	/* Queueing it would cost 32 MiB; the queue may hold 64 KiB + a line. */
	expect_rss_growth_below(rss0, rss_max, 16 * (QUEUE_KB + LINE_KB) + 4096, "32 MiB flood");

	/* Now it reads: what came plus what was reported lost is everything. */
	while (delivered + dropped < COUNT) {
		long len;
		const char *line = xrecv(s, &len);

		if (strncmp(line, "MSG t ", 6) == 0) {
			int seq = atoi(line + 6);

			cr_assert_gt(seq, last, "out of order: %d after %d", seq, last);
			cr_assert_eq(len, (long)(6 + strlen(line + 6)));
			last = seq;
			delivered++;
		} else if (strncmp(line, "DROPPED ", 8) == 0) {
			long long k = atoll(line + 8);

			cr_assert_gt(k, 0, "\"%s\"", line);
			dropped += k;
			notices++;
		} else {
			cr_assert_fail("unexpected line \"%.100s\"", line);
		}
	}
	cr_log_info("drop: delivered %lld, dropped %lld in %lld notices", delivered, dropped,
	            notices);
	cr_expect_eq(delivered + dropped, COUNT, "delivered %lld + dropped %lld", delivered,
	             dropped);
	cr_expect_gt(dropped, 0);
	cr_expect_geq(notices, 1);
	quiet(s); /* nothing more is owed */
	cr_expect_eq(stat_of(p, "dropped"), dropped);
	/* The slow subscriber is still a subscriber. */
	xsend(p, "PUB t after\n");
	quiet(p);
	expect_next(s, "MSG t after");
}

/* slow_consumer = disconnect: the slow subscriber gets BYE slow-consumer as
 * its last line, then EOF; the publisher and the broker go on. */
Test(delivery, slow_consumer_disconnect)
{
	enum { COUNT = 8192, SIZE = 1000 };
	size_t lines;
	const char *last;
	int s, p, w;

	xstart(&b, "queue_limit = 64K\nmax_line = 4K\nslow_consumer = disconnect\n");
	s = xconnect(&b);
	xsub(s, "t");
	w = xconnect(&b); /* a subscriber that keeps up */
	xsub(w, "other");
	p = xconnect(&b);
	flood(p, "t", COUNT, SIZE);
	quiet(p);
	last = read_to_eof(s, &lines);
	cr_log_info("disconnect: %zu lines, the last \"%s\"", lines, last);
	cr_expect_str_eq(last, "BYE slow-consumer", "last of %zu lines", lines);
	cr_expect_lt(lines, COUNT, "it was not disconnected");
	wait_stat(p, "clients", 2);
	xsend(p, "PUB other still\n");
	quiet(p);
	expect_next(w, "MSG other still");
}

/* A publisher that is its own slow subscriber (drop): it is never blocked,
 * and when it reads, its own messages and DROPPED add up. */
Test(delivery, slow_consumer_drop_self)
{
	enum { COUNT = 16384, SIZE = 1000 };
	long long delivered = 0, dropped = 0;
	int c, w;

	xstart(&b, "queue_limit = 64K\nmax_line = 4K\nslow_consumer = drop\n");
	c = xconnect(&b);
	xsub(c, "t");
	flood(c, "t", COUNT, SIZE);
	while (delivered + dropped < COUNT) {
		const char *line = xrecv(c, NULL);

		if (strncmp(line, "MSG t ", 6) == 0)
			delivered++;
		else if (strncmp(line, "DROPPED ", 8) == 0)
			dropped += atoll(line + 8);
		else
			cr_assert_fail("unexpected line \"%.100s\"", line);
	}
	cr_log_info("self drop: delivered %lld, dropped %lld", delivered, dropped);
	cr_expect_eq(delivered + dropped, COUNT);
	cr_expect_gt(dropped, 0);
	quiet(c);
	w = xconnect(&b);
	quiet(w);
}

/* A publisher that is its own slow subscriber (disconnect): it is closed
 * in the middle of its own publishing, and the broker survives that. It
 * reads only once its sends fail; what the broker owed it (64 KiB of
 * queue and the BYE) fits in the kernel's socket buffer, so the BYE is
 * there for it to read. */
Test(delivery, slow_consumer_disconnect_self)
{
	enum { COUNT = 16384, SIZE = 1000 };
	static char buf[1 << 20];
	const char *last;
	size_t n = 0, lines;
	int c;

	xstart(&b, "queue_limit = 64K\nmax_line = 4K\nslow_consumer = disconnect\n");
	c = xconnect(&b);
	xsub(c, "t");
	/* Send until the broker closes us (EPIPE or ECONNRESET). */
	for (int i = 0; i < COUNT; i++) {
		n += (size_t)snprintf(buf + n, sizeof buf - n, "PUB t %d ", i);
		memset(buf + n, 's', SIZE);
		n += SIZE;
		buf[n++] = '\n';
		if (sizeof buf - n < SIZE + 64 || i == COUNT - 1) {
			if (th_send_all(c, buf, n) < 0) {
				cr_assert_neq(errno, ETIMEDOUT, "publisher blocked for %d ms",
				              TH_TIMEOUT_MS);
				break;
			}
			n = 0;
		}
	}
	last = read_to_eof(c, &lines);
	cr_log_info("self disconnect: %zu lines, the last \"%.40s\"", lines, last);
	cr_expect_str_eq(last, "BYE slow-consumer", "last of %zu lines", lines);
	quiet(xconnect(&b));
	cr_expect_eq(kill(b.pid, 0), 0);
}

/* A client beyond max_clients is told so and closed; others are unharmed. */
Test(delivery, max_clients)
{
	int c[3], extra, late;
	const char *line;

	xstart(&b, "max_clients = 3\n");
	c[0] = xconnect(&b);
	wait_stat(c[0], "clients", 1); /* the start-up probe is gone */
	c[1] = xconnect(&b);
	c[2] = xconnect(&b);
	quiet(c[1]);
	quiet(c[2]);
	wait_stat(c[0], "clients", 3);

	extra = xconnect(&b);
	line = xrecv(extra, NULL);
	cr_expect(strncmp(line, "ERR server-busy", 15) == 0 && (line[15] == '\0' || line[15] == ' '),
	          "got \"%s\"", line);
	cr_expect_eq(th_recv_eof(extra, TH_TIMEOUT_MS), 0, "no EOF after server-busy");
	for (int i = 0; i < 3; i++)
		quiet(c[i]);

	/* A place freed is a place taken. */
	th_close(c[2]);
	wait_stat(c[0], "clients", 2);
	late = xconnect(&b);
	quiet(late);
	cr_expect_eq(stat_of(c[0], "clients"), 3);
}

/* A thousand clients at once, each subscribed, each receiving. */
Test(delivery, thousand_clients)
{
	enum { N = 1000 };
	static int c[N];
	int p;

	if (th_raise_nofile() < N + 64)
		cr_skip_test("RLIMIT_NOFILE too low for %d clients", N);
	xstart(&b, NULL);
	for (int i = 0; i < N; i++) {
		c[i] = xconnect(&b);
		xsend(c[i], i % 2 ? "SUB room/+\n" : "SUB room/#\n");
	}
	for (int i = 0; i < N; i++)
		expect_next(c[i], "OK");
	p = xconnect(&b);
	cr_expect_eq(stat_of(p, "subscriptions"), N);
	wait_stat(p, "clients", N + 1);
	xsend(p, "PUB room/1 hello everyone\n");
	quiet(p);
	for (int i = 0; i < N; i++)
		expect_next(c[i], "MSG room/1 hello everyone");
	cr_expect_eq(stat_of(p, "delivered"), N);
	for (int i = 0; i < N; i++)
		th_close(c[i]);
	wait_stat(p, "clients", 1);
	cr_expect_eq(stat_of(p, "subscriptions"), 0);
}

/* EOF is like QUIT: complete lines are all processed, then the broker
 * closes; a partial last line is never published. */
Test(delivery, half_close_delivers_everything)
{
	enum { N = 2000 };
	static char buf[N * 32];
	char want[64];
	int s, p;
	size_t n;

	xstart(&b, NULL);
	s = xconnect(&b);
	xsub(s, "t");
	p = xconnect(&b);
	n = pubs(buf, sizeof buf, "t", "m", 0, N);
	n += (size_t)snprintf(buf + n, sizeof buf - n, "PUB t partial");
	xsend_bytes(p, buf, n);
	cr_assert_eq(shutdown(p, SHUT_WR), 0);
	/* The broker owes the publisher nothing: EOF, no line. */
	cr_expect_eq(th_recv_eof(p, TH_TIMEOUT_MS), 0, "publisher got %zu bytes, or no EOF",
	             th_recv_pending(p));
	for (int k = 0; k < N; k++) {
		snprintf(want, sizeof want, "MSG t m%d", k);
		expect_next(s, want);
	}
	quiet(s); /* and not "MSG t partial" */
}

/* A subscriber that closes with messages queued costs nobody else. */
Test(delivery, subscriber_vanishes)
{
	enum { N = 3000 };
	static char buf[N * 32];
	int s1, s2, p;
	size_t n;

	xstart(&b, NULL);
	s1 = xconnect(&b);
	s2 = xconnect(&b);
	xsub(s1, "t");
	xsub(s2, "t");
	p = xconnect(&b);
	n = pubs(buf, sizeof buf, "t", "", 0, N);
	xsend_bytes(p, buf, n / 2);
	th_close(s1);
	xsend_bytes(p, buf + n / 2, n - n / 2);
	quiet(p);
	for (int k = 0; k < N; k++) {
		char want[32];

		snprintf(want, sizeof want, "MSG t %d", k);
		expect_next(s2, want);
	}
	wait_stat(p, "clients", 2);
}
