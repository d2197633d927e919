/* Shared subscriptions (queue groups), against the real daemon:
 * "SUB $share/GROUP/FILTER" hands each matching message to exactly one
 * member of each group. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static struct th_daemon b;

static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(shared, .fini = stop, .timeout = 600);

/* A client whose lines are read as they come, alongside others. */
struct worker {
	int fd;
	long got;           /* "MSG <prefix><n> ..." lines */
	long dropped;       /* the sum of its DROPPED lines */
	bool ponged;        /* its "PONG <tag>" came */
	bool reading;       /* read by pump (a stopped worker is not) */
	const char *id;     /* for messages */
	unsigned char *own; /* if set, its own count of each message, else seen */
};

/* Each message number, how many times it arrived (all workers together). */
static unsigned char *seen;
static long nseen;

/* Takes the complete lines w has read ahead: MSG lines are counted in
 * seen, DROPPED added up, PONG noted; anything else fails the test. */
static void
take_lines(struct worker *w, const char *prefix, const char *tag)
{
	size_t plen = strlen(prefix), len;
	char *line;

	while ((line = th_next_line(w->fd, &len)) != NULL) {
		long k, n;

		if (strncmp(line, "MSG ", 4) == 0 && strncmp(line + 4, prefix, plen) == 0 &&
		    sscanf(line + 4 + plen, "%ld", &k) == 1) {
			unsigned char *count = w->own != NULL ? w->own : seen;

			cr_assert(k >= 0 && k < nseen, "%s: \"%.100s\"", w->id, line);
			cr_assert_eq(count[k], 0, "%s: message %ld came a second time", w->id, k);
			count[k]++;
			w->got++;
		} else if (sscanf(line, "DROPPED %ld", &n) == 1) {
			w->dropped += n;
		} else if (tag != NULL && strncmp(line, "PONG ", 5) == 0 &&
		           strcmp(line + 5, tag) == 0) {
			w->ponged = true;
		} else {
			cr_assert_fail("%s: unexpected \"%.100s\"", w->id, line);
		}
	}
}

/* Reads whatever the reading workers have, waiting at most ms for the
 * first of them to have something. */
static void
pump(struct worker *w, int n, const char *prefix, const char *tag, int ms)
{
	struct pollfd pfd[8];
	int k = 0;

	for (int i = 0; i < n; i++)
		if (w[i].reading)
			pfd[k++] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
	if (poll(pfd, (nfds_t)k, ms) <= 0)
		return;
	for (int i = 0; i < n; i++) {
		if (!w[i].reading)
			continue;
		cr_assert_geq(th_read_some(w[i].fd, 1 << 20), 0, "%s: read failed", w[i].id);
		cr_assert(!th_at_eof(w[i].fd), "%s: the broker closed it", w[i].id);
		take_lines(&w[i], prefix, tag);
	}
}

/* Sends "PING tag" to the reading workers and reads until each answered:
 * everything queued to them before is then read. */
static void
settle(struct worker *w, int n, const char *prefix, const char *tag)
{
	char cmd[64];
	long long deadline = th_now_ms() + TH_TIMEOUT_MS * 3;
	bool all;

	snprintf(cmd, sizeof cmd, "PING %s\n", tag);
	for (int i = 0; i < n; i++) {
		w[i].ponged = false;
		if (w[i].reading)
			xsend(w[i].fd, cmd);
	}
	do {
		pump(w, n, prefix, tag, 100);
		all = true;
		for (int i = 0; i < n; i++)
			all = all && (!w[i].reading || w[i].ponged);
		cr_assert_gt(th_left_ms(deadline), 0, "no PONG %s from every worker", tag);
	} while (!all);
}

/* settle for workers that may have overflowed. A PING read while a
 * worker's queue is full is answered behind that queue, but its DROPPED
 * line only once the queue has drained below half, maybe after the PONG;
 * by the time that PONG is read it has been queued, so a second PING's
 * answer comes after it. */
static void
settle_drops(struct worker *w, int n, const char *prefix, const char *tag)
{
	char again[64];

	settle(w, n, prefix, tag);
	snprintf(again, sizeof again, "%s-again", tag);
	settle(w, n, prefix, again);
}

/* Publishes "PUB <topic_prefix><i> <i> <pad>" for i in [from, n), chunk
 * by chunk, reading the workers meanwhile; then waits for the publisher's
 * PONG, which proves every PUB was handled. */
static void
publish_range(int pub, struct worker *w, int nw, const char *topic_prefix, const char *prefix,
              long from, long n, size_t pad)
{
	enum { CHUNK = 500 };
	size_t cap = CHUNK * (pad + 128), used;
	char *buf = malloc(cap), *padding = malloc(pad + 1);

	cr_assert(buf != NULL && padding != NULL);
	memset(padding, 'x', pad);
	padding[pad] = '\0';
	for (long i = from; i < n;) {
		used = 0;
		for (long end = i + CHUNK < n ? i + CHUNK : n; i < end; i++)
			used += (size_t)snprintf(buf + used, cap - used, "PUB %s%ld %ld %s\n",
			                         topic_prefix, i, i, padding);
		xsend_bytes(pub, buf, used);
		pump(w, nw, prefix, NULL, 0);
	}
	xsend(pub, "PING published\n");
	for (long long deadline = th_now_ms() + TH_TIMEOUT_MS * 3;;) {
		if (th_readable(pub, 0)) {
			expect_next(pub, "PONG published");
			break;
		}
		pump(w, nw, prefix, NULL, 20);
		cr_assert_gt(th_left_ms(deadline), 0, "no PONG from the publisher");
	}
	free(buf);
	free(padding);
}

/* publish_range from 0. */
static void
publish_all(int pub, struct worker *w, int nw, const char *topic_prefix, const char *prefix, long n,
            size_t pad)
{
	publish_range(pub, w, nw, topic_prefix, prefix, 0, n, pad);
}

/* Connects n workers, each subscribing to filter. */
static void
connect_workers(struct worker *w, int n, const char *filter)
{
	for (int i = 0; i < n; i++) {
		w[i].fd = xconnect(&b);
		xsub(w[i].fd, filter);
	}
}

static void
seen_reset(long n)
{
	free(seen);
	seen = calloc((size_t)n, 1);
	nseen = n;
	cr_assert(seen != NULL);
}

/* Three workers of one group: each of 30,000 messages reaches exactly one
 * of them, none is lost, and their shares are within 10 % of each other. */
Test(shared, three_workers_share_every_message_once)
{
	enum { N = 30000 };
	struct worker w[3] = {
		{ .id = "worker 1", .reading = true },
		{ .id = "worker 2", .reading = true },
		{ .id = "worker 3", .reading = true },
	};
	long lo = N, hi = 0;
	int pub;

	seen_reset(N);
	xstart(&b, "sys_interval = 0\n");
	connect_workers(w, 3, "$share/workers/jobs/#");
	pub = xconnect(&b);
	cr_expect_eq(stat_of(pub, "subscriptions"), 3, "each member holds one subscription");
	publish_all(pub, w, 3, "jobs/", "jobs/", N, 16);
	settle(w, 3, "jobs/", "done");
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(w[i].dropped, 0, "%s: nothing was over its limit", w[i].id);
		lo = w[i].got < lo ? w[i].got : lo;
		hi = w[i].got > hi ? w[i].got : hi;
	}
	for (long k = 0; k < N; k++)
		cr_assert_eq(seen[k], 1, "message %ld came %d times", k, seen[k]);
	cr_expect_leq((hi - lo) * 10, hi, "shares %ld, %ld, %ld: not within 10 %%", w[0].got,
	              w[1].got, w[2].got);
	cr_expect_eq(stat_of(pub, "delivered"), N, "one delivery per message");
}

/* A worker that stops reading in the middle of the stream is passed over
 * once its queue is over half its limit, while the others take the
 * messages; nothing is lost silently: each message is delivered once or
 * counted as dropped. */
Test(shared, stalled_worker_is_passed_over_nothing_lost)
{
	enum { N = 30000, FIRST = N / 3 };
	struct worker w[3] = {
		{ .id = "worker 1", .reading = true },
		{ .id = "worker 2", .reading = true },
		{ .id = "stalling worker", .reading = true },
	};
	long dropped = 0, got = 0, before, others;
	int pub;

	seen_reset(N);
	xstart(&b, "sys_interval = 0\nqueue_limit = 512K\n");
	connect_workers(w, 3, "$share/workers/jobs/#");
	pub = xconnect(&b);
	/* 200-byte payloads: 6 MB in all, 2 MB a fair share, far more than
	 * a worker's socket buffer and queue limit hold. */
	publish_range(pub, w, 3, "jobs/", "jobs/", 0, FIRST, 200);
	settle(w, 3, "jobs/", "first");
	cr_expect(labs(w[2].got - FIRST / 3) <= FIRST / 30,
	          "%ld of the first %d: not about a third, as the others", w[2].got, FIRST);
	before = w[2].got;
	others = w[0].got + w[1].got;
	/* It stops reading; the rest is published. */
	w[2].reading = false;
	publish_range(pub, w, 3, "jobs/", "jobs/", FIRST, N, 200);
	settle(w, 2, "jobs/", "readers");
	cr_expect_eq(w[2].got, before, "nothing read from the stalled worker meanwhile");
	/* Now it reads what it was given, and the DROPPED count. */
	w[2].reading = true;
	settle_drops(w, 3, "jobs/", "all");
	for (int i = 0; i < 3; i++) {
		dropped += w[i].dropped;
		got += w[i].got;
	}
	cr_expect_eq(got + dropped, N, "got %ld, dropped %ld: some lost silently", got, dropped);
	cr_expect_eq(stat_of(pub, "dropped"), dropped, "DROPPED lines match the counter");
	cr_expect_lt(w[2].got - before, (N - FIRST) / 6,
	             "the stalled worker got %ld of the last %d: it was not passed over",
	             w[2].got - before, N - FIRST);
	cr_expect_gt(w[0].got + w[1].got - others, (N - FIRST) / 2, "the others took them");
}

/* A member that leaves, by UNSUB or by closing, gets no more; the others
 * go on. */
Test(shared, a_member_that_leaves_gets_no_more)
{
	enum { N = 30 };
	struct worker w[3] = {
		{ .id = "stays", .reading = true },
		{ .id = "unsubscribes", .reading = true },
		{ .id = "closes", .reading = true },
	};
	int pub;

	seen_reset(N);
	xstart(&b, "sys_interval = 0\n");
	connect_workers(w, 3, "$share/g/t/+");
	pub = xconnect(&b);
	publish_all(pub, w, 3, "t/", "t/", N, 0);
	settle(w, 3, "t/", "first");
	for (int i = 0; i < 3; i++)
		cr_expect_eq(w[i].got, N / 3, "%s: round robin gives each a third", w[i].id);

	xsend(w[1].fd, "UNSUB $share/g/t/+\n");
	expect_next(w[1].fd, "OK");
	th_close(w[2].fd);
	w[2].reading = false;
	wait_stat(pub, "clients", 3);
	cr_expect_eq(stat_of(pub, "subscriptions"), 1);
	seen_reset(N);
	w[0].got = w[1].got = 0;
	publish_all(pub, w, 2, "t/", "t/", N, 0);
	settle(w, 2, "t/", "second");
	cr_expect_eq(w[0].got, N, "the one left takes them all");
	cr_expect_eq(w[1].got, 0, "the one that left got %ld", w[1].got);

	/* The last one leaving takes the group with it. */
	xsend(w[0].fd, "UNSUB $share/g/t/+\n");
	expect_next(w[0].fd, "OK");
	cr_expect_eq(stat_of(pub, "subscriptions"), 0);
	xsend(pub, "PUB t/x nobody\n");
	quiet(w[0].fd);
	quiet(w[1].fd);
}

/* A member that also holds a matching plain filter receives each message
 * once, whether or not the group chose it; when the group chose it, that
 * one delivery was the group's too (the other member does not get it). */
Test(shared, plain_and_shared_overlap_deliver_once)
{
	enum { N = 100 };
	static unsigned char own[2][N];
	struct worker w[2] = {
		{ .id = "member with a plain filter", .reading = true, .own = own[0] },
		{ .id = "member", .reading = true, .own = own[1] },
	};
	int pub;

	for (int order = 0; order < 2; order++) {
		seen_reset(N);
		memset(own, 0, sizeof own);
		xstart(&b, "sys_interval = 0\n");
		w[0].fd = xconnect(&b);
		w[1].fd = xconnect(&b);
		if (order == 0)
			xsub(w[0].fd, "t/a");
		xsub(w[0].fd, "$share/g/t/#");
		xsub(w[1].fd, "$share/g/t/#");
		if (order == 1)
			xsub(w[0].fd, "t/a");
		pub = xconnect(&b);

		/* t/a: the plain filter has every one; the group's turns that
		 * fall on the other member give it those, and no more. */
		w[0].got = w[1].got = 0;
		publish_all(pub, w, 2, "t/a ", "t/a ", N, 0);
		settle(w, 2, "t/a ", "a");
		cr_expect_eq(w[0].got, N, "order %d: each exactly once", order);
		/* Half the group's turns are the other member's: each of
		 * them is a message the first one did not get twice. */
		cr_expect_eq(w[1].got, N / 2, "order %d: the other member got %ld", order,
		             w[1].got);
		cr_expect_eq(stat_of(pub, "delivered"), N + N / 2, "order %d", order);

		/* t/b: only the group matches; one member each. */
		memset(own, 0, sizeof own);
		w[0].own = w[1].own = NULL;
		seen_reset(N);
		w[0].got = w[1].got = 0;
		publish_all(pub, w, 2, "t/b ", "t/b ", N, 0);
		settle(w, 2, "t/b ", "b");
		cr_expect_eq(w[0].got, N / 2, "order %d", order);
		cr_expect_eq(w[1].got, N / 2, "order %d", order);
		th_close(w[0].fd);
		th_close(w[1].fd);
		th_close(pub);
		w[0].own = own[0];
		w[1].own = own[1];
		cr_expect_eq(th_stop(&b), 0);
	}
}

/* A group of one takes a pipelined burst whole, as a plain subscriber
 * does, and still gives each message once: to a member that holds a plain
 * filter too and is the only member of two groups, in either order of
 * subscribing; and to one that stops reading, whose queue overflows: what
 * it was not given is DROPPED, nothing lost silently. */
Test(shared, a_group_of_one_gives_each_message_once)
{
	enum { N = 6000 };
	static unsigned char own[2][N];
	struct worker w[2] = {
		{ .id = "member of two groups, with a plain filter", .reading = true },
		{ .id = "sole member", .reading = true },
	};
	int pub;

	for (int order = 0; order < 2; order++) {
		memset(own, 0, sizeof own);
		w[0].own = own[0];
		w[1].own = own[1];
		seen_reset(N);
		xstart(&b, "sys_interval = 0\nqueue_limit = 256K\n");
		w[0].fd = xconnect(&b);
		w[1].fd = xconnect(&b);
		if (order == 0)
			xsub(w[0].fd, "t/a");
		xsub(w[0].fd, "$share/g/t/#");
		xsub(w[0].fd, "$share/h/t/+");
		if (order == 1)
			xsub(w[0].fd, "t/a");
		xsub(w[1].fd, "$share/k/t/a");
		pub = xconnect(&b);

		w[0].got = w[1].got = w[0].dropped = w[1].dropped = 0;
		publish_all(pub, w, 2, "t/a ", "t/a ", N, 0);
		settle(w, 2, "t/a ", "a");
		cr_expect_eq(w[0].got, N, "order %d: %ld", order, w[0].got);
		cr_expect_eq(w[1].got, N, "order %d: %ld", order, w[1].got);
		cr_expect_eq(stat_of(pub, "delivered"), 2 * N, "order %d", order);

		/* The sole member stops reading: 200-byte payloads, 1.3 MB,
		 * far over its queue limit and socket buffer. */
		memset(own, 0, sizeof own);
		seen_reset(N);
		w[0].got = w[1].got = 0;
		w[1].reading = false;
		publish_all(pub, w, 2, "t/a ", "t/a ", N, 200);
		settle(w, 1, "t/a ", "b");
		w[1].reading = true;
		settle_drops(w, 2, "t/a ", "c");
		cr_expect_gt(w[1].dropped, 0, "order %d: its queue never overflowed", order);
		/* The reader may fall behind too: it is owed the same. */
		for (int i = 0; i < 2; i++)
			cr_expect_eq(w[i].got + w[i].dropped, N, "order %d, %s: got %ld, dropped %ld",
			             order, w[i].id, w[i].got, w[i].dropped);
		cr_expect_eq(stat_of(pub, "dropped"), w[0].dropped + w[1].dropped, "order %d",
		             order);
		th_close(w[0].fd);
		th_close(w[1].fd);
		th_close(pub);
		cr_expect_eq(th_stop(&b), 0);
	}
}

/* Pipelined bursts to a group of two, one of whose members holds a plain
 * filter too and stops reading, so that it takes the bursts message by
 * message once its queue is full: it is offered each message once (the
 * group's turns on it are that delivery), what it was not given is
 * DROPPED, and the other member still has every one of its turns. */
Test(shared, a_slow_member_with_a_plain_filter_gets_each_message_once)
{
	enum { N = 6000 };
	static unsigned char own[2][N];
	struct worker w[2] = {
		{ .id = "stalled member with a plain filter", .own = own[0] },
		{ .id = "member", .reading = true, .own = own[1] },
	};
	int pub;

	xstart(&b, "sys_interval = 0\nqueue_limit = 256K\n");
	w[0].fd = xconnect(&b);
	w[1].fd = xconnect(&b);
	xsub(w[0].fd, "t/a");
	xsub(w[0].fd, "$share/g/t/#");
	xsub(w[1].fd, "$share/g/t/#");
	pub = xconnect(&b);

	/* 200-byte payloads, 1.3 MB: far over its queue limit. */
	seen_reset(N);
	publish_all(pub, w, 2, "t/a ", "t/a ", N, 200);
	settle(w, 2, "t/a ", "a");
	w[0].reading = true;
	settle_drops(w, 2, "t/a ", "b");
	cr_expect_gt(w[0].dropped, 0, "its queue never overflowed");
	cr_expect_eq(w[0].got + w[0].dropped, N, "got %ld, dropped %ld", w[0].got, w[0].dropped);
	/* Every other turn is the other member's, and it is not busy. */
	cr_expect_geq(w[1].got + w[1].dropped, N / 2, "got %ld, dropped %ld", w[1].got,
	              w[1].dropped);
	cr_expect_eq(stat_of(pub, "delivered"), w[0].got + w[1].got);
	cr_expect_eq(stat_of(pub, "dropped"), w[0].dropped + w[1].dropped);
	th_close(w[0].fd);
	th_close(w[1].fd);
	th_close(pub);
}

/* Two groups on one filter each deliver once; a plain subscriber beside
 * them gets every message. */
Test(shared, each_group_gets_each_message)
{
	int g1a, g1b, g2, plain, pub, got1 = 0;
	const char *lines;

	xstart(&b, "sys_interval = 0\n");
	g1a = xconnect(&b);
	g1b = xconnect(&b);
	g2 = xconnect(&b);
	plain = xconnect(&b);
	xsub(g1a, "$share/one/s/#");
	xsub(g1b, "$share/one/s/#");
	xsub(g2, "$share/two/s/#");
	xsub(plain, "s/#");
	pub = xconnect(&b);
	xsend(pub, "PUB s/1 a\nPUB s/2 b\n");
	quiet(pub);
	expect_next(g2, "MSG s/1 a");
	expect_next(g2, "MSG s/2 b");
	expect_next(plain, "MSG s/1 a");
	expect_next(plain, "MSG s/2 b");
	lines = barrier(g1a);
	got1 += (int)th_count_lines(lines);
	lines = barrier(g1b);
	got1 += (int)th_count_lines(lines);
	cr_expect_eq(got1, 2, "group one delivered %d times for 2 messages", got1);
	quiet(g2);
	quiet(plain);
}

Test(shared, bad_group_syntax_is_bad_filter)
{
	static const char *const bad[] = {
		"$share",     "$share/",  "$share/g",   "$share/g/",   "$share//t",
		"$share/+/t", "$share/#", "$share/#/t", "$share/a+/t",
	};
	int c;

	xstart(&b, "sys_interval = 0\n");
	c = xconnect(&b);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char cmd[64];

		snprintf(cmd, sizeof cmd, "SUB %s\n", bad[i]);
		xsend(c, cmd);
		expect_err(c, "bad-filter");
		snprintf(cmd, sizeof cmd, "UNSUB %s\n", bad[i]);
		xsend(c, cmd);
		expect_err(c, "bad-filter");
	}
	cr_expect_eq(stat_of(c, "subscriptions"), 0);
	/* Not the prefix: plain filters; and a shared one of wildcards. */
	xsub(c, "$shared/t");
	xsub(c, "share/g/t");
	xsub(c, "$share/g/+/#");
	cr_expect_eq(stat_of(c, "subscriptions"), 3);
}

/* Memberships count toward max_subscriptions; SUB again is OK and no
 * second membership; UNSUB makes room. */
Test(shared, memberships_count_toward_max_subscriptions)
{
	int c;

	xstart(&b, "sys_interval = 0\nmax_subscriptions = 3\n");
	c = xconnect(&b);
	xsub(c, "a");
	xsub(c, "$share/g/b");
	xsub(c, "$share/h/b");
	xsub(c, "$share/g/b"); /* held already */
	xsend(c, "SUB $share/i/b\n");
	expect_err(c, "too-many-subscriptions");
	xsend(c, "SUB c\n");
	expect_err(c, "too-many-subscriptions");
	cr_expect_eq(stat_of(c, "subscriptions"), 3);
	xsend(c, "UNSUB $share/g/b\n");
	expect_next(c, "OK");
	xsend(c, "UNSUB $share/g/b\n"); /* not held: OK as for plain filters */
	expect_next(c, "OK");
	xsub(c, "$share/i/b");
	cr_expect_eq(stat_of(c, "subscriptions"), 3);
}

/* No retained values for a shared subscription. */
Test(shared, no_retained_values)
{
	int p, s;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	s = xconnect(&b);
	xsend(p, "RETAIN r/a kept\n");
	quiet(p);
	xsub(s, "$share/g/r/#");
	quiet(s);
	xsend(p, "RETAIN r/a new\n");
	quiet(p);
	expect_next(s, "MSG r/a new"); /* live, as any message */
}

/* The access rules apply to the filter of a shared subscription. */
Test(shared, access_rules_apply_to_the_filter)
{
	int c;

	xstart(&b, "sys_interval = 0\n[access]\nrule = deny sub secret/# *\n");
	c = xconnect(&b);
	xsend(c, "SUB $share/g/secret/x\n");
	expect_err(c, "forbidden");
	xsend(c, "SUB $share/g/#\n"); /* overlaps secret/# */
	expect_err(c, "forbidden");
	xsend(c, "SUB $share/g/$reply/#\n");
	expect_err(c, "forbidden");
	xsub(c, "$share/secret/public/x"); /* the group's name is no filter */
}

/* A request to a topic a group holds counts as matched, and only one
 * member gets it; with no member left, no-responders. */
Test(shared, requests_reach_one_member)
{
	enum { N = 10 };
	struct worker w[2] = {
		{ .id = "responder 1", .reading = true },
		{ .id = "responder 2", .reading = true },
	};
	char cmd[64], *line;
	int req;

	seen_reset(N);
	xstart(&b, "sys_interval = 0\n");
	connect_workers(w, 2, "$share/svc/svc/+");
	req = xconnect(&b);
	for (int i = 0; i < N; i++) {
		snprintf(cmd, sizeof cmd, "REQ svc/%d %d\n", i, i);
		xsend(req, cmd);
		line = (char *)xrecv(req, NULL);
		cr_assert(strncmp(line, "OK $reply/", 10) == 0, "REQ answered \"%s\"", line);
	}
	settle(w, 2, "svc/", "served");
	cr_expect_eq(w[0].got + w[1].got, N);
	cr_expect_eq(w[0].got, N / 2, "round robin");
	for (int i = 0; i < 2; i++) {
		xsend(w[i].fd, "UNSUB $share/svc/svc/+\n");
		expect_next(w[i].fd, "OK");
	}
	xsend(req, "REQ svc/x nobody\n");
	expect_err(req, "no-responders");
}
