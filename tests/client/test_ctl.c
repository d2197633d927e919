/*
 * udsctl end to end against the real daemon: every exit status of the SPEC
 * (0, 27, 64, 65, 69), options before and after the operands and "--",
 * pub from arguments and from standard input (100,000 lines complete and
 * in order), pub -r and its clearing, sub with -n, -v and -W and its output
 * flushed into a pipe as messages come, DROPPED on stderr, --no-reconnect,
 * the socket path from -s, from UDSBROKER_SOCKET and -s winning over it.
 * sub's release-2 output and reconnect: test_ctl_sub.c; req and serve:
 * test_ctl_serve.c.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

TestSuite(ctl, .fini = ct_stop, .timeout = 120);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Runs udsctl with args against ct_daemon (-s prepended) and expects status. */
static void
expect_status(int status, const char *const *args, const char *stdin_path, struct th_proc *out)
{
	struct th_proc p;
	const char *argv[24] = { "-s", ct_daemon.sock };
	size_t n = 2;
	int rc;

	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	rc = ct_run(&p, argv, NULL, stdin_path);
	cr_assert_eq(rc, status, "udsctl %s ...: exit %d, want %d; stderr: %s", args[0], rc, status,
	             p.err_buf);
	if (out != NULL)
		*out = p;
	else
		th_proc_free(&p);
}

Test(ctl, help_and_version)
{
	struct th_proc p;
	char version[64];

	cr_assert_eq(ct_run(&p, ARGS("--help"), NULL, NULL), 0);
	cr_assert_not_null(strstr(p.out_buf, "usage:"));
	for (const char *const *w =
	         ARGS(" pub ", " sub ", " req ", " serve ", " ping", " stats", "-s ", "-v", "-n ",
	              "-W ", "-c ", "-r", "-R", "-T ", "-F ", "--json", "--retained-only",
	              "--no-reconnect", "--group ", "--version");
	     *w != NULL; w++)
		cr_assert_not_null(strstr(p.out_buf, *w), "--help lacks \"%s\"", *w);
	cr_assert_str_empty(p.err_buf);
	th_proc_free(&p);

	snprintf(version, sizeof version, "udsctl %s", udsb_version());
	cr_assert_eq(ct_run(&p, ARGS("--version"), NULL, NULL), 0);
	cr_assert_not_null(strstr(p.out_buf, version), "%s", p.out_buf);
	th_proc_free(&p);

	/* Each subcommand's own help, wherever --help stands. */
	for (const char *const *const *args =
	         (const char *const *const[]){
	             ARGS("sub", "--help"), ARGS("sub", "t/#", "-v", "--help"), ARGS("pub", "-h"),
	             ARGS("req", "--help"), ARGS("serve", "--help"), ARGS("ping", "--help"),
	             ARGS("stats", "--help"), NULL };
	     *args != NULL; args++) {
		char want[64];

		snprintf(want, sizeof want, "usage: udsctl [-s SOCKET] %s", (*args)[0]);
		cr_assert_eq(ct_run(&p, *args, NULL, NULL), 0, "%s --help: %s", (*args)[0],
		             p.err_buf);
		cr_assert(strncmp(p.out_buf, want, strlen(want)) == 0, "%s", p.out_buf);
		cr_assert_str_empty(p.err_buf);
		th_proc_free(&p);
	}
	cr_assert_eq(ct_run(&p, ARGS("sub", "--help"), NULL, NULL), 0);
	for (const char *const *w = ARGS("-v", "-R", "--retained-only", "-n COUNT", "-W SECONDS",
	                                 "-T FILTER", "-F FORMAT", "--json", "--no-reconnect");
	     *w != NULL; w++)
		cr_assert_not_null(strstr(p.out_buf, *w), "sub --help lacks \"%s\"", *w);
	th_proc_free(&p);
}

Test(ctl, usage_errors_exit_64)
{
	const char *const *const cases[] = {
		(const char *const[]){ NULL },
		ARGS("bogus"),
		ARGS("--bogus"),
		ARGS("-s"),
		ARGS("-s", "", "ping"),
		ARGS("pub"),
		ARGS("sub"),
		ARGS("sub", "-n", "0", "t"),
		ARGS("sub", "-n", "x", "t"),
		ARGS("sub", "-W", "soon", "t"),
		ARGS("sub", "-W", "0", "t"),
		ARGS("sub", "-W"),
		ARGS("sub", "-x", "t"),
		ARGS("sub", "t", "-W"), /* after the filter, as anywhere */
		ARGS("sub", "t", "--bogus"),
		ARGS("sub", "--json=yes", "t"),
		ARGS("sub", "-F", "%x", "t"),
		ARGS("sub", "-F", "%t", "--json", "t"),
		ARGS("sub", "--json", "-F", "%t", "t"),
		ARGS("sub", "-v", "--json", "t"),
		ARGS("sub", "-R", "--retained-only", "t"),
		ARGS("sub", "-T", "a/#/b", "t"),
		ARGS("pub", "t", "-5"), /* a MESSAGE beginning with '-' needs "--" */
		ARGS("pub", "-x", "t", "m"),
		ARGS("req"),
		ARGS("req", "-W", "0", "t"),
		ARGS("req", "-n", "0", "t"),
		ARGS("serve", "t"),
		ARGS("serve", "t", "date"),
		ARGS("serve", "--", "date"),
		ARGS("serve", "t", "--"),
		ARGS("serve", "a", "b", "--", "date"),
		ARGS("serve", "--group", "a/b", "t", "--", "date"),
		ARGS("serve", "--group", "", "t", "--", "date"),
		ARGS("serve", "t", "--", "/nonexistent/udsb-command"),
		ARGS("serve", "t", "--", "udsb-no-such-command-anywhere"),
		ARGS("ping", "-c", "0"),
		ARGS("ping", "extra"),
		ARGS("stats", "extra"),
	};

	ct_start(NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct th_proc p;

		cr_assert_eq(ct_run(&p, cases[i], NULL, NULL), 64, "case %zu: stderr %s", i,
		             p.err_buf);
		cr_assert_not_null(strstr(p.err_buf, "udsctl: "), "case %zu", i);
		cr_assert_str_empty(p.out_buf, "case %zu", i);
		th_proc_free(&p);
	}
}

Test(ctl, unreachable_exits_69_naming_the_path)
{
	/* sub and serve reconnect only after they were connected once: a
	 * broker that is not there at the start is 69 at once. */
	const char *const *const cases[] = {
		ARGS("ping"),
		ARGS("stats"),
		ARGS("pub", "t", "x"),
		ARGS("pub", "-r", "t", "x"),
		ARGS("sub", "t"),
		ARGS("sub", "--json", "-W", "1000", "t"),
		ARGS("sub", "--retained-only", "t"),
		ARGS("req", "t"),
		ARGS("serve", "t", "--", "date"),
	};
	char path[256];

	ct_start(NULL);
	snprintf(path, sizeof path, "%s/nobody-here.sock", ct_daemon.dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *argv[8] = { "-s", path };
		struct th_proc p;

		for (size_t k = 0; cases[i][k] != NULL; k++)
			argv[2 + k] = cases[i][k];
		cr_assert_eq(ct_run(&p, argv, NULL, NULL), 69, "%s: %s", cases[i][0], p.err_buf);
		cr_assert_not_null(strstr(p.err_buf, "cannot connect to "), "%s", p.err_buf);
		cr_assert_not_null(strstr(p.err_buf, path), "%s", p.err_buf);
		cr_assert_eq(th_count_lines(p.err_buf), 1, "one line: %s", p.err_buf);
		th_proc_free(&p);
	}
}

Test(ctl, ping_and_stats)
{
	struct th_proc p;
	char *end;

	ct_start(NULL);
	expect_status(0, ARGS("ping", "-c", "3"), NULL, &p);
	cr_assert_eq(th_count_lines(p.out_buf), 3, "%s", p.out_buf);
	strtol(p.out_buf, &end, 10);
	cr_assert(end != p.out_buf && *end == '\n', "not a number of microseconds: %s", p.out_buf);
	th_proc_free(&p);

	expect_status(0, ARGS("stats"), NULL, &p);
	for (const char *const *k = ARGS("clients ", "subscriptions ", "published ", "delivered ",
	                                 "dropped ", "bytes_in ", "bytes_out ", "uptime ");
	     *k != NULL; k++)
		cr_assert_not_null(strstr(p.out_buf, *k), "no \"%s\" in %s", *k, p.out_buf);
	cr_assert_not_null(strstr(p.out_buf, "clients 1\n"), "%s", p.out_buf);
	th_proc_free(&p);
}

Test(ctl, broker_err_exits_65)
{
	struct th_proc p;

	ct_start("max_subscriptions = 1\n");
	/* Refused by the broker. */
	expect_status(65, ARGS("pub", "$SYS/x", "hello"), NULL, &p);
	cr_assert_not_null(strstr(p.err_buf, "forbidden"), "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, ct_daemon.sock), "%s", p.err_buf);
	th_proc_free(&p);
	expect_status(65, ARGS("sub", "a", "b"), NULL, &p);
	cr_assert_not_null(strstr(p.err_buf, "too-many-subscriptions"), "%s", p.err_buf);
	th_proc_free(&p);
	/* Refused before sending, as the broker would. */
	expect_status(65, ARGS("pub", "a/+", "x"), NULL, NULL);
	expect_status(65, ARGS("sub", "a/#/b"), NULL, NULL);
	/* From standard input: the ERR is noticed while streaming. */
	expect_status(65, ARGS("pub", "$SYS/x"), ct_file("in", "1\n2\n3\n", 6), &p);
	cr_assert_not_null(strstr(p.err_buf, "forbidden"), "%s", p.err_buf);
	th_proc_free(&p);
	/* A line over the broker's max_line (default 64K) among good ones. */
	{
		enum { BIG = 70000 };
		static char text[BIG + 16];

		memset(text, 'z', sizeof text);
		memcpy(text, "ok\n", 3);
		text[3 + BIG] = '\n';
		memcpy(text + 4 + BIG, "ok again\n", 9);
		expect_status(65, ARGS("pub", "t"), ct_file("long", text, 4 + BIG + 9), &p);
		cr_assert_not_null(strstr(p.err_buf, "line-too-long"), "%s", p.err_buf);
		th_proc_free(&p);
	}
	/* A MESSAGE cannot hold a newline: the protocol has no way to send it. */
	expect_status(65, ARGS("pub", "t", "two\nlines"), NULL, NULL);
}

Test(ctl, pub_joins_words)
{
	struct udsb *s;

	ct_start(NULL);
	s = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "w"), UDSB_OK);
	expect_status(0, ARGS("pub", "w", "hello", "big", "world"), NULL, NULL);
	expect_status(0, ARGS("pub", "w", ""), NULL, NULL);
	expect_status(0, ARGS("pub", "w", "--", "-n", "5"), NULL, NULL);
	expect_status(0, ARGS("pub", "--", "w", "--"), NULL, NULL);
	{
		struct th_proc p;

		/* A word that looks like an option is one: the error says how. */
		expect_status(64, ARGS("pub", "w", "-5"), NULL, &p);
		cr_assert_not_null(strstr(p.err_buf, "put -- before a MESSAGE"), "%s", p.err_buf);
		th_proc_free(&p);
	}
	ct_expect_msg(s, "w", "hello big world");
	ct_expect_msg(s, "w", "");
	ct_expect_msg(s, "w", "-n 5");
	ct_expect_msg(s, "w", "--");
	ct_expect_quiet(s);
	udsb_free(s);
}

Test(ctl, pub_stdin_100000_lines_complete_and_in_order)
{
	enum { N = 100000 };
	static char text[N * 24];
	struct th_proc p;
	struct udsb *s;
	size_t len = 0;
	char want[32];

	ct_start("queue_limit = 64M\n");
	s = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "bulk"), UDSB_OK);
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "line %d of many\n", i);
	expect_status(0, ARGS("pub", "bulk"), ct_file("lines", text, len), &p);
	cr_assert_str_empty(p.out_buf);
	cr_assert_str_empty(p.err_buf);
	th_proc_free(&p);
	/* udsctl exited 0 after its barrier: all of them are queued for s. */
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof want, "line %d of many", i);
		ct_expect_msg(s, "bulk", want);
	}
	ct_expect_quiet(s);
	udsb_free(s);
}

Test(ctl, pub_stdin_empty_and_unterminated_lines)
{
	struct udsb *s;

	ct_start(NULL);
	s = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(s, "e"), UDSB_OK);
	expect_status(0, ARGS("pub", "e"), ct_file("in", "a\n\nlast", 7), NULL);
	ct_expect_msg(s, "e", "a");
	ct_expect_msg(s, "e", "");
	ct_expect_msg(s, "e", "last");
	expect_status(0, ARGS("pub", "e"), NULL, NULL); /* /dev/null: nothing */
	ct_expect_quiet(s);
	udsb_free(s);
}

/* Starts "udsctl -s SOCK sub ARGS..." and waits until the broker counts
 * subs subscriptions, so publishing afterwards cannot race it. */
static void
spawn_sub(struct th_proc *p, struct udsb *probe, const char *const *args, unsigned subs)
{
	const char *argv[16] = { "-s", ct_daemon.sock, "sub" };
	size_t n = 3;

	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	ct_spawn(p, argv, NULL, NULL);
	ct_wait_subscriptions(probe, subs);
}

/* Waits for the sub in p to exit 0 with exactly want on stdout; frees p. */
static void
expect_sub_output(struct th_proc *p, const char *want)
{
	cr_assert_eq(th_proc_finish(p), 0, "%s", p->err_buf);
	cr_assert_str_eq(p->out_buf, want);
	th_proc_free(p);
}

Test(ctl, sub_count_and_verbose)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("-n", "2", "s/#"), 1);
	for (int i = 1; i <= 3; i++) {
		char msg[16];

		snprintf(msg, sizeof msg, "m%d x", i);
		cr_assert_eq(udsb_publish(c, "s/t", msg, strlen(msg)), UDSB_OK);
	}
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	expect_sub_output(&p, "m1 x\nm2 x\n");

	spawn_sub(&p, c, ARGS("-v", "-n", "1", "s/+", "s/#"), 2);
	cr_assert_eq(udsb_publish(c, "s/v", "with topic", 10), UDSB_OK);
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	expect_sub_output(&p, "s/v with topic\n");
	udsb_free(c);
}

Test(ctl, sub_wait_timeout_exits_27)
{
	struct th_proc p;

	ct_start(NULL);
	expect_status(27, ARGS("sub", "-W", "0.2", "quiet/#"), NULL, &p);
	cr_assert_str_empty(p.out_buf);
	th_proc_free(&p);
}

/* The -W timer restarts with each message: -n 2 -W ... gets both messages
 * (the second sent only after the first was seen) and exits 0. */
Test(ctl, sub_wait_restarts_with_each_message)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("-W", "30", "-n", "2", "w"), 1);
	cr_assert_eq(udsb_publish(c, "w", "one", 3), UDSB_OK);
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	cr_assert(th_proc_read(&p, 1, TH_TIMEOUT_MS), "the first message did not come out");
	cr_assert_eq(udsb_publish(c, "w", "two", 3), UDSB_OK);
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	expect_sub_output(&p, "one\ntwo\n");
	udsb_free(c);
}

/* Into a pipe, each message shows up while udsctl keeps running. */
Test(ctl, sub_output_flushed_per_message_into_a_pipe)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("f"), 1);
	for (int i = 1; i <= 3; i++) {
		char msg[16];

		snprintf(msg, sizeof msg, "live %d", i);
		cr_assert_eq(udsb_publish(c, "f", msg, strlen(msg)), UDSB_OK);
		cr_assert_eq(udsb_flush(c), UDSB_OK);
		cr_assert(th_proc_read(&p, (size_t)i, TH_TIMEOUT_MS), "message %d not seen: \"%s\"",
		          i, p.out_buf);
	}
	cr_assert_str_eq(p.out_buf, "live 1\nlive 2\nlive 3\n");
	kill(p.pid, SIGTERM);
	th_proc_finish(&p);
	th_proc_free(&p);
	udsb_free(c);
}

/* A subscriber that cannot write its output falls behind; the broker drops
 * and says so, and udsctl prints DROPPED on stderr. Every message is either
 * printed or counted there. */
Test(ctl, sub_dropped_goes_to_stderr)
{
	enum { N = 3000, SIZE = 1000 };
	unsigned long long dropped = 0;
	char payload[SIZE];
	struct th_proc p;
	struct udsb *c;
	size_t lines;

	ct_start("queue_limit = 64K\n");
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("d"), 1);
	memset(payload, 'y', sizeof payload);
	for (int i = 0; i < N; i++)
		cr_assert_eq(udsb_publish(c, "d", payload, sizeof payload), UDSB_OK);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK);
	/* Only now read its output, until every message is accounted for. */
	for (;;) {
		const char *s;

		dropped = 0;
		for (s = p.err_buf; (s = strstr(s, "DROPPED ")) != NULL; s += 8)
			dropped += strtoull(s + 8, NULL, 10);
		lines = th_count_lines(p.out_buf);
		if (lines + dropped >= N)
			break;
		cr_assert(th_proc_read_more(&p, TH_TIMEOUT_MS),
		          "stuck at %zu printed + %llu dropped", lines, dropped);
	}
	cr_assert_eq(lines + dropped, N);
	cr_assert_gt(dropped, 0);
	kill(p.pid, SIGTERM);
	th_proc_finish(&p);
	th_proc_free(&p);
	udsb_free(c);
}

/* --no-reconnect, after the filter: the connection lost is exit 69, as in
 * release 1. */
Test(ctl, no_reconnect_connection_lost_exits_69)
{
	struct th_proc p;
	struct udsb *c;
	char sock[sizeof ct_daemon.sock];

	ct_start(NULL);
	memcpy(sock, ct_daemon.sock, sizeof sock);
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("t", "--no-reconnect"), 1);
	udsb_free(c);
	cr_assert_eq(th_stop(&ct_daemon), 0);
	cr_assert_eq(th_proc_finish(&p), 69, "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "lost"), "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, sock), "%s", p.err_buf);
	th_proc_free(&p);
}

Test(ctl, socket_from_environment_and_s_wins)
{
	char env_ok[300], env_bad[300], bad[256];
	struct th_proc p;

	ct_start(NULL);
	snprintf(bad, sizeof bad, "%s/not-this-one.sock", ct_daemon.dir);
	snprintf(env_ok, sizeof env_ok, "UDSBROKER_SOCKET=%s", ct_daemon.sock);
	snprintf(env_bad, sizeof env_bad, "UDSBROKER_SOCKET=%s", bad);

	cr_assert_eq(ct_run(&p, ARGS("ping"), ARGS(env_ok), NULL), 0, "%s", p.err_buf);
	th_proc_free(&p);
	/* -s wins over the environment, both ways. */
	cr_assert_eq(ct_run(&p, ARGS("-s", ct_daemon.sock, "ping"), ARGS(env_bad), NULL), 0, "%s",
	             p.err_buf);
	th_proc_free(&p);
	cr_assert_eq(ct_run(&p, ARGS("-s", bad, "ping"), ARGS(env_ok), NULL), 69);
	cr_assert_not_null(strstr(p.err_buf, bad), "%s", p.err_buf);
	th_proc_free(&p);
	/* Without either, the system broker's path: an XDG_RUNTIME_DIR socket
	 * only counts when it exists and is the user's own (unless a broker
	 * really is there). */
	snprintf(bad, sizeof bad, "%s", "/run/udsbroker.sock");
	if (access(bad, F_OK) == 0)
		return;
	cr_assert_eq(ct_run(&p, ARGS("stats"),
	                    ARGS("UDSBROKER_SOCKET", "XDG_RUNTIME_DIR=/nonexistent-udsb-test"),
	                    NULL),
	             69);
	cr_assert_not_null(strstr(p.err_buf, bad), "%s", p.err_buf);
	th_proc_free(&p);
}

/* Options after the filter are options (issue 16: `udsctl sub FILTER -W 3`
 * hung, the -W taken for a filter). */
Test(ctl, options_after_the_operands)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	expect_status(27, ARGS("sub", "quiet/#", "-W", "0.2"), NULL, &p);
	cr_assert_str_empty(p.out_buf);
	cr_assert_not_null(strstr(p.err_buf, "within 0.2 seconds"), "%s", p.err_buf);
	th_proc_free(&p);
	expect_status(27, ARGS("sub", "quiet/#", "-W0.2", "--no-reconnect"), NULL, NULL);

	/* Between and after filters, clustered: -v -n 1 for both filters. */
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("o/a", "-vn", "1", "o/b"), 2);
	cr_assert_eq(udsb_publish(c, "o/b", "after", 5), UDSB_OK);
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	expect_sub_output(&p, "o/b after\n");

	/* After "--", a filter that looks like an option is a filter. */
	spawn_sub(&p, c, ARGS("-n", "1", "--", "-v"), 1);
	cr_assert_eq(udsb_publish(c, "-v", "dash", 4), UDSB_OK);
	cr_assert_eq(udsb_flush(c), UDSB_OK);
	expect_sub_output(&p, "dash\n");
	udsb_free(c);

	/* -s after the subcommand, and pub's -r after its words. */
	{
		const char *argv[] = { "pub", "o/r", "kept", "-s", ct_daemon.sock, "-r", NULL };

		cr_assert_eq(ct_run(&p, argv, NULL, NULL), 0, "%s", p.err_buf);
		th_proc_free(&p);
	}
	c = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(c, "o/r"), UDSB_OK);
	ct_expect_msg(c, "o/r", "kept");
	udsb_free(c);
}

/* The retained value a new subscriber of topic gets: NULL for none. */
static const char *
retained_value(const char *topic)
{
	static char value[256];
	struct udsb_event ev;
	struct udsb *c = ct_connect(NULL);
	const char *ret = NULL;
	int rc;

	cr_assert_eq(udsb_subscribe(c, topic), UDSB_OK);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK); /* after every retained value */
	rc = udsb_recv(c, &ev, 0);
	if (rc == UDSB_OK) {
		cr_assert_eq(ev.type, UDSB_EV_MSG);
		cr_assert(ev.retained, "a live message on %s: %s", ev.topic, ev.payload);
		cr_assert_str_eq(ev.topic, topic);
		snprintf(value, sizeof value, "%s", ev.payload);
		ret = value;
	}
	ct_expect_quiet(c);
	udsb_free(c);
	return ret;
}

Test(ctl, pub_retain_and_clear)
{
	struct udsb *live;
	const char *v;

	ct_start(NULL);
	live = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(live, "state/#"), UDSB_OK);
	expect_status(0, ARGS("pub", "-r", "state/db", "up", "and", "running"), NULL, NULL);
	/* Delivered live as a message like any other... */
	ct_expect_msg(live, "state/db", "up and running");
	/* ...and kept for later subscribers. */
	v = retained_value("state/db");
	cr_assert(v != NULL && strcmp(v, "up and running") == 0, "retained: %s", v ? v : "none");

	/* Replaced; then cleared by an empty message. */
	expect_status(0, ARGS("pub", "-r", "state/db", "down"), NULL, NULL);
	v = retained_value("state/db");
	cr_assert(v != NULL && strcmp(v, "down") == 0, "retained: %s", v ? v : "none");
	expect_status(0, ARGS("pub", "-r", "state/db", ""), NULL, NULL);
	cr_assert_null(retained_value("state/db"));
	ct_expect_msg(live, "state/db", "down");
	ct_expect_msg(live, "state/db", ""); /* the clearing, live, as in MQTT */

	/* From standard input: each line retained in turn, the last one stays. */
	expect_status(0, ARGS("pub", "-r", "state/web"), ct_file("in", "starting\nready\n", 15),
	              NULL);
	v = retained_value("state/web");
	cr_assert(v != NULL && strcmp(v, "ready") == 0, "retained: %s", v ? v : "none");
	ct_expect_msg(live, "state/web", "starting");
	ct_expect_msg(live, "state/web", "ready");
	ct_expect_quiet(live);
	udsb_free(live);
}

Test(ctl, pub_retain_refused_exits_65)
{
	struct th_proc p;

	ct_start("max_retained = 1\n");
	expect_status(0, ARGS("pub", "-r", "a", "one"), NULL, NULL);
	expect_status(65, ARGS("pub", "-r", "b", "two"), NULL, &p);
	cr_assert_not_null(strstr(p.err_buf, "retained-full"), "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "retain"), "%s", p.err_buf);
	th_proc_free(&p);
	cr_assert_null(retained_value("b"));
	expect_status(65, ARGS("pub", "-r", "$SYS/x", "v"), NULL, NULL);
}
