/*
 * udsctl req and udsctl serve against the real daemon: serve answers req
 * with the lines its command prints (date +%s), with the payload on the
 * command's stdin and the requester's identity in its environment; req's
 * 27 and 65; a failing command told on stderr with its output still sent;
 * messages without a reply address ignored; one request at a time in
 * arrival order; serve reconnecting across a broker restart.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

TestSuite(ctl_serve, .fini = ct_stop, .timeout = 120);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Starts "udsctl -s SOCK serve ARGS..." (env as for th_exec) and waits
 * until the broker counts subs subscriptions. */
static void
spawn_serve(struct th_proc *p, struct udsb *probe, const char *const *args, const char *const *env,
            unsigned subs)
{
	const char *argv[24] = { "-s", ct_daemon.sock, "serve" };
	size_t n = 3;

	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ct_spawn(p, argv, env, NULL);
	ct_wait_subscriptions(probe, subs);
}

/* Stops serve (it runs until a signal) and collects its output. */
static void
stop_serve(struct th_proc *p)
{
	kill(p->pid, SIGTERM);
	th_proc_finish(p);
}

/* Sends a request from c and returns its reply topic (a copy). */
static char *
request(struct udsb *c, const char *topic, const char *payload)
{
	const char *reply;
	int rc = udsb_request(c, topic, payload, strlen(payload), &reply);
	char *copy;

	cr_assert_eq(rc, UDSB_OK, "request: %s", udsb_errmsg(c));
	copy = strdup(reply);
	cr_assert_not_null(copy);
	return copy;
}

Test(ctl_serve, date_answers_req_with_a_number)
{
	struct th_proc serve, req;
	struct udsb *c;
	long long now, t;
	char *end;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_serve(&serve, c, ARGS("time/now", "--", "date", "+%s"), NULL, 1);
	cr_assert_eq(ct_run_s(&req, ARGS("req", "time/now"), NULL), 0, "req: %s; serve: %s",
	             req.err_buf, serve.err_buf);
	now = (long long)time(NULL);
	t = strtoll(req.out_buf, &end, 10);
	cr_assert(end != req.out_buf && strcmp(end, "\n") == 0, "not a number: \"%s\"",
	          req.out_buf);
	/* date's clock is ours: the same second, give or take a slow machine. */
	cr_assert(t <= now && t > now - 600, "date said %lld, time() %lld", t, now);
	cr_assert_str_empty(req.err_buf);
	th_proc_free(&req);
	stop_serve(&serve);
	cr_assert_str_empty(serve.err_buf, "serve said: %s", serve.err_buf);
	th_proc_free(&serve);
	udsb_free(c);
}

Test(ctl_serve, req_no_responders_65_and_timeout_27)
{
	struct udsb *silent;
	struct th_proc p;

	ct_start(NULL);
	cr_assert_eq(ct_run_s(&p, ARGS("req", "nobody/home", "hello"), NULL), 65);
	cr_assert_not_null(strstr(p.err_buf, "no-responders"), "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "nobody/home"), "%s", p.err_buf);
	cr_assert_str_empty(p.out_buf);
	th_proc_free(&p);

	/* A subscriber that receives the request and never answers. */
	silent = ct_connect(NULL);
	cr_assert_eq(udsb_set_meta(silent, 1), UDSB_OK);
	cr_assert_eq(udsb_subscribe(silent, "slow/svc"), UDSB_OK);
	cr_assert_eq(ct_run_s(&p, ARGS("req", "slow/svc", "-W", "0.3"), NULL), 27, "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "no reply"), "%s", p.err_buf);
	cr_assert_str_empty(p.out_buf);
	th_proc_free(&p);
	udsb_free(silent);
}

/* A MESSAGE with a newline cannot be sent: 65, as for pub, even with a
 * responder there (so not for want of one), and nothing sent. */
Test(ctl_serve, req_message_with_newline_65)
{
	struct udsb *svc;
	struct th_proc p;

	ct_start(NULL);
	svc = ct_connect(NULL);
	cr_assert_eq(udsb_subscribe(svc, "nl/svc"), UDSB_OK);
	cr_assert_eq(ct_run_s(&p, ARGS("req", "nl/svc", "two\nlines"), NULL), 65, "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "newline"), "%s", p.err_buf);
	cr_assert_str_empty(p.out_buf);
	th_proc_free(&p);
	ct_expect_quiet(svc);
	udsb_free(svc);
}

/* A responder by hand: req prints the first reply, or the first -n. */
Test(ctl_serve, req_first_and_count_replies)
{
	struct th_proc p;
	struct udsb_event ev;
	struct udsb *svc;
	char reply[128];

	ct_start(NULL);
	svc = ct_connect(NULL);
	cr_assert_eq(udsb_set_meta(svc, 1), UDSB_OK);
	cr_assert_eq(udsb_subscribe(svc, "hand/svc"), UDSB_OK);
	for (int count = 1; count <= 3; count += 2) {
		char n[8];

		snprintf(n, sizeof n, "%d", count);
		ct_spawn_s(&p, ARGS("req", "-n", n, "hand/svc", "two", "words"), NULL);
		ct_next(svc, &ev);
		cr_assert_eq(ev.type, UDSB_EV_MSG);
		cr_assert_str_eq(ev.payload, "two words");
		cr_assert_str_neq(ev.reply, "");
		snprintf(reply, sizeof reply, "%s", ev.reply);
		for (int i = 1; i <= 4; i++) {
			char line[16];

			snprintf(line, sizeof line, "answer %d", i);
			cr_assert_eq(udsb_publish(svc, reply, line, strlen(line)), UDSB_OK);
		}
		cr_assert_eq(udsb_flush(svc), UDSB_OK);
		cr_assert_eq(th_proc_finish(&p), 0, "%s", p.err_buf);
		cr_assert_str_eq(p.out_buf,
		                 count == 1 ? "answer 1\n" : "answer 1\nanswer 2\nanswer 3\n");
		th_proc_free(&p);
	}
	udsb_free(svc);
}

Test(ctl_serve, command_gets_payload_and_identity)
{
	char want[256];
	struct th_proc serve;
	struct udsb *c;
	char *reply;

	ct_start(NULL);
	c = ct_connect(NULL);
	/* A UDSB_TOPIC of udsctl's own environment is not what the command sees. */
	spawn_serve(&serve, c,
	            ARGS("env/#", "--", "sh", "-c",
	                 "printf '%s|%s|%s|%s|' \"$UDSB_TOPIC\" \"$UDSB_UID\" \"$UDSB_GID\" "
	                 "\"$UDSB_PID\"; cat; echo \"keep=$KEEP\""),
	            ARGS("UDSB_TOPIC=stale", "KEEP=kept"), 1);
	reply = request(c, "env/x", "the payload");
	snprintf(want, sizeof want, "env/x|%d|%d|%d|the payload", (int)getuid(), (int)getgid(),
	         (int)getpid());
	ct_expect_msg(c, reply, want);
	ct_expect_msg(c, reply, "keep=kept");
	ct_expect_quiet(c);
	free(reply);
	stop_serve(&serve);
	th_proc_free(&serve);
	udsb_free(c);
}

Test(ctl_serve, failing_command_told_and_output_sent)
{
	struct th_proc serve, req;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_serve(&serve, c,
	            ARGS("fail/t", "--", "sh", "-c", "echo one; echo; printf three; exit 3"), NULL,
	            1);
	cr_assert_eq(ct_run_s(&req, ARGS("req", "-n", "3", "fail/t"), NULL), 0, "%s", req.err_buf);
	cr_assert_str_eq(req.out_buf, "one\n\nthree\n"); /* an empty line, a last line without \n */
	th_proc_free(&req);
	ct_wait_stderr(&serve, "exited with status 3", 1);
	cr_assert_not_null(strstr(serve.err_buf, "fail/t"), "%s", serve.err_buf);
	stop_serve(&serve);
	th_proc_free(&serve);
	udsb_free(c);
}

Test(ctl_serve, messages_without_reply_address_are_ignored)
{
	char runs_path[256], cmd[512], line[64];
	struct th_proc serve, req;
	struct udsb *c;
	int lines = 0;
	FILE *f;

	ct_start(NULL);
	c = ct_connect(NULL);
	snprintf(runs_path, sizeof runs_path, "%s/runs", ct_daemon.dir);
	snprintf(cmd, sizeof cmd, "echo run >> '%s'; echo answered", runs_path);
	spawn_serve(&serve, c, ARGS("ign/t", "--", "sh", "-c", cmd), NULL, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(udsb_publish(c, "ign/t", "plain", 5), UDSB_OK);
	cr_assert_eq(udsb_retain(c, "ign/t", "retained", 8), UDSB_OK);
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK);
	/* The request after them is answered: they were passed over. */
	cr_assert_eq(ct_run_s(&req, ARGS("req", "ign/t"), NULL), 0, "%s", req.err_buf);
	cr_assert_str_eq(req.out_buf, "answered\n");
	th_proc_free(&req);
	f = fopen(runs_path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		lines++;
	fclose(f);
	cr_assert_eq(lines, 1, "the command ran %d times", lines);
	stop_serve(&serve);
	cr_assert_eq(th_count_lines(serve.err_buf), 1, "told once: %s", serve.err_buf);
	cr_assert_not_null(strstr(serve.err_buf, "without a reply address"), "%s", serve.err_buf);
	th_proc_free(&serve);
	udsb_free(c);
}

/* Three requests sent at once; the first takes the longest. Served one at
 * a time in arrival order, the replies come in the order of the requests
 * (served at once, the shortest would come first). */
Test(ctl_serve, one_request_at_a_time_in_arrival_order)
{
	static const char *const payloads[] = { "3", "2", "1" };
	char *replies[3];
	struct th_proc serve;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_serve(&serve, c, ARGS("ord/t", "--", "sh", "-c", "read n; sleep 0.$n; echo $n"), NULL,
	            1);
	for (int i = 0; i < 3; i++)
		replies[i] = request(c, "ord/t", payloads[i]);
	for (int i = 0; i < 3; i++) {
		ct_expect_msg(c, replies[i], payloads[i]);
		free(replies[i]);
	}
	ct_expect_quiet(c);
	stop_serve(&serve);
	th_proc_free(&serve);
	udsb_free(c);
}

Test(ctl_serve, reconnects_across_a_broker_restart)
{
	struct th_proc serve, req;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_serve(&serve, c, ARGS("rc/svc", "--", "echo", "still here"), NULL, 1);
	udsb_free(c);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	ct_daemon.pid = 0;
	ct_wait_stderr(&serve, "lost the connection to ", 1);
	cr_assert_eq(th_spawn(&ct_daemon), 0, "the broker did not start again");
	ct_wait_stderr(&serve, "reconnected to ", 1);
	cr_assert_eq(ct_run_s(&req, ARGS("req", "rc/svc", "x"), NULL), 0, "%s", req.err_buf);
	cr_assert_str_eq(req.out_buf, "still here\n");
	th_proc_free(&req);
	stop_serve(&serve);
	th_proc_free(&serve);
}

/* COMMAND is looked up once, as execvp would: a directory of its name
 * earlier in PATH is skipped, and the program found is the one that
 * answers; a directory given as COMMAND is refused at once (64). */
Test(ctl_serve, command_found_in_path_is_what_runs)
{
	char shadow[192], bin[192], script[256], path[512];
	const char *const env[] = { path, NULL };
	struct th_proc serve, p;
	struct udsb *c;
	char *reply;
	FILE *f;

	ct_start(NULL);
	snprintf(shadow, sizeof shadow, "%s/shadow", ct_daemon.dir);
	snprintf(bin, sizeof bin, "%s/bin", ct_daemon.dir);
	snprintf(script, sizeof script, "%s/udsb-svc", shadow);
	cr_assert_eq(mkdir(shadow, 0755), 0);
	cr_assert_eq(mkdir(script, 0755), 0); /* a directory named like the command */
	cr_assert_eq(mkdir(bin, 0755), 0);
	snprintf(script, sizeof script, "%s/udsb-svc", bin);
	f = fopen(script, "w");
	cr_assert_not_null(f);
	fputs("#!/bin/sh\necho from the program\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(script, 0755), 0);
	snprintf(path, sizeof path, "PATH=%s:%s:/usr/bin:/bin", shadow, bin);

	c = ct_connect(NULL);
	spawn_serve(&serve, c, ARGS("path/svc", "--", "udsb-svc"), env, 1);
	reply = request(c, "path/svc", "x");
	ct_expect_msg(c, reply, "from the program");
	free(reply);
	stop_serve(&serve);
	cr_assert_str_empty(serve.err_buf);
	th_proc_free(&serve);
	udsb_free(c);

	cr_assert_eq(ct_run_s(&p, ARGS("serve", "d/svc", "--", shadow), NULL), 64, "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "cannot run COMMAND"), "%s", p.err_buf);
	th_proc_free(&p);
}

/* --no-reconnect: the end of the connection ends serve with 69. */
Test(ctl_serve, no_reconnect_exits_69)
{
	struct th_proc serve;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_serve(&serve, c, ARGS("--no-reconnect", "nr/svc", "--", "true"), NULL, 1);
	udsb_free(c);
	cr_assert_eq(th_stop(&ct_daemon), 0);
	cr_assert_eq(th_proc_finish(&serve), 69, "%s", serve.err_buf);
	th_proc_free(&serve);
}

/* Two serve --group g share the requests: each of them is answered
 * exactly once, by one of the two, and both take a part. */
Test(ctl_serve, group_shares_requests_each_answered_once)
{
	int n = th_under_valgrind() ? 100 : 1000;
	int *seen = calloc((size_t)n, sizeof *seen), got = 0, by_a = 0;
	char **replies = calloc((size_t)n, sizeof *replies);
	struct th_proc serve[2];
	struct udsb_event ev;
	struct udsb *c;

	cr_assert(seen != NULL && replies != NULL);
	ct_start(NULL);
	c = ct_connect(NULL);
	for (int i = 0; i < 2; i++)
		spawn_serve(
		    &serve[i], c,
		    ARGS("--group", "g", "grp/t", "--", "sh", "-c", "printf '%s ' \"$ID\"; cat"),
		    i == 0 ? ARGS("ID=a") : ARGS("ID=b"), (unsigned)i + 1);
	for (int i = 0; i < n; i++) {
		char payload[16];

		snprintf(payload, sizeof payload, "%d", i);
		replies[i] = request(c, "grp/t", payload);
	}
	while (got < n) {
		char who;
		int i;

		ct_next(c, &ev);
		cr_assert_eq(ev.type, UDSB_EV_MSG, "event %d", ev.type);
		cr_assert_eq(sscanf(ev.payload, "%c %d", &who, &i), 2, "reply \"%s\"", ev.payload);
		cr_assert(i >= 0 && i < n && (who == 'a' || who == 'b'), "reply \"%s\"",
		          ev.payload);
		cr_assert_str_eq(ev.topic, replies[i], "the reply to %d came on another topic", i);
		cr_assert_eq(seen[i]++, 0, "request %d answered twice", i);
		by_a += who == 'a';
		got++;
	}
	for (int i = 0; i < 2; i++) {
		kill(serve[i].pid, SIGTERM);
		th_proc_finish(&serve[i]);
		cr_assert_str_empty(serve[i].err_buf, "serve %d said: %s", i, serve[i].err_buf);
		th_proc_free(&serve[i]);
	}
	ct_expect_quiet(c); /* no second answer to any of them */
	cr_assert(by_a > 0 && by_a < n, "a answered %d of %d: not shared", by_a, n);
	for (int i = 0; i < n; i++)
		free(replies[i]);
	free(replies);
	free(seen);
	udsb_free(c);
}
