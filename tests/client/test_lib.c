/*
 * libudsbroker against the real daemon: connecting (explicit path,
 * $UDSBROKER_SOCKET, failures that name the path), publish/subscribe,
 * errors from the broker (as call results and as events), receive
 * timeouts, the non-blocking interface, and the events DROPPED, BYE and
 * over-long lines.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "check.h"

TestSuite(lib, .fini = ct_stop, .timeout = 120);

Test(lib, connect_ping_stats)
{
	static const char *const keys[] = { "clients", "subscriptions", "published", "delivered",
		                            "dropped", "bytes_in",      "bytes_out", "uptime" };
	struct udsb *c;
	long rtt = -1;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_str_eq(udsb_path(c), ct_daemon.sock);
	cr_assert_geq(udsb_fd(c), 0);
	cr_assert_eq(udsb_ping(c, &rtt), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_geq(rtt, 0);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		cr_assert_geq(ct_stat(c, keys[i]), 0, "STATS lacks %s", keys[i]);
	cr_assert_eq(ct_stat(c, "clients"), 1);
	udsb_free(c);
}

Test(lib, connect_null_uses_environment)
{
	struct udsb *c;

	ct_start(NULL);
	cr_assert_eq(setenv("UDSBROKER_SOCKET", ct_daemon.sock, 1), 0);
	c = udsb_new();
	cr_assert_eq(udsb_connect(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_str_eq(udsb_path(c), ct_daemon.sock);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK);
	cr_assert_eq(udsb_connect(c, NULL), UDSB_EINVAL, "connecting twice must fail");
	udsb_free(c);
}

Test(lib, connect_failure_names_the_path)
{
	char path[256];
	struct udsb *c = udsb_new();
	int rc;

	ct_start(NULL);
	snprintf(path, sizeof path, "%s/nobody-here.sock", ct_daemon.dir);
	rc = udsb_connect(c, path);
	cr_assert_eq(rc, UDSB_ECONNECT);
	cr_assert_eq(udsb_error(c), UDSB_ECONNECT);
	cr_assert_eq(udsb_errno(c), ENOENT);
	cr_assert_not_null(strstr(udsb_errmsg(c), path), "%s", udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), "No such file"), "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_publish(c, "t", "x", 1), UDSB_ENOTCONN);
	/* The connection object can try again. */
	cr_assert_eq(udsb_connect(c, ct_daemon.sock), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK);
	udsb_free(c);
}

Test(lib, path_too_long_names_the_limit)
{
	char path[300], limit[32];
	struct udsb *c = udsb_new();

	memset(path, 'p', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	snprintf(limit, sizeof limit, "%zu", sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	cr_assert_eq(udsb_connect(c, path), UDSB_EPATH);
	cr_assert_not_null(strstr(udsb_errmsg(c), limit), "%s", udsb_errmsg(c));
	udsb_free(c);
}

Test(lib, publish_subscribe_roundtrip)
{
	struct udsb *s, *p;

	ct_start(NULL);
	s = ct_connect(NULL);
	p = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "t/#"), UDSB_OK, "%s", udsb_errmsg(s));
	cr_assert_eq(udsb_subscribe(s, "t/+"), UDSB_OK, "%s", udsb_errmsg(s));
	cr_assert_eq(udsb_publish(p, "t/a", "hello big world", 15), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "t/b", NULL, 0), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "other", "no", 2), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "t", "parent", 6), UDSB_OK);
	cr_assert_eq(udsb_flush(p), UDSB_OK);
	ct_expect_msg(s, "t/a", "hello big world");
	ct_expect_msg(s, "t/b", "");
	ct_expect_msg(s, "t", "parent");
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_expect_quiet(s);
	udsb_free(p);
	udsb_free(s);
}

Test(lib, local_checks_send_nothing)
{
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "a/#/b"), UDSB_ETOPIC);
	cr_assert_not_null(strstr(udsb_errmsg(c), ct_daemon.sock), "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_publish(c, "a b", "x", 1), UDSB_ETOPIC);
	cr_assert_eq(udsb_publish(c, "a/+", "x", 1), UDSB_ETOPIC);
	cr_assert_eq(udsb_publish(c, "", "x", 1), UDSB_ETOPIC);
	cr_assert_eq(udsb_publish(c, "a", "x\ny", 3), UDSB_EINVAL);
	cr_assert_eq(udsb_set_max_line(c, 1000), UDSB_EINVAL, "only before connecting");
	cr_assert_eq(udsb_set_timeout(c, -2), UDSB_EINVAL);
	/* Still usable, and the broker saw none of it. */
	cr_assert_eq(ct_stat(c, "published"), 0);
	cr_assert_eq(ct_stat(c, "subscriptions"), 0);
	udsb_free(c);
}

Test(lib, broker_refusal_is_a_result)
{
	struct udsb *c;
	int rc;

	ct_start("max_subscriptions = 1\n");
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "a"), UDSB_OK, "%s", udsb_errmsg(c));
	rc = udsb_subscribe(c, "b");
	cr_assert_eq(rc, UDSB_EBROKER, "%s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_str_eq(udsb_broker_error(c), "too-many-subscriptions");
	cr_assert_not_null(strstr(udsb_errmsg(c), ct_daemon.sock), "%s", udsb_errmsg(c));
	/* Still usable. */
	cr_assert_eq(udsb_unsubscribe(c, "a"), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_subscribe(c, "b"), UDSB_OK, "%s", udsb_errmsg(c));
	udsb_free(c);
}

Test(lib, publish_refusal_is_an_event)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_publish(c, "$SYS/x", "no", 2), UDSB_OK, "pipelined: no answer yet");
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_OK, "the ERR came before the PONG");
	cr_assert_eq(ev.type, UDSB_EV_ERROR);
	cr_assert_str_eq(ev.code, "forbidden");
	ct_expect_quiet(c);
	udsb_free(c);
}

/* An ERR for a publish that precedes a SUB must not be taken as the SUB's
 * answer: the library separates the two with a PING of its own. */
Test(lib, publish_refusal_before_subscribe)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_publish(c, "$SYS/x", "no", 2), UDSB_OK);
	cr_assert_eq(udsb_subscribe(c, "t"), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_publish(c, "$SYS/y", "no", 2), UDSB_OK);
	cr_assert_eq(udsb_unsubscribe(c, "t"), UDSB_OK, "%s", udsb_errmsg(c));
	for (int i = 0; i < 2; i++) {
		ct_next(c, &ev);
		cr_assert_eq(ev.type, UDSB_EV_ERROR);
		cr_assert_str_eq(ev.code, "forbidden");
	}
	cr_assert_eq(ct_stat(c, "subscriptions"), 0);
	ct_expect_quiet(c);
	udsb_free(c);
}

Test(lib, receive_timeout)
{
	struct udsb_event ev;
	long long t0;
	struct udsb *c;
	long long ms;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "t"), UDSB_OK);
	t0 = th_now_ms();
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_ETIMEDOUT);
	cr_assert_eq(udsb_recv(c, &ev, 300), UDSB_ETIMEDOUT);
	ms = th_now_ms() - t0;
	cr_assert_geq(ms, 299, "returned after %lld ms, before the timeout", ms);
	cr_assert_lt(ms, TH_TIMEOUT_MS);
	cr_assert_eq(udsb_error(c), UDSB_ETIMEDOUT);
	/* Still usable. */
	cr_assert_eq(udsb_publish(c, "t", "late", 4), UDSB_OK);
	ct_expect_msg(c, "t", "late");
	udsb_free(c);
}

/* The application's own poll loop: udsb_fd + udsb_events, udsb_process,
 * then udsb_recv(.., 0) until nothing is left. */
Test(lib, nonblocking_interface)
{
	enum { N = 20000 };
	struct udsb *s, *p;
	char want[32];
	int got = 0;
	long long t0;

	ct_start("queue_limit = 64M\n");
	s = ct_connect(NULL);
	p = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "n"), UDSB_OK);
	for (int i = 0; i < N; i++) {
		int len = snprintf(want, sizeof want, "m%d", i);

		cr_assert_eq(udsb_publish(p, "n", want, (size_t)len), UDSB_OK, "%s",
		             udsb_errmsg(p));
	}
	cr_assert_eq(udsb_flush(p), UDSB_OK);

	t0 = th_now_ms();
	while (got < N) {
		struct pollfd pfd = { .fd = udsb_fd(s), .events = udsb_events(s) };
		struct udsb_event ev;
		int rc;

		cr_assert(pfd.events & POLLIN);
		cr_assert_lt(th_now_ms() - t0, TH_TIMEOUT_MS, "got %d of %d", got, N);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		cr_assert_eq(udsb_process(s), UDSB_OK, "%s", udsb_errmsg(s));
		while ((rc = udsb_recv(s, &ev, 0)) == UDSB_OK) {
			snprintf(want, sizeof want, "m%d", got);
			cr_assert_eq(ev.type, UDSB_EV_MSG);
			cr_assert_str_eq(ev.payload, want);
			got++;
		}
		cr_assert_eq(rc, UDSB_ETIMEDOUT, "%s", udsb_errmsg(s));
	}
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_expect_quiet(s);
	udsb_free(p);
	udsb_free(s);
}

/* Deliveries to ourselves pile up while ping waits for its PONG: they are
 * queued, in order, not lost. */
Test(lib, deliveries_queued_during_a_call)
{
	enum { N = 50000 };
	struct udsb *c;
	char want[32];

	ct_start("queue_limit = 64M\n");
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "self"), UDSB_OK);
	for (int i = 0; i < N; i++) {
		int len = snprintf(want, sizeof want, "%d", i);

		cr_assert_eq(udsb_publish(c, "self", want, (size_t)len), UDSB_OK);
	}
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_subscribe(c, "other"), UDSB_OK, "%s", udsb_errmsg(c));
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof want, "%d", i);
		ct_expect_msg(c, "self", want);
	}
	ct_expect_quiet(c);
	udsb_free(c);
}

Test(lib, unsubscribe_stops_deliveries)
{
	struct udsb *s, *p;

	ct_start(NULL);
	s = ct_connect(NULL);
	p = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "u/+"), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "u/1", "before", 6), UDSB_OK);
	cr_assert_eq(udsb_flush(p), UDSB_OK, "pipelined: it waits in the buffer until then");
	ct_expect_msg(s, "u/1", "before");
	cr_assert_eq(udsb_unsubscribe(s, "u/+"), UDSB_OK);
	cr_assert_eq(udsb_unsubscribe(s, "never/held"), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "u/1", "after", 5), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_expect_quiet(s);
	udsb_free(p);
	udsb_free(s);
}

/* A subscriber that does not read gets DROPPED, as an event, and every
 * message is accounted for: received or counted as dropped. */
Test(lib, dropped_is_an_event)
{
	enum { N = 3000, SIZE = 1000 };
	unsigned long long got = 0, dropped = 0;
	struct udsb *s, *p;
	char payload[SIZE];
	int last = -1;

	ct_start("queue_limit = 64K\n");
	s = ct_connect(NULL);
	p = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "d"), UDSB_OK);
	memset(payload, 'x', sizeof payload);
	for (int i = 0; i < N; i++) {
		int len = snprintf(payload, 16, "%06d", i);

		payload[len] = 'x';
		cr_assert_eq(udsb_publish(p, "d", payload, sizeof payload), UDSB_OK);
	}
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK, "%s", udsb_errmsg(p));
	while (got + dropped < N) {
		struct udsb_event ev;

		ct_next(s, &ev);
		if (ev.type == UDSB_EV_DROPPED) {
			cr_assert_gt(ev.count, 0);
			dropped += ev.count;
		} else {
			cr_assert_eq(ev.type, UDSB_EV_MSG, "event %d", ev.type);
			cr_assert_eq(ev.payload_len, SIZE);
			cr_assert_gt(atoi(ev.payload), last, "out of order");
			last = atoi(ev.payload);
			got++;
		}
	}
	cr_assert_eq(got + dropped, N);
	cr_assert_gt(dropped, 0, "%d messages of %d bytes fit a 64K queue?", N, SIZE);
	ct_expect_quiet(s);
	udsb_free(p);
	udsb_free(s);
}

Test(lib, bye_is_an_event_then_closed)
{
	struct udsb_event ev;
	struct udsb *c;
	char sock[sizeof ct_daemon.sock];

	ct_start(NULL);
	c = ct_connect(NULL);
	memcpy(sock, ct_daemon.sock, sizeof sock);
	cr_assert_eq(udsb_subscribe(c, "t"), UDSB_OK);
	cr_assert_eq(th_stop(&ct_daemon), 0);
	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_BYE);
	cr_assert_str_eq(ev.text, "shutdown");
	cr_assert_eq(udsb_recv(c, &ev, TH_TIMEOUT_MS), UDSB_ECLOSED, "%s", udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), sock), "%s", udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), "BYE shutdown"), "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_events(c), 0);
	cr_assert_geq(udsb_fd(c), 0, "the lost socket's number stays taken until udsb_free()");
	cr_assert_eq(udsb_publish(c, "t", "x", 1), UDSB_ECLOSED);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_ECLOSED);
	cr_assert_eq(udsb_process(c), UDSB_ECLOSED);
	udsb_free(c);
}

Test(lib, broker_killed_while_waiting)
{
	struct udsb_event ev;
	struct udsb *c;
	int rc;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "t"), UDSB_OK);
	th_wait(&ct_daemon, SIGKILL, TH_TIMEOUT_MS);
	rc = udsb_recv(c, &ev, TH_TIMEOUT_MS);
	cr_assert_eq(rc, UDSB_ECLOSED, "%s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), "lost"), "%s", udsb_errmsg(c));
	udsb_free(c);
}

/* A line longer than the client's max_line is skipped as it streams in and
 * reported; the next line is read normally. */
Test(lib, overlong_line_is_an_event)
{
	enum { BIG = 5000 };
	static char big[BIG];
	struct udsb_event ev;
	struct udsb *s, *p;

	ct_start(NULL);
	s = udsb_new();
	cr_assert_eq(udsb_set_max_line(s, 200), UDSB_OK);
	cr_assert_eq(udsb_connect(s, ct_daemon.sock), UDSB_OK);
	udsb_set_timeout(s, TH_TIMEOUT_MS);
	p = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "o"), UDSB_OK);
	memset(big, 'b', sizeof big);
	cr_assert_eq(udsb_publish(p, "o", big, sizeof big), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "o", "small", 5), UDSB_OK);
	cr_assert_eq(udsb_flush(p), UDSB_OK);
	ct_next(s, &ev);
	cr_assert_eq(ev.type, UDSB_EV_OVERLONG, "event %d", ev.type);
	cr_assert_eq(ev.count, strlen("MSG o \n") + BIG);
	ct_expect_msg(s, "o", "small");
	udsb_free(p);
	udsb_free(s);
}

/* One connection per thread needs no locking: no state is shared. */
static void *
thread_roundtrip(void *arg)
{
	enum { N = 2000 };
	struct udsb *c = udsb_new();
	char topic[32], want[32];
	intptr_t ok = 0;

	snprintf(topic, sizeof topic, "thread/%d", (int)(intptr_t)arg);
	if (c == NULL || udsb_connect(c, ct_daemon.sock) != UDSB_OK ||
	    udsb_set_timeout(c, TH_TIMEOUT_MS) != UDSB_OK || udsb_subscribe(c, topic) != UDSB_OK)
		goto out;
	for (int i = 0; i < N; i++) {
		int len = snprintf(want, sizeof want, "%d", i);

		if (udsb_publish(c, topic, want, (size_t)len) != UDSB_OK)
			goto out;
	}
	for (int i = 0; i < N; i++) {
		struct udsb_event ev;

		snprintf(want, sizeof want, "%d", i);
		if (udsb_recv(c, &ev, TH_TIMEOUT_MS) != UDSB_OK || ev.type != UDSB_EV_MSG ||
		    strcmp(ev.topic, topic) != 0 || strcmp(ev.payload, want) != 0)
			goto out;
	}
	ok = udsb_ping(c, NULL) == UDSB_OK;
out:
	udsb_free(c);
	return (void *)ok;
}

Test(lib, one_connection_per_thread)
{
	enum { THREADS = 4 };
	pthread_t t[THREADS];

	ct_start("queue_limit = 64M\n");
	for (intptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_roundtrip, (void *)i), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ok;

		cr_assert_eq(pthread_join(t[i], &ok), 0);
		cr_assert(ok != NULL, "thread %d failed", i);
	}
}

/* The README's example, built by meson, run against a broker. */
Test(lib, readme_example_runs)
{
	const char *exe = getenv("UDSB_EXAMPLE");
	char cmd[512], out[256] = "";
	FILE *f;

	cr_assert(exe != NULL, "UDSB_EXAMPLE is not set");
	ct_start(NULL);
	snprintf(cmd, sizeof cmd, "UDSBROKER_SOCKET='%s' '%s'", ct_daemon.sock, exe);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, sizeof out, f));
	cr_assert_eq(pclose(f), 0, "the example failed");
	cr_assert_str_eq(out, "demo/hello hi\n");
}
