/*
 * udsctl sub, release 2, against the real daemon: -F with every directive
 * and the sender's real uid/gid/pid, --json that Python's json module
 * parses back to the very bytes (quotes, backslashes, control bytes,
 * UTF-8, malformed UTF-8), -T hiding, -R and --retained-only, and the
 * reconnect across a broker restart on the same socket (told on stderr,
 * messages after the restart received, -W counting on meanwhile).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

TestSuite(ctl_sub, .fini = ct_stop, .timeout = 120);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Starts "udsctl -s SOCK sub ARGS..." and waits until the broker counts
 * subs subscriptions, so publishing afterwards cannot race it. */
static void
spawn_sub(struct th_proc *p, struct udsb *probe, const char *const *args, unsigned subs)
{
	const char *argv[24] = { "sub" };
	size_t n = 1;

	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ct_spawn_s(p, argv, NULL);
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

/* Publishes (pipelined) and flushes. */
static void
publish(struct udsb *c, const char *topic, const void *payload, size_t len)
{
	cr_assert_eq(udsb_publish(c, topic, payload, len), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_flush(c), UDSB_OK);
}

/* Retains topic=value and waits until the broker has it. */
static void
retain(struct udsb *c, const char *topic, const char *value)
{
	cr_assert_eq(udsb_retain(c, topic, value, strlen(value)), UDSB_OK, "%s", udsb_errmsg(c));
	cr_assert_eq(udsb_ping(c, NULL), UDSB_OK);
}

Test(ctl_sub, format_every_directive)
{
	char want[512];
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	retain(c, "f/kept", "old value");
	spawn_sub(&p, c, ARGS("f/#", "-n", "2", "-F", "%t|%p|%u|%g|%P|%r|%%|\\t."), 1);
	publish(c, "f/live", "new value", 9);
	cr_assert_eq(th_proc_finish(&p), 0, "%s", p.err_buf);
	/* c published both: the broker reports this process's credentials. */
	snprintf(want, sizeof want,
	         "f/kept|old value|%d|%d|%d|1|%%|\t.\n"
	         "f/live|new value|%d|%d|%d|0|%%|\t.\n",
	         (int)getuid(), (int)getgid(), (int)getpid(), (int)getuid(), (int)getgid(),
	         (int)getpid());
	cr_assert_str_eq(p.out_buf, want);
	cr_assert_str_empty(p.err_buf);
	th_proc_free(&p);
	udsb_free(c);
}

/* The payloads --json must carry: quotes, backslashes, every control byte
 * the protocol can carry (all but '\n'), DEL, UTF-8 of 2, 3 and 4 bytes, a
 * malformed sequence, the empty payload. */
static size_t
json_payloads(char bufs[][64], size_t *lens)
{
	static const char *const texts[] = {
		"say \"hi\"",
		"back\\slash \\\\ \\n",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"bad \xff utf-8 \xc3",
		"",
		"{\"already\": \"json\"}",
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		lens[n] = strlen(texts[i]);
		memcpy(bufs[n], texts[i], lens[n]);
		n++;
	}
	/* Control bytes 0x00..0x1f but '\n', and DEL, in one payload. */
	lens[n] = 0;
	for (int b = 0; b < 0x20; b++)
		if (b != '\n')
			bufs[n][lens[n]++] = (char)b;
	bufs[n][lens[n]++] = 0x7f;
	n++;
	return n;
}

/* Python checks each line of out: it parses (json.tool --json-lines too),
 * its payload (payload_base64 when present, else payload in UTF-8) is the
 * hex of the matching line of want, and uid/gid/pid are ours. */
static const char json_check[] =
    "import base64, json, sys\n"
    "lines = open(sys.argv[1], encoding='utf-8').read().splitlines()\n"
    "want = open(sys.argv[2]).read().split()\n"
    "assert len(lines) == len(want), (len(lines), len(want))\n"
    "for line, hexed in zip(lines, want):\n"
    "    o = json.loads(line)\n"
    "    got = base64.b64decode(o['payload_base64']) if 'payload_base64' in o "
    "else o['payload'].encode('utf-8')\n"
    "    assert got == bytes.fromhex(hexed[1:]), (line, hexed)\n"
    "    assert o['topic'] == 'j/t' and o['retained'] is False, line\n"
    "    assert (o['uid'], o['gid'], o['pid']) == tuple(map(int, sys.argv[3:6])), line\n"
    "print('ok', len(lines))\n";

Test(ctl_sub, json_parses_back_to_the_bytes)
{
	char bufs[16][64], path_out[256], path_want[256], ids[3][16], out[4096], count[16];
	size_t lens[16], n = json_payloads(bufs, lens);
	struct th_proc p;
	struct udsb *c;
	FILE *f;
	int rc;

	ct_start(NULL);
	c = ct_connect(NULL);
	snprintf(count, sizeof count, "%zu", n);
	spawn_sub(&p, c, ARGS("--json", "j/#", "-n", count), 1);
	for (size_t i = 0; i < n; i++)
		publish(c, "j/t", bufs[i], lens[i]);
	cr_assert_eq(th_proc_finish(&p), 0, "%s", p.err_buf);
	cr_assert_eq(th_count_lines(p.out_buf), n, "%s", p.out_buf);
	/* The malformed one says so, with the exact bytes beside. */
	cr_assert_not_null(strstr(p.out_buf, "\"payload_base64\":"), "%s", p.out_buf);

	snprintf(path_out, sizeof path_out, "%s/json.out", ct_daemon.dir);
	snprintf(path_want, sizeof path_want, "%s/json.want", ct_daemon.dir);
	f = fopen(path_out, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p.out_buf, 1, p.out_len, f), p.out_len);
	cr_assert_eq(fclose(f), 0);
	f = fopen(path_want, "w");
	cr_assert_not_null(f);
	for (size_t i = 0; i < n; i++) {
		fputc('x', f); /* so that the empty payload is a word too */
		for (size_t k = 0; k < lens[i]; k++)
			fprintf(f, "%02x", (unsigned char)bufs[i][k]);
		fputc('\n', f);
	}
	cr_assert_eq(fclose(f), 0);
	th_proc_free(&p);

	snprintf(ids[0], sizeof ids[0], "%d", (int)getuid());
	snprintf(ids[1], sizeof ids[1], "%d", (int)getgid());
	snprintf(ids[2], sizeof ids[2], "%d", (int)getpid());
	rc = th_run((char *[]){ "/usr/bin/python3", "-c", (char *)json_check, path_out, path_want,
	                        ids[0], ids[1], ids[2], NULL },
	            out, sizeof out, TH_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "python3 json check: %s", out);
	snprintf(count, sizeof count, "ok %zu\n", n);
	cr_assert_str_eq(out, count);
	rc = th_run(
	    (char *[]){ "/usr/bin/python3", "-m", "json.tool", "--json-lines", path_out, NULL },
	    out, sizeof out, TH_TIMEOUT_MS);
	cr_assert_eq(rc, 0, "python3 -m json.tool: %s", out);
	udsb_free(c);
}

Test(ctl_sub, json_retained_and_without_meta_fields)
{
	char want[256];
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	retain(c, "jr/a", "1");
	/* The retained value comes with the SUB: it exits at once. */
	cr_assert_eq(ct_run_s(&p, ARGS("sub", "--json", "-n", "1", "jr/#"), NULL), 0, "%s",
	             p.err_buf);
	snprintf(want, sizeof want,
	         "{\"topic\":\"jr/a\",\"payload\":\"1\",\"retained\":true,\"uid\":%d,\"gid\":%d,"
	         "\"pid\":%d}\n",
	         (int)getuid(), (int)getgid(), (int)getpid());
	cr_assert_str_eq(p.out_buf, want);
	th_proc_free(&p);
	udsb_free(c);
}

Test(ctl_sub, hide_topics)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	retain(c, "h/debug/kept", "hidden retained");
	spawn_sub(&p, c, ARGS("-v", "h/#", "-T", "h/debug/#", "-T", "h/+/x", "-n", "2"), 1);
	publish(c, "h/debug", "hidden: the parent of h/debug/#", 31);
	publish(c, "h/a/x", "hidden by h/+/x", 15);
	publish(c, "h/a", "shown", 5);
	publish(c, "h/debug/deep/er", "hidden", 6);
	publish(c, "h/a/x/y", "shown too", 9);
	expect_sub_output(&p, "h/a shown\nh/a/x/y shown too\n");
	udsb_free(c);
}

Test(ctl_sub, skip_retained)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	retain(c, "r/a", "retained");
	spawn_sub(&p, c, ARGS("-R", "-n", "1", "r/#"), 1);
	publish(c, "r/b", "live", 4);
	expect_sub_output(&p, "live\n");

	/* Without -R, the retained value first, then the live one. */
	spawn_sub(&p, c, ARGS("-n", "2", "r/#"), 1);
	publish(c, "r/b", "live", 4);
	expect_sub_output(&p, "retained\nlive\n");
	udsb_free(c);
}

Test(ctl_sub, retained_only)
{
	struct th_proc p;
	struct udsb *c;
	char *lines[4];
	size_t n = 0;

	ct_start(NULL);
	c = ct_connect(NULL);
	retain(c, "ro/a", "1");
	retain(c, "ro/b/c", "2");
	retain(c, "ro/hidden", "3");
	retain(c, "other", "4");
	/* Exits by itself once the values are printed, 0 even with -W. */
	cr_assert_eq(
	    ct_run_s(&p,
	             ARGS("sub", "--retained-only", "-v", "ro/#", "-T", "ro/hidden", "-W", "30"),
	             NULL),
	    0, "%s", p.err_buf);
	/* In no particular order: sort them. */
	for (char *s = strtok(p.out_buf, "\n"); s != NULL && n < 4; s = strtok(NULL, "\n"))
		lines[n++] = s;
	cr_assert_eq(n, 2, "%zu lines", n);
	if (strcmp(lines[0], lines[1]) > 0) {
		char *t = lines[0];

		lines[0] = lines[1];
		lines[1] = t;
	}
	cr_assert_str_eq(lines[0], "ro/a 1");
	cr_assert_str_eq(lines[1], "ro/b/c 2");
	th_proc_free(&p);

	/* -n stops early. */
	cr_assert_eq(ct_run_s(&p, ARGS("sub", "--retained-only", "-n", "1", "ro/#"), NULL), 0);
	cr_assert_eq(th_count_lines(p.out_buf), 1, "%s", p.out_buf);
	th_proc_free(&p);

	/* None: 0 without -W, 27 with it. */
	cr_assert_eq(ct_run_s(&p, ARGS("sub", "--retained-only", "none/#"), NULL), 0, "%s",
	             p.err_buf);
	cr_assert_str_empty(p.out_buf);
	th_proc_free(&p);
	cr_assert_eq(ct_run_s(&p, ARGS("sub", "--retained-only", "none/#", "-W", "10"), NULL), 27,
	             "%s", p.err_buf);
	cr_assert_str_empty(p.out_buf);
	cr_assert_not_null(strstr(p.err_buf, "no retained value"), "%s", p.err_buf);
	th_proc_free(&p);
	udsb_free(c);
}

/* Stops the broker (keeping its directory) and starts it again on the same
 * socket once the subscriber said it lost the connection. */
static void
restart_broker(struct th_proc *sub)
{
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	ct_daemon.pid = 0;
	ct_wait_stderr(sub, "lost the connection to ", 1);
	cr_assert_eq(th_spawn(&ct_daemon), 0, "the broker did not start again");
}

Test(ctl_sub, reconnects_across_a_broker_restart)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	/* -W is generous: it only must not end the wait while the broker is
	 * down (another test shows it counting). */
	spawn_sub(&p, c, ARGS("-v", "-n", "2", "-W", "120", "rc/#"), 1);
	publish(c, "rc/1", "before", 6);
	cr_assert(th_proc_read(&p, 1, TH_TIMEOUT_MS), "the first message did not come out");
	udsb_free(c);

	restart_broker(&p);
	ct_wait_stderr(&p, "reconnected to ", 1);
	/* The restore's PONG came before the event: subscribed again. */
	c = ct_connect(NULL);
	publish(c, "rc/2", "after", 5);
	cr_assert_eq(th_proc_finish(&p), 0, "%s", p.err_buf);
	cr_assert_str_eq(p.out_buf, "rc/1 before\nrc/2 after\n");
	cr_assert_not_null(strstr(p.err_buf, ct_daemon.sock), "%s", p.err_buf);
	cr_assert_eq(th_count_lines(p.err_buf), 2, "one line for the loss, one for the return: %s",
	             p.err_buf);
	th_proc_free(&p);
	udsb_free(c);
}

/* The -W timer runs on while the broker is away: the subscriber gives up
 * with 27 while it is still reconnecting. */
Test(ctl_sub, wait_keeps_counting_while_reconnecting)
{
	struct th_proc p;
	struct udsb *c;

	ct_start(NULL);
	c = ct_connect(NULL);
	spawn_sub(&p, c, ARGS("-W", "1", "w/#"), 1);
	udsb_free(c);
	cr_assert_eq(th_wait(&ct_daemon, SIGTERM, TH_TIMEOUT_MS), 0);
	ct_daemon.pid = 0;
	/* No broker comes back: without -W it would reconnect for ever (and
	 * th_proc_finish would kill it: status -1). */
	cr_assert_eq(th_proc_finish(&p), 27, "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "lost the connection to "), "%s", p.err_buf);
	cr_assert_not_null(strstr(p.err_buf, "no message from "), "%s", p.err_buf);
	th_proc_free(&p);
}
