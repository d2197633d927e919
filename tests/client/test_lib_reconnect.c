/*
 * libudsbroker's automatic reconnect against the real daemon, stopped and
 * started again on the same socket: UDSB_EV_RECONNECTED, the old
 * subscriptions, will and meta set again, UDSB_EDOWN while down, lines lost
 * with the old connection reported, the non-blocking interface across the
 * gap, and the man page's examples (the second one survives a restart).
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

TestSuite(lib_reconnect, .fini = ct_stop, .timeout = 120);

/* A connection with reconnect on: a quick back-off, so the tests spend
 * little time waiting, and a generous call timeout. */
static struct udsb *
connect_reconnecting(void)
{
	struct udsb *c = ct_connect(NULL);

	cr_assert_eq(udsb_set_reconnect(c, 20, 400), UDSB_OK, "%s", udsb_errmsg(c));
	return c;
}

/* Waits (bounded) until the library has seen the loss and gone down: a
 * receive that must time out, since no broker runs to send anything. */
static void
expect_down(struct udsb *c)
{
	struct udsb_event ev;
	int rc = udsb_recv(c, &ev, 200);

	cr_assert_eq(rc, UDSB_ETIMEDOUT, "%s (event %d): %s", udsb_status_name(rc), ev.type,
	             udsb_errmsg(c));
	cr_assert_eq(udsb_fd(c), -1, "no socket while down");
	cr_assert_eq(udsb_events(c), 0);
	cr_assert_geq(udsb_next_timeout(c), 0, "an attempt is always due while down");
}

/* The next event must be UDSB_EV_RECONNECTED; returns it in *ev. */
static void
expect_reconnected(struct udsb *c, struct udsb_event *ev)
{
	ct_next(c, ev);
	cr_assert_eq(ev->type, UDSB_EV_RECONNECTED, "event %d (%s %s)", ev->type, ev->topic,
	             ev->text);
	cr_assert_geq(ev->count, 1, "attempts");
	cr_assert_not_null(strstr(ev->text, ct_daemon.sock), "why: %s", ev->text);
	cr_assert_geq(udsb_fd(c), 0);
	cr_assert_eq(udsb_next_timeout(c), -1);
}

/* Publishes one message from a connection of its own, processed by the
 * broker when this returns (PONG). */
static void
publish_elsewhere(const char *topic, const char *payload)
{
	struct udsb *p = ct_connect(NULL);

	cr_assert_eq(udsb_publish(p, topic, payload, strlen(payload)), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK, "%s", udsb_errmsg(p));
	udsb_free(p);
}

Test(lib_reconnect, restart_restores_subscriptions_will_and_meta)
{
	struct udsb_event ev;
	struct udsb *c, *p, *obs;
	int rc;

	ct_start(NULL);
	c = connect_reconnecting();
	cr_assert_eq(udsb_set_meta(c, 1), UDSB_OK);
	cr_assert_eq(udsb_will(c, 1, "svc/c/state", "down", 4), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_subscribe(c, "r/#"), UDSB_OK);
	cr_assert_eq(udsb_subscribe(c, "gone"), UDSB_OK);
	cr_assert_eq(udsb_unsubscribe(c, "gone"), UDSB_OK);

	/* Broker stopped: BYE first, as without reconnect. */
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_BYE, "event %d", ev.type);
	expect_down(c);

	/* Down: every call that sends fails, nothing is queued for later. */
	rc = udsb_publish(c, "r/x", "while down", 10);
	cr_assert_eq(rc, UDSB_EDOWN, "%s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), "reconnecting"), "%s", udsb_errmsg(c));
	cr_assert_not_null(strstr(udsb_errmsg(c), ct_daemon.sock), "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_retain(c, "r/x", "v", 1), UDSB_EDOWN);
	cr_assert_eq(udsb_subscribe(c, "not/kept"), UDSB_EDOWN);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_EDOWN);

	/* A new broker on the same socket. */
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	expect_reconnected(c, &ev);
	cr_assert_not_null(strstr(ev.text, "BYE shutdown"), "why: %s", ev.text);

	/* The old subscription, with meta on, and nothing else. */
	p = ct_connect(NULL);
	cr_assert_eq(ct_stat(p, "subscriptions"), 1, "r/# alone");
	cr_assert_eq(udsb_publish(p, "r/after", "after the restart", 17), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "not/kept", "no", 2), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "gone", "no", 2), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_expect_msg(c, "r/after", "after the restart");
	ct_expect_quiet(c);

	/* The will is set again: it runs when c ends without QUIT. */
	obs = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(obs, "svc/#"), UDSB_OK);
	udsb_free(c);
	ct_expect_msg(obs, "svc/c/state", "down");
	udsb_free(obs);
	udsb_free(p);
}

/* Meta fields after the restart are the new connection's too. */
Test(lib_reconnect, meta_is_on_again)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = connect_reconnecting();
	cr_assert_eq(udsb_set_meta(c, 1), UDSB_OK);
	cr_assert_eq(udsb_subscribe(c, "m"), UDSB_OK);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	do
		ct_next(c, &ev);
	while (ev.type == UDSB_EV_BYE);
	cr_assert_eq(ev.type, UDSB_EV_RECONNECTED, "event %d", ev.type);
	publish_elsewhere("m", "x y");
	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_MSG);
	cr_assert_str_eq(ev.payload, "x y");
	cr_assert_eq(ev.pid, (long long)getpid());
	cr_assert_eq(ev.uid, (long long)getuid());
	cr_assert_str_eq(ev.via, "main");
	udsb_free(c);
}

/* SIGKILL: no BYE, a stale socket file the new broker replaces. A line
 * buffered before the loss was noticed cannot be sent: the event says so. */
Test(lib_reconnect, killed_broker_and_lost_lines)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = connect_reconnecting();
	cr_assert_eq(udsb_subscribe(c, "k"), UDSB_OK);
	th_wait(&ct_daemon, SIGKILL, TH_TIMEOUT_MS);
	/* The library cannot know yet: the line is buffered (UDSB_OK). */
	cr_assert_eq(udsb_publish(c, "k", "unsent", 6), UDSB_OK);
	expect_down(c);
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	expect_reconnected(c, &ev);
	cr_assert_not_null(strstr(ev.text, "1 buffered line was never sent"), "why: %s", ev.text);
	publish_elsewhere("k", "new");
	ct_expect_msg(c, "k", "new");
	udsb_free(c);
}

/* A program with its own poll loop: udsb_fd() is -1 while down and
 * udsb_next_timeout() says when to call udsb_process(). */
Test(lib_reconnect, own_loop_across_the_gap)
{
	struct udsb_event ev;
	struct udsb *c, *p;
	long long deadline;
	bool reconnected = false, got = false;

	ct_start(NULL);
	c = connect_reconnecting();
	cr_assert_eq(udsb_subscribe(c, "loop"), UDSB_OK);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	p = ct_connect(NULL);
	deadline = th_now_ms() + TH_TIMEOUT_MS;
	while (!got && th_left_ms(deadline) > 0) {
		struct pollfd pfd = { .fd = udsb_fd(c), .events = udsb_events(c) };
		int wait = udsb_next_timeout(c);
		int rc;

		if (wait < 0 || wait > th_left_ms(deadline))
			wait = th_left_ms(deadline);
		poll(&pfd, pfd.fd >= 0 ? 1 : 0, wait);
		rc = udsb_process(c);
		cr_assert(rc == UDSB_OK || rc == UDSB_EDOWN, "%s: %s", udsb_status_name(rc),
		          udsb_errmsg(c));
		while (udsb_recv(c, &ev, 0) == UDSB_OK) {
			if (ev.type == UDSB_EV_RECONNECTED) {
				reconnected = true;
				cr_assert_eq(udsb_publish(p, "loop", "in the loop", 11), UDSB_OK);
				cr_assert_eq(udsb_flush(p), UDSB_OK);
			} else if (ev.type == UDSB_EV_MSG) {
				cr_assert(reconnected);
				cr_assert_str_eq(ev.payload, "in the loop");
				got = true;
			}
		}
	}
	cr_assert(reconnected, "no UDSB_EV_RECONNECTED within %d ms", TH_TIMEOUT_MS);
	cr_assert(got, "no message after the reconnect");
	udsb_free(p);
	udsb_free(c);
}

/* udsb_close() is the end: no reconnect, ECLOSED from then on. */
Test(lib_reconnect, close_ends_reconnect)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = connect_reconnecting();
	cr_assert_eq(udsb_subscribe(c, "c"), UDSB_OK);
	cr_assert_eq(udsb_close(c), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_publish(c, "c", "x", 1), UDSB_ECLOSED);
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_ECLOSED);
	cr_assert_not_null(strstr(udsb_errmsg(c), "udsb_close"), "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_next_timeout(c), -1);
	udsb_free(c);
}

/* udsb_close() before any connection fails and ends nothing: a connection
 * made afterwards still reconnects. */
Test(lib_reconnect, close_unconnected_keeps_reconnect)
{
	struct udsb_event ev;
	struct udsb *c = udsb_new();

	cr_assert_eq(udsb_set_reconnect(c, 20, 400), UDSB_OK);
	cr_assert_eq(udsb_close(c), UDSB_ENOTCONN);
	ct_start(NULL);
	cr_assert_eq(udsb_set_timeout(c, TH_TIMEOUT_MS), UDSB_OK);
	cr_assert_eq(udsb_connect(c, ct_daemon.sock), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_subscribe(c, "u"), UDSB_OK);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_BYE, "event %d", ev.type);
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	expect_reconnected(c, &ev);
	udsb_free(c);
}

/* Bad back-off values; a first connect that fails still fails. */
Test(lib_reconnect, arguments_and_first_connect)
{
	char path[256];
	struct udsb *c = udsb_new();

	cr_assert_eq(udsb_set_reconnect(c, -1, 10), UDSB_EINVAL);
	cr_assert_eq(udsb_set_reconnect(c, 100, 50), UDSB_EINVAL);
	cr_assert_eq(udsb_set_reconnect(c, 100, 100), UDSB_OK);
	cr_assert_eq(udsb_set_reconnect(c, 0, 0), UDSB_OK, "off");
	cr_assert_eq(udsb_set_reconnect(c, 10, 1000), UDSB_OK);
	ct_start(NULL);
	snprintf(path, sizeof path, "%s/nobody.sock", ct_daemon.dir);
	cr_assert_eq(udsb_connect(c, path), UDSB_ECONNECT);
	cr_assert_eq(udsb_publish(c, "t", "x", 1), UDSB_ENOTCONN);
	cr_assert_eq(udsb_next_timeout(c), -1);
	udsb_free(c);
}

/* ---- the man page's examples (tests/client/man_*.c) ---- */

/* Starts example exe against ct_daemon, stderr merged into stdout. */
static void
start_example(struct th_proc *p, const char *var)
{
	const char *exe = getenv(var);
	char env[256];
	const char *envp[] = { env, NULL };
	char *argv[] = { (char *)exe, NULL };

	cr_assert(exe != NULL, "%s is not set", var);
	snprintf(env, sizeof env, "UDSBROKER_SOCKET=%s", ct_daemon.sock);
	cr_assert_eq(th_proc_start(p, argv, envp, NULL, true), 0);
}

/* Runs the publishing example once: it must exit 0. */
static void
run_pub_example(void)
{
	struct th_proc p;

	start_example(&p, "UDSB_MAN_PUB");
	cr_assert_eq(th_proc_finish(&p), 0, "man_pub: %s", p.out_buf);
	th_proc_free(&p);
}

Test(lib_reconnect, man_examples)
{
	static const char want[] = "sensors/kitchen/temp 21.5\n";
	struct th_proc sub;
	struct udsb *ctl;

	/* The first: prints what comes, ends when the broker goes away. */
	ct_start(NULL);
	ctl = ct_connect(NULL);
	start_example(&sub, "UDSB_MAN_SUB");
	ct_wait_subscriptions(ctl, 1);
	udsb_free(ctl);
	run_pub_example();
	cr_assert(th_proc_read(&sub, 1, TH_TIMEOUT_MS), "output: %s", sub.out_buf);
	cr_assert_str_eq(sub.out_buf, want);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	cr_assert_eq(th_proc_finish(&sub), 1, "output: %s", sub.out_buf);
	cr_assert_not_null(strstr(sub.out_buf, "BYE shutdown"), "output: %s", sub.out_buf);
	th_proc_free(&sub);

	/* The second: the same across a restart of the broker. */
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	ctl = ct_connect(NULL);
	start_example(&sub, "UDSB_MAN_SUB_RECONNECT");
	ct_wait_subscriptions(ctl, 1);
	udsb_free(ctl);
	run_pub_example();
	cr_assert(th_proc_read(&sub, 1, TH_TIMEOUT_MS), "output: %s", sub.out_buf);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	cr_assert_eq(th_spawn(&ct_daemon), 0);
	cr_assert(th_proc_read(&sub, 2, TH_TIMEOUT_MS), "output: %s", sub.out_buf);
	cr_assert_not_null(strstr(sub.out_buf, "reconnected after"), "output: %s", sub.out_buf);
	run_pub_example();
	cr_assert(th_proc_read(&sub, 3, TH_TIMEOUT_MS), "output: %s", sub.out_buf);
	cr_assert_str_eq(strrchr(sub.out_buf, '\n') - (sizeof want - 2), want);
	cr_assert_eq(sub.status, -2, "still running");
	kill(sub.pid, SIGTERM);
	th_proc_finish(&sub);
	th_proc_free(&sub);
}
