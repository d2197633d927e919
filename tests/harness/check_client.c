/* Criterion assertions for libudsbroker connections and udsctl runs; see
 * check.h. */
#include "check.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct th_daemon ct_daemon;

void
ct_start(const char *extra_config)
{
	cr_assert_eq(th_start(&ct_daemon, extra_config), 0, "the broker did not start");
}

void
ct_stop(void)
{
	th_stop(&ct_daemon);
}

struct udsb *
ct_connect(const char *path)
{
	struct udsb *c = udsb_new();
	int rc;

	cr_assert_not_null(c);
	rc = udsb_connect(c, path ? path : ct_daemon.sock);
	cr_assert_eq(rc, UDSB_OK, "connect: %s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_eq(udsb_set_timeout(c, TH_TIMEOUT_MS), UDSB_OK);
	return c;
}

void
ct_next(struct udsb *c, struct udsb_event *ev)
{
	int rc = udsb_recv(c, ev, TH_TIMEOUT_MS);

	cr_assert_eq(rc, UDSB_OK, "recv: %s: %s", udsb_status_name(rc), udsb_errmsg(c));
}

void
ct_expect_msg(struct udsb *c, const char *topic, const char *payload)
{
	struct udsb_event ev;

	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_MSG, "event %d (%s %s), not the MSG %s %s", ev.type, ev.code,
	             ev.text, topic, payload);
	cr_assert_str_eq(ev.topic, topic);
	cr_assert_eq(ev.topic_len, strlen(topic));
	cr_assert_eq(ev.payload_len, strlen(payload), "payload \"%s\", want \"%s\"", ev.payload,
	             payload);
	cr_assert_str_eq(ev.payload, payload);
}

void
ct_expect_quiet(struct udsb *c)
{
	struct udsb_event ev;
	int rc = udsb_ping(c, NULL);

	cr_assert_eq(rc, UDSB_OK, "ping: %s", udsb_errmsg(c));
	rc = udsb_recv(c, &ev, 0);
	cr_assert_eq(rc, UDSB_ETIMEDOUT, "unexpected event %d: %s %s", ev.type, ev.topic,
	             ev.payload);
}

long long
ct_stat(struct udsb *c, const char *key)
{
	const struct udsb_stat *items;
	size_t n;
	int rc = udsb_stats(c, &items, &n);

	cr_assert_eq(rc, UDSB_OK, "stats: %s", udsb_errmsg(c));
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].key, key) == 0)
			return atoll(items[i].value);
	return -1;
}

void
ct_wait_subscriptions(struct udsb *c, unsigned long long n)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	long long have;
	int delay = 1;

	while ((have = ct_stat(c, "subscriptions")) != (long long)n) {
		cr_assert_lt(th_now_ms(), deadline,
		             "the broker counts %lld subscriptions, not %llu", have, n);
		th_backoff(&delay);
	}
}

const char *
ct_file(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", ct_daemon.dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

const char *
ct_udsctl(void)
{
	const char *p = getenv("UDSCTL");

	cr_assert(p != NULL && p[0] != '\0', "UDSCTL is not set: run the tests with meson test");
	return p;
}

void
ct_spawn(struct th_proc *p, const char *const *args, const char *const *env, const char *stdin_path)
{
	const char *argv[40];
	size_t n = 0;

	if (th_under_valgrind()) {
		/* meson test --setup valgrind: udsctl runs under valgrind, and
		 * any error or leak makes it exit 99, which no test expects. */
		argv[n++] = "/usr/bin/valgrind";
		argv[n++] = "-q";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect";
		argv[n++] = "--error-exitcode=99";
	}
	argv[n++] = ct_udsctl();
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	cr_assert_eq(th_proc_start(p, (char *const *)argv, env, stdin_path, false), 0,
	             "cannot start %s: %s", argv[0], strerror(errno));
}

int
ct_run(struct th_proc *p, const char *const *args, const char *const *env, const char *stdin_path)
{
	ct_spawn(p, args, env, stdin_path);
	return th_proc_finish(p);
}

void
ct_spawn_s(struct th_proc *p, const char *const *args, const char *stdin_path)
{
	const char *argv[40] = { "-s", ct_daemon.sock };
	size_t n = 2;

	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ct_spawn(p, argv, NULL, stdin_path);
}

int
ct_run_s(struct th_proc *p, const char *const *args, const char *stdin_path)
{
	ct_spawn_s(p, args, stdin_path);
	return th_proc_finish(p);
}

/* Occurrences of text in s. */
static int
count_in(const char *s, const char *text)
{
	int n = 0;

	while ((s = strstr(s, text)) != NULL) {
		n++;
		s += strlen(text);
	}
	return n;
}

void
ct_wait_stderr(struct th_proc *p, const char *text, int count)
{
	while (count_in(p->err_buf, text) < count)
		cr_assert(th_proc_read_more(p, TH_TIMEOUT_MS),
		          "udsctl's stderr never held \"%s\" %d times; stderr: %s; stdout: %s",
		          text, count, p->err_buf, p->out_buf);
}
