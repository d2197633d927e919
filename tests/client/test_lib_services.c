/*
 * libudsbroker's release-2 calls against the real daemon: retained values
 * and the retained flag, last wills (run on an abnormal end, not after
 * udsb_close()), delivery metadata with the kernel's values, request /
 * reply with and without responders, udsb_strerror() and the version.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

TestSuite(lib_services, .fini = ct_stop, .timeout = 120);

/* The next event must be a delivery of topic/payload with this retained
 * flag; returns it in *ev. */
static void
expect_delivery(struct udsb *c, struct udsb_event *ev, const char *topic, const char *payload,
                int retained)
{
	ct_next(c, ev);
	cr_assert_eq(ev->type, UDSB_EV_MSG, "event %d (%s %s), not the MSG %s %s", ev->type,
	             ev->code, ev->text, topic, payload);
	cr_assert_str_eq(ev->topic, topic);
	cr_assert_eq(ev->payload_len, strlen(payload), "payload \"%s\", want \"%s\"", ev->payload,
	             payload);
	cr_assert_str_eq(ev->payload, payload);
	cr_assert_eq(ev->retained, retained, "%s %s: retained %d, want %d", topic, payload,
	             ev->retained, retained);
}

Test(lib_services, retain_and_the_retained_flag)
{
	struct udsb_event ev;
	struct udsb *p, *s, *late;

	ct_start(NULL);
	p = ct_connect(NULL);
	s = ct_connect(NULL);
	cr_assert_eq(udsb_retain(p, "r/a", "v1", 2), UDSB_OK, "%s", udsb_errmsg(p));
	cr_assert_eq(udsb_retain(p, "r/a", "v2 with spaces", 14), UDSB_OK);
	cr_assert_eq(udsb_retain(p, "r/b", "b", 1), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);

	/* A later SUB gets the current values as retained deliveries. */
	cr_assert_eq(udsb_subscribe(s, "r/a"), UDSB_OK, "%s", udsb_errmsg(s));
	expect_delivery(s, &ev, "r/a", "v2 with spaces", 1);
	ct_expect_quiet(s);

	/* Live deliveries of a RETAIN and of a PUB are not retained ones. */
	cr_assert_eq(udsb_retain(p, "r/a", "v3", 2), UDSB_OK);
	cr_assert_eq(udsb_publish(p, "r/a", "live", 4), UDSB_OK);
	cr_assert_eq(udsb_flush(p), UDSB_OK);
	expect_delivery(s, &ev, "r/a", "v3", 0);
	expect_delivery(s, &ev, "r/a", "live", 0);

	/* An empty payload clears it: delivered live as an empty message,
	 * and a new subscriber gets nothing for that topic. */
	cr_assert_eq(udsb_retain(p, "r/a", NULL, 0), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	expect_delivery(s, &ev, "r/a", "", 0);
	late = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(late, "r/#"), UDSB_OK);
	expect_delivery(late, &ev, "r/b", "b", 1);
	ct_expect_quiet(late);

	/* Local checks as for publish: nothing sent. */
	cr_assert_eq(udsb_retain(p, "r/+", "x", 1), UDSB_ETOPIC);
	cr_assert_eq(udsb_retain(p, "r/a", "x\ny", 3), UDSB_EINVAL);
	/* A refusal comes later as an event, like a publish's. */
	cr_assert_eq(udsb_retain(p, "$SYS/x", "x", 1), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_next(p, &ev);
	cr_assert_eq(ev.type, UDSB_EV_ERROR);
	cr_assert_str_eq(ev.code, "forbidden");
	udsb_free(late);
	udsb_free(s);
	udsb_free(p);
}

Test(lib_services, retained_full_is_an_event)
{
	struct udsb_event ev;
	struct udsb *p;

	ct_start("max_retained = 1\n");
	p = ct_connect(NULL);
	cr_assert_eq(udsb_retain(p, "f/1", "a", 1), UDSB_OK);
	cr_assert_eq(udsb_retain(p, "f/2", "b", 1), UDSB_OK);
	cr_assert_eq(udsb_ping(p, NULL), UDSB_OK);
	ct_next(p, &ev);
	cr_assert_eq(ev.type, UDSB_EV_ERROR, "event %d", ev.type);
	cr_assert_str_eq(ev.code, "retained-full");
	ct_expect_quiet(p);
	udsb_free(p);
}

Test(lib_services, will_runs_on_abnormal_end_only)
{
	struct udsb_event ev;
	struct udsb *obs, *clean, *crash, *cleared, *late;

	ct_start(NULL);
	obs = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(obs, "svc/#"), UDSB_OK);

	/* Set, then cleared: nothing runs. */
	cleared = ct_connect(NULL);
	cr_assert_eq(udsb_will(cleared, 0, "svc/state", "cleared", 7), UDSB_OK, "%s",
	             udsb_errmsg(cleared));
	cr_assert_eq(udsb_will(cleared, 0, NULL, NULL, 0), UDSB_OK, "%s", udsb_errmsg(cleared));
	udsb_free(cleared);

	/* A clean end (QUIT): nothing runs. */
	clean = ct_connect(NULL);
	cr_assert_eq(udsb_will(clean, 0, "svc/state", "clean", 5), UDSB_OK, "%s",
	             udsb_errmsg(clean));
	cr_assert_eq(udsb_close(clean), UDSB_OK, "%s", udsb_errmsg(clean));
	cr_assert_eq(udsb_publish(clean, "svc/x", "x", 1), UDSB_ECLOSED);
	udsb_free(clean);

	/* An abnormal end (closed without QUIT): the will runs, retained. The
	 * broker reaps ended connections in order, so had either will above
	 * run, it would come first. */
	crash = ct_connect(NULL);
	cr_assert_eq(udsb_will(crash, 1, "svc/state", "down", 4), UDSB_OK, "%s",
	             udsb_errmsg(crash));
	udsb_free(crash);
	expect_delivery(obs, &ev, "svc/state", "down", 0);
	ct_expect_quiet(obs);
	late = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(late, "svc/state"), UDSB_OK);
	expect_delivery(late, &ev, "svc/state", "down", 1);

	/* The broker's checks apply when it is given. */
	cr_assert_eq(udsb_will(late, 0, "$SYS/x", "x", 1), UDSB_EBROKER);
	cr_assert_str_eq(udsb_broker_error(late), "forbidden");
	cr_assert_eq(udsb_will(late, 0, "a/+", "x", 1), UDSB_ETOPIC);
	cr_assert_eq(udsb_ping(late, NULL), UDSB_OK, "still usable");
	udsb_free(late);
	udsb_free(obs);
}

/* A will after publishes: the ERR of a publish is not taken for the
 * will's answer (the sync PING before requests that can fail). */
Test(lib_services, will_after_refused_publish)
{
	struct udsb_event ev;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	cr_assert_eq(udsb_publish(c, "$SYS/no", "x", 1), UDSB_OK);
	cr_assert_eq(udsb_will(c, 0, "w", "x", 1), UDSB_OK, "%s", udsb_errmsg(c));
	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_ERROR);
	cr_assert_str_eq(ev.code, "forbidden");
	udsb_free(c);
}

/* Publishes topic/payload from a child process (its own connection and
 * pid), then waits for it. Returns the child's pid. */
static pid_t
publish_from_child(const char *topic, const char *payload, int retain)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct udsb *c = udsb_new();
		int ok = c != NULL && udsb_connect(c, ct_daemon.sock) == UDSB_OK &&
		         udsb_set_timeout(c, TH_TIMEOUT_MS) == UDSB_OK &&
		         (retain ? udsb_retain(c, topic, payload, strlen(payload))
		                 : udsb_publish(c, topic, payload, strlen(payload))) == UDSB_OK &&
		         udsb_ping(c, NULL) == UDSB_OK;

		udsb_free(c);
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(th_reap(pid, TH_TIMEOUT_MS, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the publisher failed");
	return pid;
}

/* Asserts ev carries the meta of a publisher with pid on the main socket. */
static void
expect_meta_of(const struct udsb_event *ev, pid_t pid)
{
	cr_assert_eq(ev->uid, (long long)getuid());
	cr_assert_eq(ev->gid, (long long)getgid());
	cr_assert_eq(ev->pid, (long long)pid, "pid %lld, the publisher was %d", ev->pid, (int)pid);
	cr_assert_str_eq(ev->via, "main");
	cr_assert_str_eq(ev->reply, "");
	cr_assert_not_null(strstr(ev->meta, "via=main"), "meta %s", ev->meta);
}

Test(lib_services, meta_fields_are_the_kernels)
{
	struct udsb_event ev;
	struct udsb *s;
	pid_t pid;

	ct_start(NULL);
	s = ct_connect(NULL);
	cr_assert_eq(udsb_set_meta(s, 1), UDSB_OK, "%s", udsb_errmsg(s));
	cr_assert_eq(udsb_subscribe(s, "m/#"), UDSB_OK);

	pid = publish_from_child("m/a", "hello meta world", 0);
	cr_assert_neq(pid, getpid());
	expect_delivery(s, &ev, "m/a", "hello meta world", 0);
	expect_meta_of(&ev, pid);

	/* Empty payload: "MSG topic meta". */
	pid = publish_from_child("m/empty", "", 0);
	expect_delivery(s, &ev, "m/empty", "", 0);
	expect_meta_of(&ev, pid);

	/* A retained value keeps its publisher's meta. */
	pid = publish_from_child("m/kept", "k v", 1);
	expect_delivery(s, &ev, "m/kept", "k v", 0);
	cr_assert_eq(udsb_subscribe(s, "m/kept"), UDSB_OK);
	expect_delivery(s, &ev, "m/kept", "k v", 1);
	expect_meta_of(&ev, pid);

	/* Off again: release-1 deliveries, no fields. */
	cr_assert_eq(udsb_set_meta(s, 0), UDSB_OK);
	publish_from_child("m/a", "plain one", 0);
	expect_delivery(s, &ev, "m/a", "plain one", 0);
	cr_assert_eq(ev.uid, -1);
	cr_assert_eq(ev.pid, -1);
	cr_assert_str_eq(ev.meta, "");
	cr_assert_str_eq(ev.via, "");
	udsb_free(s);
}

Test(lib_services, request_with_a_responder)
{
	struct udsb_event ev;
	struct udsb *q, *r;
	const char *rt = NULL;
	char topic[128], other[128];

	ct_start(NULL);
	q = ct_connect(NULL);
	r = ct_connect(NULL);
	cr_assert_eq(udsb_set_meta(r, 1), UDSB_OK);
	cr_assert_eq(udsb_subscribe(r, "svc/time"), UDSB_OK);

	cr_assert_eq(udsb_request(q, "svc/time", "now please", 10, &rt), UDSB_OK, "%s",
	             udsb_errmsg(q));
	cr_assert_not_null(rt);
	cr_assert_eq(strncmp(rt, "$reply/", 7), 0, "reply topic %s", rt);
	cr_assert_geq(strlen(rt), 7 + 16, "a token of at least 64 bits: %s", rt);
	snprintf(topic, sizeof topic, "%s", rt);

	/* The responder sees who asks and where to answer. */
	expect_delivery(r, &ev, "svc/time", "now please", 0);
	cr_assert_str_eq(ev.reply, topic);
	cr_assert_eq(ev.uid, (long long)getuid());
	cr_assert_eq(ev.pid, (long long)getpid());
	cr_assert_str_eq(ev.via, "main");
	cr_assert_eq(udsb_publish(r, ev.reply, "12:00", 5), UDSB_OK);
	cr_assert_eq(udsb_ping(r, NULL), UDSB_OK);
	expect_delivery(q, &ev, topic, "12:00", 0);

	/* A second request gets a new topic. */
	cr_assert_eq(udsb_request(q, "svc/time", NULL, 0, &rt), UDSB_OK, "%s", udsb_errmsg(q));
	snprintf(other, sizeof other, "%s", rt);
	cr_assert_str_neq(other, topic);
	expect_delivery(r, &ev, "svc/time", "", 0);
	cr_assert_str_eq(ev.reply, other);

	/* UNSUB of the reply topic ends it: a late reply reaches nobody. */
	cr_assert_eq(udsb_unsubscribe(q, topic), UDSB_OK, "%s", udsb_errmsg(q));
	cr_assert_eq(udsb_publish(r, topic, "late", 4), UDSB_OK);
	cr_assert_eq(udsb_publish(r, other, "second", 6), UDSB_OK);
	cr_assert_eq(udsb_ping(r, NULL), UDSB_OK);
	expect_delivery(q, &ev, other, "second", 0);
	ct_expect_quiet(q);
	udsb_free(r);
	udsb_free(q);
}

Test(lib_services, request_without_responders)
{
	struct udsb_event ev;
	struct udsb *q;
	const char *rt = "untouched";

	ct_start(NULL);
	q = ct_connect(NULL);
	/* After a publish, so the sync PING is in play too. */
	cr_assert_eq(udsb_publish(q, "nobody/listens", "x", 1), UDSB_OK);
	cr_assert_eq(udsb_request(q, "svc/none", "?", 1, &rt), UDSB_ENORESPONDERS, "%s",
	             udsb_errmsg(q));
	cr_assert_str_eq(rt, "untouched");
	cr_assert_eq(udsb_error(q), UDSB_ENORESPONDERS);
	cr_assert_not_null(strstr(udsb_errmsg(q), "svc/none"), "%s", udsb_errmsg(q));
	cr_assert_not_null(strstr(udsb_errmsg(q), ct_daemon.sock), "%s", udsb_errmsg(q));
	/* Other refusals stay UDSB_EBROKER; local checks send nothing. */
	cr_assert_eq(udsb_request(q, "$SYS/x", "?", 1, &rt), UDSB_EBROKER);
	cr_assert_str_eq(udsb_broker_error(q), "forbidden");
	cr_assert_eq(udsb_request(q, "a/#", "?", 1, &rt), UDSB_ETOPIC);
	cr_assert_eq(udsb_request(q, "a", "?", 1, NULL), UDSB_EINVAL);
	cr_assert_eq(udsb_recv(q, &ev, 0), UDSB_ETIMEDOUT, "event %d queued", ev.type);
	cr_assert_eq(udsb_ping(q, NULL), UDSB_OK, "still usable");
	udsb_free(q);
}

Test(lib_services, strerror_every_code)
{
	for (int a = UDSB_OK; a <= UDSB_EDOWN; a++) {
		const char *s = udsb_strerror(a);

		cr_assert_not_null(s, "code %d", a);
		cr_assert_gt(strlen(s), 0, "code %d", a);
		cr_assert_str_neq(udsb_status_name(a), "UDSB_E?", "code %d has no name", a);
		for (int b = UDSB_OK; b < a; b++)
			cr_assert_str_neq(s, udsb_strerror(b), "codes %d and %d", a, b);
	}
	cr_assert_str_eq(udsb_strerror(UDSB_ENORESPONDERS), "no subscriber matched the request");
	cr_assert_not_null(udsb_strerror(-1));
	cr_assert_not_null(udsb_strerror(UDSB_EDOWN + 1));
	cr_assert_not_null(udsb_strerror(1 << 30));
}

Test(lib_services, version_macros_match_the_library)
{
	char want[32];

	snprintf(want, sizeof want, "%d.%d.%d", UDSB_VERSION_MAJOR, UDSB_VERSION_MINOR,
	         UDSB_VERSION_PATCH);
	cr_assert_str_eq(udsb_version(), want);
}
