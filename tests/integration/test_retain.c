/* State that outlives a message, against the real daemon: retained values
 * (RETAIN, RMSG, bounds, persistence), last wills and $SYS. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(retain, .fini = stop, .timeout = 300);

/* Closes fd without QUIT and waits until the broker counts want clients. */
static void
drop_client(int fd, int ctl, long long want)
{
	th_close(fd);
	wait_stat(ctl, "clients", want);
}

Test(retain, replace_clear_and_live_delivery)
{
	int p, s, late;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	s = xconnect(&b);
	xsend(p, "RETAIN a/b one\n");
	quiet(p); /* no reply on success */
	xsub(s, "a/#");
	expect_next(s, "RMSG a/b one");
	xsend(p, "RETAIN a/b two\nPUB a/b live\nRETAIN a/c\n");
	quiet(p);
	expect_next(s, "MSG a/b two");
	expect_next(s, "MSG a/b live");
	expect_next(s, "MSG a/c"); /* clearing a value nobody held is delivered live too */
	quiet(s);

	late = xconnect(&b);
	xsub(late, "a/+");
	expect_next(late, "RMSG a/b two"); /* PUB did not replace it */
	quiet(late);
	xsend(p, "RETAIN a/b\n"); /* clears it */
	quiet(p);
	expect_next(late, "MSG a/b");
	xsub(late, "a/#"); /* a new filter: nothing retained any more */
	quiet(late);
	cr_expect_eq(stat_of(p, "retained"), 0);
}

/* Every RMSG of a SUB comes before any later MSG to that client, and a SUB
 * of a filter already held sends them again. */
Test(retain, rmsg_before_later_messages)
{
	enum { N = 200 };
	static char buf[N * 32];
	size_t n = 0;
	int p, s;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "RETAIN r/%d v%d\n", i, i);
	xsend(p, buf);
	quiet(p);
	s = xconnect(&b);
	for (int round = 0; round < 2; round++) {
		bool seen[N] = { false };

		/* The same client publishes right after its SUB: that MSG can
		 * only come after the RMSGs. */
		xsend(s, "SUB r/#\nPUB r/0 live\n");
		expect_next(s, "OK");
		for (int i = 0; i < N; i++) {
			const char *line = xrecv(s, NULL);
			int k;

			cr_assert(sscanf(line, "RMSG r/%d v", &k) == 1 && k >= 0 && k < N &&
			              !seen[k],
			          "round %d: line %d is \"%s\"", round, i, line);
			seen[k] = true;
		}
		expect_next(s, "MSG r/0 live");
		quiet(s);
		/* MSG r/0 live did not replace the retained r/0. */
	}
}

Test(retain, bounds_hold_exactly)
{
	int p, s;

	/* Three values, 20 bytes of topic + payload at most. */
	xstart(&b, "sys_interval = 0\nmax_retained = 3\nmax_retained_bytes = 20\n");
	p = xconnect(&b);
	s = xconnect(&b);
	xsub(s, "#");
	xsend(p, "RETAIN t1 aaaa\nRETAIN t2 bbbb\n"); /* 6 + 6 bytes */
	quiet(p);
	expect_next(s, "MSG t1 aaaa");
	expect_next(s, "MSG t2 bbbb");
	xsend(p, "RETAIN t3 cccccc\n"); /* 8 more: exactly 20 */
	quiet(p);
	expect_next(s, "MSG t3 cccccc");
	cr_expect_eq(stat_of(p, "retained_bytes"), 20);
	xsend(p, "RETAIN t4 d\n"); /* a fourth value */
	expect_err(p, "retained-full");
	xsend(p, "RETAIN t1 aaaaa\n"); /* one byte more */
	expect_err(p, "retained-full");
	quiet(s);                               /* neither was published */
	xsend(p, "RETAIN t1 aaa\nRETAIN t2\n"); /* smaller, and a clear: always fine */
	quiet(p);
	expect_next(s, "MSG t1 aaa");
	expect_next(s, "MSG t2");
	xsend(p, "RETAIN t4 d\n"); /* room again */
	quiet(p);
	expect_next(s, "MSG t4 d");
	cr_expect_eq(stat_of(p, "retained"), 3);
	cr_expect_eq(stat_of(p, "retained_bytes"), 5 + 8 + 3);
}

Test(retain, dollar_topics_are_the_brokers)
{
	int p;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	xsend(p, "RETAIN $SYS/x y\n");
	expect_err(p, "forbidden");
	xsend(p, "RETAIN a+b y\n");
	expect_err(p, "bad-topic");
	xsend(p, "RETAIN\n");
	expect_err(p, "bad-topic");
	quiet(p);
}

/* A file of retained values, in the test's directory. */
static void
retain_config(char *conf, size_t size, const char *extra)
{
	snprintf(conf, size, "sys_interval = 0\n%s[retain]\nfile = %s/retained.db\nsync = 3600\n",
	         extra, b.dir);
}

/* The payload of value i: every byte value but '\n', '\r' and ' ' leading,
 * so a restart that changes one byte shows. */
static size_t
payload_of(int i, char *out)
{
	size_t n = 0;

	out[n++] = 'p';
	for (int k = 0; k < 12; k++) {
		unsigned char c = (unsigned char)(i * 7 + k * 31);

		out[n++] = (char)(c == '\n' || c == '\r' ? 'x' : c);
	}
	return n;
}

Test(retain, restart_keeps_100000_values_byte_for_byte)
{
	enum { MAX = 100000 };
	static char buf[MAX * 48];
	static bool seen[MAX];
	/* Under valgrind a fifth: the same paths, in a bounded time. */
	const size_t N = th_under_valgrind() ? MAX / 5 : MAX;
	char conf[512], payload[32];
	size_t n = 0, got = 0;
	int p, s;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	retain_config(conf, sizeof conf, "max_retained = 200000\n");
	cr_assert_eq(th_write_config(&b, conf), 0);
	cr_assert_eq(th_spawn(&b), 0);
	p = xconnect(&b);
	for (int i = 0; i < (int)N; i++) {
		size_t plen = payload_of(i, payload);

		n += (size_t)snprintf(buf + n, sizeof buf - n, "RETAIN keep/%d/v ", i);
		memcpy(buf + n, payload, plen);
		n += plen;
		buf[n++] = '\n';
	}
	xsend_bytes(p, buf, n);
	quiet(p);
	cr_assert_eq(stat_of(p, "retained"), (long long)N);
	th_close(p);
	cr_assert_eq(th_wait(&b, SIGTERM, TH_TIMEOUT_MS), 0, "no clean exit");
	cr_assert_eq(th_spawn(&b), 0, "no restart");

	s = xconnect(&b);
	xsub(s, "keep/#");
	while (got < N) {
		long len;
		const char *line = xrecv(s, &len);
		char want[64];
		int i, off;

		cr_assert(sscanf(line, "RMSG keep/%d/v %n", &i, &off) == 1 && i >= 0 &&
		              i < (int)N && !seen[i],
		          "line %zu: \"%.40s\"", got, line);
		seen[i] = true;
		cr_assert_eq((size_t)(len - off), payload_of(i, want), "value %d: length", i);
		cr_assert(memcmp(line + off, want, (size_t)(len - off)) == 0, "value %d differs",
		          i);
		got++;
	}
	quiet(s);
	cr_expect_eq(stat_of(s, "retained"), (long long)N);
}

Test(retain, damaged_file_keeps_what_came_before_it)
{
	char conf[512], path[256], corrupt[300];
	struct stat st;
	size_t count = 0;
	int p, s, fd;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	retain_config(conf, sizeof conf, "");
	cr_assert_eq(th_write_config(&b, conf), 0);
	cr_assert_eq(th_spawn(&b), 0);
	p = xconnect(&b);
	for (int i = 0; i < 100; i++) {
		char line[64];

		snprintf(line, sizeof line, "RETAIN cut/%03d value-%03d\n", i, i);
		xsend(p, line);
	}
	quiet(p);
	th_close(p);
	cr_assert_eq(th_wait(&b, SIGTERM, TH_TIMEOUT_MS), 0);
	snprintf(path, sizeof path, "%s/retained.db", b.dir);
	snprintf(corrupt, sizeof corrupt, "%s.corrupt", path);
	cr_assert_eq(stat(path, &st), 0, "no file written at exit");
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, st.st_size / 2), 0); /* cut in the middle */
	close(fd);

	cr_assert_eq(th_spawn(&b), 0, "a damaged file must not stop the broker");
	cr_expect(th_log_contains(&b, "damaged at byte"), "the log names no offset");
	cr_expect_eq(stat(corrupt, &st), 0, "the damaged file was not kept as .corrupt");
	s = xconnect(&b);
	xsub(s, "cut/#");
	for (const char *line = barrier(s); (line = strstr(line, "RMSG cut/")) != NULL; line++)
		count++;
	cr_expect(count > 0 && count < 100, "%zu values after a cut in the middle", count);
	cr_expect_eq(stat_of(s, "retained"), (long long)count);
}

Test(retain, will_runs_on_end_of_input_not_after_quit)
{
	int s, a, q, ctl;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "svc/#");
	a = xconnect(&b);
	q = xconnect(&b);
	xsend(a, "WILL PUB svc/a gone\n");
	expect_next(a, "OK");
	xsend(q, "WILL RETAIN svc/q gone\n");
	expect_next(q, "OK");
	xsend(q, "QUIT\n");
	read_to_eof(q, NULL);
	th_close(q);
	wait_stat(ctl, "clients", 3);
	quiet(s); /* QUIT: no will */
	drop_client(a, ctl, 2);
	expect_next(s, "MSG svc/a gone");
	quiet(s);
}

Test(retain, will_retain_replace_and_clear)
{
	int s, a, c, ctl, late;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "st/#");
	a = xconnect(&b);
	xsend(a, "RETAIN st/db up\nWILL PUB st/db x\nWILL RETAIN st/db down\n");
	expect_next(a, "OK");
	expect_next(a, "OK");
	expect_next(s, "MSG st/db up");
	c = xconnect(&b);
	xsend(c, "WILL PUB st/c gone\nWILL\n"); /* set, then cleared */
	expect_next(c, "OK");
	expect_next(c, "OK");
	drop_client(c, ctl, 3);
	quiet(s);
	drop_client(a, ctl, 2);
	expect_next(s, "MSG st/db down"); /* the last WILL given */
	late = xconnect(&b);
	xsub(late, "st/db");
	expect_next(late, "RMSG st/db down");
}

Test(retain, will_checked_when_given)
{
	int a;

	xstart(&b, "sys_interval = 0\n[access]\nrule = deny pub secret/# *\n");
	a = xconnect(&b);
	xsend(a, "WILL PUB $SYS/x y\n");
	expect_err(a, "forbidden");
	xsend(a, "WILL RETAIN secret/x y\n");
	expect_err(a, "forbidden");
	xsend(a, "WILL PUB a+b y\n");
	expect_err(a, "bad-topic");
	xsend(a, "WILL PUB\n");
	expect_err(a, "bad-topic");
	xsend(a, "WILL SUB x\n");
	expect_err(a, "bad-argument");
	quiet(a);
}

/* The rules in force when the will runs decide, not those when it was given. */
Test(retain, will_checked_again_when_it_runs)
{
	int s, a, ctl;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "w/#");
	a = xconnect(&b);
	xsend(a, "WILL PUB w/a gone\n");
	expect_next(a, "OK");
	cr_assert_eq(th_write_config(&b, "sys_interval = 0\n[access]\nrule = deny pub w/# *\n"), 0);
	kill(b.pid, SIGHUP);
	wait_log(&b, "configuration reloaded", 1);
	drop_client(a, ctl, 2);
	quiet(s);
	cr_expect_eq(stat_of(ctl, "denied"), 1);
}

Test(retain, will_not_on_shutdown)
{
	int s, a;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	xsub(s, "w/#");
	a = xconnect(&b);
	xsend(a, "WILL PUB w/a gone\n");
	expect_next(a, "OK");
	quiet(s);
	kill(b.pid, SIGTERM);
	expect_next(s, "BYE shutdown");
	cr_expect_eq(th_recv_eof(s, TH_TIMEOUT_MS), 0, "more than BYE came: the will ran?");
	/* Wait for the exit here: a second SIGTERM from stop() while it is
	 * freeing would find the default action again. */
	cr_expect_eq(th_wait(&b, 0, TH_TIMEOUT_MS), 0, "no clean exit after SIGTERM");
}

/* A slow consumer sent BYE ends abnormally: its will runs. */
Test(retain, will_runs_after_a_slow_consumer_bye)
{
	static char buf[64 * 1024];
	int s, slow, p, ctl;

	xstart(&b, "sys_interval = 0\nslow_consumer = disconnect\nqueue_limit = 64K\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "w/#");
	slow = xconnect(&b);
	xsend(slow, "WILL PUB w/slow gone\n");
	expect_next(slow, "OK");
	xsub(slow, "big");
	/* Its socket buffer is small and it never reads. */
	setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &(int){ 4096 }, sizeof(int));
	p = xconnect(&b);
	memset(buf, 'x', sizeof buf);
	memcpy(buf, "PUB big ", 8);
	buf[sizeof buf - 1] = '\n';
	for (int i = 0; i < 64; i++)
		xsend_bytes(p, buf, sizeof buf);
	quiet(p);
	/* BYE, then at most the write timeout until it is closed. */
	expect_next(s, "MSG w/slow gone");
	cr_expect_eq(stat_of(ctl, "slow_disconnects"), 1);
}

Test(retain, sys_values_at_once_and_as_they_move)
{
	int s, extra[3];
	long long n = -1;
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;

	xstart(&b, "sys_interval = 1\n");
	s = xconnect(&b);
	xsub(s, "$SYS/broker/version");
	expect_next(s, "RMSG $SYS/broker/version " UDSB_TEST_VERSION);
	xsub(s, "$SYS/broker/clients/connected");
	cr_assert(sscanf(xrecv(s, NULL), "RMSG $SYS/broker/clients/connected %lld", &n) == 1);
	for (int i = 0; i < 3; i++)
		extra[i] = xconnect(&b);
	/* Within a few intervals the value says 4. */
	while (n != 4 && th_left_ms(deadline) > 0) {
		const char *line = xrecv(s, NULL);

		if (sscanf(line, "MSG $SYS/broker/clients/connected %lld", &n) != 1)
			continue;
	}
	cr_expect_eq(n, 4, "clients/connected never said 4");
	for (int i = 0; i < 3; i++)
		th_close(extra[i]);
}

Test(retain, sys_hidden_from_hash_and_not_a_clients_to_publish)
{
	int s;

	xstart(&b, "sys_interval = 1\n");
	s = xconnect(&b);
	xsub(s, "#"); /* '#' does not reach $ topics */
	xsend(s, "PUB $SYS/broker/uptime 0\n");
	expect_err(s, "forbidden");
	quiet(s);
	cr_expect_eq(stat_of(s, "retained"), 0, "$SYS values are not counted as retained");
}

/* ---- a SUB over many retained values: streamed, a chunk per pass ---- */

/* Starts the broker with room for 200,000 values and extra config, and
 * retains "r/<i>/x v<i>" for i in [0, n) through a new connection, which
 * it returns. */
static int
start_with_values(const char *extra, int n)
{
	static char buf[100000 * 32];
	char conf[256];
	size_t used = 0;
	int p;

	cr_assert_leq(n, 100000);
	snprintf(conf, sizeof conf, "sys_interval = 0\nmax_retained = 200000\n%s", extra);
	xstart(&b, conf);
	p = xconnect(&b);
	for (int i = 0; i < n; i++)
		used +=
		    (size_t)snprintf(buf + used, sizeof buf - used, "RETAIN r/%d/x v%d\n", i, i);
	xsend_bytes(p, buf, used);
	quiet(p);
	cr_assert_eq(stat_of(p, "retained"), n);
	return p;
}

/* Appends count "PUB live/<i> <300 bytes>" lines to buf at used; returns
 * the new length. */
static size_t
append_live(char *buf, size_t size, size_t used, int count)
{
	char pad[301];

	memset(pad, 'z', 300);
	pad[300] = '\0';
	for (int i = 0; i < count; i++)
		used += (size_t)snprintf(buf + used, size - used, "PUB live/%d %s\n", i, pad);
	return used;
}

/* What one subscriber of "#" got: RMSGs of r/<i>/x, then live MSGs. */
struct stream_seen {
	unsigned char *rmsg; /* per i */
	long nrmsg;
	long nmsg;      /* MSG lines */
	long dropped;   /* DROPPED n, added up */
	bool msg_first; /* a MSG came before the last RMSG */
	bool ponged;
	bool ok;         /* the SUB's OK came (when it is read here) */
	const char *tag; /* the PONG awaited */
};

/* Takes the complete lines read ahead on fd. */
static void
take_stream_lines(int fd, struct stream_seen *ss, int n)
{
	char *line;
	size_t len;

	while ((line = th_next_line(fd, &len)) != NULL) {
		int i;
		long d;

		if (sscanf(line, "RMSG r/%d/x", &i) == 1) {
			cr_assert(i >= 0 && i < n, "\"%.60s\"", line);
			cr_assert_eq(ss->rmsg[i], 0, "RMSG r/%d/x twice", i);
			ss->rmsg[i]++;
			ss->nrmsg++;
			if (ss->nmsg > 0)
				ss->msg_first = true;
		} else if (strncmp(line, "MSG ", 4) == 0) {
			ss->nmsg++;
		} else if (strcmp(line, "OK") == 0 && !ss->ok && ss->nrmsg == 0) {
			ss->ok = true;
		} else if (sscanf(line, "DROPPED %ld", &d) == 1) {
			ss->dropped += d;
		} else if (ss->tag != NULL && strncmp(line, "PONG ", 5) == 0 &&
		           strcmp(line + 5, ss->tag) == 0) {
			ss->ponged = true;
		} else {
			cr_assert_fail("unexpected \"%.60s\"", line);
		}
	}
}

/* Reads fd to its "PONG tag" (sent by the caller), bounded. */
static void
read_stream(int fd, struct stream_seen *ss, int n, const char *tag)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS * 3;

	ss->tag = tag;
	ss->ponged = false;
	while (!ss->ponged) {
		cr_assert_gt(th_left_ms(deadline), 0, "no PONG %s", tag);
		if (!th_readable(fd, 100))
			continue;
		cr_assert_geq(th_read_some(fd, 1 << 20), 0);
		cr_assert(!th_at_eof(fd), "the broker closed the subscriber");
		take_stream_lines(fd, ss, n);
	}
}

/* SUB # over 100,000 retained values: every RMSG once, before any later
 * MSG (the subscriber's own PUB right after the SUB, and another
 * client's); meanwhile another client's PINGs are answered. The PING
 * latency is a figure for the log, not asserted. */
Test(retain, sub_over_100000_values_streams_in_order_others_answered)
{
	enum { MAX = 100000 };
	const int N = th_under_valgrind() ? MAX / 10 : MAX;
	struct stream_seen ss = { .rmsg = calloc(MAX, 1) };
	long long worst = 0, sent_at = 0, deadline;
	int p, s, q, pings = 0;
	bool other = false;

	p = start_with_values("", N);
	s = xconnect(&b);
	q = xconnect(&b);
	/* A PING in flight as the SUB comes. Its own PUB is read only once
	 * the RMSGs are all queued. */
	xsend(q, "PING q\n");
	sent_at = th_now_ms();
	xsend(s, "SUB #\nPUB r/0/x own\nPING s\n");
	ss.tag = "s";
	deadline = th_now_ms() + TH_TIMEOUT_MS * 3;
	while (!ss.ponged) {
		struct pollfd pfd[2] = { { .fd = s, .events = POLLIN },
			                 { .fd = q, .events = POLLIN } };

		cr_assert_gt(th_left_ms(deadline), 0, "the stream did not end");
		if (ss.ok && !other) {
			xsend(p, "PUB r/1/x other\n"); /* a live message during the stream */
			other = true;
		}
		if (sent_at == 0) {
			xsend(q, "PING q\n");
			sent_at = th_now_ms();
		}
		if (poll(pfd, 2, 100) <= 0)
			continue;
		if (pfd[1].revents) {
			long long took;

			expect_next(q, "PONG q");
			took = th_now_ms() - sent_at;
			worst = took > worst ? took : worst;
			pings++;
			sent_at = 0;
		}
		if (pfd[0].revents) {
			cr_assert_geq(th_read_some(s, 64 * 1024), 0);
			cr_assert(!th_at_eof(s));
			take_stream_lines(s, &ss, N);
		}
	}
	cr_expect(ss.ok);
	cr_expect_eq(ss.nrmsg, N, "every value once");
	cr_expect_not(ss.msg_first, "a MSG came before the last RMSG");
	cr_expect_eq(ss.nmsg, 2, "its own PUB and the other client's");
	fprintf(stderr,
	        "SUB # over %d retained values: %d PINGs of another client answered "
	        "meanwhile, the slowest in %lld ms\n",
	        N, pings, worst);
	free(ss.rmsg);
}

/* A subscriber that does not read while its SUB # streams: the stream
 * waits for it, live messages for it are held within queue_limit (the
 * rest dropped and counted), and the store changes meanwhile. Once it
 * reads: every value that was never cleared came once, cleared ones at
 * most once, all before any MSG; MSGs + DROPPED account for every live
 * message. */
Test(retain, slow_subscriber_stream_waits_held_within_limit)
{
	enum { MAX = 100000, LIVE = 4000 };
	const int N = th_under_valgrind() ? MAX / 10 : MAX;
	struct stream_seen ss = { .rmsg = calloc(MAX, 1) };
	static char buf[LIVE * 340];
	size_t used = 0;
	int p, s;

	p = start_with_values("queue_limit = 512K\n", N);
	s = xconnect(&b);
	xsub(s, "#");
	/* While it does not read: clear the odd values below 1000, and
	 * publish 1.2 MB to a topic it matches, more than its limit. */
	for (int i = 1; i < 1000; i += 2)
		used += (size_t)snprintf(buf + used, sizeof buf - used, "RETAIN r/%d/x\n", i);
	used = append_live(buf, sizeof buf, used, LIVE);
	xsend_bytes(p, buf, used);
	quiet(p);
	xsend(s, "PING s\n");
	read_stream(s, &ss, N, "s");
	for (int i = 0; i < N; i++)
		if (i >= 1000 || i % 2 == 0)
			cr_assert_eq(ss.rmsg[i], 1, "r/%d/x came %d times", i, ss.rmsg[i]);
	cr_expect_not(ss.msg_first, "a MSG came before the last RMSG");
	cr_expect_eq(ss.nmsg + ss.dropped, 500 + LIVE,
	             "%ld MSGs and %ld dropped: the clears and the live ones", ss.nmsg, ss.dropped);
	cr_expect_gt(ss.dropped, 0, "the held messages were kept within queue_limit");
	cr_expect_eq(stat_of(p, "retained"), N - 500);
	free(ss.rmsg);
}

/* A subscriber that leaves in the middle of its stream ends it; the
 * broker goes on, and a new SUB # gets every value. */
Test(retain, subscriber_leaving_mid_stream)
{
	enum { MAX = 100000 };
	const int N = th_under_valgrind() ? MAX / 10 : MAX;
	struct stream_seen ss = { .rmsg = calloc(MAX, 1) };
	int p, s;

	p = start_with_values("queue_limit = 256K\n", N);
	for (int round = 0; round < 3; round++) {
		s = xconnect(&b);
		xsub(s, "#");
		th_close(s);
		wait_stat(p, "clients", 1);
	}
	xsend(p, "RETAIN r/0/x\n"); /* the store changed after the streams ended */
	quiet(p);
	s = xconnect(&b);
	xsub(s, "r/#");
	xsend(s, "PING s\n");
	read_stream(s, &ss, N, "s");
	cr_expect_eq(ss.nrmsg, N - 1);
	cr_expect_eq(ss.rmsg[0], 0);
	cr_expect_eq(ss.nmsg, 0);
	free(ss.rmsg);
}

/* With slow_consumer = disconnect, a subscriber whose held messages go
 * over its limit during its stream is said BYE: after the RMSGs queued so
 * far and the messages held behind them, as its last line. */
Test(retain, slow_consumer_bye_during_a_stream_comes_last)
{
	enum { MAX = 100000, LIVE = 4000 };
	const int N = th_under_valgrind() ? MAX / 10 : MAX;
	struct stream_seen ss = { .nrmsg = 0 }; /* the counts only */
	static char buf[LIVE * 340];
	char *line;
	size_t used = 0, len;
	bool bye = false;
	int p, s;

	p = start_with_values("queue_limit = 512K\nslow_consumer = disconnect\n", N);
	s = xconnect(&b);
	xsub(s, "#");
	used = append_live(buf, sizeof buf, used, LIVE);
	xsend_bytes(p, buf, used);
	quiet(p);
	/* Read to the end of the stream: RMSGs, MSGs, then BYE and EOF. */
	for (long long deadline = th_now_ms() + TH_TIMEOUT_MS * 3; !th_at_eof(s);) {
		cr_assert_gt(th_left_ms(deadline), 0, "no end of stream");
		if (!th_readable(s, 100))
			continue;
		cr_assert_geq(th_read_some(s, 1 << 20), 0);
		while ((line = th_next_line(s, &len)) != NULL) {
			cr_assert(!bye, "\"%.60s\" after the BYE", line);
			if (strcmp(line, "BYE slow-consumer") == 0) {
				bye = true;
			} else if (strncmp(line, "RMSG ", 5) == 0) {
				cr_assert_eq(ss.nmsg, 0, "an RMSG after a MSG");
				ss.nrmsg++;
			} else {
				cr_assert(strncmp(line, "MSG live/", 9) == 0, "\"%.60s\"", line);
				ss.nmsg++;
			}
		}
	}
	cr_expect(bye, "no BYE slow-consumer");
	cr_expect_gt(ss.nmsg, 0, "the messages held before the BYE came");
	cr_expect_eq(stat_of(p, "clients"), 1);
}
