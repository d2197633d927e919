/*
 * libudsbroker against a fake broker the test serves itself (a listening
 * socket and a thread), for what a real broker never does (issue 11.8):
 * replies longer than the connection's max_line, which must fail their
 * call at once, never hang, and leave the connection usable; and every
 * call given a NULL connection, which must be UDSB_EINVAL, never a crash.
 * Release 2: over-long answers to REQ, WILL and OPT, and meta fields with
 * keys this library does not know, which it must ignore.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"

#define MAX_LINE 1024
#define LONG_LEN 5000 /* bytes of an over-long reply, its '\n' excluded */

TestSuite(lib_fake, .timeout = 60);

/* Every call with a NULL connection: UDSB_EINVAL or its "nothing" value. */
Test(lib_fake, null_handle)
{
	const struct udsb_stat *items = NULL;
	struct udsb_event ev;
	size_t n = 0;
	long rtt;

	cr_expect_eq(udsb_set_timeout(NULL, 10), UDSB_EINVAL);
	cr_expect_eq(udsb_set_max_line(NULL, 4096), UDSB_EINVAL);
	cr_expect_eq(udsb_connect(NULL, "/nonexistent/x.sock"), UDSB_EINVAL);
	cr_expect_eq(udsb_connect(NULL, NULL), UDSB_EINVAL);
	cr_expect_str_eq(udsb_path(NULL), "");
	cr_expect_eq(udsb_publish(NULL, "t", "x", 1), UDSB_EINVAL);
	cr_expect_eq(udsb_publish(NULL, NULL, NULL, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_subscribe(NULL, "t"), UDSB_EINVAL);
	cr_expect_eq(udsb_unsubscribe(NULL, "t"), UDSB_EINVAL);
	cr_expect_eq(udsb_ping(NULL, &rtt), UDSB_EINVAL);
	cr_expect_eq(udsb_ping(NULL, NULL), UDSB_EINVAL);
	cr_expect_eq(udsb_stats(NULL, &items, &n), UDSB_EINVAL);
	cr_expect_eq(udsb_stats(NULL, NULL, NULL), UDSB_EINVAL);
	cr_expect_eq(udsb_recv(NULL, &ev, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_recv(NULL, NULL, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_fd(NULL), -1);
	cr_expect_eq(udsb_events(NULL), 0);
	cr_expect_eq(udsb_process(NULL), UDSB_EINVAL);
	cr_expect_eq(udsb_flush(NULL), UDSB_EINVAL);
	cr_expect_eq(udsb_error(NULL), UDSB_EINVAL);
	cr_expect_not_null(udsb_errmsg(NULL));
	cr_expect_eq(udsb_errno(NULL), 0);
	cr_expect_str_eq(udsb_broker_error(NULL), "");
	udsb_free(NULL);
	cr_expect_str_eq(udsb_status_name(UDSB_ETOOLONG), "UDSB_ETOOLONG");
	/* Release 2 */
	const char *rt = NULL;

	cr_expect_eq(udsb_close(NULL), UDSB_EINVAL);
	cr_expect_eq(udsb_retain(NULL, "t", "x", 1), UDSB_EINVAL);
	cr_expect_eq(udsb_retain(NULL, NULL, NULL, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_will(NULL, 0, "t", "x", 1), UDSB_EINVAL);
	cr_expect_eq(udsb_will(NULL, 1, NULL, NULL, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_set_meta(NULL, 1), UDSB_EINVAL);
	cr_expect_eq(udsb_set_meta(NULL, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_request(NULL, "t", "x", 1, &rt), UDSB_EINVAL);
	cr_expect_eq(udsb_request(NULL, NULL, NULL, 0, NULL), UDSB_EINVAL);
	cr_expect_null(rt);
	cr_expect_eq(udsb_set_reconnect(NULL, 100, 5000), UDSB_EINVAL);
	cr_expect_eq(udsb_set_reconnect(NULL, 0, 0), UDSB_EINVAL);
	cr_expect_eq(udsb_next_timeout(NULL), -1);
	cr_expect_not_null(udsb_strerror(UDSB_EINVAL));
	cr_expect_not_null(udsb_version());
}

/* The new calls on a connection never connected: UDSB_ENOTCONN. */
Test(lib_fake, unconnected_new_calls)
{
	struct udsb *c = udsb_new();
	const char *rt = NULL;

	cr_assert_not_null(c);
	cr_expect_eq(udsb_retain(c, "t", "x", 1), UDSB_ENOTCONN);
	cr_expect_eq(udsb_will(c, 0, "t", "x", 1), UDSB_ENOTCONN);
	cr_expect_eq(udsb_set_meta(c, 1), UDSB_ENOTCONN);
	cr_expect_eq(udsb_request(c, "t", "x", 1, &rt), UDSB_ENOTCONN);
	cr_expect_eq(udsb_close(c), UDSB_ENOTCONN);
	cr_expect_eq(udsb_next_timeout(c), -1);
	udsb_free(c);
}

/* The fake broker: what it answers to each request, one script a test. */
struct fake {
	char dir[40], path[64];
	int lfd;         /* listening */
	int go[2];       /* the test writes a byte when the call returned */
	const char *sub; /* answer to SUB/UNSUB: "OK", "ERR", or a long one */
	int stats_long;  /* STATS: a reply of LONG_LEN bytes, '\n' held back */
	int pong_long;   /* PING: a long PONG */
	int msg_long;    /* before the PONG: a long MSG */
	int ok_long;     /* REQ, WILL, OPT: a long OK */
	const char *req; /* answer to REQ, '\n' included; NULL: a valid OK */
	const char *msg; /* before the PONG: this line */
	pthread_t thread;
};

/* Reads one line (without '\n') into buf; -1 at EOF. */
static long
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return (long)n;
}

/* Writes all of s; errors end the fake broker's script. */
static void
put(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* word + ' ' + LONG_LEN - len(word) - 1 bytes of 'x', no '\n'. */
static void
put_long(int fd, const char *word)
{
	static char buf[LONG_LEN];
	size_t wl = strlen(word);

	memset(buf, 'x', sizeof buf);
	memcpy(buf, word, wl);
	buf[wl] = ' ';
	put(fd, buf, sizeof buf);
}

/* Waits (bounded) for the test to say its call returned. */
static void
wait_go(struct fake *f)
{
	struct pollfd p = { .fd = f->go[0], .events = POLLIN };
	char ch;

	if (poll(&p, 1, 20000) == 1)
		(void)!read(f->go[0], &ch, 1);
}

/* Answers one connection's requests by the script in f. */
static void *
serve(void *arg)
{
	struct fake *f = arg;
	char line[256];
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (read_line(fd, line, sizeof line) >= 0) {
		if (strncmp(line, "STATS", 5) == 0 && f->stats_long) {
			/* Hold the '\n' back: the call must fail before it comes. */
			put_long(fd, "STATS");
			wait_go(f);
			put(fd, "xx\n", 3);
		} else if (strncmp(line, "STATS", 5) == 0) {
			put(fd, "STATS clients=1\n", 16);
		} else if (strncmp(line, "REQ", 3) == 0 || strncmp(line, "WILL", 4) == 0 ||
		           strncmp(line, "OPT", 3) == 0) {
			if (f->ok_long) {
				put_long(fd, "OK $reply/");
				wait_go(f);
				put(fd, "\n", 1);
			} else if (strncmp(line, "REQ", 3) == 0) {
				const char *ok = f->req ? f->req : "OK $reply/00ff\n";

				put(fd, ok, strlen(ok));
			} else {
				put(fd, "OK\n", 3);
			}
		} else if (strncmp(line, "PING", 4) == 0) {
			if (f->msg != NULL)
				put(fd, f->msg, strlen(f->msg));
			if (f->msg_long) {
				put_long(fd, "MSG t");
				put(fd, "\n", 1);
			}
			if (f->pong_long) {
				put_long(fd, "PONG");
				wait_go(f);
				put(fd, "\n", 1);
				f->pong_long = 0;
			} else {
				put(fd, "PONG", 4);
				put(fd, line + 4, strlen(line + 4));
				put(fd, "\n", 1);
			}
		} else if (strncmp(line, "SUB", 3) == 0 || strncmp(line, "UNSUB", 5) == 0) {
			if (strcmp(f->sub, "long-ok") == 0 || strcmp(f->sub, "long-err") == 0) {
				put_long(fd,
				         strcmp(f->sub, "long-ok") == 0 ? "OK" : "ERR bad-filter");
				wait_go(f);
				put(fd, "\n", 1);
				f->sub = "OK";
			} else {
				put(fd, "OK\n", 3);
			}
		}
	}
	close(fd);
	return NULL;
}

/* Starts a fake broker with script f (fields set by the caller). */
static void
fake_start(struct fake *f)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(f->dir, sizeof f->dir, "/tmp/udsb-fake-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/f.sock", f->dir);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->lfd, 0);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sun, sizeof sun), 0, "%s", strerror(errno));
	cr_assert_eq(listen(f->lfd, 4), 0);
	cr_assert_eq(pipe(f->go), 0);
	if (f->sub == NULL)
		f->sub = "OK";
	cr_assert_eq(pthread_create(&f->thread, NULL, serve, f), 0);
}

/* Tells the fake broker the call returned. */
static void
fake_go(struct fake *f)
{
	cr_assert_eq(write(f->go[1], "g", 1), 1);
}

/* Ends the fake broker once the client is freed. */
static void
fake_stop(struct fake *f)
{
	fake_go(f); /* in case it still waits */
	pthread_join(f->thread, NULL);
	close(f->lfd);
	close(f->go[0]);
	close(f->go[1]);
	unlink(f->path);
	rmdir(f->dir);
}

/* A connection to f with max_line MAX_LINE and a timeout of 8 s. */
static struct udsb *
fake_connect(struct fake *f)
{
	struct udsb *c = udsb_new();

	cr_assert_not_null(c);
	cr_assert_eq(udsb_set_max_line(c, MAX_LINE), UDSB_OK);
	cr_assert_eq(udsb_set_timeout(c, 8000), UDSB_OK);
	cr_assert_eq(udsb_connect(c, f->path), UDSB_OK, "%s", udsb_errmsg(c));
	return c;
}

/* The connection is still in step: a ping works and nothing is queued. */
static void
expect_usable(struct udsb *c)
{
	struct udsb_event ev;

	cr_expect_eq(udsb_ping(c, NULL), UDSB_OK, "after the long reply: %s", udsb_errmsg(c));
	cr_expect_eq(udsb_recv(c, &ev, 0), UDSB_ETIMEDOUT, "an event of type %d is queued",
	             ev.type);
}

/* A STATS reply longer than max_line whose end does not come: the call
 * fails at once with UDSB_ETOOLONG, not after the timeout. */
Test(lib_fake, overlong_stats_reply)
{
	struct fake f = { .stats_long = 1 };
	const struct udsb_stat *items;
	size_t n;
	long long t0;
	struct udsb *c;
	int rc;

	fake_start(&f);
	c = fake_connect(&f);
	t0 = th_now_ms();
	rc = udsb_stats(c, &items, &n);
	cr_expect_eq(rc, UDSB_ETOOLONG, "udsb_stats: %s (%s) after %lld ms", udsb_status_name(rc),
	             udsb_errmsg(c), th_now_ms() - t0);
	cr_expect_lt(th_now_ms() - t0, 4000, "it waited for the end of the line");
	cr_expect(strstr(udsb_errmsg(c), "longer than max_line") != NULL, "%s", udsb_errmsg(c));
	fake_go(&f);
	expect_usable(c);
	f.stats_long = 0;
	cr_expect_eq(udsb_stats(c, &items, &n), UDSB_OK, "%s", udsb_errmsg(c));
	cr_expect_eq(n, 1);
	udsb_free(c);
	fake_stop(&f);
}

/* The same for PONG, and for an OK or ERR to SUB and UNSUB. */
Test(lib_fake, overlong_pong_ok_err)
{
	static const char *const subs[] = { "long-ok", "long-err" };
	struct fake f = { .pong_long = 1 };
	struct udsb *c;
	int rc;

	fake_start(&f);
	c = fake_connect(&f);
	rc = udsb_ping(c, NULL);
	cr_expect_eq(rc, UDSB_ETOOLONG, "udsb_ping: %s", udsb_errmsg(c));
	fake_go(&f);
	expect_usable(c);
	for (size_t i = 0; i < 2; i++) {
		f.sub = subs[i];
		rc = i == 0 ? udsb_subscribe(c, "a/#") : udsb_unsubscribe(c, "a/#");
		cr_expect_eq(rc, UDSB_ETOOLONG, "%s: %s", subs[i], udsb_errmsg(c));
		fake_go(&f);
		expect_usable(c);
		cr_expect_eq(udsb_subscribe(c, "b"), UDSB_OK, "%s", udsb_errmsg(c));
	}
	udsb_free(c);
	fake_stop(&f);
}

/* A long delivery is no reply: the ping waiting meanwhile gets its PONG,
 * and an event says a line was skipped. */
Test(lib_fake, overlong_delivery_is_an_event)
{
	struct fake f = { .msg_long = 1 };
	struct udsb_event ev;
	struct udsb *c;

	fake_start(&f);
	c = fake_connect(&f);
	cr_expect_eq(udsb_ping(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_OK, "%s", udsb_errmsg(c));
	cr_expect_eq(ev.type, UDSB_EV_OVERLONG);
	cr_expect_eq(ev.count, LONG_LEN + 1);
	udsb_free(c);
	fake_stop(&f);
}

/* An over-long answer to REQ, WILL or OPT fails the call at once with
 * UDSB_ETOOLONG, never a hang, and the connection stays in step. */
Test(lib_fake, overlong_answers_to_new_requests)
{
	struct fake f = { .ok_long = 1 };
	const char *rt = NULL;
	long long t0;
	struct udsb *c;
	int rc;

	fake_start(&f);
	c = fake_connect(&f);
	for (int i = 0; i < 3; i++) {
		t0 = th_now_ms();
		rc = i == 0   ? udsb_request(c, "q", "x", 1, &rt)
		     : i == 1 ? udsb_will(c, 0, "w", "x", 1)
		              : udsb_set_meta(c, 1);
		cr_expect_eq(rc, UDSB_ETOOLONG, "call %d: %s (%s)", i, udsb_status_name(rc),
		             udsb_errmsg(c));
		cr_expect_lt(th_now_ms() - t0, 4000, "it waited for the end of the line");
		fake_go(&f);
		expect_usable(c);
	}
	cr_expect_null(rt);
	f.ok_long = 0;
	cr_expect_eq(udsb_request(c, "q", "x", 1, &rt), UDSB_OK, "%s", udsb_errmsg(c));
	cr_expect_str_eq(rt, "$reply/00ff");
	udsb_free(c);
	fake_stop(&f);
}

/* Keys the library does not know are ignored, wherever they come; a value
 * that is no number is unknown (-1); the raw field is kept. */
/* An "OK <reply-topic>" whose topic is no topic (a wildcard, cut UTF-8)
 * is a protocol error, never handed out as the reply topic. */
Test(lib_fake, bad_reply_topic_is_a_protocol_error)
{
	static const char *const bad[] = { "OK $reply/a+b\n", "OK $reply/00\xc3\n", "OK $reply/\n",
		                           "OK\n" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fake f = { .req = bad[i] };
		const char *rt = NULL;
		struct udsb *c;
		int rc;

		fake_start(&f);
		c = fake_connect(&f);
		rc = udsb_request(c, "q", "x", 1, &rt);
		cr_expect_eq(rc, UDSB_EPROTO, "answer %zu: %s (%s)", i, udsb_status_name(rc),
		             udsb_errmsg(c));
		cr_expect_null(rt, "answer %zu: reply topic %s", i, rt);
		udsb_free(c);
		fake_stop(&f);
	}
}

Test(lib_fake, meta_unknown_keys_ignored)
{
	static const char meta[] =
	    "color=blue;uid=5;x;gid=6;future=a=b;pid=7;uid2=9;via=bridge1;reply=$reply/abc;z=";
	char line[256];
	struct fake f = { 0 };
	struct udsb_event ev;
	struct udsb *c;

	snprintf(line, sizeof line, "MSG t/a %s hello there\nRMSG t/b uid=12x;via=main\n", meta);
	f.msg = line;
	fake_start(&f);
	c = fake_connect(&f);
	cr_assert_eq(udsb_set_meta(c, 1), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_OK, "%s", udsb_errmsg(c));
	cr_expect_eq(ev.type, UDSB_EV_MSG);
	cr_expect_str_eq(ev.topic, "t/a");
	cr_expect_str_eq(ev.payload, "hello there");
	cr_expect_eq(ev.retained, 0);
	cr_expect_eq(ev.uid, 5);
	cr_expect_eq(ev.gid, 6);
	cr_expect_eq(ev.pid, 7);
	cr_expect_str_eq(ev.via, "bridge1");
	cr_expect_str_eq(ev.reply, "$reply/abc");
	cr_expect_str_eq(ev.meta, meta);
	cr_assert_eq(udsb_recv(c, &ev, 0), UDSB_OK, "%s", udsb_errmsg(c));
	cr_expect_str_eq(ev.topic, "t/b");
	cr_expect_str_eq(ev.payload, "");
	cr_expect_eq(ev.retained, 1);
	cr_expect_eq(ev.uid, -1, "uid=12x is no number");
	cr_expect_eq(ev.gid, -1);
	cr_expect_str_eq(ev.via, "main");
	cr_expect_str_eq(ev.reply, "");
	udsb_free(c);
	fake_stop(&f);
}

/* A broker that goes away, then accepts and at once closes FLAPS
 * connections before it serves again: each of those is lost while being
 * restored, so the library backs off between them (no spinning) and counts
 * every attempt in the one UDSB_EV_RECONNECTED. */
enum { FLAPS = 4 };

struct flapper {
	struct fake f;
	int served; /* SUBs the last connection got */
};

/* Answers SUB with OK and PING with PONG on fd until EOF, or until the
 * test says go when until_go. */
static void
flap_serve(struct flapper *fl, int fd, bool until_go)
{
	char line[256];

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			               { .fd = fl->f.go[0], .events = POLLIN } };

		if (poll(p, until_go ? 2 : 1, 20000) <= 0 || (p[1].revents & POLLIN))
			return;
		if (read_line(fd, line, sizeof line) < 0)
			return;
		if (strncmp(line, "SUB", 3) == 0) {
			fl->served++;
			put(fd, "OK\n", 3);
		} else if (strncmp(line, "PING", 4) == 0) {
			put(fd, "PONG\n", 5);
		}
	}
}

static void *
flap_thread(void *arg)
{
	struct flapper *fl = arg;
	int fd = accept(fl->f.lfd, NULL, NULL);
	char ch;

	if (fd < 0)
		return NULL;
	flap_serve(fl, fd, true);
	(void)!read(fl->f.go[0], &ch, 1);
	close(fd);
	for (int i = 0; i < FLAPS; i++) {
		if ((fd = accept(fl->f.lfd, NULL, NULL)) < 0)
			return NULL;
		close(fd);
	}
	if ((fd = accept(fl->f.lfd, NULL, NULL)) < 0)
		return NULL;
	fl->served = 0;
	flap_serve(fl, fd, false);
	close(fd);
	return NULL;
}

Test(lib_fake, reconnect_backs_off_while_flapping)
{
	struct flapper fl = { .f = { .sub = "OK" } };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct udsb_event ev;
	struct udsb *c;
	long long t0;
	int rc;

	snprintf(fl.f.dir, sizeof fl.f.dir, "/tmp/udsb-fake-XXXXXX");
	cr_assert_not_null(mkdtemp(fl.f.dir));
	snprintf(fl.f.path, sizeof fl.f.path, "%s/f.sock", fl.f.dir);
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fl.f.path);
	fl.f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fl.f.lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	cr_assert_eq(listen(fl.f.lfd, 8), 0);
	cr_assert_eq(pipe(fl.f.go), 0);
	cr_assert_eq(pthread_create(&fl.f.thread, NULL, flap_thread, &fl), 0);

	c = fake_connect(&fl.f);
	cr_assert_eq(udsb_set_reconnect(c, 5, 20), UDSB_OK);
	cr_assert_eq(udsb_subscribe(c, "f/#"), UDSB_OK, "%s", udsb_errmsg(c));
	t0 = th_now_ms();
	fake_go(&fl.f); /* the broker goes away */
	rc = udsb_recv(c, &ev, 20000);
	cr_assert_eq(rc, UDSB_OK, "%s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_eq(ev.type, UDSB_EV_RECONNECTED, "event %d", ev.type);
	cr_expect_eq(ev.count, FLAPS + 1, "attempts %llu", ev.count);
	/* Back-off 5, 10, then 20 ms between the lost restores: at least. */
	cr_expect_geq(th_now_ms() - t0, 5 + 10 + 20 * (FLAPS - 2), "no back-off?");
	cr_expect_eq(fl.served, 1, "the filter was subscribed again");
	cr_expect_eq(udsb_ping(c, NULL), UDSB_OK, "%s", udsb_errmsg(c));
	udsb_free(c);
	pthread_join(fl.f.thread, NULL);
	close(fl.f.lfd);
	close(fl.f.go[0]);
	close(fl.f.go[1]);
	unlink(fl.f.path);
	rmdir(fl.f.dir);
}
